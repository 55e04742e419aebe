"""Models: ``Sequential`` (Keras' stack of layers, trained by compiled graphs), ``load_model``
and Rosenblatt's ``Perceptron``.

How a Sequential model trains. ``compile`` picks the loss, optimizer and metrics; the first
time the model is used it builds three graphs over the same weight variables and compiles
each once with ``gc.function``:

- ``train_function`` (inputs x, y, sample_weight): the forward pass with ``training=True``
  (dropout active), the loss plus the layers' regularization penalties, the metrics' batch
  statistics, the gradients and the optimizer's update of every weight and optimizer slot —
  ONE graph, whose ``updates`` are applied after each call. Outputs: [loss, *statistics].
- ``test_function`` (x, y, sample_weight): the same loss and statistics on the inference
  forward pass (``training=False``), no updates.
- ``predict_function`` (x): the inference forward pass.

Each Function specializes itself per input shape: a fit with 1257 samples in batches of 32
compiles the training step twice (batches of 32 and the last batch of 9), once for the whole
run. Whether dropout is active is decided by which graph runs, never by Python at run time.
All three are ``gc.Function`` objects: render them (``gc.render(model.train_function, ...)``,
``gc.render(model, ...)`` draws the training step), read their ``.source`` or ``.explain()``.

File format of ``save``: a NumPy ``.npz`` archive (a zip of uncompressed ``.npy`` arrays)
holding ``graphc_model`` — the UTF-8 bytes of a JSON document ``{"format": "graphc.model",
"version": 1, "model": {class_name, config}, "compile": {optimizer, loss, metrics, backend} or
null}`` — then ``weight_0000``, ``weight_0001``, ... in ``get_weights()`` order,
``optimizer_0000``, ... in ``optimizer.variables()`` order (iterations first, then slots) and
``graphc_sha256``: the SHA-256 of the document and of every array (name, dtype, shape, bytes),
so that a file changed after it was saved is refused rather than loaded as some other model.
(Files written before the checksum existed have no ``graphc_sha256`` and load unchecked.)

``load_model`` trusts nothing in the file: every entry's name, compression and ``.npy`` header
is checked before its bytes are read, arrays must hold plain numbers (nothing is unpickled, so
no model file can run code), the zip CRCs and the checksum must match, and every field of the
document must have the type ``save`` writes. Anything else — a truncated or foreign file, a
directory, a damaged entry, a wrong-typed field, a layer configuration graphc cannot rebuild —
is a ``ValueError`` naming the file.

``save`` is atomic, and killed saves leave no debris: see ``Sequential.save``.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import stat
import time
import zipfile
from collections.abc import Mapping

import numpy as np

from graphc import backend_registry

from graphc import arguments
from graphc.atomic_write import write_atomically
from graphc import callbacks as callbacks_module
from graphc import layers as layers_module
from graphc.compile.function import function
from graphc.errors import BackendUnavailable, ShapeError
from graphc.ir.graph import Graph
from graphc.compile.host import to_host
from graphc.layers import InputLayer, Layer, derive_seed, unique_name
from graphc.ops.math import step
from graphc.ops.reduce import reduce_sum
from graphc.progress import Progbar
from graphc.ir.tensor import format_shape, placeholder, variable

__all__ = ["ModelFileError", "Perceptron", "Sequential", "load_model"]

FORMAT = "graphc.model"
FORMAT_VERSION = 1
EVAL_BATCH = 1024   # rows per call of evaluate/predict when batch_size is None


def _losses():
    from graphc import losses
    return losses


def _optimizers():
    from graphc import optimizers
    return optimizers


def _metrics():
    from graphc import metrics
    return metrics


class Sequential:
    """A linear stack of layers (Keras' ``Sequential``).

    ``Sequential([Dense(128, activation="relu", input_shape=(784,)), Dense(10)])`` or
    ``Sequential([Input((784,)), ...])`` or ``model.add(layer)``. The model is built (its
    weights created) as soon as its input shape is known: from an ``Input`` layer, a first
    layer's ``input_shape``, ``build((None, 784))``, or the data of the first ``fit``.

    ``seed``: seeds every layer that has no seed of its own (initial weights, dropout masks)
    and the shuffling of ``fit``, so a run is reproducible; None draws fresh entropy (as Keras
    without ``set_random_seed``).
    """

    def __init__(self, layers=None, name=None, seed=None):
        self.name = name or unique_name("sequential")
        self.seed = None if seed is None else int(seed)
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._build_input_shape = None
        self.built = False
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self._metric_ids = []
        self.backend = "numpy"
        self.stop_training = False
        self.history = None
        self._rng = np.random.default_rng(derive_seed(self.seed, 1 << 20))
        self._functions = None
        for layer in layers or []:
            self.add(layer)

    # -- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The layers, in order (an ``Input`` is not a layer of the stack, as in Keras 3)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer (an ``Input`` may only come first)."""
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"{self.name}: an Input can only be the first layer")
            self._input_layer = layer
            self.build((None,) + layer.declared_input_shape)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.name}.add: expected a gc.layers.Layer, got {layer!r}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"{self.name}: {layer.name} ({type(layer).__name__}) has return_state=True and returns "
                             "several tensors [output, *states]; a Sequential model passes one tensor from layer to "
                             "layer. Call the layer on tensors directly (outputs = layer(x)) or drop return_state")
        if getattr(layer, "merge_mode", "concat") is None:
            raise ValueError(f"{self.name}: {layer.name} ({type(layer).__name__}) has merge_mode=None and returns "
                             "[forward, backward]; a Sequential model passes one tensor from layer to layer. Use "
                             "merge_mode='concat', 'sum', 'mul' or 'ave', or call the layer on tensors directly")
        if any(layer is other for other in self._layers):
            raise ValueError(f"{self.name}: layer {layer.name!r} is already in the model")
        names = {other.name for other in self._layers}
        if layer.name in names:
            if not layer.auto_named:
                raise ValueError(f"{self.name}: two layers named {layer.name!r}; layer names must be unique")
            base = _base_name(layer.name)
            while layer.name in names:   # e.g. a new Dense added to a loaded model
                layer.name = unique_name(base)
        self._layers.append(layer)
        self._functions = None
        if self.built:
            self._seed_layer(layer, len(self._layers) - 1)
            shape = self._layers[-2].output_shape if len(self._layers) > 1 else self._build_input_shape
            layer.build_for(shape)
        elif len(self._layers) == 1 and layer.declared_input_shape is not None:
            self.build((None,) + layer.declared_input_shape)

    def _seed_layer(self, layer, index):
        if layer.seed is None and self.seed is not None:
            layer.seed = derive_seed(self.seed, index)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch included, e.g.
        ``(None, 784)``)."""
        if input_shape is None:
            input_shape = self._build_input_shape
        if input_shape is None:
            raise ValueError(f"{self.name}: the input shape is unknown; give the first layer input_shape=..., "
                             "start with gc.layers.Input(shape), call build((None, ...)) or fit on data")
        shape = tuple(None if d is None else int(d) for d in input_shape)
        if len(shape) < 2:
            raise ShapeError(f"{self.name}.build: expected (batch, features...) like (None, 784), got {input_shape!r}")
        shape = (None,) + shape[1:]
        if self.built and shape != self._build_input_shape:
            raise ShapeError(f"{self.name}: already built for inputs {format_shape(self._build_input_shape)}, "
                             f"cannot rebuild for {format_shape(shape)}")
        self._build_input_shape = shape
        for i, layer in enumerate(self._layers):
            self._seed_layer(layer, i)
            shape = layer.build_for(shape)
        self.built = True

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        if not self.built:
            return None
        return self._layers[-1].output_shape if self._layers else self._build_input_shape

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{self.name}: the model has not been built yet, so {what} is unknown. "
                             "Build it first: give the first layer input_shape=..., start with gc.layers.Input, "
                             "call build((None, ...)) or fit on data")

    def __call__(self, x, training=False):
        """The model applied to a symbolic Tensor (like a layer). Masks travel with the tensors
        from layer to layer (see ``graphc.layers``, "Masks"): an ``Embedding(mask_zero=True)``
        masks the padding steps for the recurrent layers above it."""
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    @property
    def losses(self) -> list:
        """The layers' regularization penalties (scalar Tensors)."""
        return [p for layer in self._layers for p in layer.losses]

    def count_params(self) -> int:
        self._require_built("the number of parameters")
        return sum(layer.count_params() for layer in self._layers)

    def get_weights(self) -> list:
        """Copies of every weight, layer by layer (kernel, bias, ...)."""
        return [to_host(w.value, copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Assign every weight from a list shaped like ``get_weights()``; shapes are checked for
        all of them before any is changed."""
        ws = self.weights
        weights = list(weights)
        if len(weights) != len(ws):
            raise ValueError(f"{self.name}.set_weights: the model has {len(ws)} weight arrays, got {len(weights)}")
        for var, value in zip(ws, weights):
            if np.shape(value) != var.shape:
                raise ShapeError(f"{self.name}.set_weights: weight {var.name!r} has shape "
                                 f"{format_shape(var.shape)}, got {format_shape(np.shape(value))}")
        for var, value in zip(ws, weights):
            var.assign(value)

    # -- compiling ----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, backend="numpy"):
        """Choose the optimizer, the loss and the metrics (names or objects) and the backend
        the graphs are compiled for. The graphs are built at first use."""
        if loss is None:
            raise ValueError(f"{self.name}.compile: a loss is needed, e.g. loss='mse' or "
                             "loss='sparse_categorical_crossentropy'")
        self.optimizer = _optimizers().get(optimizer)
        self.loss = _losses().get(loss)
        if isinstance(metrics, (str, dict)) or (metrics is not None and not isinstance(metrics, (list, tuple))):
            metrics = [metrics]
        self._metric_ids = list(metrics or [])
        self.metrics = [_metrics().get(m, loss=self.loss) for m in self._metric_ids]
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"{self.name}.compile: metric names must be distinct and not 'loss', got {names}")
        backend_registry.get(backend)  # BackendUnavailable now, saying why, rather than at the first fit
        self.backend = backend
        self.compiled = True
        self._functions = None

    def _require_compiled(self, who):
        if not self.compiled:
            raise RuntimeError(f"{self.name}.{who}: call compile(optimizer, loss, metrics) first")

    def _target_spec(self):
        """(shape, dtype) of the labels placeholder: integer classes for sparse categorical
        cross-entropy, else the output's shape in float32."""
        out = self.output_shape
        if isinstance(self.loss, _losses().SparseCategoricalCrossentropy):
            return (None,) + tuple(out[1:-1]), "int64"
        return (None,) + tuple(out[1:]), "float32"

    def _input_dtype(self) -> str:
        """The dtype of the input placeholder: what the first layer takes (``input_dtype``:
        float32, or int64 for an Embedding)."""
        return self._layers[0].input_dtype if self._layers else "float32"

    def _placeholders(self):
        x = placeholder(self._build_input_shape, self._input_dtype(), name="x")
        shape, dtype = self._target_spec()
        y = placeholder(shape, dtype, name="y")
        sample_weight = placeholder((None,), "float32", name="sample_weight")
        return x, y, sample_weight

    def _loss_and_stats(self, y, y_pred, sample_weight):
        """The loss (plus regularization penalties) and each metric's batch statistics. When
        the output carries a mask (padded sequences), the loss — which reads the mask itself,
        as Keras 3's — and the metrics count only the unmasked steps (``graphc.losses``)."""
        total = self.loss(y, y_pred, sample_weight=sample_weight)
        for penalty in self.losses:
            total = total + penalty
        mask = layers_module.get_mask(y_pred)
        stats = [_metrics().batch_stats(m, y, y_pred, mask) for m in self.metrics]
        self._stat_counts = [len(s) for s in stats]
        return total, [s for group in stats for s in group]

    def _build_train_function(self):
        """Forward (training=True) + loss + gradients + optimizer updates: ONE graph."""
        self._require_compiled("fit")
        self._require_built("the training graph")
        x, y, sample_weight = self._placeholders()
        for layer in self._layers:
            layer.pop_updates()
        y_pred = self(x, training=True)
        state_updates = [u for layer in self._layers for u in layer.pop_updates()]
        loss, stats = self._loss_and_stats(y, y_pred, sample_weight)
        updates = self.optimizer.get_updates(loss, self.trainable_weights) + state_updates
        return function([x, y, sample_weight], [loss] + stats, updates=updates, backend=self.backend,
                        name="train_step")

    def _build_test_function(self):
        """Inference forward pass (training=False) + loss + metric statistics; no updates."""
        self._require_compiled("evaluate")
        self._require_built("the evaluation graph")
        x, y, sample_weight = self._placeholders()
        loss, stats = self._loss_and_stats(y, self(x, training=False), sample_weight)
        return function([x, y, sample_weight], [loss] + stats, backend=self.backend, name="test_step")

    def _build_predict_function(self):
        self._require_built("the prediction graph")
        x = placeholder(self._build_input_shape, self._input_dtype(), name="x")
        return function([x], self(x, training=False), backend=self.backend, name="predict_step")

    def _function(self, kind):
        if self._functions is None:
            self._functions = {}
        fn = self._functions.get(kind)
        if fn is None:
            builder = {"train": self._build_train_function, "test": self._build_test_function,
                       "predict": self._build_predict_function}[kind]
            fn = self._functions[kind] = builder()
        return fn

    @property
    def train_function(self):
        """The compiled training step (a ``gc.Function``): inputs (x, y, sample_weight),
        outputs [loss, *metric statistics], updates: every weight and optimizer slot."""
        return self._function("train")

    @property
    def test_function(self):
        """The compiled evaluation step: inference forward pass, loss and metric statistics."""
        return self._function("test")

    @property
    def predict_function(self):
        """The compiled inference forward pass: x -> predictions."""
        return self._function("predict")

    def to_graph(self) -> Graph:
        """The graph of the training step (outputs and updates), for ``gc.render``; before
        ``compile``, the inference graph."""
        fn = self.train_function if self.compiled else self.predict_function
        return Graph(fn.outputs, fn.updates)

    def _repr_svg_(self):
        if not self.built:
            return None   # nothing to draw yet: Jupyter shows the text repr
        from graphc.render import repr_svg
        return repr_svg(self)

    # -- data checks --------------------------------------------------------------------------
    def _as_inputs(self, x, who, name="x"):
        """x as an array of the input placeholder's dtype (float32, or int64 for an Embedding
        first), checked: numeric, finite, samples of the model's input shape, values the first
        layer accepts."""
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{who}: {name} is not a numeric array: {exc}") from None
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{who}: {name} must be numeric, got dtype {arr.dtype}")
        if arr.ndim == 0:
            raise ShapeError(f"{who}: {name} must be an array of samples, got a scalar")
        if arr.ndim == 1 and self._build_input_shape is not None and len(self._build_input_shape) == 2 \
                and self._build_input_shape[1] == 1:
            arr = arr.reshape(-1, 1)   # a list of scalars for a model of one input feature
        if not self.built:
            self.build((None,) + arr.shape[1:])
        expected = self._build_input_shape
        if arr.ndim != len(expected) or any(d is not None and d != s for d, s in zip(expected[1:], arr.shape[1:])):
            raise ShapeError(f"{who}: the model takes samples of shape {format_shape(expected[1:])} "
                             f"(inputs {format_shape(expected)}), but {name} has samples of shape "
                             f"{format_shape(arr.shape[1:])} (array {format_shape(arr.shape)})")
        dtype = self._input_dtype()
        if np.dtype(dtype).kind == "f":
            arr = np.ascontiguousarray(arr, dtype=dtype)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"{who}: {name} contains NaN or infinite values (first at index {bad}); "
                             "clean or impute the data before training")
        if self._layers:
            self._layers[0].check_input_values(arr, who, name)
        return np.ascontiguousarray(arr, dtype=dtype)

    def _as_targets(self, y, n, who, name="y"):
        """y as the labels placeholder expects, checked against the loss and the output."""
        arr = np.asarray(y)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{who}: {name} must be numeric, got dtype {arr.dtype}")
        if arr.ndim == 0 or len(arr) != n:
            raise ValueError(f"{who}: x has {n} samples but {name} has "
                             f"{'a scalar' if arr.ndim == 0 else len(arr)}; they must match")
        shape, dtype = self._target_spec()
        out = self.output_shape
        if arr.ndim == len(shape) - 1 and shape[-1] == 1:
            arr = arr.reshape(arr.shape + (1,))          # labels (n,) for outputs (n, 1)
        elif arr.ndim == len(shape) + 1 and arr.shape[-1] == 1:
            arr = arr.reshape(arr.shape[:-1])            # labels (n, 1) for class indices
        loss_name = self.loss.name
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
        self._check_label_values(arr, who, name)
        return np.ascontiguousarray(arr, dtype=dtype) if dtype == "float32" else \
            np.ascontiguousarray(arr.astype(np.int64))

    def _check_label_values(self, arr, who, name):
        L = _losses()
        loss = self.loss
        if isinstance(loss, L.SparseCategoricalCrossentropy):
            classes = self.output_shape[-1]
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

    def _sample_weights(self, y, n, class_weight, sample_weight, who):
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
        table = self._class_weight_table(class_weight, who)
        if table:
            labels = self._class_indices(y)
            weights = weights * np.array([table.get(int(c), 1.0) for c in labels], dtype=np.float32)
        return weights

    def _class_weight_table(self, class_weight, who) -> dict | None:
        """``class_weight`` checked: a mapping {class index: weight} whose indices are classes of
        the model's output (0..units-1, or 0..1 for one output unit) and whose weights are
        finite non-negative numbers."""
        if class_weight is None:
            return None
        if not isinstance(class_weight, Mapping):
            raise TypeError(f"{who}: class_weight must be a dict {{class index: weight}}, "
                            f"got {type(class_weight).__name__}")
        units = self.output_shape[-1]
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

    def _class_indices(self, y):
        if y.ndim >= 2 and y.shape[-1] > 1:
            return y.reshape(len(y), -1, y.shape[-1]).argmax(axis=-1)[:, 0]
        return np.rint(y.reshape(len(y), -1)[:, 0]).astype(np.int64)

    # -- training -----------------------------------------------------------------------------
    def fit(self, x, y, *, epochs=1, batch_size=32, validation_split=0.0, validation_data=None,
            shuffle=True, callbacks=None, verbose=1, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, distribute=None):
        """Train for ``epochs`` passes over (x, y) in mini-batches of ``batch_size`` (the last
        may be smaller); returns the ``History``.

        ``validation_split``: the fraction of samples taken from the END of x, y (before
        shuffling) and evaluated after each epoch, as Keras; ``validation_data``: (x_val, y_val)
        instead. ``class_weight``: {class index: weight} scales each sample's loss by its
        class's weight (classes not listed weigh 1; an index that is not a class of the output
        is an error); ``sample_weight``: a weight per sample. ``initial_epoch``: the epoch to
        start from (resuming a run: epochs ``initial_epoch``..``epochs - 1`` are trained).
        ``steps_per_epoch``: train this many batches per epoch instead of one pass over the
        data; successive epochs continue where the last one stopped, a new pass (reshuffled
        when ``shuffle``) starting whenever one ends. Every argument and input is checked
        before anything is trained: integer arguments must be integers (``epochs=2.5`` is a
        TypeError, not 2 epochs), lengths, feature shape, NaN/inf, labels valid for the loss.
        ``verbose``: 0 silent, 1 progress bar, 2 one line per epoch ("auto": 1).
        ``distribute``: a ``dask.distributed.Client`` (or ``"threads"``) to train data-parallel
        on Dask, each global batch split across the workers (see ``graphc.distribute``).
        """
        who = f"{self.name}.fit"
        self._require_compiled("fit")
        epochs = arguments.index(epochs, f"{who}: epochs", minimum=0)
        batch_size = _batch_size(batch_size, who, default=32)
        initial_epoch = arguments.index(initial_epoch, f"{who}: initial_epoch", minimum=0)
        steps_per_epoch = arguments.index(steps_per_epoch, f"{who}: steps_per_epoch", minimum=1, allow_none=True)
        validation_split = arguments.real(validation_split, f"{who}: validation_split", minimum=0.0)
        if not validation_split < 1.0:
            raise ValueError(f"{who}: validation_split must be a fraction in [0, 1), got {validation_split}")
        verbose = _verbosity(verbose, who)
        x = self._as_inputs(x, who)
        y = self._as_targets(y, len(x), who)
        weights = self._sample_weights(y, len(x), class_weight, sample_weight, who)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(f"{who}: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
            xv = self._as_inputs(validation_data[0], who, "x_val")
            yv = self._as_targets(validation_data[1], len(xv), who, "y_val")
            swv = validation_data[2] if len(validation_data) == 3 else None
            val = (xv, yv, self._sample_weights(yv, len(xv), None, swv, who))
        elif validation_split:
            split = int(len(x) * (1.0 - validation_split))
            if split == 0 or split == len(x):
                raise ValueError(f"{who}: validation_split={validation_split} of {len(x)} samples leaves "
                                 "an empty training or validation set")
            val = (x[split:], y[split:], np.ones(len(x) - split, np.float32))
            x, y, weights = x[:split], y[:split], weights[:split]
        if len(x) == 0:
            raise ValueError(f"{who}: no training samples")

        train_step = self.train_function
        if distribute is not None:   # data-parallel on Dask: graphc/distribute.py
            from graphc.distribute import data_parallel_step
            train_step = data_parallel_step(self, distribute)
        n = len(x)
        steps = steps_per_epoch if steps_per_epoch is not None else math.ceil(n / batch_size)
        params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size,
                  "samples": n}
        cbs = callbacks_module.CallbackList(callbacks, self, params, add_history=True, add_progbar=verbose != 0)
        self.stop_training = False
        metric_slices = self._metric_slices()
        cbs.on_train_begin()
        epoch_logs = {}
        position = n   # where the next batch starts in the current pass over the data (xe, ye, we)
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            batch_logs = cbs.wants_batch_logs()
            batch_begin = cbs.wants_batch_begin
            loss_sum, seen = 0.0, 0
            totals = [0.0] * sum(self._stat_counts)
            if steps_per_epoch is None:
                position = n   # each epoch is one whole pass
            for i in range(steps):
                if position >= n:   # a new pass over the data, in a new order when shuffling
                    if shuffle:
                        order = self._rng.permutation(n)
                        xe, ye, we = x[order], y[order], weights[order]
                    else:
                        xe, ye, we = x, y, weights
                    position = 0
                lo = position
                hi = position = min(lo + batch_size, n)
                if batch_begin:
                    cbs.on_train_batch_begin(i)
                outs = train_step(xe[lo:hi], ye[lo:hi], we[lo:hi])
                loss_sum += float(outs[0]) * (hi - lo)
                seen += hi - lo
                for k in range(len(totals)):
                    totals[k] += float(outs[k + 1])
                if batch_logs:
                    cbs.on_train_batch_end(i, self._logs(loss_sum / seen, totals, metric_slices))
                if self.stop_training:
                    break
            logs = self._logs(loss_sum / max(seen, 1), totals, metric_slices)
            if val is not None:
                val_logs = self._evaluate_arrays(*val, batch_size=None)
                logs.update({f"val_{k}": v for k, v in sorted(val_logs.items())})
            epoch_logs = logs
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(epoch_logs)
        return cbs.history

    def _metric_slices(self):
        slices, start = [], 0
        for m, count in zip(self.metrics, self._stat_counts):
            slices.append((m, start, start + count))
            start += count
        return slices

    @staticmethod
    def _logs(loss, totals, metric_slices) -> dict:
        logs = {"loss": loss}
        for m, lo, hi in metric_slices:
            logs[m.name] = float(m.result(totals[lo:hi]))
        return dict(sorted(logs.items()))   # Keras 3 orders the logs by name

    # -- evaluation and prediction ------------------------------------------------------------
    def _evaluate_arrays(self, x, y, weights, batch_size=None) -> dict:
        test_step = self.test_function
        batch_size = int(batch_size or EVAL_BATCH)
        loss_sum, seen = 0.0, 0
        totals = [0.0] * sum(self._stat_counts)
        for lo in range(0, len(x), batch_size):
            hi = min(lo + batch_size, len(x))
            outs = test_step(x[lo:hi], y[lo:hi], weights[lo:hi])
            loss_sum += float(outs[0]) * (hi - lo)
            seen += hi - lo
            for k in range(len(totals)):
                totals[k] += float(outs[k + 1])
        return self._logs(loss_sum / max(seen, 1), totals, self._metric_slices())

    def evaluate(self, x, y, batch_size=None, verbose=0, return_dict=False, sample_weight=None):
        """Loss and metrics on (x, y) with the inference graph: the loss alone when there are
        no metrics, else ``[loss, *metrics]`` (compile order), or a dict with
        ``return_dict=True``. ``batch_size=None`` evaluates up to 1024 samples per call (the
        results do not depend on it beyond float rounding)."""
        who = f"{self.name}.evaluate"
        self._require_compiled("evaluate")
        batch_size = _batch_size(batch_size, who, default=None)
        verbose = _verbosity(verbose, who)
        x = self._as_inputs(x, who)
        y = self._as_targets(y, len(x), who)
        weights = self._sample_weights(y, len(x), None, sample_weight, who)
        start = time.perf_counter()
        logs = self._evaluate_arrays(x, y, weights, batch_size)
        if verbose:
            steps = math.ceil(len(x) / int(batch_size or EVAL_BATCH))
            bar = Progbar(steps, verbose=verbose)
            bar.start = start
            bar.finish(logs)
        return self._as_returned(logs, return_dict)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """ONE training step on (x, y) as a single batch (the compiled train step, updates
        applied). Returns the loss alone when there are no metrics, else ``[loss, *metrics]``,
        or a dict with ``return_dict=True``: this batch's values (metrics are not carried
        over from earlier calls)."""
        who = f"{self.name}.train_on_batch"
        self._require_compiled("train_on_batch")
        x = self._as_inputs(x, who)
        y = self._as_targets(y, len(x), who)
        weights = self._sample_weights(y, len(x), class_weight, sample_weight, who)
        return self._batch_logs(self.train_function(x, y, weights), return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss and metrics of (x, y) as one batch with the inference graph, returned as by
        ``train_on_batch``; nothing is updated."""
        who = f"{self.name}.test_on_batch"
        self._require_compiled("test_on_batch")
        x = self._as_inputs(x, who)
        y = self._as_targets(y, len(x), who)
        weights = self._sample_weights(y, len(x), None, sample_weight, who)
        return self._batch_logs(self.test_function(x, y, weights), return_dict)

    def predict_on_batch(self, x):
        """The model's outputs for x as one batch (one call of the inference graph), NumPy."""
        x = self._as_inputs(x, f"{self.name}.predict_on_batch")
        return to_host(self.predict_function(x))

    def _batch_logs(self, outs, return_dict):
        logs = self._logs(float(outs[0]), [float(o) for o in outs[1:]], self._metric_slices())
        return self._as_returned(logs, return_dict)

    def _as_returned(self, logs, return_dict):
        """Keras' return shape: the dict, the loss alone (no metrics), or [loss, *metrics]."""
        if return_dict:
            return logs
        if not self.metrics:
            return logs["loss"]
        return [logs["loss"]] + [logs[m.name] for m in self.metrics]

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs for x (inference graph: no dropout), as one NumPy array.
        ``batch_size=None`` predicts up to 1024 samples per call; ``verbose=1`` prints the
        progress line (Keras prints it by default; graphc is silent by default)."""
        who = f"{self.name}.predict"
        batch_size = _batch_size(batch_size, who, default=EVAL_BATCH)
        verbose = _verbosity(verbose, who)
        x = self._as_inputs(x, who)
        fn = self.predict_function
        bar = Progbar(math.ceil(len(x) / batch_size), verbose=verbose) if verbose else None
        parts = [fn(x[lo:lo + batch_size]) for lo in range(0, len(x), batch_size)]
        if bar is not None:
            bar.finish()
        if not parts:
            return np.zeros((0,) + tuple(self.output_shape[1:]), np.float32)
        parts = [to_host(p) for p in parts]  # NumPy, as Keras, whichever backend ran it
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    # -- summary ------------------------------------------------------------------------------
    def summary(self, print_fn=None):
        """Print Keras 3's table: each layer's name (type), output shape and parameter count,
        then the total, trainable and non-trainable counts (and the optimizer's state, once it
        exists, which Keras 3 also counts in the total)."""
        self._require_built("the summary")
        print_fn = print_fn or print
        widths = (33, 26, 15)

        def row(cells, left="│", mid="│", right="│", align=("<", "<", ">")):
            return left + mid.join(f" {c:{a}{w - 2}} " for c, w, a in zip(cells, widths, align)) + right

        def rule(left, mid, right, char):
            return left + mid.join(char * w for w in widths) + right

        lines = [f'Model: "{self.name}"',
                 rule("┏", "┳", "┓", "━"),
                 row(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
                 rule("┡", "╇", "┩", "━")]
        for i, layer in enumerate(self._layers):
            label = _wrap(f"{layer.name} ({type(layer).__name__})", widths[0] - 2)
            lines.append(row((label[0], str(layer.output_shape), f"{layer.count_params():,}")))
            lines += [row((more, "", "")) for more in label[1:]]   # Keras wraps long names
            lines.append(rule("├", "┼", "┤", "─") if i < len(self._layers) - 1 else rule("└", "┴", "┘", "─"))
        if not self._layers:
            lines.append(rule("└", "┴", "┘", "─"))
        trainable = sum(int(w.value.size) for w in self.trainable_weights)
        frozen = sum(int(w.value.size) for w in self.non_trainable_weights)
        nbytes = sum(int(w.value.nbytes) for w in self.weights)
        tbytes = sum(int(w.value.nbytes) for w in self.trainable_weights)
        opt_vars = self.optimizer.variables() if self._functions and "train" in self._functions else []
        opt_count = sum(int(v.value.size) for v in opt_vars)
        opt_bytes = sum(int(v.value.nbytes) for v in opt_vars)
        lines.append(f" Total params: {trainable + frozen + opt_count:,} ({_readable_size(nbytes + opt_bytes)})")
        lines.append(f" Trainable params: {trainable:,} ({_readable_size(tbytes)})")
        lines.append(f" Non-trainable params: {frozen:,} ({_readable_size(nbytes - tbytes)})")
        if opt_vars:
            lines.append(f" Optimizer params: {opt_count:,} ({_readable_size(opt_bytes)})")
        print_fn("\n".join(lines))

    # -- configuration and files --------------------------------------------------------------
    def get_config(self) -> dict:
        layers = ([layers_module.serialize(self._input_layer)] if self._input_layer is not None else [])
        layers += [layers_module.serialize(layer) for layer in self._layers]
        return {"name": self.name, "seed": self.seed, "layers": layers,
                "build_input_shape": None if self._build_input_shape is None else list(self._build_input_shape)}

    @classmethod
    def from_config(cls, config: dict):
        model = cls(name=config.get("name"), seed=config.get("seed"))
        for layer_config in config.get("layers", []):
            model.add(layers_module.deserialize(layer_config))
        if not model.built and config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model

    def _compile_config(self):
        if not self.compiled:
            return None
        metrics = [m if isinstance(m, str) else m.name for m in self._metric_ids]
        return {"optimizer": _optimizers().serialize(self.optimizer),
                "loss": _losses().serialize(self.loss),
                "metrics": metrics, "backend": self.backend}

    def save(self, path):
        """Write the architecture, the weights and the optimizer state to ONE file (see the
        module docstring for the format); returns the path.

        Atomic: the archive is written to a temporary file beside ``path`` named
        ``.<basename>.<pid>.<random>.tmp`` (``pid``: the writing process, which holds an
        advisory ``flock`` on it while it writes), flushed to disk (``fsync``) and renamed over
        ``path`` (``os.replace``), so ``path`` holds the previous file or the new one, whole,
        even if the process is killed mid-save.

        Killed saves leave no debris for long: each save first removes the temporaries of
        earlier saves of the same ``path`` whose writer is gone — its PID no longer runs (or is
        a zombie) and no process holds the lock on the file. Temporaries of saves still
        running, in this process or another, are never touched, nor are other files.
        """
        path = os.fspath(path)
        document = {"format": FORMAT, "version": FORMAT_VERSION,
                    "model": {"class_name": type(self).__name__, "config": self.get_config()},
                    "compile": self._compile_config()}
        arrays = {MODEL_ENTRY: np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)}
        for i, w in enumerate(self.get_weights()):
            arrays[f"weight_{i:04d}"] = w
        if self._functions and "train" in self._functions:
            for i, v in enumerate(self.optimizer.variables()):
                arrays[f"optimizer_{i:04d}"] = to_host(v.value)
        arrays[DIGEST_ENTRY] = np.frombuffer(_content_digest(arrays), dtype=np.uint8)
        write_atomically(path, lambda f: np.savez(f, **arrays))
        return path

    def __repr__(self):
        return f"<Sequential {self.name!r}: {len(self._layers)} layers, {'built' if self.built else 'not built'}>"


def _batch_size(value, who: str, default):
    """A batch size: an integer >= 1, or None for ``default``."""
    value = arguments.index(value, f"{who}: batch_size", minimum=1, allow_none=True)
    return default if value is None else value


def _verbosity(value, who: str) -> int:
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


def _base_name(name: str) -> str:
    """dense_3 -> dense (the base of an automatic name)."""
    head, _, tail = name.rpartition("_")
    return head if head and tail.isdigit() else name


def _wrap(text: str, width: int) -> list:
    """``text`` in lines of at most ``width`` characters, broken at spaces where possible."""
    lines, current = [], ""
    for word in text.split(" "):
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return lines + [current] if current or not lines else lines


def _readable_size(nbytes: float) -> str:
    """Keras' memory size text: 397.54 KB (powers of 1024)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    size, unit = float(nbytes), 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.2f} {units[unit]}"


# -- model files: writing ------------------------------------------------------------------------

MODEL_ENTRY = "graphc_model"      # the JSON document, as a uint8 array of its UTF-8 bytes
DIGEST_ENTRY = "graphc_sha256"    # SHA-256 of the document and every array (_content_digest)
_NUMBERED_ENTRY = re.compile(r"(weight|optimizer)_([0-9]{4,})")


def _content_digest(arrays: dict) -> bytes:
    """SHA-256 over every entry but the digest itself, in name order: its name, dtype, shape
    and bytes (C order). ``save`` stores it; ``load_model`` recomputes it from what it read."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == DIGEST_ENTRY:
            continue
        array = np.asarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode("utf-8"))
        digest.update(np.ascontiguousarray(array).view(np.uint8).reshape(-1))
    return digest.digest()


# -- model files: reading ------------------------------------------------------------------------

class ModelFileError(ValueError):
    """A file ``load_model`` cannot load: damaged, truncated, foreign or changed after it was
    saved. A ValueError; the message names the file and what is wrong with it."""


def _read_model_file(path: str):
    """(document, weights, optimizer state) of a file written by ``save``, every entry and
    field checked; ``ModelFileError`` (a ValueError naming the path) for anything else.
    FileNotFoundError and PermissionError come through as they are."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise ModelFileError(f"load_model: {path!r} is a directory, not a graphc model file")
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"load_model: {path!r} is not a regular file, so not a graphc model file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file (not an .npz archive; "
                           "models are written by model.save)")
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = _read_entries(archive, path, os.path.getsize(path))
    except ModelFileError:
        raise
    except Exception as exc:   # zipfile, struct, zlib, numpy header errors...: all are damage
        raise ModelFileError(f"load_model: {path!r} is damaged or truncated "
                           f"({type(exc).__name__}: {exc})") from exc
    if MODEL_ENTRY not in arrays:
        raise ModelFileError(f"load_model: {path!r} is an .npz archive but not a graphc model file "
                           f"(no {MODEL_ENTRY!r} entry)")
    text, digest = arrays.pop(MODEL_ENTRY), arrays.pop(DIGEST_ENTRY, None)
    for name, value in ((MODEL_ENTRY, text), (DIGEST_ENTRY, digest)):
        if value is not None and (value.dtype != np.uint8 or value.ndim != 1):
            raise ModelFileError(f"load_model: {path!r} is damaged: entry {name!r} must be bytes (a 1-d "
                               f"uint8 array), got {value.dtype} {format_shape(value.shape)}")
    if digest is not None and digest.tobytes() != _content_digest({MODEL_ENTRY: text, **arrays}):
        raise ModelFileError(f"load_model: {path!r} is damaged: its content does not match the SHA-256 "
                           "checksum written by save (the file was changed after it was saved)")
    try:
        document = json.loads(text.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:   # UnicodeDecodeError and JSONDecodeError included
        raise ModelFileError(f"load_model: {path!r} is damaged: its document is not UTF-8 JSON "
                           f"({type(exc).__name__}: {exc})") from exc
    _check_document(document, path)
    weights, state = _numbered_entries(arrays, "weight", path), _numbered_entries(arrays, "optimizer", path)
    if state and document["compile"] is None:
        raise ModelFileError(f"load_model: {path!r} is damaged: it holds optimizer state ({len(state)} arrays) "
                           "but no optimizer (its 'compile' field is null)")
    return document, weights, state


def _read_entries(archive: zipfile.ZipFile, path: str, file_size: int) -> dict:
    """{name without .npy: array} of every entry, each checked before it is read: a known
    name, not twice, stored uncompressed and unencrypted (as ``np.savez`` writes them), no
    larger than the file."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ModelFileError(f"load_model: {path!r} is damaged: entries {twice} appear more than once")
    arrays = {}
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else None
        if name not in (MODEL_ENTRY, DIGEST_ENTRY) and (name is None or not _NUMBERED_ENTRY.fullmatch(name)):
            raise ModelFileError(f"load_model: {path!r} is not a graphc model file: unexpected entry "
                               f"{info.filename!r} (graphc writes {MODEL_ENTRY}.npy, weight_0000.npy, ..., "
                               f"optimizer_0000.npy, ... and {DIGEST_ENTRY}.npy)")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"load_model: {path!r} is not a graphc model file: entry {info.filename!r} "
                               "is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(f"load_model: {path!r} is not a graphc model file: entry {info.filename!r} "
                               f"is compressed (zip method {info.compress_type}); model.save stores "
                               "entries uncompressed")
        if info.file_size != info.compress_size or info.file_size > file_size:
            raise ModelFileError(f"load_model: {path!r} is damaged: entry {info.filename!r} claims "
                               f"{info.file_size} bytes in a file of {file_size}")
        arrays[name] = _parse_npy(archive.read(info), info.filename, path)
    return arrays


def _parse_npy(data: bytes, entry: str, path: str) -> np.ndarray:
    """The array of one ``.npy`` entry. Only plain numbers (bool, integers, floats): an
    object array would have to be unpickled, which no model file may make graphc do. The
    header must describe exactly the bytes that follow it."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ModelFileError(f"load_model: {path!r} is damaged: entry {entry!r} is .npy version "
                           f"{version[0]}.{version[1]}")
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file: entry {entry!r} holds "
                           f"{dtype} values; model files hold plain numbers (graphc never unpickles)")
    if any(d < 0 for d in shape):
        raise ModelFileError(f"load_model: {path!r} is damaged: entry {entry!r} has shape {shape}")
    count = math.prod(shape)
    offset = stream.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise ModelFileError(f"load_model: {path!r} is damaged or truncated: entry {entry!r} declares "
                           f"{count * dtype.itemsize} bytes of {dtype} {shape} but holds {len(data) - offset}")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset) if count else np.zeros(0, dtype)
    return flat.reshape(shape, order="F" if fortran_order else "C").copy()


