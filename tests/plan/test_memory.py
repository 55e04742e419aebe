"""The memory plan: liveness, early release, in-place reuse of dying buffers, peak bytes."""
import re

import numpy as np

import graphc as gc
from graphc.plan import memory
from graphc.ir.graph import Graph
from graphc.passes import pipeline
from graphc.plan.schedule import schedule


def _plan(outputs, updates=()):
    graph, _ = pipeline.run(Graph(outputs, updates))
    steps = schedule(graph)
    return steps, memory.plan(steps, graph)


def test_peak_bytes_of_a_chain_is_two_live_buffers():
    x = gc.placeholder((1000, 100), "float64", name="x")
    a = gc.reduce_sum(x, axis=1, keepdims=True)         # (1000, 1): 8 000 B
    b = gc.matmul(a, gc.constant(np.ones((1, 100))))    # (1000, 100): 800 000 B
    c = gc.reduce_max(b, axis=0)                         # (100,): 800 B
    steps, plan = _plan([c])
    # at the matmul, a and b are alive together; the fill/constant are not intermediates
    assert plan.peak_bytes == 8_000 + 800_000
    assert not plan.unknown_sizes


def test_each_intermediate_dies_after_its_last_reader_and_outputs_never_die():
    x = gc.placeholder((200, 200), name="x")  # 160 KB per product: worth releasing
    a = gc.matmul(x, x)
    b = gc.reduce_sum(a, axis=0)
    c = gc.matmul(a, a)
    steps, plan = _plan([b, c])
    dead = {id(v) for vs in plan.dies_after for v in vs}
    assert id(a) in dead and id(b) not in dead and id(c) not in dead
    position = next(k for k, vs in enumerate(plan.dies_after) if any(v is a for v in vs))
    assert steps[position] is c  # a's last reader


def test_a_lone_elementwise_op_reuses_its_dying_input_buffer():
    x = gc.placeholder((300, 400), "float64", name="x")
    y = gc.exp(gc.reduce_sum(x, axis=1))   # exp has no elementwise neighbour: not fused
    f = gc.function([x], y * 1.0)
    xv = np.random.default_rng(0).normal(size=(300, 400)) * 0.01
    np.testing.assert_allclose(f(xv), np.exp(xv.sum(axis=1)))
    assert "(in place)" in f.source and "out=t" in f.source
    assert "write in place" in f.explain()


def test_views_and_outputs_are_never_overwritten_in_place():
    x = gc.placeholder((20, 30), "float64", name="x")
    t = gc.transpose(x)                     # a view of the caller's array
    s = gc.reduce_sum(x, axis=0)            # an output, also read below
    f = gc.function([x], [s, gc.exp(t) * 2.0, gc.exp(s)])
    xv = np.random.default_rng(1).normal(size=(20, 30))
    before = xv.copy()
    s_out, e_out, es_out = f(xv)
    np.testing.assert_array_equal(xv, before)
    np.testing.assert_allclose(s_out, before.sum(axis=0))
    np.testing.assert_allclose(es_out, np.exp(before.sum(axis=0)))
    np.testing.assert_allclose(e_out, np.exp(before.T) * 2)


def test_generated_code_releases_dead_intermediates_and_explain_reports_the_peak():
    x = gc.placeholder((256, 256), name="x")
    f = gc.function([x], gc.reduce_sum(gc.matmul(gc.matmul(x, x), x)))
    f(np.ones((256, 256), "float32"))
    assert re.search(r"\n +del ", f.source)
    assert "memory plan: peak 512.0 KiB" in f.explain()  # two (256, 256) float32 products


def test_small_intermediates_are_not_released_one_by_one():
    x = gc.placeholder((8, 8), name="x")
    f = gc.function([x], gc.reduce_sum(gc.matmul(gc.matmul(x, x), x)))
    f(np.ones((8, 8), "float32"))
    assert "del " not in f.source  # 256-byte arrays: a del per call would cost more than it frees
