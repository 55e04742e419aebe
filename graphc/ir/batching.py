"""Batch rules: how an op runs when some of its operands arrive split into chunks along an axis
(the rows of a batch), as JAX's batching rules say how a primitive maps over a batch axis.

Every op record carries one (``OpDef.batch``). A rule takes the node and its inputs' chunked
axes (None: whole, "replicated") and returns a ``BatchRule``, or raises ``NotBatchable`` with
the reason. ``graphc.passes.batch_axes`` applies them over a graph; the helpers here are the
vocabulary the ops' rules share.
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from graphc.ir.tensor import format_shape


class NotBatchable(Exception):
    """Raised by a rule: the op cannot run chunk by chunk (the message says why)."""


@dataclasses.dataclass
class BatchRule:
    axis: int | None = None        # the output's chunked axis (None: replicated)
    combine: str | None = None     # cross-chunk: how the per-chunk partials combine
    split: dict = dataclasses.field(default_factory=dict)  # input position -> axis to split along
    rescale: Fraction | None = None  # the output's scale over its chunked inputs' (a reshape)


def refuse(reason: str):
    """A rule for an op that never runs chunk by chunk, saying why."""
    def rule(node, axes):
        raise NotBatchable(reason)
    return rule


def spans(t, axis) -> bool:
    """True when replicated ``t`` has a full-size (not broadcast) dimension at ``axis``."""
    return 0 <= axis < t.ndim and t.shape[axis] != 1


def aligned(node, axes, operands) -> BatchRule:
    """NumPy broadcasting of ``operands`` (input positions) to ``node``'s shape: the chunked
    ones must land on the same output axis; replicated ones spanning it are split."""
    target = None
    for k in operands:
        a = axes[k]
        if a is None:
            continue
        out_axis = a + node.ndim - node.inputs[k].ndim
        if target is not None and out_axis != target:
            raise NotBatchable(f"its operands are chunked along different axes ({target} and {out_axis} "
                               f"of the result)")
        target = out_axis
    rule = BatchRule(target)
    for k in operands:
        x = node.inputs[k]
        if axes[k] is None and spans(x, target - (node.ndim - x.ndim)):
            rule.split[k] = target - (node.ndim - x.ndim)
    return rule


def elementwise(node, axes) -> BatchRule:
    """The rule of every elementwise op: operands broadcast to the result, chunk by chunk."""
    return aligned(node, axes, range(len(node.inputs)))


def same_axis(node, axes) -> BatchRule:
    """The result is chunked like the first operand (fill_like, random_*_like, one_hot)."""
    return BatchRule(axes[0])


def reshape_to(x, a, target) -> BatchRule:
    """A reshape keeps its chunks when the axes before the batch axis stay as they are: the
    chunk of rows [i, j) is then a contiguous run [i*q, j*q) of the flattened rest, which is
    a slice of the result's axis ``a`` (its scale multiplied by q / q')."""
    source = x.shape
    if tuple(source[:a]) != tuple(target[:a]) or len(target) <= a:
        raise NotBatchable(f"it merges or splits the batch axis with the axes before it "
                           f"({format_shape(source)} -> {format_shape(target)})")
    inner, outer = source[a + 1:], target[a + 1:]
    if any(d is None for d in inner + outer):
        raise NotBatchable("the sizes after the batch axis are known only at run time")
    q, q_out = math.prod(inner), math.prod(outer)
    if q_out == 0:
        raise NotBatchable("it has an empty axis after the batch axis")
    return BatchRule(a, rescale=Fraction(q, q_out))


def index_position(index, a, dim) -> int:
    """The output axis of input axis ``a`` under a basic index; NotBatchable if the index does
    not keep that axis whole."""
    in_axis = out_axis = 0
    for item in index:
        if item is None:
            out_axis += 1
            continue
        if in_axis == a:
            if isinstance(item, int):
                raise NotBatchable(f"it picks one index ({item}) of the batch axis")
            whole = (item.start in (None, 0) and item.step in (None, 1)
                     and (item.stop is None or (dim is not None and item.stop >= dim)))
            if not whole:
                raise NotBatchable(f"it slices the batch axis ([{_slice_text(item)}])")
            return out_axis
        if not isinstance(item, int):
            out_axis += 1
        in_axis += 1
    raise NotBatchable("its index does not reach the batch axis")  # not reached: indices are complete


def _slice_text(item) -> str:
    text = f"{'' if item.start is None else item.start}:{'' if item.stop is None else item.stop}"
    return text + (f":{item.step}" if item.step not in (None, 1) else "")


def nhwc(*chunked, combine=None):
    """The rule of convolution and pooling ops: the batch of NHWC images (axis 0) may be
    chunked; the operands at positions ``chunked`` must be, the others (filters, a bias) must
    not. ``combine``: the result is a cross-chunk partial (a filter gradient)."""
    def rule(node, axes):
        for k, a in enumerate(axes):
            if k in chunked and a != 0:
                raise NotBatchable(f"operand {k} must be chunked along its batch axis 0 (NHWC), "
                                   f"not {'replicated' if a is None else f'axis {a}'}")
            if k not in chunked and a is not None:
                raise NotBatchable(f"operand {k} (filters or bias) is chunked")
        return BatchRule(None, combine) if combine else BatchRule(0)
    return rule
