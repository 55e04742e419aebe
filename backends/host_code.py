"""The skeleton both host-code generators (NumPy's, CuPy's) share: one readable Python function
per Program, a line per step, each line tagged with the node it computes.

It owns the naming (generated identifiers only: user names stay in quoted comments), the
namespace header, the function's prologue and body, the release of dead values, and the
epilogue that stores the updates and returns the outputs with the copies the memory plan asks
for. A backend says how an op, a fused kernel, a constant and a variable become code.
"""
from __future__ import annotations

from graphc.codetext import comment, function_identifier, unique_identifier
from graphc.errors import GraphError
from graphc.ir.opdef import helper_names
from graphc.ir.tensor import format_shape
from graphc.plan.memory import worth_releasing


class HostFunction:
    """The function being generated for ``program``; ``reserved``: namespace names of the backend."""

    def __init__(self, program, reserved):
        self.program = program
        self.fn_name = function_identifier(program.name)
        # user names never become identifiers; generated names never meet a helper's
        self.taken = set(reserved) | {self.fn_name} | helper_names()
        self.names: dict[int, str] = {}      # id(node) -> the name holding its value
        self.holders: dict[int, str] = {}    # id(variable) -> the name of its Variable object
        self.args: list[str] = []
        self.header: list[str] = []          # "#   name: what it is" lines
        self.prologue: list[str] = []        # lines before the body (inputs, variables read)
        self.body: list[tuple[str, object]] = []   # (line, the node it computes or None)
        self._counter = 0

    def fresh(self, prefix: str) -> str:
        while True:
            name = f"{prefix}{self._counter}"
            self._counter += 1
            if name not in self.taken:
                self.taken.add(name)
                return name

    # -- sources -------------------------------------------------------------------------------
    def name_inputs(self) -> list:
        """Each input's argument name, in call order."""
        for p in self.program.inputs:
            name = unique_identifier(p.name, "in_", self.taken)
            self.names[id(p)] = name
            self.args.append(name)
        return list(self.args)

    def name_variable(self, node, read: str) -> str:
        """A variable's holder (its Variable object in the namespace) and the local name the
        prologue reads its value into with ``read`` (formatted with ``holder``)."""
        holder = self.fresh("var")
        self.holders[id(node)] = holder
        name = unique_identifier(node.name, "v_", self.taken)
        self.header.append(f"#   {holder}: variable {comment(node.name)} {format_shape(node.shape)} {node.dtype}")
        self.prologue.append(f"    {name} = {read.format(holder=holder)}")
        self.names[id(node)] = name
        return holder

    def name_random(self, node, what: str) -> str:
        """The namespace name of a random op's generator (``what`` describes it)."""
        rng = self.fresh("rng")
        self.header.append(f"#   {rng}: {what}, seed {node.attrs.get('seed')}")
        return rng

    def not_an_input(self, node):
        raise GraphError(f"placeholder {node.name!r} is not an input of {self.program.name!r}")

    # -- the body ------------------------------------------------------------------------------
    def release(self, step_index, extra=(), kept=frozenset()) -> None:
        """``del`` the values whose last reader was step ``step_index`` (and ``extra``
        temporaries worth it), except ``kept`` ids, so the memory is reused at once."""
        values = list(self.program.memory.dies_after[step_index]) + [t for t in extra if worth_releasing(t)]
        dead = list(dict.fromkeys(self.names[id(v)] for v in values if id(v) not in kept and id(v) in self.names))
        if dead:
            self.body.append((f"    del {', '.join(dead)}", None))

    # -- the module ----------------------------------------------------------------------------
    def lines(self, title, definitions=(), opening=None, indent="", update_value=None,
              output_value=None, value_name=None):
        """The module's lines and {line number: node}: ``title`` comment lines, the namespace
        header, ``definitions`` ((line, node) before the function), the function with the
        ``opening`` line (a ``with`` block, whose body is indented by ``indent``), the updates
        stored and the outputs returned through ``update_value`` / ``output_value(name, copy)``
        (``copy``: the memory plan says the value would share memory and needs a copy)."""
        value_name = value_name or (lambda node: self.names[id(node)])
        lines = list(title)
        if self.header:
            lines.append("# namespace:")
            lines.extend(self.header)
        line_nodes = {}
        for text, node in definitions:
            if node is not None:
                line_nodes[len(lines) + 1] = node
            lines.append(text)
        lines.append(f"def {self.fn_name}({', '.join(self.args)}):")
        lines.extend(self.prologue)
        if opening:
            lines.append(f"    {opening}")
        for text, node in self.body:
            if node is not None:
                line_nodes[len(lines) + 1] = node
            lines.append(indent + text)
        plan, graph = self.program.memory, self.program.graph
        for j, (var, value) in enumerate(graph.updates):
            stored = update_value(value_name(value), j in plan.copy_updates)
            lines.append(f"    {indent}{self.holders[id(var)]}._value = {stored}  # update {comment(var.name)}")
        outs = [output_value(value_name(out), j in plan.copy_outputs) for j, out in enumerate(graph.outputs)]
        lines.append(f"    {indent}return {outs[0]}" if self.program.single_output
                     else f"    {indent}return [{', '.join(outs)}]")
        return lines, line_nodes
