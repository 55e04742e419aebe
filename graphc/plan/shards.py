"""Values fed already split: ``Shards`` (NumPy blocks along one axis, as data-parallel training
feeds a global batch) and the test for a dask.array, which backends and the library share."""
from __future__ import annotations

import sys

import numpy as np


def is_dask_array(value) -> bool:
    """True for a dask.array (checked without importing dask when it is not loaded)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(value, module.Array)


class Shards:
    """A NumPy array already split into blocks along ``axis``: a chunked input whose blocks
    go straight into their chunks' tasks (no task of their own)."""

    def __init__(self, blocks, axis=0):
        self.blocks = [np.asarray(b) for b in blocks]
        self.axis = axis
        first = self.blocks[0]
        self.dtype = first.dtype
        self.ndim = first.ndim
        self.chunks = tuple(b.shape[axis] for b in self.blocks)
        shape = list(first.shape)
        shape[axis] = sum(self.chunks)
        self.shape = tuple(shape)

    def astype(self, dtype):
        return Shards([b.astype(dtype) for b in self.blocks], self.axis)

    def to_dask(self):
        import dask.array as da
        return da.concatenate([da.from_array(b, chunks=b.shape, name=False) for b in self.blocks], axis=self.axis)
