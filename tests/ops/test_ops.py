"""Table-driven op tests over the registry (tests/op_table.py), plus the semantics a table row
cannot express: broadcasting adjoints, TensorFlow's choices at non-differentiable points,
random ops, basic indexing and linear algebra."""
from __future__ import annotations

import pathlib
import zlib

import numpy as np
import pytest

import graphc as gc
from graphc.ir.graph import topological_order
from graphc.ir.opdef import OPS
from tests.op_table import COMPOSITES, ROWS, Row

ROOT = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
ALL = ROWS + COMPOSITES
LOCAL = [r for r in ALL if r.covered_by is None]
GRAD_ROWS = [r for r in LOCAL if r.grad]
SECOND_ROWS = [r for r in LOCAL if r.second]
VALUE_ROWS = [r for r in LOCAL if r.ref is not None]
F32_ROWS = [r for r in VALUE_ROWS if r.float32 and any(np.asarray(a).dtype == np.float64 for a in r.inputs)]


def ids(rows):
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        n = seen[r.id] = seen.get(r.id, 0) + 1
        out.append(r.id if n == 1 else f"{r.id}#{n}")
    return out


# -- helpers ---------------------------------------------------------------------------------

def build(row: Row, inputs=None):
    """Placeholders for the row's inputs (shapes from the row), and the output tensor."""
    inputs = row.inputs if inputs is None else inputs
    ps = [gc.placeholder(shape, dtype=np.asarray(a).dtype, name=f"in{i}")
          for i, (shape, a) in enumerate(zip(row.placeholder_shapes(), inputs))]
    return ps, row.build(*ps)


def weights(shape, salt: str, lo=0.5, hi=1.5):
    """A fixed, row-specific random weighting: every output element matters, none equally."""
    rng = np.random.default_rng(zlib.crc32(salt.encode()))
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def scalar_objective(out, value, salt):
    """y = reduce_sum(out * W) with a constant W shaped like the computed value."""
    w = gc.constant(weights(np.shape(value), salt))
    return gc.reduce_sum(out * w)


def assert_value(got, expected, rtol, atol):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != reference {expected.shape}"
    if got.dtype.kind in "biu" and expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def assert_static_shape(static, concrete):
    assert len(static) == len(concrete), f"static shape {static} vs computed {concrete}"
    for d, s in zip(static, concrete):
        assert d is None or d == s, f"static shape {static} vs computed {concrete}"
    if all(d is not None for d in static):
        assert tuple(static) == tuple(concrete)


# -- coverage ----------------------------------------------------------------------------------

def test_every_op_has_a_row():
    covered = {r.op for r in ROWS}
    missing = sorted(set(OPS) - covered)
    assert not missing, f"ops registered without a row in tests/op_table.py: {missing}"


def test_every_row_names_a_registered_op():
    unknown = sorted({r.op for r in ROWS} - set(OPS))
    assert not unknown, f"rows for ops that are not registered: {unknown}"


@pytest.mark.parametrize("row", [r for r in ROWS if r.covered_by], ids=lambda r: r.id)
def test_delegated_rows_are_tested_elsewhere(row):
    path = ROOT / row.covered_by
    assert path.exists(), f"{row.op}: {row.covered_by} does not exist"
    assert row.op in path.read_text(), f"{row.covered_by} never mentions {row.op}"


def test_differentiable_ops_have_gradient_rows():
    """Every op with a gradient rule that is not a pure zero gets its gradient checked."""
    zero_grad = {"sign", "step", "stop_gradient", "logical_not", "argmax", "argmin", "one_hot",
                 "reduced_count", "fill_like", "random_uniform_like", "random_normal_like"}
    checked = {r.op for r in ROWS if r.grad or r.covered_by}
    missing = sorted(op for op, od in OPS.items() if od.grad is not None and op not in checked | zero_grad)
    assert not missing, f"ops with a gradient rule but no gradient-checked row: {missing}"


# -- per row: shape, dtype, value, optimized == unoptimized ------------------------------------