def _numbered_entries(arrays: dict, kind: str, path: str) -> list:
    """[kind_0000, kind_0001, ...]: numbered from 0 without gaps, as ``save`` writes them."""
    found = {}
    for name in arrays:
        match = _NUMBERED_ENTRY.fullmatch(name)
        if match and match.group(1) == kind:
            found[int(match.group(2))] = name
    for i in range(len(found)):
        if found.get(i) != f"{kind}_{i:04d}":
            raise ModelFileError(f"load_model: {path!r} is damaged: its {kind} entries are not numbered "
                               f"0..{len(found) - 1} ({kind}_{i:04d}.npy is missing)")
    return [arrays[found[i]] for i in range(len(found))]


def _check_document(document, path: str) -> None:
    """Every field of the document that ``load_model`` reads has the type ``save`` writes."""
    def fail(where, expected, value):
        raise ModelFileError(f"load_model: {path!r} is damaged: field {where} must be {expected}, "
                             f"got {arguments.shown(value)}")

    def need(container, key, where):
        if key not in container:
            raise ModelFileError(f"load_model: {path!r} is damaged: field {where}.{key} is missing")
        return container[key]

    def is_int(value):
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(document, dict):
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file (its document is a "
                           f"{type(document).__name__}, not an object)")
    if document.get("format") != FORMAT:
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file (format {document.get('format')!r})")
    version = need(document, "version", "document")
    if not is_int(version) or version != FORMAT_VERSION:
        raise ModelFileError(f"load_model: {path!r} has format version {version!r}; "
                           f"this graphc reads version {FORMAT_VERSION}")
    spec = need(document, "model", "document")
    if not isinstance(spec, dict):
        fail("model", "an object {class_name, config}", spec)
    class_name = need(spec, "class_name", "model")
    if class_name != "Sequential":
        raise ModelFileError(f"load_model: {path!r} holds an unknown model class {class_name!r}")
    config = need(spec, "config", "model")
    if not isinstance(config, dict):
        fail("model.config", "an object", config)
    name = need(config, "name", "model.config")
    if name is not None and not isinstance(name, str):
        fail("model.config.name", "a string or null", name)
    seed = need(config, "seed", "model.config")
    if seed is not None and not is_int(seed):
        fail("model.config.seed", "an integer or null", seed)
    layer_list = need(config, "layers", "model.config")
    if not isinstance(layer_list, list):
        fail("model.config.layers", "a list", layer_list)
    for i, layer in enumerate(layer_list):
        where = f"model.config.layers[{i}]"
        if not isinstance(layer, dict):
            fail(where, "an object {class_name, config}", layer)
        if not isinstance(need(layer, "class_name", where), str):
            fail(f"{where}.class_name", "a string", layer["class_name"])
        if not isinstance(need(layer, "config", where), dict):
            fail(f"{where}.config", "an object", layer["config"])
    shape = need(config, "build_input_shape", "model.config")
    if shape is not None and (not isinstance(shape, list)
                              or not all(d is None or (is_int(d) and d >= 0) for d in shape)):
        fail("model.config.build_input_shape", "null or a list of sizes (integers >= 0 or null)", shape)
    compiled = need(document, "compile", "document")
    if compiled is None:
        return
    if not isinstance(compiled, dict):
        fail("compile", "an object {optimizer, loss, metrics, backend} or null", compiled)
    for key in ("optimizer", "loss"):
        if not isinstance(need(compiled, key, "compile"), (str, dict)):
            fail(f"compile.{key}", "a name or an object {class_name, config}", compiled[key])
    metrics = need(compiled, "metrics", "compile")
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        fail("compile.metrics", "a list of metric names", metrics)
    backend = need(compiled, "backend", "compile")
    if not isinstance(backend, str) or backend not in _known_backends():
        raise ModelFileError(f"load_model: {path!r} is damaged: field compile.backend must name a graphc "
                           f"backend ({', '.join(sorted(_known_backends()))}), got {backend!r}")


