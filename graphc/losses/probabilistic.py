"""Probabilistic losses: binary cross-entropy (plain, weighted, balanced), categorical and
sparse categorical cross-entropy, with their function forms. They share the numerics of
logs of probabilities: from logits through softplus or the fused softmax cross-entropy op,
from probabilities a sigmoid or softmax of the graph produced through the logits underneath,
else clipped at ``EPSILON``.
"""
from __future__ import annotations

from graphc import api as gc
from graphc.losses.base import EPSILON, Loss, as_tensor, float_prediction, mean_per_sample, prepare_labels


def _log_terms(y_pred, from_logits):
    """(-log p, -log(1 - p)) for probabilities p or logits z = log(p / (1 - p)).

    From logits: -log sigmoid(z) = softplus(-z), -log(1 - sigmoid(z)) = softplus(z), which
    together give BCE = softplus(z) - y z without overflow."""
    logits = y_pred if from_logits else _sigmoid_input(y_pred)
    if logits is not None:
        return gc.nn.softplus(-logits), gc.nn.softplus(logits)
    p = gc.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -gc.log(p), -gc.log(1.0 - p)


# Probabilities that come straight out of a sigmoid or a softmax in this graph are scored from
# the logits underneath, as Keras' TensorFlow backend does: no clipping at 1e-7 (which stops
# the gradient of saturated outputs), and far fewer ops in the training step. Masked losses
# see the probabilities through a reshape that folds the time steps into the batch (keeping the
# last axis, so softmax rows stay rows): the logits are reshaped the same way.

def _through_reshape(p, find_logits):
    """find_logits(p), also when p is a reshape (keeping the last axis) of such probabilities."""
    if p.op == "reshape" and p.inputs[0].shape[-1:] == p.shape[-1:]:
        logits = find_logits(p.inputs[0])
        return None if logits is None else gc.reshape(logits, p.attrs["shape"])
    return find_logits(p)


def _sigmoid_input(p):
    """z if p is sigmoid(z) (possibly reshaped), else None."""
    return _through_reshape(p, lambda q: q.inputs[0] if q.op == "sigmoid" else None)


def _softmax_input(p):
    """The (shifted) logits if p is gc.nn.softmax over the last axis (possibly reshaped), else None."""
    return _through_reshape(p, _softmax_logits)


def _softmax_logits(p):
    if p.op != "div":
        return None
    e, total = p.inputs
    last = (p.ndim - 1,)
    if (e.op == "exp" and total.op == "reduce_sum" and total.inputs[0] is e
            and total.attrs["axis"] == last and total.attrs["keepdims"]):
        shifted = e.inputs[0]  # z - stop_gradient(max(z)) as gc.nn.softmax builds it
        if (shifted.op == "sub" and shifted.inputs[1].op == "stop_gradient"
                and shifted.inputs[1].inputs[0].op == "reduce_max"
                and shifted.inputs[1].inputs[0].inputs[0] is shifted.inputs[0]):
            return shifted.inputs[0]  # z itself: the softmax is then needed only if read elsewhere
        return shifted  # cross-entropy does not change with a shift of the logits
    return None


# -- the losses ----------------------------------------------------------------------------

