"""GEMMs on graphc's kernel threads: BLAS's thread switch (graphc.backends.numpy.blas_threads), the split
products (graphc.backends.numpy.kernels.gemm), the convolutions by chunks of images, and the backend's choice of
which programs run that way.

The split paths are forced on small arrays (split threshold 0, one-image chunks, three
threads, so shares are uneven) and compared with NumPy's own product and with the direct-loop
convolution of test_conv.py; the input and filter gradients with the adjoint identities
<conv(x, w), g> = <x, dx> = <w, dw> and with the whole-batch path.
"""
from __future__ import annotations

import numpy as np
import pytest
from tests.ops.test_conv import ALL_CONV_CASES, ALL_DG_CASES, _case_id, _strides2, ref_conv2d, ref_pads

import graphc as gc
from graphc.backends.numpy import blas_threads
from graphc.backends.numpy.kernels import chunks, conv, gemm

needs_blas_control = pytest.mark.skipif(
    blas_threads._library() is None,
    reason="threadpoolctl finds no BLAS NumPy links here: it keeps BLAS's threads and splits nothing")


@pytest.fixture
def kernel_threads(monkeypatch):
    """Every product split, every convolution by one-image chunks, on three kernel threads."""
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "3")
    monkeypatch.setattr(gemm, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(gemm, "MIN_SHARE", 1)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1)
    with blas_threads.SerialBlas():
        assert blas_threads.active()
        yield


# -- the BLAS switch ---------------------------------------------------------------------------

@needs_blas_control
def test_serial_blas_sets_one_thread_and_restores_the_count_after_nested_blocks():
    blas = blas_threads._library()
    before = blas.get()
    blas.set(2)
    try:
        with blas_threads.SerialBlas():
            assert blas.get() == 1 and blas_threads.active()
            with blas_threads.SerialBlas():
                assert blas.get() == 1
            assert blas.get() == 1 and blas_threads.active()   # the outer block still runs
        assert blas.get() == 2 and not blas_threads.active()
        with pytest.raises(RuntimeError), blas_threads.SerialBlas():
            raise RuntimeError("an op failed")
        assert blas.get() == 2 and not blas_threads.active()
    finally:
        blas.set(before)


def test_outside_a_compiled_call_matmul_is_numpys():
    a, b = np.ones((300, 200), np.float32), np.ones((200, 100), np.float32)
    assert not blas_threads.active()
    np.testing.assert_array_equal(gemm.matmul(a, b), a @ b)


# -- split products ------------------------------------------------------------------------------

