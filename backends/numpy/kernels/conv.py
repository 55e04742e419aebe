"""The NumPy backend's convolution kernels, bound to the conv ops' helper names (the pools are
in kernels.pool).

One-group convolutions are im2col GEMMs over strided window views (Python loops run over taps,
never over pixels), or Winograd's F(2×2, 3×3) on wide 3×3 stride-1 layers (kernels.winograd);
grouped and depthwise ones have kernels of their own (kernels.conv_grouped,
kernels.conv_depthwise). While a compiled call owns the GEMM threading (blas_threads), each
kernel thread works through its share of the batch in cache-sized chunks (kernels.chunks).
"""
from __future__ import annotations

import numpy as np

from graphc.backends.numpy import blas_threads
from graphc.backends.numpy.kernels import conv_depthwise, conv_grouped, winograd
from graphc.backends.numpy.kernels.chunks import by_images, conv_macs, gather_pads, pad_into
from graphc.backends.numpy.kernels.gemm import inner_split_pays, matmul, summed
from graphc.backends.windows import conv_setup, tap, windows


def _padded_buffer(chunk, src, pads):
    (t, b), (l, r) = pads
    n, h, w, c = src.shape
    return np.zeros((min(chunk, n), h + t + b, w + l + r, c), dtype=src.dtype)


# below this many input channels the im2col matrix is built transposed, (KH·KW·C, N·OH·OW): one
# copy per tap with long contiguous runs, where the row-major copy moves C elements at a time;
# that wins up to C = 3 and loses from C = 8 on (benchmarks/README.md: TAP_MAJOR_MAX_CHANNELS)
TAP_MAJOR_MAX_CHANNELS = 4


def _im2col_into(xp, kernel, strides, out, dilations, cols, tap_major):
    """The im2col matrix of the padded images ``xp`` written into ``cols``: (K·OH·OW rows,
    KH·KW·C) or, ``tap_major``, its transpose (KH·KW·C, K·OH·OW), row order (a, b, c) as
    w.reshape(KH·KW·C, O); returns it as that 2-d matrix. The windows are a strided view of
    ``xp``: dilation only changes its strides."""
    k, c = xp.shape[0], xp.shape[3]
    (kh, kw), (oh, ow) = kernel, out
    if not tap_major:
        np.copyto(cols.reshape(k, oh, ow, kh, kw, c), windows(xp, kernel, strides, out, dilations))
        return cols.reshape(k * oh * ow, kh * kw * c)
    planes = cols.reshape(kh, kw, c, k, oh, ow)
    for a in range(kh):
        for b in range(kw):
            np.copyto(planes[a, b], tap(xp, a, b, strides, out, dilations).transpose(3, 0, 1, 2))
    return cols.reshape(kh * kw * c, k * oh * ow)


class _Im2col:
    """im2col of one batch chunk at a time, into buffers reused across the chunks."""

    def __init__(self, src, kernel, strides, pads, out, dilations, chunk):
        self.src, self.kernel, self.strides, self.pads = src, kernel, strides, pads
        self.out, self.dilations = out, dilations
        self.tap_major = src.shape[3] <= TAP_MAJOR_MAX_CHANNELS
        unpadded = all(p == 0 for pair in pads for p in pair)
        self.xp = None if unpadded else _padded_buffer(chunk, src, pads)
        kh, kw = kernel
        self.per_image = out[0] * out[1] * kh * kw * src.shape[3]
        self.cols = np.empty(min(chunk, src.shape[0]) * self.per_image, dtype=src.dtype)

    def rows(self, lo, hi):
        """(rows of images [lo, hi), KH·KW·C) — or its transpose when tap-major: check
        ``tap_major`` before multiplying."""
        if self.xp is None:
            xp = self.src[lo:hi]
        else:
            xp = self.xp[:hi - lo]
            pad_into(xp, self.src[lo:hi], self.pads)
        return _im2col_into(xp, self.kernel, self.strides, self.out, self.dilations,
                            self.cols[:self.per_image * (hi - lo)], self.tap_major)


