"""Common-subexpression elimination by structural hashing: two nodes with the same op, the
same (already merged) inputs and the same attributes are one node. Small constants merge by
value. Random ops carry a unique key, so two draws never merge."""
from __future__ import annotations

import numpy as np

from graphc.ir.opdef import rebuild
from graphc.passes.report import PassReport

_SMALL_CONSTANT = 64


def structural_key(node, inputs):
    if node.op == "constant":
        value = node.attrs["value"]
        if value.size > _SMALL_CONSTANT:
            return ("constant-id", id(node))
        return ("constant", value.dtype.str, value.shape, value.tobytes())
    if node.op in ("placeholder", "variable"):
        return (node.op, id(node))
    return (node.op, tuple(id(i) for i in inputs), _freeze(node.attrs))


def _freeze(attrs):
    items = []
    for k in sorted(attrs):
        v = attrs[k]
        if isinstance(v, np.ndarray):
            v = (v.dtype.str, v.shape, v.tobytes())
        elif isinstance(v, tuple):
            v = tuple(repr(e) if isinstance(e, slice) else e for e in v)
        elif isinstance(v, slice):
            v = repr(v)
        items.append((k, v))
    return tuple(items)


def cse(graph):
    report = PassReport("cse", len(graph), 0)
    seen = {}

    def visit(node, inputs):
        key = structural_key(node, inputs)
        hit = seen.get(key)
        if hit is not None:
            report.changes[f"merged {node.op}"] += 1
            return hit
        node = rebuild(node, inputs)
        seen[key] = node
        return node

    out = graph.rewrite(visit)
    report.nodes_after = len(out)
    return out, report
