"""Metrics (``gc.metrics``): array functions on NumPy labels, and training metrics by name.

Array functions (NumPy in, NumPy out: ``confusion_matrix``, ``accuracy_score``,
``precision_score``, ``recall_score``, ``f1_score``, ``specificity_score``) take class labels:
integer arrays of shape (n,), or (n, k) one-hot / probability rows (reduced by argmax), or
(n, 1) columns, and follow scikit-learn's conventions (``average=``: see ``_score``).

Training metrics (``metrics.get(name, loss=None)``) are compiled into the train and test
graphs as sums over each batch, so an epoch's value is exact whatever the batch sizes and
masked steps never count (``Metric``).
"""
from __future__ import annotations

import inspect
import math
import warnings

import numpy as np

from graphc import api as gc

from graphc.ir import arguments
# The loss modules, qualified: their class names (Hinge, BinaryCrossentropy, ...) are Keras metric names too.
from graphc.losses import base as _loss_base
from graphc.losses import margin as _margin_losses
from graphc.losses import overlap as _overlap_losses
from graphc.losses import probabilistic as _probabilistic_losses
from graphc.losses import registry as _loss_registry

# -- array metrics -------------------------------------------------------------------------------


def _labels(y, what: str) -> np.ndarray:
    """Class labels as a 1-D int64 array (argmax of (n, k) rows; (n, 1) columns flattened)."""
    try:
        y = np.asarray(y)
    except (ValueError, TypeError):
        raise ValueError(f"{what}: labels must be an array (or a list of equal-length rows), got "
                         f"{type(y).__name__} {y!r:.60}") from None
    if y.ndim == 2:
        y = np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{what}: expected labels of shape (n,), (n, 1) or (n, k), got shape {y.shape}")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{what}: labels must be whole numbers; threshold probabilities first "
                             "(e.g. y_pred > 0.5) or pass class labels")
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{what}: labels must be >= 0, got {int(y.min())}")
    return y.astype(np.int64)


def _pair(y_true, y_pred):
    t = _labels(y_true, "y_true")
    p = _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} labels, y_pred has {p.shape[0]}")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j (int64, k x k; rows =
    real class, as the seeds and scikit-learn). ``num_classes`` defaults to 1 + the largest
    label seen in either array."""
    num_classes = arguments.index(num_classes, "confusion_matrix: num_classes", minimum=1, allow_none=True)
    t, p = _pair(y_true, y_pred)
    seen = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    k = seen if num_classes is None else num_classes
    if seen > k:
        raise ValueError(f"confusion_matrix: label {seen - 1} is out of range for num_classes={k}")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def accuracy_score(y_true, y_pred) -> float:
    """Fraction of samples whose predicted label equals the true one."""
    t, p = _pair(y_true, y_pred)
    if t.size == 0:
        raise ValueError("accuracy_score: no samples")
    return float(np.mean(t == p))


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _one_vs_rest_counts(y_true, y_pred, num_classes=None):
    """Per class: (tp, fp, fn, tn) arrays from the confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    return tp, fp, fn, tn


_AVERAGES = ("binary", "macro", "micro", "weighted", None)


