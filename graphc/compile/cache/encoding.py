"""Attribute values as JSON, with tagged forms for what JSON lacks (tuples, slices, NumPy
scalars and arrays); random draws are named by their rank in the source graph."""
from __future__ import annotations

import hashlib

import numpy as np

from graphc.compile.cache.errors import _Uncacheable

_INLINE = 64  # arrays up to this size are written into the JSON entry itself


def _random_ranks(graph) -> dict:
    """Random nodes' keys -> their rank in the graph's topological order."""
    ranks = {}
    for n in graph.nodes:
        if n.inputs is not None and n.op.startswith("random") and "key" in n.attrs:
            ranks[n.attrs["key"]] = len(ranks)
    return ranks


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
