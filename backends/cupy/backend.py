"""The CuPy backend: compile a scheduled graph to generated CUDA kernels plus Python host
code over CuPy, and run it on the GPU."""
from __future__ import annotations

import itertools
import linecache
import sys


from graphc.errors import GraphError
from graphc.ir.tensor import format_shape

from graphc.backends.cupy import host_codegen, runtime

_serial = itertools.count()


class CupyExecutable:
    """A compiled program: ``run(values)`` takes NumPy or CuPy inputs and returns CuPy arrays."""

    checked = None  # no inline-checked entry: Function converts inputs through convert_input

    def __init__(self, module: host_codegen.HostModule, namespace: dict, filename: str):
        self.source = module.source
        self.kernels = module.kernels
        self._module = module
        code = compile(module.source, filename, "exec")
        linecache.cache[filename] = (len(module.source), None, module.source.splitlines(True), filename)
        exec(code, namespace)  # noqa: S102 - our own generated code; compiles the CUDA kernels
        self.fn = namespace[module.fn_name]

    @property
    def cuda_sources(self) -> list:
        """The CUDA C++ source of each distinct kernel."""
        return [k.source for k in self.kernels]

    def run(self, values):
        return self.fn(*values)

    def explain_failure(self, exc):
        return exc


class UnspecializedExecutable:
    """A program whose shapes are known only at call time: CUDA kernels are generated for
    concrete shapes, so there is nothing to show or run until a call fixes them (a Function
    compiles one specialization per input shapes; this one is only for inspection)."""

    checked = None

    def __init__(self, program, unknown):
        listing = ", ".join(f"{t.name!r} {format_shape(t.shape)}" for t in unknown[:5])
        self.source = (f"# graphc's CuPy backend, {program.name!r}: the CUDA kernels are generated for "
                       f"concrete shapes,\n# and these are known only at call time ({listing}"
                       f"{', ...' if len(unknown) > 5 else ''}).\n# Call the function once, then read "
                       f".source again.\n")
        self.kernels = []
        self.cuda_sources = []

    def run(self, values):
        raise GraphError("internal: an unspecialized CuPy program was run")

    def explain_failure(self, exc):
        return exc

    @property
    def fn(self):
        raise GraphError("internal: an unspecialized CuPy program was run")


class CupyBackend:
    name = "cupy"

    def unavailable_reason(self):
        return runtime.unavailable_reason()

    def compile(self, program):
        unknown = [n for n in program.graph.nodes if any(d is None for d in n.shape)]
        if unknown:
            return UnspecializedExecutable(program, unknown)
        module = host_codegen.generate(program)
        return CupyExecutable(module, runtime.namespace(module.bindings),
                              f"<graphc-cupy-{program.name}-{next(_serial)}>")

    def convert_input(self, p, value):
        """A fed value checked against placeholder ``p``: CuPy arrays stay on the device (cast
        there when the dtype differs but the kind allows it); anything else is checked and
        converted on the host as for the NumPy backend, and copied to the device by the
        generated code."""
        from graphc.plan.feeds import check_fed_array, convert as _convert
        cupy = sys.modules.get("cupy")
        if cupy is None or not isinstance(value, cupy.ndarray):
            return _convert(p, value)
        return check_fed_array(p, value)


__all__ = ["CupyBackend", "CupyExecutable"]