def _conv_one_group(x, w, strides, pads, dilations, bias=None):
    """conv2d with one group: y rows = im2col(x) @ w.reshape(KH·KW·C, O), chunk by chunk,
    plus ``bias`` (O,) added to each chunk while it is in cache."""
    kh, kw, c, o = w.shape
    n = x.shape[0]
    pads, out = conv_setup(x.shape, (kh, kw), strides, pads, dilations)
    if winograd.suitable((kh, kw), strides, dilations, c, o):
        return _conv_winograd(x, w, pads, out, bias)
    w2 = w.reshape(kh * kw * c, o)
    rows = out[0] * out[1]
    y = np.empty((n * rows, o), dtype=np.result_type(x.dtype, w.dtype))

    def work(lo, hi, chunk):
        im2col = _Im2col(x, (kh, kw), strides, pads, out, dilations, chunk)
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            cols = im2col.rows(s, e)
            part = y[s * rows:e * rows]
            np.matmul(cols.T if im2col.tap_major else cols, w2, out=part)
            if bias is not None:
                np.add(part, bias, out=part)
    by_images(work, n, kh * kw * c * x.itemsize, rows, conv_macs(n, out, (kh, kw), c, o))
    return y.reshape(n, out[0], out[1], o)


def _filter_grad_one_group(x, g, kernel, strides, pads, dilations):
    """dw = im2col(x)ᵀ @ g, chunk by chunk, the chunks' (and shares') parts summed in order."""
    n, c, o = x.shape[0], x.shape[3], g.shape[3]
    kh, kw = kernel
    pads, out = conv_setup(x.shape, kernel, strides, pads, dilations)
    if winograd.suitable(kernel, strides, dilations, c, o):
        return _filter_grad_winograd(x, g, pads, out)
    rows = out[0] * out[1]
    g2 = g.reshape(n * rows, o)

    def work(lo, hi, chunk):
        im2col = _Im2col(x, kernel, strides, pads, out, dilations, chunk)
        total = part = None
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            cols = im2col.rows(s, e)
            part = np.matmul(cols if im2col.tap_major else cols.T, g2[s * rows:e * rows], out=part)
            total = part.copy() if total is None else np.add(total, part, out=total)
        return total
    parts = by_images(work, n, kh * kw * c * x.itemsize, rows, conv_macs(n, out, kernel, c, o),
                       split=inner_split_pays(kh * kw * c, o))
    return summed(parts).reshape(kh, kw, c, o)


# -- 3×3 stride-1 convolutions by Winograd's F(2×2, 3×3) (graphc.backends.numpy.kernels.winograd) -------------
#
# The same chunking as im2col: each kernel thread pads a few images, transforms their tiles,
# runs the 16 position GEMMs and transforms back. An odd output size is computed on the tiles'
# even size and cropped.

# transformed-tile bytes per chunk, above im2col's: a chunk makes ~30 NumPy calls to im2col's 3,
# and two threads' short calls queue for the GIL (benchmarks/README.md: WINOGRAD_CHUNK_BYTES)
WINOGRAD_CHUNK_BYTES = 4 << 20


def _winograd_chunks(work, x, out, o, macs):
    """``work(lo, hi, chunk)`` over the batch by by_images, the chunk sized by the transformed
    tiles one image makes (C and O values per tile position)."""
    th, tw = winograd.tiles(out)
    per_tile_bytes = 16 * (x.shape[3] + o) * x.itemsize
    return by_images(work, x.shape[0], per_tile_bytes, th * tw, macs, WINOGRAD_CHUNK_BYTES)


