"""Winograd's minimal filtering F(2×2, 3×3): 3×3, stride-1 convolutions with 2.25× fewer
multiply-adds than im2col + GEMM.

Each 2×2 block of outputs is computed from the 4×4 tile of the padded input that covers it
(tiles overlap by 2):

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

summed over the input channels. For all tiles and channels at once that is 16 GEMMs, one per
position (ξ, ν) of the 4×4 transformed tile, (tiles, C) @ (C, O): 16 multiply-adds per 2×2
outputs per channel pair where im2col spends 36. The transforms with B and A are additions
only and G only halves, so in float32 the result is within a few ulps of the direct sum
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015; cuDNN, oneDNN and
NNPACK use the same algorithm for 3×3 layers).

Why: on CPUs without fast vector units for NumPy's BLAS (these machines' OpenBLAS runs its
AVX2 kernels) the GEMMs of W5's second convolution already ran at the kernel's peak; the only
way left to make them faster was fewer multiply-adds.

The functions here work on one chunk of images; ``graphc.ops.conv`` splits the batch over the
kernel threads and chunks, and decides when this path applies (``suitable``).
"""
from __future__ import annotations

import numpy as np

# F(2×2, 3×3): Bᵀ (4×4), G (4×3), Aᵀ (2×4); only G is used as a matrix, B and A as additions
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

# below this many input or output channels the transforms' memory traffic (proportional to
# C + O per tile) eats the GEMMs' saving (proportional to C·O). Measured on 2 cores, forward +
# both gradients in one compiled call (benchmarks/conv_peers.py): C = O = 64 1.0× on 14×14
# images, 1.2-1.4× on 28×28 and 56×56; 128 1.45×; 256 1.27× (0.98× on 7×7, where the 2×2
# tiles waste a quarter of their outputs); 32 → 64 (W5's second layer) 0.8-0.9×
MIN_CHANNELS = 64


def suitable(kernel, strides, dilations, c: int, o: int) -> bool:
    """Whether F(2×2, 3×3) computes this convolution: 3×3, stride 1, no dilation (the caller
    checks for one group), and channels enough on both sides for the GEMMs to dominate."""
    return (tuple(kernel) == (3, 3) and tuple(strides) == (1, 1) and tuple(dilations) == (1, 1)
            and c >= MIN_CHANNELS and o >= MIN_CHANNELS)


def tiles(out) -> tuple:
    """(tile rows, tile columns) covering an (OH, OW) output with 2×2 blocks."""
    return (out[0] + 1) // 2, (out[1] + 1) // 2


def padded_size(out) -> tuple:
    """(rows, columns) of the padded input the tiles read: 2 per tile plus the window's 2."""
    th, tw = tiles(out)
    return 2 * th + 2, 2 * tw + 2


def filter_transform(w, dtype):
    """U = G g Gᵀ for each (input, output) channel pair: (16, C, O), position-major, contiguous
    so that each position's (C, O) matrix is one GEMM operand."""
    g = G.astype(dtype)
    u = np.einsum("ai,ijco,bj->abco", g, w.astype(dtype, copy=False), g)
    return np.ascontiguousarray(u.reshape(16, w.shape[2], w.shape[3]))


def filter_transform_grad(du):
    """The filter gradient from the gradient of U: dg = Gᵀ dU G, (16, C, O) -> (3, 3, C, O)."""
    g = G.astype(du.dtype)
    return np.einsum("ia,ijco,jb->abco", g, du.reshape(4, 4, du.shape[1], du.shape[2]), g)


def _strided(a, axis: int, start: int, count: int):
    """Cells start, start + 2, …, start + 2·(count − 1) of ``a`` along ``axis``: cell ``start``
    of each of ``count`` tiles (tiles step by 2)."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, start + 2 * count - 1, 2)
    return a[tuple(index)]


def _input_parts(d, axis, out, count):
    """Bᵀ along ``axis`` of the padded rows/columns d: the 4 parts of each tile, into out[0..3]:
    d0 − d2, d1 + d2, d2 − d1, d1 − d3, cell k of tile t being d[2t + k]."""
    d0, d1, d2, d3 = (_strided(d, axis, k, count) for k in range(4))
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


class InputTransform:
    """Bᵀ d B for every tile of a chunk of padded images, into buffers reused across chunks:
    (16, n·TH·TW, C), position-major, ready as the GEMMs' left operands."""

    def __init__(self, chunk: int, out, c: int, dtype):
        self.th, self.tw = tiles(out)
        self.wp = padded_size(out)[1]
        self.c = c
        self.rows = np.empty(4 * chunk * self.th * self.wp * c, dtype=dtype)
        self.v = np.empty(16 * chunk * self.th * self.tw * c, dtype=dtype)

    def __call__(self, xp):
        """``xp``: (n, 2·TH + 2, 2·TW + 2, C), the padded chunk."""
        n, th, tw, c = xp.shape[0], self.th, self.tw, self.c
        rows = self.rows[:4 * n * th * self.wp * c].reshape(4, n, th, self.wp, c)
        v = self.v[:16 * n * th * tw * c].reshape(4, 4, n, th, tw, c)
        _input_parts(xp, 1, rows, th)                                # Bᵀ d: along the rows
        _input_parts(rows, 3, v.transpose(1, 0, 2, 3, 4, 5), tw)     # (Bᵀ d) B: the columns
        return v.reshape(16, n * th * tw, c)


def output_transform(m, y6, scratch):
    """Y = Aᵀ M A: M (16, n·TH·TW, O) -> the 2×2 blocks, written into ``y6`` (n, TH, 2, TW, 2, O).
    Aᵀ rows: m0 + m1 + m2, m1 − m2 − m3. ``scratch``: (2, 4, n, TH, TW, O)."""
    n, th, _, tw, _, o = y6.shape
    m = m.reshape(4, 4, n, th, tw, o)
    np.add(m[0], m[1], out=scratch[0])
    scratch[0] += m[2]
    np.subtract(m[1], m[2], out=scratch[1])
    scratch[1] -= m[3]
    blocks = y6.transpose(2, 4, 0, 1, 3, 5)          # (row in block, column in block, n, TH, TW, O)
    np.add(scratch[:, 0], scratch[:, 1], out=blocks[:, 0])
    blocks[:, 0] += scratch[:, 2]
    np.subtract(scratch[:, 1], scratch[:, 2], out=blocks[:, 1])
    blocks[:, 1] -= scratch[:, 3]


def output_grad_transform(g6, dm, scratch):
    """The gradient of M from the outputs' gradient: dM = A dY Aᵀ, dY's 2×2 blocks ``g6``
    (n, TH, 2, TW, 2, O) -> ``dm`` (16, n·TH·TW, O). A's rows: y0, y0 + y1, y0 − y1, −y1.
    ``scratch``: (4, 2, n, TH, TW, O)."""
    n, th, _, tw, _, o = g6.shape
    blocks = g6.transpose(2, 4, 0, 1, 3, 5)          # (2, 2, n, TH, TW, O)
    _grad_parts(blocks, scratch)                     # rows: scratch[i] = (A dY)[i], (2, ...)
    out = dm.reshape(4, 4, n, th, tw, o)
    _grad_parts(scratch.transpose(1, 0, 2, 3, 4, 5), out.transpose(1, 0, 2, 3, 4, 5))


def _grad_parts(y, out):
    """A along the first axis of ``y`` (2, ...): out[0..3] = y0, y0 + y1, y0 − y1, −y1."""
    np.copyto(out[0], y[0])
    np.add(y[0], y[1], out=out[1])
    np.subtract(y[0], y[1], out=out[2])
    np.negative(y[1], out=out[3])
