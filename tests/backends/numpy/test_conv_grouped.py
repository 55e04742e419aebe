"""The grouped convolution kernels (graphc.backends.numpy.kernels.conv_grouped: C/G > 1 channels per group) against
the direct-loop reference of test_conv.py, for the forward (with and without bias), the input
gradient (stride 1: a grouped convolution of the cotangent; other strides: scatter per tap) and
the filter gradient; whole batch, and split over three kernel threads in one-image chunks with
BLAS serial (uneven shares); gradients by the adjoint identity <conv(x, w), g> = <x, dx> = <w, dw>
and, for a few cases, column by column of the Jacobian."""
from __future__ import annotations

import numpy as np
import pytest
from tests.ops.test_conv import ALL_DG_CASES, _case_id, ref_conv2d
from tests.backends.numpy.test_gemm_threads import _setup

from graphc.backends.numpy import blas_threads
from graphc.backends.numpy.kernels import chunks, conv, conv_grouped, gemm

# the cases with several channels per group (depthwise ones, C/G = 1, have their own kernels)
CASES = [c for c in ALL_DG_CASES if c[10] > 1 and c[3] // c[10] > 1] + [
    # (N, H, W, C, KH, KW, O, strides, padding, dilations, groups)
    (3, 7, 7, 8, 3, 3, 8, 1, "same", 1, 2),                 # ResNeXt-like: 3×3 same, stride 1
    (2, 6, 5, 12, 3, 3, 6, 1, ((2, 0), (1, 3)), 1, 3),       # uneven padding, O/G < C/G
    (2, 6, 6, 6, 3, 3, 9, 1, ((3, 1), (0, 2)), 1, 3),        # padding beyond the span: cropped
    (2, 9, 8, 8, 3, 3, 8, (2, 2), "same", 1, 4),             # strided: the scatter input gradient
]


@pytest.fixture
def kernel_threads(monkeypatch):
    """Every convolution by one-image chunks, shared over three kernel threads, BLAS serial."""
    if blas_threads._library() is None:
        pytest.skip("threadpoolctl finds no BLAS NumPy links: nothing is split")
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "3")
    monkeypatch.setattr(gemm, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1)
    with blas_threads.SerialBlas():
        yield


def _check(case):
    rng = np.random.default_rng(21)
    x, k, strides, pads, dil, groups = _setup(case, rng)
    want = ref_conv2d(x, k, strides, pads, dil, groups)
    g = rng.standard_normal(want.shape)
    bias = rng.standard_normal(k.shape[3])
    y = conv.nn_conv2d(x, k, strides, pads, dil, groups)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv.nn_conv2d_bias(x, k, bias, strides, pads, dil, groups), want + bias,
                               rtol=1e-10, atol=1e-10)
    dx = conv.nn_conv2d_backprop_input(g, k, x, strides, pads, dil, groups)
    dw = conv.nn_conv2d_backprop_filter(x, g, k, strides, pads, dil, groups)
    assert dx.shape == x.shape and dw.shape == k.shape
    np.testing.assert_allclose(np.vdot(x, dx), np.vdot(want, g), rtol=1e-10)
    np.testing.assert_allclose(np.vdot(k, dw), np.vdot(want, g), rtol=1e-10)
    return y, dx, dw


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_grouped_kernels_whole_batch(case):
    _check(case)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_grouped_kernels_on_kernel_threads_in_one_image_chunks(case, kernel_threads):
    _check(case)


@pytest.mark.parametrize("case", [(1, 4, 5, 4, 3, 3, 4, 1, "same", 1, 2),
                                  (1, 5, 4, 6, 3, 3, 3, 1, ((2, 0), (1, 3)), 1, 3),
                                  (1, 6, 5, 4, 3, 2, 4, (2, 2), "same", 1, 2)], ids=_case_id)
def test_grouped_gradients_are_the_jacobians_transposes(case):
    """dx and dw entry by entry: the forward of each one-hot image (filter) dotted with g."""
    rng = np.random.default_rng(22)
    x, k, strides, pads, dil, groups = _setup(case, rng)
    g = rng.standard_normal(ref_conv2d(x, k, strides, pads, dil, groups).shape)
    dx = conv.nn_conv2d_backprop_input(g, k, x, strides, pads, dil, groups)
    dw = conv.nn_conv2d_backprop_filter(x, g, k, strides, pads, dil, groups)
    for index in np.ndindex(*x.shape):
        one_hot = np.zeros_like(x)
        one_hot[index] = 1.0
        assert dx[index] == pytest.approx(np.vdot(ref_conv2d(one_hot, k, strides, pads, dil, groups), g), abs=1e-10)
    for index in np.ndindex(*k.shape):
        one_hot = np.zeros_like(k)
        one_hot[index] = 1.0
        assert dw[index] == pytest.approx(np.vdot(ref_conv2d(x, one_hot, strides, pads, dil, groups), g), abs=1e-10)


def test_flipped_filters_swap_each_groups_channels():
    """flipped[a, b, j, g·C/G + i] = w[KH−1−a, KW−1−b, i, g·O/G + j]."""
    rng = np.random.default_rng(23)
    kh, kw, cg, groups, og = 3, 2, 3, 4, 2
    w = rng.standard_normal((kh, kw, cg, groups * og))
    flipped = conv_grouped.flipped_filters(w, groups)
    assert flipped.shape == (kh, kw, og, groups * cg)
    for a, b, j, grp, i in np.ndindex(kh, kw, og, groups, cg):
        assert flipped[a, b, j, grp * cg + i] == w[kh - 1 - a, kw - 1 - b, i, grp * og + j]


def test_float32_grouped_layer_matches_float64_reference(kernel_threads):
    """A ResNeXt-shaped float32 layer (32 groups of 4 channels) on the kernel threads, against
    the float64 reference: float32 rounding only."""
    rng = np.random.default_rng(24)
    x = rng.standard_normal((3, 8, 8, 128)).astype(np.float32)
    k = (rng.standard_normal((3, 3, 4, 128)) / 6).astype(np.float32)
    pads = ((1, 1), (1, 1))
    want = ref_conv2d(x.astype(np.float64), k.astype(np.float64), (1, 1), pads, (1, 1), 32)
    y = conv.nn_conv2d(x, k, (1, 1), pads, (1, 1), 32)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(want.shape).astype(np.float32)
    dx = conv.nn_conv2d_backprop_input(g, k, x, (1, 1), pads, (1, 1), 32)
    dw = conv.nn_conv2d_backprop_filter(x, g, k, (1, 1), pads, (1, 1), 32)
    assert dx.dtype == dw.dtype == np.float32
    np.testing.assert_allclose(np.vdot(x.astype(np.float64), dx), np.vdot(want, g), rtol=1e-4)
    np.testing.assert_allclose(np.vdot(k.astype(np.float64), dw), np.vdot(want, g), rtol=1e-4)