@pytest.mark.parametrize("row", LOCAL, ids=ids(LOCAL))
def test_op_value(row):
    ps, out = build(row)
    if row in ROWS:
        assert row.op in {n.op for n in topological_order([out])}, f"the row does not build {row.op}"
    got = gc.function(ps, out)(*row.inputs)
    assert isinstance(got, np.ndarray)
    assert_static_shape(out.shape, got.shape)
    assert got.dtype == out.dtype, f"static dtype {out.dtype}, computed {got.dtype}"
    if row.ref is not None:
        assert_value(got, row.ref(*row.inputs), row.rtol, row.atol)
    # the pass pipeline must not change what is computed (random rows are seeded)
    unoptimized = gc.function(ps, out, optimize=False)(*row.inputs)
    assert unoptimized.dtype == got.dtype
    if row.ref is not None:
        assert_value(unoptimized, row.ref(*row.inputs), row.rtol, row.atol)
    if got.dtype.kind in "biu" or out.op.startswith("random"):
        np.testing.assert_array_equal(unoptimized, got)
    else:
        np.testing.assert_allclose(unoptimized, got, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("row", VALUE_ROWS, ids=ids(VALUE_ROWS))
def test_op_constant_folded(row):
    """The row built over constants: the constant folder evaluates it (the op's ``impl``)."""
    out = row.build(*[gc.constant(a) for a in row.inputs])
    folded = gc.optimize(out)
    assert folded.op == "constant", f"not folded to a constant: {folded.op}"
    got = gc.function([], out)()
    assert got.dtype == out.dtype
    assert_value(got, row.ref(*row.inputs), row.rtol, row.atol)


@pytest.mark.parametrize("expr", [
    lambda x: x * 1.0, lambda x: 1.0 * x, lambda x: x + 0.0, lambda x: 0.0 + x, lambda x: x - 0.0,
    lambda x: x / 1.0, lambda x: x * -1.0, lambda x: 0.0 - x, lambda x: x * np.ones(3),
    lambda x: (x + 0.0) * 1.0 - 0.0,
], ids=["x*1", "1*x", "x+0", "0+x", "x-0", "x/1", "x*-1", "0-x", "x*ones", "chain"])
def test_identity_constants_compile(expr):
    # the simplifier once crashed on these (it took a Tensor's truth value)
    x = gc.placeholder((3,), "float64", name="x")
    xv = np.array([0.5, -1.5, 2.0])
    out = expr(x)
    np.testing.assert_array_equal(gc.function([x], out)(xv), expr(xv))
    np.testing.assert_array_equal(gc.function([x], out, optimize=False)(xv), expr(xv))


@pytest.mark.parametrize("row", F32_ROWS, ids=ids(F32_ROWS))
def test_op_float32(row):
    """The same row fed float32: dtype inference matches what runs, floats stay float32."""
    inputs = [a.astype(np.float32) if np.asarray(a).dtype == np.float64 else a for a in row.inputs]
    ps, out = build(row, inputs)
    got = gc.function(ps, out)(*inputs)
    assert got.dtype == out.dtype, f"static dtype {out.dtype}, computed {got.dtype}"
    if out.dtype.kind == "f" and row.op != "fill_like":
        assert out.dtype == np.float32, f"float32 inputs gave {out.dtype}"
    expected = row.ref(*[np.asarray(a, dtype=np.float64) if np.asarray(a).dtype == np.float32 else a
                         for a in inputs])
    assert_value(got, expected, 2e-5, 1e-5)


# -- per row: gradients --------------------------------------------------------------------------

@pytest.mark.parametrize("row", GRAD_ROWS, ids=ids(GRAD_ROWS))
def test_op_gradient(row):
    ps, out = build(row)
    value = gc.function(ps, out)(*row.inputs)
    y = scalar_objective(out, value, row.id)
    xs = [ps[i] for i in row.grad]
    grads = gc.grad(y, xs)
    for x, g in zip(xs, grads):
        assert g.ndim == x.ndim and all(a is None or b is None or a == b for a, b in zip(g.shape, x.shape))
        assert g.dtype == x.dtype
    feed = dict(zip(ps, row.inputs))
    computed = gc.function(ps, grads)(*row.inputs)
    for x, g in zip(xs, computed):
        assert g.shape == feed[x].shape and g.dtype == x.dtype
    gc.check_grad(y, xs, feed, rtol=row.grad_rtol, atol=row.grad_atol)


F32_GRAD_ROWS = [r for r in GRAD_ROWS if r in F32_ROWS]


@pytest.mark.parametrize("row", F32_GRAD_ROWS, ids=ids(F32_GRAD_ROWS))
def test_op_gradient_float32(row):
    """Gradient rules keep float32 graphs in float32 (no float64 constant leaks in) and agree
    with the float64 gradient."""
    inputs32 = [a.astype(np.float32) if np.asarray(a).dtype == np.float64 else a for a in row.inputs]
    ps, out = build(row, inputs32)
    value = gc.function(ps, out)(*inputs32)
    w = weights(np.shape(value), row.id).astype(np.float32)
    y = gc.reduce_sum(out * gc.constant(w))
    assert y.dtype == np.float32
    xs = [ps[i] for i in row.grad]
    grads = gc.grad(y, xs)
    leaks = sorted({f"{n.op} {n.name}" for n in topological_order(grads) if n.dtype == np.float64})
    assert not leaks, f"float64 nodes in a float32 gradient graph: {leaks}"
    got = gc.function(ps, grads)(*inputs32)
    ps64, out64 = build(row)
    y64 = gc.reduce_sum(out64 * gc.constant(w.astype(np.float64)))
    expected = gc.function(ps64, gc.grad(y64, [ps64[i] for i in row.grad]))(*row.inputs)
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("row", [
    pytest.param(r, marks=pytest.mark.xfail(reason=r.known_bug, strict=True)) if r.known_bug else r
    for r in SECOND_ROWS], ids=ids(SECOND_ROWS))
def test_op_second_derivative(row):
    """The gradient graph differentiated again, against finite differences of the gradient."""
    ps, out = build(row)
    value = gc.function(ps, out)(*row.inputs)
    y = scalar_objective(out, value, row.id)
    xs = [ps[i] for i in row.grad]
    grads = gc.grad(y, xs)
    z = None
    for k, (x, g) in enumerate(zip(xs, grads)):
        term = gc.reduce_sum(g * gc.constant(weights(np.shape(row.inputs[row.grad[k]]), f"{row.id}/{k}")))
        z = term if z is None else z + term
    gc.check_grad(z, xs, dict(zip(ps, row.inputs)), rtol=1e-4, atol=1e-5)


def test_hessian_of_logsumexp():
    x = gc.placeholder((4,), "float64", name="x")
    h = gc.hessian(gc.logsumexp(x), x)
    assert h.shape == (4, 4)
    xv = np.array([0.3, -1.2, 0.8, 0.1])
    got = gc.function([x], h)(xv)
    p = np.exp(xv) / np.exp(xv).sum()
    np.testing.assert_allclose(got, np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-14)
    # and against finite differences of the compiled gradient
    g = gc.function([x], gc.grad(gc.logsumexp(x), x))
    eps = 1e-5
    numeric = np.stack([(g(xv + eps * e) - g(xv - eps * e)) / (2 * eps) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(got, numeric, atol=1e-8)


def test_jacobian_matches_elementwise_derivative():
    x = gc.placeholder((3,), "float64", name="x")
    j = gc.jacobian(gc.tanh(x) * 2.0, x)
    xv = np.array([0.1, -0.5, 1.0])
    np.testing.assert_allclose(gc.function([x], j)(xv), np.diag(2 * (1 - np.tanh(xv) ** 2)), rtol=1e-13)


def test_stop_gradient_blocks_the_gradient():
    x = gc.placeholder((3,), "float64", name="x")
    y = gc.reduce_sum(gc.stop_gradient(x) * x)
    xv = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(gc.function([x], gc.grad(y, x))(xv), xv)


def test_grad_of_unrelated_input_is_zero():
    x = gc.placeholder((2, 3), "float64", name="x")
    u = gc.placeholder((4,), "float64", name="u")
    gx, gu = gc.grad(gc.reduce_sum(gc.exp(x)), [x, u])
    assert gu.shape == (4,)
    np.testing.assert_array_equal(gc.function([x, u], gu)(np.ones((2, 3)), np.ones(4)), np.zeros(4))


# -- broadcasting adjoints and run-time sizes -----------------------------------------------------

def test_broadcast_gradient_shapes():
    x = gc.placeholder((3, 1), "float64", name="x")
    y = gc.placeholder((4,), "float64", name="y")
    w = weights((3, 4), "bcast")
    loss = gc.reduce_sum((x + y) * gc.constant(w))
    gx, gy = gc.grad(loss, [x, y])
    assert gx.shape == (3, 1) and gy.shape == (4,)
    vx, vy = gc.function([x, y], [gx, gy])(np.ones((3, 1)), np.ones(4))
    np.testing.assert_allclose(vx, w.sum(axis=1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(vy, w.sum(axis=0), rtol=1e-13)
    loss2 = gc.reduce_sum(x * y * gc.constant(w))
    gc.check_grad(loss2, [x, y], {x: np.array([[0.5], [-1.0], [2.0]]), y: np.array([1.0, 2.0, -0.5, 0.3])})


def test_unknown_batch_size_specializes_per_shape():
    x = gc.placeholder((None, 3), "float64", name="x")
    b = gc.placeholder((3,), "float64", name="b")
    loss = gc.reduce_sum(gc.tanh(x * b + b))
    gx, gb = gc.grad(loss, [x, b])
    assert gx.shape == (None, 3) and gb.shape == (3,)
    f = gc.function([x, b], [loss, gx, gb])
    bv = np.array([0.5, -1.0, 2.0])
    for batch in (1, 5, 1):
        xv = np.linspace(-1, 1, batch * 3).reshape(batch, 3)
        lv, gxv, gbv = f(xv, bv)
        d = 1 - np.tanh(xv * bv + bv) ** 2
        assert gxv.shape == (batch, 3) and gbv.shape == (3,)
        np.testing.assert_allclose(lv, np.tanh(xv * bv + bv).sum(), rtol=1e-13)
        np.testing.assert_allclose(gxv, d * bv, rtol=1e-13)
        np.testing.assert_allclose(gbv, (d * (xv + 1)).sum(axis=0), rtol=1e-13)
        assert [p.shape for p in f.graph.placeholders() if p.name == "x"] == [(batch, 3)]
        gc.check_grad(loss, [x, b], {x: xv, b: bv})


def test_run_time_sizes_through_mean_and_broadcast():
    x = gc.placeholder((None, 2), "float64", name="x")
    centered = x - gc.reduce_mean(x, axis=0, keepdims=True)
    loss = gc.reduce_sum(centered * centered * gc.constant(np.array([1.0, 3.0])))
    for batch in (2, 7):
        xv = np.random.default_rng(batch).standard_normal((batch, 2))
        gc.check_grad(loss, x, {x: xv})


def test_ones_like_of_run_time_shape_is_differentiable():
    x = gc.placeholder((None, 3), "float64", name="x")
    loss = gc.reduce_sum(x * gc.ones_like(x) * 2.0)
    g = gc.function([x], gc.grad(loss, x))(np.ones((4, 3)))
    np.testing.assert_array_equal(g, np.full((4, 3), 2.0))


# -- non-differentiable points follow TensorFlow ---------------------------------------------------

def _grad_at(build, *values):
    ps = [gc.placeholder(np.shape(v), "float64", name=f"p{i}") for i, v in enumerate(values)]
    grads = gc.grad(gc.reduce_sum(build(*ps)), ps)
    return gc.function(ps, grads)(*[np.asarray(v, dtype=np.float64) for v in values])


def test_kinks_follow_tensorflow():
    x = np.array([-1.0, 0.0, 2.0])
    (g,) = _grad_at(gc.relu, x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])           # relu'(0) = 0
    (g,) = _grad_at(gc.nn.step, x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])           # step' = 0
    (g,) = _grad_at(gc.abs, x)
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])          # abs'(0) = 0
    (g,) = _grad_at(gc.sign, x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    (g,) = _grad_at(lambda t: gc.nn.leaky_relu(t, 0.1), x)
    np.testing.assert_allclose(g, [0.1, 0.1, 1.0])              # x > 0 ? 1 : alpha
    (g,) = _grad_at(gc.sqrt, np.array([4.0]))
    np.testing.assert_allclose(g, [0.25])


def test_maximum_minimum_ties_go_to_the_first_argument():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    gx, gy = _grad_at(gc.maximum, x, y)
    np.testing.assert_array_equal(gx, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.0, 1.0, 0.0])
    gx, gy = _grad_at(gc.minimum, x, y)
    np.testing.assert_array_equal(gx, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, 1.0])


