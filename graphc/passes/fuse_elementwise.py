"""Elementwise fusion: partition the elementwise ops into maximal convex groups, each of
which becomes one kernel (one pass over memory instead of one per op).

A group holds ops of one iteration shape; their external inputs may broadcast. Visiting the
graph in topological order, a node joins the groups of its producers — merging them when it
reads from several — unless the union could not run as one unit: a path leaving the group
and coming back into it, directly or through another group (kernels run whole, so the
graph of kernels must stay acyclic, not only each group convex). An exact, bounded forward
search rules that out.
"""
from __future__ import annotations

from ..kernel import close_kernel
from ..ops.registry import OPS
from .report import PassReport

_SEARCH_LIMIT = 4096  # nodes one convexity check may visit before it gives up (and refuses)


def fusible(node) -> bool:
    return bool(node.inputs) and OPS[node.op].kind == "elementwise"


class _Groups:
    """Groups being grown: members per group, the group of each grouped node, and each
    group's earliest topological position."""

    def __init__(self, position, users):
        self.position = position
        self.users = users
        self.group_of: dict[int, int] = {}
        self.members: dict[int, list] = {}
        self.first: dict[int, int] = {}
        self._next = 0

    def new(self, node) -> int:
        g = self._next
        self._next += 1
        self.members[g] = [node]
        self.first[g] = self.position[id(node)]
        self.group_of[id(node)] = g
        return g

    def merge_into(self, g, node, others):
        for o in others:
            for m in self.members.pop(o):
                self.group_of[id(m)] = g
                self.members[g].append(m)
            self.first[g] = min(self.first[g], self.first.pop(o))
        self.members[g].append(node)
        self.group_of[id(node)] = g

    def acyclic_with(self, node, groups) -> bool:
        """Could ``groups`` plus ``node`` run as one kernel? Not if a path leaves the set and
        comes back into it: through plain nodes (the set would not be convex) or through
        another group, which runs as one unit, so a path entering it at any member leaves at
        every member (two convex groups can still need each other). A forward search from
        the set's outside readers, treating each other group as one node, looks for such a
        path. Only nodes visited so far are grouped, so nothing after ``node`` can lead back,
        which bounds the search."""
        chosen = set(groups)
        limit = self.position[id(node)]
        stack = [u for g in groups for m in self.members[g] for u in self.users.get(m, ())
                 if u is not node and self.group_of.get(id(u)) not in chosen]
        seen: set[int] = set()
        while stack:
            n = stack.pop()
            if n is node:
                return False
            if self.position[id(n)] > limit or id(n) in seen:
                continue
            g = self.group_of.get(id(n))
            if g in chosen:
                return False
            unit = [n] if g is None else self.members[g]
            seen.update(id(m) for m in unit)
            if len(seen) > _SEARCH_LIMIT:
                return False  # conservative: do not fuse what could not be proved safe
            stack.extend(u for m in unit for u in self.users.get(m, ()))
        return True


def fuse_elementwise(graph):
    report = PassReport("fuse_elementwise", len(graph), len(graph))
    users = graph.users()
    groups = _Groups({id(n): i for i, n in enumerate(graph.nodes)}, users)
    refused: dict[int, str] = {}

    for node in graph.nodes:
        if not fusible(node):
            continue
        candidates = []
        for i in node.inputs:
            g = groups.group_of.get(id(i))
            if g is not None and g not in candidates and groups.members[g][0].shape == node.shape:
                candidates.append(g)
        chosen = candidates if candidates and groups.acyclic_with(node, candidates) else None
        if chosen is None:  # merging all would not be convex: join the first group that fits
            chosen = next(([g] for g in candidates if groups.acyclic_with(node, [g])), None)
            if candidates and chosen is None:
                refused[id(node)] = "joining its producers' kernel would make a cycle"
        if chosen:
            groups.merge_into(chosen[0], node, chosen[1:])
        else:
            groups.new(node)

    roots = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    position = groups.position
    kernels = []
    for members in groups.members.values():
        if len(members) > 1:
            members.sort(key=lambda n: position[id(n)])
            kernels.append(close_kernel(members, None, users, roots))
            report.changes[f"fused {len(members)} ops into one kernel"] += 1
        else:
            node = members[0]
            report.notes.append((node, f"{node.op} {node.name!r} left alone: "
                                 + refused.get(id(node), _why_alone(node, users))))
    kernels.sort(key=lambda k: position[id(k.members[0])])
    return graph.with_kernels(kernels), report


def _why_alone(node, users) -> str:
    neighbours = [n for n in list(node.inputs) + users.get(node, []) if fusible(n)]
    if not neighbours:
        return "no elementwise producer or consumer"
    if all(n.shape != node.shape for n in neighbours):
        return "its elementwise neighbours have other shapes (broadcast)"
    return "its elementwise consumers joined another kernel"
