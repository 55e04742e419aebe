"""Depthwise convolution kernels (backends/numpy/kernels/conv_depthwise.py) with the batch walked in
chunks and split over the kernel threads: the forward and both gradients against tap-by-tap
NumPy references written here (no code shared with graphc), for channel multipliers 1 and 3,
strides 1 and 2, dilations, and zero, symmetric, asymmetric and larger-than-span padding.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc
from graphc.backends.numpy.kernels import conv, conv_depthwise


def padded(x, pads):
    (t, b), (l, r) = pads
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))


def out_size(size, k, s, d, lo, hi):
    return (size + lo + hi - ((k - 1) * d + 1)) // s + 1


def ref_forward(x, w, strides, pads, dil):
    """y[n, i, j, c·M + m] = Σ_ab xp[n, i·sh + a·dh, j·sw + b·dw, c] · w[a, b, 0, c·M + m]."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    m = o // c
    xp = padded(x, pads)
    oh = out_size(h, kh, strides[0], dil[0], *pads[0])
    ow = out_size(wd, kw, strides[1], dil[1], *pads[1])
    y = np.zeros((n, oh, ow, c, m))
    for a, b in itertools.product(range(kh), range(kw)):
        tap = xp[:, a * dil[0]:a * dil[0] + (oh - 1) * strides[0] + 1:strides[0],
                 b * dil[1]:b * dil[1] + (ow - 1) * strides[1] + 1:strides[1]]
        y += tap[..., None] * w[a, b, 0].reshape(c, m)
    return y.reshape(n, oh, ow, o)


def ref_grads(x, w, g, strides, pads, dil):
    """dx and dw by accumulating every output's cotangent through every tap, pixel by pixel."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    m = o // c
    (t, _), (l, _) = pads
    xp = padded(x, pads)
    dxp = np.zeros_like(xp)
    dw = np.zeros((kh, kw, c, m))
    g5 = g.reshape(g.shape[:3] + (c, m))
    for i, j in itertools.product(range(g.shape[1]), range(g.shape[2])):
        for a, b in itertools.product(range(kh), range(kw)):
            row, col = i * strides[0] + a * dil[0], j * strides[1] + b * dil[1]
            dxp[:, row, col] += np.einsum("ncm,cm->nc", g5[:, i, j], w[a, b, 0].reshape(c, m))
            dw[a, b] += np.einsum("nc,ncm->cm", xp[:, row, col], g5[:, i, j])
    dx = dxp[:, t:t + h, l:l + wd]
    return dx, dw.reshape(kh, kw, 1, o)


@pytest.fixture
def split_everything(monkeypatch):
    """One image per chunk and the batch shared over the kernel threads however small."""
    monkeypatch.setattr(conv_depthwise, "CHUNK_BYTES", 1)
    monkeypatch.setattr(conv_depthwise, "PARALLEL_MIN_ELEMENTS", 1)


CASES = [  # (mult, strides, dilations, pads, (H, W), kernel)
    (1, (1, 1), (1, 1), ((1, 1), (1, 1)), (7, 6), (3, 3)),
    (3, (1, 1), (1, 1), ((1, 1), (1, 1)), (5, 8), (3, 3)),
    (1, (1, 1), (1, 1), ((0, 0), (0, 0)), (6, 6), (3, 3)),
    (2, (1, 1), (2, 1), ((2, 2), (0, 1)), (7, 7), (3, 2)),
    (1, (1, 1), (1, 1), ((3, 1), (2, 3)), (5, 5), (3, 3)),     # padding beyond the span: cropped
    (1, (2, 2), (1, 1), ((0, 1), (0, 1)), (8, 7), (3, 3)),
    (3, (2, 1), (1, 2), ((1, 1), (2, 2)), (9, 6), (3, 3)),
    (2, (3, 2), (1, 1), ((0, 0), (1, 0)), (10, 9), (2, 2)),
]


@pytest.mark.parametrize("mult, strides, dil, pads, hw, kernel", CASES)
@pytest.mark.parametrize("split", [False, True])
def test_kernels_match_the_references(request, mult, strides, dil, pads, hw, kernel, split):
    if split:
        request.getfixturevalue("split_everything")
    rng = np.random.default_rng(3)
    n, c = 5, 4
    x = rng.standard_normal((n,) + hw + (c,))
    w = rng.standard_normal(kernel + (1, c * mult))
    y = conv.nn_conv2d(x, w, strides, pads, dil, groups=c)
    want = ref_forward(x, w, strides, pads, dil)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    dx_want, dw_want = ref_grads(x, w, g, strides, pads, dil)
    dx = conv.nn_conv2d_backprop_input(g, w, x, strides, pads, dil, groups=c)
    dw = conv.nn_conv2d_backprop_filter(x, g, w, strides, pads, dil, groups=c)
    np.testing.assert_allclose(dx, dx_want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, dw_want, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_and_close(split_everything):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 9, 9, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 12)).astype(np.float32)
    pads = ((1, 1), (1, 1))
    y = conv.nn_conv2d(x, w, (1, 1), pads, (1, 1), groups=6)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref_forward(x.astype(np.float64), w.astype(np.float64), (1, 1), pads, (1, 1)),
                               rtol=1e-5, atol=1e-5)


def test_compiled_depthwise_step_gradients_by_finite_differences(split_everything):
    rng = np.random.default_rng(5)
    x = gc.placeholder((2, 6, 5, 3), "float64", name="x")
    w = gc.variable(rng.standard_normal((3, 3, 3, 2)), name="w")
    loss = gc.reduce_sum(gc.tanh(gc.nn.depthwise_conv2d(x, w, strides=2, padding="same")) ** 2)
    gc.check_grad(loss, [x, w], {x: rng.standard_normal((2, 6, 5, 3))})
