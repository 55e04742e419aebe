"""Algebraic simplification: local rewrites that keep the value, shape and dtype of a node.

Each rule looks at one (already simplified) node and returns a replacement or None.

Identity rewrites keep IEEE semantics exactly, bit for bit, for every input: signed zeros,
infinities, NaN and subnormals included. So for floats x - 0 → x and x * 1 → x, but x + 0 is
left alone (-0 + 0 = +0), x + (-0) → x instead; 0 - x is not -x (0 - 0 = +0), but
(-0) - x is; x * 0 → 0, x - x → 0 and x / x → 1 are not rewritten (inf, NaN); x ** 0.5 is not
sqrt(x) (pow(-0, 0.5) = +0, pow(-inf, 0.5) = +inf). Integer and bool arithmetic is exact
(modular), so there the value identities apply as they are.

Stability rewrites (log(1 + x) → log1p(x), exp(x) - 1 → expm1(x), log(softmax),
log(sigmoid), log(exp(x)) → x) replace a rounded or overflowed result by the accurate one:
they change finite results by design, never infinities or NaN that the accurate function
also gives, and every zero they produce has the sign the literal expression gives (it is a
log(1) or 1 - 1, so +0: hence the + 0 and 0 - ... in their results).
"""
from __future__ import annotations

import contextlib

import numpy as np

from graphc.ops import math as m
from graphc.ops import broadcasting
from graphc.ops import shape_ops as s
from graphc.ir.opdef import rebuild
from graphc.ir.tensor import constant, tagging
from graphc.passes.report import PassReport


def _const_equals(t, value) -> bool:
    """True for a constant whose every element equals ``value`` (-0.0 == 0.0: see _const_zero)."""
    if t.op != "constant":
        return False
    v = t.attrs["value"]
    return v.size > 0 and bool(np.all(v == value))


def _const_zero(t, negative: bool) -> bool:
    """True for a constant of zeros that are the exact unit wanted: for floats, every element
    -0.0 (``negative``) or every element +0.0; for integers and bools, any 0."""
    if not _const_equals(t, 0):
        return False
    if t.dtype.kind != "f":
        return True
    signs = np.signbit(t.attrs["value"])
    return bool(np.all(signs)) if negative else not bool(np.any(signs))


def _exact_arithmetic(t) -> bool:
    """Integers and bools: no signed zeros, infinities or NaN, so x - x is 0."""
    return t.dtype.kind in "iub"


def _plus_zero(t):
    """t + (+0.0): t itself, except that -0 becomes +0 (the sign log(1) and 1 - 1 give)."""
    return m.add(t, m.scalar_like(0.0, t))


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
    # the unit of IEEE addition is -0.0: x + (+0.0) turns x = -0 into +0
    for a, b in ((x, y), (y, x)):
        if _const_zero(b, negative=True) and _same_type(n, a):
            return a, "x + (-0) → x" if a.dtype.kind == "f" else "x + 0 → x"
    if y.op == "neg" and x.dtype.kind != "b":
        return m.sub(x, y.inputs[0]), "x + (-y) → x - y"  # IEEE defines x - y as x + (-y)
    return None


