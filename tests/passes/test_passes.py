"""The pass pipeline: each pass on its own, the pipeline's report, and equivalence on random graphs."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.ir.graph import Graph
from graphc.passes import cse, dce, fold_constants, simplify


def _ops(graph):
    return graph.op_counts()


def test_pipeline_names_in_order():
    assert gc.passes.names() == ["pool_before_relu", "conv_bias", "fold_constants", "simplify", "cse", "dce",
                                 "fuse_elementwise", "fuse_epilogues", "fuse_reductions"]


def test_fold_constants_evaluates_constant_subgraphs_once():
    x = gc.placeholder((3,), name="x")
    k = gc.exp(gc.constant(np.array([0.0, 1.0, 2.0]))) * 2.0
    g, rep = fold_constants(Graph([x + k]))
    assert _ops(g) == {"placeholder": 1, "constant": 1, "add": 1}
    assert rep.changes["folded exp"] == 1 and rep.changes["folded mul"] == 1
    folded = next(n for n in g.nodes if n.op == "constant").attrs["value"]
    np.testing.assert_allclose(folded, np.exp([0.0, 1.0, 2.0]).astype("float32") * 2, rtol=1e-6)


def test_fold_constants_does_not_blow_up_broadcasts_or_fold_random():
    big = gc.broadcast_to(gc.constant(1.0), (1000, 1000))
    g, _ = fold_constants(Graph([big]))
    assert "broadcast_to" in _ops(g)
    r = gc.random.uniform((2,)) + gc.constant(1.0)
    g, _ = fold_constants(Graph([r]))
    assert "random_uniform" in _ops(g)


@pytest.mark.parametrize("build, expected_ops, rule", [
    (lambda x: x * 1.0, {"placeholder"}, "x * 1 → x"),
    (lambda x: -0.0 + x, {"placeholder"}, "x + (-0) → x"),
    (lambda x: x - 0.0, {"placeholder"}, "x - 0 → x"),
    (lambda x: -0.0 - x, {"placeholder", "neg"}, "(-0) - x → -x"),
    (lambda x: x / 1.0, {"placeholder"}, "x / 1 → x"),
    (lambda x: -(-x), {"placeholder"}, "-(-x) → x"),
    (lambda x: gc.log(gc.exp(x)), {"placeholder", "add"}, "log(exp(x)) → x + 0"),
    (lambda x: gc.log(1.0 + x), {"placeholder", "log1p", "add"}, "log(1 + x) → log1p(x) + 0"),
    (lambda x: gc.exp(x) - 1.0, {"placeholder", "expm1", "add"}, "exp(x) - 1 → expm1(x) + 0"),
    (lambda x: x ** 2.0, {"placeholder", "square"}, "x ** 2 → square(x)"),
    (lambda x: gc.transpose(gc.transpose(gc.reshape(x, (2, 2)), (1, 0)), (1, 0)),
     {"placeholder", "reshape"}, "transpose(transpose(x)) → transpose(x)"),
])
def test_simplify_rules(build, expected_ops, rule):
    x = gc.placeholder((4,), "float64", name="x")
    y = build(x)
    g, rep = simplify(Graph([y]))
    g, _ = fold_constants(g)
    assert set(_ops(g)) - {"constant"} == expected_ops
    assert any(rule in what for what in rep.changes), rep.changes
    xv = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(gc.function([x], g.outputs[0], optimize=False)(xv),
                               gc.function([x], y, optimize=False)(xv), rtol=1e-12)


@pytest.mark.parametrize("build, expected_ops, rule", [
    (lambda x: x + 0, {"placeholder"}, "x + 0 → x"),
    (lambda x: 0 - x, {"placeholder", "neg"}, "0 - x → -x"),
    (lambda x: x - x, {"fill"}, "x - x → 0"),
])
def test_value_identities_apply_to_integers(build, expected_ops, rule):
    x = gc.placeholder((4,), "int32", name="x")
    g, rep = simplify(Graph([build(x)]))
    assert set(_ops(g)) - {"constant"} == expected_ops
    assert rule in rep.changes, rep.changes
    xv = np.array([np.iinfo(np.int32).min, -1, 0, np.iinfo(np.int32).max], np.int32)
    with np.errstate(over="ignore"):
        expected = build(xv)
    out = gc.function([x], build(x))(xv)
    assert out.dtype == np.int32 and np.array_equal(out, expected)


def test_simplify_keeps_inf_and_nan_semantics():
    x = gc.placeholder((2,), "float64", name="x")
    f = gc.function([x], [x * 0.0, x - x, x / x])
    with np.errstate(invalid="ignore"):
        zero_times, minus_self, over_self = f(np.array([np.inf, 1.0]))
    assert np.isnan(zero_times[0]) and np.isnan(minus_self[0]) and np.isnan(over_self[0])


# -- IEEE exactness: every rewrite against NumPy, bit for bit, at the special values ------------

def _specials(dtype):
    info = np.finfo(dtype)
    tiny_sub = info.smallest_subnormal
    values = [-0.0, 0.0, -np.inf, np.inf, np.nan, tiny_sub, -tiny_sub, info.tiny - tiny_sub,
              -(info.tiny - tiny_sub), info.tiny, 1.0, -1.0, 0.5, -2.5, 3.0, info.max, -info.max]
    return np.array(values, dtype=dtype)


def _same_bits(a, b) -> bool:
    """Equal dtype, shape and bits, NaN matching any NaN (its sign and payload are not IEEE's)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    unsigned = f"u{a.dtype.itemsize}"
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(both_nan | (a.view(unsigned) == b.view(unsigned))))


