"""Faster paths around two NumPy reductions and ufuncs, bound to the ``relu_max0`` and
``sum_reduce`` helper names (the ops' references are the plain NumPy calls)."""
from __future__ import annotations

import math as _pymath

import numpy as np

from graphc.backends.numpy.kernels.filled import filled


# NumPy 2's maximum has no vectorized loop for a scalar operand, so a large contiguous x is
# compared, as rows, with a cached row of zeros long enough for the vector loop
# (benchmarks/README.md: relu_max0)
_ZERO_ROW_ELEMENTS = 8192


def _zero_row(shape, dtype) -> np.ndarray:
    """Zeros as long as x's trailing axes, up to _ZERO_ROW_ELEMENTS (or the last axis alone)."""
    length = 1
    for d in reversed(shape):
        if length * d > _ZERO_ROW_ELEMENTS and length > 1:
            break
        length *= d
    return filled(length, dtype, 0)


def relu_max0(x, out=None):
    """np.maximum(x, 0), optionally into ``out`` (same shape, C-contiguous)."""
    if (type(x) is np.ndarray and x.size >= 4096 and x.flags.c_contiguous
            and (out is None or (out.flags.c_contiguous and out.shape == x.shape))):
        zeros = _zero_row(x.shape, x.dtype)
        rows = (-1, zeros.size)
        y = np.maximum(x.reshape(rows), zeros, out=None if out is None else out.reshape(rows))
        return y.reshape(x.shape) if out is None else out
    return np.maximum(x, 0) if out is None else np.maximum(x, 0, out=out)


# a sum over the leading axes of a large float array (a bias gradient: (N, H, W, C) -> (C,)) is
# a vector-matrix product with ones: BLAS reads the rows once where np.add.reduce adds row after
# row, in as naive an order (benchmarks/README.md: sum_reduce)
GEMV_MIN_ELEMENTS = 1 << 16


def sum_reduce(x, axis, keepdims):
    """np.add.reduce(x, axis, keepdims), through BLAS when ``axis`` is the leading axes of a large
    C-contiguous float32/float64 array."""
    k = len(axis)
    if (type(x) is np.ndarray and x.size >= GEMV_MIN_ELEMENTS and 0 < k < x.ndim
            and axis == tuple(range(k)) and x.dtype in (np.float32, np.float64) and x.flags.c_contiguous):
        rows = _pymath.prod(x.shape[:k])
        total = filled(rows, x.dtype, 1) @ x.reshape(rows, -1)
        return total.reshape((1,) * k + x.shape[k:] if keepdims else x.shape[k:])
    return np.add.reduce(x, axis=axis, keepdims=keepdims)
