"""Emit the host side: Python source over CuPy that runs a scheduled graph on the GPU.

The generated module, like the NumPy backend's, is plain readable source
(``Function.source``): the CUDA C++ of every fused kernel as a string constant (compiled once
per distinct source when the module is loaded), then one function with a line per step —
a kernel launch ``k((grid,), (block,), (args...))`` for each fused kernel and each lone
elementwise op, ``np.matmul`` (cuBLAS) before an epilogue kernel, the device template of
every other op (``np`` is CuPy in this code). Inputs are copied to the device once; variables
move to the device at their first use and stay there (their new values are device arrays).

Generation needs no GPU and no CuPy: the namespace is described by ``bindings`` (constants to
upload, variables, random generators), which the backend turns into device objects.
"""
from __future__ import annotations

import dataclasses


from graphc.backends.host_code import HostFunction
from graphc.codetext import Name, comment
from graphc.ir.fusion import FusionGroup
from graphc.ir.opdef import OPS
from graphc.ir.tensor import format_shape

from graphc.backends.cupy import cuda_codegen, lowering


@dataclasses.dataclass
class HostModule:
    source: str
    fn_name: str
    bindings: dict       # namespace name -> ("constant", node) | ("variable", node) | ("rng", seed)
    kernels: list        # CudaKernel, in source order
    line_nodes: dict     # source line number -> node it computes


def generate(program) -> HostModule:
    return _Emitter(program).run()


