"""Memory plan: liveness of every intermediate over the schedule.

For each step it says which values die there (their last reader), so a backend can release
them at once and let the allocator reuse the memory, and which dying input a step may
overwrite in place. It also gives the peak of live intermediate bytes, which
``Function.explain()`` reports.
"""
from __future__ import annotations

import dataclasses
import math

from .kernel import Kernel
from .ops.registry import OPS

# releasing a value smaller than this gains no memory worth a statement per call
RELEASE_MIN_BYTES = 65536

# ops whose result is a new array of its own (not a view of an input, not a NumPy scalar)
_OWNS_BUFFER_KINDS = ("elementwise", "reduction")
_OWNS_BUFFER_OPS = {"matmul", "concat", "one_hot", "gather", "conv2d"}


@dataclasses.dataclass
class MemoryPlan:
    dies_after: list        # per step: the values whose last reader is that step (large ones)
    peak_bytes: int         # largest total of live intermediates (static shapes only)
    unknown_sizes: bool     # some intermediate's size is known only at run time
    in_place: dict          # id(node) -> the input tensor it overwrites

    def describe(self) -> str:
        text = f"peak {_human(self.peak_bytes)} of intermediates"
        if self.unknown_sizes:
            text += " (plus tensors whose size is known only at run time)"
        if self.in_place:
            text += f"; {len(self.in_place)} ops write in place into a dying input"
        return text


def produced(step) -> tuple:
    """The values a step makes (a kernel: its outputs, and its anchor's result)."""
    if isinstance(step, Kernel):
        return ((step.anchor,) if step.anchor is not None else ()) + step.outputs
    return (step,) if step.inputs else ()


def read(step) -> tuple:
    if isinstance(step, Kernel):
        return tuple(i for n in step.nodes for i in n.inputs)
    return step.inputs


def owns_buffer(node) -> bool:
    """True if ``node``'s value is an array of its own that nothing else views."""
    if not node.inputs or node.shape == ():
        return False
    return OPS[node.op].kind in _OWNS_BUFFER_KINDS or node.op in _OWNS_BUFFER_OPS


def plan(steps, graph) -> MemoryPlan:
    keep = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    last_reader: dict[int, int] = {}
    for k, step in enumerate(steps):
        for i in read(step):
            last_reader[id(i)] = k
    dies_after = [[] for _ in steps]
    live, peak, current, unknown = {}, 0, 0, False
    in_place = {}
    for k, step in enumerate(steps):
        made = produced(step)
        for v in made:
            size = _bytes(v)
            unknown |= size is None
            live[id(v)] = size or 0
            current += size or 0
        peak = max(peak, current)
        for v in made:
            if id(v) not in keep and id(v) not in last_reader:
                dies_after[k].append(v)  # computed but unread (a kernel's internal anchor)
        dead = {id(i): i for i in read(step)
                if last_reader.get(id(i)) == k and id(i) not in keep and id(i) in live}
        dies_after[k].extend(dead.values())
        if not isinstance(step, Kernel) and step.inputs and OPS[step.op].kind == "elementwise":
            donor = next((i for i in step.inputs if id(i) in dead and owns_buffer(i)
                          and i.shape == step.shape and i.dtype == step.dtype), None)
            if donor is not None:
                in_place[id(step)] = donor
        for v in dies_after[k]:
            current -= live.pop(id(v), 0)
        # small values are left to die with the call: a `del` per call would cost more
        dies_after[k] = [v for v in dies_after[k] if worth_releasing(v)]
    return MemoryPlan(dies_after, peak, unknown, in_place)


def worth_releasing(t) -> bool:
    """Large (or run-time sized) values are released as soon as they die."""
    size = _bytes(t)
    return size is None or size >= RELEASE_MIN_BYTES


def _bytes(t):
    if any(d is None for d in t.shape):
        return None
    return math.prod(t.shape) * t.dtype.itemsize


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
