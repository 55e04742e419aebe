"""Epilogue fusion: a matmul whose only reader is an elementwise kernel (bias add,
activation, ...) of the same shape becomes that kernel's anchor, so the GEMM's result is
finished in place instead of being written out and read back by separate ops."""
from __future__ import annotations

from graphc.ir.fusion import FusionGroup, close_group, group_of
from graphc.passes.fuse_elementwise import fusible
from graphc.passes.report import PassReport


def fuse_epilogues(graph):
    report = PassReport("fuse_epilogues", len(graph), len(graph))
    users = graph.users()
    roots = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    owner = group_of(graph.kernels)
    replaced: dict[int, FusionGroup] = {}
    new_kernels = []
    anchored_alone: set[int] = set()
    for node in graph.nodes:
        if node.op != "matmul" or id(node) in roots:
            continue
        readers = users.get(node, [])
        if len({id(u) for u in readers}) != 1:
            continue
        reader = readers[0]
        if not fusible(reader) or reader.shape != node.shape:
            continue
        if id(reader) in owner:
            kernel = owner[id(reader)]
            if kernel.anchor is not None or id(kernel) in replaced:
                continue
            fused = close_group(kernel.members, node, users, roots)
            replaced[id(kernel)] = fused
        else:
            if id(reader) in anchored_alone:
                continue  # e.g. an add of two matmuls: only one of them can be its anchor
            anchored_alone.add(id(reader))
            fused = close_group((reader,), node, users, roots)
            new_kernels.append(fused)
        report.changes[f"matmul + {' + '.join(m.op for m in fused.members)}"] += 1
    kernels = [replaced.get(id(k), k) for k in graph.kernels] + new_kernels
    return graph.with_kernels(kernels), report
