"""The NumPy backend's fast paths give NumPy's own answers: relu against a row of zeros, sums
over leading axes through BLAS, the tap-major im2col of few-channel convolutions, and the
process keeping freed memory (no page faults on a repeated allocation)."""
import resource
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.backends.numpy import allocator
from graphc.backends.numpy.kernels.conv import TAP_MAJOR_MAX_CHANNELS, nn_conv2d, nn_conv2d_backprop_filter
from graphc.backends.numpy.kernels.fast_ufuncs import relu_max0
from graphc.backends.numpy.kernels.fast_ufuncs import sum_reduce


@pytest.mark.parametrize("shape", [(7,), (64, 28, 28, 32), (3, 5000), (2, 3, 50000), (9000, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_relu_max0_is_np_maximum_with_zero(shape, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    if x.dtype.kind == "f":
        x.flat[::97] = np.nan
        x.flat[5::101] = -np.inf
    expected = np.maximum(x, 0)
    np.testing.assert_array_equal(relu_max0(x), expected)
    out = np.empty_like(x)
    assert relu_max0(x, out) is out
    np.testing.assert_array_equal(out, expected)
    relu_max0(x, x)                                           # in place
    np.testing.assert_array_equal(x, expected)


def test_relu_max0_on_views_and_scalars():
    x = np.random.default_rng(1).standard_normal((300, 40)).astype(np.float32)
    np.testing.assert_array_equal(relu_max0(x.T), np.maximum(x.T, 0))          # not contiguous
    np.testing.assert_array_equal(relu_max0(x[:, ::2]), np.maximum(x[:, ::2], 0))
    assert relu_max0(np.float32(-2.0)) == 0.0


@pytest.mark.parametrize("shape,axis", [
    ((64, 28, 28, 32), (0, 1, 2)), ((4096, 64), (0,)), ((50, 40, 33), (0, 1)),
    ((64, 28, 28, 32), (1, 2)), ((10, 10), (0,)), ((300, 300), (0, 1))])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sum_reduce_matches_numpy(shape, axis, keepdims, dtype):
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    got = sum_reduce(x, axis, keepdims)
    want = np.add.reduce(x.astype(np.float64), axis=axis, keepdims=keepdims)
    assert got.shape == want.shape and got.dtype == np.add.reduce(x, axis=axis).dtype
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.sqrt(x.size))


def test_bias_gradient_through_a_compiled_function_uses_the_fast_sum():
    x = gc.placeholder((64, 28, 28, 32), "float32", name="x")
    f = gc.function([x], gc.reduce_sum(x, axis=(0, 1, 2)))
    value = np.random.default_rng(3).random((64, 28, 28, 32), dtype=np.float32)
    np.testing.assert_allclose(f(value), value.astype(np.float64).sum(axis=(0, 1, 2)), rtol=1e-5)
    assert "sum_reduce" in f.source


def _loop_conv(x, w, stride, pad, dil):
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    xp = np.pad(x, ((0, 0), pad[0], pad[1], (0, 0)))
    oh = (h + sum(pad[0]) - (kh - 1) * dil[0] - 1) // stride[0] + 1
    ow = (wd + sum(pad[1]) - (kw - 1) * dil[1] - 1) // stride[1] + 1
    y = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    y[:, i, j] += xp[:, i * stride[0] + a * dil[0], j * stride[1] + b * dil[1]] @ w[a, b]
    return y


@pytest.mark.parametrize("c", range(1, TAP_MAJOR_MAX_CHANNELS + 1))
@pytest.mark.parametrize("stride,pad,dil", [((1, 1), ((1, 1), (1, 1)), (1, 1)),
                                            ((2, 1), ((0, 1), (2, 0)), (1, 1)),
                                            ((1, 2), ((2, 2), (0, 0)), (2, 1))])
def test_tap_major_convolution_and_filter_gradient_match_a_loop(c, stride, pad, dil):
    rng = np.random.default_rng(c)
    x = rng.standard_normal((3, 9, 8, c))
    w = rng.standard_normal((3, 2, c, 5))
    y = nn_conv2d(x, w, stride, pad, dil)
    np.testing.assert_allclose(y, _loop_conv(x, w, stride, pad, dil), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(y.shape)
    # <conv(x, w), g> is linear in w: its gradient is the filter backprop
    dw = nn_conv2d_backprop_filter(x, g, w, stride, pad, dil)
    basis = np.zeros_like(w)
    for idx in [(0, 0, 0, 0), (2, 1, c - 1, 4), (1, 0, c // 2, 2)]:
        basis[...] = 0
        basis[idx] = 1
        assert dw[idx] == pytest.approx(np.sum(_loop_conv(x, basis, stride, pad, dil) * g), rel=1e-10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
def test_importing_graphc_keeps_freed_memory_so_a_repeated_allocation_does_not_fault():
    if "glibc" not in allocator.state:
        pytest.skip(f"malloc left as found here: {allocator.state}")
    size = 16 << 20
    np.ones(size // 8)                                # first touch: the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        np.ones(size // 8)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # measured here: 0 when kept, ~500 with glibc's defaults (GRAPHC_KEEP_MEMORY=0)
    assert faults < 50, f"{faults} page faults for 5 allocations of 16 MiB"