class _WinogradBuffers:
    """One kernel thread's buffers for ``chunk`` images, reused across its chunks: the padded
    images and their transformed tiles, the 16 positions' (tiles, O) products, the transforms'
    scratch, and, for an odd output size, the tiles' even-sized blocks."""

    def __init__(self, chunk, out, c, o, dtype, x_dtype):
        self.th, self.tw = winograd.tiles(out)
        self.o = o
        self.even = tuple(out) == (2 * self.th, 2 * self.tw)
        self.transform = winograd.InputTransform(chunk, out, c, dtype, x_dtype)
        per_image = self.th * self.tw * o
        self.products = np.empty(16 * chunk * per_image, dtype=dtype)
        self.scratch = np.empty(8 * chunk * per_image, dtype=dtype)
        self.blocks = None if self.even else np.zeros((chunk, 2 * self.th, 2 * self.tw, o), dtype=dtype)

    def tiles_of(self, x, s, e, pads):
        """Bᵀ d B of images [s, e) of x padded by ``pads``: (16, k·TH·TW, C)."""
        return self.transform(x[s:e], pads)

    def position_products(self, k):
        return self.products[:16 * k * self.th * self.tw * self.o].reshape(16, k * self.th * self.tw, self.o)

    def scratch_for(self, k, lead):
        return self.scratch[:8 * k * self.th * self.tw * self.o].reshape(lead + (k, self.th, self.tw, self.o))

    def as_blocks(self, a, k):
        """An (k, 2·TH, 2·TW, O) array seen as its 2×2 blocks (k, TH, 2, TW, 2, O)."""
        return a.reshape(k, self.th, 2, self.tw, 2, self.o)


def _conv_winograd(x, w, pads, out, bias=None):
    """conv2d, 3×3 stride 1, of x (padded by ``pads``) with w: (N, OH, OW, O), plus ``bias``."""
    n, c, o = x.shape[0], x.shape[3], w.shape[3]
    dtype = np.result_type(x.dtype, w.dtype)
    u = winograd.filter_transform(w, dtype)
    y = np.empty((n, out[0], out[1], o), dtype=dtype)

    def work(lo, hi, chunk):
        buffers = _WinogradBuffers(min(chunk, hi - lo), out, c, o, dtype, x.dtype)
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            k = e - s
            products = np.matmul(buffers.tiles_of(x, s, e, pads), u, out=buffers.position_products(k))
            if bias is not None:
                at = products[winograd.BIAS_POSITION]
                np.add(at, bias, out=at)
            target = y[s:e] if buffers.even else buffers.blocks[:k]
            winograd.output_transform(products, buffers.as_blocks(target, k), buffers.scratch_for(k, (2, 4)))
            if not buffers.even:
                y[s:e] = buffers.blocks[:k, :out[0], :out[1]]
    _winograd_chunks(work, x, out, o, conv_macs(n, out, (3, 3), c, o))
    return y


def _filter_grad_winograd(x, g, pads, out):
    """dw of a 3×3 stride-1 conv2d: the GEMMs' adjoint in the transformed domain,
    dU[p] = V[p]ᵀ @ dM[p] with dM = A dY Aᵀ, summed over the chunks, then dw = Gᵀ dU G."""
    n, c, o = x.shape[0], x.shape[3], g.shape[3]
    dtype = np.result_type(x.dtype, g.dtype)

    def work(lo, hi, chunk):
        buffers = _WinogradBuffers(min(chunk, hi - lo), out, c, o, dtype, x.dtype)
        total = part = None
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            k = e - s
            v = buffers.tiles_of(x, s, e, pads)
            if buffers.even:
                g_blocks = g[s:e]
            else:
                buffers.blocks[:k, :out[0], :out[1]] = g[s:e]
                g_blocks = buffers.blocks[:k]
            dm = buffers.position_products(k)
            winograd.output_grad_transform(buffers.as_blocks(g_blocks, k), dm, buffers.scratch_for(k, (4, 2)))
            part = np.matmul(v.transpose(0, 2, 1), dm, out=part)
            total = part.copy() if total is None else np.add(total, part, out=total)
        return total
    parts = _winograd_chunks(work, x, out, o, conv_macs(n, out, (3, 3), c, o))
    return winograd.filter_transform_grad(summed(parts))


