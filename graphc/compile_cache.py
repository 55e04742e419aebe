"""The on-disk compile cache: the pass pipeline's result, kept between processes.

The passes are most of a compile's time (rounds of folding, simplification and CSE, then
fusion); their result depends only on the graph's structure, shapes, dtypes and constant
values, and on graphc's own code. So the optimized graph, its kernel partition and the pass
reports are stored under a key that hashes exactly those, and a later compile of an equal
graph, in this process or another, skips the passes. Placeholders, variables and random
draws are not stored: they are matched by their position in the source graph, so a hit uses
the new graph's own variables (their current values) and its own random seeds.

Off unless a directory is set, by ``gc.set_cache_dir(path)`` or the ``GRAPHC_CACHE_DIR``
environment variable. One ``.npz`` file per entry (a JSON document plus the folded
constants, read with ``allow_pickle=False``), written atomically: a temporary file, then a
rename. An entry that cannot be read is compiled again and rewritten, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time
import warnings

import numpy as np

from .graph import Graph
from .kernel import close_kernel
from .passes.report import PassReport
from .tensor import Tensor

_FORMAT = 1
_INLINE = 64  # arrays up to this size are written into the JSON entry itself
_state = {"dir": None, "env_read": False, "code": None}
stats = {"hits": 0, "misses": 0, "writes": 0, "unreadable": 0}


class _Uncacheable(Exception):
    """An attribute the cache cannot encode: the graph is compiled without the cache."""


def set_cache_dir(path) -> None:
    """Keep optimized graphs under ``path`` (created if missing); ``None`` turns the cache off."""
    _state["dir"] = None if path is None else pathlib.Path(path).expanduser()
    _state["env_read"] = True


def cache_dir():
    """The directory in use, or None when the cache is off."""
    if not _state["env_read"]:
        env = os.environ.get("GRAPHC_CACHE_DIR")
        _state["dir"] = pathlib.Path(env).expanduser() if env else None
        _state["env_read"] = True
    return _state["dir"]


def optimize(graph, run_passes):
    """``run_passes(graph) -> (graph, reports)``, through the cache when it is on."""
    directory = cache_dir()
    if directory is None:
        return run_passes(graph)
    try:
        key = _key(graph)
    except _Uncacheable:
        return run_passes(graph)
    path = directory / f"{key}.npz"
    if path.exists():
        try:
            start = time.perf_counter()
            optimized, reports = _load(path, graph)
            reports[-1].seconds = time.perf_counter() - start
            stats["hits"] += 1
            return optimized, reports
        except Exception as exc:  # a truncated or foreign file: recompile, then overwrite it
            stats["unreadable"] += 1
            warnings.warn(f"graphc compile cache: ignoring unreadable entry {path} ({exc})", RuntimeWarning)
    stats["misses"] += 1
    optimized, reports = run_passes(graph)
    try:
        _store(path, graph, optimized, reports)
        stats["writes"] += 1
    except _Uncacheable:
        pass
    except OSError as exc:
        warnings.warn(f"graphc compile cache: cannot write {path} ({exc})", RuntimeWarning)
    return optimized, reports


# -- keys ----------------------------------------------------------------------------------

def _code_version() -> str:
    """A digest of graphc's own source (any change to a pass or an op invalidates every
    entry), NumPy's and Python's versions."""
    if _state["code"] is None:
        h = hashlib.sha256(f"{_FORMAT} {np.__version__} {sys.version_info[:2]}".encode())
        root = pathlib.Path(__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _state["code"] = h.hexdigest()
    return _state["code"]


def _random_ranks(graph) -> dict:
    """Random nodes' keys -> their rank in the graph's topological order."""
    ranks = {}
    for n in graph.nodes:
        if n.inputs is not None and n.op.startswith("random") and "key" in n.attrs:
            ranks[n.attrs["key"]] = len(ranks)
    return ranks


def _key(graph) -> str:
    """A digest of everything the passes' result depends on."""
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    ranks = _random_ranks(graph)
    desc = [_code_version(),
            [[n.op, [index[id(i)] for i in n.inputs], _encode(n.attrs, None, ranks, digest=True) if n.attrs else 0,
              n.shape, n.dtype.str] for n in graph.nodes],
            [index[id(t)] for t in graph.outputs],
            [[index[id(v)], index[id(t)]] for v, t in graph.updates]]
    return hashlib.sha256(json.dumps(desc).encode()).hexdigest()


# -- attribute encoding: JSON with tagged non-JSON values ----------------------------------

