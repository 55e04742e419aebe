"""Fusion: kernel counts pinned per workload (as tinygrad's check_schedule), convexity,
and the fused code computing what the unfused code computes."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.backends.numpy import fused
from graphc.ir.graph import Graph
from graphc.passes import fuse_elementwise, fuse_epilogues, pipeline
from graphc.plan.schedule import schedule


def _kernels(outputs, passes=None):
    graph, _ = pipeline.run(Graph(outputs), passes)
    return graph.kernels


def test_an_elementwise_chain_is_exactly_one_kernel():
    x = gc.placeholder((2 ** 16,), name="x")
    y = gc.sigmoid(1.5 * x + 0.5) * gc.tanh(x) + 0.1 * x * x
    (kernel,) = _kernels([y])
    assert [n.op for n in kernel.members].count("mul") == 4
    assert kernel.outputs == (y,)


def test_dense_relu_is_one_gemm_with_a_fused_epilogue():
    x = gc.placeholder((256, 784), name="x")
    w = gc.variable(np.zeros((784, 512), "float32"), name="w")
    b = gc.variable(np.zeros(512, "float32"), name="b")
    (kernel,) = _kernels([gc.relu(x @ w + b)])
    assert kernel.anchor.op == "matmul"
    assert [n.op for n in kernel.members] == ["add", "relu"]


def test_a_kernel_can_have_several_outputs_and_broadcast_inputs():
    x = gc.placeholder((64, 32), "float64", name="x")
    bias = gc.placeholder((32,), "float64", name="bias")
    h = gc.tanh(x + bias)
    out1, out2 = h * 2.0, gc.exp(h)
    (kernel,) = _kernels([out1, out2, h])
    assert set(map(id, kernel.outputs)) == {id(out1), id(out2), id(h)}
    assert bias in kernel.inputs


def test_fusion_never_makes_a_cycle():
    # a = exp(x); b = reduce_sum(a) (not elementwise); c = a * b: fusing c with a would route
    # a -> reduce_sum -> c through the kernel from outside
    x = gc.placeholder((8,), "float64", name="x")
    a = gc.exp(x)
    c = gc.log(a) * gc.reduce_sum(a)
    graph, _ = pipeline.run(Graph([c]))
    schedule(graph)  # raises on a cycle
    for k in graph.kernels:
        inside = {id(n) for n in k.nodes}
        for i in k.inputs:
            assert id(i) not in inside
    xv = np.linspace(0.1, 1, 8)
    np.testing.assert_allclose(gc.function([x], c)(xv), np.log(np.exp(xv)) * np.exp(xv).sum())


def test_two_convex_kernels_never_need_each_other():
    # Found by the random-gradient property test (this is the optimized gradient it built):
    # a (3,) group {q, w} and a (2, 3) group {r, t, out} were each convex, but each read a
    # value the other computed (q through a broadcast, the column sum of r), so neither
    # kernel could run first.
    x = gc.placeholder((2, 3), "float64", name="x")
    s = gc.reduce_sum(x, axis=0)
    q = 1.0 - gc.square(gc.tanh(s + s))
    r = 1.0 - gc.square(gc.tanh(x + s))
    t = gc.broadcast_to(gc.reshape(q, (1, 3)), (2, 3)) + r
    w = q + gc.reshape(gc.reduce_sum(r, axis=0, keepdims=True), (3,))
    out = t + gc.broadcast_to(gc.reshape(w, (1, 3)), (2, 3))
    graph, _ = pipeline.run(Graph([out]))
    schedule(graph)  # raises on a cycle
    xv = np.random.default_rng(0).normal(size=(2, 3))
    sv = xv.sum(0)
    qv, rv = 1 - np.tanh(2 * sv) ** 2, 1 - np.tanh(xv + sv) ** 2
    np.testing.assert_allclose(gc.function([x], out)(xv), qv + rv + qv + rv.sum(0), rtol=1e-12)


def test_unfused_elementwise_ops_are_explained():
    x = gc.placeholder((4, 3), name="x")
    y = gc.reduce_sum(gc.exp(x), axis=1)
    f = gc.function([x], y)
    f(np.ones((4, 3), "float32"))
    assert "left alone" in f.explain() and "exp" in f.explain()


@pytest.mark.parametrize("shape", [(2 ** 17,), (300, 700), (3, 50000), (700, 1, 300)])
def test_blocked_kernels_match_numpy(shape):
    rng = np.random.default_rng(0)
    x = gc.placeholder(shape, "float32", name="x")
    row = gc.placeholder(shape[1:], "float32", name="row")
    y = gc.where(x > 0.0, gc.sigmoid(x * row + 1.0), gc.exp(x) - 1.0) * gc.tanh(row) + 0.5
    z = gc.cast(x > row, "float32") + gc.relu(x)
    f = gc.function([x, row], [y, z])
    xv = rng.normal(size=shape).astype("float32")
    rv = rng.normal(size=shape[1:]).astype("float32")
    got_y, got_z = f(xv, rv)
    assert fused.blocking(f.kernels[0]) is not None or np.prod(shape) < fused.MIN_BLOCKED_ELEMENTS
    want_y = np.where(xv > 0, 1 / (1 + np.exp(-(xv * rv + 1))), np.expm1(xv)) * np.tanh(rv) + 0.5
    np.testing.assert_allclose(got_y, want_y, rtol=2e-6, atol=2e-6)
    np.testing.assert_array_equal(got_z, (xv > rv).astype("float32") + np.maximum(xv, 0))


def test_blocked_epilogue_finishes_in_the_matmul_buffer():
    rng = np.random.default_rng(1)
    x = gc.placeholder((512, 300), name="x")
    w = gc.variable(rng.normal(size=(300, 256)).astype("float32"), name="w")
    b = gc.variable(rng.normal(size=256).astype("float32"), name="b")
    f = gc.function([x], gc.relu(x @ w + b))
    xv = rng.normal(size=(512, 300)).astype("float32")
    np.testing.assert_allclose(f(xv), np.maximum(xv @ w.value + b.value, 0), rtol=1e-4, atol=1e-4)
    assert "finishes in the matmul's buffer" in f.source


def test_fused_and_unfused_pipelines_agree_on_a_training_step():
    rng = np.random.default_rng(2)
    x = gc.placeholder((None, 20), "float64", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    w1 = gc.variable(rng.normal(size=(20, 300)) * 0.1, name="w1")
    w2 = gc.variable(rng.normal(size=(300, 5)) * 0.1, name="w2")
    h = gc.relu(x @ w1)
    logits = h @ w2
    loss = -gc.reduce_mean(gc.reduce_sum(gc.one_hot(y, 5, "float64") * gc.nn.log_softmax(logits), axis=1))
    grads = gc.grad(loss, [w1, w2])
    xv, yv = rng.normal(size=(400, 20)), rng.integers(0, 5, 400)
    fast = gc.function([x, y], [loss] + grads)(xv, yv)
    slow = gc.function([x, y], [loss] + grads, optimize=False)(xv, yv)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fusion_passes_can_run_alone():
    x = gc.placeholder((10,), name="x")
    g, rep = fuse_elementwise(Graph([gc.exp(x) + 1.0]))
    assert len(g.kernels) == 1 and rep.changes
    g, rep = fuse_epilogues(g)
    assert len(g.kernels) == 1 and not rep.changes


@pytest.mark.parametrize("shape, axis, keepdims", [
    ((2 ** 17,), None, False), ((300, 400), None, True), ((300, 400), 1, True), ((300, 400), 1, False),
    ((50, 40, 70), (1, 2), False), ((300, 400), 0, False)])
@pytest.mark.parametrize("reduce", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
def test_reductions_fuse_into_their_producer_and_match_numpy(shape, axis, keepdims, reduce):
    x = gc.placeholder(shape, "float64", name="x")
    y = getattr(gc, reduce)(gc.square(x - 0.25) * gc.sigmoid(x), axis=axis, keepdims=keepdims)
    f = gc.function([x], y)
    xv = np.random.default_rng(3).normal(size=shape)
    want = getattr(np, {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max",
                        "reduce_min": "min"}[reduce])((xv - 0.25) ** 2 / (1 + np.exp(-xv)),
                                                      axis=axis, keepdims=keepdims)
    got = f(xv)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    (kernel,) = f.kernels
    # a float mean becomes sum / count (simplify), so its tail is a reduce_sum
    assert kernel.reductions and kernel.reductions[0].op == reduce.replace("reduce_mean", "reduce_sum")
    if axis == 0:  # a column reduction cannot be cut in row blocks: plain lines, still fused
        assert fused.blocking(kernel) is None
    else:
        assert fused.blocking(kernel) is not None
        assert "np.empty((%s" % ", ".join(map(str, shape)) not in f.source  # never materialised


def test_softmax_cross_entropy_and_its_gradient_compile_to_two_kernels():
    z = gc.placeholder((256, 10), name="z")
    y = gc.placeholder((256,), "int64", name="y")
    loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(gc.one_hot(y, 10), z))
    f = gc.function([z, y], [loss, gc.grad(loss, z)])
    zv = np.random.default_rng(0).normal(size=(256, 10)).astype("float32") * 50
    yv = np.random.default_rng(1).integers(0, 10, 256)
    value, grad = f(zv, yv)
    ops = f.graph.op_counts()
    assert ops["softmax_cross_entropy"] == 1 and len(f.kernels) == 2
    # the (p - onehot) gradient, averaged over the batch
    p = np.exp(zv - zv.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(grad, (p - np.eye(10)[yv]) / 256, rtol=1e-5, atol=1e-8)
    assert np.isfinite(value)


def test_scalar_constants_keep_their_promotion_inside_blocked_kernels():
    x = gc.placeholder((2 ** 17,), "float32", name="x")
    y = x * gc.constant(np.float64(1.0000001)) + gc.constant(np.float64(1e-9))  # float64 result
    f = gc.function([x], y)
    xv = np.random.default_rng(0).normal(size=2 ** 17).astype("float32")
    assert f(xv).dtype == np.float64
    np.testing.assert_array_equal(f(xv), xv.astype(np.float64) * 1.0000001 + 1e-9)


def test_blocked_kernels_give_the_same_result_on_one_or_several_threads(monkeypatch):
    x = gc.placeholder((2 ** 19,), "float64", name="x")
    y = gc.tanh(x) * 2.0 + 1.0
    f = gc.function([x], [y, gc.reduce_sum(y), gc.reduce_max(y)])
    xv = np.random.default_rng(0).normal(size=2 ** 19)
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "1")
    one = f(xv)
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "4")
    many = f(xv)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_allclose(one[1], many[1], rtol=1e-12)
    np.testing.assert_array_equal(one[2], many[2])
    np.testing.assert_allclose(many[1], (np.tanh(xv) * 2 + 1).sum(), rtol=1e-12)


def test_generated_source_numbers_kernels_as_explain_does():
    x = gc.placeholder((64, 32), "float64", name="x")
    w = gc.variable(np.ones((32, 16)), name="w")
    h = gc.exp(gc.relu(x @ w + 1.0)) * 2.0
    y = gc.reduce_sum(gc.tanh(h @ gc.transpose(w)) - 3.0, axis=1)
    f = gc.function([x], y)
    f(np.ones((64, 32)))
    numbered = re.findall(r"^\s*# kernel (\d+): (.*)$", f.source, flags=re.M)
    explained = re.findall(r"^\s*kernel (\d+): (.*)$", f.explain(), flags=re.M)
    assert len(numbered) >= 2
    assert numbered == explained
