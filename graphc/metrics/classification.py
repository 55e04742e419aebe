"""Classification training metrics: ``Accuracy``, ``Precision``, ``Recall``, ``F1Score``.

Which comparison they make follows Keras' choice from the loss and the shapes (``_OutputKind``):
binary labels against thresholded outputs (0.5 for probabilities, 0 for logits and hinge
scores), categorical (argmax against one-hot) or sparse (argmax against integer labels).
Precision, Recall and F1 compare elementwise, class by class for categorical outputs.
"""
from __future__ import annotations

from graphc import api as gc
from graphc.losses import registry as loss_registry
from graphc.losses.base import match_rank
from graphc.losses.margin import Hinge
from graphc.losses.overlap import Dice, Jaccard
from graphc.losses.probabilistic import (BalancedBinaryCrossentropy, BinaryCrossentropy, CategoricalCrossentropy,
                                         SparseCategoricalCrossentropy, WeightedBinaryCrossentropy)
from graphc.metrics.base import Metric, as_tensor, element_count, mask_weights, weighted_sum


class _OutputKind:
    """What a loss says about the model's outputs: binary / categorical / sparse labels,
    logits or probabilities, or signed (hinge) scores."""

    def __init__(self, loss):
        loss = loss_registry.get(loss) if isinstance(loss, (str, dict)) else loss
        self.from_logits = bool(getattr(loss, "from_logits", False))
        self.hinge = isinstance(loss, Hinge)
        binary_losses = (BinaryCrossentropy, WeightedBinaryCrossentropy, BalancedBinaryCrossentropy, Hinge,
                         Dice, Jaccard)
        if isinstance(loss, SparseCategoricalCrossentropy):
            self.labels = "sparse"
        elif isinstance(loss, CategoricalCrossentropy):
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
    labels = as_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = gc.squeeze(labels, axis=-1)
    if labels.dtype.kind not in "iu":
        labels = gc.cast(labels, "int64")
    return labels


def _binary_pair(y_true, y_pred, kind: _OutputKind):
    """(true positives mask, predicted positives mask) as bool Tensors of the same shape.
    A label counts as positive when > 0.5 (0/1 labels) — or > 0 for hinge's -1/1 labels."""
    y_pred = as_tensor(y_pred)
    y_true = gc.cast(as_tensor(y_true), y_pred.dtype if y_pred.dtype.kind == "f" else "float32")
    y_true, y_pred = match_rank(y_true, y_pred)
    label_cut = 0.0 if kind.hinge else 0.5
    return y_true > label_cut, y_pred > kind.threshold()


def _positive_masks(y_true, y_pred, kind: _OutputKind):
    """(actual positive, predicted positive) bool masks, elementwise as Keras' Precision /
    Recall: categorical outputs are compared class by class (sparse labels one-hot encoded,
    logits turned into probabilities by softmax)."""
    y_pred = as_tensor(y_pred)
    form = kind.resolve(as_tensor(y_true), y_pred)
    if form == "binary":
        return _binary_pair(y_true, y_pred, kind)
    probabilities = gc.nn.softmax(y_pred) if kind.from_logits else y_pred
    if form == "sparse":
        y_true = gc.one_hot(_sparse_labels(y_true, y_pred), y_pred.shape[-1], dtype=y_pred.dtype)
    return gc.cast(as_tensor(y_true), y_pred.dtype) > 0.5, probabilities > 0.5


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
        y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
        form = self.output.resolve(y_true, y_pred)
        if form == "binary":
            actual, predicted = _binary_pair(y_true, y_pred, self.output)
            correct = gc.equal(actual, predicted)
        elif form == "sparse":
            correct = gc.equal(_sparse_labels(y_true, y_pred), gc.argmax(y_pred, axis=-1))
        else:
            correct = gc.equal(gc.argmax(y_true, axis=-1), gc.argmax(y_pred, axis=-1))
        weights = mask_weights(mask, correct)
        return [weighted_sum(correct, weights), element_count(correct, weights)]

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
        weights = mask_weights(mask, actual)
        return [weighted_sum(gc.logical_and(actual, predicted), weights), weighted_sum(predicted, weights)]

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
        weights = mask_weights(mask, actual)
        return [weighted_sum(gc.logical_and(actual, predicted), weights), weighted_sum(actual, weights)]

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
        weights = mask_weights(mask, actual)
        return [weighted_sum(gc.logical_and(actual, predicted), weights), weighted_sum(predicted, weights),
                weighted_sum(actual, weights)]

    def result(self, totals):
        tp, predicted, actual = totals
        return float(2 * tp / (predicted + actual)) if predicted + actual else 0.0