def _encode(value, arrays, ranks, digest=False, key=None):
    if key == "key" and ranks is not None and value in ranks:
        return {"random": ranks[value]}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return {"scalar": [value.dtype.str, value.item()]}
    if isinstance(value, (int, float)):
        return value if type(value) in (int, float) else _unsupported(value)
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, arrays, ranks, digest) for v in value]}
    if isinstance(value, list):
        return {"list": [_encode(v, arrays, ranks, digest) for v in value]}
    if isinstance(value, slice):
        return {"slice": [_encode(v, arrays, ranks, digest) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            _unsupported(value)
        if value.size <= _INLINE:  # most constants are scalars: no separate array to read
            return {"inline": [value.dtype.str, list(value.shape), value.ravel().tolist()]}
        if digest:
            return {"array": [value.dtype.str, list(value.shape), hashlib.sha256(value.tobytes()).hexdigest()]}
        arrays.append(value)
        return {"array": len(arrays) - 1}
    if isinstance(value, dict):
        return {"dict": {k: _encode(v, arrays, ranks, digest, k) for k, v in sorted(value.items())}}
    return _unsupported(value)


def _unsupported(value):
    raise _Uncacheable(f"cannot encode {type(value).__name__}")


def _decode(value, arrays, keys):
    if not isinstance(value, dict):
        return value
    (tag, body), = value.items()
    if tag == "random":
        return keys[body]
    if tag == "scalar":
        return np.dtype(body[0]).type(body[1])
    if tag == "tuple":
        return tuple(_decode(v, arrays, keys) for v in body)
    if tag == "list":
        return [_decode(v, arrays, keys) for v in body]
    if tag == "slice":
        return slice(*(_decode(v, arrays, keys) for v in body))
    if tag == "ellipsis":
        return Ellipsis
    if tag == "inline":
        return np.array(body[2], dtype=np.dtype(body[0])).reshape(body[1])
    if tag == "array":
        return arrays[f"a{body}"]
    if tag == "dict":
        return {k: _decode(v, arrays, keys) for k, v in body.items()}
    raise ValueError(f"unknown tag {tag!r}")


# -- entries -------------------------------------------------------------------------------

def _store(path, source, optimized, reports) -> None:
    src_index = {id(n): i for i, n in enumerate(source.nodes)}
    index = {id(n): i for i, n in enumerate(optimized.nodes)}
    ranks = _random_ranks(source)
    arrays: list = []
    nodes = []
    for n in optimized.nodes:
        if not n.inputs and id(n) in src_index:  # placeholders, variables, the source's constants
            nodes.append({"src": src_index[id(n)]})
            continue
        if n.op in ("placeholder", "variable"):
            raise _Uncacheable("a placeholder or variable the source graph does not have")
        attrs = {k: _encode(v, arrays, ranks, key=k) for k, v in n.attrs.items()}
        nodes.append({"op": n.op, "in": [index[id(i)] for i in n.inputs], "attrs": attrs,
                      "shape": list(n.shape), "dtype": n.dtype.str, "name": n.name, "tag": n.tag})
    kernels = [{"members": [index[id(m)] for m in k.members],
                "anchor": None if k.anchor is None else index[id(k.anchor)],
                "reductions": [index[id(r)] for r in k.reductions]} for k in optimized.kernels]
    entry = {
        "format": _FORMAT, "nodes": nodes, "kernels": kernels,
        "outputs": [index[id(t)] for t in optimized.outputs],
        "updates": [[index[id(v)], index[id(t)]] for v, t in optimized.updates],
        "reports": [{"name": r.name, "before": r.nodes_before, "after": r.nodes_after,
                     "changes": dict(r.changes), "seconds": r.seconds, "round": r.round,
                     "notes": [[index.get(id(node)), text] for node, text in r.notes]}
                    for r in reports],
    }
    payload = {f"a{i}": a for i, a in enumerate(arrays)}
    payload["entry"] = np.frombuffer(json.dumps(entry).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _load(path, source):
    with np.load(path, allow_pickle=False) as archive:
        entry = json.loads(archive["entry"].tobytes().decode())
        arrays = {k: archive[k] for k in archive.files if k != "entry"}
    if entry["format"] != _FORMAT:
        raise ValueError(f"format {entry['format']}, expected {_FORMAT}")
    keys = {rank: k for k, rank in _random_ranks(source).items()}
    nodes: list = []
    for d in entry["nodes"]:
        if "src" in d:
            nodes.append(source.nodes[d["src"]])
            continue
        attrs = {k: _decode(v, arrays, keys) for k, v in d["attrs"].items()}
        shape = tuple(d["shape"])
        nodes.append(Tensor(d["op"], tuple(nodes[i] for i in d["in"]), attrs, shape,
                            np.dtype(d["dtype"]), name=d["name"], tag=d["tag"]))
    graph = Graph([nodes[i] for i in entry["outputs"]],
                  [(nodes[v], nodes[t]) for v, t in entry["updates"]])
    users = graph.users()
    roots = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    kernels = [close_kernel(tuple(nodes[i] for i in k["members"]),
                            None if k["anchor"] is None else nodes[k["anchor"]], users, roots,
                            tuple(nodes[i] for i in k["reductions"]))
               for k in entry["kernels"]]
    reports = []
    for r in entry["reports"]:
        rep = PassReport(r["name"], r["before"], r["after"], seconds=r["seconds"], round=r["round"])
        rep.changes.update(r["changes"])
        rep.notes = [(None if i is None else nodes[i], text) for i, text in r["notes"]]
        reports.append(rep)
    hit = PassReport("compile_cache", len(source), len(graph), round=None)
    hit.changes[f"optimized graph loaded from {path.name[:12]}…"] += 1
    return graph.with_kernels(kernels), reports + [hit]