def _score(name, y_true, y_pred, average, pos_label, per_class):
    """Score of one-vs-rest counts: per_class(tp, fp, fn, tn) -> per-class score array, for
    ``precision_score``, ``recall_score``, ``f1_score`` and ``specificity_score``.

    ``average``: "binary" (default; the class ``pos_label`` against the rest, labels must be
    two-valued), "macro" (unweighted mean of the per-class one-vs-rest scores), "micro"
    (computed from the summed counts of all classes), "weighted" (mean weighted by each class'
    support) or None (the array of per-class scores). Multiclass averages run over the classes
    present in y_true or y_pred (scikit-learn's rule; None returns their scores in label
    order). A 0/0 score is 0 (scikit-learn's zero_division=0)."""
    if not (average is None or isinstance(average, str)) or average not in _AVERAGES:
        raise ValueError(f"{name}: average must be one of {_AVERAGES}, got {average!r}")
    pos_label = arguments.index(pos_label, f"{name}: pos_label", minimum=0)
    t, p = _pair(y_true, y_pred)
    if average == "binary":
        labels = sorted(set(np.unique(np.concatenate([t, p])).tolist()) | {pos_label})
        if len(labels) > 2:
            raise ValueError(f"{name}: average='binary' needs two classes (one of them pos_label="
                             f"{pos_label}), got labels {labels}; use average='macro' for multiclass")
        k = max(int(t.max(initial=0)), int(p.max(initial=0)), int(pos_label)) + 1
        tp, fp, fn, tn = _one_vs_rest_counts(t, p, k)
        return float(per_class(tp, fp, fn, tn)[pos_label])
    present = np.unique(np.concatenate([t, p]))  # classes seen in either array, as scikit-learn
    tp, fp, fn, tn = (c[present] for c in _one_vs_rest_counts(t, p))
    if average == "micro":
        return float(per_class(tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True),
                               tn.sum(keepdims=True))[0])
    scores = per_class(tp, fp, fn, tn)
    if average is None:
        return scores
    if average == "macro":
        return float(scores.mean())
    support = tp + fn
    return float(np.sum(scores * support) / support.sum()) if support.sum() else 0.0


