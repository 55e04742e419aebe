"""Emit Python source over NumPy for a scheduled graph: one line per op, in schedule order.

The output is a plain module-level function ``def <name>(inputs...)`` that a person can read,
run and diff (``Function.source``). Constants, variables and random generators live in the
function's namespace under short names listed in the header comment.
"""
from __future__ import annotations

import math
import time

import numpy as np

from graphc.backends.numpy import blas_threads
from graphc.plan import numerics
from graphc.backends.host_code import HostFunction
from graphc.codetext import Name, comment
from graphc.ir.fusion import FusionGroup
from graphc.backends.numpy import kernels
from graphc.backends.numpy.kernels import fast_ufuncs, gemm
from graphc.ir.opdef import OPS
from graphc.ir.tensor import format_shape

from graphc.backends.numpy import fused
from graphc.backends.numpy.threads import run_shares

_RESERVED = {"np", "run_shares"}  # namespace entries besides the ops' helpers

# 0-d values run as NumPy scalars, where Python's operators cost a tenth of a ufunc call
# and give the same result (same dtype rules, inf/nan and warnings included)
_INFIX = {
    "add": "{x} + {y}", "sub": "{x} - {y}", "mul": "{x} * {y}", "div": "{x} / {y}",
    "neg": "-{x}", "less": "{x} < {y}", "less_equal": "{x} <= {y}", "greater": "{x} > {y}",
    "greater_equal": "{x} >= {y}",
}


def _describe_value(value: np.ndarray) -> str:
    if value.size <= 4:
        return np.array2string(value, separator=", ").replace("\n", "")
    return f"array{format_shape(value.shape)}"


class Module:
    """The generated source, the namespace it runs in, and which node each line computes."""

    def __init__(self, source: str, namespace: dict, line_nodes: dict, fn_name: str, entry=None):
        self.entry = entry  # name of the checked entry point, for all-static input shapes
        self.source = source
        self.namespace = namespace
        self.line_nodes = line_nodes
        self.fn_name = fn_name


