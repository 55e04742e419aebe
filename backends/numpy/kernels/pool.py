"""The NumPy backend's pooling kernels (max and average pools, their gradients, and the max
pool's select), bound to the pool ops' helper names.

Pools loop over the window's taps with strided slices, no GEMM; large ones split the batch over
the kernel threads. The max pool's gradient routes each cotangent to its window's first maximal
cell (row-major), as the reference (graphc.ops.conv_reference) does.
"""
from __future__ import annotations

import numpy as np

from graphc.backends.numpy.threads import run_shares
from graphc.backends.windows import pad, pool_setup, tap


# pools and their gradients over at least this many elements are split along the batch axis
# across the kernel threads (NumPy releases the GIL in its loops); the convolutions split by
# their GEMMs' size instead (chunks.by_images)
PARALLEL_MIN_ELEMENTS = 1 << 18


def _over_batch(work, n: int, elements: int) -> None:
    """``work(lo, hi)`` for the batch rows [0, n): in shares on the kernel threads when large."""
    if elements < PARALLEL_MIN_ELEMENTS or n < 2:
        work(0, n)
        return
    run_shares(work, n, 1)


def _pool_max(xp, pool, strides, out, y=None):
    """The max over each window of the padded input: (N, OH, OW, C), into ``y`` or new."""
    taps = [tap(xp, a, b, strides, out) for a in range(pool[0]) for b in range(pool[1])]
    if len(taps) == 1:
        if y is None:
            return taps[0].copy()
        np.copyto(y, taps[0])
        return y
    y = np.maximum(taps[0], taps[1], out=y)
    for s in taps[2:]:
        np.maximum(y, s, out=y)
    return y


def _argmax_masks(xp, pool, strides, out):
    """Per tap of the window (row-major): ((a, b), mask), the mask true where that tap is the
    window's FIRST maximal cell. Built with comparisons, not masked copies (those are slow)."""
    y = _pool_max(xp, pool, strides, out)
    found = None
    last = pool[0] * pool[1] - 1
    for k, (a, b) in enumerate((a, b) for a in range(pool[0]) for b in range(pool[1])):
        eq = tap(xp, a, b, strides, out) == y
        if found is None:
            first = eq
            if k < last:
                found = eq.copy()
        else:
            first = np.greater(eq, found)  # eq and not found
            if k < last:
                found |= eq
        yield (a, b), first


def _masked(v, mask, finite):
    """v where mask else 0. A product is much faster than np.where on random masks, but only
    right where v is finite (inf * 0 is nan): ``finite`` says whether all of v is."""
    if finite:
        return v * mask
    return np.where(mask, v, v.dtype.type(0))


def nn_max_pool2d(x, pool_size, strides, pads):
    x = np.asarray(x)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    xp = pad(x, pads, -np.inf)
    y = np.empty((x.shape[0],) + out + (x.shape[3],), dtype=x.dtype)

    def work(lo, hi):
        _pool_max(xp[lo:hi], pool_size, strides, out, y[lo:hi])
    _over_batch(work, x.shape[0], x.size)
    return y


def nn_max_pool2d_grad(x, out_value, g, pool_size, strides, pads):
    """``out_value`` must be max_pool2d(x) (the gradient rule passes the forward node): where
    the windows tile x exactly and g is finite, cells are routed by comparing x with it
    (_route_by_pooled), else the arg-max is recomputed from x. Either way ties go to the first
    cell of the window (row-major)."""
    x, g = np.asarray(x), np.asarray(g)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    (t, b), (l, r) = pads
    n, h, w, c = x.shape
    shape = (n, h + t + b, w + l + r, c)
    dtype = np.result_type(g.dtype, x.dtype)
    finite = bool(np.isfinite(g).all())
    xp = pad(x, pads, -np.inf)
    if tuple(strides) == tuple(pool_size):
        exact = out[0] * pool_size[0] == shape[1] and out[1] * pool_size[1] == shape[2]
        dxp = np.empty(shape, dtype=dtype) if exact else np.zeros(shape, dtype=dtype)
        y = np.asarray(out_value)
        by_pooled = exact and finite and t == b == l == r == 0 and y.shape == g.shape

        def work(lo, hi):
            if by_pooled:
                _route_by_pooled(x[lo:hi], y[lo:hi], g[lo:hi], dxp[lo:hi], pool_size)
            else:
                _route_to_first_max(xp[lo:hi], g[lo:hi], dxp[lo:hi], pool_size, out, finite)
        _over_batch(work, n, x.size)
    else:
        dxp = np.zeros(shape, dtype=dtype)
        for (a, bb), first in _argmax_masks(xp, pool_size, strides, out):
            tap(dxp, a, bb, strides, out)[...] += _masked(g, first, finite)
    if t == b == l == r == 0:
        return dxp
    return dxp[:, t:t + h, l:l + w, :]


