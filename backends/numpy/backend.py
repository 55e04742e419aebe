"""Compile generated NumPy source and run it."""
from __future__ import annotations

import itertools
import linecache

from graphc.errors import ShapeError
from graphc.ir.opdef import describe
from graphc.ir.tensor import format_shape

from graphc.backends.numpy import allocator
from graphc.backends.numpy.codegen import generate

_serial = itertools.count()


class NumpyExecutable:
    def __init__(self, module, filename: str):
        self.source = module.source
        self._module = module
        self._filename = filename
        code = compile(module.source, filename, "exec")
        # register the source so tracebacks and debuggers show the generated lines
        linecache.cache[filename] = (len(module.source), None, module.source.splitlines(True), filename)
        exec(code, module.namespace)  # noqa: S102 - our own generated code
        self.fn = module.namespace[module.fn_name]
        self.checked = module.namespace[module.entry] if module.entry else None
        self.step_seconds = module.namespace.get("_step_seconds")  # None unless profiling

    def run(self, values):
        """Run on inputs already checked and converted."""
        try:
            return self.fn(*values)
        except (ValueError, IndexError) as exc:
            failure = self.explain_failure(exc)
            if failure is exc:
                raise
            raise failure from exc

    def explain_failure(self, exc):
        """A NumPy error raised inside the generated code, as a ShapeError naming the op that
        failed (the error itself when it did not come from an op's line)."""
        node = self._failing_node(exc)
        if node is None or isinstance(exc, ShapeError):
            return exc
        shapes = ", ".join(describe(i) for i in node.inputs)
        return ShapeError(f"{node.op}: failed at run time computing {node.name!r} "
                          f"{format_shape(node.shape)} from {shapes}: {exc}")

    def _failing_node(self, exc):
        tb = exc.__traceback__
        node = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                node = self._module.line_nodes.get(tb.tb_lineno)
            tb = tb.tb_next
        return node


class NumpyBackend:
    name = "numpy"

    def unavailable_reason(self):
        return None  # NumPy is a dependency: always usable

    def compile(self, program, profile=False) -> NumpyExecutable:
        """``profile``: the code also times each step (``step_seconds`` per step, summed)."""
        allocator.keep_freed_memory()   # once per process, when NumPy steps are first compiled
        module = generate(program, profile)
        return NumpyExecutable(module, f"<graphc-numpy-{program.name}-{next(_serial)}>")

    def asarray(self, value):
        return value


__all__ = ["NumpyBackend", "NumpyExecutable"]
