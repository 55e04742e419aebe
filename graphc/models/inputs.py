"""Users' data and arguments, checked and converted before any graph runs.

``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` methods all take x, y, sample and
class weights, validation data, ``batch_size`` and ``verbose`` from users; this module turns
each into what the compiled steps take (arrays of the placeholders' dtypes and shapes), or
refuses it with a message naming the call, before anything is trained. The checks read only
a model's public state (its input and output shapes, first layer and loss).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from graphc import losses as losses_module
from graphc.errors import ShapeError
from graphc.api.support import arguments
from graphc.api.support import format_shape


def input_dtype(model) -> str:
    """The dtype of the model's input placeholder: what its first layer takes
    (``input_dtype``: float32, or int64 for an Embedding)."""
    layers = model.layers
    return layers[0].input_dtype if layers else "float32"


def target_spec(model):
    """(shape, dtype) of the model's labels placeholder: integer classes for sparse
    categorical cross-entropy, else the output's shape in float32."""
    out = model.output_shape
    if isinstance(model.loss, losses_module.SparseCategoricalCrossentropy):
        return (None,) + tuple(out[1:-1]), "int64"
    return (None,) + tuple(out[1:]), "float32"


def as_inputs(model, x, who, name="x"):
    """x as an array of the input placeholder's dtype (float32, or int64 for an Embedding
    first), checked: numeric, finite, samples of the model's input shape, values the first
    layer accepts. Builds an unbuilt model for x's samples."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{who}: {name} is not a numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{who}: {name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ShapeError(f"{who}: {name} must be an array of samples, got a scalar")
    expected = model.input_shape
    if arr.ndim == 1 and expected is not None and len(expected) == 2 and expected[1] == 1:
        arr = arr.reshape(-1, 1)   # a list of scalars for a model of one input feature
    if not model.built:
        model.build((None,) + arr.shape[1:])
    expected = model.input_shape
    if arr.ndim != len(expected) or any(d is not None and d != s for d, s in zip(expected[1:], arr.shape[1:])):
        raise ShapeError(f"{who}: the model takes samples of shape {format_shape(expected[1:])} "
                         f"(inputs {format_shape(expected)}), but {name} has samples of shape "
                         f"{format_shape(arr.shape[1:])} (array {format_shape(arr.shape)})")
    dtype = input_dtype(model)
    if np.dtype(dtype).kind == "f":
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{who}: {name} contains NaN or infinite values (first at index {bad}); "
                         "clean or impute the data before training")
    layers = model.layers
    if layers:
        layers[0].check_input_values(arr, who, name)
    return np.ascontiguousarray(arr, dtype=dtype)


def as_targets(model, y, n, who, name="y"):
    """y as the labels placeholder expects, checked against the loss and the output."""
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{who}: {name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0 or len(arr) != n:
        raise ValueError(f"{who}: x has {n} samples but {name} has "
                         f"{'a scalar' if arr.ndim == 0 else len(arr)}; they must match")
    shape, dtype = target_spec(model)
    out = model.output_shape
    if arr.ndim == len(shape) - 1 and shape[-1] == 1:
        arr = arr.reshape(arr.shape + (1,))          # labels (n,) for outputs (n, 1)
    elif arr.ndim == len(shape) + 1 and arr.shape[-1] == 1:
        arr = arr.reshape(arr.shape[:-1])            # labels (n, 1) for class indices
    loss_name = model.loss.name
    if arr.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape[1:], arr.shape[1:])):
        hint = ""
        if dtype == "float32" and arr.ndim == len(shape) - 1 and out[-1] > 1:
            hint = (" — these look like integer class labels: use loss='sparse_categorical_crossentropy', "
                    "or one-hot encode them")
        raise ShapeError(f"{who}: {name} has shape {format_shape(arr.shape)}, but the model's output is "
                         f"{format_shape(out)} and loss {loss_name!r} needs labels of shape "
                         f"{format_shape(shape)}{hint}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{who}: {name} contains NaN or infinite values")
    _check_label_values(model, arr, who, name)
    return np.ascontiguousarray(arr, dtype=dtype) if dtype == "float32" else \
        np.ascontiguousarray(arr.astype(np.int64))


def _check_label_values(model, arr, who, name):
    L = losses_module
    loss = model.loss
    if isinstance(loss, L.SparseCategoricalCrossentropy):
        classes = model.output_shape[-1]
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{who}: {name} must hold integer class labels for {loss.name!r}, "
                             f"found non-integer values such as {arr[arr != np.round(arr)][0]}")
        bad = (arr < 0) | (arr >= classes)
        if bad.any():
            raise ValueError(f"{who}: labels in {name} must be class indices 0..{classes - 1} for "
                             f"{loss.name!r} with {classes} output units; found {sorted(set(arr[bad].tolist()))[:5]}")
    elif isinstance(loss, (L.BinaryCrossentropy, L.WeightedBinaryCrossentropy, L.BalancedBinaryCrossentropy)):
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise ValueError(f"{who}: labels in {name} must be 0 or 1 for {loss.name!r}; "
                             f"found {sorted(set(arr[bad].tolist()))[:5]}")
    elif isinstance(loss, L.CategoricalCrossentropy):
        if (arr < 0).any():
            raise ValueError(f"{who}: one-hot labels in {name} must be non-negative for {loss.name!r}")


def sample_weights(model, y, n, class_weight, sample_weight, who):
    """One float32 weight per sample: ``sample_weight`` (checked) times the weight
    ``class_weight`` gives each sample's class (1 without either)."""
    weights = np.ones(n, dtype=np.float32)
    if sample_weight is not None:
        try:
            sw = np.asarray(sample_weight, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{who}: sample_weight must be numbers, one per sample: {exc}") from None
        if len(sw) != n:
            raise ValueError(f"{who}: sample_weight has {len(sw)} values for {n} samples")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError(f"{who}: sample_weight must be finite and non-negative")
        weights = weights * sw
    table = _class_weight_table(model, class_weight, who)
    if table:
        labels = _class_indices(y)
        weights = weights * np.array([table.get(int(c), 1.0) for c in labels], dtype=np.float32)
    return weights


def _class_weight_table(model, class_weight, who) -> dict | None:
    """``class_weight`` checked: a mapping {class index: weight} whose indices are classes of
    the model's output (0..units-1, or 0..1 for one output unit) and whose weights are
    finite non-negative numbers."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, Mapping):
        raise TypeError(f"{who}: class_weight must be a dict {{class index: weight}}, "
                        f"got {type(class_weight).__name__}")
    units = model.output_shape[-1]
    classes = units if units is not None and units > 1 else 2
    table = {}
    for key, value in class_weight.items():
        index = arguments.index(key, f"{who}: class_weight key {key!r}")
        if not 0 <= index < classes:
            raise ValueError(f"{who}: class_weight names class {index}, but the model has {classes} "
                             f"classes (0..{classes - 1})")
        weight = arguments.real(value, f"{who}: class_weight[{index}]", minimum=0.0)
        if not math.isfinite(weight):
            raise ValueError(f"{who}: class_weight[{index}] must be finite, got {weight}")
        table[index] = weight
    return table


def _class_indices(y):
    if y.ndim >= 2 and y.shape[-1] > 1:
        return y.reshape(len(y), -1, y.shape[-1]).argmax(axis=-1)[:, 0]
    return np.rint(y.reshape(len(y), -1)[:, 0]).astype(np.int64)


def split_validation(model, x, y, weights, validation_data, validation_split, who):
    """(x, y, weights, validation) for ``fit``: ``validation_data`` checked as the training
    data is, or the last ``validation_split`` of the samples (taken before shuffling, as
    Keras); validation is (x_val, y_val, weights_val) or None."""
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(f"{who}: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
        xv = as_inputs(model, validation_data[0], who, "x_val")
        yv = as_targets(model, validation_data[1], len(xv), who, "y_val")
        swv = validation_data[2] if len(validation_data) == 3 else None
        val = (xv, yv, sample_weights(model, yv, len(xv), None, swv, who))
    elif validation_split:
        split = int(len(x) * (1.0 - validation_split))
        if split == 0 or split == len(x):
            raise ValueError(f"{who}: validation_split={validation_split} of {len(x)} samples leaves "
                             "an empty training or validation set")
        val = (x[split:], y[split:], np.ones(len(x) - split, np.float32))
        x, y, weights = x[:split], y[:split], weights[:split]
    return x, y, weights, val


def checked_batch_size(value, who: str, default):
    """A batch size: an integer >= 1, or None for ``default``."""
    value = arguments.index(value, f"{who}: batch_size", minimum=1, allow_none=True)
    return default if value is None else value


def checked_verbose(value, who: str) -> int:
    """Keras' ``verbose``: 0, 1, 2 or "auto" (1); False and True read as 0 and 1."""
    if isinstance(value, str) and value == "auto":
        return 1
    if isinstance(value, bool):
        return int(value)
    value = arguments.index(value, f"{who}: verbose")
    if value not in (0, 1, 2):
        raise ValueError(f"{who}: verbose must be 0 (silent), 1 (progress bar), 2 (one line per epoch) "
                         f"or 'auto', got {value}")
    return value
