"""graphc's compiled values and gradients against the op-by-op NumPy reference evaluator of
tests/reference.py: no memory plan, no fusion, no generated code, a fresh array per node.

* every op in the registry has a reference, and a small graph of that op alone computes, through
  gc.function (optimized and not), what the reference computes; its gradient matches central
  differences taken on the reference;
* random graphs (tests/reference.py's recipes, the same the JAX oracle runs): values optimized
  and not, gradients against the reference run on the gradient graph and, on a subset,
  against finite differences of the loss; recipes with a None batch size through one compiled
  function at batch sizes 1, 4, 7 and 300;
* regression tests pinning the memory-plan bug classes: views of a buffer that an in-place op
  overwrites, writes into the caller's arrays, in-place writes into broadcast views.

Every call asserts that the caller's arrays are left bitwise unchanged and that no output
shares memory with another output or an input.
"""
import os

import numpy as np
import pytest

import graphc as gc
from graphc.ir.opdef import OPS, apply

from tests.op_table import ROWS
from tests.reference import (NO_REFERENCE, REFERENCE, MissingReference, assert_close, build_graphc, call_checked,
                       evaluate, finite_differences, raise_failures, random_recipe, shrink_failure,
                       topological_order, weighted_loss)

SCALE = int(os.environ.get("GRAPHC_ORACLE_SCALE", "1"))   # 10: a longer hunt for new failures
SEEDS = range(300 * SCALE)
BATCHED_SEEDS = range(2000, 2000 + 40 * SCALE)
LARGE_SEEDS = range(3000, 3000 + 12 * SCALE)    # sizes 64..160: released buffers, blocked kernels
BATCH_SIZES = (1, 4, 7, 300)
VALUE_TOL = 1e-9        # normwise: max |got - want| / max(1, max |want|)
FD_TOL = 1e-5
OPTIMIZE = pytest.mark.parametrize("optimize", [False, True], ids=["unoptimized", "optimized"])


# == every op against its reference ===============================================================

def _conv_attrs(**kw):
    at = {"strides": (1, 1), "pads": ((0, 0), (0, 0)), "dilations": (1, 1), "groups": 1}
    at.update(kw)
    return at


def _pool_attrs(**kw):
    at = {"pool_size": (2, 2), "strides": (2, 2), "pads": ((0, 0), (0, 0))}
    at.update(kw)
    return at


_rng = np.random.default_rng(1234)


def _normal(*shape):
    return _rng.standard_normal(shape)


def _distinct(*shape):
    """No ties anywhere (max-pool arg-max is unique and stable under small moves)."""
    return _rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) * 0.1 \
        + _rng.uniform(-0.01, 0.01, shape)


