"""Fused kernels to CUDA C++: one source per graphc FusionGroup.

A kernel (graphc/ir/fusion.py: members of one iteration shape, external inputs that may
broadcast, outputs, reductions) becomes one source holding

* per *pass*, an **element function** (``__host__ __device__``): given a flat index into the
  iteration shape it loads each input through that input's own broadcast strides, computes
  every member from its op's ``scalar["cuda"]`` template into a typed local (so every value is
  rounded or wrapped to its dtype exactly as NumPy's one-op-at-a-time loops do), stores the
  kernel's full-size outputs and hands the values its reductions read back to the caller;
* the ``extern "C" __global__`` **entry points** that call it: a grid-stride loop over all
  elements for a kernel without reductions; otherwise one launch per distinct set of reduced
  axes, with a block (or several) per output element reducing through shared memory, and a
  small combining entry point when several blocks share an output element.

Shapes are baked in as constants: a Program is specialized to its input shapes already, and
division by a constant is a multiply and a shift. The element and index functions are
host-callable, so tests run the generated scalar code on the CPU against NumPy.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re

import numpy as np

from graphc.errors import GraphError, ShapeError
from graphc.ir.fusion import FusionGroup
from graphc.ir.opdef import OPS, reduction_identity
from graphc.ir.tensor import Tensor, format_shape

from graphc.backends.cupy.cuda_types import C_TYPES, c_type, index_type, literal
from graphc.backends.cupy.preamble import PREAMBLE

# C-family code both backends compile: the CPU (C) backend defines GRAPHC_HOST_ONLY and wraps
# the element functions in its own OpenMP loops instead of these CUDA entry points
HOST_ONLY_GUARD = "#ifndef GRAPHC_HOST_ONLY"
BLOCK = 256              # threads per block (a power of two: the tree reduction halves it)
ELEMENTS_PER_THREAD = 16  # below this many reduced elements per thread, one block per row
MAX_CHUNKS = 1024        # blocks sharing one output element, at most


@dataclasses.dataclass(frozen=True)
class Param:
    """One pointer argument of an entry point."""
    name: str            # in0, out0, red0, part0
    dtype: np.dtype
    shape: tuple
    tensor: Tensor | None = None  # the graph value it holds (None for partial sums)

    @property
    def ctype(self) -> str:
        return c_type(self.dtype)


@dataclasses.dataclass(frozen=True)
class Reduction:
    node: Tensor
    op: str              # reduce_sum, reduce_mean, reduce_max, reduce_min
    acc_dtype: np.dtype  # accumulator: the reduction's result dtype
    output: Param        # where the result goes
    identity: str        # C literal the accumulator starts from
    source: str          # local name of the member it reads


@dataclasses.dataclass(frozen=True)
class Pass:
    """One launch (plus its combining launch when ``chunks`` > 1)."""
    entry: str           # __global__ function
    element: str         # __host__ __device__ element function
    index: str | None    # (row, j) -> flat index, for reduction passes
    axes: tuple | None   # reduced axes; None: the elementwise pass
    rows: int            # output elements (reduction) or elements (elementwise)
    length: int          # reduced elements per output element (1 for elementwise)
    block: int
    grid: tuple
    chunks: int
    combine: str | None
    stores: bool         # stores the kernel's full-size outputs
    reductions: tuple
    partials: tuple      # Params of the (chunks, rows) partial-result buffers

    def arguments(self, kernel: "CudaKernel") -> list:
        """The entry point's pointer arguments, in order."""
        args = list(kernel.inputs)
        if self.stores:
            args += kernel.outputs
        return args + (list(self.partials) if self.chunks > 1 else [r.output for r in self.reductions])


@dataclasses.dataclass
class CudaKernel:
    name: str
    source: str          # the full text: preamble, comments, functions
    code: str            # the same without comments: what is compiled and hashed
    kernel: FusionGroup
    inputs: list         # Params, in the order the host passes them
    outputs: list        # Params of the full-size outputs
    reductions: list     # Params of the reduction results
    passes: list
    inlined: dict        # id(constant input) -> its literal
    index_ctype: str

    @property
    def entries(self) -> list:
        names = []
        for p in self.passes:
            names.append(p.entry)
            if p.combine:
                names.append(p.combine)
        return names


# -- which dtype each operand is converted to before the template sees it ------------------