def _mixed_zeros(n, dtype):
    return np.where(np.arange(n) % 2 == 0, 0.0, -0.0).astype(dtype)


# (graph expression, the same expression over NumPy arrays, rules that must fire, rules that
# must not): the optimized function must give NumPy's bits for every pair of special values
EXACT_REWRITES = [
    (lambda x, y: x * 1.0, lambda x, y, t: x * t(1.0), {"x * 1 → x"}, set()),
    (lambda x, y: 1.0 * x, lambda x, y, t: t(1.0) * x, {"x * 1 → x"}, set()),
    (lambda x, y: x / 1.0, lambda x, y, t: x / t(1.0), {"x / 1 → x"}, set()),
    (lambda x, y: x - 0.0, lambda x, y, t: x - t(0.0), {"x - 0 → x"}, set()),
    (lambda x, y: x + -0.0, lambda x, y, t: x + t(-0.0), {"x + (-0) → x"}, set()),
    (lambda x, y: -0.0 + x, lambda x, y, t: t(-0.0) + x, {"x + (-0) → x"}, set()),
    (lambda x, y: -0.0 - x, lambda x, y, t: t(-0.0) - x, {"(-0) - x → -x"}, set()),
    (lambda x, y: x * -1.0, lambda x, y, t: x * t(-1.0), {"x * -1 → -x"}, set()),
    (lambda x, y: -(-x), lambda x, y, t: -(-x), {"-(-x) → x"}, set()),
    (lambda x, y: x ** 1.0, lambda x, y, t: x ** t(1.0), {"x ** 1 → x"}, set()),
    (lambda x, y: x ** 2.0, lambda x, y, t: x ** t(2.0), {"x ** 2 → square(x)"}, set()),
    (lambda x, y: x ** -1.0, lambda x, y, t: x ** t(-1.0), {"x ** -1 → 1 / x"}, set()),
    (lambda x, y: x + (-y), lambda x, y, t: x + (-y), {"x + (-y) → x - y"}, set()),
    (lambda x, y: x - (-y), lambda x, y, t: x - (-y), {"x - (-y) → x + y"}, set()),
    (lambda x, y: gc.stop_gradient(x) * y, lambda x, y, t: x * y,
     {"stop_gradient → identity (it matters only to gc.grad)"}, set()),
    (lambda x, y: x + gc.constant(np.full(x.shape, -0.0, x.dtype)),
     lambda x, y, t: x + np.full(x.shape, -0.0, x.dtype), {"x + (-0) → x"}, set()),
    # not value identities for floats: left as they are
    (lambda x, y: x + 0.0, lambda x, y, t: x + t(0.0), set(), {"x + 0 → x", "x + (-0) → x"}),
    (lambda x, y: 0.0 + x, lambda x, y, t: t(0.0) + x, set(), {"x + 0 → x", "x + (-0) → x"}),
    (lambda x, y: 0.0 - x, lambda x, y, t: t(0.0) - x, set(), {"0 - x → -x", "(-0) - x → -x"}),
    (lambda x, y: x - -0.0, lambda x, y, t: x - t(-0.0), set(), {"x - 0 → x"}),
    (lambda x, y: x * 0.0, lambda x, y, t: x * t(0.0), set(), set()),
    (lambda x, y: x - x, lambda x, y, t: x - x, set(), {"x - x → 0"}),
    (lambda x, y: x / x, lambda x, y, t: x / x, set(), set()),
    (lambda x, y: x ** 0.5, lambda x, y, t: x ** t(0.5), set(), {"x ** 0.5 → sqrt(x)"}),
    (lambda x, y: x ** gc.constant(np.full(x.shape, 0.5, x.dtype)),
     lambda x, y, t: np.power(x, np.full(x.shape, 0.5, x.dtype)), set(), {"uniform full-size operand → scalar"}),
    (lambda x, y: x + gc.constant(_mixed_zeros(x.shape[0], x.dtype)),
     lambda x, y, t: x + _mixed_zeros(x.shape[0], x.dtype), set(), {"uniform full-size operand → scalar"}),
]


