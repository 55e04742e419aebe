"""Batch-axis analysis: which values of a scheduled graph are split into chunks, and along which
axis, when some inputs arrive chunked along their batch axis.

A pure function of the graph (no Dask, no rewriting). Every node gets one of three layouts:

    chunked(axis)   each chunk holds a slice of the value along ``axis`` (rows i..j of the
                    batch); the op runs chunk by chunk, on each chunk alone ("chunk-local")
    replicated      one whole value, computed once (weights, constants, anything that does not
                    depend on chunked data)
    cross-chunk     an op that reads chunked values and mixes the batch axis away in a way that
                    decomposes: a sum/max/min/prod/mean over the batch axis, a matmul contracting
                    it (the gradient x.T @ g), the adjoint of a broadcast over it (a bias
                    gradient), a conv's filter gradient, an embedding's scatter-add. Each chunk
                    computes the op on its rows (a *partial*); the partials then combine in a
                    tree ("sum", "max", "min", "prod", "mean": a sum of chunk means weighted by
                    chunk length). Its value is replicated.

Anything else that would need rows of two chunks at once (argmax over the batch, a slice or
a concat along it, a reshape that merges the batch axis with an axis before it, an op with no
rule here) is a ``GraphError`` naming the op and why, raised before anything runs.

A replicated operand that spans the batch axis (a (N, k) array meeting chunked (N, k) data)
is *split*: each chunk reads its own rows of it. A reshape may change how many rows of a value
one input row makes (flattening (N, 4) to (4N,)): ``scale`` records that ratio per value.
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from graphc.errors import GraphError
from graphc.ir.opdef import OPS, describe

# reduce op -> how its per-chunk partials combine when it reduces over the batch axis
REDUCE_COMBINE = {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max",
                  "reduce_min": "min", "reduce_prod": "prod"}
SOURCES = ("placeholder", "constant", "variable")


@dataclasses.dataclass
class Layout:
    """The analysis' result for one graph and one choice of chunked inputs."""
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


class _Cannot(Exception):
    """Raised by a rule: the op cannot run chunk by chunk (the message says why)."""


@dataclasses.dataclass
class _Rule:
    axis: int | None = None        # the output's chunked axis (None: replicated)
    combine: str | None = None     # cross-chunk: how partials combine
    split: dict = dataclasses.field(default_factory=dict)  # input position -> axis to split along
    rescale: Fraction | None = None  # the output's scale over its chunked inputs' (a reshape)


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
            rule = rule_for(node)(node, axes)
        except _Cannot as exc:
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


def rule_for(node):
    """The layout rule of ``node``'s op: elementwise ops share one; the others are listed."""
    rule = RULES.get(node.op)
    if rule is not None:
        return rule
    if OPS[node.op].kind == "elementwise":
        return elementwise
    return _no_rule


def _message(node, axes, reason, chunked_inputs) -> str:
    chunked = ", ".join(f"{describe(i)} along axis {a}" for i, a in zip(node.inputs, axes) if a is not None)
    inputs = ", ".join(f"{p.name!r} along axis {a}" for p, a in chunked_inputs.items())
    return (f"backend 'dask': {node.op} {describe(node)} cannot run chunk by chunk: {reason} "
            f"(chunked operands: {chunked}; inputs chunked: {inputs}). Compute this graph with "
            f"backend='numpy', or chunk the inputs so that this op does not mix their chunks")


# -- rules ---------------------------------------------------------------------------------------
# A rule takes the node and its inputs' chunked axes (None: replicated) and returns a _Rule,
# or raises _Cannot with the reason.

def _no_rule(node, axes):
    raise _Cannot(f"the dask backend has no chunking rule for the op {node.op!r}")


def _spans(t, axis) -> bool:
    """True when replicated ``t`` has a full-size (not broadcast) dimension at ``axis``."""
    return 0 <= axis < t.ndim and t.shape[axis] != 1


def _aligned(node, axes, operands) -> _Rule:
    """NumPy broadcasting of ``operands`` (input positions) to ``node``'s shape: the chunked
    ones must land on the same output axis; replicated ones spanning it are split."""
    target = None
    for k in operands:
        a = axes[k]
        if a is None:
            continue
        out_axis = a + node.ndim - node.inputs[k].ndim
        if target is not None and out_axis != target:
            raise _Cannot(f"its operands are chunked along different axes ({target} and {out_axis} "
                          f"of the result)")
        target = out_axis
    rule = _Rule(target)
    for k in operands:
        x = node.inputs[k]
        if axes[k] is None and _spans(x, target - (node.ndim - x.ndim)):
            rule.split[k] = target - (node.ndim - x.ndim)
    return rule


