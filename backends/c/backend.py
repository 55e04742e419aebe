"""``backend="c"``: the NumPy backend's host program, with every large fused elementwise kernel
compiled by the system C++ compiler into one shared object per Function."""
from __future__ import annotations

import itertools

from graphc.backends.c import compiler, kernels
from graphc.backends.numpy import allocator
from graphc.backends.numpy.backend import NumpyExecutable
from graphc.backends.numpy.codegen import generate
from graphc.errors import BackendUnavailable

_serial = itertools.count()


class CBackend:
    name = "c"

    def unavailable_reason(self):
        try:
            compiler.toolchain()
        except compiler.CompilerMissing as exc:
            return str(exc)
        return None

    def compile(self, program, profile=False) -> NumpyExecutable:
        allocator.keep_freed_memory()
        source, compiled = kernels.lower(program.steps)
        if compiled:
            try:
                library = compiler.build(source)
            except compiler.CompileFailed as exc:
                raise BackendUnavailable(f"backend 'c': the C++ compiler rejected the code generated for "
                                         f"{program.name!r}: {exc}") from None
            for kernel in compiled.values():
                kernel.bind(library)
        module = generate(program, profile, compiled_groups=compiled)
        executable = NumpyExecutable(module, f"<graphc-c-{program.name}-{next(_serial)}>")
        if compiled:
            executable.source = (module.source + f"\n# ---- C++ of the compiled kernels "
                                 f"({compiler.describe()}) ----\n" + source)
        return executable

    def asarray(self, value):
        return value