class _Emitter:
    def __init__(self, program):
        self.program = program
        self.fn = HostFunction(program, {"np", "numpy", "cupy"})
        self.fn_name = self.fn.fn_name
        self.names, self.holders, self.body = self.fn.names, self.fn.holders, self.fn.body
        self.fresh = self.fn.fresh
        self.bindings: dict[str, tuple] = {}
        self.kernel_defs: list[str] = []
        self.kernels: list = []
        self.sources: dict[str, str] = {}   # kernel name -> its KERNEL_ constant
        self.fresh_values: set[int] = set()  # C-contiguous arrays a kernel may read as they are

    # -- the pieces ------------------------------------------------------------------------
    def run(self) -> HostModule:
        program = self.program
        for p, name in zip(program.inputs, self.fn.name_inputs()):
            self.fresh_values.add(id(p))
            self.fn.prologue.append(f"    {name} = to_device({name})  # input {comment(p.name)} "
                                    f"{format_shape(p.shape)} {p.dtype}")
        kernel_number = 0   # the kernels' numbers in Function.explain() and diagrams
        for number, step in enumerate(program.steps):
            if isinstance(step, FusionGroup):
                if step.anchor is not None:
                    self.emit_op(step.anchor)
                self.emit_kernel(step, f"kernel {kernel_number}")
                kernel_number += 1
            elif not step.inputs and step.op in ("constant", "variable"):
                continue  # named at first use: constants a kernel inlines are never uploaded
            elif step.inputs and OPS[step.op].kind == "elementwise":
                self.emit_kernel(cuda_codegen.single_op_kernel(step), f"step {number}: {step.op}")
            else:
                self.emit_op(step)
            self.fn.release(number)
        for value in list(program.graph.outputs) + [v for _, v in program.graph.updates]:
            self.value(value)  # outputs that are sources (constants, variables) need a name
        return self.assemble()

    def value(self, node) -> str:
        """The name holding ``node``'s device array (emitting sources on first use)."""
        if id(node) not in self.names:
            self.emit_op(node)
        return self.names[id(node)]

    def emit_op(self, node) -> None:
        if id(node) in self.names:
            return
        if node.op == "placeholder":
            self.fn.not_an_input(node)
        if node.op == "constant":
            name = self.fresh("c")
            self.bindings[name] = ("constant", node)
            self.fn.header.append(f"#   {name}: constant {comment(node.name)} {format_shape(node.shape)} "
                                  f"{node.dtype} (on the device)")
            self.fresh_values.add(id(node))
        elif node.op == "variable":
            self.bindings[self.fn.name_variable(node, "variable_on_device({holder})")] = ("variable", node)
            self.fresh_values.add(id(node))
            return
        else:
            extra = {}
            if OPS[node.op].kind == "random":
                rng = self.fn.name_random(node, "cupy.random.RandomState")
                self.bindings[rng] = ("rng", node.attrs.get("seed"))
                extra["rng"] = Name(rng)
            operands = [self.value(i) for i in node.inputs]
            name = self.fresh("t")
            call = lowering.render(node, operands, extra)
            self.body.append((f"    {name} = {call}  # {node.op} {format_shape(node.shape)} {node.dtype}",
                              node))
            if node.op in lowering.FRESH:
                self.fresh_values.add(id(node))
        self.names[id(node)] = name

    def emit_kernel(self, kernel: FusionGroup, label: str) -> None:
        ck = cuda_codegen.generate(kernel, label)
        module = self.sources.get(ck.name)
        if module is None:
            module = self.sources[ck.name] = f"KERNEL_{len(self.sources)}"
            self.kernels.append(ck)
            self.kernel_defs.append(f"{module} = r'''")
            self.kernel_defs.append(ck.source.rstrip("\n"))
            self.kernel_defs.append("'''")
            self.kernel_defs.append(f"{module.lower()} = cuda_module({module})")
            for entry in ck.entries:
                self.kernel_defs.append(f"{entry} = {module.lower()}.get_function({entry!r})")
            self.kernel_defs.append("")
        inputs = []
        for p in ck.inputs:
            ref = self.value(p.tensor)
            inputs.append(ref if id(p.tensor) in self.fresh_values else f"contiguous({ref})")
        self.body.append((f"    # {label}: {kernel.describe()}  ({module}, {ck.name})", None))
        made = {}
        for p in ck.outputs + ck.reductions:
            name = self.fresh("t")
            made[p.name] = name
            self.body.append((f"    {name} = np.empty({tuple(p.shape)}, dtype={p.dtype.name!r})"
                              f"  # {p.tensor.op} {p.tensor.name!r}", p.tensor))
        for ps in ck.passes:
            if ps.rows == 0:
                self.body.append((f"    # {ps.entry}: no elements, nothing to launch", None))
                continue
            args = list(inputs)
            if ps.stores:
                args += [made[p.name] for p in ck.outputs]
            if ps.chunks > 1:
                parts = []
                for p in ps.partials:
                    part = self.fresh("part")
                    parts.append(part)
                    self.body.append((f"    {part} = np.empty({p.shape}, dtype={p.dtype.name!r})"
                                      f"  # partial results, {ps.chunks} per output element", None))
                self.body.append((f"    {ps.entry}({ps.grid}, ({ps.block},), {_tuple(args + parts)})",
                                  kernel.members[-1]))
                finals = [made[r.output.name] for r in ps.reductions]
                blocks = -(-ps.rows // cuda_codegen.BLOCK)
                self.body.append((f"    {ps.combine}(({blocks},), ({cuda_codegen.BLOCK},), "
                                  f"{_tuple(parts + finals)})", kernel.members[-1]))
                self.body.append((f"    del {', '.join(parts)}", None))
            else:
                args += [made[r.output.name] for r in ps.reductions]
                self.body.append((f"    {ps.entry}({ps.grid}, ({ps.block},), {_tuple(args)})",
                                  kernel.members[-1]))
        for p in ck.outputs + ck.reductions:
            self.names[id(p.tensor)] = made[p.name]
            self.fresh_values.add(id(p.tensor))

    def assemble(self) -> HostModule:
        title = [f"# generated by graphc's CuPy backend for {comment(self.program.name)}",
                 "# Every array lives on the GPU: `np` in this code is CuPy. Each KERNEL_ string is",
                 "# CUDA C++ generated for a fused kernel, compiled once per distinct source; its entry",
                 "# points launch as entry((grid), (block), (arguments))."]
        definitions = [("", None)] + [(line, None) for line in self.kernel_defs]
        # each new value and output gets an array of its own where the memory plan says it
        # would share memory with an input, a variable, a constant or another output
        lines, line_nodes = self.fn.lines(
            title, definitions,
            update_value=lambda ref, copy: f"np.array({ref})" if copy else f"contiguous({ref})",
            output_value=lambda ref, copy: f"np.array({ref})" if copy else ref,
            value_name=self.value)
        return HostModule("\n".join(lines) + "\n", self.fn_name, self.bindings, self.kernels, line_nodes)


def _tuple(names) -> str:
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


__all__ = ["HostModule", "generate"]
