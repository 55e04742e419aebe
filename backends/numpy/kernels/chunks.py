"""Walking a batch of images in chunks on the kernel threads, and the buffer and padding helpers
the convolution kernels (plain, grouped, depthwise) share."""
from __future__ import annotations

from graphc.backends.numpy import blas_threads
from graphc.backends.numpy.kernels.gemm import SPLIT_MIN_MACS
from graphc.backends.numpy.threads import run_shares


# -- the one-group convolutions: im2col + GEMM, by chunks of images ------------------------------
#
# While graphc owns the GEMMs (a compiled call with BLAS serial, see blas_threads) each kernel
# thread runs the whole convolution for its share of the batch, a few images at a time: pad the
# chunk, copy its im2col rows, multiply, so the rows are still in cache when the GEMM reads
# them. Otherwise (BLAS threads its own GEMMs) the whole batch is one chunk: one im2col, one GEMM.

# im2col bytes per chunk: few enough to be still in cache when the GEMM reads them, enough that
# two threads' short NumPy calls don't queue for the GIL (benchmarks/README.md: CHUNK_BYTES)
CHUNK_BYTES = 2 << 20



def by_images(work, n: int, row_bytes: int, image_rows: int, macs: int, budget: int = 0,
               split: bool = True) -> list:
    """``work(lo, hi, chunk)`` over the batch rows [0, n) — its results, in order: ``chunk``
    images (about ``budget`` bytes of rows, CHUNK_BYTES by default) at a time, in shares on the
    kernel threads (in the calling thread only, unless ``split``), when graphc owns the GEMMs
    and the product is large; else once, the whole batch as one chunk."""
    if not blas_threads.active() or macs < SPLIT_MIN_MACS:
        return [work(0, n, n)]
    chunk = max(1, (budget or CHUNK_BYTES) // max(1, row_bytes * image_rows))
    if not split:
        return [work(0, n, chunk)]
    return run_shares(lambda lo, hi: work(lo, hi, chunk), n, 1)



def pad_into(buf, src, pads):
    """Place ``src`` (N, H, W, ...) into ``buf`` (N, H + t + b, W + l + r, ...) whose border is
    already zero; a negative pad crops ``src`` instead."""
    (t, b), (l, r) = pads
    h, w = src.shape[1:3]
    src = src[:, max(-t, 0):h - max(-b, 0), max(-l, 0):w - max(-r, 0)]
    top, left = max(t, 0), max(l, 0)
    buf[:, top:top + src.shape[1], left:left + src.shape[2]] = src



def conv_macs(n, out, kernel, c, o) -> int:
    return n * out[0] * out[1] * kernel[0] * kernel[1] * c * o



def gather_pads(w_shape, pads, dilations):
    """The cotangent's padding for a stride-1 input gradient as a convolution: the dilated
    window's span less the forward padding, on each side."""
    (t, b), (l, r) = pads
    span_h, span_w = (w_shape[0] - 1) * dilations[0], (w_shape[1] - 1) * dilations[1]
    return (span_h - t, span_h - b), (span_w - l, span_w - r)
