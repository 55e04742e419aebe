"""graphc.ops.conv_reference (the plain-NumPy reference semantics of the conv and pool ops),
pinned against brute-force Python loops written here on tiny shapes, against the adjoint
identities of the gradients, against hand-made examples of the tie / NaN / padding rules, and
against the fast kernels (graphc.backends.numpy.kernels.KERNELS) it stands beside."""
import ast
import inspect
import itertools
from pathlib import Path

import numpy as np
import pytest

from graphc.ops import conv_reference as ref
from graphc.ops.conv_reference import (
    REFERENCES, nn_avg_pool2d, nn_avg_pool2d_grad, nn_conv2d, nn_conv2d_backprop_filter,
    nn_conv2d_backprop_input, nn_conv2d_bias, nn_max_pool2d, nn_max_pool2d_grad, nn_max_pool2d_select)


def rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# -- brute-force loops (explicit pads only; a cell outside the input reads 0 / is skipped) --------

def out_size(n, k, s, lo, hi, d=1):
    return (n + lo + hi - ((k - 1) * d + 1)) // s + 1


def loop_conv(x, w, strides, pads, dilations=(1, 1), groups=1):
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    og = o // groups
    (t, b), (l, r) = pads
    oh, ow = out_size(h, kh, strides[0], t, b, dilations[0]), out_size(wd, kw, strides[1], l, r, dilations[1])
    y = np.zeros((n, oh, ow, o))
    for m, i, j, f in itertools.product(range(n), range(oh), range(ow), range(o)):
        total = 0.0
        for a, bb, ci in itertools.product(range(kh), range(kw), range(cg)):
            p, q = i * strides[0] + a * dilations[0] - t, j * strides[1] + bb * dilations[1] - l
            if 0 <= p < h and 0 <= q < wd:
                total += x[m, p, q, (f // og) * cg + ci] * w[a, bb, ci, f]
        y[m, i, j, f] = total
    return y


def loop_conv_grads(x, w, g, strides, pads, dilations=(1, 1), groups=1):
    """(dx, dw) of sum(conv(x, w) * g), by the same loops, accumulated."""
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    og = o // groups
    (t, _), (l, _) = pads
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for m, i, j, f in itertools.product(range(n), range(g.shape[1]), range(g.shape[2]), range(o)):
        for a, bb, ci in itertools.product(range(kh), range(kw), range(cg)):
            p, q = i * strides[0] + a * dilations[0] - t, j * strides[1] + bb * dilations[1] - l
            if 0 <= p < h and 0 <= q < wd:
                ch = (f // og) * cg + ci
                dx[m, p, q, ch] += g[m, i, j, f] * w[a, bb, ci, f]
                dw[a, bb, ci, f] += g[m, i, j, f] * x[m, p, q, ch]
    return dx, dw


def loop_windows(shape, pool, strides, pads):
    """Per window (m, i, j, ch): its in-bounds cells [(p, q)] in row-major order."""
    n, h, w, c = shape
    (t, b), (l, r) = pads
    oh, ow = out_size(h, pool[0], strides[0], t, b), out_size(w, pool[1], strides[1], l, r)
    for m, i, j, ch in itertools.product(range(n), range(oh), range(ow), range(c)):
        cells = [(i * strides[0] + a - t, j * strides[1] + bb - l)
                 for a in range(pool[0]) for bb in range(pool[1])]
        yield (m, i, j, ch), [(p, q) for p, q in cells if 0 <= p < h and 0 <= q < w], (oh, ow)


def loop_pools(x, pool, strides, pads):
    """(max, avg, first-arg-max cell per window) by loops, x finite."""
    results = {}
    for (m, i, j, ch), cells, (oh, ow) in loop_windows(x.shape, pool, strides, pads):
        vals = [x[m, p, q, ch] for p, q in cells]
        best = max(range(len(vals)), key=lambda k: (vals[k], -k))    # first of the maxima
        results[m, i, j, ch] = (max(vals), sum(vals) / len(vals), cells[best], cells)
    shape = (x.shape[0], oh, ow, x.shape[3])
    mx, avg = np.zeros(shape), np.zeros(shape)
    for key, (v_max, v_avg, _, _) in results.items():
        mx[key], avg[key] = v_max, v_avg
    return mx, avg, results


# -- convolution -------------------------------------------------------------------------------

# (x shape, w shape, strides, pads, dilations, groups)
CONV_CASES = {
    "plain": ((2, 5, 6, 3), (3, 3, 3, 4), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    "strided": ((1, 7, 8, 2), (3, 2, 2, 3), (2, 3), ((0, 0), (0, 0)), (1, 1), 1),
    "asymmetric_pads": ((2, 5, 5, 2), (3, 3, 2, 2), (1, 2), ((2, 0), (1, 3)), (1, 1), 1),
    "dilated": ((1, 8, 7, 2), (3, 2, 2, 3), (1, 1), ((1, 2), (0, 1)), (2, 3), 1),
    "grouped": ((2, 6, 5, 6), (2, 3, 3, 4), (2, 1), ((1, 1), (0, 2)), (1, 2), 2),
    "depthwise": ((2, 6, 6, 3), (3, 3, 1, 3), (1, 2), ((1, 1), (1, 1)), (1, 1), 3),
    "depthwise_multiplier": ((1, 7, 6, 3), (2, 3, 1, 6), (2, 1), ((0, 1), (2, 0)), (2, 1), 3),
    "one_by_one_stride_leaves_gaps": ((1, 7, 7, 2), (1, 1, 2, 3), (3, 3), ((0, 0), (0, 0)), (1, 1), 1),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_matches_loops_with_strides_pads_dilations_groups(case):
    xs, ws, strides, pads, dilations, groups = CONV_CASES[case]
    rng = np.random.default_rng(1)
    x, w = rand(rng, xs), rand(rng, ws)
    got = nn_conv2d(x, w, strides, pads, dilations, groups)
    np.testing.assert_allclose(got, loop_conv(x, w, strides, pads, dilations, groups), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_backprops_match_loops(case):
    xs, ws, strides, pads, dilations, groups = CONV_CASES[case]
    rng = np.random.default_rng(2)
    x, w = rand(rng, xs), rand(rng, ws)
    g = rand(rng, nn_conv2d(x, w, strides, pads, dilations, groups).shape)
    dx, dw = loop_conv_grads(x, w, g, strides, pads, dilations, groups)
    np.testing.assert_allclose(nn_conv2d_backprop_input(g, w, x, strides, pads, dilations, groups), dx,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn_conv2d_backprop_filter(x, g, w, strides, pads, dilations, groups), dw,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_backprops_are_its_adjoints(case):
    # <conv(x, w), g> == <x, B_in(g, w)> == <w, B_f(x, g)>
    xs, ws, strides, pads, dilations, groups = CONV_CASES[case]
    rng = np.random.default_rng(3)
    x, w = rand(rng, xs), rand(rng, ws)
    y = nn_conv2d(x, w, strides, pads, dilations, groups)
    g = rand(rng, y.shape)
    dx = nn_conv2d_backprop_input(g, w, x, strides, pads, dilations, groups)
    dw = nn_conv2d_backprop_filter(x, g, w, strides, pads, dilations, groups)
    assert dx.shape == x.shape and dw.shape == w.shape
    lhs = np.vdot(y, g)
    assert np.vdot(x, dx) == pytest.approx(lhs, rel=1e-12)
    assert np.vdot(w, dw) == pytest.approx(lhs, rel=1e-12)


def test_conv2d_backprop_input_gives_zero_to_cells_no_window_reads():
    rng = np.random.default_rng(4)
    x, w = rand(rng, (1, 7, 7, 2)), rand(rng, (1, 1, 2, 3))
    g = rand(rng, (1, 3, 3, 3))
    dx = nn_conv2d_backprop_input(g, w, x, (3, 3), ((0, 0), (0, 0)))
    read = np.zeros((7, 7), bool)
    read[::3, ::3] = True
    assert np.all(dx[:, ~read] == 0) and np.all(dx[:, read] != 0)


@pytest.mark.parametrize("h, k, s, d, expected", [
    (7, 3, 2, 1, (1, 1)),      # out 4, total padding 2
    (8, 3, 2, 1, (0, 1)),      # out 4, total 1: the odd cell at the bottom/right
    (6, 2, 1, 1, (0, 1)),
    (6, 2, 1, 3, (1, 2)),      # dilated: span (2 - 1)·3 + 1 = 4, total 3
    (5, 1, 2, 1, (0, 0)),
])
def test_conv2d_same_padding_is_tensorflows(h, k, s, d, expected):
    rng = np.random.default_rng(5)
    x, w = rand(rng, (1, h, h, 1)), rand(rng, (k, k, 1, 2))
    span = (k - 1) * d + 1
    total = max((-(-h // s) - 1) * s + span - h, 0)
    assert expected == (total // 2, total - total // 2)
    pads = (expected, expected)
    got = nn_conv2d(x, w, (s, s), "same", (d, d))
    assert got.shape[1:3] == (-(-h // s),) * 2
    np.testing.assert_allclose(got, loop_conv(x, w, (s, s), pads, (d, d)), rtol=1e-12, atol=1e-12)
    g = rand(rng, got.shape)
    np.testing.assert_allclose(nn_conv2d_backprop_input(g, w, x, (s, s), "same", (d, d)),
                               loop_conv_grads(x, w, g, (s, s), pads, (d, d))[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn_conv2d_backprop_filter(x, g, w, (s, s), "same", (d, d)),
                               loop_conv_grads(x, w, g, (s, s), pads, (d, d))[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_ops_keep_their_float_dtype(dtype):
    rng = np.random.default_rng(6)
    x, w = rand(rng, (1, 5, 5, 2), dtype), rand(rng, (3, 3, 2, 2), dtype)
    p = ((1, 1), (1, 1))
    y = nn_conv2d(x, w, (1, 1), p)
    assert y.dtype == dtype
    assert nn_conv2d_backprop_input(y, w, x, (1, 1), p).dtype == dtype
    assert nn_conv2d_backprop_filter(x, y, w, (1, 1), p).dtype == dtype


@pytest.mark.parametrize("bias_shape", [(4,), (1, 4), (1, 1, 1, 4)])
def test_conv2d_bias_adds_one_value_per_output_channel(bias_shape):
    xs, ws, strides, pads, dilations, groups = CONV_CASES["grouped"]
    rng = np.random.default_rng(7)
    x, w, b = rand(rng, xs), rand(rng, ws), rand(rng, bias_shape)
    got = nn_conv2d_bias(x, w, b, strides, pads, dilations, groups)
    expected = loop_conv(x, w, strides, pads, dilations, groups) + b.reshape(-1)[None, None, None, :]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_bias_of_another_dtype_promotes_as_numpy():
    rng = np.random.default_rng(8)
    x, w = rand(rng, (1, 4, 4, 2), np.float32), rand(rng, (2, 2, 2, 3), np.float32)
    assert nn_conv2d_bias(x, w, np.ones(3, np.float32), (1, 1), ((0, 0), (0, 0))).dtype == np.float32
    assert nn_conv2d_bias(x, w, np.ones(3, np.float64), (1, 1), ((0, 0), (0, 0))).dtype == np.float64


# -- pooling -------------------------------------------------------------------------------------

POOL_CASES = {
    "tiling_2x2": ((2, 4, 6, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    "tiling_with_leftover_row": ((1, 5, 4, 2), (2, 2), (2, 2), ((0, 0), (0, 0))),
    "overlapping_3x3_stride_1_padded": ((2, 5, 5, 2), (3, 3), (1, 1), ((1, 1), (1, 1))),
    "asymmetric_pads_and_strides": ((1, 6, 7, 2), (3, 2), (2, 3), ((2, 0), (0, 1))),
    "tiling_with_padding": ((1, 5, 5, 2), (2, 2), (2, 2), ((1, 0), (0, 1))),
}


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_pools_match_loops_counting_only_unpadded_cells_in_the_mean(case):
    xs, pool, strides, pads = POOL_CASES[case]
    x = rand(np.random.default_rng(9), xs)
    mx, avg, _ = loop_pools(x, pool, strides, pads)
    np.testing.assert_allclose(nn_max_pool2d(x, pool, strides, pads), mx, rtol=0, atol=0)
    np.testing.assert_allclose(nn_avg_pool2d(x, pool, strides, pads), avg, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_pool_gradients_and_select_match_loops(case):
    xs, pool, strides, pads = POOL_CASES[case]
    rng = np.random.default_rng(10)
    x, v = rand(rng, xs), rand(rng, xs)
    mx, _, windows = loop_pools(x, pool, strides, pads)
    g = rand(rng, mx.shape)
    dmax, davg, sel = np.zeros(xs), np.zeros(xs), np.zeros(mx.shape)
    for (m, i, j, ch), (_, _, (p, q), cells) in windows.items():
        dmax[m, p, q, ch] += g[m, i, j, ch]
        sel[m, i, j, ch] = v[m, p, q, ch]
        for pp, qq in cells:
            davg[m, pp, qq, ch] += g[m, i, j, ch] / len(cells)
    np.testing.assert_allclose(nn_max_pool2d_grad(x, mx, g, pool, strides, pads), dmax, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn_max_pool2d_select(x, v, pool, strides, pads), sel, rtol=0, atol=0)
    np.testing.assert_allclose(nn_avg_pool2d_grad(g, x, pool, strides, pads), davg, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_pool_gradients_are_adjoints(case):
    # avg_pool2d is linear: <avg(x), g> == <x, avg_grad(g)>; at fixed arg-max positions
    # <select(x, v), g> == <v, max_grad(x, g)>
    xs, pool, strides, pads = POOL_CASES[case]
    rng = np.random.default_rng(11)
    x, v = rand(rng, xs), rand(rng, xs)
    g = rand(rng, nn_max_pool2d(x, pool, strides, pads).shape)
    assert np.vdot(nn_avg_pool2d(x, pool, strides, pads), g) == pytest.approx(
        np.vdot(x, nn_avg_pool2d_grad(g, x, pool, strides, pads)), rel=1e-12)
    out = nn_max_pool2d(x, pool, strides, pads)
    assert np.vdot(nn_max_pool2d_select(x, v, pool, strides, pads), g) == pytest.approx(
        np.vdot(v, nn_max_pool2d_grad(x, out, g, pool, strides, pads)), rel=1e-12)


def test_avg_pool_divides_each_window_by_its_unpadded_cells():
    x = np.arange(9, dtype=np.float64).reshape(1, 3, 3, 1)
    y = nn_avg_pool2d(x, (3, 3), (1, 1), ((1, 1), (1, 1)))[0, :, :, 0]
    assert y[0, 0] == (0 + 1 + 3 + 4) / 4          # corner: 4 of the 9 cells are in x
    assert y[0, 1] == (0 + 1 + 2 + 3 + 4 + 5) / 6  # edge: 6
    assert y[1, 1] == 4.0                           # centre: all 9
    ones = np.ones((1, 4, 5, 2), np.float32)
    same = nn_avg_pool2d(ones, (3, 2), (2, 2), "same")
    assert same.dtype == np.float32 and np.all(same == 1)


def test_max_pool_padding_cells_never_win():
    x = -np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)   # all negative
    y = nn_max_pool2d(x, (2, 2), (2, 2), ((1, 0), (1, 0)))[0, :, :, 0]
    np.testing.assert_array_equal(y, [[-1, -2], [-4, -5]])


def test_max_pool_grad_gives_ties_to_the_first_cell_of_the_window_in_row_major_order():
    # window 1: all four equal -> (0, 0); window 2: (0, 1) and (1, 0) tie -> (0, 1)
    x = np.array([[1, 1, 0, 5],
                  [1, 1, 5, 2]], np.float64).reshape(1, 2, 4, 1)
    g = np.array([10.0, 20.0]).reshape(1, 1, 2, 1)
    out = nn_max_pool2d(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    dx = nn_max_pool2d_grad(x, out, g, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[10, 0, 0, 20], [0, 0, 0, 0]])
    v = np.arange(8, dtype=np.float64).reshape(x.shape)
    np.testing.assert_array_equal(nn_max_pool2d_select(x, v, (2, 2), (2, 2), ((0, 0), (0, 0)))[0, :, :, 0],
                                  [[0, 3]])


def test_max_pool_grad_sums_over_overlapping_windows_each_routing_to_its_first_max():
    x = np.array([[3, 3, 3],
                  [3, 3, 3]], np.float64).reshape(1, 2, 3, 1)
    g = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)    # 2x2 windows at columns 0 and 1
    dx = nn_max_pool2d_grad(x, None, g, (2, 2), (1, 1), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 2, 0], [0, 0, 0]])


def test_max_pool_grad_of_a_nan_window_routes_nothing_and_its_max_is_nan():
    x = np.array([[1, np.nan, 0, 5],
                  [4, 1, 5, 2]], np.float64).reshape(1, 2, 4, 1)
    g = np.array([10.0, 20.0]).reshape(1, 1, 2, 1)
    p = ((0, 0), (0, 0))
    out = nn_max_pool2d(x, (2, 2), (2, 2), p)
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 1, 0] == 5
    dx = nn_max_pool2d_grad(x, out, g, (2, 2), (2, 2), p)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0, 20], [0, 0, 0, 0]])
    v = np.full(x.shape, 7.0)
    np.testing.assert_array_equal(nn_max_pool2d_select(x, v, (2, 2), (2, 2), p)[0, :, :, 0], [[0, 7]])


def test_max_pool_grad_routes_infinite_cotangents_without_making_nan():
    x = np.array([[1, 2], [3, 4]], np.float64).reshape(1, 2, 2, 1)
    g = np.array([np.inf]).reshape(1, 1, 1, 1)
    dx = nn_max_pool2d_grad(x, None, g, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0], [0, np.inf]])
    v = np.array([[np.inf, np.nan], [-np.inf, 1]]).reshape(x.shape)
    assert nn_max_pool2d_select(x, v, (2, 2), (2, 2), ((0, 0), (0, 0)))[0, 0, 0, 0] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_ops_keep_their_float_dtype(dtype):
    rng = np.random.default_rng(12)
    x = rand(rng, (1, 4, 4, 2), dtype)
    args = ((2, 2), (2, 2), ((0, 0), (0, 0)))
    y = nn_max_pool2d(x, *args)
    assert y.dtype == dtype and nn_avg_pool2d(x, *args).dtype == dtype
    assert nn_max_pool2d_grad(x, y, y, *args).dtype == dtype
    assert nn_max_pool2d_select(x, x, *args).dtype == dtype
    assert nn_avg_pool2d_grad(y, x, *args).dtype == dtype


# -- the module itself -----------------------------------------------------------------------------

def _fast_helpers():
    """The NumPy backend's kernels for the conv and pool helper names (kernels.conv, kernels.pool)."""
    from graphc.backends.numpy.kernels import KERNELS, conv, pool
    return {name: KERNELS[name] for name in (*conv.KERNELS, *pool.KERNELS)}


def test_references_are_drop_ins_for_the_fast_kernels_names_and_signatures():
    fast = _fast_helpers()
    assert set(REFERENCES) == set(fast) and len(REFERENCES) == 9
    for name, f in REFERENCES.items():
        assert f.__name__ == name
        assert inspect.signature(f) == inspect.signature(fast[name]), name


def test_reference_module_imports_only_numpy():
    tree = ast.parse(Path(ref.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module.split(".")[0])
    assert imported <= {"numpy", "__future__"}


# -- agreement with the fast kernels (backends/numpy/kernels/conv.py, pool.py) -----------------------------------

FAST_CONV_CASES = [
    # (x shape, w shape, strides, pads, dilations, groups)
    ((2, 9, 8, 5), (3, 3, 5, 7), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((3, 10, 9, 2), (3, 2, 2, 4), (2, 3), ((2, 0), (1, 2)), (2, 1), 1),
    ((2, 8, 8, 3), (5, 5, 3, 2), (2, 2), "same", (1, 1), 1),
    ((2, 9, 9, 8), (3, 3, 2, 12), (1, 2), ((0, 1), (1, 0)), (1, 2), 4),      # grouped, C/G = 2
    ((2, 8, 7, 4), (3, 3, 1, 8), (1, 1), ((1, 1), (1, 1)), (2, 2), 4),      # depthwise, multiplier 2
    ((2, 8, 7, 4), (3, 3, 1, 4), (2, 1), "same", (1, 1), 4),                # depthwise, strided
    ((1, 6, 7, 64), (3, 3, 64, 64), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),   # Winograd's layers
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(FAST_CONV_CASES)))
def test_conv_references_agree_with_the_fast_kernels(case, dtype):
    fast = _fast_helpers()
    xs, ws, strides, pads, dilations, groups = FAST_CONV_CASES[case]
    rng = np.random.default_rng(100 + case)
    x, w, b = rand(rng, xs, dtype), rand(rng, ws, dtype), rand(rng, (ws[3],), dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    at = (strides, pads, dilations, groups)

    def same(name, *args):
        want, got = fast[name](*args, *at), REFERENCES[name](*args, *at)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, **tol, err_msg=name)
        return got
    y = same("nn_conv2d", x, w)
    same("nn_conv2d_bias", x, w, b)
    g = rand(rng, y.shape, dtype)
    same("nn_conv2d_backprop_input", g, w, x)
    same("nn_conv2d_backprop_filter", x, g, w)


FAST_POOL_CASES = [
    # (x shape, pool, strides, pads): tiling (the fast kernel's compare-with-pooled path),
    # tiling with padding or a leftover row (its tap-planes path), overlapping (its mask path)
    ((2, 8, 6, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    ((2, 7, 6, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    ((2, 7, 7, 3), (2, 2), (2, 2), "same"),
    ((2, 7, 8, 3), (3, 3), (1, 1), ((1, 1), (1, 1))),
    ((1, 9, 8, 2), (3, 2), (2, 3), ((2, 0), (0, 1))),
]


@pytest.mark.parametrize("values", ["continuous", "ties", "non_finite"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(FAST_POOL_CASES)))
def test_pool_references_agree_with_the_fast_kernels(case, dtype, values):
    fast = _fast_helpers()
    xs, pool, strides, pads = FAST_POOL_CASES[case]
    rng = np.random.default_rng(200 + case)
    x, v, g = rand(rng, xs, dtype), rand(rng, xs, dtype), None
    if values == "ties":          # few distinct values: many windows hold their max twice
        x = np.round(x).astype(dtype)
    if values == "non_finite":    # NaN windows, -inf cells, infinite values in v
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 4, replace=False)] = np.nan
        flat[rng.choice(flat.size, 4, replace=False)] = -np.inf
        v.reshape(-1)[rng.choice(v.size, 4, replace=False)] = np.inf
    at = (pool, strides, pads)

    def same(name, *args):
        want, got = fast[name](*args, *at), REFERENCES[name](*args, *at)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=name)
        return got
    y = same("nn_max_pool2d", x)
    same("nn_avg_pool2d", x)
    g = rand(rng, y.shape, dtype)
    same("nn_max_pool2d_grad", x, y, g)
    same("nn_max_pool2d_select", x, v)
    same("nn_avg_pool2d_grad", g, x)
    if values == "non_finite":    # infinite cotangents, routed without NaN
        g.reshape(-1)[rng.choice(g.size, 3, replace=False)] = np.inf
        same("nn_max_pool2d_grad", x, y, g)