def operand_dtypes(node: Tensor) -> list:
    """The dtype NumPy's loop computes ``node`` in, per input: the result dtype (add of
    int32 and float32 computes in float64; true division of ints in float64), or for ops
    with a bool result the operands' common dtype (a comparison of float32 with int64
    compares in float64). ``cast`` reads its input as is; ``where`` its condition as bool."""
    if node.op == "cast":
        return [node.inputs[0].dtype]
    if node.op == "where":
        return [np.dtype(bool), node.dtype, node.dtype]
    if node.dtype.kind == "b":
        common = np.result_type(*(i.dtype for i in node.inputs))
        return [common] * len(node.inputs)
    return [node.dtype] * len(node.inputs)


def cuda_template(node: Tensor) -> str:
    od = OPS[node.op]
    template = (od.scalar or {}).get("cuda")
    if not template:
        raise GraphError(f"{node.op}: no CUDA template (scalar={{'cuda': ...}} in its defop), so "
                         f"{node.name!r} cannot be lowered to a CUDA kernel")
    return template


def render_member(node: Tensor, operands: list) -> str:
    """The op's CUDA template filled with operand expressions (already converted)."""
    od = OPS[node.op]
    fields = {k: _attr_literal(v) for k, v in node.attrs.items()}
    fields.update(zip(od.args, operands))
    fields["T"] = c_type(node.dtype)
    return cuda_template(node).format(**fields)


_DTYPE_NAMES = frozenset(C_TYPES)


def _attr_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return literal(value, np.float64)
    if isinstance(value, (int, np.integer)):
        return literal(value, np.int64)
    if isinstance(value, np.dtype) or (type(value) is str and value in _DTYPE_NAMES):
        return np.dtype(value).name  # cast's dtype: not used by any template
    raise GraphError(f"a {type(value).__name__} attribute cannot be written into CUDA C")


# -- generation ---------------------------------------------------------------------------

def single_op_kernel(node: Tensor) -> FusionGroup:
    """A FusionGroup of one elementwise node (an op the fusion passes left alone)."""
    inputs = list(dict.fromkeys(node.inputs))
    return FusionGroup((node,), tuple(inputs), (node,))


def generate(kernel: FusionGroup, label: str = "") -> CudaKernel:
    """The CUDA source of ``kernel``. ``label``: how the host code refers to it (comments)."""
    return _Generator(kernel, label).run()


