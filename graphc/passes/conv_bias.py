"""Convolution + bias as one op: add(conv2d(x, w), b) → conv2d_bias(x, w, b), b one value per
output channel.

The NumPy kernel adds the bias to each chunk of the GEMM's result while the chunk is still in
cache, instead of a separate pass over the whole output (benchmarks/README.md: conv_bias).
The value is bit for bit the same: the same GEMM, then the same float addition per element.
Only an add that is the convolution's sole reader is rewritten (else the convolution would be
computed twice); the bias's gradient, already in the graph as a sum of the add's cotangent, is
untouched.
"""
from __future__ import annotations

import contextlib

from graphc.ir.opdef import apply, rebuild
from graphc.ir.tensor import tagging
from graphc.passes.report import PassReport


def _per_channel(b, conv) -> bool:
    """b adds one value per output channel of conv: shape (O,) or (1, ..., 1, O), same dtype."""
    return (b.dtype == conv.dtype and 1 <= b.ndim <= 4 and b.shape[-1] == conv.shape[3]
            and all(d == 1 for d in b.shape[:-1]))


def _plan(graph):
    """id(add) -> the position (0 or 1) of its conv2d operand, for the adds to rewrite."""
    users = graph.users()
    roots = {id(r) for r in graph.roots}
    plan = {}
    for node in graph.nodes:
        if node.op != "add":
            continue
        for k in (0, 1):
            conv, b = node.inputs[k], node.inputs[1 - k]
            if (conv.op == "conv2d" and conv is not b and id(conv) not in roots and len(users[conv]) == 1
                    and node.shape == conv.shape and _per_channel(b, conv)):
                plan[id(node)] = k
                break
    return plan


def conv_bias(graph):
    report = PassReport("conv_bias", len(graph), 0)
    plan = _plan(graph)
    if not plan:
        report.nodes_after = len(graph)
        return graph, report

    def visit(node, inputs):
        if id(node) not in plan:
            return rebuild(node, inputs)
        k = plan[id(node)]
        conv, b = inputs[k], inputs[1 - k]
        with tagging(node.tag) if node.tag else contextlib.nullcontext():
            report.changes["add(conv2d(x, w), b) → conv2d_bias(x, w, b)"] += 1
            return apply("conv2d_bias", [conv.inputs[0], conv.inputs[1], b], **conv.attrs)

    out = graph.rewrite(visit)
    report.nodes_after = len(out)
    return out, report
