"""The Dask backend: a compiled graph run chunk by chunk by Dask (``backend="dask"``).

Inputs given as dask.arrays split into several blocks along one axis (the batch axis) are
processed block by block; everything else is replicated: passed whole, shipped once.

    analysis.py   which values are chunked, replicated or cross-chunk (a pure function)
    regions.py    the schedule cut into per-chunk / once regions and tree reductions; each
                  region becomes a small Program that the NumPy backend compiles
    lowering.py   one call as a Dask graph: a task per region and chunk, one tree per level
    tasks.py      the picklable callables the tasks run (generated source + arrays)
    backend.py    the executable: plans, compiles, lowers, computes

Dask (``dask[array,distributed]``, the ``dask`` extra) is imported only when the backend is
used, so graphc imports without it.
"""
from .. import register
from .backend import DaskBackend, DaskExecutable, is_dask_array
from .lowering import Shards

register("dask", DaskBackend)

__all__ = ["DaskBackend", "DaskExecutable", "Shards", "is_dask_array"]
