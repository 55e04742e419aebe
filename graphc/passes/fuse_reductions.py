"""Reduction fusion: a reduce_sum/mean/max/min over a member of an elementwise kernel joins
that kernel, so the reduced value is computed block by block and the full-size intermediate
(exp(x - max) in a softmax, the squares in a mean of squares) is never written out.

A reduction reads only its kernel's member, so adding it cannot make the kernel non-convex.
"""
from __future__ import annotations

from graphc.ir.fusion import group_of
from graphc.ir.opdef import OPS
from graphc.passes.report import PassReport

def fusible_reduction(node) -> bool:
    """A reduction a kernel can accumulate while it runs (a product would overflow differently)."""
    return OPS[node.op].monoid in ("sum", "mean", "max", "min")


def fuse_reductions(graph):
    report = PassReport("fuse_reductions", len(graph), len(graph))
    users = graph.users()
    roots = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    owner = group_of(graph.kernels)
    tails: dict[int, list] = {}
    for node in graph.nodes:
        if node.op not in OPS or not fusible_reduction(node) or id(node) in owner:
            continue
        (source,) = node.inputs
        kernel = owner.get(id(source))
        if kernel is None or source not in kernel.members or source.shape != kernel.shape:
            continue
        tails.setdefault(id(kernel), []).append(node)
        report.changes[f"{node.op} fused into its producer's kernel"] += 1
    kernels = [k.with_reductions(k.reductions + tuple(tails[id(k)]), users, roots) if id(k) in tails else k
               for k in graph.kernels]
    return graph.with_kernels(kernels), report
