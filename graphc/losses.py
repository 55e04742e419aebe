"""Loss functions (``gc.losses``), Keras 3 semantics, built from graph ops.

A ``Loss`` has two faces, the contract every loss here keeps:

- ``loss.call(y_true, y_pred)`` -> per-sample losses, shape (batch,): the elementwise loss
  reduced over every non-batch axis (the mean for MSE/MAE/cross-entropies/hinge, as Keras'
  mean over the last axis; sums for Dice/Jaccard's overlaps).
- ``loss(y_true, y_pred, sample_weight=None)`` -> a scalar: sum(w * l) / batch_size, Keras'
  "sum_over_batch_size" reduction (the plain batch mean without weights); for a masked
  ``y_pred``, the mean over its unmasked steps (``Loss.__call__``).

Labels are cast to the prediction's dtype with ranks reconciled as Keras does (``_prepare``);
logit and probability paths stay finite for any finite input (``Loss``).
"""
from __future__ import annotations

from graphc import api as gc
from graphc import layers
from graphc.catalog import Catalog, Configurable

EPSILON = 1e-7


# -- helpers -------------------------------------------------------------------------------

def _tensor(x):
    return x if isinstance(x, gc.Tensor) else gc.constant(x)


def _float_prediction(y_pred, who):
    y_pred = _tensor(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = gc.cast(y_pred, "float32")
    return y_pred


def match_rank(y_true, y_pred):
    """Reconcile ranks that differ by one (Keras' squeeze_or_expand_to_same_rank): drop a
    trailing axis of size 1 from the higher-rank tensor, else add one to the lower."""
    if y_true.ndim == y_pred.ndim + 1:
        if y_true.shape[-1] == 1:
            return gc.squeeze(y_true, axis=-1), y_pred
        return y_true, gc.expand_dims(y_pred, -1)
    if y_pred.ndim == y_true.ndim + 1:
        if y_pred.shape[-1] == 1:
            return y_true, gc.squeeze(y_pred, axis=-1)
        return gc.expand_dims(y_true, -1), y_pred
    return y_true, y_pred


def _prepare(y_true, y_pred, who):
    """(y_true, y_pred) as float tensors of y_pred's dtype with matching ranks: a rank
    difference of one is reconciled as Keras does (labels (batch,) against predictions
    (batch, 1) are expanded, not broadcast to a (batch, batch) matrix)."""
    y_pred = _float_prediction(y_pred, who)
    y_true = gc.cast(_tensor(y_true), y_pred.dtype)
    return match_rank(y_true, y_pred)


def _feature_axes(t):
    return tuple(range(1, t.ndim))


def mean_per_sample(t):
    """Mean over every axis but the first (the batch); a (batch,) tensor is returned as is."""
    return gc.reduce_mean(t, axis=_feature_axes(t)) if t.ndim > 1 else t


def sum_per_sample(t):
    """Sum over every axis but the first."""
    return gc.reduce_sum(t, axis=_feature_axes(t)) if t.ndim > 1 else t


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


def _safe_sqrt(x):
    """sqrt(x) whose gradient at x = 0 is 0 rather than inf * 0 = nan."""
    positive = x > 0.0
    return gc.where(positive, gc.sqrt(gc.where(positive, x, gc.ones_like(x))), gc.zeros_like(x))


# -- the base class ------------------------------------------------------------------------

class Loss(Configurable):
    """Base class. Subclasses implement ``call(y_true, y_pred)`` -> per-sample losses.

    Numerical stability: ``from_logits=True`` paths use the softmax cross-entropy op and
    softplus, so any finite logits (+-1000, +-3e38) give finite, exact losses wherever the true
    loss is finite: a label of 0 contributes 0 whatever its logit (-inf, for a masked class,
    included), never 0 * -inf. Probability paths clip p to [1e-7, 1 - 1e-7] (Keras' epsilon)
    before taking logs; probabilities a sigmoid or softmax of this graph produced are scored
    from its logits."""

    def __init__(self, name=None, from_logits=False):
        self.name = name or _default_name(type(self))
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Mean over the batch of the (weighted) per-sample losses: sum(w * l) / batch_size;
        for a masked ``y_pred``, the mean over its unmasked steps.

        Masked outputs (Keras 3). When ``y_pred`` carries a mask (see ``graphc.layers.base``,
        "Masks"; e.g. ``Embedding(mask_zero=True)`` -> ``LSTM(return_sequences=True)`` ->
        ``TimeDistributed(Dense)``) the loss is computed per time step — l[b, t], the loss
        reduced over the axes after the mask's, as Keras reduces over the last axis — and only
        the unmasked steps count:

            loss = sum(l[b, t] * w[b] * m[b, t]) / sum(m[b, t])      (0 when every step is masked)

        which is Keras 3's "sum_over_batch_size" with the mask merged into the sample weights
        (valid entries weigh total/valid, so the batch mean becomes a mean over the valid
        entries: the sample weights w scale the numerator only, the divisor counts unmasked
        steps). A (batch,) sample weight applies to each step of its sample (Keras 3 broadcasts
        it against the mask from the last axis, which only works for (batch, steps) weights);
        (batch, steps) weights apply per step."""
        mask = output_mask(y_pred)
        if mask is not None:
            losses = per_step_losses(self.call, y_true, y_pred, mask, self.name)
            return _masked_reduce(losses, mask, sample_weight, self.name)
        return _reduce(self.call(y_true, y_pred), sample_weight, self.name)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}


def _weighted(per_sample, sample_weight, who):
    if sample_weight is None:
        return per_sample
    w = gc.cast(_tensor(sample_weight), per_sample.dtype)
    if w.ndim == per_sample.ndim + 1 and w.shape[-1] == 1:
        w = gc.squeeze(w, axis=-1)
    if w.ndim > per_sample.ndim:
        raise gc.ShapeError(f"{who}: sample_weight of shape {w.shape} does not match the "
                            f"per-sample losses of shape {per_sample.shape}")
    return per_sample * w


def _reduce(per_sample, sample_weight, who):
    weighted = _weighted(per_sample, sample_weight, who)
    return gc.reduce_mean(weighted) if weighted.ndim else weighted


# -- masked outputs --------------------------------------------------------------------------

def output_mask(y_pred):
    """The mask a layer attached to the model output ``y_pred`` (bool, (batch, steps, ...)), or None."""
    return layers.get_mask(y_pred)


def per_step_losses(per_sample, y_true, y_pred, mask, who="loss"):
    """The losses of each masked step, shaped like ``mask``: the steps are folded into the batch,
    (batch, steps, ...) -> (batch·steps, ...), so that ``per_sample`` (a loss's ``call``) reduces
    only the axes after the mask's, then unfolded."""
    y_pred, y_true = _tensor(y_pred), _tensor(y_true)
    k = mask.ndim
    steps = tuple(mask.shape[1:])
    if y_pred.ndim < k or y_true.ndim < k or any(
            a is not None and b is not None and a != b for a, b in zip(mask.shape, y_pred.shape)):
        raise gc.ShapeError(f"{who}: the mask {mask.shape} of the predictions {y_pred.shape} must cover "
                            f"their leading axes, and labels {y_true.shape} must have them too")
    if None in steps or None in y_pred.shape[k:] or None in y_true.shape[k:]:
        raise gc.ShapeError(f"{who}: with a mask, the sizes after the batch axis must be known, got predictions "
                            f"{y_pred.shape}, labels {y_true.shape}, mask {mask.shape}")
    folded_pred = gc.reshape(y_pred, (-1,) + (y_pred.shape[k:] or (1,)))   # a mask over every axis: 1 value per step
    folded_true = gc.reshape(y_true, (-1,) + y_true.shape[k:])
    losses = per_sample(folded_true, folded_pred)
    if losses.ndim != 1:
        raise ValueError(f"{who}: the model's output carries a mask, so the loss is needed per time step, but it "
                         f"returned shape {losses.shape}; return per-sample losses, not a scalar")
    return gc.reshape(losses, (-1,) + steps)


def _masked_reduce(losses, mask, sample_weight, who):
    """sum(l * w * m) / sum(m), 0 when nothing is unmasked (Keras 3's divide_no_nan)."""
    m = gc.cast(mask, losses.dtype)
    weighted = losses * m
    if sample_weight is not None:   # one weight per sample, on each of its steps
        w = gc.cast(_tensor(sample_weight), losses.dtype)
        if w.ndim == 2 and w.shape[-1] == 1:
            w = gc.squeeze(w, axis=-1)
        if w.ndim == 1:
            w = gc.reshape(w, (-1,) + (1,) * (losses.ndim - 1))
        elif w.ndim != losses.ndim:
            raise gc.ShapeError(f"{who}: sample_weight of shape {w.shape} does not fit the per-step losses "
                                f"of shape {losses.shape} of a masked output")
        weighted = weighted * w
    valid = gc.reduce_sum(m)
    return gc.reduce_sum(weighted) / gc.maximum(valid, 1.0)   # the masked sum is 0 when valid is 0


def _default_name(cls) -> str:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("_")
    return snake


# -- regression ----------------------------------------------------------------------------

class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the non-batch axes."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
        return mean_per_sample(gc.square(y_pred - y_true))

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the non-batch axes."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
        return mean_per_sample(gc.abs(y_pred - y_true))

    def get_config(self):
        return {"name": self.name}


class RootMeanSquaredError(Loss):
    """Root mean squared error of the batch: sqrt(sum(w * mse_i) / batch_size), where
    mse_i = mean((y_true - y_pred)^2) over sample i's non-batch axes.

    ``call`` returns the per-sample squared errors mse_i (the square root is taken once, of
    the batch mean, not per sample). The gradient at a perfect fit is 0, not NaN.
    """

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
        return mean_per_sample(gc.square(y_pred - y_true))

    def __call__(self, y_true, y_pred, sample_weight=None):
        return _safe_sqrt(Loss.__call__(self, y_true, y_pred, sample_weight))

    def get_config(self):
        return {"name": self.name}


# -- classification ------------------------------------------------------------------------

class BinaryCrossentropy(Loss):
    """-(y log p + (1 - y) log(1 - p)), averaged over the non-batch axes.

    ``from_logits=True``: y_pred are logits z and the loss is softplus(z) - y z.
    ``label_smoothing`` s replaces y by y (1 - s) + s / 2, as Keras.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy"):
        super().__init__(name, from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
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
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
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
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
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
        y_pred = _float_prediction(y_pred, self.name)
        y_true = gc.cast(_tensor(y_true), y_pred.dtype)
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
        y_pred = _float_prediction(y_pred, self.name)
        labels = _tensor(y_true)
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


class Hinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)) over the non-batch axes, labels in {-1, 1}.

    As Keras, labels that are all 0 or 1 (checked over the batch, in the graph) are mapped to
    -1 / 1 first."""

    def __init__(self, name="hinge"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
        y_true = to_signed_labels(y_true)
        return mean_per_sample(gc.relu(1.0 - y_true * y_pred))

    def get_config(self):
        return {"name": self.name}


def to_signed_labels(y_true):
    """2 y - 1 if every label is 0 or 1, else y unchanged (Keras' hinge label conversion)."""
    is_01 = gc.logical_or(gc.equal(y_true, 0.0), gc.equal(y_true, 1.0))
    all_binary = gc.reduce_min(gc.cast(is_01, y_true.dtype)) > 0.0
    return gc.where(all_binary, 2.0 * y_true - 1.0, y_true)


# -- overlap losses (segmentation) ---------------------------------------------------------

class Dice(Loss):
    """1 - (2 sum(y p) + smooth) / (sum(y) + sum(p) + smooth), per sample (sums over the
    non-batch axes); ``smooth`` (1.0, Keras' constant) keeps empty masks at loss 0."""

    def __init__(self, smooth=1.0, name="dice"):
        super().__init__(name)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
        overlap = sum_per_sample(y_true * y_pred)
        total = sum_per_sample(y_true) + sum_per_sample(y_pred)
        return 1.0 - (2.0 * overlap + self.smooth) / (total + self.smooth)

    def get_config(self):
        return {"name": self.name, "smooth": self.smooth}


class Jaccard(Loss):
    """1 - (sum(y p) + smooth) / (sum(y) + sum(p) - sum(y p) + smooth), per sample
    (intersection over union, soft)."""

    def __init__(self, smooth=1.0, name="jaccard"):
        super().__init__(name)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, self.name)
        overlap = sum_per_sample(y_true * y_pred)
        union = sum_per_sample(y_true) + sum_per_sample(y_pred) - overlap
        return 1.0 - (overlap + self.smooth) / (union + self.smooth)

    def get_config(self):
        return {"name": self.name, "smooth": self.smooth}


# -- plain callables -----------------------------------------------------------------------

class LossFunctionWrapper(Loss):
    """A plain function ``fn(y_true, y_pred)`` returning per-sample losses (reduced to
    (batch,) by the mean over extra axes) or already a scalar (then sample weights cannot
    apply)."""

    def __init__(self, fn, name=None):
        super().__init__(name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return mean_per_sample(_tensor(self.fn(y_true, y_pred)))

    def __call__(self, y_true, y_pred, sample_weight=None):
        if output_mask(y_pred) is not None:
            return super().__call__(y_true, y_pred, sample_weight)
        out = self.call(y_true, y_pred)
        if out.ndim == 0 and sample_weight is not None:
            raise ValueError(f"loss {self.name!r} returns a scalar, so sample_weight / class_weight "
                             "cannot be applied; return per-sample losses instead")
        return _reduce(out, sample_weight, self.name)

    def get_config(self):
        raise ValueError(f"loss {self.name!r} wraps a plain function and cannot be serialized; "
                         "subclass gc.losses.Loss to save it")


# -- function forms (per-sample losses), as keras.losses.mean_squared_error ----------------

def mean_squared_error(y_true, y_pred):
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError().call(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    return BinaryCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return CategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return SparseCategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def hinge(y_true, y_pred):
    return Hinge().call(y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error


# -- lookup and serialization --------------------------------------------------------------

_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, BinaryCrossentropy,
    WeightedBinaryCrossentropy, BalancedBinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Hinge, Dice, Jaccard)}
_NAMES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "hinge": Hinge,
    "weighted_binary_crossentropy": WeightedBinaryCrossentropy,
    "balanced_binary_crossentropy": BalancedBinaryCrossentropy,
    "dice": Dice,
    "jaccard": Jaccard,
}


def names() -> list[str]:
    """The loss names ``get`` accepts."""
    return sorted(_NAMES)


_CATALOG = Catalog("loss", Loss, _CLASSES.values(), _NAMES, bare_config=True,
                   on_callable=LossFunctionWrapper)
serialize = _CATALOG.serialize
deserialize = _CATALOG.deserialize


def get(identifier) -> Loss:
    """A Loss from a name (see ``names()``), a Loss instance or class, a ``serialize`` dict,
    or a plain callable (y_true, y_pred) -> per-sample losses or a scalar."""
    return _CATALOG.get(identifier)


