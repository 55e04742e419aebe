"""Constant folding: an op whose inputs are all constants becomes a constant, evaluated once
with the op's reference semantics. Random ops are never folded, and a result much larger than
its inputs (a broadcast or fill of a big shape) stays an op, so folding never bloats memory."""
from __future__ import annotations

import numpy as np

from graphc.ir.opdef import OPS, rebuild
from graphc.ir.tensor import constant
from graphc.passes.report import PassReport

MAX_FOLDED_ELEMENTS = 4096


def fold_constants(graph):
    report = PassReport("fold_constants", len(graph), 0)

    def visit(node, inputs):
        node = rebuild(node, inputs)
        if not node.inputs and node.op != "fill":
            return node
        od = OPS[node.op]
        if od.stateful or not all(i.op == "constant" for i in node.inputs):
            return node
        largest_input = max((i.attrs["value"].size for i in node.inputs), default=0)
        size = node.size
        if size is None or size > max(MAX_FOLDED_ELEMENTS, largest_input):
            return node
        value = od.impl(*(i.attrs["value"] for i in node.inputs), **node.attrs)
        value = np.asarray(value, dtype=node.dtype).reshape(node.shape)
        report.changes[f"folded {node.op}"] += 1
        return constant(value, name=node.name)

    out = graph.rewrite(visit)
    report.nodes_after = len(out)
    return out, report