def _known_backends() -> set:
    return backend_registry.known()


def load_model(path):
    """A model saved by ``save``: same architecture and weights (so it predicts identically),
    compiled again as it was, with its optimizer state restored so training can resume.

    Raises ``ModelFileError`` (a ``ValueError``) naming the file for anything but an intact
    file written by ``save`` (see the module docstring: nothing in a model file can run code); ``FileNotFoundError`` /
    ``PermissionError`` when it cannot be opened; ``BackendUnavailable`` when the model was
    compiled for a backend this machine cannot run (the file itself is fine)."""
    path = os.fspath(path)
    document, weights, state = _read_model_file(path)
    compile_config = document["compile"]
    try:
        with layers_module.weight_budget(sum(w.size for w in weights), "the file's weights"):
            model = Sequential.from_config(document["model"]["config"])
            model.set_weights(weights)
        if compile_config is not None:
            model.compile(optimizer=_optimizers().deserialize(compile_config["optimizer"])
                          if isinstance(compile_config["optimizer"], dict) else compile_config["optimizer"],
                          loss=_losses().deserialize(compile_config["loss"])
                          if isinstance(compile_config["loss"], dict) else compile_config["loss"],
                          metrics=compile_config["metrics"] or None,
                          backend=compile_config["backend"])
        if state:
            model.train_function  # builds the training step, which creates the optimizer's slots
            variables = model.optimizer.variables()
            if len(variables) != len(state) or any(v.shape != s.shape for v, s in zip(variables, state)):
                raise ModelFileError(f"load_model: {path!r}: the saved optimizer state ({len(state)} arrays) does "
                                   f"not fit the optimizer ({len(variables)} variables)")
            for var, value in zip(variables, state):
                var.assign(value)
    except ModelFileError:
        raise
    except BackendUnavailable as exc:   # an intact file, compiled for a backend this machine lacks
        raise BackendUnavailable(f"load_model: {path!r}: {exc}") from exc
    except Exception as exc:   # a layer, loss, optimizer or metric its configuration cannot make
        raise ModelFileError(f"load_model: {path!r} holds a model graphc cannot rebuild "
                           f"({type(exc).__name__}: {exc})") from exc
    return model