def elementwise(node, axes):
    return _aligned(node, axes, range(len(node.inputs)))


def _reduce(node, axes):
    a = axes[0]
    reduced = node.attrs["axis"]
    if a in reduced:
        return _Rule(None, REDUCE_COMBINE[node.op])
    if node.attrs["keepdims"]:
        return _Rule(a)
    return _Rule(a - sum(1 for r in reduced if r < a))


def _arg_reduce(node, axes):
    a = axes[0]
    if node.attrs["axis"] == a:
        raise _Cannot("the position of the winner along the batch axis is global, not per chunk")
    return _Rule(a - (node.attrs["axis"] < a))


def _reduced_count(node, axes):
    # the number of elements reduced over: the chunks' counts add up over the batch axis
    return _Rule(None, "sum" if axes[0] in node.attrs["axis"] else "first")


def _matmul(node, axes):
    a_t, b_t = node.inputs
    aa, ba = axes
    ra = _matmul_role(a_t, aa, left=True)
    rb = _matmul_role(b_t, ba, left=False)
    if "k" in (ra, rb):   # the contracted axis is the batch: per-chunk products add up
        if ra not in ("k", None) or rb not in ("k", None):
            raise _Cannot("one operand is chunked along the contracted axis, the other along another axis")
        split = {}
        if ra is None:
            split[0] = a_t.ndim - 1
        if rb is None:
            split[1] = 0 if b_t.ndim == 1 else b_t.ndim - 2
        for k, axis in split.items():
            if not _spans(node.inputs[k], axis):
                raise _Cannot("the contracted axis has size 1 on the replicated operand")
        return _Rule(None, "sum", split)
    out_nd = node.ndim
    matrix_dims = (a_t.ndim >= 2) + (b_t.ndim >= 2)
    out_batch = out_nd - matrix_dims
    if ra == "m" or rb == "n":
        if ra is not None and rb is not None:
            raise _Cannot("the rows of a and the columns of b are both chunked: the result would "
                          "be chunked along two axes")
        if ra == "m":
            return _Rule(out_nd - 2 if b_t.ndim >= 2 else out_nd - 1)
        return _Rule(out_nd - 1)
    # chunked along a stacked-matrices (batch) dimension
    target = None
    for t, a in ((a_t, aa), (b_t, ba)):
        if a is None:
            continue
        out_axis = a + out_batch - (t.ndim - 2)
        if target is not None and target != out_axis:
            raise _Cannot("its operands are chunked along different stacking axes")
        target = out_axis
    rule = _Rule(target)
    for k, (t, a) in enumerate(((a_t, aa), (b_t, ba))):
        if a is None and t.ndim > 2:
            axis = target - (out_batch - (t.ndim - 2))
            if _spans(t, axis):
                rule.split[k] = axis
    return rule


def _matmul_role(t, axis, left):
    """What a chunked axis of a matmul operand is: "k" (contracted), "m" (rows of a), "n"
    (columns of b), ("stack", i) (a leading stacking dimension), or None (not chunked)."""
    if axis is None:
        return None
    if t.ndim == 1:
        return "k"
    if axis == t.ndim - 1:
        return "k" if left else "n"
    if axis == t.ndim - 2:
        return "m" if left else "k"
    return ("stack", axis)


def _transpose(node, axes):
    return _Rule(node.attrs["perm"].index(axes[0]))


def _expand_dims(node, axes):
    a = axes[0]
    return _Rule(a + (node.attrs["axis"] <= a))


def _squeeze(node, axes):
    a = axes[0]
    if a in node.attrs["axis"]:
        raise _Cannot("it drops the batch axis")
    return _Rule(a - sum(1 for s in node.attrs["axis"] if s < a))


def _reshape(node, axes):
    return _reshape_to(node.inputs[0], axes[0], node.shape)


