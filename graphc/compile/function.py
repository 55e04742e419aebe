"""gc.function: specialize -> pass pipeline -> schedule -> backend lowering -> Function.

A Function checks and converts its inputs, then runs the code generated for their concrete
shapes. Each new input signature is compiled once (lazily) and cached.
"""
from __future__ import annotations

import contextlib
import functools
import dataclasses
import inspect
import itertools
import time

import numpy as np

from graphc import backend_registry

from graphc.ir import arguments
from graphc.compile import cache as compile_cache
from graphc.plan import numerics
from graphc import passes as _passes
from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.passes import batch_axes
from graphc.plan import memory, regions
from graphc.ir.graph import Graph
from graphc.compile.locks import variable_locks
from graphc.plan.schedule import schedule
from graphc.ir.opdef import describe, rebuild
from graphc.ops.shape_ops import cast
from graphc.render import repr_svg
from graphc.plan.feeds import convert as convert_fed_value
from graphc.plan.program import Program
from graphc.ir.tensor import Tensor, Variable, as_tensor, format_shape, placeholder

_names = itertools.count()


@dataclasses.dataclass
class Specialization:
    signature: tuple
    graph: Graph
    reports: list
    executable: object
    seconds: float
    memory: object = None
    program: Program | None = None


class Function:
    """A compiled callable (see ``gc.function``)."""

    def __init__(self, inputs, outputs, updates=None, backend="numpy", optimize=True, name=None,
                 check_numerics=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"function: name must be a string, got {type(name).__name__}")
        self.name = name or f"graph_fn_{next(_names)}"
        self.inputs = tuple(_check_inputs(inputs))
        self._single = isinstance(outputs, Tensor) or not isinstance(outputs, (list, tuple))
        outs = [outputs] if self._single else list(outputs)
        self.outputs = tuple(as_tensor(o) for o in outs)
        self.updates = tuple(_check_updates(updates or ()))
        self.source_graph = Graph(self.outputs, self.updates)
        missing = [p for p in self.source_graph.placeholders() if p not in set(self.inputs)]
        if missing:
            raise GraphError(f"function: the outputs depend on placeholder(s) "
                             f"{', '.join(repr(p.name) for p in missing)} that are not among the inputs "
                             f"[{', '.join(repr(p.name) for p in self.inputs)}]")
        self.backend = backend_registry.get(backend)
        # a backend may take its own arrays as inputs (CuPy: device arrays stay on the device)
        self._convert = getattr(self.backend, "convert_input", None) or convert_fed_value
        self.optimize = optimize
        self._numerics_asked = None if check_numerics is None else bool(check_numerics)
        if self._numerics_asked and self.backend.name != "numpy":
            raise GraphError(f"function {self.name!r}: check_numerics runs on the numpy backend, "
                             f"not {self.backend.name!r}")
        self._numerics_switch = numerics.switch_count()
        self._by_name = {p.name: i for i, p in enumerate(self.inputs)}
        self._cache: dict[tuple, Specialization] = {}
        self._last: Specialization | None = None
        # every input shape static: one specialization, entered through generated checks
        self._static = all(d is not None for p in self.inputs for d in p.shape)
        self._checked = None
        self._arity = len(self.inputs)
        self._locks = variable_locks([v for v, _ in self.updates]) if self.updates else None

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self._locks is None:
            return self._call(args, kwargs)
        with self._locks:  # calls updating the same variables run one at a time
            return self._call(args, kwargs)

    @property
    def check_numerics(self) -> bool:
        """Whether the values are checked: as asked, else the process-wide switch (numpy
        backend only)."""
        if self._numerics_asked is not None:
            return self._numerics_asked
        return numerics.enabled() and self.backend.name == "numpy"

    def _call(self, args, kwargs):
        if self._numerics_switch != numerics.switch_count():
            self._forget()   # the process-wide check switch moved: recompile, checked or not
        checked = self._checked
        if checked is not None and not kwargs and len(args) == self._arity:
            try:  # checks and conversions are inline in the generated code
                return checked(*args)
            except (ValueError, IndexError) as exc:
                failure = self._last.executable.explain_failure(exc)
                if failure is exc:
                    raise
                raise failure from exc
        values = self._bind(args, kwargs)
        signature = tuple(v.shape for v in values)
        spec = self._cache.get(signature)
        if spec is None:
            spec = self._specialize(signature)
            if self._static and getattr(spec.executable, "checked", None) is not None:
                self._checked = spec.executable.checked
        self._last = spec
        return spec.executable.run(values)

    def _forget(self):
        self._cache.clear()
        self._checked = self._last = None
        self._numerics_switch = numerics.switch_count()

    def trusted(self, *args):
        """Run without checking or converting the inputs: for callers that already pass
        arrays of exactly the placeholders' dtypes and shapes (0-d inputs may be NumPy
        scalars). Wrong inputs give wrong results or NumPy errors, not graphc's errors."""
        spec = self._last if self._static and self._last is not None else None
        if spec is None or self._numerics_switch != numerics.switch_count():
            return self(*args)
        if self._locks is None:
            return spec.executable.fn(*args)
        with self._locks:
            return spec.executable.fn(*args)

    def profile(self, *args, repeat: int = 10, **kwargs):
        """Run the function ``repeat`` times on these inputs and report the wall time of each
        step (fused kernel or single op), slowest first (a ``graphc.compile.profile.Profile``; print
        it). An instrumented copy of the generated code does the timing; variables are put
        back as they were, so profiling a training step trains nothing."""
        repeat = arguments.index(repeat, f"{self.name}.profile: repeat", minimum=1)
        values = self._bind(args, kwargs)
        signature = tuple(v.shape for v in values)
        spec = self._cache.get(signature) or self._specialize(signature)
        if "profile" not in inspect.signature(self.backend.compile).parameters:
            raise GraphError(f"{self.name}: the {self.backend.name} backend cannot profile "
                             f"(the numpy backend can)")
        executable = self.backend.compile(spec.program, profile=True)
        variables = [v for v, _ in self.updates]
        saved = [v._value for v in variables]
        with self._locks or contextlib.nullcontext():
            return self._profiled(executable, spec, values, variables, saved, repeat)

    def _profiled(self, executable, spec, values, variables, saved, repeat):
        from graphc.compile import profile as _profile
        try:
            executable.run(values)  # warm-up: first-touch allocations, caches
            executable.step_seconds[:] = [0.0] * len(executable.step_seconds)
            for _ in range(repeat):
                executable.run(values)
            start = time.perf_counter()
            for _ in range(repeat):
                spec.executable.run(values)
            total = (time.perf_counter() - start) / repeat
        finally:
            for v, value in zip(variables, saved):
                v._value = value
        return _profile.build(self.name, spec.program.steps, executable.step_seconds, repeat, total)

    def _bind(self, args, kwargs) -> list:
        # wrong calls are TypeErrors, as for any Python callable (and jax.jit's functions)
        if len(args) > len(self.inputs):
            raise TypeError(f"{self.name}() takes {len(self.inputs)} inputs "
                            f"({', '.join(repr(p.name) for p in self.inputs)}), got {len(args)}")
        values = list(args) + [_MISSING] * (len(self.inputs) - len(args))
        for key, value in kwargs.items():
            i = self._by_name.get(key)
            if i is None:
                raise TypeError(f"{self.name}() got an unexpected input {key!r} "
                                f"(inputs: {', '.join(repr(n) for n in self._by_name)})")
            if values[i] is not _MISSING:
                raise TypeError(f"{self.name}() got input {key!r} twice")
            values[i] = value
        missing = [p.name for p, v in zip(self.inputs, values) if v is _MISSING]
        if missing:
            raise TypeError(f"{self.name}() missing {len(missing)} input(s): "
                            f"{', '.join(repr(n) for n in missing)}")
        return [self._convert(p, v) for p, v in zip(self.inputs, values)]

    # -- compiling ----------------------------------------------------------------------------
    def _specialize(self, signature) -> Specialization:
        start = time.perf_counter()
        graph, inputs = self._graph_for(signature)
        reports = []
        if self.optimize and not self.check_numerics:  # checks name the ops as the user built them
            graph, reports = compile_cache.optimize(graph, _passes.run)
        steps = schedule(graph)
        program = Program(self.name, inputs, graph, steps, memory.plan(steps, graph), self._single, convert_fed_value,
                          self.check_numerics)
        program.partition = functools.partial(_partition, program)
        executable = self.backend.compile(program)
        spec = Specialization(signature, graph, reports, executable, time.perf_counter() - start,
                              program.memory, program)
        if signature is not None:
            self._cache[signature] = spec
        return spec

    def _graph_for(self, signature):
        """The source graph with each placeholder given its concrete shape (None: as built)."""
        if signature is None or all(p.shape == s for p, s in zip(self.inputs, signature)):
            return self.source_graph, self.inputs
        concrete = {}
        for p, shape in zip(self.inputs, signature):
            concrete[id(p)] = p if p.shape == shape else placeholder(shape, p.dtype, name=p.name)

        def visit(node, new_inputs):
            if id(node) in concrete:
                return concrete[id(node)]
            return rebuild(node, new_inputs)
        try:
            graph = self.source_graph.rewrite(visit)
        except ShapeError as exc:
            fed = ", ".join(f"{p.name}={format_shape(s)}" for p, s in zip(self.inputs, signature))
            raise ShapeError(f"{self.name}: the inputs' shapes do not fit together ({fed}): {exc}") from exc
        return graph, tuple(concrete[id(p)] for p in self.inputs)

    def _current(self) -> Specialization:
        if self._last is None:
            self._last = self._specialize(None)
        return self._last

    # -- inspection ---------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        """The optimized graph that runs (for the last call's shapes, or as built)."""
        return self._current().graph

    @property
    def source(self) -> str:
        """The generated code, as text."""
        return self._current().executable.source

    @property
    def kernels(self) -> list:
        """The fused kernels of the optimized graph (graphc.ir.fusion.FusionGroup: .nodes, .inputs,
        .outputs), in schedule order."""
        return [s for s in schedule(self.graph) if hasattr(s, "members")]

    def explain(self) -> str:
        """Each pass, what it changed, and the node counts (for the last call's shapes)."""
        spec = self._current()
        shapes = ("as built" if spec.signature is None else
                  ", ".join(f"{p.name}={format_shape(s)}" for p, s in zip(self.inputs, spec.signature)))
        lines = [f"Function {self.name!r}: {len(self.inputs)} inputs, {len(self.outputs)} outputs, "
                 f"{len(self.updates)} updates; backend {self.backend.name}; shapes {shapes}",
                 f"  source graph: {len(self.source_graph)} nodes"]
        if not self.optimize:
            lines.append("  optimize=False: no passes ran")
        elif self.check_numerics:
            lines.append("  check_numerics=True: no passes ran, every op's value is checked")
        for rep in spec.reports:
            stage = "final  " if rep.round is None else f"round {rep.round}"
            lines.append(f"  {stage}  {rep.name:<16} {rep.nodes_before:>6} → {rep.nodes_after:<6} "
                         f"{rep.seconds * 1e3:7.2f} ms  {rep.summary()}")
        ops = sum(1 for n in spec.graph.nodes if n.inputs or n.op == "fill" or n.op.startswith("random"))
        kernels = self.kernels
        fused_ops = sum(len(k.nodes) for k in kernels)
        lines.append(f"  optimized graph: {len(spec.graph)} nodes, {ops} operations "
                     f"({fused_ops} of them in {len(kernels)} fused kernels); "
                     f"compiled in {spec.seconds * 1e3:.1f} ms")
        lines.append(f"  memory plan: {spec.memory.describe()}")
        for k, kernel in enumerate(kernels):
            lines.append(f"  kernel {k}: {kernel.describe()}")
        in_kernels = {id(n) for k in kernels for n in k.nodes}
        notes = [note for rep in spec.reports for node, note in rep.notes if id(node) not in in_kernels]
        if notes:
            lines.append("  not fused:")
            lines.extend(f"    {note}" for note in notes)
        return "\n".join(lines)

    def _repr_svg_(self):
        return repr_svg(self)

    def __repr__(self):
        return (f"<Function {self.name!r} inputs=[{', '.join(p.name for p in self.inputs)}] "
                f"outputs={len(self.outputs)} updates={len(self.updates)} backend={self.backend.name}>")


