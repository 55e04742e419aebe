"""The optimized graph a loaded entry describes: every node rebuilt through its op's own
shape/dtype rule, outputs and updates matched to the source graph's, kernels checked to be
partitions the fusion passes could have made."""
from __future__ import annotations

import math

import numpy as np

from graphc.ir.graph import Graph
from graphc.ir.fusion import close_group
from graphc.ir.opdef import OPS
from graphc.passes.report import PassReport
from graphc.ir.tensor import Tensor
from graphc.compile.cache.attributes import ATTRIBUTES, _NODE_CHECKS, _Context
from graphc.compile.cache.encoding import _random_ranks
from graphc.compile.cache.errors import _Refused
from graphc.compile.cache.payload import _FORMAT
from graphc.compile.cache.schema import _DTYPE_STR, _brief, _expect, _fields, _int, _list, _show, _text


def _rebuild(entry, arrays, source):
    """The optimized graph an entry describes, every field checked and every node rebuilt
    through its op's own rule; (graph, reports) or _Refused."""
    entry = _fields(entry, "entry", {"format", "nodes", "kernels", "outputs", "updates", "reports"})
    _expect(type(entry["format"]) is int and entry["format"] == _FORMAT, f"format {_show(entry['format'])}")
    ranks = _random_ranks(source)
    random_nodes = {n.attrs["key"]: n for n in source.nodes if n.attrs.get("key") in ranks}
    ctx = _Context(source, arrays, {rank: k for k, rank in ranks.items()}, random_nodes,
                   max(1, max((_size(n.shape) for n in source.nodes), default=1)))
    nodes: list = []
    for position, d in enumerate(_list(entry["nodes"], "nodes")):
        nodes.append(_rebuild_node(d, position, nodes, ctx))
    _expect(len(ctx.used_arrays) == len(arrays), "arrays that no constant uses")
    graph = _graph_of(entry, nodes, source)
    graph = _kernels_of(entry["kernels"], graph, nodes)
    return graph, _reports_of(entry["reports"], nodes)


_SOURCE_FIELDS = {"src"}
_NODE_FIELDS = {"op", "in", "attrs", "shape", "dtype", "name", "tag"}


def _rebuild_node(d, position, nodes, ctx) -> Tensor:
    what = f"nodes[{position}]"
    if type(d) is dict and "src" in d:  # a source node (placeholder, variable, constant...)
        i = _int(_fields(d, what, _SOURCE_FIELDS)["src"], f"{what}.src", 0, len(ctx.source.nodes) - 1)
        node = ctx.source.nodes[i]
        _expect(not node.inputs, f"{what}: source node {i} is computed, not a source")
        return node
    d = _fields(d, what, _NODE_FIELDS)
    op = d["op"]
    if type(op) is not str or (op not in OPS and op != "constant"):
        raise _Refused(f"{what}: unknown op {_show(op)}")
    what = f"{what} ({op})"
    inputs = tuple(nodes[_int(i, f"{what}.in", 0, position - 1)] for i in _list(d["in"], f"{what}.in"))
    _check_arity(op, inputs, what)
    ctx.inputs = inputs
    attrs = _attributes(op, d["attrs"], ctx, what)
    if op == "constant":
        shape, dtype = attrs["value"].shape, attrs["value"].dtype
    else:
        try:
            shape, dtype = OPS[op].infer(inputs, attrs)  # the op's own rule re-derives them
        except Exception as exc:
            raise _Refused(f"{what}: its shape rule refuses it ({type(exc).__name__}: {_brief(str(exc))})") from None
    shape, dtype = tuple(shape), np.dtype(dtype)
    if not all(s is None or (type(s) is int and s >= 0) for s in shape) or dtype not in _DTYPE_STR:
        raise _Refused(f"{what}: its rule gives {shape} {dtype}")
    stored = tuple(None if s is None else _int(s, f"{what}.shape", 0) for s in _list(d["shape"], f"{what}.shape"))
    if stored != shape or d["dtype"] != _DTYPE_STR[dtype]:
        raise _Refused(f"{what}: {stored} {_show(d['dtype'])}, but its rule gives {shape} {dtype}")
    if _size(shape) > ctx.max_size:
        raise _Refused(f"{what}: shape {shape} larger than any node of the source")
    tag = None if d["tag"] is None else _text(d["tag"], f"{what}.tag")
    return Tensor(op, inputs, attrs, shape, dtype, name=_text(d["name"], f"{what}.name"), tag=tag)


def _check_arity(op, inputs, what) -> None:
    if op == "constant":
        expected = 0
    elif OPS[op].args and OPS[op].args[0].startswith("*"):
        expected = max(1, len(inputs))  # variadic: at least one
    else:
        expected = len(OPS[op].args)
    if len(inputs) != expected:
        raise _Refused(f"{what}: {len(inputs)} inputs, the op takes {expected}")


def _attributes(op, value, ctx, what) -> dict:
    schema = ATTRIBUTES.get(op, {})
    value = _fields(value, f"{what}.attrs", set(schema))
    attrs = {name: decode(value[name], ctx, f"{what}.attrs.{name}") for name, decode in schema.items()}
    if op in _NODE_CHECKS:
        _NODE_CHECKS[op](attrs, ctx, what)
    return attrs


