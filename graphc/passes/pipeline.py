"""The pass pipeline: plain functions Graph -> (Graph, PassReport), in an explicit order.

fold_constants, simplify and cse feed each other (a simplification can expose a constant
subexpression or a duplicate), so they repeat until a round changes nothing; then dce, and
the fusion passes, which partition the final graph into kernels without rewriting it.
"""
from __future__ import annotations

import time

from graphc.passes.conv_bias import conv_bias
from graphc.passes.cse import cse
from graphc.passes.dce import dce
from graphc.passes.fold_constants import fold_constants
from graphc.passes.fuse_elementwise import fuse_elementwise
from graphc.passes.fuse_epilogues import fuse_epilogues
from graphc.passes.fuse_reductions import fuse_reductions
from graphc.passes.pool_before_relu import pool_before_relu
from graphc.passes.report import PassReport
from graphc.passes.simplify import simplify

REPEATED = [pool_before_relu, conv_bias, fold_constants, simplify, cse]
FINAL = [dce, fuse_elementwise, fuse_epilogues, fuse_reductions]  # fusion last: it partitions, never rewrites
PIPELINE = REPEATED + FINAL
MAX_ROUNDS = 4


def names() -> list:
    """The pipeline's pass names, in order."""
    return [p.__name__ for p in PIPELINE]


def run(graph, passes=None):
    """Run the pipeline (or the named subset, in pipeline order) on a Graph.

    Returns (graph, reports): one PassReport per pass run, in the order they ran; the
    repeated passes run in rounds until a round changes nothing (at most MAX_ROUNDS).
    """
    selected = PIPELINE if passes is None else _select(passes)
    repeated = [p for p in selected if p in REPEATED]
    final = [p for p in selected if p not in REPEATED]
    reports: list[PassReport] = []
    for round_ in range(1, MAX_ROUNDS + 1):
        changed = False
        for p in repeated:
            graph, rep = _timed(p, graph, round_)
            changed |= bool(rep.changes)
            reports.append(rep)
        if not changed:
            break
    for p in final:
        graph, rep = _timed(p, graph, None)
        reports.append(rep)
    return graph, reports


def _select(passes):
    by_name = {p.__name__: p for p in PIPELINE}
    chosen = []
    for p in passes:
        name = p if isinstance(p, str) else getattr(p, "__name__", repr(p))
        if name not in by_name:
            from graphc.errors import GraphError
            raise GraphError(f"unknown pass {name!r}; the pipeline has {names()}")
        chosen.append(by_name[name])
    return [p for p in PIPELINE if p in chosen]


def _timed(p, graph, round_):
    start = time.perf_counter()
    graph, rep = p(graph)
    rep.seconds = time.perf_counter() - start
    rep.round = round_
    return graph, rep
