"""Matrix products split over graphc's kernel threads, for the NumPy backend.

While a compiled call runs with BLAS one-threaded (``graphc.backends.numpy.blas_threads``), a large product is
cut into shares that each thread hands to BLAS: by rows of the left operand (the usual case,
and the batch of a batched product), else by columns of the right one, else — a short, wide
product such as a weight gradient xᵀ·g — by the inner dimension, the partial products summed.
Outside such a call, or for small products, this is ``np.matmul``.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.backends.numpy import blas_threads
from graphc.backends.numpy.threads import run_shares, thread_count

# below this many multiply-adds a product runs whole in the calling thread: about what one core's
# SGEMM does in the time a hand-off to another thread costs (benchmarks/README.md: SPLIT_MIN_MACS)
SPLIT_MIN_MACS = 1 << 23
MIN_SHARE = 32          # rows, columns or inner length per share, at least
# a result with fewer rows or columns is not split by its inner dimension (a conv filter gradient
# with few taps and channels): two such one-threaded OpenBLAS calls at once gain little or
# nothing over one after the other (benchmarks/README.md: INNER_SPLIT_MIN_SIDE)
INNER_SPLIT_MIN_SIDE = 17
_SPLIT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.complex64), np.dtype(np.complex128))


def macs(a_shape, b_shape) -> int:
    """Multiply-adds of np.matmul on these shapes; 0 for a product with a vector (memory-bound:
    never split)."""
    if len(a_shape) < 2 or len(b_shape) < 2:
        return 0
    batch = np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))
    return math.prod(batch) * a_shape[-2] * a_shape[-1] * b_shape[-1]


def matmul(a, b):
    """``np.matmul(a, b)``, split over the kernel threads when large and BLAS is serial."""
    if (not blas_threads.active() or type(a) is not np.ndarray or type(b) is not np.ndarray
            or a.ndim < 2 or b.ndim < 2 or a.dtype != b.dtype or a.dtype not in _SPLIT_DTYPES
            or macs(a.shape, b.shape) < SPLIT_MIN_MACS):
        return np.matmul(a, b)
    threads = thread_count()
    if b.ndim == 2 and (a.ndim == 2 or a.flags.c_contiguous):
        rows = a.reshape(-1, a.shape[-1])               # a view: a is 2-d or contiguous
        if rows.shape[0] >= threads * MIN_SHARE:
            return _by_rows(rows, b, run_shares).reshape(a.shape[:-1] + b.shape[-1:])
    elif a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2] and a.shape[0] >= threads:
        out = np.empty(a.shape[:-1] + b.shape[-1:], dtype=a.dtype)

        def batch_share(lo, hi):
            np.matmul(a[lo:hi], b[lo:hi], out=out[lo:hi])
        run_shares(batch_share, a.shape[0], 1)
        return out
    if a.ndim == 2 and b.ndim == 2:
        if b.shape[1] >= threads * MIN_SHARE:
            return _by_columns(a, b, run_shares)
        if a.shape[1] >= threads * MIN_SHARE and inner_split_pays(a.shape[0], b.shape[1]):
            return _by_inner(a, b, run_shares)
    return np.matmul(a, b)


def inner_split_pays(rows: int, columns: int) -> bool:
    """Whether a product with an (rows, columns) result gains from splitting its inner
    dimension over the kernel threads (see INNER_SPLIT_MIN_SIDE)."""
    return min(rows, columns) >= INNER_SPLIT_MIN_SIDE


def _by_rows(a, b, run_shares):
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)

    def share(lo, hi):
        np.matmul(a[lo:hi], b, out=out[lo:hi])
    run_shares(share, a.shape[0], MIN_SHARE)
    return out


def _by_columns(a, b, run_shares):
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)

    def share(lo, hi):
        out[:, lo:hi] = a @ b[:, lo:hi]
    run_shares(share, b.shape[1], MIN_SHARE)
    return out


def _by_inner(a, b, run_shares):
    """Σ over shares of the inner dimension of a[:, share] @ b[share]: partial sums added in
    share order (so the rounding depends on the thread count, as BLAS's own may)."""
    return summed(run_shares(lambda lo, hi: a[:, lo:hi] @ b[lo:hi], a.shape[1], MIN_SHARE))


def summed(parts):
    """Partial sums computed by shares (of an inner dimension, or of a batch for a filter
    gradient), added in share order: the same split always gives the same rounding."""
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total