# (op, id, build(placeholders) -> tensor, input arrays, placeholder shapes or None, gradient inputs)
EXTRA_CASES = [
    ("conv2d_backprop_input", "stride2_pad",
     lambda g, w, x: apply("conv2d_backprop_input", [g, w, x], **_conv_attrs(strides=(2, 2),
                                                                             pads=((1, 0), (0, 1)))),
     [_normal(2, 3, 3, 3), _normal(2, 3, 2, 3), _normal(2, 5, 6, 2)], None, (0, 1)),
    ("conv2d_backprop_input", "dilated_groups",
     lambda g, w, x: apply("conv2d_backprop_input", [g, w, x], **_conv_attrs(dilations=(2, 1), groups=2)),
     [_normal(1, 2, 4, 4), _normal(2, 2, 2, 4), _normal(1, 4, 5, 4)], None, (0, 1)),
    ("conv2d_backprop_filter", "stride2_pad",
     lambda x, g, w: apply("conv2d_backprop_filter", [x, g, w], **_conv_attrs(strides=(2, 2),
                                                                              pads=((1, 0), (0, 1)))),
     [_normal(2, 5, 6, 2), _normal(2, 3, 3, 3), _normal(2, 3, 2, 3)], None, (0, 1)),
    ("conv2d_backprop_filter", "dilated_groups",
     lambda x, g, w: apply("conv2d_backprop_filter", [x, g, w], **_conv_attrs(dilations=(2, 1), groups=2)),
     [_normal(1, 4, 5, 4), _normal(1, 2, 4, 4), _normal(2, 2, 2, 4)], None, (0, 1)),
    ("conv2d", "same_at_run_time", lambda x, w: gc.nn.conv2d(x, w, strides=2, padding="same"),
     [_normal(2, 5, 4, 2), _normal(3, 2, 2, 3)], ((None, None, None, 2), (3, 2, 2, 3)), (0, 1)),
    ("max_pool2d", "overlapping_same", lambda x: gc.nn.max_pool2d(x, 3, strides=2, padding="same"),
     [_distinct(2, 5, 6, 2)], None, (0,)),
    ("max_pool2d_grad", "tiling",
     lambda x, g: apply("max_pool2d_grad", [x, apply("max_pool2d", [x], **_pool_attrs()), g], **_pool_attrs()),
     [_distinct(2, 4, 4, 3), _normal(2, 2, 2, 3)], None, (1,)),
    ("max_pool2d_grad", "ties_overlapping",
     lambda x, g: apply("max_pool2d_grad", [x, apply("max_pool2d", [x], **_pool_attrs(pool_size=(3, 3))), g],
                        **_pool_attrs(pool_size=(3, 3))),
     [np.round(_normal(1, 7, 7, 2)), _normal(1, 3, 3, 2)], None, ()),
    ("max_pool2d_grad", "padded",
     lambda x, g: apply("max_pool2d_grad", [x, apply("max_pool2d", [x], **_pool_attrs(pads=((1, 1), (0, 1)))), g],
                        **_pool_attrs(pads=((1, 1), (0, 1)))),
     [_distinct(1, 4, 5, 2), _normal(1, 3, 3, 2)], None, (1,)),
    ("max_pool2d_select", "overlapping",
     lambda x, v: apply("max_pool2d_select", [x, v], **_pool_attrs(pool_size=(3, 3), strides=(1, 2))),
     [_distinct(2, 5, 6, 2), _normal(2, 5, 6, 2)], None, (1,)),
    ("avg_pool2d", "same", lambda x: gc.nn.avg_pool2d(x, 3, strides=2, padding="same"),
     [_normal(2, 5, 6, 2)], None, (0,)),
    ("avg_pool2d_grad", "padded",
     lambda g, x: apply("avg_pool2d_grad", [g, x], **_pool_attrs(pool_size=(3, 3), strides=(2, 2),
                                                                 pads=((1, 1), (1, 1)))),
     [_normal(2, 3, 3, 2), _normal(2, 5, 5, 2)], None, (0,)),
]


def _float32(inputs):
    return [a.astype(np.float32) if np.asarray(a).dtype == np.float64 else a for a in inputs]


def _op_cases():
    """pytest params (op, build, inputs, placeholder shapes, gradient inputs, op_table's ref):
    every row of tests/op_table.py that builds a graph, then EXTRA_CASES; each also with its
    float64 inputs cast to float32 (values only)."""
    cases = []
    for row in ROWS:
        if row.build is None:
            continue
        shapes = row.placeholder_shapes()
        cases.append(pytest.param(row.op, row.build, list(row.inputs), shapes, row.grad, row.ref, id=row.id))
        if row.float32 and any(np.asarray(a).dtype == np.float64 for a in row.inputs):
            cases.append(pytest.param(row.op, row.build, _float32(row.inputs), shapes, (), None,
                                      id=f"{row.id}-float32"))
    for op, name, build, inputs, shapes, grad in EXTRA_CASES:
        shapes = shapes or tuple(np.shape(a) for a in inputs)
        cases.append(pytest.param(op, build, inputs, shapes, grad, None, id=f"{op}-{name}"))
        cases.append(pytest.param(op, build, _float32(inputs), shapes, (), None, id=f"{op}-{name}-float32"))
    return cases


OP_CASES = _op_cases()


def test_every_op_has_a_reference():
    missing = sorted(set(OPS) - set(REFERENCE) - set(NO_REFERENCE))
    assert not missing, f"ops without a NumPy reference in tests/reference.py: {missing}"
    stale = sorted((set(REFERENCE) | set(NO_REFERENCE)) - set(OPS))
    assert not stale, f"references for ops that no longer exist: {stale}"


def test_op_without_reference_fails_loudly():
    x = gc.placeholder((2,), "float64", name="x")
    node = gc.Tensor("no_such_op", [x], {}, (2,), "float64")
    with pytest.raises(MissingReference, match="no_such_op"):
        evaluate([node], {x: np.zeros(2)})


def test_every_op_has_a_case():
    built = set()
    for case in OP_CASES:
        op, build, inputs, shapes = case.values[:4]
        phs = [gc.placeholder(s, np.asarray(a).dtype) for s, a in zip(shapes, inputs)]
        built |= {n.op for n in _nodes(build(*phs))}
    assert set(OPS) <= built, f"ops no case builds: {sorted(set(OPS) - built)}"


