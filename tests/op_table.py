"""The op table: one row (at least) per op registered in ``graphc.ir.opdef.OPS``.

A row says how to build the op from placeholders, which arrays to feed, what NumPy says the
value is (a reference written independently of the op's own template), and which inputs to
check the gradient of. tests/ops/test_ops.py runs every row through shape/dtype inference, the
compiled value (optimized and not), and finite-difference gradient checks; an op registered
without a row fails ``test_every_op_has_a_row``.

Inputs are float64 wherever gradients are checked and are chosen well inside each op's smooth
region: log/sqrt of positive values, inverses of well-conditioned matrices, no ties or kinks
(within the finite-difference step) for max/min/relu/abs.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

import graphc as gc
from graphc.ir.opdef import apply
from graphc.ops.indexing import scatter_slices


@dataclasses.dataclass
class Row:
    """One test case for the op ``op``.

    build:   placeholders (one per input array, same order) -> output Tensor
    inputs:  the arrays fed to those placeholders
    ref:     arrays -> expected value (None: not deterministic, e.g. random ops)
    grad:    indices of the inputs whose gradient is checked against finite differences
    shapes:  placeholder shapes, None entries allowed (default: the arrays' shapes)
    second:  also check second derivatives (the gradient of the gradient) of ``grad`` inputs
    covered_by: the test file that owns this op's checks (the row then only records that)
    known_bug:  a library bug this row exposes in the second derivative (reported; strict xfail)
    """
    op: str
    build: Callable
    inputs: Sequence[np.ndarray] = ()
    ref: Callable | None = None
    grad: tuple = ()
    shapes: tuple | None = None
    name: str = ""
    rtol: float = 1e-12
    atol: float = 1e-12
    grad_rtol: float | None = None
    grad_atol: float | None = None
    second: bool = False
    float32: bool = True          # also run with the float inputs cast to float32
    covered_by: str | None = None
    known_bug: str | None = None  # second derivatives known wrong: the test is a strict xfail

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op

    def placeholder_shapes(self):
        if self.shapes is not None:
            return self.shapes
        return tuple(np.shape(a) for a in self.inputs)


_rng = np.random.default_rng(20240607)


def normal(*shape):
    return _rng.standard_normal(shape)


def uniform(lo, hi, *shape):
    return _rng.uniform(lo, hi, shape)


def away_from_zero(*shape, margin=0.2):
    """Standard normals pushed at least ``margin`` away from 0 (kinks of relu, abs, step)."""
    x = normal(*shape)
    return np.where(x >= 0, x + margin, x - margin)


def well_conditioned(n):
    return normal(n, n) * 0.3 + 2.0 * np.eye(n)


# hand-picked pairs: no ties anywhere, and |x - y| >= 0.1 (well beyond the FD step of 1e-3)
MAX_X = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
MAX_Y = np.array([0.2, -0.4, 1.1])
# with ties, for the comparisons
CMP_X = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
CMP_Y = np.array([1.0, 2.5, 1.0])
BOOL_X = np.array([[True, False, True], [False, False, True]])
BOOL_Y = np.array([True, False, False])
COND = np.array([[True, False, True], [False, True, False]])


# -- independent references ----------------------------------------------------------------

def ref_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_softplus(x):
    return np.log1p(np.exp(x))


def ref_elu(x, alpha):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1.0))


def ref_one_hot(indices, depth):
    out = np.zeros(indices.shape + (depth,), dtype=np.float32)
    for idx in np.ndindex(indices.shape):
        if 0 <= indices[idx] < depth:
            out[idx + (indices[idx],)] = 1.0
    return out


def ref_gather_grad(g, indices, x, axis=0):
    out = np.zeros(x.shape, dtype=g.dtype)
    for pos in np.ndindex(indices.shape):
        lead = (slice(None),) * axis
        out[lead + (indices[pos],)] += g[lead + pos]
    return out


def ref_conv2d(x, w, stride, pad):
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    xp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=x.dtype)
    xp[:, pad:pad + h, pad:pad + wd] = x
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, oh, ow, o), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.einsum("nabc,abco->no", patch, w)
    return out


def ref_conv2d_dilated_grouped(x, w, dilation, groups, pad=0):
    """Stride 1; tap (a, b) reads cell (i + a·d, j + b·d); filter oc sees group oc // (O/G)."""
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    xp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=x.dtype)
    xp[:, pad:pad + h, pad:pad + wd] = x
    oh, ow = h + 2 * pad - (kh - 1) * dilation, wd + 2 * pad - (kw - 1) * dilation
    out = np.zeros((n, oh, ow, o), dtype=x.dtype)
    for oc in range(o):
        first = oc // (o // groups) * cg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, i:i + (kh - 1) * dilation + 1:dilation, j:j + (kw - 1) * dilation + 1:dilation,
                           first:first + cg]
                out[:, i, j, oc] = np.einsum("nabc,abc->n", patch, w[..., oc])
    return out


