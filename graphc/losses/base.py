"""The ``Loss`` base class and the machinery every loss shares: labels cast and rank-matched
to the predictions (``prepare_labels``), per-sample reduction over the non-batch axes, the
"sum_over_batch_size" reduction with sample weights, and masked outputs (losses per time step,
averaged over the unmasked steps). ``LossFunctionWrapper`` lifts a plain function onto it.

Kept apart from the concrete losses so that each family module states only its formula.
"""
from __future__ import annotations

from graphc import api as gc
from graphc import layers
from graphc.catalog import Configurable

EPSILON = 1e-7   # Keras' epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON] before a log


# -- helpers -------------------------------------------------------------------------------

def as_tensor(x):
    """``x`` as a graph tensor: a Tensor as is, anything else as a constant."""
    return x if isinstance(x, gc.Tensor) else gc.constant(x)


def float_prediction(y_pred, who):
    """``y_pred`` as a tensor of a float dtype (integer predictions are cast to float32)."""
    y_pred = as_tensor(y_pred)
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


def prepare_labels(y_true, y_pred, who):
    """(y_true, y_pred) as float tensors of y_pred's dtype with matching ranks: a rank
    difference of one is reconciled as Keras does (labels (batch,) against predictions
    (batch, 1) are expanded, not broadcast to a (batch, batch) matrix)."""
    y_pred = float_prediction(y_pred, who)
    y_true = gc.cast(as_tensor(y_true), y_pred.dtype)
    return match_rank(y_true, y_pred)


def _feature_axes(t):
    return tuple(range(1, t.ndim))


def mean_per_sample(t):
    """Mean over every axis but the first (the batch); a (batch,) tensor is returned as is."""
    return gc.reduce_mean(t, axis=_feature_axes(t)) if t.ndim > 1 else t


def sum_per_sample(t):
    """Sum over every axis but the first."""
    return gc.reduce_sum(t, axis=_feature_axes(t)) if t.ndim > 1 else t


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
    w = gc.cast(as_tensor(sample_weight), per_sample.dtype)
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
    y_pred, y_true = as_tensor(y_pred), as_tensor(y_true)
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
        w = gc.cast(as_tensor(sample_weight), losses.dtype)
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


# -- plain callables -----------------------------------------------------------------------

class LossFunctionWrapper(Loss):
    """A plain function ``fn(y_true, y_pred)`` returning per-sample losses (reduced to
    (batch,) by the mean over extra axes) or already a scalar (then sample weights cannot
    apply)."""

    def __init__(self, fn, name=None):
        super().__init__(name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return mean_per_sample(as_tensor(self.fn(y_true, y_pred)))

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
