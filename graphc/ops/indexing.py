"""Indexing ops: basic indexing (getitem) and its adjoints (getitem_grad, scatter_slices),
gather and its adjoint (gather_grad), one_hot."""
from __future__ import annotations

import functools

import numpy as np

from graphc.ir import arguments
from graphc.errors import DTypeError, ShapeError
from graphc.ir.tensor import Tensor, as_tensor
from graphc.ir import batching
from graphc.ir.batching import BatchRule, NotBatchable, index_position
from graphc.ir.opdef import apply, defop, describe, normalize_axis


# -- basic indexing -----------------------------------------------------------------------------

def _normalize_index(x: Tensor, index) -> tuple:
    """Expand Ellipsis, check types and static bounds; returns a tuple of int/slice/None."""
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        if isinstance(item, Tensor) or isinstance(item, (list, np.ndarray)):
            raise ShapeError(f"getitem: only basic indexing (ints, slices, None, ...) on {describe(x)}; "
                             "use gc.gather for index tensors")
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"getitem: a bool index ({item!r}) on {describe(x)} is a mask, which basic "
                            "indexing does not take; use gc.where or an integer")
        if not (item is None or item is Ellipsis or isinstance(item, slice) or arguments.is_integer(item)):
            raise TypeError(f"getitem: unsupported index {item!r} on {describe(x)}: use integers, slices, "
                            "None or ...")
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    if consumed > x.ndim:
        raise ShapeError(f"getitem: too many indices ({consumed}) for {describe(x)}")
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("getitem: at most one Ellipsis")
    if any(i is Ellipsis for i in index):
        pos = next(k for k, i in enumerate(index) if i is Ellipsis)
        index = index[:pos] + (slice(None),) * (x.ndim - consumed) + index[pos + 1:]
    else:
        index = index + (slice(None),) * (x.ndim - consumed)
    out, axis = [], 0
    for item in index:
        if item is None:
            out.append(None)
            continue
        dim = x.shape[axis]
        if not isinstance(item, slice):
            item = arguments.index(item, "getitem: index")
            if dim is not None and not -dim <= item < dim:
                raise ShapeError(f"getitem: index {item} is out of bounds for axis {axis} with size {dim} "
                                 f"of {describe(x)}")
            if dim is not None:
                item %= dim
        else:
            item = slice(*(_slice_part(v, part) for part, v in (("start", item.start), ("stop", item.stop),
                                                                   ("step", item.step))))
            if item.step == 0:
                raise ShapeError("getitem: slice step cannot be zero")
        out.append(item)
        axis += 1
    return tuple(out)


def _slice_part(value, part: str):
    if value is None or type(value) is int:
        return value
    return arguments.index(value, f"getitem: slice {part}")


def _getitem_rule(inputs, attrs):
    (x,) = inputs
    shape, axis = [], 0
    for item in attrs["index"]:
        if item is None:
            shape.append(1)
            continue
        dim = x.shape[axis]
        axis += 1
        if isinstance(item, int):
            continue
        if dim is not None:
            shape.append(len(range(*item.indices(dim))))
        else:
            shape.append(None)
    return tuple(shape), x.dtype


def _getitem_batch(node, axes):
    x = node.inputs[0]
    return BatchRule(index_position(node.attrs["index"], axes[0], x.shape[axes[0]]))


defop("getitem", ("x",), _getitem_rule, "{x}[{index}]",
      grad=lambda n, g: [apply("getitem_grad", [g, n.inputs[0]], index=n.attrs["index"])],
      doc="basic indexing: ints, slices, None", result="view", batch=_getitem_batch)


def _scatter_basic(g, x, index):
    out = np.zeros(np.shape(x), dtype=g.dtype)
    out[index] = g
    return out


def _getitem_grad_batch(node, axes):
    g, x = node.inputs
    ga, xa = axes
    if xa is None:
        raise NotBatchable("it scatters into a replicated tensor's shape")
    if ga != index_position(node.attrs["index"], xa, x.shape[xa]):
        raise NotBatchable("its cotangent and its reference are chunked along different axes")
    return BatchRule(xa)