def _graph_of(entry, nodes, source) -> Graph:
    """Outputs and updates: as many as the source's, of the same shapes and dtypes, each
    update of the source's own variable."""
    last = len(nodes) - 1
    outputs = [nodes[_int(i, "outputs", 0, last)] for i in _list(entry["outputs"], "outputs", len(source.outputs))]
    for k, (o, s) in enumerate(zip(outputs, source.outputs)):
        _expect(o.shape == s.shape and o.dtype == s.dtype,
                f"output {k} is {o.shape} {o.dtype}, the source's {s.shape} {s.dtype}")
    updates = []
    for k, pair in enumerate(_list(entry["updates"], "updates", len(source.updates))):
        v, t = (nodes[_int(i, f"updates[{k}]", 0, last)] for i in _list(pair, f"updates[{k}]", 2))
        variable, value = source.updates[k]
        _expect(v is variable, f"updates[{k}] updates another node than the source's variable")
        _expect(t.shape == value.shape and t.dtype == value.dtype, f"updates[{k}]: new value of another shape")
        updates.append((v, t))
    graph = Graph(outputs, updates)
    _expect([id(n) for n in graph.nodes] == [id(n) for n in nodes],
            "its nodes are not exactly the outputs' dependencies in order")
    return graph


def _kernels_of(entries, graph, nodes) -> Graph:
    """The kernel partition, as the fusion passes make it: elementwise members of one shape,
    an optional matmul anchor read only by them, optional reductions of a member; no node in
    two kernels; and no cycle between kernels (the schedule must exist)."""
    from graphc.errors import GraphError
    from graphc.passes.fuse_elementwise import fusible
    from graphc.passes.fuse_reductions import fusible_reduction
    from graphc.plan.schedule import schedule
    users = graph.users()
    roots = {id(t) for t in graph.outputs} | {id(t) for _, t in graph.updates}
    last = len(nodes) - 1
    taken: set = set()
    kernels = []
    for k, d in enumerate(_list(entries, "kernels")):
        what = f"kernels[{k}]"
        d = _fields(d, what, {"members", "anchor", "reductions"})
        positions = [_int(i, f"{what}.members", 0, last) for i in _list(d["members"], f"{what}.members")]
        _expect(positions and all(a < b for a, b in zip(positions, positions[1:])), f"{what}: members out of order")
        members = [nodes[i] for i in positions]
        shape = members[0].shape
        _expect(all(fusible(m) and m.shape == shape for m in members), f"{what}: a member that cannot be fused")
        anchor = None
        if d["anchor"] is not None:
            anchor = nodes[_int(d["anchor"], f"{what}.anchor", 0, last)]
            readers = {id(u) for u in users[anchor]}
            _expect(anchor.op == "matmul" and anchor.shape == shape and id(anchor) not in roots
                    and len(readers) == 1 and readers <= {id(m) for m in members}, f"{what}: not an epilogue's anchor")
        _expect(len(members) > 1 or anchor is not None, f"{what}: a kernel of one op")
        reductions = [nodes[_int(i, f"{what}.reductions", 0, last)]
                      for i in _list(d["reductions"], f"{what}.reductions")]
        member_ids = {id(m) for m in members}
        for r in reductions:
            _expect(r.op in OPS and fusible_reduction(r) and id(r.inputs[0]) in member_ids and r.inputs[0].shape == shape,
                    f"{what}: a reduction that is not over one of its members")
        # the backend runs the anchor, then the members in order, then the reductions
        inside, tails = {id(n) for n in members + reductions}, {id(r) for r in reductions}
        _expect(anchor is None or not any(id(i) in inside for i in anchor.inputs), f"{what}: its anchor reads it")
        _expect(not any(id(i) in tails for m in members for i in m.inputs), f"{what}: a member reads its reduction")
        for n in members + reductions + ([anchor] if anchor is not None else []):
            if id(n) in taken:
                raise _Refused(f"{what}: node {n.name!r} is in two kernels")
            taken.add(id(n))
        kernels.append(close_group(tuple(members), anchor, users, roots, tuple(reductions)))
    graph = graph.with_kernels(kernels)
    try:
        schedule(graph)
    except GraphError:
        raise _Refused("its kernels depend on each other in a cycle") from None
    return graph


def _reports_of(entries, nodes) -> list:
    reports = []
    for k, r in enumerate(_list(entries, "reports")):
        what = f"reports[{k}]"
        r = _fields(r, what, {"name", "before", "after", "changes", "seconds", "round", "notes"})
        _expect(type(r["changes"]) is dict, f"{what}.changes: expected an object")
        _expect(type(r["seconds"]) is float and 0 <= r["seconds"] < math.inf, f"{what}.seconds")
        rep = PassReport(_text(r["name"], what), _int(r["before"], what, 0), _int(r["after"], what, 0),
                         seconds=r["seconds"], round=None if r["round"] is None else _int(r["round"], what, 0))
        for change, count in r["changes"].items():
            rep.changes[_text(change, f"{what}.changes")] = _int(count, f"{what}.changes", 1)
        for note in _list(r["notes"], f"{what}.notes"):
            i, text = _list(note, f"{what}.notes", 2)
            node = None if i is None else nodes[_int(i, f"{what}.notes", 0, len(nodes) - 1)]
            rep.notes.append((node, _text(text, f"{what}.notes")))
        reports.append(rep)
    return reports


def _size(shape) -> int:
    """Elements, counting sizes known only at call time as 1."""
    return math.prod(shape) if None not in shape else math.prod(d for d in shape if d is not None)
