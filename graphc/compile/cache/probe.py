"""The probe: do the source graph and the loaded one compute the same values?"""
from __future__ import annotations

import warnings

import numpy as np

from graphc.ir.opdef import OPS
from graphc.compile.cache.encoding import _random_ranks
from graphc.compile.cache.errors import _Refused
from graphc.compile.cache.schema import _expect

_PROBE_TOLERANCE = {2: 3e-2, 4: 1e-3}  # by float itemsize, relative to max(1, |expected|); else 1e-8


def _probe(source, optimized) -> None:
    """Evaluate both graphs on the same fixed inputs with each op's reference semantics and
    compare outputs and updates; _Refused if they differ. Inputs the source graph itself fails
    on (out-of-range indices...) are skipped: random small values first, then zeros."""
    ranks = _random_ranks(source)
    for feeds in (_probe_feeds(source, random=True), _probe_feeds(source, random=False)):
        try:
            expected = _evaluate(source, feeds, ranks)
        except Exception:
            continue
        try:
            actual = _evaluate(optimized, feeds, ranks)
        except Exception as exc:
            raise _Refused(f"it fails where the source graph runs ({type(exc).__name__})") from None
        for k, (a, e) in enumerate(zip(actual, expected)):
            _expect(_agree(a, e), f"it computes another value than the source graph (result {k})")
        return


def _probe_feeds(source, random: bool) -> dict:
    """An array per placeholder: floats N(0, 1), ints in {0, 1}, random bools (or all zeros);
    sizes known only at call time become 3."""
    rng = np.random.default_rng(1234)
    feeds = {}
    for p in source.placeholders():
        shape = tuple(3 if d is None else d for d in p.shape)
        if not random:
            value = np.zeros(shape, p.dtype)
        elif p.dtype.kind == "f":
            value = rng.standard_normal(shape).astype(p.dtype)
        elif p.dtype.kind == "b":
            value = rng.random(shape) < 0.5
        else:
            value = rng.integers(0, 2, shape).astype(p.dtype)
        feeds[id(p)] = value
    return feeds


def _evaluate(graph, feeds, ranks) -> list:
    """The outputs and update values, node by node, each value dropped after its last use."""
    remaining = {}
    for n in graph.nodes:
        for i in n.inputs:
            remaining[id(i)] = remaining.get(id(i), 0) + 1
    keep = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    values = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for n in graph.nodes:
            args = [values[id(i)] for i in n.inputs]
            values[id(n)] = _probe_value(n, args, ranks, feeds)
            for i in n.inputs:
                remaining[id(i)] -= 1
                if remaining[id(i)] == 0 and id(i) not in keep:
                    del values[id(i)]
    return [values[id(t)] for t in graph.outputs] + [values[id(t)] for _, t in graph.updates]


def _probe_value(n, args, ranks, feeds):
    if n.op == "placeholder":
        return feeds[id(n)]
    if n.op == "variable":
        return n.value
    if n.op == "constant":
        return n.attrs["value"]
    if OPS[n.op].kind == "random":  # the same draw in both graphs: seeded by the node's rank
        shape = n.attrs["shape"] if "shape" in n.attrs else np.shape(args[0])
        rng = np.random.default_rng([ranks[n.attrs["key"]], 99])
        return rng.standard_normal(shape).astype(n.dtype)
    if any(isinstance(v, np.ndarray) for v in n.attrs.values()):  # repr abbreviates arrays
        return OPS[n.op].impl(*args, **n.attrs)
    return _reference_function(n, len(args))(*args)


_reference_functions: dict = {}
_MAX_REFERENCE_FUNCTIONS = 4096


def _reference_function(n, arity):
    """``OPS[n.op].impl`` as a function of the inputs alone: the template rendered with the
    node's attributes and compiled once per op and attribute values (rendering for every node
    was most of the probe's time). ``repr`` of validated attributes - numbers, strings,
    tuples, slices - tells different values apart."""
    key = (n.op, arity, repr(n.attrs))
    fn = _reference_functions.get(key)
    if fn is None:
        if len(_reference_functions) >= _MAX_REFERENCE_FUNCTIONS:
            _reference_functions.clear()
        od = OPS[n.op]
        names = [f"_in{i}" for i in range(arity)]
        source = f"lambda {', '.join(names)}: {od.render_call(names, n.attrs)}"
        fn = _reference_functions[key] = eval(source, {"np": np, **od.helpers})  # noqa: S307 - graphc's own template
    return fn


def _agree(actual, expected) -> bool:
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape:
        return False
    if e.dtype.kind != "f" and a.dtype.kind != "f":
        return bool(np.array_equal(a, e))
    tolerance = _PROBE_TOLERANCE.get(min(a.dtype.itemsize, e.dtype.itemsize), 1e-8)
    a, e = a.astype(np.float64), e.astype(np.float64)
    finite = np.isfinite(e)
    if not np.array_equal(np.isfinite(a), finite) or not np.array_equal(a[~finite], e[~finite], equal_nan=True):
        return False  # NaN and ±inf in the same places
    scale = max(1.0, float(np.abs(e[finite]).max(initial=0.0)))
    return bool(np.all(np.abs(a[finite] - e[finite]) <= tolerance * scale))
