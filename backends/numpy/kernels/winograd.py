"""Winograd's minimal filtering F(2×2, 3×3): 3×3 stride-1 convolutions with 2.25× fewer
multiply-adds than im2col + GEMM (Lavin & Gray, 2015; cuDNN, oneDNN and NNPACK do the same).

Each 2×2 output block is Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A of the 4×4 padded-input tile d that
covers it (tiles overlap by 2), summed over the input channels: for all tiles at once, 16 GEMMs
(tiles, C) @ (C, O), one per position of the transformed tile — 16 multiply-adds per 2×2
outputs per channel pair where im2col spends 36. B and A only add and G only halves, so float32
results stay within a few ulps of the direct sum.

Why: where NumPy's BLAS runs AVX2 kernels, as on these machines, the im2col GEMMs already ran
at the kernel's peak (benchmarks/README.md: Winograd); fewer multiply-adds was the only way
left. The functions work on one chunk of images; ``kernels.conv`` chunks the batch and asks
``suitable`` when to use them.
"""
from __future__ import annotations

import numpy as np

# F(2×2, 3×3): Bᵀ (4×4), G (4×3), Aᵀ (2×4); only G is used as a matrix, B and A as additions
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

# below this many input or output channels the transforms' memory traffic (∝ C + O per tile)
# eats the GEMMs' saving (∝ C·O): 32 ↔ 64 is a tie (benchmarks/README.md: MIN_CHANNELS)
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
    so that each position's (C, O) matrix is one GEMM operand. Two small GEMMs (G along the
    kernel's rows, then its columns), not an einsum, which is several times slower
    (benchmarks/README.md: filter_transform)."""
    g = G.astype(dtype)
    rows = np.tensordot(g, w.astype(dtype, copy=False), (1, 0))          # (4, 3, C, O)
    u = np.tensordot(g, rows, (1, 1))                                   # (4 columns, 4 rows, C, O)
    return np.ascontiguousarray(u.transpose(1, 0, 2, 3)).reshape(16, w.shape[2], w.shape[3])


def filter_transform_grad(du):
    """The filter gradient from the gradient of U: dg = Gᵀ dU G, (16, C, O) -> (3, 3, C, O)."""
    g = G.astype(du.dtype)
    rows = np.tensordot(g, du.reshape(4, 4, du.shape[1], du.shape[2]), (0, 0))   # (3, 4, C, O)
    return np.tensordot(g, rows, (0, 1)).transpose(1, 0, 2, 3)               # (3, 3, C, O)


def _input_parts(d0, d1, d2, d3, out):
    """Bᵀ along one axis: out[0..3] = d0 − d2, d1 + d2, d2 − d1, d1 − d3, the four cells of each
    tile being d0..d3."""
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def _pad_into_column_pairs(buf, src, pads):
    """Place ``src`` (n, H, W, C), padded by ``pads`` (a negative pad crops), into ``buf``
    (n, Hp, 2, Wp/2, C), whose border is already zero: padded column q lands in buf[:, :, q % 2,
    q // 2]."""
    (t, b), (l, r) = pads
    h, w = src.shape[1:3]
    src = src[:, max(-t, 0):h - max(-b, 0), max(-l, 0):w - max(-r, 0)]
    top, left = max(t, 0), max(l, 0)
    rows = slice(top, top + src.shape[1])
    for parity in (0, 1):
        first = (parity - left) % 2                   # the first source column of this parity
        columns = src[:, :, first::2]
        start = (left + first) // 2
        buf[:, rows, parity, start:start + columns.shape[2]] = columns


class InputTransform:
    """Bᵀ d B for every tile of a chunk of images, padded here, into buffers reused across
    chunks: (16, n·TH·TW, C), position-major, ready as the GEMMs' left operands.

    The padded images are stored with their even and odd columns apart, (n, Hp, 2, Wp/2, C), so
    that the four cells of every tile's row (columns 2t … 2t + 3) are four contiguous runs of
    TW·C values: the column pass then works on long rows, where reading every other column, C
    values at a time, was slower (benchmarks/README.md: InputTransform)."""

    def __init__(self, chunk: int, out, c: int, dtype, x_dtype=None):
        self.th, self.tw = tiles(out)
        hp, wp = padded_size(out)
        self.c = c
        self.padded = np.zeros((chunk, hp, 2, wp // 2, c), dtype=x_dtype or dtype)
        self.rows = np.empty(4 * chunk * self.th * wp * c, dtype=dtype)
        self.v = np.empty(16 * chunk * self.th * self.tw * c, dtype=dtype)

    def __call__(self, src, pads):
        """``src``: (n, H, W, C) images whose padding by ``pads`` is the output's size plus 2
        (an odd output's tiles read one more row or column, of zeros)."""
        n, th, tw, c = src.shape[0], self.th, self.tw, self.c
        padded = self.padded[:n]
        _pad_into_column_pairs(padded, src, pads)
        rows = self.rows[:4 * n * th * 2 * (tw + 1) * c].reshape(4, n, th, 2, tw + 1, c)
        v = self.v[:16 * n * th * tw * c].reshape(4, 4, n, th, tw, c)
        # Bᵀ d: along the rows, tile t's cells being padded rows 2t … 2t + 3
        _input_parts(*(padded[:, k:k + 2 * th - 1:2] for k in range(4)), rows)
        # (Bᵀ d) B: along the columns, tile t's cells being the pairs' (even, odd) of t, t + 1
        even, odd = rows[:, :, :, 0], rows[:, :, :, 1]
        _input_parts(even[..., :tw, :], odd[..., :tw, :], even[..., 1:, :], odd[..., 1:, :],
                     v.transpose(1, 0, 2, 3, 4, 5))
        return v.reshape(16, n * th * tw, c)


# Aᵀ's column 1 is all ones, so a value added to M at position (1, 1) reaches each of the block's
# four outputs exactly once: a bias costs one pass over a sixteenth of M instead of one over Y
BIAS_POSITION = 4 * 1 + 1


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
