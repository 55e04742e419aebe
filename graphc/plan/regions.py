"""Regions: the schedule cut into the pieces Dask runs, and each piece's own small Program.

Given the batch-axis layout (``graphc.passes.batch_axes``), every step of the schedule (a single
op or a fused kernel) runs *per chunk* or *once*, in levels separated by the tree reductions
that combine cross-chunk values (``plan``); ``region_program`` turns each region into an
ordinary ``Program`` that the NumPy backend compiles.
"""
from __future__ import annotations

import collections
import dataclasses

from graphc.plan import memory
from graphc.plan.program import Program
from graphc.errors import GraphError
from graphc.ir.graph import Graph
from graphc.ir.fusion import FusionGroup, close_group
from graphc.ir.opdef import OPS, describe
from graphc.plan.schedule import schedule
from graphc.ir.tensor import Tensor, placeholder

SOURCES = ("placeholder", "constant", "variable")

# replicated ops cheap enough to recompute in every chunk rather than ship from a task: views,
# and elementwise arithmetic or reductions on small values (a mean's division by the count)
VIEW_OPS = {"transpose", "reshape", "expand_dims", "squeeze", "getitem", "broadcast_to"}
CHEAP_KINDS = ("elementwise", "reduction")
CHEAP_MAX_ELEMENTS = 4096
# constants up to this size are embedded in the generated code; larger ones are task inputs
EMBED_MAX_BYTES = 65536


@dataclasses.dataclass(eq=False)
class Region:
    """Steps that run together as one function: once, or once per chunk."""
    name: str
    chunked: bool
    level: int
    steps: list                 # schedule steps (Tensors and Kernels), in order
    inputs: list = dataclasses.field(default_factory=list)    # (node, split) read from outside
    outputs: list = dataclasses.field(default_factory=list)   # nodes whose values leave
    partials: list = dataclasses.field(default_factory=list)  # cross-chunk nodes computed here
    combine: list = dataclasses.field(default_factory=list)   # how each partial combines

    @property
    def nodes(self) -> list:
        return [n for s in self.steps for n in nodes_of(s)]

    def describe(self) -> str:
        kernels = sum(1 for s in self.steps if isinstance(s, FusionGroup))
        ops = sum(len(nodes_of(s)) for s in self.steps)
        where = "per chunk" if self.chunked else "once"
        text = f"{self.name:<8} {where:<10} {ops} ops ({kernels} fused kernels)"
        if self.partials:
            counts = collections.Counter(f"{n.op} ({kind})" for n, kind in zip(self.partials, self.combine))
            text += "; partials: " + ", ".join(k + (f" ×{c}" if c > 1 else "") for k, c in counts.items())
        return text


@dataclasses.dataclass
class Plan:
    """The regions of one program for one choice of chunked inputs, in execution order."""
    program: object
    layout: object
    regions: list
    where: dict     # id(node) -> (region, position in its results) for values regions produce
    chunked_inputs: dict  # placeholder -> axis

    def describe(self) -> str:
        """What runs where: one line per region and per tree reduction."""
        lines = []
        chunked = ", ".join(f"{p.name!r} along axis {a}" for p, a in self.chunked_inputs.items())
        lines.append(f"inputs chunked: {chunked or 'none (everything runs once, as one task)'}")
        for region in self.regions:
            lines.append(region.describe())
            if region.partials:
                kinds = ", ".join(sorted(set(region.combine)))
                count = len(region.partials)
                lines.append(f"{'tree' + str(region.level):<8} {'tree':<10} the {count} partial{'s' * (count > 1)} "
                             f"of {region.name} combined ({kinds}) by one Dask tree reduction")
        return "\n".join(lines)


def nodes_of(step) -> tuple:
    return step.nodes if isinstance(step, FusionGroup) else (step,)


