"""Graph: the nodes reachable from some outputs (and variable updates), in topological order.

Every traversal here is iterative (explicit stacks), so graphs of 100 000+ nodes never hit
Python's recursion limit.
"""
from __future__ import annotations

from typing import Iterable

from graphc.errors import GraphError
from graphc.ir.tensor import Tensor, Variable


def topological_order(roots: Iterable[Tensor]) -> list[Tensor]:
    """All nodes reachable from ``roots``, each after its inputs (iterative DFS post-order).

    Tensors are immutable and take their inputs at construction, so a graph cannot have a
    cycle: marking a node when it is first pushed is enough.
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.inputs))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


class Graph:
    """Outputs plus ``(variable, new_value)`` updates; ``nodes`` in topological order;
    ``kernels``: the fused groups, once the fusion passes have run."""

    def __init__(self, outputs: Iterable[Tensor], updates: Iterable[tuple] = (), kernels=()):
        self.outputs = tuple(outputs)
        # a partition of some nodes into fused kernels (graphc.ir.fusion.FusionGroup), set by the
        # fusion passes; any rewrite of the graph drops it
        self.kernels = tuple(kernels)
        self.updates = tuple((v, t) for v, t in updates)
        for v, _ in self.updates:
            if not isinstance(v, Variable):
                raise GraphError(f"updates: {v!r} is not a variable (gc.variable)")
        self.nodes = topological_order(self.roots)

    @property
    def roots(self) -> tuple:
        return self.outputs + tuple(t for _, t in self.updates) + tuple(v for v, _ in self.updates)

    def with_kernels(self, kernels) -> "Graph":
        """The same nodes, outputs and updates, partitioned into ``kernels``."""
        g = Graph.__new__(Graph)
        g.outputs, g.updates, g.nodes, g.kernels = self.outputs, self.updates, self.nodes, tuple(kernels)
        return g

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def users(self) -> dict:
        """Map each node to the list of nodes that read it."""
        users: dict[Tensor, list[Tensor]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                users[i].append(n)
        return users

    def placeholders(self) -> list:
        return [n for n in self.nodes if n.op == "placeholder"]

    def variables(self) -> list:
        return [n for n in self.nodes if n.op == "variable"]

    def op_counts(self) -> dict:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts

    def to_networkx(self):
        """A networkx.DiGraph view (node -> its users), for graph algorithms and analysis."""
        import networkx as nx
        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n, op=n.op, shape=n.shape, dtype=str(n.dtype))
            for i in n.inputs:
                g.add_edge(i, n)
        return g

    def rewrite(self, replace) -> "Graph":
        """A new Graph in which each node is ``replace(node, new_inputs)``.

        ``replace`` returns a Tensor (the node rebuilt over ``new_inputs``, or a substitute)
        Visiting in topological order means every input has been rewritten first.
        """
        mapping: dict[int, Tensor] = {}
        for n in self.nodes:
            new_inputs = tuple(mapping[id(i)] for i in n.inputs)
            mapping[id(n)] = replace(n, new_inputs)
        return Graph([mapping[id(o)] for o in self.outputs],
                     [(v, mapping[id(t)]) for v, t in self.updates])
