"""The Program: what a backend lowers."""
from __future__ import annotations

import dataclasses

from graphc.ir.graph import Graph


@dataclasses.dataclass
class Program:
    """What a backend lowers: inputs in call order, the graph, and the schedule."""
    name: str
    inputs: tuple
    graph: Graph
    steps: list   # the schedule: Tensors (single ops, sources) and Kernels, in run order
    memory: object = None        # graphc.plan.memory.MemoryPlan over the steps
    single_output: bool = False  # the function returns one array, not a list
    convert: object = None       # convert(placeholder, value) -> checked array (or raises)
    check_numerics: bool = False  # raise at the first op whose value holds NaN or Inf
    # chunked inputs (placeholder -> axis) -> the regions that run them chunk by chunk
    # (graphc.plan.regions.Plan); the compiler provides it, the Dask backend calls it
    partition: object = None
