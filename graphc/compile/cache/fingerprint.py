"""The name an entry is filed under: a digest of everything the passes' result depends on."""
from __future__ import annotations

import hashlib
import json
import pathlib
import sys

import numpy as np

from graphc.compile.cache.encoding import _encode, _random_ranks
from graphc.compile.cache.payload import _FORMAT

_code: dict = {"digest": None}  # _code_version's result, computed once per process


def _code_version() -> str:
    """A digest of graphc's own source (any change to a pass or an op invalidates every
    entry), NumPy's and Python's versions."""
    if _code["digest"] is None:
        h = hashlib.sha256(f"{_FORMAT} {np.__version__} {sys.version_info[:2]}".encode())
        root = pathlib.Path(__file__).parent.parent  # graphc/
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _code["digest"] = h.hexdigest()
    return _code["digest"]


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