class BinaryCrossentropy(Loss):
    """-(y log p + (1 - y) log(1 - p)), averaged over the non-batch axes.

    ``from_logits=True``: y_pred are logits z and the loss is softplus(z) - y z.
    ``label_smoothing`` s replaces y by y (1 - s) + s / 2, as Keras.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy"):
        super().__init__(name, from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        neg_log_p, neg_log_q = _log_terms(y_pred, self.from_logits)
        return mean_per_sample(y_true * neg_log_p + (1.0 - y_true) * neg_log_q)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class WeightedBinaryCrossentropy(Loss):
    """-(beta y log p + (1 - y) log(1 - p)): ``beta`` weights the positive term (beta > 1
    counters rare positives), averaged over the non-batch axes."""

    def __init__(self, beta=1.0, from_logits=False, name="weighted_binary_crossentropy"):
        super().__init__(name, from_logits)
        self.beta = float(beta)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        neg_log_p, neg_log_q = _log_terms(y_pred, self.from_logits)
        return mean_per_sample(self.beta * y_true * neg_log_p + (1.0 - y_true) * neg_log_q)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


class BalancedBinaryCrossentropy(Loss):
    """-(beta y log p + (1 - beta)(1 - y) log(1 - p)): positives weighted by ``beta``,
    negatives by 1 - beta, averaged over the non-batch axes."""

    def __init__(self, beta=0.5, from_logits=False, name="balanced_binary_crossentropy"):
        super().__init__(name, from_logits)
        self.beta = float(beta)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        neg_log_p, neg_log_q = _log_terms(y_pred, self.from_logits)
        return mean_per_sample(self.beta * y_true * neg_log_p
                               + (1.0 - self.beta) * (1.0 - y_true) * neg_log_q)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


class CategoricalCrossentropy(Loss):
    """-sum(y log p) over the class axis (the last), for one-hot (or soft) labels.

    Probabilities are first renormalised to sum to 1 and clipped to [1e-7, 1 - 1e-7] (Keras);
    ``from_logits=True`` uses log_softmax(z). ``label_smoothing`` s replaces y by
    y (1 - s) + s / num_classes. Extra axes (e.g. time) are averaged per sample.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy"):
        super().__init__(name, from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = float_prediction(y_pred, self.name)
        y_true = gc.cast(as_tensor(y_true), y_pred.dtype)
        if y_true.ndim != y_pred.ndim:
            raise gc.ShapeError(
                f"{self.name}: labels {y_true.shape} and predictions {y_pred.shape} differ in rank; "
                "categorical_crossentropy takes one-hot labels (use sparse_categorical_crossentropy "
                "for integer labels)")
        if self.label_smoothing:
            k = y_pred.shape[-1]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return mean_per_sample(_cross_entropy(y_true, y_pred, self.from_logits))

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _cross_entropy(labels, y_pred, from_logits):
    """-sum(labels * log p) over the last axis; from logits — or from probabilities that a
    softmax over the last axis produced — the fused softmax cross-entropy op, whose gradient
    is softmax(z) - labels."""
    logits = y_pred if from_logits else _softmax_input(y_pred)
    if logits is not None:
        return gc.nn.softmax_cross_entropy_with_logits(labels, logits)
    return -gc.reduce_sum(labels * _log_probabilities(y_pred), axis=-1)


def _log_probabilities(y_pred):
    """log of probabilities renormalised to sum to 1 and clipped away from 0 and 1 (Keras)."""
    p = y_pred / gc.reduce_sum(y_pred, axis=-1, keepdims=True)
    return gc.log(gc.clip(p, EPSILON, 1.0 - EPSILON))


class SparseCategoricalCrossentropy(Loss):
    """-log p[label]: categorical cross-entropy with integer labels of shape (batch,) or
    (batch, 1) (float labels are truncated to integers). A label outside [0, num_classes)
    selects nothing and gives loss 0 — validate labels before training."""

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy"):
        super().__init__(name, from_logits)

    def call(self, y_true, y_pred):
        y_pred = float_prediction(y_pred, self.name)
        labels = as_tensor(y_true)
        if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
            labels = gc.squeeze(labels, axis=-1)
        if labels.ndim != y_pred.ndim - 1:
            raise gc.ShapeError(f"{self.name}: integer labels {labels.shape} do not fit predictions "
                                f"{y_pred.shape}; expected labels of shape {y_pred.shape[:-1]}")
        if labels.dtype.kind not in "iu":
            labels = gc.cast(labels, "int64")
        depth = y_pred.shape[-1]
        if depth is None:
            raise gc.ShapeError(f"{self.name}: the number of classes (last axis of {y_pred.shape}) "
                                "must be known when the graph is built")
        one_hot = gc.one_hot(labels, depth, dtype=y_pred.dtype)
        return mean_per_sample(_cross_entropy(one_hot, y_pred, self.from_logits))


# -- function forms (per-sample losses), as keras.losses.binary_crossentropy ----------------

def binary_crossentropy(y_true, y_pred, from_logits=False):
    return BinaryCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return CategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return SparseCategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)