def _route_by_pooled(x, y, g, dx, pool) -> None:
    """Windows tiling x exactly, g finite: dx = (x == y) · g, each pooled value and cotangent
    repeated over its window. Where a window holds its maximum more than once (matches
    outnumber windows) the later matches are cleared first, so ties go to the first cell; a
    window whose y is NaN matches nowhere and routes nothing (as _route_to_first_max).

    Two full-size ufunc calls whose inner loops run over whole rows (y and g are repeated
    along W first, so no operand broadcasts in the innermost axis): about twice as fast as
    routing tap by tap (benchmarks/README.md: _route_by_pooled)."""
    (kh, kw), (n, oh, ow, c) = pool, y.shape
    row = ow * kw * c
    same = np.equal(x.reshape(n, oh, kh, row), np.repeat(y, kw, axis=2).reshape(n, oh, 1, row))
    nan = y.dtype.kind in "fc" and y.size and np.isnan(y.max())
    if nan or np.count_nonzero(same) != y.size:   # a NaN window could hide a tie in the count
        _keep_first_match(same.reshape(n, oh, kh, ow, kw, c))
    np.multiply(same, np.repeat(g, kw, axis=2).reshape(n, oh, 1, row), out=dx.reshape(n, oh, kh, row))


def _keep_first_match(same):
    """Clear every match of a window (N, OH, KH, OW, KW, C) that follows an earlier match of the
    same window in row-major order."""
    kh, kw = same.shape[2], same.shape[4]
    seen = np.zeros(same.shape[:2] + same.shape[3:4] + same.shape[5:], dtype=bool)
    for a in range(kh):
        for b in range(kw):
            cell = same[:, :, a, :, b, :]
            if a or b:
                np.greater(cell, seen, out=cell)    # a match and none before it
            if (a, b) != (kh - 1, kw - 1):
                np.logical_or(seen, cell, out=seen)


def _route_to_first_max(xp, g, dxp, pool, out, finite):
    """Non-overlapping windows (the common 2x2/2): every cell is in at most one window. Copy
    the taps out to contiguous (KH*KW, N, OH, OW, C) planes, find the first maxima and write
    each tap's share there (all contiguous ops), then one transposed copy back into dxp:
    measured faster than working on the strided (short inner loop) tap views."""
    n, c = xp.shape[0], xp.shape[3]
    (kh, kw), (oh, ow) = pool, out
    taps = np.empty((kh, kw, n, oh, ow, c), dtype=dxp.dtype)
    np.copyto(taps, xp[:, :oh * kh, :ow * kw, :].reshape(n, oh, kh, ow, kw, c).transpose(2, 4, 0, 1, 3, 5))
    planes = taps.reshape(kh * kw, n, oh, ow, c)
    y = planes[0].copy() if kh * kw == 1 else np.maximum(planes[0], planes[1])
    for k in range(2, kh * kw):
        np.maximum(y, planes[k], out=y)
    # three mask buffers reused by every tap: fresh temporaries per comparison cost page faults
    # (benchmarks/README.md: _route_to_first_max)
    eq, first, found = (np.empty(y.shape, dtype=bool) for _ in range(3))
    for k in range(kh * kw):
        if k == 0:
            np.equal(planes[0], y, out=found)
            mask = found
        else:
            np.equal(planes[k], y, out=eq)
            np.greater(eq, found, out=first)  # eq and not found
            if k < kh * kw - 1:
                np.logical_or(found, eq, out=found)
            mask = first
        if finite:
            np.multiply(g, mask, out=planes[k])
        else:
            planes[k].fill(0)
            np.copyto(planes[k], g, where=mask)
    np.copyto(dxp[:, :oh * kh, :ow * kw, :].reshape(n, oh, kh, ow, kw, c).transpose(2, 4, 0, 1, 3, 5), taps)


def nn_max_pool2d_select(x, v, pool_size, strides, pads):
    x, v = np.asarray(x), np.asarray(v)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    vp = pad(v, pads, 0.0)
    finite = bool(np.isfinite(v).all())
    y = None
    for (a, b), first in _argmax_masks(pad(x, pads, -np.inf), pool_size, strides, out):
        part = _masked(tap(vp, a, b, strides, out), first, finite)
        y = part if y is None else np.add(y, part, out=y)
    return y


def _valid_counts(spatial, pool, strides, pads, out, dtype):
    """How many unpadded cells each window covers: (OH, OW, 1)."""
    counts = []
    for n, k, s, (lo, _), o in zip(spatial, pool, strides, pads, out):
        start = np.arange(o) * s - lo
        counts.append(np.minimum(start + k, n) - np.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :]).astype(dtype)[:, :, None]


def nn_avg_pool2d(x, pool_size, strides, pads):
    x = np.asarray(x)
    pads, out = pool_setup(x.shape, pool_size, strides, pads)
    xp = pad(x, pads, 0.0)
    y = None
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            s = tap(xp, a, b, strides, out)
            y = s.copy() if y is None else np.add(y, s, out=y)
    y /= _valid_counts(x.shape[1:3], pool_size, strides, pads, out, y.dtype)
    return y


def nn_avg_pool2d_grad(g, x_ref, pool_size, strides, pads):
    g = np.asarray(g)
    n, h, w, c = np.shape(x_ref)
    pads, out = pool_setup((n, h, w, c), pool_size, strides, pads)
    gs = g / _valid_counts((h, w), pool_size, strides, pads, out, g.dtype)
    (t, b), (l, r) = pads
    dxp = np.zeros((n, h + t + b, w + l + r, c), dtype=gs.dtype)
    for a in range(pool_size[0]):
        for bb in range(pool_size[1]):
            tap(dxp, a, bb, strides, out)[...] += gs
    return dxp[:, t:t + h, l:l + w, :]


KERNELS = {f.__name__: f for f in (
    nn_max_pool2d, nn_max_pool2d_grad, nn_max_pool2d_select, nn_avg_pool2d, nn_avg_pool2d_grad)}