def generate(program, profile=False, compiled_groups=None) -> Module:
    """The module for ``program``. ``profile``: the function also adds each step's wall time
    to ``_step_seconds[step]`` in its namespace (for ``Function.profile``).
    ``compiled_groups``: id(fusion group) -> a callable another backend compiled for it (the C
    backend's kernels), called with the group's inputs and returning its outputs."""
    compiled_groups = compiled_groups or {}
    fn = HostFunction(program, _RESERVED)
    names, body, header, fresh = fn.names, fn.body, fn.header, fn.fresh
    namespace: dict = {"np": np}
    for p, name in zip(program.inputs, fn.name_inputs()):
        header.append(f"#   {name}: input {comment(p.name)} {format_shape(p.shape)} {p.dtype}")
    definitions: list[tuple[str, object]] = []  # kernel drivers and block functions, before it

    def emit_node(node):
        if id(node) in names:
            return
        if node.op == "placeholder":
            fn.not_an_input(node)
        if node.op == "constant":
            name = fresh("c")
            value = node.attrs["value"]
            namespace[name] = value[()] if value.shape == () else value  # 0-d: a NumPy scalar
            header.append(f"#   {name} = {_describe_value(node.attrs['value'])}  ({node.dtype}, {comment(node.name)})")
        elif node.op == "variable":
            namespace[fn.name_variable(node, "{holder}._value")] = node
            return
        else:
            od = OPS[node.op]
            attrs = dict(node.attrs)
            if od.kind == "random":
                rng = fn.name_random(node, "random generator")
                namespace[rng] = np.random.default_rng(node.attrs.get("seed"))
                attrs = {k: v for k, v in attrs.items() if k not in ("seed", "key")}
                attrs["rng"] = Name(rng)
            namespace.update(kernels.helpers_of(od))
            name = fresh("t")
            operands = [names[id(i)] for i in node.inputs]
            note = f"  # {node.op} {format_shape(node.shape)} {node.dtype}"
            donor = program.memory.in_place.get(id(node))
            statement = fused.out_statement(node, operands, names[id(donor)]) if donor is not None else ""
            if donor is not None and "[...] =" not in statement:
                # the dying input's buffer takes the result: no new allocation
                name = names[id(donor)]
                donated.add(id(donor))
                body.append((f"    {statement}{note} (in place)", node))
            elif node.op in _INFIX and node.shape == () and all(i.shape == () for i in node.inputs):
                body.append((f"    {name} = {_INFIX[node.op].format(**dict(zip(od.args, operands)))}{note}", node))
            else:
                body.append((f"    {name} = {od.render_call(operands, attrs)}{note}", node))
            guard(node, name)
        names[id(node)] = name

    def guard(node, name):
        # check_numerics: the value is checked right after the op that makes it
        if program.check_numerics and numerics.checked(node):
            ref = fresh("_node")
            namespace[ref] = node
            body.append((f"    _check_numerics({name}, {ref})", node))

    donated: set[int] = set()  # values whose buffer a later op took over in place

    if program.check_numerics:
        namespace["_check_numerics"] = numerics.check
    if profile:
        namespace["_clock"] = time.perf_counter
        namespace["_step_seconds"] = [0.0] * len(program.steps)
        body.append(("    _t0 = _clock()", None))

    def lap(number):
        if profile:
            body.append((f"    _t1 = _clock(); _step_seconds[{number}] += _t1 - _t0; _t0 = _t1", None))

    kernel_number = 0   # the kernels' numbers in Function.explain() and diagrams
    for number, step in enumerate(program.steps):
        if not isinstance(step, FusionGroup):
            emit_node(step)
            fn.release(number, kept=donated)
            lap(number)
            continue
        body.append((f"    # kernel {kernel_number}: {step.describe()}", None))
        kernel_number += 1
        compiled = compiled_groups.get(id(step))
        if compiled is not None:
            call_fn = fresh("ckernel")
            namespace[call_fn] = compiled
            outs = [fresh("t") for _ in step.outputs]
            for o, name in zip(step.outputs, outs):
                names[id(o)] = name
            body.append((f"    {', '.join(outs)}{',' if len(outs) == 1 else ''} = "
                         f"{call_fn}({', '.join(names[id(i)] for i in step.inputs)})  # {compiled.name}",
                         step.members[-1]))
            for o, name in zip(step.outputs, outs):
                guard(o, name)
            fn.release(number, kept=donated)
            lap(number)
            continue
        mode = fused.blocking(step)
        if step.anchor is not None:
            emit_node(step.anchor)
        if mode is None:
            for member in step.members + step.reductions:
                emit_node(member)
            outputs = {id(o) for o in step.outputs}
            fn.release(number, [m for m in step.members if id(m) not in outputs], kept=donated)
            lap(number)
            continue
        block_fn = fresh("kernel")
        last = step.members[-1]
        alias = (step.anchor is not None and step.outputs[-1] is last
                 and last.dtype == step.anchor.dtype and last.shape == step.anchor.shape)
        definitions.extend(fused.lower_blocked(step, block_fn, mode, alias))
        namespace["run_shares"] = run_shares
        for member in step.members + step.reductions:
            namespace.update(kernels.helpers_of(OPS[member.op]))
        definitions.append(("", None))
        outs = [fresh("t") for _ in step.outputs]
        for o, name in zip(step.outputs, outs):
            names[id(o)] = name
        body.append((f"    {', '.join(outs)}{',' if len(outs) == 1 else ''} = "
                     f"{block_fn}({', '.join(names[id(i)] for i in step.inputs)})", last))
        for o, name in zip(step.outputs, outs):
            guard(o, name)
        fn.release(number, kept=donated)
        lap(number)

    opening, indent = None, ""
    if _gemms_on_kernel_threads(program.steps):
        namespace["_serial_blas"] = blas_threads.SerialBlas()
        opening, indent = "with _serial_blas:  # BLAS one-threaded: the kernel threads split the GEMMs", "    "
    elif blas_threads.controllable() and _uses_blas(program.steps):
        namespace["_found_blas"] = blas_threads.FoundBlas()
        opening, indent = "with _found_blas:  # not while other calls run BLAS one-threaded", "    "
    # a variable's new value, and each output, is an array of its own: never the caller's
    # input, a constant, another variable's storage or another output (the memory plan says
    # which ones share memory and need a copy)
    own = lambda name, copy: f"{'np.array' if copy else 'np.asarray'}({name})"  # noqa: E731
    lines, line_nodes = fn.lines([f"# generated by graphc's NumPy backend for {comment(program.name)}"],
                                 definitions, opening, indent, update_value=own, output_value=own)
    entry = None
    if all(all(d is not None for d in p.shape) for p in program.inputs):
        entry = f"{fn.fn_name}_checked"
        lines.append("")
        lines.extend(_checked_entry(program, fn.fn_name, entry, fn.args, namespace))
    return Module("\n".join(lines) + "\n", namespace, line_nodes, fn.fn_name, entry)