# -- Rosenblatt's perceptron ---------------------------------------------------------------------

class Perceptron:
    """Rosenblatt's perceptron, trained sample by sample exactly as the seed works it by hand.

    - input augmented with x0 = 1, so the bias is the weight w0 (``weights[0]``);
    - output ŷ = f(w · x) with the Heaviside step f(z) = 1 if z >= 0 else 0 (so f(0) = 1);
    - weights start at 0; after EVERY sample, w ← w + α (t − ŷ) x, with t the target and ŷ
      the output. (The issue writes α(ŷ − y)x, naming the target ŷ and the output y as the
      seed does; it is the same, convergent rule. The opposite sign diverges on AND: the
      first sample (0, 0) → output 1, target 0 would raise w0 instead of lowering it.)
    - an epoch is one pass over the samples in order; training stops after the first epoch
      without an error (or after ``epochs``).

    Each update is one compiled graph (``step_function``: inputs x, t; outputs ŷ and the error;
    update of the weight variable). After ``fit``: ``weights`` (w0 first), ``errors_`` (the
    number of misclassified samples per epoch), ``steps_`` (one record per sample: epoch, x,
    target, output, error, weights after the update) and ``iteration_table()``.
    """

    def __init__(self, learning_rate=1.0):
        self.learning_rate = arguments.real(learning_rate, "Perceptron: learning_rate")
        self.errors_: list[int] = []
        self.steps_: list[dict] = []
        self._w = None
        self.step_function = None

    def _compile(self, n_features):
        self._w = variable(np.zeros(n_features + 1), dtype="float64", name="w")
        x = placeholder((n_features + 1,), "float64", name="x")
        t = placeholder((), "float64", name="t")
        output = step(reduce_sum(self._w * x))
        error = t - output
        self.step_function = function([x, t], [output, error],
                                      updates=[(self._w, self._w + self.learning_rate * error * x)],
                                      name="perceptron_step")

    def fit(self, X, y, epochs=100):
        epochs = arguments.index(epochs, "Perceptron.fit: epochs", minimum=0)
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"Perceptron.fit: X must be (samples, features) with one target per sample, "
                             f"got X {X.shape} and y {y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError("Perceptron.fit: targets must be 0 or 1")
        self._compile(X.shape[1])
        augmented = np.hstack([np.ones((len(X), 1)), X])
        self.errors_, self.steps_ = [], []
        for epoch in range(1, epochs + 1):
            errors = 0
            for xi, ti in zip(augmented, y):
                output, error = self.step_function(xi, ti)
                errors += int(error != 0)
                self.steps_.append({"epoch": epoch, "x": xi[1:].copy(), "target": int(ti),
                                    "output": int(output), "error": int(error),
                                    "weights": self._w.value.copy()})
            self.errors_.append(errors)
            if errors == 0:
                break
        return self

    @property
    def weights(self) -> np.ndarray:
        """[w0 (bias), w1, ..., wn]."""
        if self._w is None:
            raise ValueError("Perceptron: call fit first")
        return self._w.value.copy()

    def net_input(self, X):
        X = np.asarray(X, dtype=np.float64)
        return X @ self.weights[1:] + self.weights[0]

    def predict(self, X):
        """Heaviside of w0 + w · x: 1 where it is >= 0, else 0 (int64)."""
        return (self.net_input(X) >= 0).astype(np.int64)

    def iteration_table(self) -> str:
        """The sample-by-sample table of ``fit``: epoch, inputs, target, output, error, weights."""
        if not self.steps_:
            return "(not fitted)"
        n = len(self.steps_[0]["x"])
        xs = [f"x{i + 1}" for i in range(n)]
        ws = [f"w{i}" for i in range(n + 1)]
        header = ["epoch", *xs, "target", "output", "error", *ws]
        rows = []
        for s in self.steps_:
            rows.append([str(s["epoch"]), *(f"{v:g}" for v in s["x"]), str(s["target"]), str(s["output"]),
                         str(s["error"]), *(f"{v:g}" for v in s["weights"])])
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)
