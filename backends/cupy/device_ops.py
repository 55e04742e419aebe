"""Device implementations of the ops whose NumPy kernels are Python helpers (graphc/ops/*.py
``helpers=``): convolution and pooling, scatters and gathers, one-hot, softmax cross-entropy.

Each is written once against an *array module* ``xp`` — CuPy for the arrays this backend
passes, NumPy for NumPy arrays — with the same algorithm as graphc's NumPy kernel it mirrors
(im2col + GEMM convolution, per-tap pooling loops). The normal test suite runs them with NumPy
arrays against graphc's own kernels (tests/backends/cupy/test_cuda_lowering.py), so the algorithms are checked
without a GPU; on a GPU the same code runs on CuPy arrays. Nothing here converts to the host.
"""
from __future__ import annotations

import math
import sys

import numpy

from graphc.backends.windows import conv_setup, pad, pool_setup, tap


def array_module(*arrays):
    """CuPy if any argument is a CuPy array, else NumPy."""
    for a in arrays:
        if type(a).__module__.partition(".")[0] == "cupy":
            return sys.modules["cupy"]
    return numpy


def _scatter_add(xp, target, index, values) -> None:
    """target[index] += values, adding repeated indices (np.add.at)."""
    if xp is numpy:
        numpy.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


# -- shapes and indexing -----------------------------------------------------------------------

def sum_to(g, shape):
    """Sum ``g`` over the axes broadcasting added or stretched to reach it from ``shape``."""
    xp = array_module(g)
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and g.shape[lead + i] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return xp.reshape(g, tuple(shape))


def scatter_basic(g, x, index):
    """g placed at x[index] in zeros shaped like x (the cotangent of basic indexing)."""
    xp = array_module(g, x)
    out = xp.zeros(x.shape, dtype=g.dtype)
    out[index] = g
    return out


def scatter_slices(*parts, index, lengths):
    """The cotangents g_i of many basic-index slices of x, added into one zero array."""
    *gs, x = parts
    xp = array_module(*parts)
    out = xp.zeros(x.shape, dtype=gs[0].dtype)
    start = 0
    for g, k in zip(gs, lengths):
        out[index[start:start + k]] += g
        start += k
    return out


def concat_part(g, *xs, axis, index):
    start = sum(x.shape[axis] for x in xs[:index])
    sl = [slice(None)] * g.ndim
    sl[axis] = slice(start, start + xs[index].shape[axis])
    return g[tuple(sl)]


def one_hot(indices, depth, dtype):
    xp = array_module(indices)
    return (indices[..., None] == xp.arange(depth)).astype(dtype)


def gather_grad(g, indices, x, axis):
    """g scatter-added into zeros shaped like x at ``indices`` along ``axis``."""
    xp = array_module(g, indices, x)
    n = x.shape[axis]
    k = indices.ndim
    # move the gathered axes of g to the front, scatter into (n, rest...), move back
    gm = xp.moveaxis(g, tuple(range(axis, axis + k)), tuple(range(k)))
    rest = gm.shape[k:]
    buf = xp.zeros((n,) + rest, dtype=g.dtype)
    _scatter_add(xp, buf, xp.where(indices < 0, indices + n, indices), gm)
    return xp.ascontiguousarray(xp.moveaxis(buf, 0, axis))


def reduced_count(x, axis):
    xp = array_module(x)
    return xp.asarray(math.prod(x.shape[a] for a in axis), dtype=x.dtype)


def softmax_xent(labels, logits):
    # graphc/ops/nn.py's form for any finite logits, with no branch (a branch would wait for
    # the device): halved logits cannot overflow, and a label of 0 adds 0 even where log p is
    # -inf; it equals the direct sum bit for bit wherever that is finite
    xp = array_module(labels, logits)
    half = logits * 0.5
    half_z = half - xp.max(half, axis=-1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(half_z + half_z), axis=-1, keepdims=True))
    terms = xp.where(labels == 0, 0, labels * (half_z - 0.5 * lse))
    return xp.sum(terms, axis=-1) * -2


# -- convolution and pooling (NHWC, HWIO; graphc/ops/conv.py's semantics) ----------------------
# The window geometry (SAME pads, output sizes, dilated spans, tap slices) and the padding are
# conv.py's own (conv_setup, pool_setup, tap; pad with CuPy as its array module): shape
# arithmetic and basic slicing, the same on CuPy arrays; only code that makes arrays is here.

