"""Linear algebra: matmul (batched, like np.matmul), inv, pinv, norm."""
from __future__ import annotations

import numpy as np

from graphc.ir import arguments
from graphc.ir import dtypes
from graphc.errors import DTypeError, ShapeError
from graphc.ir.tensor import Tensor, as_tensor, format_shape
from graphc.ops import math as m
from graphc.ir.batching import BatchRule, NotBatchable, spans
from graphc.ir.opdef import apply, broadcast_tuples, defop, describe, normalize_axis
from graphc.ops.broadcasting import sum_to_like
from graphc.ops.shape_ops import cast, expand_dims, squeeze, transpose


def _matmul_rule(inputs, attrs):
    a, b = inputs
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must be at least 1-d: {describe(a)} @ {describe(b)}")
    for t in (a, b):
        if t.dtype.kind == "b":
            raise DTypeError(f"matmul: bool operand {describe(t)}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if ka is not None and kb is not None and ka != kb:
        hint = ""
        if b.ndim >= 2 and b.shape[-1] == ka:
            hint = f" — did you mean {b.name}.T?"
        raise ShapeError(f"matmul: inner dimensions differ: {a.name} {_fmt(a)} @ {b.name} {_fmt(b)} "
                         f"({ka} vs {kb}){hint}")
    batch_a = a.shape[:-2] if a.ndim >= 2 else ()
    batch_b = b.shape[:-2] if b.ndim >= 2 else ()
    batch = broadcast_tuples("matmul", [batch_a, batch_b],
                             lambda: f"{a.name!r} {format_shape(batch_a)} {a.dtype}, "
                                     f"{b.name!r} {format_shape(batch_b)} {b.dtype}")
    rows = (a.shape[-2],) if a.ndim >= 2 else ()
    cols = (b.shape[-1],) if b.ndim >= 2 else ()
    return batch + rows + cols, dtypes.result_dtype("matmul", a.dtype, b.dtype)


def _fmt(t):
    return format_shape(t.shape)


def _swap_last(t: Tensor) -> Tensor:
    perm = tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2)
    return transpose(t, perm)


def _matmul_grad(n, g):
    a, b = n.inputs
    if a.ndim == 2 and b.ndim == 1:
        # matrix @ vector: ga is the outer product g bᵀ (a broadcast multiply, which fuses),
        # gb = aᵀ g
        return [expand_dims(g, -1) * expand_dims(b, 0), matmul(transpose(a), g)]
    if a.ndim == 1 and b.ndim == 2:
        # vector @ matrix: ga = b g, gb is the outer product a gᵀ
        return [matmul(b, g), expand_dims(a, -1) * expand_dims(g, 0)]
    # general case: promote 1-d operands to matrices so both products are plain matmuls
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, -1) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = expand_dims(g2, -2 if b.ndim >= 2 else 0)
    if b.ndim == 1:
        g2 = expand_dims(g2, -1)
    ga = matmul(g2, _swap_last(b2))
    gb = matmul(_swap_last(a2), g2)
    if a.ndim == 1:
        ga = squeeze(ga, axis=-2)
    if b.ndim == 1:
        gb = squeeze(gb, axis=-1)
    return [sum_to_like(ga, a), sum_to_like(gb, b)]


# -- batch rules -------------------------------------------------------------------------------