def _input_grad_gather(g, w, x_shape, pads, dilations):
    """Stride 1: dx is the correlation of g, padded by the window's span less the forward
    padding, with the kernel flipped and its channels swapped — im2col + GEMM, no scatter:
      dx[q] = Σ_a g[q + pad_lo − a·d] w[a] = Σ_a' gp[q + a'·d] w[KH − 1 − a']."""
    kh, kw, c, o = w.shape
    n, h, wd = x_shape[:3]
    g_pads = gather_pads(w.shape, pads, dilations)
    if winograd.suitable((kh, kw), (1, 1), dilations, o, c):
        return _conv_winograd(g, w[::-1, ::-1].transpose(0, 1, 3, 2), g_pads, (h, wd))
    flipped = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(kh * kw * o, c)
    rows = h * wd
    dx = np.empty((n * rows, c), dtype=np.result_type(g.dtype, w.dtype))

    def work(lo, hi, chunk):
        im2col = _Im2col(g, (kh, kw), (1, 1), g_pads, (h, wd), dilations, chunk)
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            cols = im2col.rows(s, e)
            np.matmul(cols.T if im2col.tap_major else cols, flipped, out=dx[s * rows:e * rows])
    by_images(work, n, kh * kw * o * g.itemsize, rows, conv_macs(n, (h, wd), (kh, kw), o, c))
    return dx.reshape(n, h, wd, c)


def _input_grad_scatter(g, w, x_shape, strides, pads, dilations):
    """Any stride: one GEMM per tap, scatter-added into the taps' cells of the padded dx
    (col2im without the big buffer: measured faster than one GEMM into (N·OH·OW, KH·KW·C)
    columns for every C tried), chunk by chunk (chunks own disjoint images of dx)."""
    kh, kw, c, o = w.shape
    n, h, wd = x_shape[:3]
    (t, b), (l, r) = pads
    out = g.shape[1:3]
    rows = out[0] * out[1]
    dxp = np.zeros((n, h + t + b, wd + l + r, c), dtype=np.result_type(g.dtype, w.dtype))
    g2 = g.reshape(n * rows, o)
    taps = [(a, bb, np.ascontiguousarray(w[a, bb].T)) for a in range(kh) for bb in range(kw)]

    def work(lo, hi, chunk):
        # one product buffer for every tap: fresh multi-MB temporaries cost page faults
        prod = np.empty((min(chunk, hi - lo) * rows, c), dtype=dxp.dtype)
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            p = prod[:(e - s) * rows]
            for a, bb, w_tap in taps:
                np.matmul(g2[s * rows:e * rows], w_tap, out=p)
                tap(dxp[s:e], a, bb, strides, out, dilations)[...] += p.reshape(e - s, out[0], out[1], c)
    by_images(work, n, kh * kw * o * g.itemsize, rows, conv_macs(n, out, (kh, kw), c, o))
    if t == b == l == r == 0:
        return dxp
    return dxp[:, t:t + h, l:l + wd, :]


def nn_conv2d(x, w, strides, pads, dilations=(1, 1), groups=1):
    x, w = np.asarray(x), np.asarray(w)
    if groups == 1:
        return _conv_one_group(x, w, strides, pads, dilations)
    kh, kw, cg, o = w.shape
    if cg == 1:     # depthwise: multiply-adds tap by tap, no GEMM
        return conv_depthwise.conv(x, w, strides, pads, dilations)
    return conv_grouped.conv(x, w, strides, pads, dilations, groups)