_MISSING = object()


def _check_inputs(inputs):
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    seen = set()
    for p in inputs:
        if not isinstance(p, Tensor) or p.op != "placeholder":
            raise GraphError(f"function: inputs must be placeholders, got {p!r}")
        if p in seen:
            raise GraphError(f"function: placeholder {p.name!r} is listed twice among the inputs")
        seen.add(p)
    names = [p.name for p in inputs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise GraphError(f"function: two inputs share the name(s) {sorted(dupes)}; give placeholders distinct names")
    return inputs


def _check_updates(updates):
    out, seen = [], set()
    for pair in updates:
        try:
            var, value = pair
        except (TypeError, ValueError):
            raise GraphError(f"updates: expected (variable, new_value) pairs, got {pair!r}") from None
        if not isinstance(var, Variable):
            raise GraphError(f"updates: {var!r} is not a variable (made by gc.variable)")
        if var in seen:
            raise GraphError(f"updates: variable {var.name!r} is updated twice")
        seen.add(var)
        value = as_tensor(value, dtype=var.dtype) if not isinstance(value, Tensor) else value
        if value.ndim != var.ndim or any(d is not None and d != s for d, s in zip(value.shape, var.shape)):
            raise ShapeError(f"updates: variable {describe(var)} cannot take new value {describe(value)}")
        if value.dtype != var.dtype:
            if not np.can_cast(value.dtype, var.dtype, "same_kind"):
                raise DTypeError(f"updates: variable {describe(var)} cannot take new value {describe(value)}")
            value = cast(value, var.dtype)
        out.append((var, value))
    return out


def function(inputs, outputs, updates=None, backend="numpy", optimize=True, name=None,
             check_numerics=None) -> Function:
    """Compile ``outputs`` (a Tensor, or a list) as a function of the placeholders ``inputs``.

    ``updates``: (variable, new_value) pairs; every output and new value is computed from the
    values before the call, then all updates are applied together. ``check_numerics``: raise
    ``gc.NumericsError`` at the first op whose value holds NaN or Inf, naming it, its inputs
    and the line that built it (the graph then runs as built, unoptimized); None follows
    ``gc.debugging.enable_check_numerics()``.
    """
    return Function(inputs, outputs, updates=updates, backend=backend, optimize=optimize, name=name,
                    check_numerics=check_numerics)


def resolve_feeds(outputs, feed_dict) -> dict:
    """feed_dict keyed by placeholder or by name -> {placeholder: value}, checking coverage."""
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    needed = Graph([as_tensor(o) for o in outs]).placeholders()
    by_name = {p.name: p for p in needed}
    feeds = {}
    for key, value in (feed_dict or {}).items():
        if isinstance(key, Tensor):
            p = key
        elif key in by_name:
            p = by_name[key]
        else:
            raise GraphError(f"feed_dict: no placeholder named {key!r} in this graph (it has {sorted(by_name)})")
        feeds[p] = value
    missing = [p.name for p in needed if p not in feeds]
    if missing:
        raise GraphError(f"feed_dict: missing value(s) for placeholder(s) {missing}")
    return feeds


def _partition(program, chunked_inputs):
    """The regions that run ``program`` chunk by chunk when ``chunked_inputs`` (placeholder ->
    axis) arrive split: each op's batch rule over the graph, then the schedule cut by level."""
    layout = batch_axes.analyze(program.graph, chunked_inputs)
    return regions.plan(program, layout, chunked_inputs)


def evaluate(tensor, feed_dict=None, backend=None):
    """Compile ``tensor`` once and run it (``Tensor.eval``)."""
    feeds = resolve_feeds(tensor, feed_dict)
    placeholders = list(feeds)
    fn = Function(placeholders, tensor, backend=backend or "numpy")
    return fn(*(feeds[p] for p in placeholders))


def _tensor_eval(self, feed_dict=None, backend=None):
    """Compile and run this tensor once; ``feed_dict`` maps placeholders (or names) to values."""
    return evaluate(self, feed_dict, backend)


Tensor.eval = _tensor_eval   # the IR sits below the compiler: the compiler installs .eval()


def optimize(outputs, passes=None):
    """Run the pass pipeline (or the named passes) without compiling; returns the optimized
    Tensor (or list of Tensors, matching ``outputs``)."""
    single = isinstance(outputs, Tensor)
    outs = [outputs] if single else [as_tensor(o) for o in outputs]
    graph, _ = _passes.run(Graph(outs), passes)
    return graph.outputs[0] if single else list(graph.outputs)