def _matmul_batch(node, axes):
    a_t, b_t = node.inputs
    aa, ba = axes
    ra = _matmul_role(a_t, aa, left=True)
    rb = _matmul_role(b_t, ba, left=False)
    if "k" in (ra, rb):   # the contracted axis is the batch: per-chunk products add up
        if ra not in ("k", None) or rb not in ("k", None):
            raise NotBatchable("one operand is chunked along the contracted axis, the other along another axis")
        split = {}
        if ra is None:
            split[0] = a_t.ndim - 1
        if rb is None:
            split[1] = 0 if b_t.ndim == 1 else b_t.ndim - 2
        for k, axis in split.items():
            if not spans(node.inputs[k], axis):
                raise NotBatchable("the contracted axis has size 1 on the replicated operand")
        return BatchRule(None, "sum", split)
    out_nd = node.ndim
    matrix_dims = (a_t.ndim >= 2) + (b_t.ndim >= 2)
    out_batch = out_nd - matrix_dims
    if ra == "m" or rb == "n":
        if ra is not None and rb is not None:
            raise NotBatchable("the rows of a and the columns of b are both chunked: the result would "
                               "be chunked along two axes")
        if ra == "m":
            return BatchRule(out_nd - 2 if b_t.ndim >= 2 else out_nd - 1)
        return BatchRule(out_nd - 1)
    # chunked along a stacked-matrices (batch) dimension
    target = None
    for t, a in ((a_t, aa), (b_t, ba)):
        if a is None:
            continue
        out_axis = a + out_batch - (t.ndim - 2)
        if target is not None and target != out_axis:
            raise NotBatchable("its operands are chunked along different stacking axes")
        target = out_axis
    rule = BatchRule(target)
    for k, (t, a) in enumerate(((a_t, aa), (b_t, ba))):
        if a is None and t.ndim > 2:
            axis = target - (out_batch - (t.ndim - 2))
            if spans(t, axis):
                rule.split[k] = axis
    return rule


def _matmul_role(t, axis, left):
    """What a chunked axis of a matmul operand is: "k" (contracted), "m" (rows of a), "n"
    (columns of b), ("stack", i) (a leading stacking dimension), or None (not chunked)."""
    if axis is None:
        return None
    if t.ndim == 1:
        return "k"
    if axis == t.ndim - 1:
        return "k" if left else "n"
    if axis == t.ndim - 2:
        return "m" if left else "k"
    return ("stack", axis)


def _matrix_stack_batch(node, axes):
    # inv / pinv: batched over the leading axes only
    a = axes[0]
    if a >= node.inputs[0].ndim - 2:
        raise NotBatchable("the batch axis is one of the matrix axes")
    return BatchRule(a)


defop("matmul", ("a", "b"), _matmul_rule, "gemm_matmul({a}, {b})", grad=_matmul_grad,
      helpers={"gemm_matmul": np.matmul},
      doc="matrix product with np.matmul's batching and 1-d rules", result="new", batch=_matmul_batch)


def matmul(a, b):
    a, b = m.operands(a, b, what="matmul")
    return apply("matmul", [a, b])


def _square_rule(op):
    def infer(inputs, attrs):
        (x,) = inputs
        if x.dtype.kind != "f":
            raise DTypeError(f"{op}: needs a float matrix, got {describe(x)}")
        if x.ndim < 2:
            raise ShapeError(f"{op}: needs a matrix (or a batch of them), got {describe(x)}")
        if op == "inv":
            r, c = x.shape[-2:]
            if r is not None and c is not None and r != c:
                raise ShapeError(f"inv: the matrix must be square, got {describe(x)}")
            return x.shape, x.dtype
        return x.shape[:-2] + (x.shape[-1], x.shape[-2]), x.dtype
    return infer


def _inv_grad(n, g):
    # d(A^-1) = -A^-1 dA A^-1  =>  gA = -A^-T g A^-T
    t = _swap_last(n)
    return [m.neg(matmul(matmul(t, g), t))]


def _pinv_grad(n, g):
    # Reverse mode of P = A+ for A of locally constant rank (Golub & Pereyra's differential
    # dP = -P dA P + P Pᵀ dAᵀ (I - A P) + (I - P A) dAᵀ Pᵀ P), transposed term by term:
    #   gA = -Pᵀ G Pᵀ + (I - A P) Gᵀ P Pᵀ + Pᵀ P Gᵀ (I - P A)
    a, p = n.inputs[0], n
    pt, gt = _swap_last(p), _swap_last(g)
    range_part = matmul(gt, matmul(p, pt))          # Gᵀ P Pᵀ
    range_part = range_part - matmul(matmul(a, p), range_part)
    corange_part = matmul(matmul(pt, p), gt)        # Pᵀ P Gᵀ
    corange_part = corange_part - matmul(corange_part, matmul(p, a))
    return [m.neg(matmul(matmul(pt, g), pt)) + range_part + corange_part]