def _nodes(t):
    return topological_order([t])


def _tolerance(t):
    return 1e-5 if t.dtype == np.float32 else 1e-10


@OPTIMIZE
@pytest.mark.parametrize("op, build, inputs, shapes, grad, row_ref", OP_CASES)
def test_op_matches_reference(op, build, inputs, shapes, grad, row_ref, optimize):
    phs = [gc.placeholder(s, np.asarray(a).dtype, name=f"in{k}") for k, (s, a) in enumerate(zip(shapes, inputs))]
    out = build(*phs)
    (got,) = call_checked(gc.function(phs, [out], optimize=optimize), inputs, op)
    assert np.ndim(got) == out.ndim and all(d in (None, n) for d, n in zip(out.shape, np.shape(got))), \
        f"{op}: value of shape {np.shape(got)}, the graph says {out.shape}"
    dtype = np.asarray(got).dtype
    assert dtype == out.dtype, f"{op}: value of dtype {dtype}, the graph says {out.dtype}"
    if op in NO_REFERENCE:
        return
    (want,) = evaluate([out], dict(zip(phs, inputs)))
    if out.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=op)
    else:
        assert_close(got, want, _tolerance(out), f"{op} vs the reference")
        if row_ref is not None:   # tests/op_table.py's own reference agrees with ours
            assert_close(want, row_ref(*inputs), max(_tolerance(out), 1e-9), f"{op}: op_table's ref vs ours")


@OPTIMIZE
@pytest.mark.parametrize("op, build, inputs, shapes, grad, row_ref",
                         [c for c in OP_CASES if c.values[4] and c.values[0] not in NO_REFERENCE])
def test_op_gradient_matches_finite_differences_of_reference(op, build, inputs, shapes, grad, row_ref,
                                                             optimize):
    phs = [gc.placeholder(s, np.asarray(a).dtype, name=f"in{k}") for k, (s, a) in enumerate(zip(shapes, inputs))]
    out = build(*phs)
    if any(n.dtype.kind == "f" and n.dtype != np.float64 for n in _nodes(out)):
        pytest.skip("float32 in the graph: central differences need float64 throughout")
    feeds = dict(zip(phs, inputs))
    (value,) = evaluate([out], feeds)
    w = gc.constant(np.random.default_rng(7).uniform(-1.0, 1.0, np.shape(value)))
    loss = gc.reduce_sum(out * w)
    wrt = [phs[i] for i in grad]
    got = call_checked(gc.function(phs, gc.grad(loss, wrt), optimize=optimize), inputs, f"{op} gradient")
    want = finite_differences(loss, wrt, feeds)
    for i, g, fd in zip(grad, got, want):
        assert_close(g, fd, FD_TOL, f"{op}: d loss / d input {i} vs finite differences")


# == random graphs ==================================================================================

def check_against_reference(recipe, batches=(4,), finite_difference_batches=()):
    """Values and gradients, unoptimized and optimized, at each batch size through one compiled
    function per flag: against the reference evaluator (on the gradient graph too), and
    against central differences at ``finite_difference_batches``."""
    inputs, outputs = build_graphc(recipe)
    weights, loss, grads = weighted_loss(inputs, outputs)
    compiled = {optimize: (gc.function(inputs, outputs, optimize=optimize),
                           gc.function(inputs + weights, grads, optimize=optimize))
                for optimize in (False, True)}
    rng = np.random.default_rng(recipe.seed + 11)
    failures = []
    for batch in batches:
        xs = recipe.input_values(batch)
        ws = [rng.uniform(-1.0, 1.0, s) for s in recipe.output_shapes(batch)]
        feeds = dict(zip(inputs + weights, xs + ws))
        want_values = evaluate(outputs, feeds)
        want_grads = evaluate(grads, feeds)
        fd = finite_differences(loss, inputs, feeds) if batch in finite_difference_batches else None
        for optimize, (values_fn, grads_fn) in compiled.items():
            where = f"optimize={optimize}, batch {batch}"
            try:
                got = call_checked(values_fn, xs, f"values ({where})")
                for k, (g, w) in enumerate(zip(got, want_values)):
                    assert_close(g, w, VALUE_TOL, f"[value] output {k} (v{recipe.outputs[k]}) vs reference, {where}")
                got = call_checked(grads_fn, xs + ws, f"gradients ({where})")
                for k, (g, w) in enumerate(zip(got, want_grads)):
                    assert_close(g, w, VALUE_TOL, f"[gradient] d loss / d v{k} vs the reference run of "
                                                  f"the gradient graph, {where}")
                for k, (g, w) in enumerate(zip(got, fd or ())):
                    assert_close(g, w, FD_TOL, f"[finite differences] d loss / d v{k}, {where}")
            except Exception as exc:  # noqa: BLE001 - graphc's own errors are failures too
                failures.append(exc)
    raise_failures(failures)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_matches_reference(seed):
    fd = (4,) if seed % 5 == 0 else ()
    shrink_failure(random_recipe(seed), lambda r: check_against_reference(r, finite_difference_batches=fd))