def precision_score(y_true, y_pred, average="binary", pos_label=1):
    """tp / (tp + fp): of the samples predicted positive, the fraction that are."""
    return _score("precision_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(tp, tp + fp))


def recall_score(y_true, y_pred, average="binary", pos_label=1):
    """tp / (tp + fn): of the positive samples, the fraction found (sensitivity)."""
    return _score("recall_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(tp, tp + fn))


def f1_score(y_true, y_pred, average="binary", pos_label=1):
    """2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall."""
    return _score("f1_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fp + fn))


def specificity_score(y_true, y_pred, average="binary", pos_label=1):
    """tn / (tn + fp): of the negative samples, the fraction predicted negative."""
    return _score("specificity_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(tn, tn + fp))


# -- training metrics ------------------------------------------------------------------------------

def _tensor(x):
    return x if isinstance(x, gc.Tensor) else gc.constant(x)


class Metric:
    """A training metric: ``batch_stats`` -> scalar float Tensors summed over a batch,
    ``result(totals)`` -> the value from the totals over an epoch. ``mask``: None, or the
    output's bool mask (batch, steps): the masked steps must not count.

    The statistics are SUMS over the batch (e.g. [number correct, number of elements]); the
    model adds them up over an epoch and ``result`` turns the totals into the epoch's value, so
    an epoch's accuracy is exact whatever the batch sizes. With a masked output (Keras 3) the
    model passes ``batch_stats(y_true, y_pred, mask=mask)`` and every sum and count is weighted
    by the mask, so padding changes no metric."""

    def __init__(self, name):
        self.name = name

    def batch_stats(self, y_true, y_pred, mask=None) -> list:
        raise NotImplementedError

    def result(self, totals) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _count(t, weights=None):
    """The number of elements of ``t`` as a float32 scalar (known at call time); with
    ``weights`` (see ``_mask_weights``), the number of unmasked ones."""
    return gc.reduce_sum(gc.ones_like(t, dtype="float32") if weights is None else weights)


def _sum(t, weights=None):
    t = gc.cast(t, "float32")
    return gc.reduce_sum(t if weights is None else t * weights)


def _mask_weights(mask, values):
    """None without a mask; else the mask (batch, steps) as float32 weights of ``values``' shape
    (a step's weight repeated over the axes after the mask's)."""
    if mask is None:
        return None
    if values.ndim < mask.ndim:
        raise gc.ShapeError(f"metric: the output's mask {mask.shape} has more axes than the values {values.shape}")
    weights = gc.cast(mask, "float32")
    for _ in range(values.ndim - mask.ndim):
        weights = gc.expand_dims(weights, -1)
    return weights * gc.ones_like(values, dtype="float32")


def batch_stats(metric: Metric, y_true, y_pred, mask=None) -> list:
    """``metric``'s batch statistics, with ``mask`` when there is one. A custom metric whose
    ``batch_stats`` takes no mask is computed over every step, with a warning."""
    if mask is None:
        return metric.batch_stats(y_true, y_pred)
    if "mask" not in inspect.signature(metric.batch_stats).parameters:
        warnings.warn(f"metric {metric.name!r}: the model's output carries a mask, but {type(metric).__name__}."
                      "batch_stats takes no mask argument, so padded steps count in it; add mask=None to it",
                      stacklevel=3)
        return metric.batch_stats(y_true, y_pred)
    return metric.batch_stats(y_true, y_pred, mask=mask)


class _OutputKind:
    """What a loss says about the model's outputs: binary / categorical / sparse labels,
    logits or probabilities, or signed (hinge) scores."""

    def __init__(self, loss):
        loss = _loss_registry.get(loss) if isinstance(loss, (str, dict)) else loss
        self.from_logits = bool(getattr(loss, "from_logits", False))
        self.hinge = isinstance(loss, _margin_losses.Hinge)
        binary_losses = (_probabilistic_losses.BinaryCrossentropy, _probabilistic_losses.WeightedBinaryCrossentropy,
                         _probabilistic_losses.BalancedBinaryCrossentropy, _margin_losses.Hinge,
                         _overlap_losses.Dice, _overlap_losses.Jaccard)
        if isinstance(loss, _probabilistic_losses.SparseCategoricalCrossentropy):
            self.labels = "sparse"
        elif isinstance(loss, _probabilistic_losses.CategoricalCrossentropy):
            self.labels = "categorical"
        elif isinstance(loss, binary_losses):
            self.labels = "binary"
        else:
            self.labels = None  # decided from the shapes

    def resolve(self, y_true, y_pred) -> str:
        """"binary", "categorical" or "sparse" (Keras' rule from the shapes when the loss
        does not say: last axis 1 (or none) -> binary; labels of lower rank, or a last axis
        of 1 against several classes -> sparse; else categorical)."""
        if self.labels is not None:
            return self.labels
        if y_pred.ndim <= 1 or y_pred.shape[-1] == 1:
            return "binary"
        if y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] != 1):
            return "sparse"
        return "categorical"

    def threshold(self) -> float:
        """The decision threshold on raw outputs: 0 for logits and hinge scores, else 0.5."""
        return 0.0 if (self.from_logits or self.hinge) else 0.5


def _sparse_labels(y_true, y_pred):
    labels = _tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = gc.squeeze(labels, axis=-1)
    if labels.dtype.kind not in "iu":
        labels = gc.cast(labels, "int64")
    return labels


def _binary_pair(y_true, y_pred, kind: _OutputKind):
    """(true positives mask, predicted positives mask) as bool Tensors of the same shape.
    A label counts as positive when > 0.5 (0/1 labels) — or > 0 for hinge's -1/1 labels."""
    y_pred = _tensor(y_pred)
    y_true = gc.cast(_tensor(y_true), y_pred.dtype if y_pred.dtype.kind == "f" else "float32")
    y_true, y_pred = _loss_base.match_rank(y_true, y_pred)
    label_cut = 0.0 if kind.hinge else 0.5
    return y_true > label_cut, y_pred > kind.threshold()


def _positive_masks(y_true, y_pred, kind: _OutputKind):
    """(actual positive, predicted positive) bool masks, elementwise as Keras' Precision /
    Recall: categorical outputs are compared class by class (sparse labels one-hot encoded,
    logits turned into probabilities by softmax)."""
    y_pred = _tensor(y_pred)
    form = kind.resolve(_tensor(y_true), y_pred)
    if form == "binary":
        return _binary_pair(y_true, y_pred, kind)
    probabilities = gc.nn.softmax(y_pred) if kind.from_logits else y_pred
    if form == "sparse":
        y_true = gc.one_hot(_sparse_labels(y_true, y_pred), y_pred.shape[-1], dtype=y_pred.dtype)
    return gc.cast(_tensor(y_true), y_pred.dtype) > 0.5, probabilities > 0.5


class Accuracy(Metric):
    """Fraction of correct predictions; the variant follows Keras' choice from the loss and
    the shapes: binary (threshold 0.5, or 0 for logits/hinge scores, compared with 0/1
    labels), categorical (argmax of prediction vs argmax of one-hot labels) or sparse
    categorical (argmax vs integer label). Stats: [correct, total]."""

    def __init__(self, name="accuracy", loss=None, kind=None):
        super().__init__(name)
        self.output = _OutputKind(loss)
        if kind is not None:
            if kind not in ("binary", "categorical", "sparse"):
                raise ValueError(f"Accuracy: kind must be 'binary', 'categorical' or 'sparse', got {kind!r}")
            self.output.labels = kind

    def batch_stats(self, y_true, y_pred, mask=None):
        y_true, y_pred = _tensor(y_true), _tensor(y_pred)
        form = self.output.resolve(y_true, y_pred)
        if form == "binary":
            actual, predicted = _binary_pair(y_true, y_pred, self.output)
            correct = gc.equal(actual, predicted)
        elif form == "sparse":
            correct = gc.equal(_sparse_labels(y_true, y_pred), gc.argmax(y_pred, axis=-1))
        else:
            correct = gc.equal(gc.argmax(y_true, axis=-1), gc.argmax(y_pred, axis=-1))
        weights = _mask_weights(mask, correct)
        return [_sum(correct, weights), _count(correct, weights)]

    def result(self, totals):
        correct, total = totals
        return float(correct / total) if total else 0.0


class Precision(Metric):
    """tp / (tp + fp) with predictions thresholded at 0.5 (0 for logits / hinge scores).
    Stats: [tp, predicted positives]."""

    def __init__(self, name="precision", loss=None):
        super().__init__(name)
        self.output = _OutputKind(loss)

    def batch_stats(self, y_true, y_pred, mask=None):
        actual, predicted = _positive_masks(y_true, y_pred, self.output)
        weights = _mask_weights(mask, actual)
        return [_sum(gc.logical_and(actual, predicted), weights), _sum(predicted, weights)]

    def result(self, totals):
        tp, predicted = totals
        return float(tp / predicted) if predicted else 0.0


class Recall(Metric):
    """tp / (tp + fn) with the same thresholds as Precision. Stats: [tp, actual positives]."""

    def __init__(self, name="recall", loss=None):
        super().__init__(name)
        self.output = _OutputKind(loss)

    def batch_stats(self, y_true, y_pred, mask=None):
        actual, predicted = _positive_masks(y_true, y_pred, self.output)
        weights = _mask_weights(mask, actual)
        return [_sum(gc.logical_and(actual, predicted), weights), _sum(actual, weights)]

    def result(self, totals):
        tp, actual = totals
        return float(tp / actual) if actual else 0.0


class F1Score(Metric):
    """2 tp / (predicted positives + actual positives), i.e. 2PR / (P + R), with the same
    thresholds as Precision. Stats: [tp, predicted positives, actual positives]."""

    def __init__(self, name="f1", loss=None):
        super().__init__(name)
        self.output = _OutputKind(loss)

    def batch_stats(self, y_true, y_pred, mask=None):
        actual, predicted = _positive_masks(y_true, y_pred, self.output)
        weights = _mask_weights(mask, actual)
        return [_sum(gc.logical_and(actual, predicted), weights), _sum(predicted, weights), _sum(actual, weights)]

    def result(self, totals):
        tp, predicted, actual = totals
        return float(2 * tp / (predicted + actual)) if predicted + actual else 0.0


class _ErrorMetric(Metric):
    """Mean of an elementwise error over all elements. Stats: [sum of errors, count]."""

    def _error(self, diff):
        raise NotImplementedError

    def batch_stats(self, y_true, y_pred, mask=None):
        y_pred = _tensor(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = gc.cast(y_pred, "float32")
        y_true = gc.cast(_tensor(y_true), y_pred.dtype)
        y_true, y_pred = _loss_base.match_rank(y_true, y_pred)
        error = self._error(y_pred - y_true)
        weights = _mask_weights(mask, error)
        return [_sum(error, weights), _count(error, weights)]

    def result(self, totals):
        total, count = totals
        return float(total / count) if count else 0.0


class MeanAbsoluteError(_ErrorMetric):
    """mean(|y_true - y_pred|)."""

    def __init__(self, name="mae"):
        super().__init__(name)

    def _error(self, diff):
        return gc.abs(diff)


class MeanSquaredError(_ErrorMetric):
    """mean((y_true - y_pred)^2)."""

    def __init__(self, name="mse"):
        super().__init__(name)

    def _error(self, diff):
        return gc.square(diff)


class RootMeanSquaredError(MeanSquaredError):
    """sqrt(total squared error / number of elements) over the epoch."""

    def __init__(self, name="rmse"):
        super().__init__(name)

    def result(self, totals):
        return math.sqrt(super().result(totals))


class MeanMetricWrapper(Metric):
    """A function fn(y_true, y_pred) -> per-sample (or per-element) values, averaged over
    every element seen. Stats: [sum, count]. With a mask, the values must have the mask's
    axes (e.g. per-step values (batch, steps)): per-sample values of a masked output are refused."""

    def __init__(self, fn, name=None):
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn

    def batch_stats(self, y_true, y_pred, mask=None):
        values = _tensor(self.fn(y_true, y_pred))
        if mask is not None and values.ndim < mask.ndim:
            raise gc.ShapeError(f"metric {self.name!r}: the model's output carries a mask {mask.shape}, so the "
                                f"metric's values must be per step, got shape {values.shape}; reduce only the "
                                "last axis (e.g. gc.reduce_mean(..., axis=-1))")
        weights = _mask_weights(mask, values)
        return [_sum(values, weights), _count(values, weights)]

    def result(self, totals):
        total, count = totals
        return float(total / count) if count else 0.0


_BY_NAME = {
    "accuracy": lambda name, loss: Accuracy(name, loss),
    "acc": lambda name, loss: Accuracy(name, loss),
    "binary_accuracy": lambda name, loss: Accuracy(name, loss, kind="binary"),
    "categorical_accuracy": lambda name, loss: Accuracy(name, loss, kind="categorical"),
    "sparse_categorical_accuracy": lambda name, loss: Accuracy(name, loss, kind="sparse"),
    "precision": lambda name, loss: Precision(name, loss),
    "recall": lambda name, loss: Recall(name, loss),
    "f1": lambda name, loss: F1Score(name, loss),
    "f1_score": lambda name, loss: F1Score(name, loss),
    "mae": lambda name, loss: MeanAbsoluteError(name),
    "mean_absolute_error": lambda name, loss: MeanAbsoluteError(name),
    "mse": lambda name, loss: MeanSquaredError(name),
    "mean_squared_error": lambda name, loss: MeanSquaredError(name),
    "rmse": lambda name, loss: RootMeanSquaredError(name),
    "root_mean_squared_error": lambda name, loss: RootMeanSquaredError(name),
}


def names() -> list[str]:
    """The metric names ``get`` accepts."""
    return sorted(_BY_NAME)


def get(identifier, loss=None) -> Metric:
    """A training Metric from a name (its ``.name``, the History key, is the name as given,
    as Keras), a Metric (returned as is) or a function (y_true, y_pred) -> values (wrapped
    as a mean). ``loss`` (a name or Loss) picks the accuracy variant and the thresholds."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        make = _BY_NAME.get(identifier.lower())
        if make is None:
            raise ValueError(f"unknown metric {identifier!r}; valid names: {', '.join(names())}")
        return make(identifier, loss)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"cannot interpret {identifier!r} as a metric; valid names: {', '.join(names())}")