def _tap_at(padded, a, b, strides, out, dilations):
    """The cells tap (a, b) of a dilated window reads: rows a·dh + i·sh, columns b·dw + j·sw."""
    return tap(padded, a, b, strides, out, dilations)


def _group_cols(xp, x, kernel, strides, pads, dilations, groups):
    """im2col per group: (G, N·OH·OW, KH·KW·C/G), and (OH, OW). The windows are a strided
    view of the padded input (dilation only changes its strides), copied once."""
    n, h, w, c = x.shape
    pads, (oh, ow) = conv_setup(x.shape, kernel, strides, pads, dilations)
    padded = xp.ascontiguousarray(pad(x, pads, 0.0, xp))
    s_n, s_h, s_w, s_c = padded.strides
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    windows = xp.lib.stride_tricks.as_strided(
        padded, (n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c))
    cg = c // groups
    per_group = windows.reshape(n, oh, ow, kh, kw, groups, cg).transpose(5, 0, 1, 2, 3, 4, 6)
    return xp.ascontiguousarray(per_group).reshape(groups, n * oh * ow, kh * kw * cg), (oh, ow)


def _group_filters(w, groups):
    """w (KH, KW, C/G, O) -> (G, KH·KW·C/G, O/G): filter block g as a GEMM operand."""
    kh, kw, cg, o = w.shape
    return w.reshape(kh, kw, cg, groups, o // groups).transpose(3, 0, 1, 2, 4).reshape(
        groups, kh * kw * cg, o // groups)


def nn_conv2d(x, w, strides, pads, dilations=(1, 1), groups=1):
    """Grouped, dilated convolution as one batched GEMM over the groups (cuBLAS on CuPy)."""
    xp = array_module(x, w)
    kh, kw, cg, o = w.shape
    cols, (oh, ow) = _group_cols(xp, x, (kh, kw), strides, pads, dilations, groups)
    y = xp.matmul(cols, _group_filters(w, groups))          # (G, N·OH·OW, O/G)
    return xp.ascontiguousarray(y.transpose(1, 0, 2)).reshape(x.shape[0], oh, ow, o)


def nn_conv2d_bias(x, w, b, strides, pads, dilations=(1, 1), groups=1):
    """conv2d + one bias value per output channel (the GEMM's output, then one broadcast add)."""
    return nn_conv2d(x, w, strides, pads, dilations, groups) + b.reshape(-1)


def nn_conv2d_backprop_input(g, w, x_ref, strides, pads, dilations=(1, 1), groups=1):
    xp = array_module(g, w)
    n, h, wd, c = x_ref.shape
    kh, kw, cg, o = w.shape
    pads, out = conv_setup(x_ref.shape, (kh, kw), strides, pads, dilations)
    (t, b), (l, r) = pads
    g_groups = g.reshape(-1, groups, o // groups).transpose(1, 0, 2)   # (G, N·OH·OW, O/G)
    dxp = xp.zeros((n, h + t + b, wd + l + r, c), dtype=g.dtype)
    for a in range(kh):       # one batched GEMM per tap, added into the cells that tap read
        for bb in range(kw):
            w_tap = w[a, bb].reshape(cg, groups, o // groups).transpose(1, 2, 0)  # (G, O/G, C/G)
            prod = xp.matmul(g_groups, w_tap)                                     # (G, N·OH·OW, C/G)
            prod = prod.transpose(1, 0, 2).reshape(n, out[0], out[1], c)
            _tap_at(dxp, a, bb, strides, out, dilations)[...] += prod
    return xp.ascontiguousarray(dxp[:, t:t + h, l:l + wd, :])


def nn_conv2d_backprop_filter(x, g, w_ref, strides, pads, dilations=(1, 1), groups=1):
    xp = array_module(x, g)
    kh, kw, cg, o = w_ref.shape
    cols, _ = _group_cols(xp, x, (kh, kw), strides, pads, dilations, groups)
    g_groups = g.reshape(-1, groups, o // groups).transpose(1, 0, 2)   # (G, N·OH·OW, O/G)
    dw = xp.matmul(cols.transpose(0, 2, 1), g_groups)                  # (G, KH·KW·C/G, O/G)
    dw = dw.reshape(groups, kh, kw, cg, o // groups).transpose(1, 2, 3, 0, 4)
    return xp.ascontiguousarray(dw).reshape(kh, kw, cg, o)


def _taps(pool):
    return [(a, b) for a in range(pool[0]) for b in range(pool[1])]


def _first_maxima(xp, padded, pool, strides, out):
    """Per tap (row-major): ((a, b), mask) with mask true where that tap is its window's first
    maximal cell."""
    taps = _taps(pool)
    y = tap(padded, *taps[0], strides, out)
    for a, b in taps[1:]:
        y = xp.maximum(y, tap(padded, a, b, strides, out))
    found = None
    for a, b in taps:
        eq = tap(padded, a, b, strides, out) == y
        first = eq if found is None else eq & ~found
        found = eq if found is None else found | eq
        yield (a, b), first


def nn_max_pool2d(x, pool_size, strides, pads):
    xp = array_module(x)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    padded = pad(x, pads, -numpy.inf, xp)
    y = None
    for a, b in _taps(pool_size):
        s = tap(padded, a, b, strides, out)
        y = xp.array(s) if y is None else xp.maximum(y, s)
    return xp.ascontiguousarray(y)


def nn_max_pool2d_grad(x, out_value, g, pool_size, strides, pads):
    """Each window's cotangent to its first maximal cell (recomputed from x, as graphc's
    NumPy kernel; ``out_value`` is not read)."""
    xp = array_module(x, g)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    (t, b), (l, r) = pads
    n, h, w, c = x.shape
    dxp = xp.zeros((n, h + t + b, w + l + r, c), dtype=g.dtype)
    zero = xp.zeros((), dtype=g.dtype)
    for (a, bb), first in _first_maxima(xp, pad(x, pads, -numpy.inf, xp), pool_size, strides, out):
        tap(dxp, a, bb, strides, out)[...] += xp.where(first, g, zero)
    return xp.ascontiguousarray(dxp[:, t:t + h, l:l + w, :])


def nn_max_pool2d_select(x, v, pool_size, strides, pads):
    xp = array_module(x, v)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    vp = pad(v, pads, 0.0, xp)
    zero = xp.zeros((), dtype=v.dtype)
    y = None
    for (a, b), first in _first_maxima(xp, pad(x, pads, -numpy.inf, xp), pool_size, strides, out):
        part = xp.where(first, tap(vp, a, b, strides, out), zero)
        y = part if y is None else y + part
    return y


def _valid_counts(xp, spatial, pool, strides, pads, out, dtype):
    """How many unpadded cells each window covers: (OH, OW, 1)."""
    counts = []
    for n, k, s, (lo, _), o in zip(spatial, pool, strides, pads, out):
        start = numpy.arange(o) * s - lo
        counts.append(numpy.minimum(start + k, n) - numpy.maximum(start, 0))
    table = (counts[0][:, None] * counts[1][None, :]).astype(dtype)[:, :, None]
    return xp.asarray(table)


def nn_avg_pool2d(x, pool_size, strides, pads):
    xp = array_module(x)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    padded = pad(x, pads, 0.0, xp)
    y = None
    for a, b in _taps(pool_size):
        s = tap(padded, a, b, strides, out)
        y = xp.array(s) if y is None else y + s
    return y / _valid_counts(xp, x.shape[1:3], pool_size, strides, pads, out, y.dtype)


def nn_avg_pool2d_grad(g, x_ref, pool_size, strides, pads):
    xp = array_module(g)
    n, h, w, c = x_ref.shape
    pads, out = pool_setup((n, h, w, c), pool_size, strides, pads)
    gs = g / _valid_counts(xp, (h, w), pool_size, strides, pads, out, g.dtype)
    (t, b), (l, r) = pads
    dxp = xp.zeros((n, h + t + b, w + l + r, c), dtype=gs.dtype)
    for a, bb in _taps(pool_size):
        tap(dxp, a, bb, strides, out)[...] += gs
    return xp.ascontiguousarray(dxp[:, t:t + h, l:l + w, :])


HELPERS = {f.__name__: f for f in (
    sum_to, scatter_basic, scatter_slices, concat_part, one_hot, gather_grad, reduced_count,
    softmax_xent, nn_conv2d, nn_conv2d_bias, nn_conv2d_backprop_input, nn_conv2d_backprop_filter, nn_max_pool2d,
    nn_max_pool2d_grad, nn_max_pool2d_select, nn_avg_pool2d, nn_avg_pool2d_grad)}
