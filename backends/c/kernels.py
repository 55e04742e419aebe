"""Fused elementwise kernels as C++ over OpenMP: the CUDA emitter's element function (the same
text the GPU runs, loads through broadcast strides, typed locals per op, NumPy's rounding and
wrap-around) wrapped in a ``parallel for`` over the elements instead of a CUDA grid.

A group is compiled when it is elementwise without reductions or a matmul anchor, its shape is
static and large enough to gain (smaller ones stay NumPy lines in the host code).
"""
from __future__ import annotations

import ctypes
import math

import numpy as np

from graphc.backends.c import vector_math
from graphc.backends.cupy import cuda_codegen
from graphc.backends.numpy.threads import thread_count
from graphc.errors import GraphError
from graphc.ir.fusion import FusionGroup

# below this many elements a kernel stays NumPy: a call through ctypes costs a few µs
MIN_ELEMENTS = 1 << 14
# below this many elements a compiled kernel runs on one thread (a parallel region costs µs)
PARALLEL_MIN_ELEMENTS = 1 << 16

PRELUDE = """// graphc C backend: element functions from the C-family (CUDA) emitter, OpenMP loops
#define GRAPHC_HOST_ONLY
#include <cmath>
#include <stdint.h>
#include <string.h>
#define __host__
#define __device__
""" + vector_math.SOURCE + """
// the templates call C's names: float arguments take the vectorizable exp and tanh above and
// C++'s float overloads of the rest (expf for a float); doubles take the C library's
using gc_cpu::exp; using gc_cpu::tanh;
using std::expm1; using std::log; using std::log1p; using std::sqrt;
using std::sin; using std::cos; using std::fabs; using std::ceil; using std::floor; using std::pow;
"""


def eligible(step) -> bool:
    if not isinstance(step, FusionGroup) or step.anchor is not None or step.reductions:
        return False
    shape = tuple(step.shape)
    return all(d is not None for d in shape) and math.prod(shape) >= MIN_ELEMENTS


class CKernel:
    """One fused group: its CUDA-family source, the C entry point, and the host-side call."""

    def __init__(self, step):
        self.step = step
        self.cuda = cuda_codegen.generate(step)   # GraphError when a dtype or op has no C form
        self.name = self.cuda.name + "_cpu"
        self.size = math.prod(step.shape)
        positions = {id(t): k for k, t in enumerate(step.inputs)}
        self.read = [positions[id(p.tensor)] for p in self.cuda.inputs]
        self.outputs = [(p.shape, p.dtype) for p in self.cuda.outputs]
        self.fn = None

    def entry_source(self) -> str:
        params = [f"const {p.ctype}* __restrict__ {p.name}" for p in self.cuda.inputs]
        params += [f"{p.ctype}* __restrict__ {p.name}" for p in self.cuda.outputs]
        call = ", ".join(["i"] + [p.name for p in self.cuda.inputs + self.cuda.outputs])
        element = self.cuda.passes[0].element
        return (f'extern "C" void {self.name}(int threads, {", ".join(params)})\n{{\n'
                f"    #pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1)\n"
                f"    for ({self.cuda.index_ctype} i = 0; i < {self.size}; ++i) {{\n"
                f"        {element}({call});\n    }}\n}}\n")

    def bind(self, library) -> None:
        fn = getattr(library, self.name)
        fn.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * (len(self.cuda.inputs) + len(self.outputs))
        fn.restype = None
        self.fn = fn
        self.threads = thread_count() if self.size >= PARALLEL_MIN_ELEMENTS else 1

    def __call__(self, *inputs):
        arrays = [np.ascontiguousarray(inputs[k], dtype=p.dtype) for k, p in zip(self.read, self.cuda.inputs)]
        outs = [np.empty(shape, dtype) for shape, dtype in self.outputs]
        self.fn(self.threads, *(a.ctypes.data for a in arrays), *(o.ctypes.data for o in outs))
        return outs


def lower(steps) -> tuple:
    """The C++ source for every eligible group of ``steps`` and their CKernels (by id(step))."""
    kernels, sources = {}, {}
    for step in steps:
        if not eligible(step):
            continue
        try:
            kernel = CKernel(step)
        except GraphError:
            continue   # an op without a C form: the group stays NumPy
        kernels[id(step)] = kernel
        sources.setdefault(kernel.cuda.name, kernel.cuda.source)
    if not kernels:
        return "", {}
    parts = [PRELUDE] + list(sources.values()) + [k.entry_source() for k in kernels.values()]
    return "\n".join(parts), kernels