defop("getitem_grad", ("g", "x"), lambda ins, at: (ins[1].shape, ins[0].dtype),
      "scatter_basic({g}, {x}, {index})",
      grad=lambda n, g: [getitem(g, n.attrs["index"]), None], helpers={"scatter_basic": _scatter_basic},
      doc="the cotangent of getitem: g placed into zeros shaped like x", result="unknown", batch=_getitem_grad_batch)


def _split_indices(attrs) -> list:
    """scatter_slices' indices: ``index`` is every normalized index laid end to end (a flat
    tuple of ints, slices and None, so passes/cse.py can freeze it), ``lengths`` their sizes."""
    flat, out, start = attrs["index"], [], 0
    for k in attrs["lengths"]:
        out.append(tuple(flat[start:start + k]))
        start += k
    return out


def _scatter_slices(*parts, index, lengths):
    *gs, x = parts
    out = np.zeros(np.shape(x), dtype=gs[0].dtype)
    start = 0
    for g, k in zip(gs, lengths):
        out[index[start:start + k]] += g   # += : overlapping slices add
        start += k
    return out


def _scatter_slices_rule(inputs, attrs):
    *gs, x = inputs
    if not gs or len(gs) != len(attrs["lengths"]) or sum(attrs["lengths"]) != len(attrs["index"]):
        raise ShapeError(f"scatter_slices: {len(gs)} cotangents for {len(attrs['lengths'])} indices")
    for g, index in zip(gs, _split_indices(attrs)):
        want, _ = _getitem_rule([x], {"index": index})
        if g.ndim != len(want) or any(a is not None and b is not None and a != b
                                      for a, b in zip(g.shape, want)):
            raise ShapeError(f"scatter_slices: {describe(g)} does not fit {describe(x)}[{index}]")
        if g.dtype != gs[0].dtype:
            raise DTypeError(f"scatter_slices: cotangents of different dtypes: {describe(gs[0])}, "
                             f"{describe(g)}")
    return x.shape, gs[0].dtype


def _scatter_slices_grad(n, g):
    return [getitem(g, index) for index in _split_indices(n.attrs)] + [None]


# inputs: the cotangents g_1..g_k of k basic-index slices of x, then x (for its run-time shape)
def _scatter_slices_batch(node, axes):
    *gs, x = node.inputs
    xa = axes[-1]
    if xa is None:
        raise NotBatchable("it scatters into a replicated tensor's shape")
    flat, start = node.attrs["index"], 0
    for g, ga, k in zip(gs, axes, node.attrs["lengths"]):
        index = tuple(flat[start:start + k])
        start += k
        if ga != index_position(index, xa, x.shape[xa]):
            raise NotBatchable("a cotangent and the reference are chunked along different axes")
    return BatchRule(xa)


defop("scatter_slices", ("*parts",), _scatter_slices_rule,
      "scatter_slices({parts}, index={index}, lengths={lengths})",
      grad=_scatter_slices_grad, helpers={"scatter_slices": _scatter_slices},
      doc="the summed cotangents of many getitems of x: each g_i added into x[index_i] of one "
          "zero array shaped like x", result="unknown", batch=_scatter_slices_batch)


def scatter_slices(gs, indices, x):
    """One node summing getitem_grad(g_i, x) with index_i over i (indices already normalized)."""
    gs, x = [as_tensor(g) for g in gs], as_tensor(x)
    indices = [tuple(i) for i in indices]
    return apply("scatter_slices", [*gs, x], index=tuple(e for i in indices for e in i),
                 lengths=tuple(len(i) for i in indices))


def getitem(x, index):
    x = as_tensor(x)
    index = _normalize_index(x, index)
    if all(isinstance(i, slice) and i == slice(None) for i in index):
        return x
    return apply("getitem", [x], index=index)


# -- one_hot / gather ----------------------------------------------------------------------------

