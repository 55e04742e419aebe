"""Winograd F(2×2, 3×3) convolutions (backends/numpy/kernels/winograd.py and its drivers in conv.py).

The transforms are checked against the textbook matrices Bᵀ, G, Aᵀ written out here; the
convolutions and both their gradients against shift-and-sum NumPy references that share no code
with graphc (every tap of the 3×3 window as one einsum over a slice of the padded input), in
float64 (tight) and float32, for even and odd outputs, symmetric, asymmetric, zero and cropping
padding, with the batch split over the kernel threads and without.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backends.numpy import blas_threads
from graphc.backends.numpy.kernels import chunks, conv, winograd

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# -- independent references ----------------------------------------------------------------------


def padded(x, pads):
    (t, b), (l, r) = pads
    xp = np.pad(x, ((0, 0), (max(t, 0), max(b, 0)), (max(l, 0), max(r, 0)), (0, 0)))
    h, w = xp.shape[1:3]
    return xp[:, max(-t, 0):h - max(-b, 0), max(-l, 0):w - max(-r, 0)]


def ref_conv(x, w, pads):
    xp = padded(x.astype(np.float64), pads)
    oh, ow = xp.shape[1] - 2, xp.shape[2] - 2
    return sum(np.einsum("nijc,co->nijo", xp[:, a:a + oh, b:b + ow], w[a, b].astype(np.float64))
               for a in range(3) for b in range(3))


def ref_filter_grad(x, g, pads):
    xp = padded(x.astype(np.float64), pads)
    oh, ow = g.shape[1:3]
    return np.stack([np.stack([np.einsum("nijc,nijo->co", xp[:, a:a + oh, b:b + ow], g.astype(np.float64))
                               for b in range(3)]) for a in range(3)])


def ref_input_grad(g, w, x_shape, pads):
    """Scatter each output's cotangent back through every tap, then drop the padding."""
    (t, _), (l, _) = pads
    n, h, wd, c = x_shape
    oh, ow = g.shape[1:3]
    g, w = g.astype(np.float64), w.astype(np.float64)
    big = np.zeros((n, oh + 2, ow + 2, c))
    for a in range(3):
        for bb in range(3):
            big[:, a:a + oh, bb:bb + ow] += np.einsum("nijo,co->nijc", g, w[a, bb])
    # big is the padded frame: its row i is x's row i − t (t < 0: a cropped row)
    dx = np.zeros((n, h, wd, c))
    for i in range(big.shape[1]):
        row = i - t
        if 0 <= row < h:
            for j in range(big.shape[2]):
                col = j - l
                if 0 <= col < wd:
                    dx[:, row, col] = big[:, i, j]
    return dx


def rel_err(got, want):
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-300)


TOL = {np.float64: 1e-12, np.float32: 5e-6}


# -- the transforms against the textbook matrices ---------------------------------------------------


def test_filter_transform_is_g_w_gt(rng):
    w = rng.standard_normal((3, 3, 5, 7))
    u = winograd.filter_transform(w, np.float64).reshape(4, 4, 5, 7)
    want = np.einsum("ai,ijco,bj->abco", G, w, G)
    np.testing.assert_allclose(u, want, rtol=1e-14, atol=1e-14)


def test_filter_transform_grad_is_its_adjoint(rng):
    w = rng.standard_normal((3, 3, 4, 6))
    du = rng.standard_normal((16, 4, 6))
    lhs = np.sum(winograd.filter_transform(w, np.float64) * du)
    rhs = np.sum(w * winograd.filter_transform_grad(du))
    assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(lhs))


@pytest.mark.parametrize("out", [(4, 6), (2, 2), (6, 4)])
def test_input_transform_is_bt_d_b_per_tile(rng, out):
    th, tw = winograd.tiles(out)
    n, c = 2, 3
    xp = rng.standard_normal((n,) + winograd.padded_size(out) + (c,))
    v = winograd.InputTransform(n, out, c, np.float64)(xp, ((0, 0), (0, 0))).reshape(4, 4, n, th, tw, c)
    for ti in range(th):
        for tj in range(tw):
            d = xp[:, 2 * ti:2 * ti + 4, 2 * tj:2 * tj + 4, :]           # (n, 4, 4, c)
            want = np.einsum("pi,nijc,qj->pqnc", B_T, d, B_T)
            np.testing.assert_allclose(v[:, :, :, ti, tj, :], want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((2, 0), (0, 1)), ((0, 1), (3, 2)), ((-1, 2), (1, -1))])
