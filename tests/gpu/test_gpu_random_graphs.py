"""Random graphs (tests/passes/test_random_graphs.py's strategy: elementwise ops, broadcasts,
reductions, matmuls, reshapes, transposes, slices) give the same results on the CuPy backend
as on the NumPy backend, on small shapes and on shapes with long reductions."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gpu.gpu_support import assert_same, require_gpu

require_gpu()

import graphc as gc  # noqa: E402
from tests.passes.test_random_graphs import _values, random_graph  # noqa: E402


def _agree(inputs, outs, values):
    want = gc.function(inputs, outs)(*values)
    got = gc.function(inputs, outs, backend="cupy")(*values)
    for k, (a, b) in enumerate(zip(got, want)):
        assert_same(a, b, 1e-10, 1e-10, what=f"output {k}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph(3, 4), st.integers(0, 2**31 - 1))
def test_small_random_graphs_agree_across_backends(graph, seed):
    inputs, outs = graph
    _agree(inputs, outs, _values((3, 4), seed))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph(300, 256), st.integers(0, 2**31 - 1))
def test_large_random_graphs_agree_across_backends(graph, seed):
    inputs, outs = graph
    _agree(inputs, outs, _values((300, 256), seed))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph(2, 3), st.integers(0, 2**31 - 1))
def test_random_graph_gradients_agree_across_backends(graph, seed):
    (x, v), outs = graph
    loss = sum(gc.reduce_sum(gc.tanh(o)) for o in outs)
    grads = gc.grad(loss, [x, v])
    values = _values((2, 3), seed)
    want = gc.function([x, v], grads)(*values)
    got = gc.function([x, v], grads, backend="cupy")(*values)
    for a, b in zip(got, want):
        assert_same(a, b, 1e-9, 1e-11, what="gradient")