def _pairs(dtype):
    """Every (x, y) pair of special values, as two flat arrays."""
    v = _specials(dtype)
    return np.repeat(v, v.size), np.tile(v, v.size)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("build, reference, fires, never", EXACT_REWRITES)
def test_identity_rewrites_keep_ieee_semantics_bit_for_bit(build, reference, fires, never, dtype):
    xv, yv = _pairs(dtype)
    x = gc.placeholder(xv.shape, dtype, name="x")
    y = gc.placeholder(yv.shape, dtype, name="y")
    out = build(x, y)
    _, rep = simplify(Graph([out]))
    assert fires <= set(rep.changes), rep.changes
    assert not never & set(rep.changes), rep.changes
    with np.errstate(all="ignore"):
        expected = reference(xv, yv, np.dtype(dtype).type)
        got = gc.function([x, y], out)(xv, yv)
    bad = [(a, b, c, d) for a, b, c, d in zip(xv, yv, np.ravel(got), np.ravel(expected))
           if not _same_bits(c, d)]
    assert _same_bits(got, expected), f"(x, y, optimized, numpy): {bad[:6]}"


# stability rewrites: bitwise NumPy's own result where that is exact (zeros, infinities, NaN),
# and the accurate value (Python's math, float64) elsewhere, where the literal form rounds
STABILITY_REWRITES = [
    (lambda x: gc.log(1.0 + x), lambda x, t: np.log(t(1.0) + x), math.log1p, "log(1 + x) → log1p(x) + 0"),
    (lambda x: gc.exp(x) - 1.0, lambda x, t: np.exp(x) - t(1.0), math.expm1, "exp(x) - 1 → expm1(x) + 0"),
    (lambda x: gc.log(gc.exp(x)), lambda x, t: np.log(np.exp(x)), lambda v: v, "log(exp(x)) → x + 0"),
    (lambda x: gc.log(gc.sigmoid(x)), lambda x, t: np.log(1 / (1 + np.exp(-x))),
     lambda v: -math.log1p(math.exp(-v)) if v > -30 else v - math.log1p(math.exp(v)),
     "log(sigmoid(x)) → -softplus(-x)"),
    (lambda x: gc.log(1.0 - gc.sigmoid(x)), lambda x, t: np.log(t(1.0) - 1 / (1 + np.exp(-x))),
     lambda v: -math.log1p(math.exp(v)) if v < 30 else -v - math.log1p(math.exp(-v)),
     "log(1 - sigmoid(x)) → -softplus(x)"),
]


