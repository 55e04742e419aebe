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


from graphc.codetext import Name, comment, function_identifier, unique_identifier
from graphc.errors import GraphError
from graphc.ir.fusion import FusionGroup
from graphc.plan.memory import worth_releasing
from graphc.ir.opdef import OPS, helper_names
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
        self.fn_name = function_identifier(program.name)
        # user names never become identifiers (only quoted comments)
        self.taken = {"np", "numpy", "cupy", self.fn_name} | helper_names()
        self.names: dict[int, str] = {}
        self.counter = 0
        self.bindings: dict[str, tuple] = {}
        self.header: list[str] = []
        self.prologue: list[str] = []
        self.body: list[tuple[str, object]] = []
        self.kernel_defs: list[str] = []
        self.kernels: list = []
        self.sources: dict[str, str] = {}   # kernel name -> its KERNEL_ constant
        self.holders: dict[int, str] = {}
        self.fresh_values: set[int] = set()  # C-contiguous arrays a kernel may read as they are

    def fresh(self, prefix: str) -> str:
        while True:
            name = f"{prefix}{self.counter}"
            self.counter += 1
            if name not in self.taken:
                self.taken.add(name)
                return name

    # -- the pieces ------------------------------------------------------------------------
    def run(self) -> HostModule:
        program = self.program
        args = []
        for p in program.inputs:
            name = unique_identifier(p.name, "in_", self.taken)
            self.names[id(p)] = name
            self.fresh_values.add(id(p))
            args.append(name)
            self.prologue.append(f"    {name} = to_device({name})  # input {comment(p.name)} "
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
            self.release(number)
        for value in list(program.graph.outputs) + [v for _, v in program.graph.updates]:
            self.value(value)  # outputs that are sources (constants, variables) need a name
        return self.assemble(args)

    def value(self, node) -> str:
        """The name holding ``node``'s device array (emitting sources on first use)."""
        if id(node) not in self.names:
            self.emit_op(node)
        return self.names[id(node)]

    def emit_op(self, node) -> None:
        if id(node) in self.names:
            return
        if node.op == "placeholder":
            raise GraphError(f"placeholder {node.name!r} is not an input of {self.program.name!r}")
        if node.op == "constant":
            name = self.fresh("c")
            self.bindings[name] = ("constant", node)
            self.header.append(f"#   {name}: constant {comment(node.name)} {format_shape(node.shape)} "
                               f"{node.dtype} (on the device)")
            self.fresh_values.add(id(node))
        elif node.op == "variable":
            holder = self.fresh("var")
            self.bindings[holder] = ("variable", node)
            self.holders[id(node)] = holder
            name = unique_identifier(node.name, "v_", self.taken)
            self.header.append(f"#   {holder}: variable {comment(node.name)} {format_shape(node.shape)} "
                               f"{node.dtype}")
            self.prologue.append(f"    {name} = variable_on_device({holder})")
            self.fresh_values.add(id(node))
        else:
            extra = {}
            if OPS[node.op].kind == "random":
                rng = self.fresh("rng")
                self.bindings[rng] = ("rng", node.attrs.get("seed"))
                self.header.append(f"#   {rng}: cupy.random.RandomState, seed {node.attrs.get('seed')}")
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

    def release(self, step_index) -> None:
        dead = [self.names[id(v)] for v in self.program.memory.dies_after[step_index]
                if id(v) in self.names and worth_releasing(v)]
        dead = list(dict.fromkeys(dead))
        if dead:  # back to CuPy's memory pool at once
            self.body.append((f"    del {', '.join(dead)}", None))

    def assemble(self, args) -> HostModule:
        program = self.program
        lines = [f"# generated by graphc's CuPy backend for {comment(program.name)}",
                 "# Every array lives on the GPU: `np` in this code is CuPy. Each KERNEL_ string is",
                 "# CUDA C++ generated for a fused kernel, compiled once per distinct source; its entry",
                 "# points launch as entry((grid), (block), (arguments))."]
        if self.header:
            lines.append("# namespace:")
            lines.extend(self.header)
        lines.append("")
        lines.extend(self.kernel_defs)
        lines.append(f"def {self.fn_name}({', '.join(args)}):")
        lines.extend(self.prologue)
        line_nodes = {}
        for text, node in self.body:
            if node is not None:
                line_nodes[len(lines) + 1] = node
            lines.append(text)
        # each new value and output gets an array of its own where the memory plan says it
        # would share memory with an input, a variable, a constant or another output
        plan = program.memory
        for j, (var, value) in enumerate(program.graph.updates):
            ref = self.value(value)
            ref = f"np.array({ref})" if j in plan.copy_updates else f"contiguous({ref})"
            lines.append(f"    {self.holders[id(var)]}._value = {ref}  # update {comment(var.name)}")
        outs = []
        for j, out in enumerate(program.graph.outputs):
            ref = self.value(out)
            outs.append(f"np.array({ref})" if j in plan.copy_outputs else ref)
        lines.append(f"    return {outs[0]}" if program.single_output else f"    return [{', '.join(outs)}]")
        return HostModule("\n".join(lines) + "\n", self.fn_name, self.bindings, self.kernels, line_nodes)


def _tuple(names) -> str:
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


__all__ = ["HostModule", "generate"]