@pytest.mark.parametrize("seed", BATCHED_SEEDS)
def test_batched_random_graph_matches_reference_at_every_batch_size(seed):
    fd = (1, 4) if seed % 4 == 0 else ()
    shrink_failure(random_recipe(seed, batched=True),
                   lambda r: check_against_reference(r, BATCH_SIZES, finite_difference_batches=fd))


@pytest.mark.parametrize("seed", LARGE_SEEDS)
def test_large_random_graph_matches_reference(seed):
    shrink_failure(random_recipe(seed, batched=True, sizes=(64, 96, 160)),
                   lambda r: check_against_reference(r, (7, 300)))


# == regression tests: the memory plan's bug classes ===================================================

X23 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
VIEWS = {
    "T": (lambda s: s.T, lambda s: s.T),
    "transpose": (lambda s: gc.transpose(s, (1, 0)), lambda s: s.transpose(1, 0)),
    "index0": (lambda s: s[0], lambda s: s[0]),
    "slice1": (lambda s: s[1:], lambda s: s[1:]),
    "reversed": (lambda s: s[::-1, 1:], lambda s: s[::-1, 1:]),
    "reshape": (lambda s: gc.reshape(s, (3, 4)), lambda s: s.reshape(3, 4)),
    "expand_dims": (lambda s: gc.expand_dims(s, 0), lambda s: s[None]),
    "stop_gradient": (gc.stop_gradient, lambda s: s),
}


def _run(inputs, outputs, values, optimize):
    return call_checked(gc.function(inputs, outputs, optimize=optimize), values)


@OPTIMIZE
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_of_buffer_is_not_overwritten_by_in_place_op(view, optimize):
    """s = concat([x, x]); outputs [view(s), exp(s)]: exp is the last direct reader of s, but
    the view returned beside it must keep s's values."""
    x = gc.placeholder((2, 3), "float64", name="x")
    s = gc.concat([x, x], axis=0)
    build, numpy_view = VIEWS[view]
    got_view, got_exp = _run([x], [build(s), gc.exp(s)], [X23], optimize)
    sv = np.concatenate([X23, X23])
    assert_close(got_view, numpy_view(sv), 1e-12, f"{view}(s)")
    assert_close(got_exp, np.exp(sv), 1e-12, "exp(s)")


@OPTIMIZE
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_read_after_in_place_op_sees_original_values(view, optimize):
    """view(s) * sum(exp(s)): the view is made before exp(s), the last direct reader of s,
    and read after it."""
    x = gc.placeholder((2, 3), "float64", name="x")
    s = gc.concat([x, x], axis=0)
    build, numpy_view = VIEWS[view]
    (got,) = _run([x], [build(s) * gc.reduce_sum(gc.exp(s))], [X23], optimize)
    sv = np.concatenate([X23, X23])
    assert_close(got, numpy_view(sv) * np.exp(sv).sum(), 1e-12, f"{view}(s) * sum(exp(s))")


@OPTIMIZE
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_of_elementwise_result_is_not_overwritten(view, optimize):
    """The same with s an elementwise result (2x + 1) instead of a concat."""
    x = gc.placeholder((4, 3), "float64", name="x")
    xv = np.concatenate([X23, -X23])
    s = x * 2.0 + 1.0
    build, numpy_view = VIEWS[view]
    got_view, got_tanh = _run([x], [build(s), gc.tanh(s)], [xv], optimize)
    assert_close(got_view, numpy_view(xv * 2.0 + 1.0), 1e-12, f"{view}(2x + 1)")
    assert_close(got_tanh, np.tanh(xv * 2.0 + 1.0), 1e-12, "tanh(2x + 1)")