def ref_pool(x, k, reduce):
    n, h, w, c = x.shape
    out = np.zeros((n, h // k, w // k, c), dtype=x.dtype)
    for i in range(h // k):
        for j in range(w // k):
            out[:, i, j, :] = reduce(x[:, i * k:(i + 1) * k, j * k:(j + 1) * k, :], axis=(1, 2))
    return out


# -- the rows -------------------------------------------------------------------------------

X23 = normal(2, 3)
Y3 = normal(3)

ROWS: list[Row] = [
    # arithmetic, with broadcasting (2, 3) against (3,)
    Row("add", lambda x, y: x + y, [X23, Y3], np.add, grad=(0, 1)),
    Row("sub", gc.sub, [X23, Y3], np.subtract, grad=(0, 1)),
    Row("mul", lambda x, y: x * y, [X23, Y3], np.multiply, grad=(0, 1), second=True),
    Row("div", lambda x, y: x / y, [X23, uniform(1.0, 2.0, 3)], np.divide, grad=(0, 1), second=True),
    Row("pow", lambda x, y: x ** y, [uniform(0.5, 2.0, 2, 3), uniform(0.5, 2.5, 3)],
        lambda x, y: np.exp(y * np.log(x)), grad=(0, 1), second=True, rtol=1e-13),
    Row("maximum", gc.maximum, [MAX_X, MAX_Y], lambda x, y: np.where(x > y, x, y), grad=(0, 1),
        second=True),
    Row("minimum", gc.minimum, [MAX_X, MAX_Y], lambda x, y: np.where(x < y, x, y), grad=(0, 1),
        second=True),
    # comparisons and logic: bool results, no gradient
    Row("equal", gc.equal, [CMP_X, CMP_Y], lambda x, y: x == y),
    Row("not_equal", gc.not_equal, [CMP_X, CMP_Y], lambda x, y: x != y),
    Row("less", lambda x, y: x < y, [CMP_X, CMP_Y], lambda x, y: x < y),
    Row("less_equal", lambda x, y: x <= y, [CMP_X, CMP_Y], lambda x, y: x <= y),
    Row("greater", lambda x, y: x > y, [CMP_X, CMP_Y], lambda x, y: x > y),
    Row("greater_equal", lambda x, y: x >= y, [CMP_X, CMP_Y], lambda x, y: x >= y),
    Row("logical_and", gc.logical_and, [BOOL_X, BOOL_Y], lambda x, y: x & y),
    Row("logical_or", gc.logical_or, [BOOL_X, BOOL_Y], lambda x, y: x | y),
    Row("logical_not", gc.logical_not, [BOOL_X], lambda x: ~x),
    # unary
    Row("neg", lambda x: -x, [X23], lambda x: 0.0 - x, grad=(0,)),
    Row("exp", gc.exp, [X23], lambda x: np.e ** x, grad=(0,), second=True, rtol=1e-14),
    Row("log", gc.log, [uniform(0.5, 3.0, 2, 3)], np.log, grad=(0,), second=True),
    Row("log1p", gc.log1p, [uniform(-0.5, 2.0, 2, 3)], lambda x: np.log(1.0 + x), grad=(0,), second=True,
        rtol=1e-14),
    Row("expm1", gc.expm1, [X23], lambda x: np.exp(x) - 1.0, grad=(0,), second=True, rtol=1e-13),
    Row("sqrt", gc.sqrt, [uniform(0.5, 3.0, 2, 3)], lambda x: x ** 0.5, grad=(0,), second=True),
    Row("rsqrt", gc.rsqrt, [uniform(0.5, 3.0, 2, 3)], lambda x: x ** -0.5, grad=(0,), second=True,
        rtol=1e-14),
    Row("square", gc.square, [X23], lambda x: x * x, grad=(0,), second=True),
    Row("abs", lambda x: abs(x), [away_from_zero(2, 3)], lambda x: np.where(x < 0, -x, x), grad=(0,),
        second=True),
    Row("sign", gc.sign, [away_from_zero(2, 3)], lambda x: np.where(x > 0, 1.0, -1.0), grad=(0,)),
    Row("sin", gc.sin, [X23], np.sin, grad=(0,), second=True),
    Row("cos", gc.cos, [X23], np.cos, grad=(0,), second=True),
    Row("tanh", gc.tanh, [X23], lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1), grad=(0,),
        second=True, rtol=1e-13, atol=1e-15),
    Row("sigmoid", gc.sigmoid, [X23 * 3], ref_sigmoid, grad=(0,), second=True, rtol=1e-14),
    Row("relu", gc.relu, [away_from_zero(2, 3)], lambda x: np.where(x > 0, x, 0.0), grad=(0,),
        second=True),
    Row("softplus", gc.softplus, [X23 * 3], ref_softplus, grad=(0,), second=True, rtol=1e-14),
    Row("step", gc.nn.step, [away_from_zero(2, 3)], lambda x: np.where(x >= 0, 1.0, 0.0), grad=(0,)),
    Row("stop_gradient", gc.stop_gradient, [X23], lambda x: x),
    Row("leaky_relu", lambda x: gc.nn.leaky_relu(x, alpha=0.2), [away_from_zero(2, 3)],
        lambda x: np.where(x > 0, x, 0.2 * x), grad=(0,), second=True),
    Row("elu", lambda x: gc.nn.elu(x, alpha=1.5), [away_from_zero(2, 3)],
        lambda x: ref_elu(x, 1.5), grad=(0,), second=True, rtol=1e-14),
    Row("where", gc.where, [COND, X23, Y3],
        lambda c, x, y: np.choose(c, [np.broadcast_to(y, c.shape), x]), grad=(1, 2), second=True),
    Row("cast", lambda x: gc.cast(x, "float32"), [X23], lambda x: x.astype(np.float32), grad=(0,),
        second=True, grad_rtol=1e-3, grad_atol=1e-3),
    Row("cast", lambda x: gc.cast(x, "int64"), [X23 * 3], lambda x: np.trunc(x).astype(np.int64),
        name="to_int"),
    Row("cast", lambda i: gc.cast(i, "float32"), [np.array([[1, -2], [3, 4]])],
        lambda i: i.astype(np.float32), name="from_int"),
    # shapes
    Row("reshape", lambda x: gc.reshape(x, (3, -1)), [normal(2, 3, 2)], lambda x: x.reshape(3, 4),
        grad=(0,)),
    Row("reshape_like", lambda x, r: apply("reshape_like", [x, r]), [normal(2, 3), normal(3, 2)],
        lambda x, r: x.reshape(r.shape), grad=(0,), second=True, shapes=((2, 3), (None, 2))),
    Row("transpose", lambda x: gc.transpose(x, (1, 2, 0)), [normal(2, 3, 4)],
        lambda x: np.einsum("abc->bca", x), grad=(0,), second=True),
    Row("concat", lambda a, b, c: gc.concat([a, b, c], axis=1),
        [normal(2, 1), normal(2, 3), normal(2, 2)], lambda a, b, c: np.hstack([a, b, c]),
        grad=(0, 1, 2)),
    Row("concat", lambda a, b: gc.concat([a, b], axis=0), [normal(2, 2), normal(3, 2)],
        lambda a, b: np.vstack([a, b]), grad=(0, 1), shapes=((None, 2), (None, 2)),
        name="run_time_sizes", second=True),
    Row("concat_part", lambda g, a, b: apply("concat_part", [g, a, b], axis=1, index=1),
        [normal(2, 5), normal(2, 2), normal(2, 3)], lambda g, a, b: g[:, 2:], grad=(0,), second=True,
        shapes=((2, 5), (2, None), (2, None))),
    Row("expand_dims", lambda x: gc.expand_dims(x, 1), [X23], lambda x: x[:, np.newaxis, :], grad=(0,)),
    Row("squeeze", lambda x: gc.squeeze(x), [normal(2, 1, 3, 1)], lambda x: x.reshape(2, 3), grad=(0,)),
    Row("broadcast_to", lambda x: gc.broadcast_to(x, (2, 3, 4)), [normal(3, 1)],
        lambda x: np.tile(x, (2, 1, 4)), grad=(0,), second=True),
    Row("sum_to_like", lambda g, r: apply("sum_to_like", [g, r]), [normal(2, 3, 4), normal(3, 1)],
        lambda g, r: g.sum(axis=0).sum(axis=1).reshape(3, 1), grad=(0,), second=True,
        shapes=((2, 3, 4), (None, 1)), rtol=1e-13, atol=1e-15),
    Row("broadcast_like", lambda x, r: apply("broadcast_like", [x, r]), [normal(3, 1), normal(2, 3, 4)],
        lambda x, r: np.tile(x, (2, 1, 4)), grad=(0,), second=True, shapes=((3, 1), (None, 3, None))),
    Row("fill", lambda: gc.fill((2, 3), 1.5), [], lambda: np.full((2, 3), 1.5, dtype=np.float32)),
    Row("fill_like", lambda r: gc.ones_like(r, dtype="float64") * 2.5, [normal(4, 3)],
        lambda r: np.full(r.shape, 2.5), shapes=((None, 3),)),
    Row("getitem", lambda x: x[-1, 1::2, None, ...], [normal(3, 5, 2)],
        lambda x: x[2, [1, 3]][:, np.newaxis, :], grad=(0,), second=True),
    Row("getitem_grad",
        lambda g, x: apply("getitem_grad", [g, x], index=(1, slice(0, None, 2))),
        [normal(2), normal(3, 4)],
        lambda g, x: np.array([[0, 0, 0, 0], [g[0], 0, g[1], 0], [0, 0, 0, 0]]), grad=(0,),
        second=True),
    Row("scatter_slices",
        lambda a, b, c, x: scatter_slices([a, b, c], [(slice(0, 3), slice(None)), (slice(1, 4), slice(None)),
                                                      (None, 2, slice(None, None, -2))], x),
        [normal(3, 3), normal(3, 3), normal(1, 2), normal(4, 3)],
        lambda a, b, c, x: (np.concatenate([a, np.zeros((1, 3))]) + np.concatenate([np.zeros((1, 3)), b])
                            + np.array([[0, 0, 0], [0, 0, 0], [c[0, 1], 0, c[0, 0]], [0, 0, 0]])),
        grad=(0, 1, 2), second=True, rtol=1e-13, atol=1e-15),
    Row("one_hot", lambda i: gc.one_hot(i, 4), [np.array([[0, 3, 5], [2, -1, 1]])],
        lambda i: ref_one_hot(i, 4)),
    Row("gather", lambda x, i: gc.gather(x, i, axis=0), [normal(5, 3), np.array([[4, 0], [2, 4]])],
        lambda x, i: np.stack([np.stack([x[k] for k in r]) for r in i]), grad=(0,), second=True),
    Row("gather", lambda x, i: gc.gather(x, i, axis=1), [normal(2, 4), np.array([3, 3, 0])],
        lambda x, i: x[:, [3, 3, 0]], grad=(0,), second=True, name="axis1"),
    Row("gather_grad", lambda g, i, x: apply("gather_grad", [g, i, x], axis=0),
        [normal(2, 2, 3), np.array([[4, 0], [2, 4]]), normal(5, 3)], ref_gather_grad, grad=(0,),
        second=True),
    # linear algebra
    Row("matmul", lambda a, b: a @ b, [normal(2, 3), normal(3, 4)],
        lambda a, b: np.einsum("ij,jk->ik", a, b), grad=(0, 1), second=True, rtol=1e-13, atol=1e-14),
    Row("inv", gc.linalg.inv, [well_conditioned(3)], np.linalg.inv, grad=(0,), second=True,
        rtol=1e-13, atol=1e-14),
    Row("pinv", gc.linalg.pinv, [normal(3, 2)],
        lambda a: np.linalg.solve(a.T @ a, a.T), grad=(0,), second=True, rtol=1e-10, atol=1e-12),
    # reductions
    Row("reduce_sum", lambda x: gc.reduce_sum(x, axis=1), [normal(2, 3, 4)],
        lambda x: np.add.reduce(x, axis=1), grad=(0,), rtol=1e-13, atol=1e-15),
    Row("reduce_sum", lambda x: gc.reduce_sum(x, axis=(0, 2), keepdims=True), [normal(2, 3, 4)],
        lambda x: x.sum(axis=2, keepdims=True).sum(axis=0, keepdims=True), grad=(0,), name="keepdims",
        rtol=1e-13, atol=1e-15),
    Row("reduce_mean", lambda x: gc.reduce_mean(x, axis=(0, 2), keepdims=True), [normal(2, 3, 4)],
        lambda x: x.sum(axis=(0, 2), keepdims=True) / 8.0, grad=(0,), second=True, rtol=1e-13,
        atol=1e-15),
    Row("reduce_mean", lambda x: gc.reduce_mean(x, axis=0), [normal(5, 3)],
        lambda x: x.sum(axis=0) / x.shape[0], grad=(0,), second=True, shapes=((None, 3),),
        name="run_time_count", rtol=1e-13, atol=1e-15),
    Row("reduced_count", lambda x: apply("reduced_count", [x], axis=(0, 2)), [normal(4, 3, 5)],
        lambda x: np.float64(20.0), shapes=((None, 3, None),)),
    Row("reduce_max", lambda x: gc.reduce_max(x, axis=0), [MAX_X],
        lambda x: np.where(x[0] > x[1], x[0], x[1]), grad=(0,), second=True),
    Row("reduce_min", lambda x: gc.reduce_min(x), [MAX_X], lambda x: np.float64(-1.0), grad=(0,),
        second=True),
    Row("reduce_prod", lambda x: gc.reduce_prod(x, axis=1), [uniform(0.5, 1.5, 3, 4)],
        lambda x: x[:, 0] * x[:, 1] * x[:, 2] * x[:, 3], grad=(0,), second=True, rtol=1e-14),
    Row("reduce_prod", lambda x: gc.reduce_prod(x, axis=1),
        [np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 0.5]])],
        lambda x: np.array([0.0, 0.0, 1.0]), grad=(0,), second=True, name="zeros", float32=False),
    Row("reduce_prod", lambda x: gc.reduce_prod(x, axis=1),
        [np.array([[0.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.5, 2.0]])],
        lambda x: np.zeros(3), grad=(0,), second=True, name="three_or_four_zeros", float32=False),
    Row("argmax", lambda x: gc.argmax(x, axis=1), [np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.0]])],
        lambda x: np.array([1, 0])),
    Row("argmin", lambda x: gc.argmin(x, axis=0), [np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 3.0]])],
        lambda x: np.array([0, 1, 0])),
    # random ops: no reference value (tests/ops/test_ops.py checks their statistics and seeding)
    Row("random_uniform", lambda: gc.random.uniform((3, 4), 2.0, 5.0, dtype="float64", seed=1), []),
    Row("random_normal", lambda: gc.random.normal((3, 4), 1.0, 2.0, seed=2), []),
    Row("random_uniform_like", lambda x: gc.random.uniform_like(x, seed=3), [normal(5, 2)],
        shapes=((None, 2),)),
    Row("random_normal_like", lambda x: gc.random.normal_like(x, dtype="float32", seed=4),
        [normal(5, 2)], shapes=((None, 2),)),
    # convolution and pooling: simple value rows here; tests/ops/test_conv.py owns the rest
    Row("conv2d", lambda x, w: gc.nn.conv2d(x, w, strides=1, padding=1),
        [normal(1, 4, 4, 2), normal(2, 2, 2, 3)], lambda x, w: ref_conv2d(x, w, 1, 1), grad=(0, 1),
        second=True, rtol=1e-12, atol=1e-13),
    Row("conv2d", lambda x, w: gc.nn.conv2d(x, w, strides=2), [normal(2, 5, 5, 1), normal(3, 3, 1, 2)],
        lambda x, w: ref_conv2d(x, w, 2, 0), grad=(0, 1), second=True, name="stride2", rtol=1e-12,
        atol=1e-13),
    Row("conv2d", lambda x, w: gc.nn.conv2d(x, w, padding=1, dilations=2),
        [normal(1, 5, 6, 2), normal(2, 3, 2, 2)], lambda x, w: ref_conv2d_dilated_grouped(x, w, 2, 1, pad=1),
        grad=(0, 1), second=True, name="dilated", rtol=1e-12, atol=1e-13),
    Row("conv2d", lambda x, w: gc.nn.conv2d(x, w, groups=2), [normal(2, 4, 4, 4), normal(2, 2, 2, 4)],
        lambda x, w: ref_conv2d_dilated_grouped(x, w, 1, 2), grad=(0, 1), second=True, name="groups",
        rtol=1e-12, atol=1e-13),
    Row("conv2d", lambda x, w: gc.nn.conv2d(x, w, dilations=2, groups=3), [normal(1, 5, 5, 3), normal(2, 2, 1, 6)],
        lambda x, w: ref_conv2d_dilated_grouped(x, w, 2, 3), grad=(0, 1), second=True, name="depthwise",
        rtol=1e-12, atol=1e-13),
    # conv2d + per-channel bias, the op the conv_bias pass makes
    Row("conv2d_bias", lambda x, w, b: apply("conv2d_bias", [x, w, b], strides=(1, 1), pads=((1, 1), (1, 1)),
                                             dilations=(1, 1), groups=1),
        [normal(2, 4, 4, 2), normal(2, 2, 2, 3), normal(3)], lambda x, w, b: ref_conv2d(x, w, 1, 1) + b,
        grad=(0, 1, 2), second=True, rtol=1e-12, atol=1e-13),
    Row("conv2d_bias", lambda x, w, b: apply("conv2d_bias", [x, w, b], strides=(1, 1), pads=((0, 0), (0, 0)),
                                             dilations=(2, 2), groups=2),
        [normal(1, 5, 5, 4), normal(2, 2, 2, 4), normal(1, 1, 1, 4)],
        lambda x, w, b: ref_conv2d_dilated_grouped(x, w, 2, 2) + b, grad=(0, 1, 2), second=True,
        name="grouped", rtol=1e-12, atol=1e-13),
    # distinct values (spaced 0.3 apart, jittered): no ties inside a window
    Row("max_pool2d", lambda x: gc.nn.max_pool2d(x, 2),
        [np.arange(32.0).reshape(1, 4, 4, 2)[..., ::-1] * 0.3 + normal(1, 4, 4, 2) * 0.01],
        lambda x: ref_pool(x, 2, np.max), grad=(0,), second=True),
    Row("avg_pool2d", lambda x: gc.nn.avg_pool2d(x, 2), [normal(2, 4, 4, 3)],
        lambda x: ref_pool(x, 2, np.mean), grad=(0,), second=True, rtol=1e-13, atol=1e-15),
    Row("softmax_cross_entropy", gc.nn.softmax_cross_entropy_with_logits,
        [uniform(0.0, 1.0, 2, 3), X23 * 3],
        lambda y, z: -(y * (z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))).sum(axis=-1),
        grad=(0, 1), second=True, rtol=1e-13, atol=1e-14),
] + [
    Row(op, None, covered_by="tests/ops/test_conv.py")
    for op in ("conv2d_backprop_input", "conv2d_backprop_filter", "max_pool2d_grad",
               "max_pool2d_select", "avg_pool2d_grad")
]

