"""Reductions: sum, mean, max, min, prod, argmax, argmin (and logsumexp built from them)."""
from __future__ import annotations

import functools
import math as _pymath

import numpy as np

from graphc.ir import dtypes
from graphc.errors import DTypeError
from graphc.ir.tensor import Tensor, as_tensor, constant
from graphc.ops import math as m
from graphc.ir.batching import BatchRule, NotBatchable
from graphc.ir.opdef import OPS, apply, defop, describe, normalize_axes, normalize_axis
from graphc.ops.broadcasting import broadcast_like
from graphc.ops.shape_ops import cast, reshape, expand_dims


def _reduced_shape(x: Tensor, axes, keepdims) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


@functools.lru_cache(maxsize=None)
def _numpy_reduce_dtype(fn: str, dtype: np.dtype) -> np.dtype:
    return getattr(np, fn)(np.ones(1, dtype=dtype)).dtype


def _reduce_rule(op, fn, allow_bool=True):
    def infer(inputs, attrs):
        (x,) = inputs
        if not allow_bool and x.dtype.kind == "b":
            raise DTypeError(f"{op}: needs a numeric tensor, got {describe(x)}")
        return _reduced_shape(x, attrs["axis"], attrs["keepdims"]), _numpy_reduce_dtype(fn, x.dtype)
    return infer


def keep_reduced_dims(g: Tensor, x: Tensor, axes, keepdims) -> Tensor:
    """Give a reduction's cotangent its size-1 axes back, so it broadcasts against x."""
    if keepdims or not axes:
        return g
    if all(d is not None for d in g.shape):
        return reshape(g, _reduced_shape_static(g, x, axes))
    for a in axes:  # ascending: each insert lands at its final position
        g = expand_dims(g, a)
    return g


def _reduced_shape_static(g, x, axes):
    dims = iter(g.shape)
    return tuple(1 if i in axes else next(dims) for i in range(x.ndim))


def _count(x: Tensor, axes) -> Tensor:
    """Number of elements reduced over, as a scalar of x's dtype (a run-time op if unknown)."""
    sizes = [x.shape[a] for a in axes]
    if all(s is not None for s in sizes):
        return constant(_pymath.prod(sizes), dtype=x.dtype)
    return apply("reduced_count", [x], axis=tuple(axes))


def _reduced_count(x, axis):
    shape = np.shape(x)
    return np.asarray(_pymath.prod(shape[a] for a in axis), dtype=np.asarray(x).dtype)


# -- batch rules -------------------------------------------------------------------------------

def _reduce_batch(node, axes):
    a = axes[0]
    reduced = node.attrs["axis"]
    if a in reduced:
        return BatchRule(None, OPS[node.op].monoid)
    if node.attrs["keepdims"]:
        return BatchRule(a)
    return BatchRule(a - sum(1 for r in reduced if r < a))


def _arg_reduce_batch(node, axes):
    a = axes[0]
    if node.attrs["axis"] == a:
        raise NotBatchable("the position of the winner along the batch axis is global, not per chunk")
    return BatchRule(a - (node.attrs["axis"] < a))


def _reduced_count_batch(node, axes):
    # the number of elements reduced over: the chunks' counts add up over the batch axis
    return BatchRule(None, "sum" if axes[0] in node.attrs["axis"] else "first")


defop("reduced_count", ("x",), lambda ins, at: ((), ins[0].dtype), "reduced_count({x}, {axis})",
      grad=lambda n, g: [None], helpers={"reduced_count": _reduced_count},
      doc="the number of elements over the given axes (run-time sizes)", result="unknown", batch=_reduced_count_batch)


def _sum_grad(n, g):
    (x,) = n.inputs
    g = keep_reduced_dims(g, x, n.attrs["axis"], n.attrs["keepdims"])
    return [broadcast_like(cast(g, x.dtype), x) if x.dtype.kind == "f" else None]


def _mean_grad(n, g):
    (x,) = n.inputs
    axes = n.attrs["axis"]
    g = keep_reduced_dims(g, x, axes, n.attrs["keepdims"])
    return [broadcast_like(g / _count(x, axes), x)]


def _extremum_grad(n, g):
    # TensorFlow's rule: the gradient is split evenly among the elements equal to the extremum
    (x,) = n.inputs
    axes, keepdims = n.attrs["axis"], n.attrs["keepdims"]
    y = keep_reduced_dims(n, x, axes, keepdims)
    g = keep_reduced_dims(g, x, axes, keepdims)
    mask = cast(m.equal(x, y), x.dtype)
    count = reduce_sum(mask, axis=axes, keepdims=True)
    return [mask * (g / count)]


