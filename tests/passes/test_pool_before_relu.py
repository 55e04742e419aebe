"""pool_before_relu: max_pool(relu(s)) runs as relu(max_pool(s)), and the ReLU gradient mask
moves before max_pool2d_grad; values and gradients stay bit for bit those of the graph as
written (run unoptimized), ties and non-finite values included."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir.graph import Graph
from graphc.passes.pool_before_relu import pool_before_relu


def _ties(shape, seed):
    """Values with many exact ties: zeros, repeated positives, all-negative windows."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-2.0, -1.0, 0.0, 0.0, 1.0, 1.0, 3.0], np.float32), size=shape)


def _both(inputs, outputs, feeds):
    optimized = gc.function(inputs, outputs)(*feeds)
    reference = gc.function(inputs, outputs, optimize=False)(*feeds)
    return optimized, reference


@pytest.mark.parametrize("pool,strides,padding", [(2, 2, "valid"), (3, 2, "same"), (2, 1, "valid"),
                                                  ((3, 2), (1, 2), "same")])
def test_forward_and_gradients_equal_the_graph_as_written(pool, strides, padding):
    x = gc.placeholder((3, 7, 6, 4), "float32", name="x")
    gy = gc.placeholder(gc.nn.max_pool2d(x, pool, strides, padding).shape, "float32", name="gy")
    s = x * 2.0 - 1.0
    y = gc.nn.max_pool2d(gc.relu(s), pool, strides, padding)
    gx = gc.grad(gc.reduce_sum(y * gy), x)
    xv, gv = _ties((3, 7, 6, 4), 0), np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    optimized, reference = _both([x, gy], [y, gx], [xv, gv])
    for got, want in zip(optimized, reference):
        np.testing.assert_array_equal(got, want)
    counts = gc.optimize([y, gx], passes=["pool_before_relu", "dce"])
    ops = Graph(counts).op_counts()
    assert ops.get("relu") == 1 and ops.get("max_pool2d") == 1   # one pool shared by both


def test_the_rewrite_moves_relu_after_the_pool():
    x = gc.placeholder((2, 8, 8, 3), "float32", name="x")
    y = gc.nn.max_pool2d(gc.relu(x), 2)
    graph, report = pool_before_relu(Graph([y]))
    (out,) = graph.outputs
    assert out.op == "relu" and out.inputs[0].op == "max_pool2d" and out.inputs[0].inputs[0] is x
    assert report.changes["max_pool(relu(s)) → relu(max_pool(s))"] == 1


def test_non_finite_values_and_cotangents_match():
    x = gc.placeholder((2, 4, 4, 2), "float32", name="x")
    gy = gc.placeholder((2, 2, 2, 2), "float32", name="gy")
    y = gc.nn.max_pool2d(gc.relu(x), 2)
    gx = gc.grad(gc.reduce_sum(y * gy), x)
    xv = _ties((2, 4, 4, 2), 2)
    xv[0, 0, 0, 0], xv[1, 2, 3, 1], xv[0, 3, 3, 1] = np.nan, -np.inf, np.inf
    gv = np.random.default_rng(3).standard_normal((2, 2, 2, 2)).astype(np.float32)
    gv[0, 0, 1, 0], gv[1, 1, 0, 1] = np.inf, -np.inf
    with np.errstate(invalid="ignore"):
        optimized, reference = _both([x, gy], [y, gx], [xv, gv])
    for got, want in zip(optimized, reference):
        np.testing.assert_array_equal(got, want)          # NaNs in the same places


def test_no_rewrite_when_relu_has_another_reader():
    x = gc.placeholder((2, 4, 4, 2), "float32", name="x")
    a = gc.relu(x)
    y = gc.nn.max_pool2d(a, 2)
    for outputs in ([y, a], [gc.reduce_sum(y) + gc.reduce_sum(a)]):
        graph, report = pool_before_relu(Graph(outputs))
        assert not report.changes
    # avg pooling does not commute with relu: left alone
    graph, report = pool_before_relu(Graph([gc.nn.avg_pool2d(a, 2)]))
    assert not report.changes


def test_a_cnn_training_step_matches_the_unoptimized_step():
    rng = np.random.default_rng(4)
    x = gc.placeholder((4, 8, 8, 1), "float32", name="x")
    labels = gc.placeholder((4, 3), "float32", name="labels")
    k = gc.variable(rng.standard_normal((3, 3, 1, 5)).astype(np.float32), name="k")
    b = gc.variable(rng.standard_normal(5).astype(np.float32) * 0.1, name="b")
    w = gc.variable(rng.standard_normal((80, 3)).astype(np.float32), name="w")
    h = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(x, k, 1, "same") + b), 2)
    logits = gc.reshape(h, (4, 80)) @ w
    loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(labels, logits))
    grads = gc.grad(loss, [k, b, w])
    xv = rng.random((4, 8, 8, 1), dtype=np.float32)
    lv = np.eye(3, dtype=np.float32)[[0, 2, 1, 0]]
    optimized, reference = _both([x, labels], [loss] + grads, [xv, lv])
    for got, want in zip(optimized, reference):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    explained = gc.function([x, labels], [loss] + grads).explain()
    assert "max_pool(relu(s)) → relu(max_pool(s))" in explained