class _Generator:
    def __init__(self, kernel: FusionGroup, label: str):
        self.kernel = kernel
        self.label = label
        self.shape = tuple(kernel.shape)
        if any(d is None for d in self.shape):
            raise GraphError(f"CUDA kernels are generated for concrete shapes; kernel "
                             f"{kernel.describe()} has sizes known only at run time")
        self.size = math.prod(self.shape)
        self.ndim = len(self.shape)
        self.strides = [math.prod(self.shape[d + 1:]) for d in range(self.ndim)]
        for n in kernel.nodes:
            if n is not kernel.anchor:
                c_type(n.dtype)  # raises for dtypes without a C type (float16)

    # -- parameters ---------------------------------------------------------------------
    def run(self) -> CudaKernel:
        k = self.kernel
        inlined, inputs = {}, []
        for t in k.inputs:
            if t.op == "constant" and t.size == 1:
                inlined[id(t)] = literal(t.attrs["value"].reshape(()).item(), t.dtype)
            else:
                c_type(t.dtype)
                inputs.append(Param(f"in{len(inputs)}", t.dtype, tuple(t.shape), t))
        reduced = {id(r) for r in k.reductions}
        outputs = [Param(f"out{i}", o.dtype, tuple(o.shape), o)
                   for i, o in enumerate(o for o in k.outputs if id(o) not in reduced)]
        results = [Param(f"red{i}", r.dtype, tuple(r.shape), r) for i, r in enumerate(k.reductions)]
        self.index_ctype = index_type(self.size)
        self.inputs, self.outputs, self.results, self.inlined = inputs, outputs, results, inlined

        body, passes = [], []
        if not k.reductions:
            passes.append(self._elementwise_pass(body))
        else:
            groups: dict[tuple, list] = {}
            for r, param in zip(k.reductions, results):
                groups.setdefault(tuple(r.attrs["axis"]), []).append((r, param))
            for number, (axes, members) in enumerate(groups.items()):
                passes.append(self._reduction_pass(body, number, axes, members, stores=number == 0))
        source = self._assemble(body)
        code = strip_comments(source)
        name = "gc_" + hashlib.sha1(code.encode()).hexdigest()[:12]
        source, code = source.replace("@K@", name), code.replace("@K@", name)
        passes = [_renamed(p, name) for p in passes]
        return CudaKernel(name, source, code, k, inputs, outputs, results, passes, inlined,
                          self.index_ctype)

    # -- the element function ------------------------------------------------------------
    def _element_function(self, body, fname, stores: bool, reads: list) -> None:
        """``reads``: (member, accumulator dtype) pairs handed back through out-parameters."""
        k, idx = self.kernel, self.index_ctype
        params = [f"{idx} i"]
        params += [f"const {p.ctype}* __restrict__ {p.name}" for p in self.inputs]
        if stores:
            params += [f"{p.ctype}* __restrict__ {p.name}" for p in self.outputs]
        params += [f"{c_type(acc)}& r{n}" for n, (_, acc) in enumerate(reads)]
        body.append(f"// one element of {format_shape(self.shape)}: {' → '.join(m.op for m in k.members)}")
        body.append(f"__host__ __device__ inline void {fname}(")
        body.append("    " + ",\n    ".join(params) + ")")
        body.append("{")
        lines = []
        axes_needed = set()
        loads = []
        local = {}
        for p in self.inputs:
            offset = self._offset(p.tensor, axes_needed)
            local[id(p.tensor)] = f"a{p.name[2:]}"
            loads.append(f"    const {p.ctype} a{p.name[2:]} = {p.name}[{offset}];"
                         f"  // {_describe(p.tensor)}")
        for d in sorted(axes_needed):
            lines.append(f"    const {idx} d{d} = {self._axis_index('i', d)};"
                         f"  // axis {d} of {format_shape(self.shape)}")
        lines += loads
        for t in k.inputs:
            if id(t) in self.inlined:
                local[id(t)] = self.inlined[id(t)]
        for number, m in enumerate(k.members):
            operands = []
            for i, want in zip(m.inputs, operand_dtypes(m)):
                ref = local[id(i)]
                operands.append(ref if i.dtype == want else f"(({c_type(want)}){ref})")
            local[id(m)] = f"v{number}"
            lines.append(f"    const {c_type(m.dtype)} v{number} = {render_member(m, operands)};"
                         f"  // {m.op} {m.name!r}")
        if stores:
            for p in self.outputs:
                lines.append(f"    {p.name}[i] = {local[id(p.tensor)]};  // {p.tensor.name!r}")
        for n, (member, acc) in enumerate(reads):
            ref = local[id(member)]
            cast = ref if member.dtype == acc else f"(({c_type(acc)}){ref})"
            lines.append(f"    r{n} = {cast};  // read by a reduction: {member.name!r}")
        body.extend(lines)
        body.append("}")
        body.append("")

    def _offset(self, t: Tensor, axes_needed: set) -> str:
        """Index expression of ``t``'s element at the kernel's flat index ``i``."""
        if t.size == 1:
            return "0"
        if tuple(t.shape) == self.shape:
            return "i"
        lead = self.ndim - t.ndim
        terms = []
        for k, dim in enumerate(t.shape):
            if dim == 1:
                continue  # broadcast: stride 0
            stride = math.prod(t.shape[k + 1:])
            axes_needed.add(lead + k)
            terms.append(f"d{lead + k}" if stride == 1 else f"d{lead + k} * {stride}")
        return " + ".join(terms)

    def _axis_index(self, flat: str, d: int) -> str:
        """Index along axis ``d`` of the flat index ``flat`` (row-major)."""
        stride = self.strides[d]
        expr = flat if stride == 1 else f"{flat} / {stride}"
        return expr if d == 0 else f"({expr}) % {self.shape[d]}"

    # -- passes ---------------------------------------------------------------------------
    def _elementwise_pass(self, body) -> Pass:
        idx = self.index_ctype
        element = "@K@_element"
        self._element_function(body, element, True, [])
        args = self._arguments(stores=True, reductions=[])
        block = BLOCK
        grid = max(1, min(-(-self.size // block), 2**31 - 1))
        body.append(f"// {self.size} elements, one per thread (grid-stride loop)")
        body.append(HOST_ONLY_GUARD)   # the C backend compiles the element function alone
        body.append('extern "C" __global__ void @K@(')
        body.append("    " + ",\n    ".join(args) + ")")
        body.append("{")
        body.append(f"    for ({idx} i = ({idx})blockIdx.x * blockDim.x + threadIdx.x; i < {self.size}; "
                    f"i += ({idx})gridDim.x * blockDim.x) {{")
        call = ", ".join(["i"] + [p.name for p in self.inputs] + [p.name for p in self.outputs])
        body.append(f"        {element}({call});")
        body.append("    }")
        body.append("}")
        body.append("#endif")
        return Pass("@K@", element, None, None, self.size, 1, block, (grid,), 1, None, True, (), ())

    def _reduction_pass(self, body, number, axes, members, stores) -> Pass:
        idx = self.index_ctype
        kept = [d for d in range(self.ndim) if d not in axes]
        rows = math.prod(self.shape[d] for d in kept)
        length = math.prod(self.shape[d] for d in axes)
        reads, reductions = [], []
        for r, param in members:
            if length == 0 and r.op in ("reduce_max", "reduce_min"):
                raise ShapeError(f"{r.op}: zero-size array to reduction operation over axes {axes} "
                                 f"of {_describe(r.inputs[0])}, which has no identity")
            acc = r.dtype
            reads.append((r.inputs[0], acc))
            reductions.append(Reduction(r, r.op, acc, param, _identity(r.op, acc), ""))
        element = f"@K@_element{number}"
        index = f"@K@_index{number}"
        self._element_function(body, element, stores, reads)
        self._index_function(body, index, kept, list(axes))

        block = 32
        while block < min(length, BLOCK):
            block *= 2
        chunks = 1
        if rows < 64 and length > block * ELEMENTS_PER_THREAD:
            chunks = min(-(-length // (block * ELEMENTS_PER_THREAD)), MAX_CHUNKS)
        partials = tuple(Param(f"part{n}", red.acc_dtype, (chunks, rows)) for n, red in enumerate(reductions))
        entry = f"@K@_reduce{number}"
        destinations = partials if chunks > 1 else [red.output for red in reductions]
        args = [f"const {p.ctype}* __restrict__ {p.name}" for p in self.inputs]
        if stores:
            args += [f"{p.ctype}* __restrict__ {p.name}" for p in self.outputs]
        args += [f"{p.ctype}* __restrict__ {p.name}" for p in destinations]
        what = ", ".join(f"{red.op} {red.node.name!r}" for red in reductions)
        body.append(f"// {what}: {rows} output element(s), each reducing {length} element(s) over "
                    f"axes {tuple(axes)} of {format_shape(self.shape)};")
        body.append(f"// block row blockIdx.x, {chunks} block(s) of up to {block} threads per row")
        body.append(f'extern "C" __global__ void {entry}(')
        body.append("    " + ",\n    ".join(args) + ")")
        body.append("{")
        for n, red in enumerate(reductions):
            body.append(f"    __shared__ {c_type(red.acc_dtype)} share{n}[{block}];")
        body.append(f"    const {idx} row = blockIdx.x;")
        for n, red in enumerate(reductions):
            body.append(f"    {c_type(red.acc_dtype)} acc{n} = {red.identity};  // {red.op}")
        body.append(f"    for ({idx} j = ({idx})blockIdx.y * blockDim.x + threadIdx.x; j < {length}; "
                    f"j += ({idx})gridDim.y * blockDim.x) {{")
        for n, red in enumerate(reductions):
            body.append(f"        {c_type(red.acc_dtype)} r{n};")
        call = ([f"{index}(row, j)"] + [p.name for p in self.inputs]
                + ([p.name for p in self.outputs] if stores else []) + [f"r{n}" for n in range(len(reductions))])
        body.append(f"        {element}({', '.join(call)});")
        for n, red in enumerate(reductions):
            body.append(f"        acc{n} = {combine_expr(red.op, f'acc{n}', f'r{n}')};")
        body.append("    }")
        for n in range(len(reductions)):
            body.append(f"    share{n}[threadIdx.x] = acc{n};")
        body.append("    __syncthreads();")
        body.append("    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {")
        body.append("        if (threadIdx.x < half) {")
        for n, red in enumerate(reductions):
            body.append(f"            share{n}[threadIdx.x] = "
                        f"{combine_expr(red.op, f'share{n}[threadIdx.x]', f'share{n}[threadIdx.x + half]')};")
        body.append("        }")
        body.append("        __syncthreads();")
        body.append("    }")
        body.append("    if (threadIdx.x == 0) {")
        for n, red in enumerate(reductions):
            if chunks > 1:
                body.append(f"        part{n}[({idx})blockIdx.y * {rows} + row] = share{n}[0];")
            else:
                body.append(f"        {red.output.name}[row] = {finish_expr(red, f'share{n}[0]', length)};"
                            f"  // {red.node.name!r}")
        body.append("    }")
        body.append("}")
        body.append("")
        combine = None
        if chunks > 1:
            combine = f"@K@_combine{number}"
            args = ([f"const {p.ctype}* __restrict__ {p.name}" for p in partials]
                    + [f"{r.output.ctype}* __restrict__ {r.output.name}" for r in reductions])
            body.append(f"// combines the {chunks} partial results of each of the {rows} output element(s)")
            body.append(f'extern "C" __global__ void {combine}(')
            body.append("    " + ",\n    ".join(args) + ")")
            body.append("{")
            body.append(f"    const {idx} row = ({idx})blockIdx.x * blockDim.x + threadIdx.x;")
            body.append(f"    if (row >= {rows}) return;")
            for n, red in enumerate(reductions):
                body.append(f"    {c_type(red.acc_dtype)} acc{n} = part{n}[row];")
                body.append(f"    for (int c = 1; c < {chunks}; ++c) acc{n} = "
                            f"{combine_expr(red.op, f'acc{n}', f'part{n}[c * {rows} + row]')};")
                body.append(f"    {red.output.name}[row] = {finish_expr(red, f'acc{n}', length)};"
                            f"  // {red.node.name!r}")
            body.append("}")
            body.append("")
        grid = (max(rows, 1), chunks)
        return Pass(entry, element, index, tuple(axes), rows, length, block, grid, chunks, combine,
                    stores, tuple(reductions), partials)

    def _index_function(self, body, fname, kept, axes) -> None:
        idx = self.index_ctype
        body.append(f"// flat index into {format_shape(self.shape)} of output element `row` "
                    f"(kept axes {tuple(kept)}) and reduced element `j` (axes {tuple(axes)})")
        body.append(f"__host__ __device__ inline {idx} {fname}({idx} row, {idx} j)")
        body.append("{")
        terms = []
        for flat, dims in (("row", kept), ("j", axes)):
            for pos, d in enumerate(dims):
                inner = math.prod(self.shape[e] for e in dims[pos + 1:])
                expr = flat if inner == 1 else f"{flat} / {inner}"
                if pos > 0:
                    expr = f"({expr}) % {self.shape[d]}"
                body.append(f"    const {idx} d{d} = {expr};  // axis {d}")
                terms.append(f"d{d}" if self.strides[d] == 1 else f"d{d} * {self.strides[d]}")
        body.append(f"    return {' + '.join(terms) or '0'};")
        body.append("}")
        body.append("")

    def _arguments(self, stores, reductions) -> list:
        args = [f"const {p.ctype}* __restrict__ {p.name}" for p in self.inputs]
        if stores:
            args += [f"{p.ctype}* __restrict__ {p.name}" for p in self.outputs]
        return args

    def _assemble(self, body) -> str:
        k = self.kernel
        head = [f"// graphc CUDA kernel @K@{f' ({self.label})' if self.label else ''}: {k.describe()}"]
        if k.anchor is not None:
            head.append(f"//   in0 is the result of the matmul {k.anchor.name!r} this kernel finishes")
        for p in self.inputs:
            head.append(f"//   {p.name}: {_describe(p.tensor)}")
        for t in k.inputs:
            if id(t) in self.inlined:
                head.append(f"//   constant {t.name!r} inlined as {self.inlined[id(t)]}")
        for p in self.outputs + self.results:
            head.append(f"//   {p.name}: {_describe(p.tensor)}")
        return PREAMBLE + "\n" + "\n".join(head + [""] + body) + "\n"


def _describe(t: Tensor) -> str:
    return f"{t.name!r} {format_shape(t.shape)} {t.dtype}"


def _identity(op: str, dtype: np.dtype) -> str:
    return literal(reduction_identity(OPS[op].monoid, dtype).item(), dtype)


def combine_expr(op: str, a: str, b: str) -> str:
    """C expression folding ``b`` into the accumulator ``a`` of reduction ``op``."""
    if op in ("reduce_sum", "reduce_mean"):
        return f"{a} + {b}"
    return f"gc_maximum({a}, {b})" if op == "reduce_max" else f"gc_minimum({a}, {b})"


def finish_expr(red: Reduction, value: str, length: int) -> str:
    """C expression of the result from the accumulated ``value`` (a mean divides)."""
    if red.op == "reduce_mean":
        return f"{value} / {literal(length, red.acc_dtype)}"
    return value


def _renamed(p: Pass, name: str) -> Pass:
    fix = (lambda s: s.replace("@K@", name) if s else s)
    return dataclasses.replace(p, entry=fix(p.entry), element=fix(p.element), index=fix(p.index),
                               combine=fix(p.combine))


_COMMENT = re.compile(r"//[^\n]*")


def strip_comments(source: str) -> str:
    """The code without // comments and blank lines: the same structure always gives the same
    text (comments name graph nodes, which differ between two builds of one graph)."""
    lines = (_COMMENT.sub("", line).rstrip() for line in source.splitlines())
    return "\n".join(line for line in lines if line) + "\n"


__all__ = ["CudaKernel", "Pass", "Param", "generate", "operand_dtypes", "single_op_kernel"]