@pytest.mark.parametrize("hw", [(6, 8), (7, 5), (4, 9)])
def test_input_transform_pads_the_images_itself(rng, pads, hw):
    """The transform pads (or crops) each chunk into its even/odd-column buffer: the result is
    Bᵀ d B of the tiles of the reference padding, an odd output's last tiles reading zeros."""
    n, c = 3, 2
    x = rng.standard_normal((n,) + hw + (c,))
    xp = padded(x, pads)
    out = (xp.shape[1] - 2, xp.shape[2] - 2)
    th, tw = winograd.tiles(out)
    hp, wp = winograd.padded_size(out)
    xp = np.pad(xp, ((0, 0), (0, hp - xp.shape[1]), (0, wp - xp.shape[2]), (0, 0)))
    transform = winograd.InputTransform(n + 2, out, c, np.float64)
    transform(rng.standard_normal((n + 2,) + hw + (c,)), pads)        # a larger chunk first
    v = transform(x, pads).reshape(4, 4, n, th, tw, c)
    for ti in range(th):
        for tj in range(tw):
            d = xp[:, 2 * ti:2 * ti + 4, 2 * tj:2 * tj + 4, :]
            want = np.einsum("pi,nijc,qj->pqnc", B_T, d, B_T)
            np.testing.assert_allclose(v[:, :, :, ti, tj, :], want, rtol=1e-14, atol=1e-14)


def test_output_transform_is_at_m_a(rng):
    n, th, tw, o = 2, 3, 2, 4
    m = rng.standard_normal((16, n * th * tw, o))
    y6 = np.empty((n, th, 2, tw, 2, o))
    winograd.output_transform(m, y6, np.empty((2, 4, n, th, tw, o)))
    m6 = m.reshape(4, 4, n, th, tw, o)
    want = np.einsum("ip,pqntso,jq->ntisjo", A_T, m6, A_T)
    np.testing.assert_allclose(y6, want, rtol=1e-14, atol=1e-14)


def test_output_grad_transform_is_the_adjoint_of_the_output_transform(rng):
    n, th, tw, o = 2, 2, 3, 3
    m = rng.standard_normal((16, n * th * tw, o))
    gy = rng.standard_normal((n, th, 2, tw, 2, o))
    y6 = np.empty_like(gy)
    winograd.output_transform(m, y6, np.empty((2, 4, n, th, tw, o)))
    dm = np.empty_like(m)
    winograd.output_grad_transform(gy, dm, np.empty((4, 2, n, th, tw, o)))
    assert abs(np.sum(y6 * gy) - np.sum(m * dm)) < 1e-12 * np.abs(y6 * gy).sum()


# -- when the path applies ---------------------------------------------------------------------------


def test_suitable_only_for_3x3_stride_1_undilated_wide_layers():
    wide = winograd.MIN_CHANNELS
    assert winograd.suitable((3, 3), (1, 1), (1, 1), wide, wide)
    assert not winograd.suitable((3, 3), (1, 1), (1, 1), wide - 1, wide)
    assert not winograd.suitable((3, 3), (1, 1), (1, 1), wide, wide - 1)
    assert not winograd.suitable((5, 5), (1, 1), (1, 1), wide, wide)
    assert not winograd.suitable((3, 3), (2, 2), (1, 1), wide, wide)
    assert not winograd.suitable((3, 3), (1, 1), (2, 2), wide, wide)


# -- the three convolution kernels against the references ------------------------------------------

PADS = {"same": ((1, 1), (1, 1)), "valid": ((0, 0), (0, 0)), "asymmetric": ((2, 0), (0, 1)),
        "wide": ((3, 3), (2, 3))}


@pytest.fixture(params=["threads", "blas"])
def mode(request):
    """'threads': a compiled call's setting, graphc splits the batch over its kernel threads in
    chunks (when this machine has several threads); 'blas': one chunk, BLAS threads itself."""
    if request.param == "threads":
        with blas_threads.SerialBlas():
            yield request.param
    else:
        yield request.param