@needs_blas_control
@pytest.mark.parametrize("a_shape,b_shape,transpose_a", [
    ((37, 11), (11, 5), False),          # rows
    ((4, 9, 7), (7, 6), False),          # rows of a stacked left operand
    ((2, 13), (13, 29), False),          # columns (few rows)
    ((2, 41), (41, 2), False),           # inner dimension (a weight gradient's shape)
    ((41, 2), (41, 3), True),            # inner dimension of a transposed view: xᵀ g
    ((5, 6, 7), (5, 7, 3), False),       # a batch of products
    ((3, 1, 4, 5), (2, 5, 6), False),    # broadcast batches: NumPy's own product
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_split_products_equal_numpys(kernel_threads, a_shape, b_shape, transpose_a, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    if transpose_a:
        a = a.T
    got = gemm.matmul(a, b)
    want = np.matmul(a, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@needs_blas_control
def test_products_numpy_does_not_hand_to_blas_are_not_split(kernel_threads):
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(gemm.matmul(ints, ints.T), ints @ ints.T)
    mixed = gemm.matmul(np.ones((4, 3), np.float32), np.ones((3, 2), np.float64))
    assert mixed.dtype == np.float64 and (mixed == 3).all()
    vector = gemm.matmul(np.ones((5, 3)), np.ones(3))
    assert vector.shape == (5,) and (vector == 3).all()


@needs_blas_control
def test_split_products_keep_nan_and_inf(kernel_threads):
    a = np.ones((8, 4))
    a[3, 1] = np.nan
    a[6, 0] = np.inf
    got = gemm.matmul(a, np.ones((4, 2)))
    np.testing.assert_array_equal(got, a @ np.ones((4, 2)))


# -- convolutions by chunks of images ------------------------------------------------------------------

def _wide_cases():
    """One-group cases with more than TAP_MAJOR_MAX_CHANNELS channels (the row-major im2col),
    several images (several chunks per share), and paddings beyond the kernel's span (the
    input gradient then crops the cotangent)."""
    return [
        (5, 7, 6, 6, 3, 3, 5, 1, "same"),
        (4, 8, 8, 8, 3, 2, 3, 2, "valid"),
        (3, 6, 5, 5, 2, 3, 4, 1, ((4, 0), (1, 5))),
        (3, 5, 5, 1, 3, 3, 2, 1, ((3, 4), (0, 2))),
        (6, 9, 7, 7, 3, 3, 4, (2, 1), 1),
    ]


ONE_GROUP = [c + (1, 1) for c in _wide_cases() + ALL_CONV_CASES[::2]]
GROUPED = ALL_DG_CASES[::3]


def _setup(case, rng):
    n, h, w, c, kh, kw, o, strides, padding, dil, groups = case
    strides, dil = _strides2(strides), _strides2(dil)
    span = tuple((k - 1) * d + 1 for k, d in zip((kh, kw), dil))
    pads = ref_pads(padding, (h, w), span, strides)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c // groups, o))
    return x, k, strides, pads, dil, groups


def _three_ways(case):
    """(forward, input gradient, filter gradient) on the kernel threads and whole, the direct
    loop's forward, and the cotangent."""
    rng = np.random.default_rng(3)
    x, k, strides, pads, dil, groups = _setup(case, rng)
    want_y = ref_conv2d(x, k, strides, pads, dil, groups)
    g = rng.standard_normal(want_y.shape)

    def run():
        return (conv.nn_conv2d(x, k, strides, pads, dil, groups),
                conv.nn_conv2d_backprop_input(g, k, x, strides, pads, dil, groups),
                conv.nn_conv2d_backprop_filter(x, g, k, strides, pads, dil, groups))
    return run, x, k, g, want_y


@needs_blas_control
@pytest.mark.parametrize("case", ONE_GROUP + GROUPED, ids=_case_id)
def test_conv_ops_on_kernel_threads_match_the_loop_and_the_whole_batch(case, monkeypatch):
    run, x, k, g, want_y = _three_ways(case)
    whole = run()
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "3")
    monkeypatch.setattr(gemm, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1)
    with blas_threads.SerialBlas():
        y, dx, dw = run()
    np.testing.assert_allclose(y, want_y, rtol=1e-10, atol=1e-10)
    assert dx.shape == x.shape and dw.shape == k.shape
    # the adjoints, against the loop's forward: <conv(x, w), g> = <x, dx> = <w, dw>
    np.testing.assert_allclose(np.vdot(x, dx), np.vdot(want_y, g), rtol=1e-10)
    np.testing.assert_allclose(np.vdot(k, dw), np.vdot(want_y, g), rtol=1e-10)
    for split, single in zip((y, dx, dw), whole):
        np.testing.assert_allclose(split, single, rtol=1e-10, atol=1e-10)


@needs_blas_control
def test_input_gradient_by_gather_is_the_transpose_of_the_forward(kernel_threads):
    """Stride 1: dx comes from im2col of the padded cotangent. Column by column of the
    forward's Jacobian (conv of each one-hot image), dx must be Jᵀ g exactly."""
    rng = np.random.default_rng(5)
    n, h, w, c, o = 2, 4, 5, 3, 2
    for pads, dil in ((((1, 1), (1, 1)), (1, 1)), (((3, 0), (0, 2)), (1, 1)), (((2, 2), (1, 0)), (2, 1))):
        k = rng.standard_normal((3, 2, c, o))
        y_shape = ref_conv2d(np.zeros((n, h, w, c)), k, (1, 1), pads, dil).shape
        g = rng.standard_normal(y_shape)
        dx = conv.nn_conv2d_backprop_input(g, k, np.zeros((n, h, w, c)), (1, 1), pads, dil, 1)
        want = np.zeros((n, h, w, c))
        for index in np.ndindex(n, h, w, c):
            one_hot = np.zeros((n, h, w, c))
            one_hot[index] = 1.0
            want[index] = np.vdot(ref_conv2d(one_hot, k, (1, 1), pads, dil), g)
        np.testing.assert_allclose(dx, want, rtol=1e-12, atol=1e-12)


# -- which programs take the GEMMs over ------------------------------------------------------------

def _source(outputs, inputs, *arrays):
    f = gc.function(inputs, outputs)
    f(*arrays)
    return f.source


@needs_blas_control
def test_programs_with_large_products_run_blas_serial_and_small_ones_do_not(monkeypatch):
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "2")
    x = gc.placeholder((512, 512), "float32", name="x")
    big = np.ones((512, 512), np.float32)
    assert "with _serial_blas:" in _source(gc.matmul(x, x), [x], big)
    small = gc.placeholder((16, 16), "float32", name="s")
    assert "_serial_blas" not in _source(gc.matmul(small, small), [small], np.ones((16, 16), np.float32))
    # an op calling LAPACK keeps BLAS's own threads for the whole program
    assert "_serial_blas" not in _source(gc.matmul(x, x) + gc.linalg.inv(x), [x], np.eye(512, dtype=np.float32))
    # many mid-size products (threaded by OpenBLAS, too small to split) outweigh one big one
    m = gc.placeholder((96, 96), "float32", name="m")
    total = gc.matmul(x, x)[:96, :96]
    for i in range(60):
        total = total + gc.matmul(m * float(i + 1), m)   # distinct products: CSE keeps them all
    assert "_serial_blas" not in _source(total, [x, m], big, np.ones((96, 96), np.float32))


@needs_blas_control
def test_one_kernel_thread_leaves_blas_its_threads(monkeypatch):
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "1")
    x = gc.placeholder((512, 512), "float32", name="x")
    assert "_serial_blas" not in _source(gc.matmul(x, x), [x], np.ones((512, 512), np.float32))


@needs_blas_control
def test_a_compiled_call_restores_blas_threads_even_when_it_fails(monkeypatch):
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "2")
    blas = blas_threads._library()
    before = blas.get()
    blas.set(2)
    try:
        x = gc.placeholder((None, 512), "float32", name="x")
        w = gc.placeholder((512, 512), "float32", name="w")
        f = gc.function([x, w], gc.matmul(x, w))
        y = f(np.ones((512, 512), np.float32), np.ones((512, 512), np.float32))
        assert "with _serial_blas:" in f.source and blas.get() == 2
        np.testing.assert_array_equal(y, np.full((512, 512), 512, np.float32))
        with pytest.raises(gc.ShapeError):
            f(np.ones((512, 512), np.float32), np.ones((512, 512), np.float32)[:, :7])
        assert blas.get() == 2 and not blas_threads.active()
    finally:
        blas.set(before)


