"""Lowering one call to a Dask graph: the plan's regions as tasks over the inputs' chunks
(``lower``: the graph's keys), then either dask.arrays over it for a lazy call (``arrays``) or
its results computed now (``compute``). Dask schedules everything — the local threaded
scheduler or a ``distributed`` cluster, with its retries of tasks lost with a worker.
"""
from __future__ import annotations

import uuid

import numpy as np

from graphc.backends.dask.tasks import Combine, Literal, RegionTask, element
from graphc.plan.shards import Shards  # noqa: F401 - lowered calls read its blocks

SPLIT_EVERY = 8   # children per node of a tree reduction (dask.array's reductions use 4 to 32)


class Call:
    """The values of one call: the chunked inputs (dask.arrays or Shards aligned on one
    chunking of the batch), everything else whole."""

    def __init__(self, program, values, axes, chunks):
        self.program = program
        self.values = values          # per input: a dask.array, Shards or a NumPy array
        self.axes = axes              # per input: its chunked axis, or None
        self.chunks = chunks          # rows per chunk along the batch (None: nothing chunked)
        self.offsets = None if chunks is None else np.concatenate([[0], np.cumsum(chunks)]).tolist()


class Lowered:
    """One call's Dask graph and where each output and update value sits in it."""

    def __init__(self, graph, name, collections, results):
        self.graph = graph
        self.name = name
        self.collections = collections   # the dask.arrays the graph reads
        self.results = results           # per output, then per update: its Reference


class Reference:
    """Where a value is: a key (or a Literal) of the graph, the element of the tuple it holds
    (None: the whole value), and for a chunked value, its key per chunk."""

    def __init__(self, node, keys, elem, axis=None, scale=None):
        self.node, self.keys, self.elem, self.axis, self.scale = node, keys, elem, axis, scale


def lower(plan, call: Call, stream, codes, split_every=SPLIT_EVERY) -> Lowered:
    """The Dask graph of one call. ``codes(region, rows)`` gives a region's RegionCode for
    chunks of ``rows`` rows (compiled and cached by the caller). Its keys, for a plan
    (``regions``) and the values fed:

        once L            key (once L,)            -> tuple of the region's results
        chunk L, chunk i  key (chunk L, i)         -> tuple: the region's results on rows of chunk i
        tree L            keys (tree L, depth, j)  -> Combine of up to ``split_every`` children;
                                                     the root holds every combined partial
        values            key (values, chunk L)    -> the replicated sources (weights, NumPy
                                                     inputs, large constants) chunk L's tasks read

    Replicated values a per-chunk region reads enter the graph once, as one key: every chunk's
    task names it, so Dask ships it once to each worker that runs a chunk. A "once" task carries
    its replicated values itself. Chunked inputs are read block by block from the caller's
    dask.arrays, or (``Shards``: NumPy blocks, as data-parallel training feeds them) travel
    inside their chunk's task."""
    from dask.highlevelgraph import HighLevelGraph

    name = f"graphc-{call.program.name}-{uuid.uuid4().hex[:12]}"
    layout = plan.layout
    tasks: dict = {}
    collections: list = []
    inputs = {id(p): k for k, p in enumerate(call.program.inputs)}
    total = sum(call.chunks) if call.chunks else 0
    trees: dict = {}        # id(region) -> key of its tree's root
    bundles: dict = {}      # id(region) -> (key, [values]) of a per-chunk region's replicated sources

    def source_value(node):
        if node.op == "placeholder":
            return call.values[inputs[id(node)]]
        if node.op == "variable":
            return node.value
        return node.attrs["value"]

    def use(collection):
        if not any(c is collection for c in collections):
            collections.append(collection)

    def replicated_source(node, region):
        """(dep, element) of a replicated source's value for a task of ``region``."""
        value = source_value(node)
        if _is_dask(value):          # a one-block dask.array: its block's key
            use(value)
            return (value.name,) + (0,) * value.ndim, None
        if not region.chunked:
            return Literal(value), None
        key, values = bundles.setdefault(id(region), ((f"{name}-values", region.name), []))
        for k, v in enumerate(values):
            if v is value:
                return key, k
        values.append(value)
        return key, len(values) - 1

    def reference(node, split, i, region):
        """(dep, element, cut) of ``node``'s value for chunk ``i`` of ``region`` (None: once)."""
        cut = None
        if split is not None:
            axis, scale = split
            cut = (axis, int(call.offsets[i] * scale), int(call.offsets[i + 1] * scale))
        if node.op in ("placeholder", "variable", "constant"):
            k = inputs.get(id(node))
            if k is not None and call.axes[k] is not None:
                value = call.values[k]
                if isinstance(value, Shards):
                    return Literal(value.blocks[i]), None, None
                use(value)
                axis = call.axes[k]
                return (value.name,) + tuple(i if d == axis else 0 for d in range(value.ndim)), None, None
            dep, elem = replicated_source(node, region)
            return dep, elem, cut
        where, position = plan.where[id(node)]
        if layout.cross(node):
            return trees[id(where)], position - len(where.outputs), cut
        if where.chunked:
            return (f"{name}-{where.name}", i), position, None
        return (f"{name}-{where.name}",), position, cut

    for region in plan.regions:
        chunks = list(enumerate(call.chunks)) if region.chunked else [(None, None)]
        for i, rows in chunks:
            deps, picks = [], []
            for node, split in region.inputs:
                dep, elem, cut = reference(node, split, i, region)
                index = next((j for j, d in enumerate(deps) if d is dep or (not isinstance(d, Literal)
                                                                             and d == dep)), None)
                if index is None:
                    deps.append(dep)
                    index = len(deps) - 1
                picks.append((index, elem, cut))
            means = [len(region.outputs) + k for k, kind in enumerate(region.combine) if kind == "mean"]
            weight = rows / total if rows is not None else 1.0
            task = RegionTask(codes(region, rows), picks, (stream, -1 if i is None else i), means, weight)
            key = (f"{name}-{region.name}", i) if region.chunked else (f"{name}-{region.name}",)
            tasks[key] = (task, *deps)
        if region.partials:
            leaves = [(f"{name}-{region.name}", i) for i in range(len(call.chunks))]
            select = range(len(region.outputs), len(region.outputs) + len(region.partials))
            trees[id(region)] = _tree(tasks, f"{name}-tree{region.level}", leaves, select,
                                      region.combine, [n.dtype for n in region.partials], split_every)
    for key, values in bundles.values():
        tasks[key] = Literal(tuple(values))

    def locate(node):
        axis = layout.axis.get(id(node))
        if axis is None:
            dep, elem, _ = reference(node, None, None, _ONCE)
            return Reference(node, [dep], elem)
        refs = [reference(node, None, i, _ONCE) for i in range(len(call.chunks))]
        return Reference(node, [r[0] for r in refs], refs[0][1], axis, layout.scale[id(node)])

    graph_ = call.program.graph
    results = [locate(o) for o in graph_.outputs] + [locate(v) for _, v in graph_.updates]
    graph = HighLevelGraph.from_collections(name, tasks, dependencies=_unique(collections))
    return Lowered(graph, name, collections, results)


