"""Depthwise convolutions (groups = C, filter (KH, KW, 1, C·M)): the kernels of conv2d and its
two gradients when every group has one input channel.

There is no GEMM to run: output channel c·M + m is Σ_taps x_tap[c] · w[a, b, c, m], a
multiply-add per tap, so the work is memory-bound. Each kernel thread walks its share of the
batch a few images at a time, tap by tap, in buffers small enough to stay in cache
(benchmarks/README.md: depthwise kernels). A channel multiplier M > 1 runs as multiplier 1 over
C·M channels, the chunk's channels repeated M times.
"""
from __future__ import annotations

import numpy as np

from graphc.backends.numpy.kernels.chunks import pad_into
from graphc.backends.numpy.threads import run_shares
from graphc.backends.windows import conv_setup, tap
from graphc.backends.numpy.kernels.gemm import summed

# bytes of output per chunk and of scratch: they stay in a core's L2 while every tap passes over
# them; much smaller chunks mean many short NumPy calls, which two threads queue for the GIL to make
CHUNK_BYTES = 1 << 19
# below this many output elements the batch is not split over the kernel threads
PARALLEL_MIN_ELEMENTS = 1 << 17


def _shares(work, n: int, elements: int) -> list:
    """``work(lo, hi)`` over the batch rows [0, n) — its results, in order: in shares on the
    kernel threads when the layer is large."""
    if elements < PARALLEL_MIN_ELEMENTS or n < 2:
        return [work(0, n)]
    return run_shares(work, n, 1)


