"""Neural-network functions (``gc.nn``). Most are compositions of primitive ops, so their
gradients, fusion and rendering come for free; conv2d and pooling are ops of their own."""
from __future__ import annotations

import numpy as np

from graphc.ir import arguments
from graphc.errors import DTypeError, ShapeError
from graphc.ir.tensor import as_tensor
from graphc.ops import math as m
from graphc.ops import random as rnd
from graphc.ops.math import elu, leaky_relu, relu, sigmoid, softplus, step, tanh  # noqa: F401 - re-exported
from graphc.ops.reduce import logsumexp, reduce_max, reduce_sum
from graphc.ir.batching import BatchRule, NotBatchable, spans
from graphc.ir.opdef import apply, defop, describe, normalize_axes, normalize_axis
from graphc.ops.shape_ops import cast, expand_dims, reshape, transpose


def prelu(x, alpha):
    """Parametric ReLU: x where x > 0, else alpha * x (alpha a tensor, learned)."""
    x = as_tensor(x)
    alpha = m.operands(alpha, x)[0]
    return m.relu(x) - alpha * m.relu(m.neg(x))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum for stability."""
    x = as_tensor(x)
    axis = normalize_axes("softmax", x, axis)
    shift = m.stop_gradient(reduce_max(x, axis=axis, keepdims=True))
    e = m.exp(x - shift)
    return e / reduce_sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``: the log of softmax without its underflow."""
    x = as_tensor(x)
    axis = normalize_axes("log_softmax", x, axis)
    return x - logsumexp(x, axis=axis, keepdims=True)


def maxout(x, num_units, axis=-1):
    """Max over groups: the ``axis`` of size d becomes ``num_units`` units, unit j the max of
    the k = d // num_units consecutive features j·k ... j·k + k - 1 along ``axis``
    (TensorFlow's maxout on the last axis; on others TensorFlow groups in memory order, which
    mixes features of different positions)."""
    x = as_tensor(x)
    num_units = arguments.index(num_units, "maxout: num_units", minimum=1)
    axis = normalize_axis("maxout", x, axis)
    d = x.shape[axis]
    if d is None:
        raise ShapeError(f"maxout: the size of axis {axis} of {describe(x)} must be known")
    if d % num_units:
        raise ShapeError(f"maxout: {d} features on axis {axis} of {describe(x)} do not divide into "
                         f"{num_units} units")
    if sum(s is None for s in x.shape) > 1:
        raise ShapeError(f"maxout: at most one unknown dimension, got {describe(x)}")
    # axis splits in place into (units, k), reduced over k; a (units, ..., k) reshape, with
    # k appended last, would group elements in flat memory order: right for the last axis only
    shape = [(-1 if s is None else s) for s in x.shape]
    shape[axis:axis + 1] = [num_units, d // num_units]
    return reduce_max(reshape(x, tuple(shape)), axis=axis + 1)


def dropout(x, rate, training=True, seed=None):
    """Inverted dropout: zero each element with probability ``rate`` and scale the rest by
    1 / (1 - rate), so inference needs no rescaling. ``training=False`` returns x."""
    x = as_tensor(x)
    rate = arguments.rate(rate, "dropout: rate")
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
    with np.errstate(over="ignore", invalid="ignore"):
        z = logits - np.maximum.reduce(logits, axis=-1, keepdims=True)
        log_p = z - np.log(np.add.reduce(np.exp(z), axis=-1, keepdims=True))
        loss = -np.add.reduce(labels * log_p, axis=-1)
    if np.isfinite(loss).all():
        return loss
    return _softmax_xent_extreme(labels, logits)


def _softmax_xent_extreme(labels, logits):
    """The cross-entropy where the direct sum is not finite. Two causes make it so while the
    true value is finite: logits spanning more than the float range (z = logits - max
    overflows to -inf, so log p = -inf, and a label of 0 there gives 0 · -inf = NaN, a small
    one inf) and -inf logits (masked classes) with a label of 0. Here the logits are halved
    first, which cannot overflow, and a label of 0 contributes 0 whatever its log p. Halving
    and doubling are exact (outside the subnormals), so where both ways are finite they agree
    bit for bit."""
    with np.errstate(over="ignore", invalid="ignore"):
        half = logits * 0.5
        half_z = half - np.maximum.reduce(half, axis=-1, keepdims=True)   # (logits - max) / 2
        lse = np.log(np.add.reduce(np.exp(half_z + half_z), axis=-1, keepdims=True))
        half_log_p = half_z - 0.5 * lse
        terms = np.where(labels == 0, 0, labels * half_log_p)
        return np.add.reduce(terms, axis=-1) * -2


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


def _xent_batch(node, axes):
    # labels and logits have one shape; the result drops the last (classes) axis
    labels, logits = node.inputs
    chunked = {a for a in axes if a is not None}
    if len(chunked) > 1:
        raise NotBatchable("labels and logits are chunked along different axes")
    a = chunked.pop()
    if a == logits.ndim - 1:
        raise NotBatchable("its classes (last) axis is the chunked one")
    rule = BatchRule(a)
    for k, t in enumerate(node.inputs):
        if axes[k] is None and spans(t, a):
            rule.split[k] = a
    return rule


defop("softmax_cross_entropy", ("labels", "logits"), _xent_rule,
      "softmax_xent({labels}, {logits})", grad=_xent_grad, helpers={"softmax_xent": _softmax_xent},
      doc="-sum(labels * log_softmax(logits)) over the last axis; gradient softmax - labels", result="unknown", batch=_xent_batch)


def softmax_cross_entropy_with_logits(labels, logits, axis=-1):
    """Per-example cross-entropy between ``labels`` (one-hot or soft) and ``softmax(logits)``
    along ``axis`` (TensorFlow's name). One op: stable, and its gradient is p - labels."""
    logits = as_tensor(logits)
    labels = cast(as_tensor(labels), logits.dtype)
    axis = normalize_axis("softmax_cross_entropy", logits, axis)
    if axis != logits.ndim - 1:
        perm = tuple(i for i in range(logits.ndim) if i != axis) + (axis,)
        logits, labels = transpose(logits, perm), transpose(labels, perm)
    return apply("softmax_cross_entropy", [labels, logits])