def plan(program, layout, chunked_inputs) -> Plan:
    """Cut ``program``'s schedule into regions for ``layout``.

    A step that reads chunked values runs *per chunk*; one that reads replicated values only
    runs *once*. A cross-chunk value (a sum over the batch, say) is available only after its
    chunks' partials have been combined, so the steps are sorted into *levels*: level 0 needs
    no combined value, level L+1 reads a value combined from level L. One level runs as

        once L      one task: the replicated steps whose results level L needs
        chunk L     one task per chunk: every chunked step of level L, fused into one function
        tree L      Dask tree reduction of the partials chunk L computed (one tree for all)

    Cheap replicated steps that a chunked step reads (a transpose of a weight, scalar
    arithmetic) are recomputed inside the per-chunk function instead of costing a task of their
    own; a replicated step is placed in the latest "once" task that still precedes its first
    reader, so a training step's optimizer arithmetic lands in one task after the gradients
    are summed."""
    steps = list(_units(program.steps, layout))
    graph = program.graph
    roots = {id(o) for o in graph.outputs} | {id(v) for _, v in graph.updates}
    kind = {id(s): _kind(s, layout) for s in steps}
    step_level, final = _levels(steps, layout)
    once_at, inline_at = _place_replicated(steps, kind, step_level, final, roots, layout, graph)
    regions = []
    for lvl in range(final + 1):
        once = [s for s in steps if kind[id(s)] == "replicated" and once_at[id(s)] == lvl]
        per_chunk = [s for s in steps if (kind[id(s)] == "chunked" and step_level[id(s)] == lvl)
                     or (kind[id(s)] == "replicated" and lvl in inline_at[id(s)])]
        if once:
            regions.append(Region(f"once{lvl}", False, lvl, once))
        if any(kind[id(s)] == "chunked" for s in per_chunk):
            regions.append(Region(f"chunk{lvl}", True, lvl, per_chunk))
    for region in regions:
        _find_inputs(region, layout)
    step_kind = {id(n): kind[id(s)] for s in steps for n in nodes_of(s)}
    where = _find_outputs(regions, roots, step_kind, layout)
    return Plan(program, layout, regions, where, dict(chunked_inputs))


def _levels(steps, layout):
    """The level each step runs at (the latest level of what it reads; a combined value is
    available one level after its partials) and the last level."""
    level, step_level = {}, {}
    for s in steps:
        inside = {id(n) for n in nodes_of(s)}
        base = max((level[id(i)] for n in nodes_of(s) for i in n.inputs if id(i) not in inside), default=0)
        step_level[id(s)] = base
        for n in nodes_of(s):
            level[id(n)] = base + 1 if layout.cross(n) else base
    return step_level, max(level.values(), default=0)


def _place_replicated(steps, kind, step_level, final, roots, layout, graph):
    """Where each replicated step runs, visiting them last to first: recomputed inside the
    per-chunk functions of the levels that read it (``inline_at``, cheap steps), and/or once,
    in the latest "once" task before its first other reader (``once_at``, None: not needed)."""
    readers: dict[int, list] = {}
    for s in steps:
        inside = {id(n) for n in nodes_of(s)}
        for n in nodes_of(s):
            for i in n.inputs:
                if id(i) not in inside:
                    readers.setdefault(id(i), []).append(s)
    split_nodes = {id(n.inputs[pos]) for n in graph.nodes for pos in range(len(n.inputs))
                   if (id(n), pos) in layout.split}
    once_at, inline_at = {}, {}
    for s in reversed(steps):
        if kind[id(s)] != "replicated":
            continue
        cheap = _cheap(s, layout, split_nodes)
        at, inline = None, set()
        for n in nodes_of(s):
            if id(n) in roots:
                at = _earliest(at, final)
            for reader in readers.get(id(n), ()):
                if kind[id(reader)] == "chunked":
                    needed = {step_level[id(reader)]}
                else:
                    needed = set(inline_at[id(reader)])
                    if once_at[id(reader)] is not None:
                        at = _earliest(at, once_at[id(reader)])
                for lvl in needed:
                    if cheap:
                        inline.add(lvl)
                    else:
                        at = _earliest(at, lvl)
        once_at[id(s)], inline_at[id(s)] = at, inline
    return once_at, inline_at