def _chunk(per_image_elements: int, itemsize: int) -> int:
    return max(1, CHUNK_BYTES // max(1, per_image_elements * itemsize))


def _padded_chunk(chunk, src, pads):
    (t, b), (l, r) = pads
    n, h, w, c = src.shape
    return np.zeros((min(chunk, n), h + t + b, w + l + r, c), dtype=src.dtype)


def _expanded(chunk, m: int):
    """The chunk's channels repeated for each filter of a channel: channel c·M + m' = c (M > 1
    then runs as a depthwise convolution of multiplier 1 over C·M channels)."""
    return chunk if m == 1 else np.repeat(chunk, m, axis=3)


def _weight_rows(taps, width: int):
    """(KH, KW, width, C·M): each tap's C·M weights repeated along an output row, contiguous.
    Why: multiplying a (.., OW, C·M) tap view by a (C·M,) vector runs NumPy's inner loop over C·M
    elements per call; by an (OW, C·M) row, over the whole row (benchmarks/README.md:
    _weight_rows)."""
    kh, kw = taps.shape[:2]
    flat = taps.reshape(kh, kw, 1, -1)
    return np.ascontiguousarray(np.broadcast_to(flat, (kh, kw, width, flat.shape[-1])))


def _source_chunks(src, pads, m, lo, hi, chunk):
    """(start, stop, padded chunk with its channels expanded) for the images [lo, hi)."""
    unpadded = all(p == 0 for pair in pads for p in pair)
    xp = None if unpadded else _padded_chunk(chunk, src[lo:hi], pads)
    for s in range(lo, hi, chunk):
        e = min(s + chunk, hi)
        if xp is None:
            padded = src[s:e]
        else:
            padded = xp[:e - s]
            pad_into(padded, src[s:e], pads)
        yield s, e, _expanded(padded, m)


def _tap_sum(src, rows, strides, pads, out, dilations, m, dtype):
    """Σ over the taps (a, b) of tap_ab(src padded by ``pads``, channels expanded M times) ·
    rows[a, b]: (N, OH, OW, C·M). Per chunk of a thread's share: pad the images into a buffer,
    then, tap by tap, multiply the tap's strided view by its weights into a scratch buffer and
    add that to the chunk's output."""
    kh, kw, _, channels = rows.shape
    n = src.shape[0]
    y = np.empty((n,) + tuple(out) + (channels,), dtype=dtype)

    def work(lo, hi):
        chunk = min(_chunk(out[0] * out[1] * channels, np.dtype(dtype).itemsize), hi - lo)
        scratch = np.empty((chunk,) + tuple(out) + (channels,), dtype=dtype)
        for s, e, padded in _source_chunks(src, pads, m, lo, hi, chunk):
            target, tmp = y[s:e], scratch[:e - s]
            for a in range(kh):
                for b in range(kw):
                    view = tap(padded, a, b, strides, out, dilations)
                    if a == b == 0:
                        np.multiply(view, rows[0, 0], out=target)
                    else:
                        np.add(target, np.multiply(view, rows[a, b], out=tmp), out=target)
    _shares(work, n, y.size)
    return y


def conv(x, w, strides, pads, dilations):
    """y (N, OH, OW, C·M) of x (N, H, W, C) with w (KH, KW, 1, C·M)."""
    kh, kw, _, o = w.shape
    pads, out = conv_setup(x.shape, (kh, kw), strides, pads, dilations)
    dtype = np.result_type(x.dtype, w.dtype)
    rows = _weight_rows(w.astype(dtype, copy=False), out[1])
    return _tap_sum(x, rows, strides, pads, out, dilations, o // x.shape[3], dtype)


def _sum_over_multiplier(y, c: int):
    """(…, C·M) -> (…, C): each channel's cotangent summed over its M filters."""
    if y.shape[-1] == c:
        return y
    return y.reshape(y.shape[:-1] + (c, y.shape[-1] // c)).sum(axis=-1)


def input_grad(g, w, x_shape, strides, pads, dilations):
    """dx (N, H, W, C) from the cotangent g (N, OH, OW, C·M); ``pads`` resolved. Stride 1: the
    forward's tap loop on g padded by the window's span less the forward padding, kernel
    flipped (a gather, no scatter); other strides: _input_grad_scatter."""
    kh, kw, _, o = w.shape
    n, h, wd, c = x_shape
    dtype = np.result_type(g.dtype, w.dtype)
    w = w.astype(dtype, copy=False)
    if tuple(strides) == (1, 1):
        (t, b), (l, r) = pads
        span_h, span_w = (kh - 1) * dilations[0], (kw - 1) * dilations[1]
        g_pads = ((span_h - t, span_h - b), (span_w - l, span_w - r))
        flipped = _weight_rows(w[::-1, ::-1], wd)
        return _sum_over_multiplier(_tap_sum(g, flipped, (1, 1), g_pads, (h, wd), dilations, 1, dtype), c)
    return _input_grad_scatter(g, w, x_shape, strides, pads, dilations, dtype)


def _input_grad_scatter(g, w, x_shape, strides, pads, dilations, dtype):
    """Strided: each tap's product g · w[a, b] (summed over the multiplier) added into the cells
    that tap read, chunk by chunk (chunks own disjoint images)."""
    kh, kw, _, o = w.shape
    n, h, wd, c = x_shape
    (t, b), (l, r) = pads
    out = g.shape[1:3]
    dxp = np.zeros((n, h + t + b, wd + l + r, c), dtype=dtype)
    rows = _weight_rows(w, out[1])

    def work(lo, hi):
        chunk = min(_chunk(out[0] * out[1] * o, np.dtype(dtype).itemsize), hi - lo)
        tmp = np.empty((chunk,) + tuple(out) + (o,), dtype=dtype)
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            for a in range(kh):
                for bb in range(kw):
                    part = _sum_over_multiplier(np.multiply(g[s:e], rows[a, bb], out=tmp[:e - s]), c)
                    view = tap(dxp[s:e], a, bb, strides, out, dilations)
                    np.add(view, part, out=view)
    _shares(work, n, g.size)
    if t == b == l == r == 0:
        return dxp
    return dxp[:, t:t + h, l:l + wd, :]


def filter_grad(x, g, kernel, strides, pads, dilations):
    """dw (KH, KW, 1, C·M) = Σ over every pixel of x_tap · g, per tap, summed over the chunks
    and shares."""
    kh, kw = kernel
    n, o = x.shape[0], g.shape[3]
    pads, out = conv_setup(x.shape, kernel, strides, pads, dilations)
    dtype = np.result_type(x.dtype, g.dtype)

    def work(lo, hi):
        chunk = min(_chunk(out[0] * out[1] * o, np.dtype(dtype).itemsize), hi - lo)
        tmp = np.empty((chunk,) + tuple(out) + (o,), dtype=dtype)
        total = np.zeros((kh, kw, o), dtype=dtype)
        for s, e, padded in _source_chunks(x, pads, o // x.shape[3], lo, hi, chunk):
            for a in range(kh):
                for b in range(kw):
                    product = np.multiply(tap(padded, a, b, strides, out, dilations), g[s:e], out=tmp[:e - s])
                    # over the images and rows first: the inner (OW, C·M) stays one vectorised row
                    total[a, b] += product.sum(axis=(0, 1)).sum(axis=0)
        return total
    return summed(_shares(work, n, g.size)).reshape(kh, kw, 1, o)
