"""An entry's payload: an .npz archive of the JSON description of the optimized graph, its
kernels and reports, plus the folded constants too large to inline."""
from __future__ import annotations

import io
import json

import numpy as np

from graphc.compile.cache.encoding import _encode, _random_ranks
from graphc.compile.cache.errors import _Refused, _Uncacheable
from graphc.compile.cache.schema import _DTYPES, _show

_FORMAT = 2


def _store_payload(source, optimized, reports) -> bytes:
    """The payload bytes of an entry for ``optimized``: what ``_rebuild`` accepts."""
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
                     "changes": dict(r.changes), "seconds": float(r.seconds), "round": r.round,
                     "notes": [[index.get(id(node)), text] for node, text in r.notes]}
                    for r in reports],
    }
    return _write_payload(entry, arrays)


def _write_payload(entry: dict, arrays: list) -> bytes:
    """An .npz archive: the JSON entry as bytes, then the arrays too large to inline."""
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members["entry"] = np.frombuffer(json.dumps(entry).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


def _read_payload(payload: bytes):
    """(entry, arrays) from ``_write_payload``'s bytes; never unpickles anything."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        names = set(archive.files)
        count = len(names) - 1
        if names != {"entry"} | {f"a{i}" for i in range(count)}:
            raise _Refused(f"unexpected archive members {_show(sorted(names))}")
        raw = archive["entry"]
        arrays = [archive[f"a{i}"] for i in range(count)]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Refused("the entry is not stored as bytes")
    entry = json.loads(raw.tobytes().decode())
    for i, a in enumerate(arrays):
        if a.dtype.str not in _DTYPES:
            raise _Refused(f"array a{i} has dtype {a.dtype.str!r}, not one graphc computes with")
    return entry, arrays
