"""Each op's attributes in a loaded entry, decoded and checked: ``ATTRIBUTES`` maps an op to its
attribute decoders, ``_NODE_CHECKS`` adds checks across one node's attributes."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from graphc.ir.graph import Graph
from graphc.compile.cache.encoding import _INLINE
from graphc.compile.cache.errors import _Refused
from graphc.compile.cache.schema import _DTYPE_NAMES, _DTYPES, _expect, _int, _ints, _list, _show, _tagged


@dataclasses.dataclass
class _Context:
    """What decoding a node needs beyond the node itself."""
    source: Graph
    arrays: list
    random_keys: dict          # rank in the source -> the source's random key
    random_nodes: dict         # random key -> the source's node
    max_size: int              # no node may be larger than the largest node of the source
    used_arrays: set = dataclasses.field(default_factory=set)
    drawn: set = dataclasses.field(default_factory=set)  # the source's random draws rebuilt so far
    inputs: tuple = ()         # the inputs of the node being decoded


# Attribute decoders: (JSON value, context, what) -> the value the op's constructor stores.


def _float_attr(value, ctx, what):
    if type(value) is not float:
        raise _Refused(f"{what}: expected a float, got {_show(value)}")
    return value


def _bool_attr(value, ctx, what):
    if type(value) is not bool:
        raise _Refused(f"{what}: expected a bool, got {_show(value)}")
    return value


def _dtype_attr(value, ctx, what):
    if type(value) is not str or value not in _DTYPE_NAMES:
        raise _Refused(f"{what}: not a graphc dtype: {_show(value)}")
    return value


def _float_dtype_attr(value, ctx, what):
    _expect(np.dtype(_dtype_attr(value, ctx, what)).kind == "f", f"{what}: not a float dtype")
    return value


def _scalar_attr(value, ctx, what):  # a fill value; checked against the dtype in _check_fill
    if type(value) not in (bool, int, float):
        raise _Refused(f"{what}: expected a number, got {_show(value)}")
    return value


def _seed_attr(value, ctx, what):
    return None if value is None else _int(value, what, 0)


def _shape_attr(value, ctx, what):
    return _ints(value, what, 0)


def _reshape_attr(value, ctx, what):  # the one -1 is checked by the op's rule
    return _ints(value, what, -1)


def _lengths_attr(value, ctx, what):
    return _ints(value, what, 0)


def _count_attr(lo):
    return lambda value, ctx, what: _int(value, what, lo)


def _pair_attr(lo):
    return lambda value, ctx, what: _ints(value, what, lo, length=2)


def _pads_attr(value, ctx, what):
    if value == "same":
        return value
    pairs = _list(_tagged(value, "tuple", what), what, 2)
    return tuple(_ints(p, f"{what}[{i}]", 0, length=2) for i, p in enumerate(pairs))


def _axis_attr(arg, insert=False):
    """An axis of input ``arg`` (normalized: 0 <= axis < ndim; <= ndim for an inserted one)."""
    def decode(value, ctx, what):
        ndim = ctx.inputs[arg].ndim
        return _int(value, what, 0, ndim if insert else max(ndim, 1) - 1)
    return decode


def _axes_attr(arg):
    """Axes of input ``arg``, normalized: distinct, ascending, in range."""
    def decode(value, ctx, what):
        axes = _ints(value, what, 0)
        _expect(all(a < b for a, b in zip(axes, axes[1:])), f"{what}: axes {axes} not ascending")
        _expect(all(a < ctx.inputs[arg].ndim for a in axes), f"{what}: axes {axes} out of range")
        return axes
    return decode


def _perm_attr(value, ctx, what):
    perm = _ints(value, what, 0)
    _expect(sorted(perm) == list(range(ctx.inputs[0].ndim)), f"{what}: {perm} is not a permutation")
    return perm


def _part_attr(value, ctx, what):  # concat_part: which of the concatenated inputs
    return _int(value, what, 0, len(ctx.inputs) - 2)


def _index_item(value, what):
    if value is None or type(value) is int:
        return value
    start, stop, step = (None if v is None else _int(v, what)
                         for v in _list(_tagged(value, "slice", what), what, 3))
    _expect(step != 0, f"{what}: slice step 0")
    return slice(start, stop, step)


def _index_items(value, what) -> tuple:
    return tuple(_index_item(v, f"{what}[{i}]") for i, v in enumerate(_list(_tagged(value, "tuple", what), what)))


def _check_index(index, x, what) -> None:
    """A basic index as getitem's constructor normalizes it: one int or slice per axis of x
    (Nones between), ints within known sizes (negative ones too: an index made while a size
    was unknown keeps its sign when the graph is specialized to concrete shapes)."""
    taken = [i for i in index if i is not None]
    _expect(len(taken) == x.ndim, f"{what}: {len(taken)} indices for {x.ndim} axes")
    for item, dim in zip(taken, x.shape):
        _expect(type(item) is not int or dim is None or -dim <= item < dim, f"{what}: index {item} out of range")


def _index_attr(arg):
    def decode(value, ctx, what):
        index = _index_items(value, what)
        _check_index(index, ctx.inputs[arg], what)
        return index
    return decode


def _flat_index_attr(value, ctx, what):  # scatter_slices: split and checked in _check_scatter
    return _index_items(value, what)


def _key_attr(value, ctx, what):
    rank = _int(_tagged(value, "random", what), what, 0, len(ctx.random_keys) - 1)
    return ctx.random_keys[rank]


def _constant_attr(value, ctx, what):
    """A folded constant: inline in the JSON, or one of the archive's arrays (each used once)."""
    if type(value) is dict and "array" in value:
        k = _int(_tagged(value, "array", what), what, 0, len(ctx.arrays) - 1)
        _expect(k not in ctx.used_arrays, f"{what}: array a{k} used twice")
        ctx.used_arrays.add(k)
        array = np.array(ctx.arrays[k], copy=True)
        _expect(array.dtype.str in _DTYPES, f"{what}: array a{k} of dtype {array.dtype.str!r}")
    else:
        dtype_str, shape, values = _list(_tagged(value, "inline", what), what, 3)
        _expect(type(dtype_str) is str and dtype_str in _DTYPES, f"{what}: not a graphc dtype: {_show(dtype_str)}")
        dtype = _DTYPES[dtype_str]
        shape = tuple(_int(d, f"{what}: shape", 0) for d in _list(shape, what))
        values = _list(values, what, math.prod(shape))
        _expect(len(values) <= _INLINE, f"{what}: {len(values)} inline values")
        python_type = {"b": bool, "i": int, "u": int, "f": float}[dtype.kind]
        _expect(all(type(v) is python_type for v in values), f"{what}: values of the wrong type for {dtype}")
        array = np.array(values, dtype=dtype).reshape(shape)
    array.flags.writeable = False
    return array


