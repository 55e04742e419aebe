"""Broadcasting and its adjoint: broadcast_to, broadcast_like (run-time shapes) and sum_to_like,
which sums a cotangent back down to the shape an operand was broadcast from (every gradient of
a broadcasting op ends in one)."""
from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import arguments, batching
from graphc.ir.batching import BatchRule, NotBatchable
from graphc.ir.opdef import apply, broadcast_shapes, defop, describe
from graphc.ir.tensor import Tensor, as_tensor, format_shape
from graphc.ops.shape_ops import is_static, reshape


def _broadcast_to_rule(inputs, attrs):
    (x,) = inputs
    target = attrs["shape"]
    probe = Tensor("placeholder", (), {}, target, x.dtype, name=f"shape {format_shape(target)}")
    out = broadcast_shapes("broadcast_to", x, probe)
    if len(target) < x.ndim or any(o != t for o, t in zip(out, target) if t is not None):
        raise ShapeError(f"broadcast_to: cannot broadcast {describe(x)} to {format_shape(target)}")
    return tuple(target), x.dtype


def _broadcast_to_batch(node, axes):
    return BatchRule(axes[0] + node.ndim - node.inputs[0].ndim)


defop("broadcast_to", ("x",), _broadcast_to_rule, "np.broadcast_to({x}, {shape})",
      grad=lambda n, g: [sum_to_like(g, n.inputs[0])], doc="repeat along broadcast axes", result="view", batch=_broadcast_to_batch)


def broadcast_to(x, shape):
    x = as_tensor(x, what="broadcast_to: x")
    shape = arguments.shape(shape, "broadcast_to: shape")
    if shape == x.shape:
        return x
    return apply("broadcast_to", [x], shape=shape)


def _sum_to(g, shape):
    """Sum ``g`` over the axes NumPy broadcasting added or stretched to reach g's shape."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    return np.reshape(g, shape)


def _sum_to_like_batch(node, axes):
    g, ref = node.inputs
    ga, ra = axes
    if ga is None:
        raise NotBatchable("it sums a replicated tensor down to a chunked one's shape")
    j = ga - (g.ndim - ref.ndim)
    if ra is not None:
        if ra != j:
            raise NotBatchable("its operand and its reference are chunked along different axes")
        return BatchRule(ra)
    if j < 0 or ref.shape[j] == 1:
        return BatchRule(None, "sum")   # the batch axis is summed away: a bias gradient
    raise NotBatchable("its replicated reference spans the batch axis")


defop("sum_to_like", ("g", "ref"), lambda ins, at: (ins[1].shape, ins[0].dtype),
      "sum_to({g}, np.shape({ref}))",
      grad=lambda n, g: [broadcast_like(g, n.inputs[0]), None], helpers={"sum_to": _sum_to},
      doc="sum g down to ref's (run-time) shape: the adjoint of broadcasting", result="unknown", batch=_sum_to_like_batch)


def sum_to_like(g: Tensor, x: Tensor) -> Tensor:
    """Sum ``g`` to ``x``'s shape; static reduce+reshape when both shapes are known."""
    if g.shape == x.shape and is_static(x.shape):
        return g
    if is_static(g.shape) and is_static(x.shape):
        lead = g.ndim - x.ndim
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(x.shape)
                                          if d == 1 and g.shape[lead + i] != 1)
        out = apply("reduce_sum", [g], axis=axes, keepdims=True) if axes else g
        return reshape(out, x.shape)
    return apply("sum_to_like", [g, x])


def _broadcast_like_rule(inputs, attrs):
    x, ref = inputs
    out = broadcast_shapes("broadcast_like", x, ref)
    return out, x.dtype


defop("broadcast_like", ("x", "ref"), _broadcast_like_rule, "np.broadcast_to({x}, np.broadcast_shapes(np.shape({x}), np.shape({ref})))",
      grad=lambda n, g: [sum_to_like(g, n.inputs[0]), None],
      doc="broadcast x against ref's (run-time) shape", result="view", batch=batching.elementwise)


def broadcast_like(x: Tensor, ref: Tensor) -> Tensor:
    out_shape = broadcast_shapes("broadcast_like", x, ref)
    if out_shape == x.shape and is_static(x.shape):
        return x
    if is_static(out_shape):
        return broadcast_to(x, out_shape)
    return apply("broadcast_like", [x, ref])