@OPTIMIZE
def test_gradient_reading_a_view_next_to_exp(optimize):
    """loss = sum(((x w)[:1])²) + sum(exp(x w)): the gradient graph reads (x w)[:1] next to
    exp(x w), the last direct reader of x w."""
    x = gc.placeholder((3, 2), "float64", name="x")
    w = gc.placeholder((2,), "float64", name="w")
    y = x * w
    loss = gc.reduce_sum(gc.square(y[:1])) + gc.reduce_sum(gc.exp(y))
    xv, wv = X23.T.copy(), np.array([0.7, -1.3])
    got_x, got_w = _run([x, w], gc.grad(loss, [x, w]), [xv, wv], optimize)
    yv = xv * wv
    dy = np.exp(yv)
    dy[:1] += 2 * yv[:1]
    assert_close(got_w, (dy * xv).sum(axis=0), 1e-12, "d loss / d w")
    assert_close(got_x, dy * wv, 1e-12, "d loss / d x")
    fd_x, fd_w = finite_differences(loss, [x, w], {x: xv, w: wv})
    assert_close(got_w, fd_w, FD_TOL, "d loss / d w vs finite differences")


CALLER_ARRAY_GRAPHS = {
    "exp_stop_gradient": (lambda x: gc.exp(gc.stop_gradient(x)), lambda x: np.exp(x)),
    "neg_stop_gradient": (lambda x: -gc.stop_gradient(x), lambda x: -x),
    "maximum_stop_gradient": (lambda x: gc.maximum(gc.stop_gradient(x), 0.5), lambda x: np.maximum(x, 0.5)),
    "exp_transpose": (lambda x: gc.exp(x.T), lambda x: np.exp(x.T)),
    "exp_reshape": (lambda x: gc.exp(gc.reshape(x, (3, 2))), lambda x: np.exp(x.reshape(3, 2))),
    "exp_row": (lambda x: gc.exp(x[0]), lambda x: np.exp(x[0])),
    "tanh_stop_gradient_twice": (lambda x: gc.tanh(gc.stop_gradient(gc.stop_gradient(x))), np.tanh),
}


@OPTIMIZE
@pytest.mark.parametrize("graph", list(CALLER_ARRAY_GRAPHS))
def test_caller_array_is_never_written(graph, optimize):
    """An elementwise op over the caller's array (through stop_gradient or a view) must
    write a new array, never the caller's."""
    x = gc.placeholder((2, 3), "float64", name="x")
    build, numpy_value = CALLER_ARRAY_GRAPHS[graph]
    xv = X23.copy()
    (got,) = _run([x], [build(x)], [xv], optimize)   # call_checked compares xv bitwise
    assert_close(got, numpy_value(X23), 1e-12, graph)


def test_caller_array_is_never_written_exp_stop_gradient_single_output():
    """The literal case: gc.function([x], gc.exp(gc.stop_gradient(x)), optimize=False)(xv)."""
    x = gc.placeholder((2, 3), "float64", name="x")
    xv = X23.copy()
    got = gc.function([x], gc.exp(gc.stop_gradient(x)), optimize=False)(xv)
    np.testing.assert_array_equal(xv, X23)
    assert_close(got, np.exp(X23), 1e-12, "exp(x)")


BROADCAST_VIEW_GRAPHS = {
    "maximum": (lambda b: gc.maximum(gc.stop_gradient(b), 0.5), lambda b: np.maximum(b, 0.5)),
    "exp": (lambda b: gc.exp(gc.stop_gradient(b)), np.exp),
    "add_self": (lambda b: gc.stop_gradient(b) + gc.stop_gradient(b) * 2.0, lambda b: 3.0 * b),
    "relu": (lambda b: gc.relu(gc.stop_gradient(b)), lambda b: np.maximum(b, 0.0)),
}


@OPTIMIZE
@pytest.mark.parametrize("graph", list(BROADCAST_VIEW_GRAPHS))
def test_in_place_over_broadcast_view(graph, optimize):
    """maximum(stop_gradient(broadcast_to(x, (2, 3))), 0.5): the broadcast is a read-only
    view of x; an elementwise op over it must make a new array."""
    x = gc.placeholder((3,), "float64", name="x")
    build, numpy_value = BROADCAST_VIEW_GRAPHS[graph]
    xv = np.array([0.25, 1.0, -2.0])
    (got,) = _run([x], [build(gc.broadcast_to(x, (2, 3)))], [xv], optimize)
    assert_close(got, numpy_value(np.broadcast_to(xv, (2, 3))), 1e-12, graph)