def _sub(n):
    x, y = n.inputs
    if _const_zero(y, negative=False) and _same_type(n, x):
        return x, "x - 0 → x"  # x + (-0): exact, -0 - 0 = -0 (but x - (-0) = x + 0 is not)
    if _const_zero(x, negative=True) and _same_type(n, y):
        # (-0) - x = -x for every x; 0 - x is not (0 - 0 = +0, -(0) = -0) unless integer
        return m.neg(y), "(-0) - x → -x" if y.dtype.kind == "f" else "0 - x → -x"
    if x is y and _static(n.shape) and _exact_arithmetic(n):
        return s.zeros_like(x), "x - x → 0"  # not for floats: inf - inf and NaN - NaN are NaN
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
    # x ** 0.5 is not sqrt(x): pow(-0, 0.5) = +0 and pow(-inf, 0.5) = +inf, where sqrt gives
    # -0 and NaN (NumPy's own power takes either path, by the operands' strides)
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
        return _plus_zero(x.inputs[0]), "log(exp(x)) → x + 0"
    if x.op == "div":
        e, total = x.inputs
        if (e.op == "exp" and total.op == "reduce_sum" and total.attrs["keepdims"]
                and total.inputs[0] is e and _same_type(n, e)):
            # log(softmax(z)) = z - log(sum(exp(z))): no log of an underflowed 0; written
            # 0 - (log(sum) - z), equal to it but for the zero's sign: +0, as log(1) (z - log(sum)
            # is -0 for z = -0)
            z = e.inputs[0]
            return (m.sub(m.scalar_like(0.0, z), m.sub(m.log(total), z)),
                    "log(softmax(x)) → log_softmax(x)")
    # 0 - softplus: +0 where softplus underflows to 0, as log(sigmoid(inf)) = log(1) = +0
    if x.op == "sigmoid":
        z = x.inputs[0]
        return m.sub(m.scalar_like(0.0, z), m.softplus(m.neg(z))), "log(sigmoid(x)) → -softplus(-x)"
    if x.op == "sub" and _const_equals(x.inputs[0], 1) and x.inputs[1].op == "sigmoid" and _same_type(n, x.inputs[1]):
        z = x.inputs[1].inputs[0]
        return m.sub(m.scalar_like(0.0, z), m.softplus(z)), "log(1 - sigmoid(x)) → -softplus(x)"
    if x.op == "add":
        a, b = x.inputs
        for one, rest in ((a, b), (b, a)):
            if _const_equals(one, 1) and _same_type(n, rest):
                return _plus_zero(m.log1p(rest)), "log(1 + x) → log1p(x) + 0"
    return None


def _sub_expm1(n):
    x, y = n.inputs
    if x.op == "exp" and _const_equals(y, 1) and _same_type(n, x):
        return _plus_zero(m.expm1(x.inputs[0])), "exp(x) - 1 → expm1(x) + 0"
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
        return broadcasting.sum_to_like(g, ref), "sum_to_like with known shapes → reduce_sum"
    return None


def _broadcast_like(n):
    x, ref = n.inputs
    if _static(n.shape):
        return broadcasting.broadcast_like(x, ref), "broadcast_like with known shapes → broadcast_to"
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
    # (not float16: np.mean sums float16 in float32)
    if n.dtype not in (np.float32, np.float64) or x.dtype != n.dtype or any(d is None for d in sizes):
        return None
    count = int(np.prod(sizes))
    if int(n.dtype.type(count)) != count:
        return None  # np.mean divides by the exact count, a constant would round it
    # np.mean is this sum divided by the count, bit for bit, behind a slow Python wrapper;
    # as a sum the reduction can also fuse into its producer's kernel
    from graphc.ops.reduce import reduce_sum
    total = reduce_sum(x, axis=n.attrs["axis"], keepdims=n.attrs["keepdims"])
    return m.div(total, constant(count, dtype=n.dtype)), "reduce_mean → reduce_sum / count"


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
        if v.size > 1:
            # bit for bit: 0.0 == -0.0, yet [0.0, -0.0] is no uniform constant
            bits = np.ascontiguousarray(v).reshape(-1).view(f"u{v.dtype.itemsize}")
            if bool(np.all(bits == bits[0])):
                return v.flat[0]
    return None


def _scalar_fill_operand(n):
    """An elementwise op reading a fill (zeros, ones, ...) or a uniform constant reads it as a
    0-d constant when the other operands give the result its shape anyway: no full-size array
    is materialised."""
    from graphc.ir.opdef import OPS, broadcast_shapes
    if len(n.inputs) < 2 or OPS[n.op].kind != "elementwise":
        return None
    if n.op == "pow" and n.dtype.kind == "f":
        return None  # NumPy's float power takes a sqrt/square/reciprocal path for a broadcast
        #              exponent only: x ** full(0.5) and x ** 0.5 differ at -0 and -inf
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
