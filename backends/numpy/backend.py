"""Compile generated NumPy source and run it."""
from __future__ import annotations

import itertools
import linecache

from graphc.errors import ShapeError
from graphc.ops.registry import describe
from graphc.tensor import format_shape

from .codegen import generate

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

    def run(self, values):
        """Run on inputs already checked and converted."""
        return self._guarded(self.fn, values)

    def run_checked(self, values):
        """Check and convert the inputs inline, then run (only for all-static input shapes)."""
        return self._guarded(self.checked, values)

    def _guarded(self, fn, values):
        try:
            return fn(*values)
        except (ValueError, IndexError) as exc:
            node = self._failing_node(exc)
            if node is None:
                raise
            shapes = ", ".join(describe(i) for i in node.inputs)
            raise ShapeError(f"{node.op}: failed at run time computing {node.name!r} "
                             f"{format_shape(node.shape)} from {shapes}: {exc}") from exc

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

    def compile(self, program) -> NumpyExecutable:
        module = generate(program)
        return NumpyExecutable(module, f"<graphc-numpy-{program.name}-{next(_serial)}>")

    def asarray(self, value):
        return value


__all__ = ["NumpyBackend", "NumpyExecutable"]