def _find_inputs(region, layout):
    """The values ``region`` reads from outside, each with the split it is read through; and
    its partials (the cross-chunk nodes a per-chunk region computes)."""
    inside = {id(n) for n in region.nodes}
    found = {}
    for n in region.nodes:
        for pos, i in enumerate(n.inputs):
            split = layout.split.get((id(n), pos))
            if id(i) in inside or (split is None and embedded(i)):
                continue
            found.setdefault((id(i), split), (i, split))
    region.inputs = list(found.values())
    region.partials = [n for n in region.nodes if layout.cross(n)] if region.chunked else []
    region.combine = [layout.combine[id(n)] for n in region.partials]


def _find_outputs(regions, roots, step_kind, layout) -> dict:
    """Each region's outputs (what other regions read, the graph's outputs and new values);
    returns where every value a region produces sits in its results."""
    read_elsewhere = {}
    for region in regions:
        for node, _ in region.inputs:
            read_elsewhere.setdefault(id(node), set()).add(id(region))
    where = {}
    for region in regions:
        for n in region.nodes:
            if layout.cross(n) or id(n) in where:
                continue
            if step_kind[id(n)] == "replicated" and region.chunked:
                continue   # a recomputed copy: the "once" task (if any) exports it
            if id(n) in roots or read_elsewhere.get(id(n), set()) - {id(region)}:
                where[id(n)] = (region, len(region.outputs))
                region.outputs.append(n)
        for k, n in enumerate(region.partials):
            where[id(n)] = (region, len(region.outputs) + k)
    return where


def _earliest(a, b):
    return b if a is None else min(a, b)


def embedded(node) -> bool:
    """Constants small enough to live in the generated code (larger ones are task inputs)."""
    return node.op == "constant" and node.attrs["value"].nbytes <= EMBED_MAX_BYTES


def _cheap(step, layout, split_nodes) -> bool:
    """A replicated step worth recomputing per chunk rather than costing a task (and a round
    trip) of its own: a view, or elementwise ops and reductions on small values."""
    nodes = nodes_of(step)
    if any(id(n) in split_nodes or OPS[n.op].kind == "random" for n in nodes):
        return False
    if not isinstance(step, FusionGroup) and step.op in VIEW_OPS:
        return True
    return all(OPS[n.op].kind in CHEAP_KINDS and n.size is not None and n.size <= CHEAP_MAX_ELEMENTS
               and all(i.size is not None and i.size <= CHEAP_MAX_ELEMENTS for i in n.inputs)
               for n in nodes)


def _kind(step, layout) -> str:
    nodes = nodes_of(step)
    if not isinstance(step, FusionGroup) and step.op in SOURCES:
        return "source"
    if any(layout.chunked(n) or layout.cross(n) for n in nodes):
        return "chunked"
    return "replicated"


def _units(steps, layout):
    """The schedule's steps; a fused kernel whose nodes cannot run together (a matmul over the
    batch whose epilogue must wait for the partials' sum, or chunked and replicated members)
    is taken apart into its single ops."""
    for step in steps:
        if isinstance(step, FusionGroup) and _mixed(step, layout):
            yield from step.nodes
        else:
            yield step


def _mixed(kernel, layout) -> bool:
    """A kernel runs as one unit when all its nodes are replicated, or when its anchor and
    members are chunked (its reductions may then be cross-chunk partials)."""
    if not any(layout.chunked(n) or layout.cross(n) for n in kernel.nodes):
        return False
    body = kernel.members + ((kernel.anchor,) if kernel.anchor is not None else ())
    return not all(layout.chunked(n) for n in body)


# -- one region as a Program of its own -------------------------------------------------------------

