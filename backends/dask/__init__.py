"""The Dask backend: ``gc.function(..., backend="dask")`` runs a compiled graph chunk by chunk on
Dask — its local threaded scheduler, or any ``dask.distributed`` cluster — on the proven
engine's scheduling, data movement, memory management and retries, not on a scheduler of ours.

Using it

- The values fed say what is chunked: a dask.array split into several blocks along one axis
  (its batch axis) is processed block by block along it; several such inputs are aligned on
  the first one's chunks. NumPy arrays and one-block dask.arrays are *replicated*: passed
  whole and shipped once to each worker that needs them (one that spans the batch axis, like
  labels fed as NumPy beside chunked images, is cut to each chunk's rows inside its task).
  NumPy inputs are never split behind the caller's back: ``da.from_array(x, chunks=...)``
  chooses the chunking.
- Lazy in, lazy out: if an input is a dask.array the outputs are dask.arrays (nothing has run;
  ``.compute()``, ``da.store`` or more dask.array code takes them on). With NumPy inputs only,
  or when the function has ``updates`` (applied now, as on every backend), the outputs are
  computed and returned as NumPy arrays.
- Dask computes where its default points: the threaded scheduler, the current
  ``distributed.Client``, or ``with dask.config.set(scheduler=client)``.
- ``f.source`` shows the plan (what runs per chunk, once, in tree reductions) and each region's
  generated NumPy code; ``gc.render(f, path)`` draws the optimized graph with one cluster per
  region and per tree reduction.

How it works, one module per stage

    (graphc.passes.batch_axes: which values are chunked, along which axis, replicated or
     cross-chunk, by each op's batch rule; graphc.plan.regions: the schedule cut into regions
     per chunk, once, and tree reductions; the compiler hands both over as Program.partition)
    lowering.py   one call as a Dask graph: a task per region and chunk, one tree per level
    tasks.py      the picklable callables the tasks run (generated source plus its arrays)
    backend.py    the executable: plans per chunking, compiles regions, lowers, computes

Choices

- The backend does no graph rewriting: passes and fusion ran before it is called. Regions are
  made of the schedule's own steps and fused kernels; each is compiled by the NumPy backend as
  a Program specialized to one chunk's shapes (as ``gc.function`` specializes per call
  signature), so the per-chunk code IS the NumPy backend's code, with the same kernels.
- One tree reduction per level carries every partial of the level together (a training step's
  gradients, loss and metric counts), where one ``dask.array`` reduction per partial would
  build the same tree shape once per gradient: on a cluster each task costs milliseconds.
- A region ships as source text plus its constants and is compiled once per worker process;
  its blocked kernels run in the task's own thread (Dask already runs a task per core).
- Random ops draw per chunk from generators seeded by (their seed, the call, the chunk):
  reproducible for one chunking, different from the NumPy backend's samples.

Dask (``dask[array,distributed]``, the ``dask`` extra) is imported only when the backend is
used, so graphc imports without it.
"""
from graphc.backend_registry import register
from graphc.backends.dask.backend import DaskBackend, DaskExecutable
from graphc.plan.shards import Shards, is_dask_array

register("dask", DaskBackend)

__all__ = ["DaskBackend", "DaskExecutable", "Shards", "is_dask_array"]
