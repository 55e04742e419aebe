"""FusionGroup: a group of nodes that run as one unit, one kernel (the result of the fusion passes).

The IR nodes themselves are not changed by fusion: a fused graph is the same graph plus a
partition of some of its nodes into kernels, which the scheduler orders and the backend
lowers as one piece of code each.
"""
from __future__ import annotations

import dataclasses

from graphc.ir.tensor import Tensor, format_shape


@dataclasses.dataclass(frozen=True, eq=False)
class FusionGroup:
    """``members`` run together (topological order); ``inputs`` are what they read from
    outside, ``outputs`` the members read outside. ``anchor``: a matmul whose result the
    members finish as an epilogue (bias, activation), then ``inputs[0]``; None for a pure
    elementwise kernel."""
    members: tuple
    inputs: tuple
    outputs: tuple
    anchor: Tensor | None = None
    reductions: tuple = ()  # reduce_* nodes over a member, computed block by block

    @property
    def nodes(self) -> tuple:
        """Every node of the kernel: the anchor, the members, the reductions."""
        return ((self.anchor,) if self.anchor is not None else ()) + self.members + self.reductions

    @property
    def shape(self) -> tuple:
        """The iteration shape: every member has it."""
        return self.members[-1].shape

    @property
    def kind(self) -> str:
        kind = "matmul+epilogue" if self.anchor is not None else "elementwise"
        return kind + "+reduction" if self.reductions else kind

    def describe(self) -> str:
        ops = " → ".join(n.op for n in self.nodes)
        return f"{self.kind} {format_shape(self.shape)}: {ops}"

    def with_reductions(self, reductions, users, roots) -> "FusionGroup":
        return close_group(self.members, self.anchor, users, roots, tuple(reductions))


def group_of(kernels) -> dict:
    """Map id(node) -> its kernel, for every node of every kernel."""
    owner = {}
    for k in kernels:
        for n in k.nodes:
            owner[id(n)] = k
    return owner


def close_group(members, anchor, users, roots, reductions=()) -> FusionGroup:
    """Build a FusionGroup from its members: its inputs are what the members read from outside
    (the anchor's result first, when there is one); its outputs, the members read outside
    and the reductions."""
    inside = {id(n) for n in members} | {id(r) for r in reductions}
    inputs = [anchor] if anchor is not None else []
    seen = {id(anchor)} if anchor is not None else set()
    for n in members:
        for i in n.inputs:
            if id(i) not in inside and id(i) not in seen:
                seen.add(id(i))
                inputs.append(i)
    if anchor is not None:
        inside.add(id(anchor))
    outputs = [n for n in members
               if id(n) in roots or any(id(u) not in inside for u in users.get(n, ()))]
    return FusionGroup(tuple(members), tuple(inputs), tuple(outputs) + tuple(reductions), anchor,
                  tuple(reductions))


__all__ = ["FusionGroup", "close_group", "group_of"]
