"""Random ops. Each compiled function owns one NumPy Generator per random node, seeded from
the op's ``seed`` (or fresh OS entropy when None): every call draws a fresh sample, and the
same seed gives the same sequence in every freshly compiled function.

The templates have an ``{rng}`` slot that the backend fills with that generator's name.
"""
from __future__ import annotations

import itertools

from graphc.ir import arguments
from graphc.ir import dtypes
from graphc.errors import DTypeError
from graphc.ir.tensor import as_tensor
from graphc.ir import batching
from graphc.ir.opdef import apply, defop

_keys = itertools.count()  # makes every random node distinct, so CSE never merges two draws


def _source_rule(inputs, attrs):
    return attrs["shape"], dtypes.as_dtype(attrs["dtype"])


def _like_rule(inputs, attrs):
    return inputs[0].shape, dtypes.as_dtype(attrs["dtype"])


_UNIFORM = "{rng}.uniform({minval}, {maxval}, {shape}).astype({dtype}, copy=False)"
_NORMAL = "{rng}.normal({mean}, {stddev}, {shape}).astype({dtype}, copy=False)"

defop("random_uniform", (), _source_rule, _UNIFORM, kind="random", doc="uniform samples in [minval, maxval)")
defop("random_normal", (), _source_rule, _NORMAL, kind="random", doc="normal samples")
defop("random_uniform_like", ("ref",), _like_rule, _UNIFORM.replace("{shape}", "np.shape({ref})"),
      grad=lambda n, g: [None], kind="random", doc="uniform samples shaped like ref at run time", batch=batching.same_axis)
defop("random_normal_like", ("ref",), _like_rule, _NORMAL.replace("{shape}", "np.shape({ref})"),
      grad=lambda n, g: [None], kind="random", doc="normal samples shaped like ref at run time", batch=batching.same_axis)


def _dtype(op, dtype) -> str:
    dt = arguments.dtype(dtype, f"{op}: dtype")
    if dt.kind != "f":
        raise DTypeError(f"{op}: dtype must be a float type, got {dt}")
    return dt.name


def _like_dtype(op, ref, dtype) -> str:
    return _dtype(op, dtype if dtype is not None else (ref.dtype if ref.dtype.kind == "f" else "float32"))


def _uniform_range(op, minval, maxval) -> dict:
    """[minval, maxval): finite reals with minval < maxval (checked when the graph is built)."""
    lo, hi = arguments.real(minval, f"{op}: minval"), arguments.real(maxval, f"{op}: maxval")
    if not lo < hi:
        raise ValueError(f"{op}: minval must be less than maxval, got minval={lo} and maxval={hi}")
    return {"minval": lo, "maxval": hi}


def _normal_params(op, mean, stddev) -> dict:
    return {"mean": arguments.real(mean, f"{op}: mean"),
            "stddev": arguments.real(stddev, f"{op}: stddev", minimum=0.0)}


def uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    """Uniform samples in [minval, maxval); a fresh sample on every call of a compiled function."""
    op = "random.uniform"
    return apply("random_uniform", [], shape=arguments.shape(shape, f"{op}: shape"),
                 **_uniform_range(op, minval, maxval), dtype=_dtype(op, dtype),
                 seed=arguments.seed(seed, f"{op}: seed"), key=next(_keys))


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal samples; a fresh sample on every call of a compiled function."""
    op = "random.normal"
    return apply("random_normal", [], shape=arguments.shape(shape, f"{op}: shape"),
                 **_normal_params(op, mean, stddev), dtype=_dtype(op, dtype),
                 seed=arguments.seed(seed, f"{op}: seed"), key=next(_keys))


def uniform_like(ref, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform samples shaped like ``ref`` (whose sizes may be known only at call time)."""
    op = "random.uniform_like"
    ref = as_tensor(ref, what=f"{op}: ref")
    return apply("random_uniform_like", [ref], **_uniform_range(op, minval, maxval),
                 dtype=_like_dtype(op, ref, dtype), seed=arguments.seed(seed, f"{op}: seed"), key=next(_keys))


def normal_like(ref, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples shaped like ``ref`` (whose sizes may be known only at call time)."""
    op = "random.normal_like"
    ref = as_tensor(ref, what=f"{op}: ref")
    return apply("random_normal_like", [ref], **_normal_params(op, mean, stddev),
                 dtype=_like_dtype(op, ref, dtype), seed=arguments.seed(seed, f"{op}: seed"), key=next(_keys))