def region_program(plan, region, rows) -> Program:
    """``region`` as a Program over placeholders shaped like one chunk of ``rows`` input rows
    (None: unknown, for inspection), returning its outputs then its partials: the region's nodes
    rebuilt over those placeholders (a reshape's target gets the chunk's row count), its fused
    kernels carried over member for member. This is the same specialization to concrete shapes
    ``gc.function`` does per call signature; no op is added, dropped or fused differently."""
    layout = plan.layout
    inputs, given = [], {}
    for node, split in region.inputs:
        if split is not None:
            axis, scale = split
            shape = list(node.shape)
            shape[axis] = None if rows is None else int(rows * scale)
            shape = tuple(shape)
        else:
            shape = layout.chunk_shape(node, rows)
        p = placeholder(shape, node.dtype, name=_argument_name(node, split))
        given[(id(node), split)] = p
        inputs.append(p)

    made = {}

    def operand(node, pos, i):
        if id(i) in made:
            return made[id(i)]
        key = (id(i), layout.split.get((id(node), pos)))
        if key in given:
            return given[key]
        return i   # an embedded constant

    for n in region.nodes:
        made[id(n)] = _rebuild(n, [operand(n, pos, i) for pos, i in enumerate(n.inputs)], layout, rows)
    graph = Graph([made[id(n)] for n in region.outputs + region.partials])
    kernels = [_kernel(s, made) for s in region.steps if isinstance(s, FusionGroup)]
    graph = graph.with_kernels(_reachable_kernels(graph, kernels))
    steps = schedule(graph)
    program = plan.program
    return Program(f"{program.name}_{region.name}", tuple(inputs), graph, steps,
                   memory.plan(steps, graph), False, program.convert)


def _reachable_kernels(graph, kernels) -> list:
    """The kernels restricted to the nodes this region computes: a replicated kernel copied
    into a per-chunk region may have members only another region needs."""
    reachable = {id(n) for n in graph.nodes}
    out, users, roots = [], None, {id(o) for o in graph.outputs}
    for k in kernels:
        if all(id(n) in reachable for n in k.nodes):
            out.append(k)
            continue
        members = tuple(m for m in k.members if id(m) in reachable)
        if not members:
            continue
        users = users if users is not None else graph.users()
        anchor = k.anchor if k.anchor is not None and id(k.anchor) in reachable else None
        reductions = tuple(r for r in k.reductions if id(r) in reachable)
        out.append(close_group(members, anchor, users, roots, reductions))
    return out


def _argument_name(node, split) -> str:
    name = node.name if node.name.isidentifier() else "in"
    return name + "_rows" if split is not None else name


def _rebuild(node, inputs, layout, rows) -> Tensor:
    """``node`` over the region's inputs, with a chunk's shapes."""
    if not node.inputs:
        return node
    attrs = node.attrs
    if node.op in ("reshape", "broadcast_to") and layout.chunked(node):
        shape = layout.chunk_shape(node, rows)
        if node.op == "reshape":
            shape = tuple(-1 if d is None else d for d in shape)
        attrs = {**attrs, "shape": shape}
    if attrs is node.attrs and all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    shape, dtype = OPS[node.op].infer(tuple(inputs), attrs)
    want = layout.chunk_shape(node, rows)
    if rows is not None and tuple(shape) != tuple(want):
        raise GraphError(f"backend 'dask': {describe(node)} has shape {shape} on a chunk of {rows} rows, "
                         f"expected {want} (a chunking rule of the dask backend is wrong for {node.op!r})")
    return Tensor(node.op, inputs, attrs, shape, dtype, name=node.name, tag=node.tag)


def _kernel(kernel, made) -> FusionGroup:
    """The kernel over the rebuilt nodes. An input a member reads through a split (its rows
    only) is the split placeholder: taken from what the rebuilt members actually read."""
    reads = {}
    for m in kernel.nodes:
        for old, new in zip(m.inputs, made[id(m)].inputs):
            reads.setdefault(id(old), new)

    def mapped(t):
        return made[id(t)] if id(t) in made else reads[id(t)]
    anchor = made[id(kernel.anchor)] if kernel.anchor is not None else None
    return FusionGroup(tuple(mapped(m) for m in kernel.members), tuple(mapped(i) for i in kernel.inputs),
                  tuple(mapped(o) for o in kernel.outputs), anchor,
                  tuple(mapped(r) for r in kernel.reductions))


__all__ = ["Plan", "Region", "plan", "region_program", "nodes_of", "embedded"]