def test_clip_passes_gradient_on_the_closed_interval():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    (g,) = _grad_at(lambda t: gc.clip(t, -1.0, 1.0), x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_reduce_max_min_split_ties_evenly():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    (g,) = _grad_at(lambda t: gc.reduce_max(t, axis=1), x)
    np.testing.assert_allclose(g, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    (g,) = _grad_at(lambda t: gc.reduce_min(t), np.array([[1.0, 3.0], [1.0, 2.0]]))
    np.testing.assert_allclose(g, [[0.5, 0.0], [0.5, 0.0]])


def test_pow_at_zero_base():
    # d/dy x**y at x == 0 is taken as 0 (TensorFlow), d/dx 0**2 = 0
    gx, gy = _grad_at(lambda a, b: a ** b, np.array([0.0, 2.0]), np.array([2.0, 3.0]))
    np.testing.assert_allclose(gx, [0.0, 12.0])
    np.testing.assert_allclose(gy, [0.0, 8.0 * np.log(2.0)])


def test_reduce_prod_gradient_with_zeros():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 0.5]])
    (g,) = _grad_at(lambda t: gc.reduce_prod(t, axis=1), x)
    np.testing.assert_allclose(g, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.5, 2.0]])


# -- random ops --------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: gc.random.uniform((4,)),
    lambda: gc.random.normal((4,)),
    lambda: gc.random.uniform_like(gc.zeros((4,))),
], ids=["uniform", "normal", "uniform_like"])
def test_random_fresh_sample_per_call(make):
    f = gc.function([], make())
    a, b = f(), f()
    assert a.shape == (4,) and not np.array_equal(a, b)


