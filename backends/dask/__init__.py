"""The Dask backend: ``gc.function(..., backend="dask")`` runs a compiled graph chunk by chunk on
Dask — its local threaded scheduler or any ``dask.distributed`` cluster — so that scheduling,
data movement, memory management and retries are a proven engine's, not a scheduler of ours.

What a caller sees (which inputs are chunked, lazy in and lazy out, the plan in ``f.source``)
is README.md's "Beyond one machine (Dask)". The stages: ``graphc.passes.batch_axes`` lays every
value out and ``graphc.plan.regions`` cuts the schedule into regions (both reach the backend as
``Program.partition``); here ``lowering`` makes one call a Dask graph, ``tasks`` holds the
picklable callables the tasks run, and ``backend`` plans, compiles regions and computes. Dask
(the ``dask`` extra) is imported only when the backend is used, so graphc imports without it.
"""
from graphc.backend_registry import register
from graphc.backends.dask.backend import DaskBackend, DaskExecutable
from graphc.plan.shards import Shards, is_dask_array

register("dask", DaskBackend)

__all__ = ["DaskBackend", "DaskExecutable", "Shards", "is_dask_array"]
