"""Max pooling before ReLU: the ReLU, and in a training graph its gradient mask, then run on
the pooled tensor (a quarter of the elements under 2×2 pools), not on the convolution's output.

ReLU is monotone, so it commutes with a window maximum: max_pool(relu(s)) = relu(max_pool(s)),
bit for bit; the gradient graph is rewritten to an equal one too (``pool_before_relu`` has the
proof), so the forward's relu(s) and the full-size gradient mask disappear.
"""
from __future__ import annotations

import contextlib

from graphc.ops import math as m
from graphc.ir.opdef import apply, rebuild
from graphc.ops.shape_ops import cast
from graphc.ir.tensor import tagging
from graphc.passes.report import PassReport


def _is_zero(t) -> bool:
    return t.op == "constant" and t.attrs["value"].size == 1 and bool(t.attrs["value"] == 0)


def _is_relu_mask(t, s) -> bool:
    """``cast(s > 0)``, as ReLU's gradient rule builds it."""
    if t.op != "cast" or t.inputs[0].op != "greater":
        return False
    x, zero = t.inputs[0].inputs
    return x is s and _is_zero(zero)


def _mask_product(grad, users, roots):
    """The ``mul(grad, cast(s > 0))`` that is the only reader of a max_pool2d_grad, or None."""
    readers = users[grad]
    if len(readers) != 1 or id(grad) in roots:
        return None
    product = readers[0]
    if product.op != "mul" or product.shape != grad.shape or product.dtype != grad.dtype:
        return None
    other = product.inputs[1] if product.inputs[0] is grad else product.inputs[0]
    s = grad.inputs[0].inputs[0]
    return product if other is not grad and _is_relu_mask(other, s) else None


def _plan(graph):
    """id(node) -> "pool" or "grad" for the nodes to rebuild: the max pools of a relu(s), and
    the mask products of their gradients; only where relu(s) has no other reader."""
    users = graph.users()
    roots = {id(r) for r in graph.roots}
    plan = {}
    for a in graph.nodes:
        if a.op != "relu" or id(a) in roots:
            continue
        found, ok = {}, True
        for u in users[a]:
            if u.op == "max_pool2d":
                found[id(u)] = "pool"
            elif u.op == "max_pool2d_grad" and u.inputs[0] is a and a not in u.inputs[1:]:
                product = _mask_product(u, users, roots)
                ok = product is not None
                if ok:
                    found[id(product)] = "grad"
            else:
                ok = False
            if not ok:
                break
        if ok and "pool" in found.values():
            plan.update(found)
    return plan


def pool_before_relu(graph):
    """The graph with max_pool(relu(s)) rewritten to relu(max_pool(s)), and its gradient with it.

    The gradient graph built for y = max_pool(relu(s)) reads relu(s) again::

        ga = max_pool2d_grad(relu(s), y, gy)         # gy routed to each window's first maximum
        gs = ga * cast(s > 0)                        # ReLU's gradient mask

    and equals, exactly, with m = max_pool(s)::

        gs = max_pool2d_grad(s, m, gy * cast(m > 0))

    Proof, per window: if m > 0 the maximal cells of relu(s) are those of s (every cell <= 0
    became 0 < m), so the same first cell gets gy, and its mask is 1 on both sides. If m <= 0
    (or NaN) every cell's mask is 0 on the left and the routed value is gy * 0 on the right: 0
    (NaN where gy is infinite, as on the left). The rewrite is done only when every reader of
    relu(s) is one of these patterns; otherwise relu(s) would be computed anyway and nothing
    would be gained."""
    report = PassReport("pool_before_relu", len(graph), 0)
    plan = _plan(graph)
    if not plan:
        report.nodes_after = len(graph)
        return graph, report
    pooled = {}   # (id(s), attrs) -> max_pool2d(s): one pool shared by forward and backward

    def pool_of(s, attrs):
        key = (id(s), tuple(sorted(attrs.items())))
        if key not in pooled:
            pooled[key] = apply("max_pool2d", [s], **attrs)
        return pooled[key]

    def visit(node, inputs):
        kind = plan.get(id(node))
        if kind is None:
            return rebuild(node, inputs)
        with tagging(node.tag) if node.tag else contextlib.nullcontext():
            if kind == "pool":
                (relu_s,) = inputs
                report.changes["max_pool(relu(s)) → relu(max_pool(s))"] += 1
                return m.relu(pool_of(relu_s.inputs[0], dict(node.attrs)))
            grad = next(i for i in inputs if i.op == "max_pool2d_grad")
            s, g = grad.inputs[0].inputs[0], grad.inputs[2]
            attrs = dict(grad.attrs)
            pooled_s = pool_of(s, attrs)
            mask = cast(m.greater(pooled_s, m.scalar_like(0, pooled_s)), g.dtype)
            report.changes["relu mask moved before max_pool2d_grad"] += 1
            return apply("max_pool2d_grad", [s, pooled_s, m.mul(g, mask)], **attrs)

    out = graph.rewrite(visit)
    report.nodes_after = len(out)
    return out, report

