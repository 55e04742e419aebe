"""Random ops. Each compiled function owns one NumPy Generator per random node, seeded from
the op's ``seed`` (or fresh OS entropy when None): every call draws a fresh sample, and the
same seed gives the same sequence in every freshly compiled function.

The templates have an ``{rng}`` slot that the backend fills with that generator's name.
"""
from __future__ import annotations

import itertools

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..tensor import as_tensor
from .registry import apply, defop

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
      grad=lambda n, g: [None], kind="random", doc="uniform samples shaped like ref at run time")
defop("random_normal_like", ("ref",), _like_rule, _NORMAL.replace("{shape}", "np.shape({ref})"),
      grad=lambda n, g: [None], kind="random", doc="normal samples shaped like ref at run time")


def _check(op, shape, dtype, seed):
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ShapeError(f"{op}: negative dimension in shape {shape}")
    dt = dtypes.as_dtype(dtype)
    if dt.kind != "f":
        raise DTypeError(f"{op}: dtype must be a float type, got {dt}")
    if seed is not None:
        seed = int(seed)
    return shape, dt.name, seed


def uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    """Uniform samples in [minval, maxval); a fresh sample on every call of a compiled function."""
    shape, dt, seed = _check("random.uniform", shape, dtype, seed)
    return apply("random_uniform", [], shape=shape, minval=float(minval), maxval=float(maxval),
                 dtype=dt, seed=seed, key=next(_keys))


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal samples; a fresh sample on every call of a compiled function."""
    shape, dt, seed = _check("random.normal", shape, dtype, seed)
    return apply("random_normal", [], shape=shape, mean=float(mean), stddev=float(stddev),
                 dtype=dt, seed=seed, key=next(_keys))


def uniform_like(ref, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform samples shaped like ``ref`` (whose sizes may be known only at call time)."""
    ref = as_tensor(ref)
    dt = dtypes.as_dtype(dtype or (ref.dtype if ref.dtype.kind == "f" else "float32")).name
    return apply("random_uniform_like", [ref], minval=float(minval), maxval=float(maxval), dtype=dt,
                 seed=None if seed is None else int(seed), key=next(_keys))


def normal_like(ref, mean=0.0, stddev=1.0, dtype=None, seed=None):
    ref = as_tensor(ref)
    dt = dtypes.as_dtype(dtype or (ref.dtype if ref.dtype.kind == "f" else "float32")).name
    return apply("random_normal_like", [ref], mean=float(mean), stddev=float(stddev), dtype=dt,
                 seed=None if seed is None else int(seed), key=next(_keys))
