"""Graphs of 100 000+ nodes build, differentiate and compile without RecursionError."""
import sys

import numpy as np

import graphc as gc


def test_a_100k_node_graph_builds_differentiates_and_compiles():
    assert sys.getrecursionlimit() < 100_000  # the test means something only under the default limit
    x = gc.placeholder((), "float64", name="x")
    h = x
    for _ in range(25_000):
        h = gc.sin(h) * 0.5 + x
    dh = gc.grad(h, x)
    f = gc.function([x], [h, dh])
    assert len(f.source_graph) > 100_000
    value, slope = f(0.3)
    # reference: the same recurrence in plain Python, derivative by forward mode
    v, d = 0.3, 1.0
    for _ in range(25_000):
        v, d = np.sin(v) * 0.5 + 0.3, np.cos(v) * 0.5 * d + 1.0
    assert value == np.float64(v)
    np.testing.assert_allclose(slope, d, rtol=1e-9)