class _Once:
    chunked = False
    name = "output"


_ONCE = _Once()


def compute(lowered, call) -> list:
    """Every output and update value, computed now by Dask's current scheduler, as NumPy: the
    regions' and trees' result keys are computed directly and the results picked out of them
    on the caller's side."""
    import dask
    from dask.delayed import Delayed
    keys = []
    for ref in lowered.results:
        for dep in ref.keys:
            if not isinstance(dep, Literal) and dep not in keys:
                keys.append(dep)
    values = dask.compute(*[Delayed(k, lowered.graph, layer=lowered.name) for k in keys]) if keys else ()
    got = dict(zip(keys, values))

    def value(dep, elem, dtype):
        if isinstance(dep, Literal):   # a source's own array (a variable's, a constant's): a copy
            return np.array(dep.value if elem is None else dep.value[elem], dtype=dtype)
        v = got[dep]
        return np.asarray(v if elem is None else v[elem], dtype=dtype)
    out = []
    for ref in lowered.results:
        parts = [value(dep, ref.elem, ref.node.dtype) for dep in ref.keys]
        out.append(np.concatenate(parts, axis=ref.axis) if len(parts) > 1 else parts[0])
    return out


def arrays(lowered, call) -> list:
    """Every output as a dask.array over the call's graph (lazy): one small task per block picks
    a result out of a region's tuple."""
    import dask.array as da
    out = []
    for k, ref in enumerate(lowered.results):
        node = ref.node
        if node.op == "placeholder" and call.axes[call.program.inputs.index(node)] is not None:
            value = call.values[call.program.inputs.index(node)]
            out.append(value.to_dask() if isinstance(value, Shards) else value)   # handed back as is
            continue
        name = f"{lowered.name}-out{k}"
        layer = {}
        for i, dep in enumerate(ref.keys):
            index = tuple(i if d == ref.axis else 0 for d in range(node.ndim))
            layer[(name,) + index] = (element, dep, ref.elem, node.dtype)
        if ref.axis is None:
            chunks = tuple((d,) for d in node.shape)
        else:
            chunks = tuple(tuple(int(r * ref.scale) for r in call.chunks) if d == ref.axis else (n,)
                           for d, n in enumerate(node.shape))
        graph = _with_layer(lowered.graph, lowered.name, name, layer)
        out.append(da.Array(graph, name, chunks, dtype=node.dtype, meta=np.empty((0,) * node.ndim, node.dtype)))
    return out


def _tree(tasks, name, leaves, select, kinds, dtypes, split_every):
    """A tree reduction of the leaves' partials (Dask runs it); returns the root's key."""
    keys, depth = list(leaves), 0
    while True:
        groups = [keys[j:j + split_every] for j in range(0, len(keys), split_every)]
        root = len(groups) == 1
        keys = []
        for j, group in enumerate(groups):
            key = (name, depth, j)
            tasks[key] = (Combine(kinds, select if depth == 0 else None, dtypes if root else None), *group)
            keys.append(key)
        if root:
            return keys[0]
        depth += 1


def _with_layer(graph, base, name, layer):
    from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
    layers = dict(graph.layers)
    layers[name] = MaterializedLayer(layer)
    dependencies = dict(graph.dependencies)
    dependencies[name] = {base}
    return HighLevelGraph(layers, dependencies)


def _unique(collections):
    seen, out = set(), []
    for c in collections:
        if c.name not in seen:
            seen.add(c.name)
            out.append(c)
    return out


def _is_dask(value) -> bool:
    return hasattr(value, "dask") and hasattr(value, "chunks") and hasattr(value, "name")


__all__ = ["Call", "Lowered", "Shards", "arrays", "compute", "lower", "SPLIT_EVERY"]
