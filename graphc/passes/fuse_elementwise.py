"""Elementwise fusion: partition the elementwise ops into maximal convex groups, each of
which becomes one kernel (one pass over memory instead of one per op).

A group holds ops of one iteration shape; their external inputs may broadcast. Visiting the
graph in topological order, a node joins the groups of its producers — merging them when it
reads from several — unless the union would not be convex (a path leaving the group and
coming back into it), which an exact, bounded backward search rules out.

Convex groups are not enough: kernels run whole, so two convex groups that each read a value
the other computes (through plain nodes between them) cannot both run first. Ruling that out
during growth means searching through other groups, costly on large graphs for a case that
is rare; so growth checks convexity only, and a final check on the graph of kernels dissolves
a group in any cycle it finds (the smallest one, back into single ops) until none is left.
"""
from __future__ import annotations

import networkx as nx

from graphc.ir.fusion import close_group
from graphc.ir.opdef import OPS
from graphc.passes.report import PassReport

_SEARCH_LIMIT = 4096  # nodes one convexity check may visit before it gives up (and refuses)


def fusible(node) -> bool:
    return bool(node.inputs) and OPS[node.op].kind == "elementwise"


class _Groups:
    """Groups being grown: members per group, the group of each grouped node, and each
    group's earliest topological position."""

    def __init__(self, position):
        self.position = position
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

    def convex_with(self, node, groups) -> bool:
        """Would ``groups`` plus ``node`` form a convex set (no path that leaves it and comes
        back)? Every group is convex already and ``node`` comes after all their members, so a
        new such path must end at ``node`` or, when several groups merge, run between them:
        it starts from an external input of ``node`` or of a merged group. Nodes earlier than
        the set's first member cannot be on it, which bounds the search."""
        chosen = set(groups)
        lowest = min(self.first[g] for g in groups)
        starts = list(node.inputs)
        if len(groups) > 1:
            starts += [i for g in groups for m in self.members[g] for i in m.inputs]
        stack = [i for i in starts
                 if self.group_of.get(id(i)) not in chosen and self.position[id(i)] > lowest]
        seen = set()
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if len(seen) > _SEARCH_LIMIT:
                return False  # conservative: do not fuse what could not be proved safe
            for i in n.inputs:
                if self.group_of.get(id(i)) in chosen:
                    return False
                if self.position[id(i)] > lowest:
                    stack.append(i)
        return True


def fuse_elementwise(graph):
    report = PassReport("fuse_elementwise", len(graph), len(graph))
    users = graph.users()
    groups = _Groups({id(n): i for i, n in enumerate(graph.nodes)})
    refused: dict[int, str] = {}

    for node in graph.nodes:
        if not fusible(node):
            continue
        candidates = []
        for i in node.inputs:
            g = groups.group_of.get(id(i))
            if g is not None and g not in candidates and groups.members[g][0].shape == node.shape:
                candidates.append(g)
        chosen = candidates if candidates and groups.convex_with(node, candidates) else None
        if chosen is None:  # merging all would not be convex: join the first group that fits
            chosen = next(([g] for g in candidates if groups.convex_with(node, [g])), None)
            if candidates and chosen is None:
                refused[id(node)] = "joining its producers' kernel would make a cycle"
        if chosen:
            groups.merge_into(chosen[0], node, chosen[1:])
        else:
            groups.new(node)

    for m in _dissolve_cycles(graph.nodes, groups):
        refused[id(m)] = "its kernel and another would each need the other's results first"

    roots = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    position = groups.position
    kernels = []
    for members in groups.members.values():
        if len(members) > 1:
            members.sort(key=lambda n: position[id(n)])
            kernels.append(close_group(members, None, users, roots))
            report.changes[f"fused {len(members)} ops into one kernel"] += 1
        else:
            node = members[0]
            report.notes.append((node, f"{node.op} {node.name!r} left alone: "
                                 + refused.get(id(node), _why_alone(node, users))))
    kernels.sort(key=lambda k: position[id(k.members[0])])
    return graph.with_kernels(kernels), report


def _dissolve_cycles(nodes, groups) -> list:
    """Make the graph of units (a group of several ops, or a single op) acyclic: while it has
    a cycle, dissolve the smallest group of each strongly connected component back into
    single ops. Returns the dissolved ops."""
    dissolved = []
    while True:
        unit = {}
        for n in nodes:
            g = groups.group_of.get(id(n))
            unit[id(n)] = g if g is not None and len(groups.members[g]) > 1 else ~id(n)
        edges = {(unit[id(i)], unit[id(n)]) for n in nodes for i in n.inputs}
        edges = [(a, b) for a, b in edges if a != b]
        if _acyclic(edges):
            return dissolved
        quotient = nx.DiGraph(edges)
        for component in nx.strongly_connected_components(quotient):
            in_groups = [key for key in component if key >= 0]  # ~id(n) < 0 marks single ops
            if len(component) > 1 and in_groups:
                smallest = min(in_groups, key=lambda g: (len(groups.members[g]), g))
                groups.first.pop(smallest)
                for m in groups.members.pop(smallest):
                    groups.new(m)
                    dissolved.append(m)


def _acyclic(edges) -> bool:
    """Kahn's algorithm on an edge list (cheaper than building a networkx graph when, as
    almost always, there is no cycle)."""
    waiting: dict = {}
    readers: dict = {}
    for a, b in edges:
        waiting[b] = waiting.get(b, 0) + 1
        waiting.setdefault(a, 0)
        readers.setdefault(a, []).append(b)
    ready = [k for k, c in waiting.items() if c == 0]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        for r in readers.get(k, ()):
            waiting[r] -= 1
            if waiting[r] == 0:
                ready.append(r)
    return done == len(waiting)


def _why_alone(node, users) -> str:
    neighbours = [n for n in list(node.inputs) + users.get(node, []) if fusible(n)]
    if not neighbours:
        return "no elementwise producer or consumer"
    if all(n.shape != node.shape for n in neighbours):
        return "its elementwise neighbours have other shapes (broadcast)"
    return "its elementwise consumers joined another kernel"
