"""Cached read-only vectors of one value (zeros, ones), the second operands of the NumPy fast
paths (relu against a row of zeros, sums as products with ones): made once per length and
dtype, not per call."""
from __future__ import annotations

import numpy as np

_MAX_CACHED = 64
_cache: dict = {}


def filled(length: int, dtype, value) -> np.ndarray:
    """A read-only 1-D array of ``length`` elements equal to ``value``, of ``dtype``."""
    key = (length, np.dtype(dtype), value)
    vector = _cache.get(key)
    if vector is None:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        vector = np.full(length, value, dtype=dtype)
        vector.setflags(write=False)
        _cache[key] = vector
    return vector
