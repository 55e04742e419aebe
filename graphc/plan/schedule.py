"""Schedule: the order in which kernels and single ops run.

Each kernel is contracted to one unit; units are ordered topologically (Kahn's algorithm),
preferring the original topological position so the schedule reads like the graph.
"""
from __future__ import annotations

import heapq

from graphc.ir.fusion import group_of


def schedule(graph) -> list:
    """A list of steps, each a Tensor (a single op or a source) or a FusionGroup."""
    owner = group_of(graph.kernels)
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    units: dict[int, object] = {}
    unit_of: dict[int, int] = {}
    for n in graph.nodes:
        k = owner.get(id(n))
        key = id(k) if k is not None else id(n)
        unit_of[id(n)] = key
        if key not in units:
            units[key] = k if k is not None else n
    first = {key: min(position[id(n)] for n in _nodes(u)) for key, u in units.items()}
    waiting = {key: 0 for key in units}
    readers: dict[int, set] = {key: set() for key in units}
    for key, unit in units.items():
        deps = {unit_of[id(i)] for n in _nodes(unit) for i in n.inputs} - {key}
        waiting[key] = len(deps)
        for d in deps:
            readers[d].add(key)
    ready = [(first[k], k) for k, c in waiting.items() if c == 0]
    heapq.heapify(ready)
    steps = []
    while ready:
        _, key = heapq.heappop(ready)
        steps.append(units[key])
        for r in readers[key]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, (first[r], r))
    if len(steps) != len(units):
        from graphc.errors import GraphError
        raise GraphError("schedule: the kernels depend on each other in a cycle (a fusion bug)")
    return steps


def _nodes(unit):
    return unit.nodes if hasattr(unit, "members") else (unit,)