defop("inv", ("x",), _square_rule("inv"), "np.linalg.inv({x})", grad=_inv_grad,
      doc="matrix inverse (batched)", result="unknown", batch=_matrix_stack_batch)
defop("pinv", ("x",), _square_rule("pinv"), "np.linalg.pinv({x})", grad=_pinv_grad,
      doc="Moore-Penrose pseudo-inverse (batched)", result="unknown", batch=_matrix_stack_batch)


def inv(x):
    return apply("inv", [as_tensor(x, what="inv: x")])


def pinv(x):
    return apply("pinv", [as_tensor(x, what="pinv: x")])


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's argument name
    """Vector or matrix norm, following np.linalg.norm's ord/axis conventions.

    Vector ords: None/2, 1, inf, -inf, 0 (count of non-zeros), any other p (sum |x|^p)^(1/p).
    Matrix ords (axis a pair, or x 2-d with axis None): None/"fro", 1, -1, inf, -inf, "nuc"
    and 2/-2 are not built as graphs here ("nuc", 2, -2 need an SVD) and raise GraphError.
    """
    from graphc.errors import GraphError
    from graphc.ops.reduce import reduce_max, reduce_min, reduce_sum
    x = as_tensor(x, what="norm: x")
    if x.dtype.kind != "f":
        raise DTypeError(f"norm: needs a float tensor, got {describe(x)}")
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise ValueError(f"norm: ord must be None, a number, 'fro' or 'nuc', got {ord!r}")
    elif ord is not None:
        ord = arguments.real(ord, "norm: ord", finite=False)  # noqa: A001
    if axis is None and (x.ndim == 2 and ord is not None):
        axis = (0, 1)
    if axis is None:
        if ord not in (None, 2, "fro"):
            if x.ndim == 1:
                axis = (0,)
            else:
                raise GraphError(f"norm: ord={ord!r} needs axis for a {x.ndim}-d tensor {describe(x)}")
        else:
            return m.sqrt(reduce_sum(m.square(x), keepdims=keepdims))
    axes = tuple(normalize_axis("norm", x, a) for a in arguments.indices(axis, "norm: axis", allow_int=True))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"norm: repeated axis in {axis!r} for {describe(x)}")
    absx = m.abs(x)
    if len(axes) == 1:
        if ord is None or ord == 2:
            return m.sqrt(reduce_sum(m.square(x), axis=axes, keepdims=keepdims))
        if ord == np.inf:
            return reduce_max(absx, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return reduce_min(absx, axis=axes, keepdims=keepdims)
        if ord == 0:
            return reduce_sum(cast(m.not_equal(x, m.scalar_like(0, x)), x.dtype), axis=axes, keepdims=keepdims)
        if ord == 1:
            return reduce_sum(absx, axis=axes, keepdims=keepdims)
        if isinstance(ord, str):
            raise GraphError(f"norm: ord={ord!r} is a matrix norm; give two axes")
        p = m.scalar_like(float(ord), x)
        return m.pow(reduce_sum(m.pow(absx, p), axis=axes, keepdims=keepdims), m.scalar_like(1.0 / ord, x))
    if len(axes) != 2:
        raise ShapeError(f"norm: axis must be an int or a pair, got {axis!r}")
    row, col = axes
    if ord in (None, "fro"):
        return m.sqrt(reduce_sum(m.square(x), axis=(row, col), keepdims=keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        # 1: max column sum; inf: max row sum (np.linalg.norm's definitions)
        inner, outer = (row, col) if ord in (1, -1) else (col, row)
        sums = reduce_sum(absx, axis=inner, keepdims=True)
        pick = reduce_max if ord in (1, np.inf) else reduce_min
        out = pick(sums, axis=outer, keepdims=True)
        return out if keepdims else squeeze(out, axis=(row, col))
    raise GraphError(f"norm: matrix ord={ord!r} needs a singular value decomposition, "
                     "which graphc does not build yet; use ord='fro', 1 or inf")