@pytest.fixture
def narrow_ok(monkeypatch):
    """Winograd for any channel count, so small cases exercise the path cheaply."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pad", list(PADS))
@pytest.mark.parametrize("hw", [(6, 8), (7, 5), (3, 3), (9, 9)])
def test_small_channels_forward_and_gradients(rng, narrow_ok, mode, dtype, pad, hw):
    pads = PADS[pad]
    n, c, o = 5, 3, 4
    x = rng.standard_normal((n,) + hw + (c,)).astype(dtype)
    w = rng.standard_normal((3, 3, c, o)).astype(dtype)
    y = conv.nn_conv2d(x, w, (1, 1), pads)
    want = ref_conv(x, w, pads)
    assert y.shape == want.shape and y.dtype == dtype
    assert rel_err(y, want) < TOL[dtype]
    g = rng.standard_normal(y.shape).astype(dtype)
    dw = conv.nn_conv2d_backprop_filter(x, g, w, (1, 1), pads)
    assert dw.shape == w.shape and rel_err(dw, ref_filter_grad(x, g, pads)) < TOL[dtype]
    dx = conv.nn_conv2d_backprop_input(g, w, x, (1, 1), pads)
    assert dx.shape == x.shape and rel_err(dx, ref_input_grad(g, w, x.shape, pads)) < TOL[dtype]
    b = rng.standard_normal(o).astype(dtype)      # the bias, added to M at one position
    assert rel_err(conv.nn_conv2d_bias(x, w, b, (1, 1), pads), want + b) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wide_layer_takes_the_path_by_default_and_matches(rng, mode, dtype, monkeypatch):
    """At the real threshold (no monkeypatch of MIN_CHANNELS), with enough images that the
    threaded mode splits the batch into several chunks per thread."""
    c = o = winograd.MIN_CHANNELS
    calls = []
    original = conv._conv_winograd
    monkeypatch.setattr(conv, "_conv_winograd", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1 << 16)   # several chunks per thread
    x = rng.standard_normal((9, 7, 6, c)).astype(dtype)
    w = (rng.standard_normal((3, 3, c, o)) / 24).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    pads = PADS["same"]
    y = conv.nn_conv2d_bias(x, w, b, (1, 1), pads)
    assert calls, "a 3×3 stride-1 layer of MIN_CHANNELS channels should take the Winograd path"
    assert rel_err(y, ref_conv(x, w, pads) + b) < TOL[dtype]
    g = rng.standard_normal(y.shape).astype(dtype)
    assert rel_err(conv.nn_conv2d_backprop_filter(x, g, w, (1, 1), pads), ref_filter_grad(x, g, pads)) < TOL[dtype]
    assert rel_err(conv.nn_conv2d_backprop_input(g, w, x, (1, 1), pads),
                   ref_input_grad(g, w, x.shape, pads)) < TOL[dtype]


def test_other_layers_keep_im2col(rng, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Winograd path taken")
    monkeypatch.setattr(conv, "_conv_winograd", refuse)
    monkeypatch.setattr(conv, "_filter_grad_winograd", refuse)
    c = winograd.MIN_CHANNELS
    x = rng.standard_normal((2, 6, 6, c))
    for w, strides in ((rng.standard_normal((3, 3, c, 8)), (1, 1)),        # too few filters
                       (rng.standard_normal((3, 3, c, c)), (2, 2)),        # strided
                       (rng.standard_normal((5, 5, c, c)), (1, 1))):       # 5×5
        y = conv.nn_conv2d(x, w, strides, ((1, 1), (1, 1)))
        conv.nn_conv2d_backprop_filter(x, np.ones_like(y), w, strides, ((1, 1), (1, 1)))
        conv.nn_conv2d_backprop_input(np.ones_like(y), w, x, strides, ((1, 1), (1, 1)))


# -- through the graph: gradients by finite differences, a compiled training step -----------------


def test_check_grad_through_a_winograd_layer(rng, narrow_ok):
    x = gc.placeholder((2, 5, 4, 3), "float64", name="x")
    w = gc.variable(rng.standard_normal((3, 3, 3, 2)), name="w")
    y = gc.reduce_sum(gc.tanh(gc.nn.conv2d(x, w, 1, "same")) ** 2)
    gc.check_grad(y, [x, w], {x: rng.standard_normal((2, 5, 4, 3))})


def test_compiled_step_matches_the_im2col_step(rng, monkeypatch):
    """A conv → relu → conv → SGD step on a wide layer: the same loss and updated weights
    (within float32 rounding) as the same step with the Winograd path switched off."""
    c = winograd.MIN_CHANNELS
    x0 = rng.standard_normal((4, 8, 8, c)).astype(np.float32)
    w0 = [(rng.standard_normal((3, 3, c, c)) / 24).astype(np.float32) for _ in range(2)]

    def step(min_channels):
        monkeypatch.setattr(winograd, "MIN_CHANNELS", min_channels)
        x = gc.placeholder(x0.shape, "float32", name="x")
        ws = [gc.variable(v.copy(), name=f"w{k}") for k, v in enumerate(w0)]
        h = gc.relu(gc.nn.conv2d(x, ws[0], 1, "same"))
        loss = gc.reduce_mean(gc.nn.conv2d(h, ws[1], 1, "same") ** 2)
        grads = gc.grad(loss, ws)
        fn = gc.function([x], loss, updates=[(v, v - 0.1 * g) for v, g in zip(ws, grads)])
        value = fn(x0)
        return float(value), [v.value.copy() for v in ws]

    loss_w, weights_w = step(winograd.MIN_CHANNELS)
    loss_i, weights_i = step(10 ** 9)
    assert abs(loss_w - loss_i) <= 1e-5 * abs(loss_i)
    for a, b in zip(weights_w, weights_i):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