# Public functions built from several ops (not ops themselves): the same checks apply.
COMPOSITES: list[Row] = [
    Row("nn.softmax", lambda x: gc.nn.softmax(x, axis=-1), [X23 * 3],
        lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True), grad=(0,), second=True,
        rtol=1e-13, atol=1e-15),
    Row("nn.softmax", lambda x: gc.nn.softmax(x, axis=0), [normal(3, 2) * 3],
        lambda x: np.exp(x) / np.exp(x).sum(axis=0, keepdims=True), grad=(0,), name="axis0",
        rtol=1e-13, atol=1e-15),
    Row("nn.log_softmax", gc.nn.log_softmax, [X23 * 3],
        lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True)), grad=(0,), second=True,
        rtol=1e-13, atol=1e-14),
    Row("logsumexp", lambda x: gc.logsumexp(x, axis=1), [X23 * 3],
        lambda x: np.log(np.exp(x).sum(axis=1)), grad=(0,), second=True, rtol=1e-13),
    Row("nn.maxout", lambda x: gc.nn.maxout(x, 2), [normal(3, 4)],
        lambda x: np.maximum(x[:, [0, 2]], x[:, [1, 3]]), grad=(0,)),
    Row("nn.prelu", gc.nn.prelu, [away_from_zero(2, 3), uniform(0.1, 0.3, 3)],
        lambda x, a: np.where(x > 0, x, a * x), grad=(0, 1)),
    Row("nn.batch_norm", lambda x, mu, var, b, s: gc.nn.batch_norm(x, mu, var, b, s, epsilon=1e-3),
        [normal(4, 3), normal(3), uniform(0.5, 2.0, 3), normal(3), normal(3)],
        lambda x, mu, var, b, s: (x - mu) / np.sqrt(var + 1e-3) * s + b, grad=(0, 1, 2, 3, 4),
        second=True, rtol=1e-13, atol=1e-14),
    Row("clip", lambda x: gc.clip(x, -0.5, 0.8), [np.array([[-1.0, -0.3, 0.2], [0.7, 1.5, 0.0]])],
        lambda x: np.minimum(np.maximum(x, -0.5), 0.8), grad=(0,)),
    Row("linalg.norm", gc.linalg.norm, [normal(3, 4)], lambda x: math.sqrt((x * x).sum()), grad=(0,),
        second=True, rtol=1e-14),
    Row("zeros", lambda: gc.zeros((2, 2), dtype="int32"), [], lambda: np.zeros((2, 2), np.int32)),
    Row("ones_like", lambda x: gc.ones_like(x), [X23], lambda x: np.ones_like(x)),
    Row("stack", lambda a, b: gc.stack([a, b], axis=1), [normal(2, 3), normal(2, 3)],
        lambda a, b: np.stack([a, b], axis=1), grad=(0, 1)),
]