def _reshape_to(x, a, target) -> _Rule:
    """A reshape keeps its chunks when the axes before the batch axis stay as they are: the
    chunk of rows [i, j) is then a contiguous run [i*q, j*q) of the flattened rest, which is
    a slice of the result's axis ``a`` (its scale multiplied by q / q')."""
    source = x.shape
    if tuple(source[:a]) != tuple(target[:a]) or len(target) <= a:
        raise _Cannot(f"it merges or splits the batch axis with the axes before it "
                      f"({_shape(source)} -> {_shape(target)})")
    inner, outer = source[a + 1:], target[a + 1:]
    if any(d is None for d in inner + outer):
        raise _Cannot("the sizes after the batch axis are known only at run time")
    q, q_out = math.prod(inner), math.prod(outer)
    if q_out == 0:
        raise _Cannot("it has an empty axis after the batch axis")
    return _Rule(a, rescale=Fraction(q, q_out))


def _shape(shape) -> str:
    from graphc.ir.tensor import format_shape
    return format_shape(shape)


def _reshape_like(node, axes):
    x, ref = node.inputs
    if axes[1] is None:
        raise _Cannot("the shape it takes comes from a replicated tensor, so it is the whole batch's")
    if axes[0] is None:
        raise _Cannot("it reshapes a replicated tensor into a chunked one's shape")
    rule = _reshape_to(x, axes[0], ref.shape)
    if rule.axis != axes[1]:
        raise _Cannot("its operand and its reference are chunked along different axes")
    return rule


def _broadcast_to(node, axes):
    return _Rule(axes[0] + node.ndim - node.inputs[0].ndim)


def _like_ref(node, axes):
    # fill_like / random_*_like: the shape of the reference, chunk by chunk
    return _Rule(axes[0])


def _sum_to_like(node, axes):
    g, ref = node.inputs
    ga, ra = axes
    if ga is None:
        raise _Cannot("it sums a replicated tensor down to a chunked one's shape")
    j = ga - (g.ndim - ref.ndim)
    if ra is not None:
        if ra != j:
            raise _Cannot("its operand and its reference are chunked along different axes")
        return _Rule(ra)
    if j < 0 or ref.shape[j] == 1:
        return _Rule(None, "sum")   # the batch axis is summed away: a bias gradient
    raise _Cannot("its replicated reference spans the batch axis")


def _one_hot(node, axes):
    return _Rule(axes[0])


def _gather(node, axes):
    x, idx = node.inputs
    xa, ia = axes
    axis = node.attrs["axis"]
    if xa is not None and ia is not None:
        raise _Cannot("both the table and the indices are chunked")
    if xa is not None:
        if xa == axis:
            raise _Cannot("it picks rows of the batch axis by index")
        return _Rule(xa if xa < axis else xa + idx.ndim - 1)
    return _Rule(axis + ia)


def _gather_grad(node, axes):
    g, idx, x = node.inputs
    ga, ia, xa = axes
    axis = node.attrs["axis"]
    if xa is None and ia is not None and ga == axis + ia:
        return _Rule(None, "sum")   # rows scatter-added into a replicated table (embeddings)
    if ia is None and xa is not None and xa != axis and ga == (xa if xa < axis else xa + idx.ndim - 1):
        return _Rule(xa)
    raise _Cannot("its cotangent, indices and table are not chunked consistently")


def _index_position(index, a, dim):
    """The output axis of input axis ``a`` under a basic index; _Cannot if the index does not
    keep that axis whole."""
    in_axis = out_axis = 0
    for item in index:
        if item is None:
            out_axis += 1
            continue
        if in_axis == a:
            if isinstance(item, int):
                raise _Cannot(f"it picks one index ({item}) of the batch axis")
            whole = (item.start in (None, 0) and item.step in (None, 1)
                     and (item.stop is None or (dim is not None and item.stop >= dim)))
            if not whole:
                raise _Cannot(f"it slices the batch axis ([{_slice_text(item)}])")
            return out_axis
        if not isinstance(item, int):
            out_axis += 1
        in_axis += 1
    raise _Cannot("its index does not reach the batch axis")  # not reached: indices are complete


def _slice_text(item) -> str:
    text = f"{'' if item.start is None else item.start}:{'' if item.stop is None else item.stop}"
    return text + (f":{item.step}" if item.step not in (None, 1) else "")


def _getitem(node, axes):
    x = node.inputs[0]
    return _Rule(_index_position(node.attrs["index"], axes[0], x.shape[axes[0]]))


