"""Gradients through many basic-index slices of one tensor (an unrolled recurrent layer reads
x[:, t, :] for every t): the slices' cotangents are gathered into ONE ``scatter_slices`` node
(one zero array) instead of one full-size ``getitem_grad`` and one full-size add per slice."""
from __future__ import annotations

import time

import numpy as np

import graphc as gc
from graphc.ir.graph import topological_order


def _slice_sum(x, steps):
    w = gc.constant(np.linspace(0.5, 1.5, 3))
    return gc.reduce_sum(gc.stack([gc.reduce_sum(gc.tanh(x[:, t, :]) * w) * (t + 1.0)
                                   for t in range(steps)]))


def _count(outputs, ops):
    return sum(1 for n in topological_order(outputs) if n.op in ops)


def test_many_slices_match_finite_differences():
    x = gc.placeholder((2, 5, 3), "float64", name="x")
    y = _slice_sum(x, 5)
    value = np.random.default_rng(0).standard_normal((2, 5, 3))
    gc.check_grad(y, x, {x: value})
    g = gc.function([x], gc.grad(y, x))(value)
    w = np.linspace(0.5, 1.5, 3)
    expected = (1 - np.tanh(value) ** 2) * w * np.arange(1.0, 6.0)[None, :, None]
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)


def test_long_sequence_builds_one_scatter():
    steps = 200
    x = gc.placeholder((8, steps, 3), "float64", name="x")
    start = time.perf_counter()
    g = gc.grad(_slice_sum(x, steps), x)
    assert _count([g], {"scatter_slices"}) == 1
    assert _count([g], {"getitem_grad"}) == 0
    opt = gc.optimize(g)
    assert _count([opt], {"scatter_slices", "getitem_grad"}) == 1
    full = [n for n in topological_order([opt]) if n.shape == x.shape and n is not x]
    assert len(full) <= 3, [n.op for n in full]
    value = np.random.default_rng(1).standard_normal((8, steps, 3))
    out = gc.function([x], g)(value)
    elapsed = time.perf_counter() - start
    w = np.linspace(0.5, 1.5, 3)
    expected = (1 - np.tanh(value) ** 2) * w * np.arange(1.0, steps + 1)[None, :, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert elapsed < 2.0, f"T={steps}: build + compile + run took {elapsed:.2f}s"


def test_single_slice_keeps_getitem_grad():
    x = gc.placeholder((4, 3), "float64", name="x")
    g = gc.grad(gc.reduce_sum(x[1:3] ** 2), x)
    assert g.op == "getitem_grad"


def test_overlapping_slices_add():
    x = gc.placeholder((5,), "float64", name="x")
    y = gc.reduce_sum(x[0:3] * gc.constant(np.array([1.0, 2.0, 3.0]))) \
        + gc.reduce_sum(x[1:4] * gc.constant(np.array([10.0, 20.0, 30.0]))) + gc.reduce_sum(x[1:4])
    g = gc.grad(y, x)
    assert g.op == "scatter_slices"
    np.testing.assert_array_equal(gc.function([x], g)(np.zeros(5)), [1.0, 13.0, 24.0, 31.0, 0.0])


def test_direct_and_sliced_uses_are_summed():
    x = gc.placeholder((4, 3), "float64", name="x")
    y = gc.reduce_sum(x ** 2) + gc.reduce_sum(gc.sin(x[0])) + gc.reduce_sum(x[1:3] * x[2:4]) \
        + gc.reduce_sum(gc.exp(x[:, 1]))
    value = np.random.default_rng(2).standard_normal((4, 3))
    gc.check_grad(y, x, {x: value})
    expected = 2 * value
    expected[0] += np.cos(value[0])
    expected[1:3] += value[2:4]
    expected[2:4] += value[1:3]
    expected[:, 1] += np.exp(value[:, 1])
    np.testing.assert_allclose(gc.function([x], gc.grad(y, x))(value), expected, rtol=1e-12)


def test_mixed_dtypes_cast_each_slice():
    x = gc.placeholder((3, 2), "float64", name="x")
    y = gc.reduce_sum(gc.cast(x[0], "float32")) + gc.reduce_sum(gc.cast(x[1:], "float32") * 2.0)
    g = gc.grad(gc.cast(y, "float64"), x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(gc.function([x], g)(np.ones((3, 2))), [[1, 1], [2, 2], [2, 2]])


def test_second_derivatives_through_slices():
    x = gc.placeholder((3, 2), "float64", name="x")
    y = gc.reduce_sum(x[0:2] ** 3) + gc.reduce_sum(x[1:3] * x[0:2]) + gc.reduce_sum(gc.sin(x[:, 0]) * x[:, 1])
    value = np.random.default_rng(3).standard_normal((3, 2))
    h = gc.function([x], gc.hessian(y, x))(value)
    grad_fn = gc.function([x], gc.grad(y, x))
    eps = 1e-5
    numeric = np.zeros((3, 2, 3, 2))
    for idx in np.ndindex(3, 2):
        up, down = value.copy(), value.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[..., idx[0], idx[1]] = (grad_fn(up) - grad_fn(down)) / (2 * eps)
    np.testing.assert_allclose(h, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h, h.transpose(2, 3, 0, 1), rtol=1e-10, atol=1e-12)
