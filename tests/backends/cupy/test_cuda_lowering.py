"""The CuPy backend's device implementations (backends/cupy/device_ops.py), run here with
NumPy arrays against graphc's own NumPy kernels (each op's reference semantics).

device_ops.py is written once against an array module: with CuPy arrays it runs on the GPU
(tests/gpu/ checks that), with NumPy arrays it runs here, so the algorithms (im2col, per-tap
pooling, scatters, SAME padding at run time) are checked on every machine. What only a GPU
can show is whether CuPy's functions behave as NumPy's on the same calls.
"""
from __future__ import annotations

import numpy as np
import pytest

from graphc.backends.cupy import device_ops
from graphc.ir.opdef import OPS

rng = np.random.default_rng(11)


def same(got, want, rtol=1e-12):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


CONV_CASES = [((2, 7, 6, 3), (3, 3, 3, 4), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
              ((1, 8, 8, 2), (2, 3, 2, 5), (2, 3), ((0, 0), (0, 0)), (1, 1), 1),
              ((2, 5, 9, 1), (3, 2, 1, 2), (2, 2), "same", (1, 1), 1),
              ((1, 6, 6, 2), (1, 1, 2, 3), (1, 2), ((2, 0), (1, 3)), (1, 1), 1),
              # dilated, grouped, depthwise (graphc/ops/conv.py's dilations= and groups=)
              ((2, 9, 8, 2), (3, 2, 2, 3), (1, 1), "same", (2, 3), 1),
              ((1, 7, 7, 6), (3, 3, 2, 6), (2, 1), ((1, 0), (2, 1)), (1, 2), 3),
              ((2, 6, 5, 4), (2, 2, 1, 8), (1, 1), "same", (2, 1), 4)]

DILATED = "{dilations}" in OPS["conv2d"].numpy


@pytest.mark.parametrize("xs, ws, strides, pads, dilations, groups", CONV_CASES)
def test_convolution_and_its_gradients(xs, ws, strides, pads, dilations, groups):
    if (dilations != (1, 1) or groups != 1) and not DILATED:
        pytest.skip("graphc's conv2d has no dilations/groups attributes here")
    at = dict(strides=strides, pads=pads, dilations=dilations, groups=groups)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    y = OPS["conv2d"].impl(x, w, **at)
    same(device_ops.nn_conv2d(x, w, **at), y)
    g = rng.normal(size=y.shape)
    same(device_ops.nn_conv2d_backprop_input(g, w, x, **at), OPS["conv2d_backprop_input"].impl(g, w, x, **at))
    same(device_ops.nn_conv2d_backprop_filter(x, g, w, **at), OPS["conv2d_backprop_filter"].impl(x, g, w, **at))


POOL_CASES = [((2, 6, 6, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
              ((1, 7, 5, 2), (3, 3), (1, 2), "same"),
              ((2, 5, 5, 1), (3, 2), (2, 1), ((1, 1), (0, 1)))]


@pytest.mark.parametrize("xs, pool, strides, pads", POOL_CASES)
def test_pooling_and_its_gradients(xs, pool, strides, pads):
    x = rng.normal(size=xs)
    x[0, 0, 0, 0] = x[0, 0, 1, 0]  # a tie: the first maximal cell takes the gradient
    at = dict(pool_size=pool, strides=strides, pads=pads)
    y = OPS["max_pool2d"].impl(x, **at)
    same(device_ops.nn_max_pool2d(x, pool, strides, pads), y)
    g = rng.normal(size=y.shape)
    same(device_ops.nn_max_pool2d_grad(x, y, g, pool, strides, pads), OPS["max_pool2d_grad"].impl(x, y, g, **at))
    v = rng.normal(size=xs)
    same(device_ops.nn_max_pool2d_select(x, v, pool, strides, pads), OPS["max_pool2d_select"].impl(x, v, **at))
    a = OPS["avg_pool2d"].impl(x, **at)
    same(device_ops.nn_avg_pool2d(x, pool, strides, pads), a)
    same(device_ops.nn_avg_pool2d_grad(g, x, pool, strides, pads), OPS["avg_pool2d_grad"].impl(g, x, **at))


def test_float32_stays_float32():
    x = rng.normal(size=(1, 4, 4, 2)).astype(np.float32)
    w = rng.normal(size=(2, 2, 2, 3)).astype(np.float32)
    assert device_ops.nn_conv2d(x, w, (1, 1), ((0, 0), (0, 0))).dtype == np.float32
    assert device_ops.nn_avg_pool2d(x, (2, 2), (2, 2), ((0, 0), (0, 0))).dtype == np.float32
    assert device_ops.softmax_xent(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)).dtype == np.float32


def test_scatters_and_gathers():
    g, x = rng.normal(size=(2, 2, 3)), rng.normal(size=(5, 3))
    idx = np.array([[4, 0], [-1, 4]])
    same(device_ops.gather_grad(g, idx, x, 0), OPS["gather_grad"].impl(g, idx, x, axis=0))
    g1, x1 = rng.normal(size=(4, 3)), rng.normal(size=(4, 6))
    idx1 = np.array([5, 5, 0])
    same(device_ops.gather_grad(g1, idx1, x1, 1), OPS["gather_grad"].impl(g1, idx1, x1, axis=1))
    index = (1, slice(0, None, 2))
    g2 = rng.normal(size=2)
    same(device_ops.scatter_basic(g2, rng.normal(size=(3, 4)), index),
         OPS["getitem_grad"].impl(g2, rng.normal(size=(3, 4)), index=index))
    parts = [rng.normal(size=(3, 3)), rng.normal(size=(3, 3)), rng.normal(size=(1, 2)), rng.normal(size=(4, 3))]
    flat = (slice(0, 3), slice(None), slice(1, 4), slice(None), None, 2, slice(None, None, -2))
    same(device_ops.scatter_slices(*parts, index=flat, lengths=(2, 2, 3)),
         OPS["scatter_slices"].impl(*parts, index=flat, lengths=(2, 2, 3)))
    gs = [rng.normal(size=(2, 5)), rng.normal(size=(2, 2)), rng.normal(size=(2, 3))]
    same(device_ops.concat_part(*gs, axis=1, index=1), OPS["concat_part"].impl(*gs, axis=1, index=1))


def test_one_hot_sum_to_count_and_cross_entropy():
    idx = np.array([[0, 3, 5], [2, -1, 1]])
    same(device_ops.one_hot(idx, 4, "float32"), OPS["one_hot"].impl(idx, depth=4, dtype="float32"))
    g = rng.normal(size=(2, 3, 4))
    same(device_ops.sum_to(g, (3, 1)), OPS["sum_to_like"].impl(g, np.zeros((3, 1))))
    same(device_ops.reduced_count(g, (0, 2)), OPS["reduced_count"].impl(g, axis=(0, 2)))
    labels, logits = rng.uniform(size=(4, 5)), rng.normal(size=(4, 5)) * 10
    same(device_ops.softmax_xent(labels, logits), OPS["softmax_cross_entropy"].impl(labels, logits), rtol=1e-13)


def test_every_helper_a_lowered_template_calls_is_a_device_helper():
    """A NumPy template run on the device may call NumPy helpers (``helpers=`` of its defop)
    only through device_ops' functions of the same name: none of graphc's host kernels."""
    import re

    from graphc.backends.cupy import lowering
    for name in sorted(lowering.SAME_AS_NUMPY):
        od = OPS[name]
        calls = set(re.findall(r"(?<![.\w])([A-Za-z_]\w*)\(", od.numpy))
        host = sorted(c for c in calls if c in od.helpers and c not in device_ops.HELPERS)
        assert not host, f"{name}: its template calls host helper(s) {host} with no device version"
