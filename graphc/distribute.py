"""Beyond one process: data-parallel training and out-of-core prediction on Dask.

Both are the ``dask`` backend (``backends/dask``) applied to graphs the model already has, so
they compute what the single-process graphs compute, up to float rounding: ``model.fit(...,
distribute=...)`` runs a ``DataParallelStep`` on every global batch, ``predict(model, x)`` runs
the inference graph chunk by chunk, and ``from_npy`` / ``to_npy`` read and write ``.npy`` files
larger than memory on the workers (README.md, "Beyond one machine (Dask)").

``distribute`` is a ``dask.distributed.Client`` (a ``LocalCluster`` or a real cluster: same
code; its workers need graphc installed), the string ``"threads"`` (Dask's local threaded
scheduler), or a ``DataParallel(client, shards)`` to choose the number of shards.
"""
from __future__ import annotations

import contextlib
import os
import weakref

import numpy as np

from graphc.api import function
from graphc.api.support import Shards, is_dask_array

__all__ = ["DataParallel", "data_parallel_step", "from_npy", "predict", "to_npy"]


class DataParallel:
    """Where ``fit(..., distribute=...)`` runs and into how many shards it splits each global
    batch: ``client`` a ``dask.distributed.Client`` or ``"threads"``; ``shards`` None = one
    per worker thread of the client (or per CPU for ``"threads"``)."""

    def __init__(self, client="threads", shards=None):
        if shards is not None and int(shards) < 1:
            raise ValueError(f"DataParallel: shards must be >= 1, got {shards}")
        self.client = client
        self.shards = None if shards is None else int(shards)

    @classmethod
    def of(cls, distribute) -> "DataParallel":
        if isinstance(distribute, DataParallel):
            return distribute
        if distribute == "threads" or _is_client(distribute):
            return cls(distribute)
        raise TypeError(f"distribute: expected a dask.distributed.Client, 'threads' or "
                        f"gc.distribute.DataParallel(...), got {distribute!r}")

    def shard_count(self) -> int:
        if self.shards is not None:
            return self.shards
        if _is_client(self.client):
            return max(1, sum(self.client.nthreads().values()))
        return max(1, os.cpu_count() or 1)

    def scheduler(self):
        """A context in which Dask computes on this client (or on local threads)."""
        import dask
        return dask.config.set(scheduler=self.client)


def _is_client(obj) -> bool:
    return type(obj).__name__ == "Client" and hasattr(obj, "nthreads") and hasattr(obj, "submit")


class DataParallelStep:
    """``train_step(x, y, sample_weight) -> [loss, *statistics]`` for ``fit``: the model's
    training graph compiled for Dask, fed each global batch as shards.

    ``fit``'s usual loop (same shuffling, callbacks, validation) splits every global batch into
    shards, one Dask chunk each. The step is ``model.train_function``'s own graph (forward,
    loss, gradients, optimizer update) compiled with ``backend="dask"``: each shard runs the
    forward and backward pass on its rows and computes its *partial* gradients (x.T @ g over
    its rows, its part of every bias sum), one Dask tree reduction sums the partials of every
    gradient, the loss and the metrics' statistics together, and ONE task then applies the
    optimizer update to the summed gradients (the update ops read only replicated values, so
    they run once). Ops that need the whole batch at once (batch normalization's statistics)
    are computed exactly: their sums are reduced first, then the shards go on with the global
    values. Random ops (dropout) draw per shard, so their samples differ from a
    single-process run's."""

    def __init__(self, model, distribute):
        self.parallel = DataParallel.of(distribute)
        step = model.train_function   # builds the training graph (and the optimizer's slots)
        self.function = function(list(step.inputs), list(step.outputs), updates=list(step.updates),
                                 backend="dask", name=f"{step.name}_data_parallel")

    def __call__(self, x, y, sample_weight):
        count = min(self.parallel.shard_count(), len(x))
        rows = -(-len(x) // count)
        cut = range(0, len(x), rows)
        with self.parallel.scheduler():   # each shard travels inside its own chunk's task
            return self.function(*(Shards([a[lo:lo + rows] for lo in cut]) for a in (x, y, sample_weight)))


def data_parallel_step(model, distribute) -> DataParallelStep:
    """The training step ``fit(..., distribute=...)`` calls instead of ``model.train_function``."""
    return DataParallelStep(model, distribute)


_predict_functions: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def predict(model, x, distribute=None):
    """The model's outputs for ``x`` by the inference graph on Dask: a dask.array ``x`` (of any
    size, chunked along its rows) gives a lazy dask.array chunked the same way; a NumPy ``x`` is
    split into one shard per worker thread and the result computed. ``distribute``: a Client
    or "threads" to compute on (None: Dask's current scheduler). Memory stays bounded by a few
    chunks per worker; store a lazy result with ``da.store`` (or ``to_npy``) or reduce it."""
    inference = model.predict_function
    fn = _predict_functions.get(inference)
    if fn is None:
        fn = _predict_functions[inference] = function(list(inference.inputs), inference.outputs[0],
                                                      backend="dask", name="predict_dask")
    context = DataParallel.of(distribute).scheduler() if distribute is not None else contextlib.nullcontext()
    with context:
        if is_dask_array(x):
            return fn(x.astype(inference.inputs[0].dtype))
        x = np.asarray(x, dtype=inference.inputs[0].dtype)
        rows = max(1, -(-len(x) // DataParallel.of(distribute or "threads").shard_count()))
        return fn(Shards([x[lo:lo + rows] for lo in range(0, len(x), rows)]))


class NpyFile:
    """A ``da.store`` target: a ``.npy`` file that each worker opens and writes its blocks into
    (a NumPy memmap would be copied into each worker process, not shared). The file must be
    on a filesystem every worker sees."""

    def __init__(self, path, shape, dtype):
        self.path, self.shape, self.dtype = os.fspath(path), tuple(shape), np.dtype(dtype)

    def __setitem__(self, index, value):
        target = np.lib.format.open_memmap(self.path, mode="r+")
        target[index] = value
        target.flush()
        del target


def to_npy(array, path, compute=True):
    """Write a dask.array to a ``.npy`` file block by block, on the workers, without ever
    holding it whole (``np.load(path, mmap_mode="r")`` reads it back)."""
    import dask.array as da
    np.lib.format.open_memmap(os.fspath(path), mode="w+", dtype=array.dtype, shape=array.shape).flush()
    return da.store(array, NpyFile(path, array.shape, array.dtype), lock=False, compute=compute)


def _read_rows(path, lo, hi):
    return np.array(np.load(path, mmap_mode="r")[lo:hi])


def from_npy(path, rows):
    """A ``.npy`` file as a dask.array of blocks of ``rows`` rows, each read by the task that
    needs it (the file must be on a filesystem every worker sees): a NumPy memmap inside a Dask
    graph would be pickled whole, not shared."""
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph
    path = os.path.abspath(os.fspath(path))
    header = np.load(path, mmap_mode="r")
    shape, dtype = header.shape, header.dtype
    del header
    name = f"graphc-npy-{os.path.basename(path)}-{os.stat(path).st_mtime_ns}"
    starts = range(0, shape[0], rows)
    tail = (0,) * (len(shape) - 1)
    layer = {(name, i) + tail: (_read_rows, path, lo, min(lo + rows, shape[0])) for i, lo in enumerate(starts)}
    chunks = (tuple(min(rows, shape[0] - lo) for lo in starts),) + tuple((d,) for d in shape[1:])
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[])
    return da.Array(graph, name, chunks, dtype=dtype, meta=np.empty((0,) * len(shape), dtype))