def test_random_same_seed_same_sequence():
    def draws(optimize):
        f = gc.function([], [gc.random.normal((5,), seed=7), gc.random.uniform((2, 2), seed=8)],
                        optimize=optimize)
        return [f() for _ in range(3)]
    first, second, third = draws(True), draws(True), draws(False)
    for a, b, c in zip(first, second, third):
        for u, v, w in zip(a, b, c):
            np.testing.assert_array_equal(u, v)
            np.testing.assert_array_equal(u, w)
    assert not np.array_equal(first[0][0], first[1][0])
    other = gc.function([], gc.random.normal((5,), seed=9))()
    assert not np.array_equal(other, first[0][0])


def test_random_draws_are_not_merged():
    # identical attributes, one graph: two independent draws (CSE must not merge them)
    u, v = gc.random.uniform((6,)), gc.random.uniform((6,))
    a, b = gc.function([], [u, v])()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_statistics_and_dtype(dtype):
    n = 100_000
    u = gc.random.uniform((n,), minval=2.0, maxval=5.0, dtype=dtype, seed=0)
    z = gc.random.normal((n,), mean=1.0, stddev=2.0, dtype=dtype, seed=1)
    x = gc.placeholder((None, 2), dtype, name="x")
    ul = gc.random.uniform_like(x, seed=2)
    zl = gc.random.normal_like(x, seed=3)
    assert u.dtype == z.dtype == ul.dtype == zl.dtype == np.dtype(dtype)
    uv, zv, ulv, zlv = gc.function([x], [u, z, ul, zl])(np.zeros((n // 2, 2), dtype))
    for v in (uv, zv, ulv, zlv):
        assert v.dtype == np.dtype(dtype)
    assert uv.min() >= 2.0 and uv.max() < 5.0
    assert abs(uv.mean() - 3.5) < 0.02 and abs(uv.std() - 3 / np.sqrt(12)) < 0.02
    assert abs(zv.mean() - 1.0) < 0.03 and abs(zv.std() - 2.0) < 0.03
    assert ulv.shape == (n // 2, 2) and abs(ulv.mean() - 0.5) < 0.01
    assert zlv.shape == (n // 2, 2) and abs(zlv.mean()) < 0.02 and abs(zlv.std() - 1.0) < 0.02


def test_random_default_dtype_is_float32():
    assert gc.random.uniform((2,)).dtype == np.float32
    assert gc.random.normal((2,)).dtype == np.float32


def test_dropout():
    x = gc.placeholder((None, 100), "float64", name="x")
    f = gc.function([x], gc.nn.dropout(x, 0.25, seed=0))
    out = f(np.ones((200, 100)))
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    assert not np.array_equal(f(np.ones((200, 100))), out)
    assert gc.nn.dropout(x, 0.5, training=False) is x
    # the gradient flows through the kept elements only, scaled
    y = gc.reduce_sum(gc.nn.dropout(x, 0.5, seed=3) * 3.0)
    g = gc.function([x], gc.grad(y, x))(np.ones((4, 100)))
    assert set(np.unique(g)) <= {0.0, 6.0}


# -- basic indexing ------------------------------------------------------------------------------------

GETITEM_CASES = [
    (1,), (-1,), (1, 2), (-2, -1, 0), (slice(1, 4),), (slice(None, None, 2),),
    (slice(None, None, -1),), (slice(4, 0, -2), slice(1, None, 3)), (slice(-3, None),),
    (None,), (None, 1), (1, None, slice(None, None, 2)), (Ellipsis, 0), (Ellipsis, None),
    (0, Ellipsis, slice(1, 3)), (slice(None), None, -1, Ellipsis), (Ellipsis,),
    (slice(10, 20),),
]


@pytest.mark.parametrize("index", GETITEM_CASES, ids=repr)
def test_getitem_matches_numpy(index):
    xv = np.random.default_rng(0).standard_normal((4, 5, 6))
    x = gc.placeholder((4, 5, 6), "float64", name="x")
    out = x[index]
    expected = xv[index]
    assert out.shape == expected.shape
    got = gc.function([x], out)(xv)
    np.testing.assert_array_equal(got, expected)
    if expected.size:
        loss = gc.reduce_sum(out * gc.constant(weights(expected.shape, repr(index))))
        gc.check_grad(loss, x, {x: xv})


def test_getitem_with_unknown_dims():
    x = gc.placeholder((None, 5), "float64", name="x")
    out = x[1:, ::-2]
    assert out.shape == (None, 3)
    xv = np.arange(20.0).reshape(4, 5)
    np.testing.assert_array_equal(gc.function([x], out)(xv), xv[1:, ::-2])
    gc.check_grad(gc.reduce_sum(out * out), x, {x: xv})


def test_getitem_twice_accumulates_gradient():
    x = gc.placeholder((3,), "float64", name="x")
    loss = x[0] * x[0] + x[-1] * 3.0 + x[0]
    g = gc.function([x], gc.grad(loss, x))(np.array([2.0, 5.0, 7.0]))
    np.testing.assert_array_equal(g, [5.0, 0.0, 3.0])


def test_tensor_iteration_and_len():
    x = gc.placeholder((3, 2), "float64", name="x")
    assert len(x) == 3
    parts = list(x)
    assert len(parts) == 3 and parts[0].shape == (2,)


# -- linear algebra ----------------------------------------------------------------------------------

MATMUL_CASES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
                ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (3, 3, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("sa,sb", MATMUL_CASES, ids=[f"{a}@{b}" for a, b in MATMUL_CASES])
def test_matmul_like_numpy(sa, sb):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    av, bv = rng.standard_normal(sa), rng.standard_normal(sb)
    a, b = gc.placeholder(sa, "float64", name="a"), gc.placeholder(sb, "float64", name="b")
    out = gc.matmul(a, b)
    expected = np.matmul(av, bv)
    assert out.shape == expected.shape
    np.testing.assert_allclose(gc.function([a, b], out)(av, bv), expected, rtol=1e-12, atol=1e-14)
    loss = gc.reduce_sum(out * gc.constant(weights(expected.shape, f"{sa}{sb}")))
    gc.check_grad(loss, [a, b], {a: av, b: bv})


def test_matmul_with_unknown_batch():
    a = gc.placeholder((None, 3), "float64", name="a")
    w = gc.placeholder((3, 2), "float64", name="w")
    out = a @ w
    assert out.shape == (None, 2)
    av, wv = np.arange(12.0).reshape(4, 3) / 10, np.ones((3, 2)) / 3
    np.testing.assert_allclose(gc.function([a, w], out)(av, wv), av @ wv, rtol=1e-14)
    gc.check_grad(gc.reduce_sum(gc.tanh(out)), [a, w], {a: av, w: wv})


@pytest.mark.parametrize("shape", [(3, 2), (2, 3), (2, 3, 2)], ids=str)
def test_pinv_gradient(shape):
    av = np.random.default_rng(sum(shape)).standard_normal(shape) + np.eye(*shape[-2:])
    a = gc.placeholder(shape, "float64", name="a")
    p = gc.linalg.pinv(a)
    assert p.shape == shape[:-2] + (shape[-1], shape[-2])
    np.testing.assert_allclose(gc.function([a], p)(av), np.linalg.pinv(av), rtol=1e-10, atol=1e-12)
    loss = gc.reduce_sum(p * gc.constant(weights(p.shape, f"pinv{shape}")))
    gc.check_grad(loss, a, {a: av})


def test_inv_gradient_batched():
    av = np.random.default_rng(5).standard_normal((2, 3, 3)) * 0.3 + 2 * np.eye(3)
    a = gc.placeholder((2, 3, 3), "float64", name="a")
    out = gc.linalg.inv(a)
    np.testing.assert_allclose(gc.function([a], out)(av), np.linalg.inv(av), rtol=1e-12, atol=1e-14)
    gc.check_grad(gc.reduce_sum(out * gc.constant(weights((2, 3, 3), "inv"))), a, {a: av})
    # A^-1 A = I through the compiled graph
    np.testing.assert_allclose(gc.function([a], out @ a)(av), np.broadcast_to(np.eye(3), (2, 3, 3)),
                               atol=1e-13)


VECTOR_ORDS = [None, 1, 2, np.inf, -np.inf, 0, 3, 0.5]
MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf]


@pytest.mark.parametrize("ord", VECTOR_ORDS, ids=str)
def test_vector_norm(ord):
    xv = np.array([0.5, -2.0, 1.5, 0.0, -0.7])
    x = gc.placeholder((5,), "float64", name="x")
    out = gc.linalg.norm(x, ord=ord)
    assert out.shape == ()
    np.testing.assert_allclose(gc.function([x], out)(xv), np.linalg.norm(xv, ord=ord), rtol=1e-13)
    if ord != 0:
        xg = xv + np.array([0, 0, 0, 0.3, 0])  # away from the kink of |x| at 0
        gc.check_grad(out, x, {x: xg})


@pytest.mark.parametrize("ord", MATRIX_ORDS, ids=str)
def test_matrix_norm(ord):
    xv = np.array([[0.5, -2.0, 1.5], [0.9, 0.1, -0.7]])
    x = gc.placeholder((2, 3), "float64", name="x")
    out = gc.linalg.norm(x, ord=ord)
    np.testing.assert_allclose(gc.function([x], out)(xv), np.linalg.norm(xv, ord=ord), rtol=1e-13)
    gc.check_grad(out, x, {x: xv})


@pytest.mark.parametrize("ord,axis", [(None, 1), (1, 0), (np.inf, -1), ("fro", (1, 2)), (1, (2, 1)),
                                      (np.inf, (0, 2)), (-1, (1, 0))], ids=str)
def test_norm_axis_and_keepdims(ord, axis):
    xv = np.random.default_rng(3).standard_normal((2, 3, 4))
    x = gc.placeholder((2, 3, 4), "float64", name="x")
    for keepdims in (False, True):
        out = gc.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
        expected = np.linalg.norm(xv, ord=ord, axis=axis, keepdims=keepdims)
        assert out.shape == expected.shape
        np.testing.assert_allclose(gc.function([x], out)(xv), expected, rtol=1e-13)
