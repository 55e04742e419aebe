"""Plain-NumPy reference semantics of the convolution and pooling ops (NHWC inputs, HWIO filters).

Short, single-threaded, obviously-correct code: what constant folding runs and what the op
means. The NumPy backend binds faster kernels (im2col, Winograd, threads) under the same names;
they must agree with these to float tolerance. Imports nothing but NumPy.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# -- geometry ------------------------------------------------------------------------------


def _same_pads(size, k, s):
    """TensorFlow's SAME padding along one axis: (before, after), the odd cell after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return (total // 2, total - total // 2)


def _geometry(spatial, kernel, strides, pads, dilations=(1, 1)):
    """(pads, (OH, OW)) for an input of size ``spatial`` = (H, W): ``pads`` is
    ((top, bottom), (left, right)) or "same" (resolved here); the window spans
    (k - 1)·d + 1 cells along each axis."""
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    if isinstance(pads, str):
        pads = tuple(_same_pads(n, k, s) for n, k, s in zip(spatial, span, strides))
    pads = tuple(tuple(int(p) for p in side) for side in pads)
    out = tuple((n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in zip(spatial, span, strides, pads))
    return pads, out


def _pad(x, pads, value):
    """x (N, H, W, C) padded with ``value`` around H and W."""
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def _tap(xp, a, b, strides, out, dilations=(1, 1)):
    """The cells that tap (a, b) of every window reads in the padded xp: (N, OH, OW, C), a view
    (window (i, j), tap (a, b) is the cell (i·sh + a·dh, j·sw + b·dw))."""
    top, left = a * dilations[0], b * dilations[1]
    return xp[:, top:top + (out[0] - 1) * strides[0] + 1:strides[0],
              left:left + (out[1] - 1) * strides[1] + 1:strides[1], :]


def _crop(xp, pads, h, w):
    (t, _), (l, _) = pads
    return xp[:, t:t + h, l:l + w, :]


# -- convolution ---------------------------------------------------------------------------
# Grouped (Keras): the C input channels and O filters split into G consecutive blocks, filter
# block g sees input block g only; w is (KH, KW, C/G, O). Channel c of x is (group c // Cg,
# member c % Cg), filter o is (group o // Og, member o % Og).


def nn_conv2d(x, w, strides, pads, dilations=(1, 1), groups=1):
    """y[n,i,j,o] = sum_{a,b,c} xp[n, i·sh + a·dh, j·sw + b·dw, g(o)·Cg + c] · w[a,b,c,o]."""
    x, w = np.asarray(x), np.asarray(w)
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    pads, out = _geometry((h, wd), (kh, kw), strides, pads, dilations)
    xp = _pad(x, pads, 0)
    y = np.zeros((n,) + out + (groups, o // groups), dtype=np.result_type(x.dtype, w.dtype))
    for a in range(kh):
        for b in range(kw):
            xs = _tap(xp, a, b, strides, out, dilations).reshape(n, *out, groups, cg)
            wt = w[a, b].reshape(cg, groups, o // groups)
            y += np.einsum("nijgc,cgo->nijgo", xs, wt)
    return y.reshape(n, *out, o)


def nn_conv2d_bias(x, w, b, strides, pads, dilations=(1, 1), groups=1):
    """conv2d(x, w) + b, b one value per output channel (any shape holding O values); the sum
    follows NumPy's promotion."""
    return nn_conv2d(x, w, strides, pads, dilations, groups) + np.asarray(b).reshape(-1)


def nn_conv2d_backprop_input(g, w, x_ref, strides, pads, dilations=(1, 1), groups=1):
    """The adjoint of conv2d in x: each output cell's cotangent times the filter, added into the
    cells its window read; cells no window reads get 0. ``x_ref`` gives the shape only."""
    g, w = np.asarray(g), np.asarray(w)
    n, h, wd, c = np.shape(x_ref)
    kh, kw, cg, o = w.shape
    pads, _ = _geometry((h, wd), (kh, kw), strides, pads, dilations)
    out = g.shape[1:3]
    (t, bottom), (l, r) = pads
    dxp = np.zeros((n, h + t + bottom, wd + l + r, c), dtype=np.result_type(g.dtype, w.dtype))
    gg = g.reshape(n, *out, groups, o // groups)
    for a in range(kh):
        for b in range(kw):
            wt = w[a, b].reshape(cg, groups, o // groups)
            part = np.einsum("nijgo,cgo->nijgc", gg, wt).reshape(n, *out, c)
            _tap(dxp, a, b, strides, out, dilations)[...] += part
    return _crop(dxp, pads, h, wd)


def nn_conv2d_backprop_filter(x, g, w_ref, strides, pads, dilations=(1, 1), groups=1):
    """The adjoint of conv2d in w: dw[a,b,c,o] = sum over n, i, j of the tap (a, b) cell of
    channel g(o)·Cg + c times g[n,i,j,o]. ``w_ref`` gives the shape only."""
    x, g = np.asarray(x), np.asarray(g)
    n, h, wd, c = x.shape
    kh, kw, cg, o = np.shape(w_ref)
    pads, _ = _geometry((h, wd), (kh, kw), strides, pads, dilations)
    out = g.shape[1:3]
    xp = _pad(x, pads, 0)
    gg = g.reshape(n, *out, groups, o // groups)
    dw = np.zeros((kh, kw, cg, groups, o // groups), dtype=np.result_type(x.dtype, g.dtype))
    for a in range(kh):
        for b in range(kw):
            xs = _tap(xp, a, b, strides, out, dilations).reshape(n, *out, groups, cg)
            dw[a, b] = np.einsum("nijgc,nijgo->cgo", xs, gg)
    return dw.reshape(kh, kw, cg, o)


# -- pooling -------------------------------------------------------------------------------


def _pool_windows(x, pool_size, strides, pads, fill):
    """(pads, out, windows): the windows of x padded with ``fill`` as (N, OH, OW, C, KH·KW),
    the last axis the window's cells in row-major order."""
    n, h, w, c = x.shape
    pads, out = _geometry((h, w), pool_size, strides, pads)
    win = sliding_window_view(_pad(x, pads, fill), tuple(pool_size), axis=(1, 2))
    win = win[:, ::strides[0], ::strides[1]][:, :out[0], :out[1]]
    return pads, out, win.reshape(n, *out, c, pool_size[0] * pool_size[1])


def _first_max(x, pool_size, strides, pads):
    """(pads, out, index, found): each window's FIRST maximal cell (row-major) of x padded with
    -inf, and whether it has one: a window holding a NaN (its max is NaN) has none."""
    pads, out, win = _pool_windows(x, pool_size, strides, pads, -np.inf)
    same = win == win.max(axis=-1, keepdims=True)
    return pads, out, same.argmax(axis=-1), same.any(axis=-1)


def _valid_counts(spatial, pool_size, strides, pads, out, dtype):
    """How many unpadded cells each window covers, (OH, OW, 1): per axis min(start + k, n) -
    max(start, 0), start = i·s - pad_before."""
    counts = []
    for n, k, s, (lo, _), o in zip(spatial, pool_size, strides, pads, out):
        start = np.arange(o) * s - lo
        counts.append(np.minimum(start + k, n) - np.maximum(start, 0))
    return np.multiply.outer(counts[0], counts[1]).astype(dtype)[:, :, None]


def nn_max_pool2d(x, pool_size, strides, pads):
    """Max over each window; padding cells are -inf (never win); a NaN in a window makes it NaN."""
    x = np.asarray(x)
    return _pool_windows(x, pool_size, strides, pads, -np.inf)[2].max(axis=-1)


def nn_max_pool2d_grad(x, out_value, g, pool_size, strides, pads):
    """Each window's cotangent to its first maximal cell (row-major), summed where windows
    overlap; a NaN window routes nothing; non-finite g is routed as is (never multiplied by 0).
    The arg-max is recomputed from x: ``out_value`` (max_pool2d(x)) is not read."""
    x, g = np.asarray(x), np.asarray(g)
    n, h, w, c = x.shape
    kh, kw = pool_size
    pads, out, first, found = _first_max(x, pool_size, strides, pads)
    (t, b), (l, r) = pads
    dxp = np.zeros((n, h + t + b, w + l + r, c), dtype=np.result_type(g.dtype, x.dtype))
    zero = g.dtype.type(0)
    for a in range(kh):
        for bb in range(kw):
            routed = np.where(found & (first == a * kw + bb), g, zero)
            _tap(dxp, a, bb, strides, out)[...] += routed
    return _crop(dxp, pads, h, w)


def nn_max_pool2d_select(x, v, pool_size, strides, pads):
    """v (shaped like x) read at each window's first maximal cell of x (0 where the window has
    none, or where that cell is padding)."""
    x, v = np.asarray(x), np.asarray(v)
    pads, out, first, found = _first_max(x, pool_size, strides, pads)
    vwin = _pool_windows(v, pool_size, strides, pads, 0)[2]
    picked = np.take_along_axis(vwin, first[..., None], axis=-1)[..., 0]
    return np.where(found, picked, v.dtype.type(0))


def nn_avg_pool2d(x, pool_size, strides, pads):
    """Mean over each window, counting only its unpadded cells (TensorFlow's SAME)."""
    x = np.asarray(x)
    pads, out, win = _pool_windows(x, pool_size, strides, pads, 0)
    return win.sum(axis=-1) / _valid_counts(x.shape[1:3], pool_size, strides, pads, out, x.dtype)


def nn_avg_pool2d_grad(g, x_ref, pool_size, strides, pads):
    """Each window's cotangent divided by its count of unpadded cells and added to each of its
    cells. ``x_ref`` gives the shape only."""
    g = np.asarray(g)
    n, h, w, c = np.shape(x_ref)
    pads, out = _geometry((h, w), pool_size, strides, pads)
    share = g / _valid_counts((h, w), pool_size, strides, pads, out, g.dtype)
    (t, b), (l, r) = pads
    dxp = np.zeros((n, h + t + b, w + l + r, c), dtype=share.dtype)
    for a in range(pool_size[0]):
        for bb in range(pool_size[1]):
            _tap(dxp, a, bb, strides, out)[...] += share
    return _crop(dxp, pads, h, w)


REFERENCES = {f.__name__: f for f in (
    nn_conv2d, nn_conv2d_bias, nn_conv2d_backprop_input, nn_conv2d_backprop_filter, nn_max_pool2d,
    nn_max_pool2d_grad, nn_max_pool2d_select, nn_avg_pool2d, nn_avg_pool2d_grad)}