def _getitem_grad(node, axes):
    g, x = node.inputs
    ga, xa = axes
    if xa is None:
        raise _Cannot("it scatters into a replicated tensor's shape")
    if ga != _index_position(node.attrs["index"], xa, x.shape[xa]):
        raise _Cannot("its cotangent and its reference are chunked along different axes")
    return _Rule(xa)


def _scatter_slices(node, axes):
    *gs, x = node.inputs
    xa = axes[-1]
    if xa is None:
        raise _Cannot("it scatters into a replicated tensor's shape")
    flat, start = node.attrs["index"], 0
    for g, ga, k in zip(gs, axes, node.attrs["lengths"]):
        index = tuple(flat[start:start + k])
        start += k
        if ga != _index_position(index, xa, x.shape[xa]):
            raise _Cannot("a cotangent and the reference are chunked along different axes")
    return _Rule(xa)


def _concat(node, axes):
    rule = _aligned(node, axes, range(len(node.inputs)))
    if rule.axis == node.attrs["axis"]:
        raise _Cannot("it joins tensors along the batch axis")
    return rule


def _concat_part(node, axes):
    if axes[0] is None:
        raise _Cannot("it cuts a replicated cotangent to a chunked tensor's size")
    if axes[0] == node.attrs["axis"]:
        raise _Cannot("it cuts along the batch axis")
    return _Rule(axes[0])


def _nhwc(*chunked, combine=None):
    """Convolution and pooling ops: the batch of NHWC images (axis 0) may be chunked; the
    operands at positions ``chunked`` must be, the others (filters, a bias) must not."""
    def rule(node, axes):
        for k, a in enumerate(axes):
            if k in chunked and a != 0:
                raise _Cannot(f"operand {k} must be chunked along its batch axis 0 (NHWC), "
                              f"not {'replicated' if a is None else f'axis {a}'}")
            if k not in chunked and a is not None:
                raise _Cannot(f"operand {k} (filters or bias) is chunked")
        return _Rule(None, combine) if combine else _Rule(0)
    return rule


def _softmax_xent(node, axes):
    # labels and logits have one shape; the result drops the last (classes) axis
    labels, logits = node.inputs
    chunked = {a for a in axes if a is not None}
    if len(chunked) > 1:
        raise _Cannot("labels and logits are chunked along different axes")
    a = chunked.pop()
    if a == logits.ndim - 1:
        raise _Cannot("its classes (last) axis is the chunked one")
    rule = _Rule(a)
    for k, t in enumerate(node.inputs):
        if axes[k] is None and _spans(t, a):
            rule.split[k] = a
    return rule


def _matrix_stack(node, axes):
    # inv / pinv: batched over the leading axes only
    a = axes[0]
    if a >= node.inputs[0].ndim - 2:
        raise _Cannot("the batch axis is one of the matrix axes")
    return _Rule(a)


RULES = {
    "reduce_sum": _reduce, "reduce_mean": _reduce, "reduce_max": _reduce, "reduce_min": _reduce,
    "reduce_prod": _reduce, "argmax": _arg_reduce, "argmin": _arg_reduce,
    "reduced_count": _reduced_count,
    "matmul": _matmul,
    "transpose": _transpose, "expand_dims": _expand_dims, "squeeze": _squeeze,
    "reshape": _reshape, "reshape_like": _reshape_like,
    "broadcast_to": _broadcast_to, "broadcast_like": elementwise, "sum_to_like": _sum_to_like,
    "fill_like": _like_ref, "random_uniform_like": _like_ref, "random_normal_like": _like_ref,
    "one_hot": _one_hot, "gather": _gather, "gather_grad": _gather_grad,
    "getitem": _getitem, "getitem_grad": _getitem_grad, "scatter_slices": _scatter_slices,
    "concat": _concat, "concat_part": _concat_part,
    "conv2d": _nhwc(0), "conv2d_bias": _nhwc(0), "conv2d_backprop_input": _nhwc(0, 2),
    "conv2d_backprop_filter": _nhwc(0, 1, combine="sum"),
    "max_pool2d": _nhwc(0), "avg_pool2d": _nhwc(0), "max_pool2d_grad": _nhwc(0, 1, 2),
    "max_pool2d_select": _nhwc(0, 1), "avg_pool2d_grad": _nhwc(0, 1),
    "softmax_cross_entropy": _softmax_xent,
    "inv": _matrix_stack, "pinv": _matrix_stack,
}


__all__ = ["Layout", "analyze", "REDUCE_COMBINE", "RULES", "SOURCES"]
