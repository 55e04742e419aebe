"""Batch-axis analysis (a pass from a graph to its partition): which values of a scheduled
graph are split into chunks, and along which axis, when some inputs arrive chunked along their
batch axis.

A pure function of the graph (no rewriting), used by the Dask backend's plans: every node gets
a layout (chunked, replicated or cross-chunk: see ``Layout``) from its op's own batch rule
(``OpDef.batch``, ``graphc.ir.batching``), applied in order by ``analyze``. An op that would
need rows of two chunks at once is a ``GraphError`` naming the op and why, before anything runs.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

from graphc.errors import GraphError
from graphc.ir.batching import NotBatchable
from graphc.ir.opdef import OPS, describe



@dataclasses.dataclass
class Layout:
    """The analysis' result for one graph and one choice of chunked inputs. Every node gets one
    of three layouts:

        chunked(axis)   each chunk holds a slice of the value along ``axis`` (rows i..j of the
                        batch); the op runs chunk by chunk, on each chunk alone ("chunk-local")
        replicated      one whole value, computed once (weights, constants, anything that does
                        not depend on chunked data)
        cross-chunk     an op that reads chunked values and mixes the batch axis away in a way
                        that decomposes: a sum/max/min/prod/mean over the batch axis, a matmul
                        contracting it (the gradient x.T @ g), the adjoint of a broadcast over it
                        (a bias gradient), a conv's filter gradient, an embedding's scatter-add.
                        Each chunk computes the op on its rows (a *partial*); the partials then
                        combine in a tree ("sum", "max", "min", "prod", "mean": a sum of chunk
                        means weighted by chunk length). Its value is replicated.

    Anything else that would need rows of two chunks at once (argmax over the batch, a slice or
    a concat along it, a reshape that merges the batch axis with an axis before it) has no
    layout. A replicated operand that spans the batch axis (a (N, k) array meeting chunked
    (N, k) data) is *split*: each chunk reads its own rows of it. A reshape may change how many
    rows of a value one input row makes (flattening (N, 4) to (4N,)): ``scale`` records that
    ratio per value."""
    axis: dict      # id(node) -> the axis its chunks split, or None: replicated / cross-chunk
    scale: dict     # id(node) -> Fraction: rows of its chunked axis per input row
    combine: dict   # id(node) -> how its per-chunk partials combine (cross-chunk nodes only)
    split: dict     # (id(consumer), input position) -> (axis, scale): a replicated operand
    #                 that each chunk reads only its own rows of
    rescaled: list = dataclasses.field(default_factory=list)   # chunked nodes with scale != 1

    def check_rows(self, chunks):
        """GraphError when a chunk of ``chunks`` input rows does not make whole rows of a
        reshaped value (e.g. a flat chunk of 6 values reshaped to rows of 4)."""
        for node in self.rescaled:
            scale = self.scale[id(node)]
            bad = [r for r in chunks if (r * scale).denominator != 1]
            if bad:
                raise GraphError(f"backend 'dask': {node.op} {describe(node)} cannot run chunk by chunk: "
                                 f"a chunk of {bad[0]} input rows makes {float(bad[0] * scale):g} rows of it "
                                 f"along axis {self.axis[id(node)]}; chunk the inputs in multiples of "
                                 f"{scale.denominator} rows")

    def chunked(self, node) -> bool:
        return self.axis.get(id(node)) is not None

    def cross(self, node) -> bool:
        return id(node) in self.combine

    def chunk_shape(self, node, rows):
        """The shape of one chunk of ``node`` for a chunk of ``rows`` input rows (None: unknown)."""
        axis = self.axis.get(id(node))
        if axis is None:
            return node.shape
        shape = list(node.shape)
        shape[axis] = None if rows is None else int(rows * self.scale[id(node)])
        return tuple(shape)


def analyze(graph, chunked_inputs: dict) -> Layout:
    """The layout of every node of ``graph`` when the placeholders in ``chunked_inputs``
    (placeholder -> axis) arrive split along that axis. Raises GraphError for an op that
    cannot run chunk by chunk."""
    layout = Layout({}, {}, {}, {})
    for node in graph.nodes:
        if node.op == "placeholder" and node in chunked_inputs:
            layout.axis[id(node)] = chunked_inputs[node]
            layout.scale[id(node)] = Fraction(1)
            continue
        axes = [layout.axis.get(id(i)) for i in node.inputs]
        if all(a is None for a in axes):
            layout.axis[id(node)] = None   # sources, and ops on replicated values only
            continue
        try:
            rule = OPS[node.op].batch(node, axes)
        except NotBatchable as exc:
            raise GraphError(_message(node, axes, str(exc), chunked_inputs)) from None
        scales = {layout.scale[id(i)] for i, a in zip(node.inputs, axes) if a is not None}
        if len(scales) > 1:
            raise GraphError(_message(node, axes, "its chunked operands split their rows "
                                      "differently (one of them was reshaped)", chunked_inputs))
        scale = scales.pop()
        layout.axis[id(node)] = rule.axis
        if rule.axis is not None:
            layout.scale[id(node)] = scale * (rule.rescale or 1)
            if layout.scale[id(node)] != 1:
                layout.rescaled.append(node)
        if rule.combine is not None:
            layout.combine[id(node)] = rule.combine
        for position, axis in rule.split.items():
            layout.split[(id(node), position)] = (axis, scale)
    return layout


def _message(node, axes, reason, chunked_inputs) -> str:
    chunked = ", ".join(f"{describe(i)} along axis {a}" for i, a in zip(node.inputs, axes) if a is not None)
    inputs = ", ".join(f"{p.name!r} along axis {a}" for p, a in chunked_inputs.items())
    return (f"backend 'dask': {node.op} {describe(node)} cannot run chunk by chunk: {reason} "
            f"(chunked operands: {chunked}; inputs chunked: {inputs}). Compute this graph with "
            f"backend='numpy', or chunk the inputs so that this op does not mix their chunks")


__all__ = ["Layout", "analyze"]
