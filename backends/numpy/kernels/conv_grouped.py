"""Grouped convolutions with several channels per group (C/G > 1, ResNeXt's 32 groups of 4, say;
depthwise ones, C/G = 1, have their own kernels in ``conv_depthwise``).

Each group is an ordinary convolution of its C/G input channels to its O/G filters, so a chunk
of images is one im2col copy into (G, rows, KH·KW·C/G) and one batched matmul with the filter
blocks (G, KH·KW·C/G, O/G), on the per-thread chunks of ``kernels.chunks``. The per-group
products are written straight into the (rows, G, O/G) layout of NHWC outputs (a strided,
BLAS-compatible ``out``), and the cotangent is read the same way: no transposed copies.

Why: a whole-batch im2col matrix (nine times the input, at 3×3) with the tiny per-group GEMMs
left to BLAS threads was much slower (benchmarks/README.md: grouped kernels).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from graphc.backends.numpy.kernels.chunks import by_images, conv_macs, gather_pads, pad_into
from graphc.backends.windows import conv_setup
from graphc.backends.numpy.kernels.gemm import summed


def filter_blocks(w, groups):
    """w (KH, KW, C/G, O) -> (G, KH·KW·C/G, O/G), contiguous: filter block g as a GEMM operand."""
    kh, kw, cg, o = w.shape
    return np.ascontiguousarray(w.reshape(kh, kw, cg, groups, o // groups).transpose(3, 0, 1, 2, 4)
                                .reshape(groups, kh * kw * cg, o // groups))


class _GroupCols:
    """One kernel thread's im2col buffers for ``chunk`` images: each group's matrix,
    (G, k·OH·OW, KH·KW·C/G), reused across the thread's chunks.

    The chunk is first copied group-major and padded, (G, k, H + t + b, W + l + r, C/G), then
    the windows are copied out of that: a window row's KW·C/G values are contiguous there, where
    in NHWC images only the C/G of one tap are (benchmarks/README.md: _GroupCols)."""

    def __init__(self, src, kernel, strides, pads, out, dilations, groups, chunk):
        self.src, self.kernel, self.strides, self.pads = src, kernel, strides, pads
        self.out, self.dilations, self.groups = out, dilations, groups
        n, h, w, c = src.shape
        (t, b), (l, r) = pads
        self.cg = c // groups
        self.padded = np.zeros((groups, min(chunk, n), h + t + b, w + l + r, self.cg), dtype=src.dtype)
        self.per_image = out[0] * out[1] * kernel[0] * kernel[1] * c
        self.cols = np.empty(min(chunk, n) * self.per_image, dtype=src.dtype)

    def rows(self, lo, hi):
        """The group matrices of images [lo, hi): (G, (hi − lo)·OH·OW, KH·KW·C/G)."""
        k = hi - lo
        (kh, kw), (oh, ow), (sh, sw), (dh, dw) = self.kernel, self.out, self.strides, self.dilations
        g, cg = self.groups, self.cg
        padded = self.padded[:, :k]
        source = self.src[lo:hi]
        pad_into(padded.transpose(1, 2, 3, 0, 4), source.reshape(source.shape[:3] + (g, cg)), self.pads)
        s_g, s_n, s_h, s_w, s_c = padded.strides
        windows = as_strided(padded, (g, k, oh, ow, kh, kw, cg),
                             (s_g, s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c), writeable=False)
        cols = self.cols[:self.per_image * k].reshape(g, k, oh, ow, kh, kw, cg)
        np.copyto(cols, windows)
        return cols.reshape(g, k * oh * ow, kh * kw * cg)


def _forward(x, w, strides, pads, out, dilations, groups, bias=None):
    """The grouped convolution of x (padded by ``pads``) with w: (N, OH, OW, O), plus ``bias``."""
    kh, kw, cg, o = w.shape
    n, og, rows = x.shape[0], o // groups, out[0] * out[1]
    blocks = filter_blocks(w, groups)
    y = np.empty((n * rows, o), dtype=np.result_type(x.dtype, w.dtype))

    def work(lo, hi, chunk):
        cols = _GroupCols(x, (kh, kw), strides, pads, out, dilations, groups, chunk)
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            part = y[s * rows:e * rows]
            # each group's product straight into its columns of the NHWC rows
            np.matmul(cols.rows(s, e), blocks, out=part.reshape(-1, groups, og).transpose(1, 0, 2))
            if bias is not None:
                np.add(part, bias, out=part)
    by_images(work, n, kh * kw * x.shape[3] * x.itemsize, rows, conv_macs(n, out, (kh, kw), cg, o))
    return y.reshape(n, out[0], out[1], o)


def conv(x, w, strides, pads, dilations, groups, bias=None):
    """conv2d with ``groups`` groups of C/G > 1 channels, plus ``bias`` (O,) if given."""
    pads, out = conv_setup(x.shape, w.shape[:2], strides, pads, dilations)
    return _forward(x, w, strides, pads, out, dilations, groups, bias)


def flipped_filters(w, groups):
    """The input gradient's filters: each group's kernel flipped with its channels swapped,
    (KH, KW, O/G, C) grouped as the cotangent's G groups of O/G channels."""
    kh, kw, cg, o = w.shape
    og = o // groups
    return w[::-1, ::-1].reshape(kh, kw, cg, groups, og).transpose(0, 1, 4, 3, 2).reshape(kh, kw, og, groups * cg)


def input_grad(g, w, x_shape, pads, dilations, groups):
    """dx of a stride-1 grouped conv2d whose forward padding was ``pads`` (resolved): the grouped
    convolution of g, padded by the window's span less ``pads``, with the flipped filters, so
    it runs the forward's kernel (other strides scatter-add per tap, in ``kernels.conv``)."""
    return _forward(g, flipped_filters(w, groups), (1, 1), gather_pads(w.shape, pads, dilations),
                    tuple(x_shape[1:3]), dilations, groups)


def filter_grad(x, g, kernel, strides, pads, dilations, groups):
    """dw (KH, KW, C/G, O): per group, its im2col matrix transposed times its cotangent columns,
    chunk by chunk, the chunks' (and shares') parts summed in order."""
    n, c, o = x.shape[0], x.shape[3], g.shape[3]
    kh, kw = kernel
    cg, og = c // groups, o // groups
    pads, out = conv_setup(x.shape, kernel, strides, pads, dilations)
    rows = out[0] * out[1]
    g2 = g.reshape(n * rows, groups, og)

    def work(lo, hi, chunk):
        cols = _GroupCols(x, kernel, strides, pads, out, dilations, groups, chunk)
        total = part = None
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            # the cotangent's group columns read in place: (G, rows, O/G) with row stride O
            part = np.matmul(cols.rows(s, e).transpose(0, 2, 1), g2[s * rows:e * rows].transpose(1, 0, 2),
                             out=part)
            total = part.copy() if total is None else np.add(total, part, out=total)
        return total
    parts = by_images(work, n, kh * kw * c * x.itemsize, rows, conv_macs(n, out, kernel, cg, o))
    return summed(parts).reshape(groups, kh, kw, cg, og).transpose(1, 2, 3, 0, 4).reshape(kh, kw, cg, o)