_REDUCE = {"axis": _axes_attr(0), "keepdims": _bool_attr}
_CONV = {"strides": _pair_attr(1), "pads": _pads_attr, "dilations": _pair_attr(1), "groups": _count_attr(1)}
_POOL = {"pool_size": _pair_attr(1), "strides": _pair_attr(1), "pads": _pads_attr}
_RANDOM = {"dtype": _float_dtype_attr, "seed": _seed_attr, "key": _key_attr}
_UNIFORM = {"minval": _float_attr, "maxval": _float_attr, **_RANDOM}
_NORMAL = {"mean": _float_attr, "stddev": _float_attr, **_RANDOM}

# The attributes each op takes, with their decoders; an op not listed takes none. (What the
# ops' constructors in graphc/ops/ store; tests/compile/test_compile_cache_security.py checks that
# every attribute an op's template reads is listed.)
ATTRIBUTES = {
    "constant": {"value": _constant_attr},
    "leaky_relu": {"alpha": _float_attr},
    "elu": {"alpha": _float_attr},
    **{op: _REDUCE for op in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod")},
    "reduced_count": {"axis": _axes_attr(0)},
    "argmax": {"axis": _axis_attr(0)},
    "argmin": {"axis": _axis_attr(0)},
    "cast": {"dtype": _dtype_attr},
    "reshape": {"shape": _reshape_attr},
    "transpose": {"perm": _perm_attr},
    "concat": {"axis": _axis_attr(0)},
    "concat_part": {"axis": _axis_attr(0), "index": _part_attr},
    "expand_dims": {"axis": _axis_attr(0, insert=True)},
    "squeeze": {"axis": _axes_attr(0)},
    "broadcast_to": {"shape": _shape_attr},
    "fill": {"shape": _shape_attr, "value": _scalar_attr, "dtype": _dtype_attr},
    "fill_like": {"value": _scalar_attr, "dtype": _dtype_attr},
    "getitem": {"index": _index_attr(0)},
    "getitem_grad": {"index": _index_attr(1)},
    "scatter_slices": {"index": _flat_index_attr, "lengths": _lengths_attr},
    "one_hot": {"depth": _count_attr(0), "dtype": _dtype_attr},
    "gather": {"axis": _axis_attr(0)},
    "gather_grad": {"axis": _axis_attr(2)},
    **{op: _CONV for op in ("conv2d", "conv2d_bias", "conv2d_backprop_input", "conv2d_backprop_filter")},
    **{op: _POOL for op in ("max_pool2d", "max_pool2d_grad", "max_pool2d_select", "avg_pool2d",
                            "avg_pool2d_grad")},
    "random_uniform": {"shape": _shape_attr, **_UNIFORM},
    "random_normal": {"shape": _shape_attr, **_NORMAL},
    "random_uniform_like": _UNIFORM,
    "random_normal_like": _NORMAL,
}


# Checks across a node's attributes, after each was decoded.

# Checks across a node's attributes, after each was decoded.


def _check_fill(node_attrs, ctx, what):
    """The fill value is what ``dtype.type(value).item()`` gives: a bool, int or float."""
    dtype, value = np.dtype(node_attrs["dtype"]), node_attrs["value"]
    python_type = {"b": bool, "i": int, "u": int, "f": float}[dtype.kind]
    _expect(type(value) is python_type, f"{what}: value {_show(value)} is not a {dtype} value")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        _expect(info.min <= value <= info.max, f"{what}: value {value} does not fit {dtype}")


def _check_scatter(node_attrs, ctx, what):
    flat, lengths, x = node_attrs["index"], node_attrs["lengths"], ctx.inputs[-1]
    _expect(sum(lengths) == len(flat), f"{what}: lengths {lengths} do not cover the index")
    start = 0
    for k in lengths:
        _check_index(flat[start:start + k], x, what)
        start += k


def _check_random(node_attrs, ctx, what):
    """A random draw keeps the source's attributes (seed, range, shape) exactly, and is not
    duplicated (two nodes would draw two different samples where the source drew one)."""
    original = ctx.random_nodes[node_attrs["key"]]
    _expect(original.attrs == node_attrs, f"{what}: differs from the source graph's draw {original.name!r}")
    _expect(id(original) not in ctx.drawn, f"{what}: the source graph's draw {original.name!r} twice")
    ctx.drawn.add(id(original))


_NODE_CHECKS = {"fill": _check_fill, "fill_like": _check_fill, "scatter_slices": _check_scatter,
                **{op: _check_random for op in ("random_uniform", "random_normal",
                                                "random_uniform_like", "random_normal_like")}}