def _one_hot(indices, depth, dtype):
    return np.equal(indices[..., None], _arange(depth)).astype(dtype)


@functools.lru_cache(maxsize=64)
def _arange(depth):
    return np.arange(depth)


def _one_hot_rule(inputs, attrs):
    (idx,) = inputs
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: indices must be integers, got {describe(idx)}")
    return idx.shape + (attrs["depth"],), np.dtype(attrs["dtype"])


defop("one_hot", ("indices",), _one_hot_rule, "one_hot({indices}, {depth}, {dtype})",
      grad=lambda n, g: [None], helpers={"one_hot": _one_hot},
      doc="1 at each index along a new last axis of size depth (out-of-range -> all zeros)", result="new", batch=batching.same_axis)


def one_hot(indices, depth, dtype="float32"):
    indices = as_tensor(indices, what="one_hot: indices")
    depth = arguments.index(depth, "one_hot: depth", minimum=0)
    return apply("one_hot", [indices], depth=depth, dtype=arguments.dtype(dtype, "one_hot: dtype").name)


def _gather_rule(inputs, attrs):
    x, idx = inputs
    axis = attrs["axis"]
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"gather: indices must be integers, got {describe(idx)}")
    return x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype


def _gather_grad_impl(g, indices, x, axis):
    out = np.zeros(np.shape(x), dtype=g.dtype)
    moved = np.moveaxis(out, axis, 0)
    gm = np.moveaxis(g, tuple(range(axis, axis + np.ndim(indices))), tuple(range(np.ndim(indices))))
    np.add.at(moved, indices, gm)
    return out


def _gather_batch(node, axes):
    x, idx = node.inputs
    xa, ia = axes
    axis = node.attrs["axis"]
    if xa is not None and ia is not None:
        raise NotBatchable("both the table and the indices are chunked")
    if xa is not None:
        if xa == axis:
            raise NotBatchable("it picks rows of the batch axis by index")
        return BatchRule(xa if xa < axis else xa + idx.ndim - 1)
    return BatchRule(axis + ia)


def _gather_grad_batch(node, axes):
    g, idx, x = node.inputs
    ga, ia, xa = axes
    axis = node.attrs["axis"]
    if xa is None and ia is not None and ga == axis + ia:
        return BatchRule(None, "sum")   # rows scatter-added into a replicated table (embeddings)
    if ia is None and xa is not None and xa != axis and ga == (xa if xa < axis else xa + idx.ndim - 1):
        return BatchRule(xa)
    raise NotBatchable("its cotangent, indices and table are not chunked consistently")


defop("gather", ("x", "indices"), _gather_rule, "np.take({x}, {indices}, axis={axis})",
      grad=lambda n, g: [apply("gather_grad", [g, n.inputs[1], n.inputs[0]], axis=n.attrs["axis"]), None],
      doc="take slices of x at integer indices along an axis", result="new", batch=_gather_batch)
defop("gather_grad", ("g", "indices", "x"), lambda ins, at: (ins[2].shape, ins[0].dtype),
      "gather_grad({g}, {indices}, {x}, {axis})",
      grad=lambda n, g: [gather(g, n.inputs[1], n.attrs["axis"]), None, None],
      helpers={"gather_grad": _gather_grad_impl},
      doc="the cotangent of gather: g scatter-added into zeros shaped like x", result="unknown", batch=_gather_grad_batch)


def gather(x, indices, axis=0):
    x = as_tensor(x, what="gather: x")
    indices = as_tensor(indices, what="gather: indices")
    axis = normalize_axis("gather", x, axis)
    iv = indices.attrs.get("value") if indices.op == "constant" else None
    if iv is not None and x.shape[axis] is not None and iv.size and (iv.max() >= x.shape[axis] or iv.min() < -x.shape[axis]):
        raise ShapeError(f"gather: index out of range for axis {axis} of {describe(x)} "
                         f"(indices span {iv.min()}..{iv.max()})")
    return apply("gather", [x, indices], axis=axis)
