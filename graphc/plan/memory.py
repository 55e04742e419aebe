"""Memory plan: liveness of every intermediate over the schedule.

For each step it says which values die there (their last reader), so a backend can release
them at once and let the allocator reuse the memory, and which dying input a step may
overwrite in place. It also gives the peak of live intermediate bytes, which
``Function.explain()`` reports.
"""
from __future__ import annotations

import dataclasses
import math

from graphc.ir.fusion import FusionGroup
from graphc.ir.opdef import OPS

# releasing a value smaller than this gains no memory worth a statement per call
RELEASE_MIN_BYTES = 65536



@dataclasses.dataclass
class MemoryPlan:
    dies_after: list        # per step: the values whose last reader is that step (large ones)
    peak_bytes: int         # largest total of live intermediates (static shapes only)
    unknown_sizes: bool     # some intermediate's size is known only at run time
    in_place: dict          # id(node) -> the input tensor it overwrites
    copy_outputs: frozenset = frozenset()  # output positions returned as a copy
    copy_updates: frozenset = frozenset()  # update positions stored as a copy

    def describe(self) -> str:
        text = f"peak {_human(self.peak_bytes)} of intermediates"
        if self.unknown_sizes:
            text += " (plus tensors whose size is known only at run time)"
        if self.in_place:
            text += f"; {len(self.in_place)} ops write in place into a dying input"
        return text


def produced(step) -> tuple:
    """The values a step makes (a kernel: its outputs, and its anchor's result)."""
    if isinstance(step, FusionGroup):
        return ((step.anchor,) if step.anchor is not None else ()) + step.outputs
    return (step,) if step.inputs else ()


def read(step) -> tuple:
    if isinstance(step, FusionGroup):
        return tuple(i for n in step.nodes for i in n.inputs)
    return step.inputs


def fresh(node) -> bool:
    """True if ``node``'s value never shares memory with its inputs' values."""
    if not node.inputs:
        return False
    result = OPS[node.op].result   # the op record says whether it makes an array of its own
    return result == "new" or (result == "unknown" and node.shape == ())


def owns_buffer(node) -> bool:
    """True if ``node``'s value is an array graphc made for it (so it may be overwritten once
    nothing reads it or any view of it)."""
    return fresh(node) and node.shape != ()


def alias_sets(nodes) -> dict:
    """id(node) -> the ids of the buffers its value may share memory with. A buffer is a
    source's array (input, variable, constant) or an owned intermediate; views and ops not known
    to make a new array carry their inputs' buffers along."""
    aliases: dict[int, frozenset] = {}
    for n in nodes:  # topological order
        if not n.inputs or fresh(n):
            aliases[id(n)] = frozenset((id(n),))
        else:
            aliases[id(n)] = frozenset().union(*(aliases[id(i)] for i in n.inputs))
    return aliases


def plan(steps, graph) -> MemoryPlan:
    aliases = alias_sets(graph.nodes)
    keep = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    # buffers whose memory a result keeps visible after the call: never overwritten
    pinned = set().union(*(aliases[k] for k in keep)) if keep else set()
    last_reader: dict[int, int] = {}
    for k, step in enumerate(steps):
        for i in read(step):
            last_reader[id(i)] = k
    # a buffer is free only once its value and every view of it are read for the last time
    buffer_end: dict[int, int] = {}
    for n in graph.nodes:
        end = last_reader.get(id(n), -1)
        for b in aliases[id(n)]:
            buffer_end[b] = max(buffer_end.get(b, -1), end)
    dies_after = [[] for _ in steps]
    frees: dict[int, list] = {}   # step -> sizes of the buffers free after it
    peak, current, unknown = 0, 0, False
    in_place = {}
    for k, step in enumerate(steps):
        made = produced(step)
        for v in made:
            size = _bytes(v)
            unknown |= size is None
            if owns_buffer(v):
                current += size or 0
                if id(v) not in pinned:
                    frees.setdefault(max(k, buffer_end.get(id(v), -1)), []).append(size or 0)
        peak = max(peak, current)
        for v in made:
            if id(v) not in keep and id(v) not in last_reader:
                dies_after[k].append(v)  # computed but unread (a kernel's internal anchor)
        dead = {id(i): i for i in read(step)
                if i.inputs and last_reader.get(id(i)) == k and id(i) not in keep}
        dies_after[k].extend(dead.values())
        if not isinstance(step, FusionGroup) and step.inputs and OPS[step.op].kind == "elementwise":
            donor = next((i for i in step.inputs if _may_overwrite(i, step, k, pinned, buffer_end, aliases)),
                         None)
            if donor is not None:
                in_place[id(step)] = donor
        current -= sum(frees.pop(k, ()))
        # small values are left to die with the call: a `del` per call would cost more
        dies_after[k] = [v for v in dies_after[k] if worth_releasing(v)]
    copy_updates, copy_outputs = _copies(graph, aliases)
    return MemoryPlan(dies_after, peak, unknown, in_place, copy_outputs, copy_updates)


def _may_overwrite(donor, step, k, pinned, buffer_end, aliases) -> bool:
    """Whether ``step`` may write its result into ``donor``'s buffer: graphc made that buffer,
    it has the result's shape and dtype, no output, update or later reader sees it (through
    any view), and no other operand of the step reads it."""
    b = id(donor)
    if not (owns_buffer(donor) and donor.shape == step.shape and donor.dtype == step.dtype):
        return False
    if b in pinned or buffer_end.get(b) != k:
        return False
    others = [i for i in step.inputs if i is not donor]
    return len(others) == len(step.inputs) - 1 and all(b not in aliases[id(i)] for i in others)


def _copies(graph, aliases):
    """Which updates and outputs must be copied so each is an array of its own: none may share
    memory with a source (the caller's inputs, a variable, a constant), with a variable's new
    value, or with another output."""
    sources = {id(n) for n in graph.nodes if not n.inputs}
    claimed: set = set()
    copy_updates, copy_outputs = set(), set()
    for j, (_, value) in enumerate(graph.updates):
        mine = aliases[id(value)]
        if mine & (sources | claimed):
            copy_updates.add(j)
        else:
            claimed |= mine
    for j, out in enumerate(graph.outputs):
        mine = aliases[id(out)]
        if mine & (sources | claimed):
            copy_outputs.add(j)
        else:
            claimed |= mine
    return frozenset(copy_updates), frozenset(copy_outputs)


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