def _or_nan(f, v):
    try:
        return f(v)
    except ValueError:  # outside the domain (log1p(-20)): NaN, as NumPy
        return math.nan


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("build, literal, accurate, rule", STABILITY_REWRITES)
def test_stability_rewrites_keep_special_values_and_the_sign_of_zero(build, literal, accurate, rule, dtype):
    t = np.dtype(dtype).type
    special = np.array([-0.0, 0.0, -np.inf, np.inf, np.nan], dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    ordinary = np.array([tiny, -tiny, 1e-30, -1e-30, 1e-6, -0.25, 0.5, 3.0, -20.0, 20.0], dtype)
    x = gc.placeholder((special.size + ordinary.size,), dtype, name="x")
    f = gc.function([x], build(x))
    assert rule in f.explain()
    got = f(np.concatenate([special, ordinary]))
    with np.errstate(all="ignore"):
        assert _same_bits(got[:special.size], literal(special, t))
    want = np.array([_or_nan(accurate, float(v)) for v in ordinary], dtype)
    np.testing.assert_allclose(got[special.size:], want, rtol=4 * np.finfo(dtype).eps, atol=0)


def test_log_softmax_rewrite_gives_log1s_positive_zero():
    z = gc.placeholder((2, 2), "float64", name="z")
    e = gc.exp(z)
    f = gc.function([z], gc.log(e / gc.reduce_sum(e, axis=-1, keepdims=True)))
    assert "log(softmax(x)) → log_softmax(x)" in f.explain()
    zv = np.array([[-0.0, -1e4], [-np.inf, 0.0]])  # the other class underflows: p = 1 exactly
    out = f(zv)
    with np.errstate(all="ignore"):
        literal = np.log(np.exp(zv) / np.exp(zv).sum(-1, keepdims=True))
    assert literal[0, 1] == -np.inf and out[0, 1] == -1e4  # the rewrite's point: no log(0)
    mask = np.array([[True, False], [True, True]])
    assert _same_bits(out[mask], literal[mask]), (out, literal)  # +0, -inf, +0
    assert not np.signbit(out[0, 0])


def test_folding_special_values_is_numpys_arithmetic_bit_for_bit():
    for dtype in ("float32", "float64"):
        xv, yv = _pairs(dtype)
        x, y = gc.constant(xv), gc.constant(yv)
        exprs = [(x + y, np.add), (x - y, np.subtract), (x * y, np.multiply), (x / y, np.divide),
                 (gc.maximum(x, y), np.maximum), (x ** y, np.power)]
        for expr, ufunc in exprs:
            g, rep = fold_constants(Graph([expr]))
            (folded,) = g.outputs
            assert folded.op == "constant"
            with np.errstate(all="ignore"):
                assert _same_bits(folded.attrs["value"], ufunc(xv, yv)), (dtype, ufunc)


def test_mean_rewrite_is_left_to_numpy_for_float16():
    x = gc.placeholder((64, 70), "float16", name="x")
    g, rep = simplify(Graph([gc.reduce_mean(x, axis=1)]))
    assert "reduce_mean → reduce_sum / count" not in rep.changes
    xv = np.random.default_rng(0).uniform(0, 1000, (64, 70)).astype("float16")
    assert _same_bits(gc.function([x], gc.reduce_mean(x, axis=1))(xv), np.mean(xv, axis=1))


def test_simplify_does_not_drop_a_broadcasting_identity():
    x = gc.placeholder((3,), "float64", name="x")
    ones = gc.constant(np.ones((2, 3)))
    g, _ = simplify(Graph([x * ones]))
    assert g.outputs[0].shape == (2, 3)


def test_cse_merges_structurally_equal_nodes():
    x = gc.placeholder((3,), name="x")
    y = gc.sin(x) * gc.sin(x) + gc.sin(x)
    g, rep = cse(Graph([y]))
    assert _ops(g)["sin"] == 1
    assert rep.changes["merged sin"] == 2


def test_dce_drops_no_op_updates_and_unused_nodes():
    w = gc.variable(np.zeros(2), name="w")
    x = gc.placeholder((2,), "float64", name="x")
    g, rep = dce(Graph([x + 1.0], [(w, w)]))
    assert g.updates == ()
    assert "w" not in [n.name for n in g.nodes]
    assert rep.changes["dropped no-op update"] == 1


def test_gc_optimize_returns_tensors_that_compute_the_same():
    x = gc.placeholder((3,), "float64", name="x")
    y = gc.exp(gc.log(gc.exp(x))) * 1.0
    z = gc.optimize(y)
    assert isinstance(z, gc.Tensor) and z.op == "exp"
    zs = gc.optimize([y, y - 0.0], passes=["simplify", "cse"])
    assert zs[0] is zs[1]


def test_explain_lists_every_pass_with_node_counts():
    x = gc.placeholder((3,), name="x")
    f = gc.function([x], gc.grad(gc.reduce_sum(gc.sin(x) * gc.sin(x)), x))
    text = f.explain()
    for name in gc.passes.names():
        assert name in text
    assert "→" in text and "nodes" in text


# -- property test: optimized == unoptimized on random graphs -------------------------------

UNARY = [gc.sin, gc.cos, gc.tanh, gc.sigmoid, gc.neg, gc.square, gc.softplus,
         lambda t: gc.exp(-gc.square(t)), lambda t: gc.log(1.0 + gc.square(t)), gc.abs]
BINARY = [gc.add, gc.sub, gc.mul, gc.maximum, gc.minimum,
          lambda a, b: a / (1.0 + gc.square(b))]


@st.composite
def random_graph(draw):
    n_inputs = draw(st.integers(1, 3))
    xs = [gc.placeholder((3,), "float64", name=f"x{i}") for i in range(n_inputs)]
    pool = list(xs) + [gc.constant(np.array([0.5, -1.0, 2.0])), gc.constant(1.0, dtype="float64"),
                       gc.constant(0.0, dtype="float64")]
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            op = draw(st.sampled_from(UNARY))
            pool.append(op(draw(st.sampled_from(pool))))
        else:
            op = draw(st.sampled_from(BINARY))
            pool.append(op(draw(st.sampled_from(pool)), draw(st.sampled_from(pool))))
    outs = draw(st.lists(st.sampled_from(pool[n_inputs:]), min_size=1, max_size=3))
    return xs, outs


@settings(max_examples=60, deadline=None)
@given(random_graph(), st.integers(0, 2**31 - 1))
def test_optimized_graph_computes_what_the_source_graph_computes(graph, seed):
    xs, outs = graph
    values = [np.random.default_rng(seed + i).normal(size=3) for i in range(len(xs))]
    fast = gc.function(xs, outs)(*values)
    slow = gc.function(xs, outs, optimize=False)(*values)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(random_graph(), st.integers(0, 2**31 - 1))
def test_optimized_gradient_equals_unoptimized_gradient(graph, seed):
    xs, outs = graph
    loss = gc.reduce_sum(outs[0])
    grads = gc.grad(loss, xs)
    values = [np.random.default_rng(seed + i).normal(size=3) for i in range(len(xs))]
    fast = gc.function(xs, grads)(*values)
    slow = gc.function(xs, grads, optimize=False)(*values)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("build, reference, rule", [
    (lambda z: gc.log(gc.nn.softmax(z)),
     lambda z: z - z.max(-1, keepdims=True) - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)),
     "log(softmax(x)) → log_softmax(x)"),
    (lambda z: gc.log(gc.sigmoid(z)), lambda z: -np.logaddexp(0, -z), "log(sigmoid(x)) → -softplus(-x)"),
    (lambda z: gc.log(1.0 - gc.sigmoid(z)), lambda z: -np.logaddexp(0, z), "log(1 - sigmoid(x)) → -softplus(x)"),
])
def test_stability_rewrites_fire_and_stay_finite_where_the_naive_form_overflows(build, reference, rule):
    z = gc.placeholder((2, 3), "float32", name="z")
    zv = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 999.0, 1000.0]], dtype="float32")
    f = gc.function([z], build(z))
    out = f(zv)
    assert rule in f.explain()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, reference(zv.astype(np.float64)), rtol=1e-5, atol=1e-5)
    with np.errstate(all="ignore"):
        naive = gc.function([z], build(z), optimize=False)(zv)
    assert not np.all(np.isfinite(naive))  # the rewrite is what made it finite
