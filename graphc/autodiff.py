"""Symbolic reverse-mode differentiation: ``grad`` builds the gradient as more graph.

The sweep walks the nodes reachable from ``y`` in reverse topological order (no recursion),
asks each op's gradient rule for its inputs' cotangents and sums contributions. Every node
it builds is tagged "grad", so diagrams tell gradient nodes apart.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import arguments
from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.ir.graph import topological_order
from graphc.ops import math as m
from graphc.ir.opdef import OPS, apply, describe
from graphc.ops.indexing import scatter_slices
from graphc.ops.shape_ops import cast, ones_like, reshape, stack, zeros_like
from graphc.ir.tensor import Tensor, Variable, as_tensor, format_shape, tagging


def grad(y, xs):
    """d y / d xs for a scalar ``y``; ``xs`` a Tensor (returns a Tensor) or a list (a list).

    The result is ordinary graph: it can be rendered, optimized, compiled and differentiated
    again. An ``x`` that ``y`` does not depend on gets zeros.
    """
    single = isinstance(xs, Tensor)
    targets = grad_targets("grad", xs)
    y = as_tensor(y, what="grad: y")
    if y.shape != ():
        raise ShapeError(f"grad: y must be a scalar, got {describe(y)}; reduce it first "
                         "(e.g. gc.reduce_sum(y)) or use gc.jacobian")
    if y.dtype.kind != "f":
        raise DTypeError(f"grad: y must be a float tensor, got {describe(y)}")
    with tagging("grad"):
        cotangents = _backward(y, targets)
        results = []
        for x in targets:
            g = cotangents.get(id(x))
            results.append(g if g is not None else zeros_like(x))
    return results[0] if single else results


def grad_targets(op: str, xs) -> list:
    """``xs`` (a Tensor, or a list or tuple of them) as a list, or a GraphError naming ``op``."""
    if isinstance(xs, Tensor):
        return [xs]
    if not isinstance(xs, (list, tuple)):
        raise GraphError(f"{op}: xs must be a Tensor or a list of Tensors, got {type(xs).__name__} {xs!r:.60}")
    for k, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise GraphError(f"{op}: can only differentiate with respect to Tensors, got xs[{k}] = "
                             f"{type(x).__name__} {x!r:.60}")
    return list(xs)


def _backward(y: Tensor, targets: list) -> dict:
    """Cotangents of every target, keyed by id. Only nodes between y and a target are visited.

    Contributions that are basic-index scatters (``getitem_grad(g, x)``: zeros shaped like x
    with g in x[index]) are not added one by one: x read through T slices (an unrolled
    recurrent layer's x[:, t, :]) would cost T full-size zero arrays and T full-size adds,
    O(T · size(x)). They wait in a list and become ONE ``scatter_slices`` node (one zero
    array, each g added into its slice) when x's cotangent is needed, plus the sum of x's
    other contributions."""
    order = topological_order([y])
    wanted = {id(t) for t in targets}
    # forward sweep: the nodes that depend on some target
    depends: set[int] = set()
    for n in order:
        if id(n) in wanted or any(id(i) in depends for i in n.inputs):
            depends.add(id(n))
    found: dict[int, Tensor] = {}
    pending: dict[int, Tensor] = {id(y): ones_like(y)}
    scatters: dict[int, list] = {}   # id(x) -> [(g, normalized index), ...] awaiting one node
    for n in reversed(order):
        g = _collect(n, pending.pop(id(n), None), scatters.pop(id(n), None))
        if g is None:
            continue
        if id(n) in wanted:
            found[id(n)] = g
        if not n.inputs or not any(id(i) in depends for i in n.inputs):
            continue
        rule = OPS[n.op].grad
        if rule is None:
            raise GraphError(f"grad: op {n.op!r} (tensor {n.name!r}) has no gradient rule")
        input_grads = rule(n, g)
        for inp, gi in zip(n.inputs, input_grads):
            if gi is None or id(inp) not in depends:
                continue
            if gi.op == "getitem_grad" and gi.inputs[1] is inp:
                _conform(gi, inp, n)   # the shape check only
                part = gi.inputs[0]
                if part.dtype != inp.dtype and inp.dtype.kind == "f":
                    part = cast(part, inp.dtype)
                scatters.setdefault(id(inp), []).append((part, gi.attrs["index"]))
                continue
            gi = _conform(gi, inp, n)
            prev = pending.get(id(inp))
            pending[id(inp)] = gi if prev is None else m.add(prev, gi)
    return found


def _collect(x: Tensor, summed, scatters):
    """x's whole cotangent: its summed ordinary contributions plus its pending slice scatters
    (one getitem_grad for a single slice, else one scatter_slices node)."""
    if not scatters:
        return summed
    if len(scatters) == 1:
        (part, index), = scatters
        g = apply("getitem_grad", [part, x], index=index)
    else:
        g = scatter_slices([p for p, _ in scatters], [i for _, i in scatters], x)
    return g if summed is None else m.add(summed, g)


def _conform(g: Tensor, x: Tensor, node: Tensor) -> Tensor:
    """Check a rule's cotangent against its input: same rank, compatible sizes, x's dtype."""
    if g.ndim != x.ndim or any(a is not None and b is not None and a != b for a, b in zip(g.shape, x.shape)):
        raise GraphError(f"grad: the gradient rule of {node.op!r} gave {format_shape(g.shape)} for input "
                         f"{describe(x)} (a bug in that rule)")
    if g.dtype != x.dtype and x.dtype.kind == "f":
        g = cast(g, x.dtype)
    return g


def jacobian(y, x):
    """Dense Jacobian d y / d x with shape y.shape + x.shape (y's shape must be static)."""
    y = as_tensor(y, what="jacobian: y")
    if not isinstance(x, Tensor):
        raise GraphError(f"jacobian: can only differentiate with respect to a Tensor, got x = "
                         f"{type(x).__name__} {x!r:.60}")
    if any(d is None for d in y.shape):
        raise ShapeError(f"jacobian: y's shape must be fully known, got {describe(y)}")
    if y.shape == ():
        return grad(y, x)
    flat = reshape(y, (-1,))
    rows = [grad(flat[i], x) for i in range(flat.shape[0])]
    with tagging("grad"):
        j = stack(rows, axis=0)
        if any(d is None for d in x.shape):
            return j
        return reshape(j, y.shape + x.shape)


def hessian(y, x):
    """Dense Hessian of a scalar ``y``: jacobian(grad(y, x), x), shape x.shape + x.shape."""
    if not isinstance(x, Tensor):
        raise GraphError(f"hessian: can only differentiate with respect to a Tensor, got x = "
                         f"{type(x).__name__} {x!r:.60}")
    return jacobian(grad(y, x), x)
