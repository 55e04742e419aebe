"""What a Dask task runs: picklable callables holding generated NumPy source.

These travel to the workers (a ``distributed`` cluster pickles them; the threaded scheduler
shares them), so they hold text and arrays, never live compiled functions: a worker compiles
a region's source once per process (cached by a token) and reuses it for every chunk. This
module needs only NumPy, plus graphc's op helpers that generated code calls by name.
"""
from __future__ import annotations

import collections
import functools
import operator
import re
import threading
import types
import uuid

import numpy as np

_LOADED: collections.OrderedDict = collections.OrderedDict()   # token -> compiled function
_LOADED_MAX = 512
_lock = threading.Lock()


def serial_shares(share, n, step):
    """The NumPy backend's ``run_shares`` without threads: Dask already runs one task per core,
    so a task's kernels walk their blocks in the task's own thread."""
    return [share(0, n)]


class RegionCode:
    """One region's generated source plus the values its namespace holds (constants, random
    generators, the op helpers), compiled on first use in each process."""

    def __init__(self, source: str, fn_name: str, namespace: dict):
        # the NumPy backend's checked entry point is never called here (Function checks the
        # inputs): drop it, and ship only the names the remaining source reads
        cut = source.find(f"\ndef {fn_name}_checked(")
        self.source = source if cut < 0 else source[:cut + 1]
        self.fn_name = fn_name
        used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", self.source))
        self.namespace = {k: v for k, v in namespace.items() if k in used and _shippable(k, v, namespace)}
        self.random = sorted(k for k, v in self.namespace.items() if isinstance(v, np.random.Generator))
        self.token = uuid.uuid4().hex

    def __getstate__(self):
        return {"source": self.source, "fn_name": self.fn_name, "namespace": self.namespace,
                "random": self.random, "token": self.token}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def function(self, stream=None):
        """The compiled function; with random ops and a ``stream`` (call, chunk), one whose
        generators are seeded from their own seed and the stream, so every chunk of every call
        draws its own reproducible samples."""
        if self.random and stream is not None:
            return self._load(self._reseeded(stream))
        fn = _LOADED.get(self.token)
        if fn is None:
            with _lock:
                fn = _LOADED.get(self.token)
                if fn is None:
                    fn = self._load(dict(self.namespace))
                    _LOADED[self.token] = fn
                    while len(_LOADED) > _LOADED_MAX:
                        _LOADED.popitem(last=False)
        return fn

    def _reseeded(self, stream) -> dict:
        namespace = dict(self.namespace)
        for k, name in enumerate(self.random):
            entropy = namespace[name].bit_generator.seed_seq.entropy
            seq = np.random.SeedSequence(entropy, spawn_key=tuple(int(s) for s in stream) + (k,))
            namespace[name] = np.random.default_rng(seq)
        return namespace

    def _load(self, namespace):
        namespace["np"] = np
        namespace["run_shares"] = serial_shares
        exec(_compiled(self.source, self.fn_name), namespace)  # noqa: S102 - graphc's own generated code
        return namespace[self.fn_name]

    def __call__(self, *args, stream=None):
        return self.function(stream)(*args)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, fn_name: str):
    return compile(source, f"<graphc-dask-{fn_name}>", "exec")


def _shippable(key, value, namespace) -> bool:
    """Namespace entries a worker needs: not the modules and functions the source defines or
    re-creates itself."""
    if key in ("__builtins__", "np", "run_shares") or isinstance(value, types.ModuleType):
        return False
    return not (isinstance(value, types.FunctionType) and value.__globals__ is namespace)


class Literal:
    """A value placed in the graph as is (Dask does not look inside it for keys or tasks):
    replicated arrays, a tuple of them, a shard of an input."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __getstate__(self):
        return (self.value,)   # never None: pickle would skip __setstate__

    def __setstate__(self, state):
        (self.value,) = state


class RegionTask:
    """One region on one chunk (or once): picks its arguments out of its dependencies' values
    (a chunk of an input, one result of another region, a replicated value cut to this
    chunk's rows), runs the region's code, and turns ``mean`` partials into their share of
    the global mean (chunk mean × chunk rows / all rows)."""

    def __init__(self, code: RegionCode, picks, stream=None, mean_positions=(), weight=1.0):
        self.code = code
        self.picks = picks            # per argument: (dependency index, element or None, cut or None)
        self.stream = stream
        self.mean_positions = tuple(mean_positions)
        self.weight = weight

    def __call__(self, *deps):
        args = []
        for dep, element, cut in self.picks:
            value = deps[dep]
            if isinstance(value, Literal):
                value = value.value
            if element is not None:
                value = value[element]
            if cut is not None:
                axis, lo, hi = cut
                value = value[(slice(None),) * axis + (slice(lo, hi),)]
            if type(value) is np.ndarray and value.ndim == 0:
                value = value[()]   # 0-d values run as NumPy scalars, as in the NumPy backend
            args.append(value)
        results = list(self.code(*args, stream=self.stream))
        for pos in self.mean_positions:
            value = np.asarray(results[pos])
            results[pos] = np.multiply(value, self.weight).astype(value.dtype, copy=False)
        return tuple(results)


_COMBINE = {"sum": np.add, "mean": np.add, "max": np.maximum, "min": np.minimum,
            "prod": np.multiply, "first": lambda a, b: a}


class Combine:
    """A node of a tree reduction: combines the partials of several chunks (or of several
    lower tree nodes) component by component. ``select``: where the partials sit in a
    region's results (leaves only); ``dtypes``: the final dtypes (the root only)."""

    def __init__(self, kinds, select=None, dtypes=None):
        self.kinds = tuple(kinds)
        self.select = None if select is None else tuple(select)
        self.dtypes = None if dtypes is None else tuple(dtypes)

    def __call__(self, *parts):
        if self.select is not None:
            parts = [tuple(p[i] for i in self.select) for p in parts]
        out = []
        for k, kind in enumerate(self.kinds):
            value = functools.reduce(_COMBINE[kind], (p[k] for p in parts))
            if self.dtypes is not None:
                value = np.asarray(value, dtype=self.dtypes[k])
            out.append(value)
        return tuple(out)


def element(value, k, dtype):
    """One result out of a region's (or a tree's) tuple, as an array of ``dtype``."""
    if isinstance(value, Literal):
        value = value.value
    if k is not None:
        value = operator.getitem(value, k)
    return np.array(value, dtype=dtype)


__all__ = ["Combine", "Literal", "RegionCode", "RegionTask", "element", "serial_shares"]