def _mlp_case():
    """A None-batch network whose gradient runs sub, neg and transposes: batch-size-independent
    closed forms in NumPy."""
    x = gc.placeholder((None, 3), "float64", name="x")
    t = gc.placeholder((None, 2), "float64", name="t")
    w = gc.placeholder((3, 2), "float64", name="w")
    b = gc.placeholder((2,), "float64", name="b")
    h = x @ w + b
    err = gc.tanh(h) - t
    loss = gc.reduce_mean(gc.reduce_sum(gc.square(err), axis=1)) - 0.1 * gc.reduce_sum(gc.stop_gradient(h) * h)

    def closed_form(xv, tv, wv, bv):
        hv = xv @ wv + bv
        dh = 2 * (np.tanh(hv) - tv) * (1 - np.tanh(hv) ** 2) / len(xv) - 0.1 * hv
        return [dh @ wv.T, (xv.T @ dh), dh.sum(axis=0)]
    return [x, t, w, b], loss, [x, w, b], closed_form


@OPTIMIZE
def test_batch_gradients_equal_reference_at_every_batch_size(optimize):
    """One compiled function, called at batch sizes 1, 4, 7 and 300: gradients (their signs
    too) equal the closed form and the reference run of the gradient graph."""
    inputs, loss, wrt, closed_form = _mlp_case()
    grads = gc.grad(loss, wrt)
    fn = gc.function(inputs, grads, optimize=optimize)
    rng = np.random.default_rng(5)
    wv, bv = rng.normal(size=(3, 2)), rng.normal(size=2)
    for batch in BATCH_SIZES:
        xv, tv = rng.normal(size=(batch, 3)), rng.uniform(-1, 1, (batch, 2))
        values = [xv, tv, wv, bv]
        got = call_checked(fn, values, f"batch {batch}")
        want = closed_form(*values)
        reference = evaluate(grads, dict(zip(inputs, values)))
        for name, g, w, r in zip(["x", "w", "b"], got, want, reference):
            assert_close(r, w, 1e-10, f"reference vs closed form d loss / d {name}, batch {batch}")
            assert_close(g, w, 1e-10, f"d loss / d {name}, batch {batch}, optimize={optimize}")


@OPTIMIZE
def test_batch_gradient_of_view_next_to_in_place_op_at_every_batch_size(optimize):
    """None batch: loss = sum(s[0] * s[-1]) + sum(exp(s)) with s = concat([x, -x], axis=1);
    one function at batch sizes 1, 4, 7, 300, against closed forms."""
    x = gc.placeholder((None, 3), "float64", name="x")
    s = gc.concat([x, -x], axis=1)
    loss = gc.reduce_sum(s[0] * s[-1]) + gc.reduce_sum(gc.exp(s) * 0.5)
    fn = gc.function([x], [gc.grad(loss, x), s.T, gc.exp(s)], optimize=optimize)
    rng = np.random.default_rng(9)
    for batch in BATCH_SIZES:
        xv = rng.uniform(-1, 1, (batch, 3))
        dx, st, es = call_checked(fn, [xv], f"batch {batch}")
        sv = np.concatenate([xv, -xv], axis=1)
        ds = 0.5 * np.exp(sv)
        ds[0] += sv[-1]
        ds[-1] += sv[0]
        assert_close(dx, ds[:, :3] - ds[:, 3:], 1e-12, f"d loss / d x, batch {batch}")
        assert_close(st, sv.T, 1e-12, f"s.T, batch {batch}")
        assert_close(es, np.exp(sv), 1e-12, f"exp(s), batch {batch}")


def test_outputs_listed_twice_are_separate_arrays():
    x = gc.placeholder((2, 3), "float64", name="x")
    y = gc.exp(x)
    for optimize in (False, True):
        a, b = _run([x], [y, y], [X23], optimize)
        assert_close(a, np.exp(X23), 1e-12, "exp(x)")
        assert_close(b, np.exp(X23), 1e-12, "exp(x)")


def test_input_returned_as_output_is_a_copy():
    x = gc.placeholder((2, 3), "float64", name="x")
    for optimize in (False, True):
        a, b = _run([x], [x, x.T], [X23.copy()], optimize)
        np.testing.assert_array_equal(a, X23)
        np.testing.assert_array_equal(b, X23.T)