# OpenBLAS threads a GEMM from about this many multiply-adds (m·n·k) on: smaller products lose
# nothing when BLAS runs one-threaded
BLAS_THREADED_MIN_MACS = 1 << 18


def _gemms_on_kernel_threads(steps) -> bool:
    """Whether the program runs with BLAS serial and its helpers splitting the GEMMs over the
    kernel threads (graphc.backends.numpy.blas_threads): when at least one product is big enough to split, no
    op needs BLAS's own threads (LAPACK routines), and the mid-size products that would lose
    BLAS's threading without being split are a small part of the work."""
    if not blas_threads.controllable():
        return False
    split = unsplit = 0
    for step in steps:
        nodes = [step.anchor, *step.members] if isinstance(step, FusionGroup) else [step]
        for node in nodes:
            od = None if node is None else OPS.get(node.op)   # None: no anchor, or a source
            if od is None:
                continue
            if node.op in kernels.LAPACK_OPS:
                return False
            macs = kernels.gemm_macs(node)
            if macs >= gemm.SPLIT_MIN_MACS:
                split += macs
            elif macs >= BLAS_THREADED_MIN_MACS:
                unsplit += macs
    return split > 0 and 4 * unsplit <= split


def _uses_blas(steps) -> bool:
    """Whether a step's result could change if BLAS ran one-threaded meanwhile: a product
    BLAS threads, LAPACK, a convolution (whose method follows who threads the GEMMs), or a sum
    large enough to go through BLAS."""
    for step in steps:
        for node in ([step.anchor, *step.members] if isinstance(step, FusionGroup) else [step]):
            od = None if node is None else OPS.get(node.op)
            if od is None:
                continue
            if node.op in kernels.LAPACK_OPS or node.op.startswith("conv2d"):
                return True
            if kernels.gemm_macs(node) >= BLAS_THREADED_MIN_MACS:
                return True
            if node.op == "reduce_sum" and _elements(node.inputs[0]) >= fast_ufuncs.GEMV_MIN_ELEMENTS:
                return True
    return False


def _elements(t) -> float:
    return math.inf if any(d is None for d in t.shape) else math.prod(t.shape)


_EXACT_INT = 2 ** 53


def _checked_entry(program, fn_name, entry, args, namespace) -> list:
    """A function that checks and converts each input inline, then runs the graph. Values of
    exactly the right type, dtype and shape pass with one or two comparisons; anything else
    goes through ``convert`` (which casts, or raises ShapeError/DTypeError naming the input)."""
    namespace["_convert"] = program.convert
    lines = [f"def {entry}({', '.join(args)}):",
             "    # input checks: exact dtype and shape pass straight through"]
    for k, (p, a) in enumerate(zip(program.inputs, args)):
        namespace[f"_p{k}"] = p
        dt = f"_dt{k}"
        namespace[dt] = p.dtype
        if p.shape == ():
            # 0-d inputs run as NumPy scalars; a Python float (bool) for a float (bool) input
            # converts directly, anything else is checked and cast by `convert`
            scalar = f"_sc{k}"
            namespace[scalar] = p.dtype.type
            direct = {"f": [f"type({a}) is float",   # and ints a float64 holds exactly
                            f"type({a}) is int and -{_EXACT_INT} <= {a} <= {_EXACT_INT}"],
                      "b": [f"type({a}) is bool"]}.get(p.dtype.kind, [])
            lines.append(f"    if type({a}) is not {scalar}:")
            for n, condition in enumerate(direct):
                lines.append(f"        {'elif' if n else 'if'} {condition}:")
                lines.append(f"            {a} = {scalar}({a})")
            if direct:
                lines.append("        else:")
            lines.append(f"{'    ' * (3 if direct else 2)}{a} = _convert(_p{k}, {a})[()]")
        else:
            lines.append(f"    if type({a}) is not np.ndarray or {a}.dtype is not {dt} "
                         f"or {a}.shape != {tuple(p.shape)}:")
            lines.append(f"        {a} = _convert(_p{k}, {a})")
    lines.append(f"    return {fn_name}({', '.join(args)})")
    return lines
