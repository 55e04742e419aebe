"""Neural-network functions (``gc.nn``). Most are compositions of primitive ops, so their
gradients, fusion and rendering come for free; conv2d and pooling are ops of their own."""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..tensor import as_tensor
from . import math as m
from . import random as rnd
from .math import elu, leaky_relu, relu, sigmoid, softplus, step, tanh  # noqa: F401 - re-exported
from .reduce import logsumexp, reduce_max, reduce_sum
from .registry import apply, defop, describe, normalize_axis
from .shape_ops import expand_dims, reshape, transpose


def prelu(x, alpha):
    """Parametric ReLU: x where x > 0, else alpha * x (alpha a tensor, learned)."""
    x = as_tensor(x)
    alpha = m.operands(alpha, x)[0]
    return m.relu(x) - alpha * m.relu(m.neg(x))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum for stability."""
    x = as_tensor(x)
    shift = m.stop_gradient(reduce_max(x, axis=axis, keepdims=True))
    e = m.exp(x - shift)
    return e / reduce_sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``: the log of softmax without its underflow."""
    x = as_tensor(x)
    return x - logsumexp(x, axis=axis, keepdims=True)


def maxout(x, num_units, axis=-1):
    """Max over groups: the ``axis`` of size d becomes ``num_units`` units, each the max of
    d // num_units consecutive features (TensorFlow's maxout)."""
    x = as_tensor(x)
    axis = normalize_axis("maxout", x, axis)
    d = x.shape[axis]
    if d is None:
        raise ShapeError(f"maxout: the size of axis {axis} of {describe(x)} must be known")
    if d % num_units:
        raise ShapeError(f"maxout: {d} features on axis {axis} of {describe(x)} do not divide into "
                         f"{num_units} units")
    if sum(s is None for s in x.shape) > 1:
        raise ShapeError(f"maxout: at most one unknown dimension, got {describe(x)}")
    shape = [(-1 if s is None else s) for s in x.shape]
    shape[axis] = num_units
    shape.append(d // num_units)
    return reduce_max(reshape(x, tuple(shape)), axis=-1)


def dropout(x, rate, training=True, seed=None):
    """Inverted dropout: zero each element with probability ``rate`` and scale the rest by
    1 / (1 - rate), so inference needs no rescaling. ``training=False`` returns x."""
    x = as_tensor(x)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not training or rate == 0.0:
        return x
    keep = m.greater_equal(rnd.uniform_like(x, dtype=x.dtype, seed=seed), m.scalar_like(rate, x))
    return m.where(keep, x * m.scalar_like(1.0 / (1.0 - rate), x), m.zeros_like_g(x))


def batch_norm(x, mean, variance, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset (the inference formula)."""
    x = as_tensor(x)
    mean, variance = m.operands(mean, x)[0], m.operands(variance, x)[0]
    inv = m.rsqrt(variance + m.scalar_like(epsilon, variance))
    if scale is not None:
        inv = inv * m.operands(scale, x)[0]
    out = (x - mean) * inv
    if offset is not None:
        out = out + m.operands(offset, x)[0]
    return out


# -- softmax cross-entropy as one op: its gradient is softmax(z) - y, with no log of an
#    underflowed probability on either pass ------------------------------------------------

def _softmax_xent(labels, logits):
    # ufunc.reduce rather than np.max/np.sum: same results, without their Python wrappers
    z = logits - np.maximum.reduce(logits, axis=-1, keepdims=True)
    log_p = z - np.log(np.add.reduce(np.exp(z), axis=-1, keepdims=True))
    return -np.add.reduce(labels * log_p, axis=-1)


def _xent_rule(inputs, attrs):
    labels, logits = inputs
    if logits.dtype.kind != "f" or labels.dtype != logits.dtype:
        raise DTypeError(f"softmax_cross_entropy: needs float labels and logits of one dtype, got "
                         f"{describe(labels)} and {describe(logits)}")
    if labels.ndim != logits.ndim or any(a is not None and b is not None and a != b
                                         for a, b in zip(labels.shape, logits.shape)):
        raise ShapeError(f"softmax_cross_entropy: labels {describe(labels)} and logits "
                         f"{describe(logits)} must have the same shape")
    return logits.shape[:-1], logits.dtype


def _xent_grad(n, g):
    labels, logits = n.inputs
    g = m.operands(g, logits)[0]
    g = expand_dims(g, -1)
    total = reduce_sum(labels, axis=-1, keepdims=True)  # 1 for one-hot or soft labels
    return [m.neg(g) * log_softmax(logits), g * (softmax(logits) * total - labels)]


defop("softmax_cross_entropy", ("labels", "logits"), _xent_rule,
      "softmax_xent({labels}, {logits})", grad=_xent_grad, helpers={"softmax_xent": _softmax_xent},
      doc="-sum(labels * log_softmax(logits)) over the last axis; gradient softmax - labels")


def softmax_cross_entropy_with_logits(labels, logits, axis=-1):
    """Per-example cross-entropy between ``labels`` (one-hot or soft) and ``softmax(logits)``
    along ``axis`` (TensorFlow's name). One op: stable, and its gradient is p - labels."""
    logits = as_tensor(logits)
    labels = m.cast(as_tensor(labels), logits.dtype)
    axis = normalize_axis("softmax_cross_entropy", logits, axis)
    if axis != logits.ndim - 1:
        perm = tuple(i for i in range(logits.ndim) if i != axis) + (axis,)
        logits, labels = transpose(logits, perm), transpose(labels, perm)
    return apply("softmax_cross_entropy", [labels, logits])
