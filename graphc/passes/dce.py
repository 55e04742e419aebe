"""Dead-code elimination: keep only what the outputs and updates need, and drop updates that
write a variable's own value back (``(v, v)``)."""
from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.passes.report import PassReport


def dce(graph):
    report = PassReport("dce", len(graph), 0)
    updates = [(v, t) for v, t in graph.updates if t is not v]
    dropped_updates = len(graph.updates) - len(updates)
    if dropped_updates:
        report.changes["dropped no-op update"] += dropped_updates
    out = Graph(graph.outputs, updates)
    removed = len(graph) - len(out)
    if removed:
        report.changes["removed unused node"] += removed
    report.nodes_after = len(out)
    return out, report
