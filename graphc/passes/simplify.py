"""Algebraic simplification: local rewrites that keep the value, shape and dtype of a node.

Each rule looks at one (already simplified) node and returns a replacement or None. Rules
never change what is computed for finite inputs or for inf/nan: x * 0 is *not* folded to 0.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..ops import math as m
from ..ops import shape_ops as s
from ..ops.registry import rebuild
from ..tensor import constant, tagging
from .report import PassReport


def _const_equals(t, value) -> bool:
    """True for a constant whose every element equals ``value``."""
    if t.op != "constant":
        return False
    v = t.attrs["value"]
    return v.size > 0 and bool(np.all(v == value))


def _static(shape) -> bool:
    return all(d is not None for d in shape)


def _same_type(a, b) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def _identity_operand(node, x, other, unit):
    """``x`` if ``other`` is the constant ``unit`` and the result is just x (no broadcast, no promotion)."""
    if _const_equals(other, unit) and _same_type(node, x):
        return x
    return None


def _first(*candidates):
    """The first candidate that is not None (Tensors have no truth value, so no ``or``)."""
    return next((c for c in candidates if c is not None), None)


def _add(n):
    x, y = n.inputs
    hit = _first(_identity_operand(n, x, y, 0), _identity_operand(n, y, x, 0))
    if hit is not None:
        return hit, "x + 0 → x"
    if y.op == "neg":
        return m.sub(x, y.inputs[0]), "x + (-y) → x - y"
    return None


def _sub(n):
    x, y = n.inputs
    if _identity_operand(n, x, y, 0) is not None:
        return x, "x - 0 → x"
    if _const_equals(x, 0) and _same_type(n, y):
        return m.neg(y), "0 - x → -x"
    if x is y and _static(n.shape) and n.dtype.kind != "f":
        return s.zeros_like(x), "x - x → 0"
    if y.op == "neg":
        return m.add(x, y.inputs[0]), "x - (-y) → x + y"
    return None


def _mul(n):
    x, y = n.inputs
    hit = _first(_identity_operand(n, x, y, 1), _identity_operand(n, y, x, 1))
    if hit is not None:
        return hit, "x * 1 → x"
    for a, b in ((x, y), (y, x)):
        if _const_equals(b, -1) and _same_type(n, a):
            return m.neg(a), "x * -1 → -x"
    return None


def _div(n):
    x, y = n.inputs
    if _identity_operand(n, x, y, 1) is not None:
        return x, "x / 1 → x"
    return None


def _pow(n):
    x, y = n.inputs
    if not (y.op == "constant" and y.attrs["value"].size == 1 and _same_type(n, x)):
        return None
    p = float(y.attrs["value"].reshape(()))
    if p == 1:
        return x, "x ** 1 → x"
    if p == 2:
        return m.square(x), "x ** 2 → square(x)"
    if p == 0.5 and x.dtype.kind == "f":
        return m.sqrt(x), "x ** 0.5 → sqrt(x)"
    if p == -1 and x.dtype.kind == "f":
        return m.div(m.scalar_like(1, x), x), "x ** -1 → 1 / x"
    return None


def _neg(n):
    (x,) = n.inputs
    if x.op == "neg":
        return x.inputs[0], "-(-x) → x"
    return None


def _log(n):
    (x,) = n.inputs
    if x.op == "exp":
        return x.inputs[0], "log(exp(x)) → x"
    if x.op == "div":
        e, total = x.inputs
        if (e.op == "exp" and total.op == "reduce_sum" and total.attrs["keepdims"]
                and total.inputs[0] is e and _same_type(n, e)):
            # log(softmax(z)) = z - log(sum(exp(z))): no log of an underflowed 0
            return m.sub(e.inputs[0], m.log(total)), "log(softmax(x)) → log_softmax(x)"
    if x.op == "sigmoid":
        return m.neg(m.softplus(m.neg(x.inputs[0]))), "log(sigmoid(x)) → -softplus(-x)"
    if x.op == "sub" and _const_equals(x.inputs[0], 1) and x.inputs[1].op == "sigmoid" and _same_type(n, x.inputs[1]):
        return m.neg(m.softplus(x.inputs[1].inputs[0])), "log(1 - sigmoid(x)) → -softplus(x)"
    if x.op == "add":
        a, b = x.inputs
        for one, rest in ((a, b), (b, a)):
            if _const_equals(one, 1) and _same_type(n, rest):
                return m.log1p(rest), "log(1 + x) → log1p(x)"
    return None


def _sub_expm1(n):
    x, y = n.inputs
    if x.op == "exp" and _const_equals(y, 1) and _same_type(n, x):
        return m.expm1(x.inputs[0]), "exp(x) - 1 → expm1(x)"
    return None


def _transpose(n):
    (x,) = n.inputs
    moved = [a for a in n.attrs["perm"] if x.shape[a] != 1]
    if moved == sorted(moved) and _static(x.shape):
        return s.reshape(x, n.shape), "transpose moving only size-1 axes → reshape"
    if x.op == "transpose":
        inner, outer = x.attrs["perm"], n.attrs["perm"]
        composed = tuple(inner[p] for p in outer)
        return s.transpose(x.inputs[0], composed), "transpose(transpose(x)) → transpose(x)"
    return None


def _reshape(n):
    (x,) = n.inputs
    if x.op in ("reshape", "reshape_like", "expand_dims", "squeeze") and _static(n.shape):
        return s.reshape(x.inputs[0], n.shape), "reshape(reshape(x)) → reshape(x)"
    if x.shape == n.shape and _static(n.shape):
        return x, "reshape to the same shape → x"
    return None


def _reshape_like(n):
    x, ref = n.inputs
    if _static(ref.shape):
        return s.reshape(x, ref.shape), "reshape_like with a known shape → reshape"
    return None


def _sum_to_like(n):
    g, ref = n.inputs
    if _static(g.shape) and _static(ref.shape):
        return s.sum_to_like(g, ref), "sum_to_like with known shapes → reduce_sum"
    return None


def _broadcast_like(n):
    x, ref = n.inputs
    if _static(n.shape):
        return s.broadcast_like(x, ref), "broadcast_like with known shapes → broadcast_to"
    return None


def _fill_like(n):
    if _static(n.shape):
        return s.fill(n.shape, n.attrs["value"], n.dtype), "fill_like with a known shape → fill"
    return None


def _reduced_count(n):
    (x,) = n.inputs
    sizes = [x.shape[a] for a in n.attrs["axis"]]
    if all(d is not None for d in sizes):
        return constant(int(np.prod(sizes)), dtype=n.dtype), "element count known → constant"
    return None


def _stop_gradient(n):
    return n.inputs[0], "stop_gradient → identity (it matters only to gc.grad)"


def _cast(n):
    (x,) = n.inputs
    if x.dtype == n.dtype:
        return x, "cast to the same dtype → x"
    return None


def _broadcast_to(n):
    (x,) = n.inputs
    if x.shape == n.shape:
        return x, "broadcast_to the same shape → x"
    return None


def _reduce_mean(n):
    (x,) = n.inputs
    sizes = [x.shape[a] for a in n.attrs["axis"]]
    if n.dtype.kind != "f" or x.dtype != n.dtype or any(d is None for d in sizes):
        return None
    # np.mean is this sum divided by the count, bit for bit, behind a slow Python wrapper;
    # as a sum the reduction can also fuse into its producer's kernel
    from ..ops.reduce import reduce_sum
    total = reduce_sum(x, axis=n.attrs["axis"], keepdims=n.attrs["keepdims"])
    return m.div(total, constant(int(np.prod(sizes)), dtype=n.dtype)), "reduce_mean → reduce_sum / count"


RULES = {
    "add": (_add,), "sub": (_sub, _sub_expm1), "mul": (_mul,), "div": (_div,), "pow": (_pow,),
    "neg": (_neg,), "log": (_log,), "transpose": (_transpose,), "reshape": (_reshape,),
    "reshape_like": (_reshape_like,), "sum_to_like": (_sum_to_like,),
    "broadcast_like": (_broadcast_like,), "fill_like": (_fill_like,),
    "reduced_count": (_reduced_count,), "stop_gradient": (_stop_gradient,), "cast": (_cast,),
    "broadcast_to": (_broadcast_to,), "reduce_mean": (_reduce_mean,),
}

def _uniform_value(t):
    """The single value of a fill, or of a constant whose elements are all equal (e.g. a
    folded broadcast); None otherwise, and for 0-d tensors (already scalars)."""
    if t.shape == ():
        return None
    if t.op == "fill":
        return t.attrs["value"]
    if t.op == "constant":
        v = t.attrs["value"]
        if v.size > 1 and bool(np.all(v == v.flat[0])):
            return v.flat[0]
    return None


def _scalar_fill_operand(n):
    """An elementwise op reading a fill (zeros, ones, ...) or a uniform constant reads it as a
    0-d constant when the other operands give the result its shape anyway: no full-size array
    is materialised."""
    from ..ops.registry import OPS, broadcast_shapes
    if len(n.inputs) < 2 or OPS[n.op].kind != "elementwise":
        return None
    for k, t in enumerate(n.inputs):
        value = _uniform_value(t)
        if value is None:
            continue
        others = n.inputs[:k] + n.inputs[k + 1:]
        if broadcast_shapes(n.op, *others) != n.shape:
            continue
        scalar = constant(np.asarray(value, dtype=t.dtype))
        inputs = n.inputs[:k] + (scalar,) + n.inputs[k + 1:]
        return rebuild(n, inputs), "uniform full-size operand → scalar"
    return None


_MAX_REWRITES_PER_NODE = 16


def simplify(graph):
    report = PassReport("simplify", len(graph), 0)

    def visit(node, inputs):
        node = rebuild(node, inputs)
        for _ in range(_MAX_REWRITES_PER_NODE):
            for rule in RULES.get(node.op, ()) + (_scalar_fill_operand,):
                # nodes a rule builds inherit the tag (e.g. "grad") of the node they replace
                with tagging(node.tag) if node.tag else contextlib.nullcontext():
                    hit = rule(node)
                if hit is not None:
                    new, what = hit
                    report.changes[what] += 1
                    node = new
                    break
            else:
                return node
        return node

    out = graph.rewrite(visit)
    report.nodes_after = len(out)
    return out, report