def nn_conv2d_bias(x, w, b, strides, pads, dilations=(1, 1), groups=1):
    """conv2d(x, w) + b, b one value per output channel (any shape of O values)."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    bias = b.reshape(-1)
    bias_in_kernel = bias.dtype == np.result_type(x.dtype, w.dtype)   # else NumPy's promotion below
    if bias_in_kernel and groups == 1:
        return _conv_one_group(x, w, strides, pads, dilations, bias)
    if bias_in_kernel and w.shape[2] > 1:
        return conv_grouped.conv(x, w, strides, pads, dilations, groups, bias)
    return nn_conv2d(x, w, strides, pads, dilations, groups) + bias


def nn_conv2d_backprop_input(g, w, x_ref, strides, pads, dilations=(1, 1), groups=1):
    """dx of conv2d. One group at stride 1 (while graphc owns the GEMMs, or where Winograd
    applies): the forward's im2col GEMM on the padded cotangent with the kernel flipped, no
    scatter (_input_grad_gather); otherwise one GEMM per tap, scatter-added into the taps'
    cells (_input_grad_scatter). Depthwise layers, and grouped ones at stride 1, run their own
    modules' kernels; strided grouped ones scatter one batched GEMM per tap here."""
    g, w = np.asarray(g), np.asarray(w)
    n, h, wd, c = np.shape(x_ref)
    kh, kw, cg, o = w.shape
    pads = conv_setup((n, h, wd, c), (kh, kw), strides, pads, dilations)[0]
    if groups == 1:
        stride_one = tuple(strides) == (1, 1)
        if stride_one and (blas_threads.active() or winograd.suitable((kh, kw), strides, dilations, o, c)):
            return _input_grad_gather(g, w, (n, h, wd, c), pads, dilations)
        return _input_grad_scatter(g, w, (n, h, wd, c), strides, pads, dilations)
    if cg == 1:     # depthwise: each channel's cotangent is the sum over its multiplier's filters
        return conv_depthwise.input_grad(g, w, (n, h, wd, c), strides, pads, dilations)
    if tuple(strides) == (1, 1):
        return conv_grouped.input_grad(g, w, (n, h, wd, c), pads, dilations, groups)
    (t, b), (l, r) = pads
    out = g.shape[1:3]
    dxp = np.zeros((n, h + t + b, wd + l + r, c), dtype=np.result_type(g.dtype, w.dtype))
    g_groups = g.reshape(-1, groups, o // groups).transpose(1, 0, 2)     # (G, M, O/G)
    for a in range(kh):
        for bb in range(kw):
            w_tap = w[a, bb].reshape(cg, groups, o // groups).transpose(1, 2, 0)   # (G, O/G, C/G)
            prod = matmul(g_groups, w_tap).transpose(1, 0, 2)                  # (M, G, C/G)
            tap(dxp, a, bb, strides, out, dilations)[...] += prod.reshape(n, out[0], out[1], c)
    if t == b == l == r == 0:
        return dxp
    return dxp[:, t:t + h, l:l + wd, :]


def nn_conv2d_backprop_filter(x, g, w_ref, strides, pads, dilations=(1, 1), groups=1):
    x, g = np.asarray(x), np.asarray(g)
    kh, kw, cg, o = np.shape(w_ref)
    if groups == 1:
        return _filter_grad_one_group(x, g, (kh, kw), strides, pads, dilations)
    if cg == 1:     # depthwise: per tap, <x tap of channel c, g of c's filters>
        return conv_depthwise.filter_grad(x, g, (kh, kw), strides, pads, dilations)
    return conv_grouped.filter_grad(x, g, (kh, kw), strides, pads, dilations, groups)


KERNELS = {f.__name__: f for f in (
    nn_conv2d, nn_conv2d_bias, nn_conv2d_backprop_input, nn_conv2d_backprop_filter)}


def _gemm_macs(rows_of, filter_of):
    """Multiply-adds of a conv op's GEMMs: output (or cotangent) pixels × filter size."""
    def macs(n):
        pixels, w = rows_of(n).shape[:3], filter_of(n).shape
        if None in pixels or None in w:
            return 0
        return conv_macs(pixels[0], pixels[1:3], w[:2], w[2], w[3])
    return macs


# the conv ops' multiply-adds, for the backend's choice of who threads the GEMMs
GEMM_MACS = {
    "conv2d": _gemm_macs(lambda n: n, lambda n: n.inputs[1]),
    "conv2d_bias": _gemm_macs(lambda n: n, lambda n: n.inputs[1]),
    "conv2d_backprop_input": _gemm_macs(lambda n: n.inputs[0], lambda n: n.inputs[1]),
    "conv2d_backprop_filter": _gemm_macs(lambda n: n.inputs[1], lambda n: n.inputs[2]),
}