def _prod_grad(n, g):
    """d prod / d x_i = the product of the other elements, without dividing by zero.

    With P the product of the non-zero elements and z the zero elements (x where it is 0,
    else 0), that is e_{k-1}(z without x_i) * P for a zero x_i and e_k(z) * P / x_i for a
    non-zero one, k the number of zeros and e_m the elementary symmetric polynomials. Their
    values are 0 unless k <= 1, but written out (from power sums of z) for k <= 3 they keep
    the right derivatives: second derivatives are then exact at any number of zeros (for k
    >= 4 every derivative of order <= 2 of the other elements' product is 0 at the point).
    """
    (x,) = n.inputs
    axes, keepdims = n.attrs["axis"], n.attrs["keepdims"]
    zero, one = m.scalar_like(0, x), m.scalar_like(1, x)
    is_zero = m.equal(x, zero)
    nonzero = m.where(is_zero, one, x)
    p = reduce_prod(nonzero, axis=axes, keepdims=True)
    count = reduce_sum(cast(is_zero, x.dtype), axis=axes, keepdims=True)
    z = m.where(is_zero, x, m.zeros_like_g(x))  # 0 in value; carries the zeros' derivatives
    s1, s2, s3 = (reduce_sum(z if k == 1 else m.pow(z, m.scalar_like(k, x)), axis=axes, keepdims=True)
                  for k in (1, 2, 3))
    half, sixth = m.scalar_like(0.5, x), m.scalar_like(1 / 6, x)
    e = [one, s1, (s1 * s1 - s2) * half, (s1 * s1 * s1 - 3.0 * s1 * s2 + 2.0 * s3) * sixth]
    t1, t2 = s1 - z, s2 - z * z  # power sums of the zeros other than x_i
    e_others = [one, t1, (t1 * t1 - t2) * half]
    others = m.zeros_like_g(x)
    for k in (3, 2, 1, 0):
        at_zero = e_others[k - 1] * p if k else m.zeros_like_g(x)
        branch = m.where(is_zero, broadcast_like(at_zero, x), e[k] * (p / nonzero))
        others = m.where(m.equal(count, m.scalar_like(k, x)), branch, others)
    g = keep_reduced_dims(g, x, axes, keepdims)
    return [g * others]


def sum_reduce(x, axis, keepdims):
    """np.add.reduce(x, axis, keepdims) (the NumPy backend binds a faster kernel)."""
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


# the ufuncs' own .reduce: NumPy's np.sum/np.max are Python wrappers around them that cost
# about 1 µs more per call, which dominates on small tensors
defop("reduce_sum", ("x",), _reduce_rule("reduce_sum", "sum"),
      "sum_reduce({x}, {axis}, {keepdims})", grad=_sum_grad, kind="reduction",
      helpers={"sum_reduce": sum_reduce}, monoid="sum", batch=_reduce_batch)
defop("reduce_mean", ("x",), _reduce_rule("reduce_mean", "mean", allow_bool=False),
      "np.mean({x}, axis={axis}, keepdims={keepdims})", grad=_mean_grad, kind="reduction", monoid="mean", batch=_reduce_batch)
defop("reduce_max", ("x",), _reduce_rule("reduce_max", "max"),
      "np.maximum.reduce({x}, axis={axis}, keepdims={keepdims})", grad=_extremum_grad, kind="reduction", monoid="max", batch=_reduce_batch)
defop("reduce_min", ("x",), _reduce_rule("reduce_min", "min"),
      "np.minimum.reduce({x}, axis={axis}, keepdims={keepdims})", grad=_extremum_grad, kind="reduction", monoid="min", batch=_reduce_batch)
defop("reduce_prod", ("x",), _reduce_rule("reduce_prod", "prod"),
      "np.multiply.reduce({x}, axis={axis}, keepdims={keepdims})", grad=_prod_grad, kind="reduction", monoid="prod", batch=_reduce_batch)


def _reduction(op):
    def build(x, axis=None, keepdims=False):
        x = as_tensor(x, what=f"{op}: x")
        axes = normalize_axes(op, x, axis)
        return apply(op, [x], axis=axes, keepdims=bool(keepdims))
    build.__name__ = op
    return build


reduce_sum = _reduction("reduce_sum")
reduce_mean = _reduction("reduce_mean")
reduce_max = _reduction("reduce_max")
reduce_min = _reduction("reduce_min")
reduce_prod = _reduction("reduce_prod")


def _arg_rule(op):
    def infer(inputs, attrs):
        (x,) = inputs
        return tuple(d for i, d in enumerate(x.shape) if i != attrs["axis"]), dtypes.DEFAULT_INT
    return infer


defop("argmax", ("x",), _arg_rule("argmax"), "np.argmax({x}, axis={axis})", grad=lambda n, g: [None],
      kind="reduction", doc="index of the largest element along an axis (first one at ties)", batch=_arg_reduce_batch)
defop("argmin", ("x",), _arg_rule("argmin"), "np.argmin({x}, axis={axis})", grad=lambda n, g: [None],
      kind="reduction", doc="index of the smallest element along an axis (first one at ties)", batch=_arg_reduce_batch)


def argmax(x, axis=-1):
    x = as_tensor(x, what="argmax: x")
    return apply("argmax", [x], axis=normalize_axis("argmax", x, axis))


def argmin(x, axis=-1):
    x = as_tensor(x, what="argmin: x")
    return apply("argmin", [x], axis=normalize_axis("argmin", x, axis))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably by shifting by the (gradient-stopped) maximum."""
    x = as_tensor(x, what="logsumexp: x")
    axes = normalize_axes("logsumexp", x, axis)
    shift = m.stop_gradient(reduce_max(x, axis=axes, keepdims=True))
    out = m.log(reduce_sum(m.exp(x - shift), axis=axes, keepdims=True)) + shift
    if keepdims:
        return out
    return reshape_after_keepdims(out, x, axes)


def reshape_after_keepdims(out, x, axis):
    from graphc.ops.shape_ops import squeeze
    axes = normalize_axes("logsumexp", x, axis)
    return squeeze(out, axis=axes) if axes else out