@needs_blas_control
def test_a_cnn_training_step_agrees_with_and_without_the_kernel_threads(monkeypatch):
    """A CNN step (conv → pool → conv → pool → dense, SGD) at sizes that split: the same loss
    and weights whether BLAS or graphc threads the GEMMs."""
    def step(threads):
        monkeypatch.setenv("GRAPHC_NUM_THREADS", threads)
        rng = np.random.default_rng(11)
        x = gc.placeholder((16, 16, 16, 8), "float32", name="x")
        y = gc.placeholder((16,), "int64", name="y")
        k1 = gc.variable(rng.standard_normal((3, 3, 8, 16)).astype(np.float32) * 0.2, name="k1")
        k2 = gc.variable(rng.standard_normal((3, 3, 16, 32)).astype(np.float32) * 0.1, name="k2")
        w = gc.variable(rng.standard_normal((4 * 4 * 32, 10)).astype(np.float32) * 0.05, name="w")
        h = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(x, k1, 1, "same")), 2)
        h = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(h, k2, 1, "same")), 2)
        logits = gc.reshape(h, (16, 4 * 4 * 32)) @ w
        loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(gc.one_hot(y, 10), logits))
        params = [k1, k2, w]
        f = gc.function([x, y], loss, updates=[(p, p - 0.1 * g) for p, g in zip(params, gc.grad(loss, params))])
        data = np.random.default_rng(12).random((16, 16, 16, 8), dtype=np.float32)
        labels = np.arange(16) % 10
        losses = [float(f(data, labels)) for _ in range(3)]
        return f.source, losses, [p.value for p in params]
    monkeypatch.setattr(gemm, "SPLIT_MIN_MACS", 1 << 16)
    src_split, loss_split, w_split = step("2")
    src_blas, loss_blas, w_blas = step("1")
    assert "with _serial_blas:" in src_split and "_serial_blas" not in src_blas
    np.testing.assert_allclose(loss_split, loss_blas, rtol=1e-5)
    for a, b in zip(w_split, w_blas):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
