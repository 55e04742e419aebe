"""Lowering of fused kernels to NumPy.

A kernel over a large iteration shape becomes a generated *driver* that walks the arrays in
cache-sized blocks and runs a generated *block function* on each: every op writes with
``out=`` into a few scratch buffers that stay in cache, so the whole kernel reads its inputs
and writes its outputs once. Small kernels, and kernels whose shape is known only at call
time, are emitted as plain lines (one NumPy call per op): there, call overhead dominates.
"""
from __future__ import annotations

import math
import re

import numpy as np

from graphc.codetext import literal
from graphc.ir.opdef import OPS, reduction_identity
from graphc.ir.tensor import format_shape

BLOCK_ELEMENTS = 65536        # per scratch buffer: 256 KiB of float32, about an L2 cache
MIN_BLOCKED_ELEMENTS = 65536  # below this, one NumPy call per op is as fast and simpler

_SINGLE_UFUNC = re.compile(r"^np\.(\w+)\((.*)\)$")


def out_statement(node, args: list, out: str) -> str:
    """A statement computing ``node`` from ``args`` into the existing array ``out``.

    Out-forms read their inputs before (or in) their first write, so ``out`` may alias an
    input that dies here."""
    od = OPS[node.op]
    attrs = dict(node.attrs)
    if od.numpy_out:
        fields = {**{k: literal(v) for k, v in attrs.items()}, **dict(zip(od.args, args)), "out": out}
        return od.numpy_out.format(**fields)
    expr = od.render_call(args, attrs)
    match = _SINGLE_UFUNC.match(expr)
    if match and isinstance(getattr(np, match.group(1), None), np.ufunc) and _balanced(match.group(2)):
        return f"np.{match.group(1)}({match.group(2)}, out={out})"
    return f"{out}[...] = {expr}"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def blocking(kernel):
    """How a kernel is split into blocks: ("flat", None), ("rows", rows_per_block) or None
    (plain lines). Reductions must be over all axes (accumulated across blocks) or, in rows
    mode, leave axis 0 alone (each block writes its rows)."""
    shape = kernel.shape
    if any(d is None for d in shape):
        return None
    size = math.prod(shape)
    if size < MIN_BLOCKED_ELEMENTS:
        return None
    everything = tuple(range(len(shape)))
    full = [r.attrs["axis"] == everything for r in kernel.reductions]
    ins = [i for i in kernel.inputs if i.size != 1]
    if all(i.shape == shape for i in ins) and all(full):
        return ("flat", None)
    row = math.prod(shape[1:])
    rows_ok = all(f or 0 not in r.attrs["axis"] for f, r in zip(full, kernel.reductions))
    if rows_ok and shape[0] > 1 and all(i.ndim < len(shape) or i.shape[0] in (1, shape[0]) for i in ins):
        return ("rows", max(1, BLOCK_ELEMENTS // max(row, 1)))
    return None


_REDUCE_CALL = {"reduce_sum": "np.sum", "reduce_mean": "np.sum", "reduce_max": "np.max",
                "reduce_min": "np.min"}


def _identity(op, dtype) -> str:
    """The accumulator's start as Python source (NumPy spells the infinities)."""
    value = reduction_identity(OPS[op].monoid, dtype)
    if dtype.kind == "f" and np.isinf(value):
        return "-np.inf" if value < 0 else "np.inf"
    return repr(value.item())


def _combine(op, acc: str, part: str) -> str:
    if op in ("reduce_sum", "reduce_mean"):
        return f"{acc} + {part}"
    return f"np.maximum({acc}, {part})" if op == "reduce_max" else f"np.minimum({acc}, {part})"


def _input_layout(t, shape, mode):
    if t.size == 1:
        return "scalar"
    if mode == "flat":
        return "flat"
    return "rows" if t.ndim == len(shape) and t.shape[0] == shape[0] else "whole"


def lower_blocked(kernel, name: str, mode, alias_anchor: bool):
    """Source lines, as (line, node it computes or None), of the block function and the driver
    ``name``; the driver takes the kernel's inputs (the anchor's result first, if any) and
    returns its outputs."""
    kind, rows = mode
    shape = kernel.shape
    size = math.prod(shape)
    ext = list(kernel.inputs)
    arg_names = [f"in{i}" for i in range(len(ext))]
    ref = {id(t): a for t, a in zip(ext, arg_names)}
    # finite 0-d constants go in as Python literals: NumPy 2 treats them as weak scalars, so
    # the result is the same as with the 0-d array, at a lower cost per ufunc call
    for t in ext:
        scalar_text = _literal(t)
        readers = [m for m in kernel.members if any(i is t for i in m.inputs)]
        # only where the constant's dtype is the dtype of the op anyway (a weak literal would
        # not promote: float32 array * float64 constant must compute in float64)
        if scalar_text is not None and all(m.dtype == t.dtype and all(i.dtype == t.dtype for i in m.inputs)
                                       for m in readers):
            ref[id(t)] = scalar_text
    out_index = {id(o): k for k, o in enumerate(kernel.outputs)}
    members = kernel.members

    # scratch allocation: a member that is not an output takes a free buffer of its dtype;
    # a buffer frees after the last member that reads it (in-place reuse is safe, see above)
    last_use = {}
    for pos, m in enumerate(members):
        for i in m.inputs:
            last_use[id(i)] = pos
    for r in kernel.reductions:  # read after every member has run
        last_use[id(r.inputs[0])] = len(members)
    everything = tuple(range(len(shape)))
    full_reductions = [r for r in kernel.reductions if r.attrs["axis"] == everything]
    scratch_dtypes, free, buffer_of = [], [], {}
    body = []
    for pos, m in enumerate(members):
        args = [ref.get(id(i)) or _local(i, buffer_of, out_index) for i in m.inputs]
        for i in m.inputs:
            b = buffer_of.get(id(i))
            if b is not None and last_use.get(id(i)) == pos and (b, i.dtype) not in free:
                free.append((b, i.dtype))
        if id(m) in out_index:
            target = f"o{out_index[id(m)]}"
        else:
            slot = next((f for f in free if f[1] == m.dtype), None)
            if slot is not None:
                free.remove(slot)
                buf = slot[0]
            else:
                buf = f"s{len(scratch_dtypes)}"
                scratch_dtypes.append(m.dtype)
            buffer_of[id(m)] = buf
            target = buf
        body.append((f"    {out_statement(m, args, target)}  # {m.op}", m))

    partials = []
    for r in kernel.reductions:
        source = ref.get(id(r.inputs[0])) or _local(r.inputs[0], buffer_of, out_index)
        call = _REDUCE_CALL[r.op]
        if r in full_reductions:  # accumulated by the driver across blocks
            partials.append(f"{call}({source})")
        else:
            k = out_index[id(r)]
            body.append((f"    {call}({source}, axis={r.attrs['axis']}, keepdims={r.attrs['keepdims']}, "
                         f"out=o{k})  # {r.op}", r))
            if r.op == "reduce_mean":
                count = math.prod(shape[a] for a in r.attrs["axis"])
                body.append((f"    np.divide(o{k}, {count}, out=o{k})  # mean: sum / {count}", r))
    if partials:
        body.append((f"    return {', '.join(partials)}{',' if len(partials) == 1 else ''}", None))

    accumulated = {id(r) for r in full_reductions}
    outs = [f"o{k}" for k, o in enumerate(kernel.outputs) if id(o) not in accumulated]
    scratch = [f"s{k}" for k in range(len(scratch_dtypes))]
    block_fn = f"{name}_block"
    lines = [f"def {block_fn}({', '.join(arg_names + outs + scratch)}):"]

    layouts = [_input_layout(t, shape, kind) for t in ext]
    block_shape = (BLOCK_ELEMENTS,) if kind == "flat" else (rows,) + tuple(shape[1:])
    n = size if kind == "flat" else shape[0]
    step = BLOCK_ELEMENTS if kind == "flat" else rows
    lines.append("")
    lines.append(f"def {name}({', '.join(arg_names)}):")
    lines.append(f"    # {kernel.describe()}, in blocks of {format_shape(block_shape)}")
    for k, o in enumerate(kernel.outputs):
        if id(o) in accumulated:
            continue  # combined from the shares below
        elif o is members[-1] and alias_anchor:
            lines.append(f"    o{k} = in0  # the last op finishes in the matmul's buffer")
        else:
            lines.append(f"    o{k} = np.empty({tuple(o.shape)}, dtype={o.dtype.name!r})")
    sliced = []
    for a, layout in zip(arg_names, layouts):
        if layout == "flat":
            lines.append(f"    {a}f = {a}.reshape(-1)")
            sliced.append(f"{a}f[lo:hi]")
        elif layout == "rows":
            sliced.append(f"{a}[lo:hi]")
        elif layout == "scalar":
            lines.append(f"    {a}s = np.reshape({a}, ())")
            sliced.append(f"{a}s")
        else:
            sliced.append(a)
    for o in outs:  # the accumulated reductions are not passed: the block returns their parts
        if kind == "flat":
            lines.append(f"    {o}f = {o}.reshape(-1)")
            sliced.append(f"{o}f[lo:hi]")
        else:
            sliced.append(f"{o}[lo:hi]")
    # one thread's share of the blocks, [start, stop), with scratch buffers of its own
    acc_names = [f"o{out_index[id(r)]}" for r in full_reductions]
    lines.append("    def share(start, stop):")
    for b, dt in zip(scratch, scratch_dtypes):
        lines.append(f"        {b}_ = np.empty({block_shape}, dtype={dt.name!r})")
    parts = [f"p{k}" for k in range(len(acc_names))]
    for part, r in zip(parts, full_reductions):
        lines.append(f"        {part}_ = {_identity(r.op, r.dtype)}")
    lines.append(f"        for lo in range(start, stop, {step}):")
    lines.append(f"            hi = min(lo + {step}, stop)")
    block_scratch = [f"{b}_[:hi - lo]" for b in scratch]
    call = f"{block_fn}({', '.join(sliced + block_scratch)})"
    if parts:
        lines.append(f"            {', '.join(parts)}{',' if len(parts) == 1 else ''} = {call}")
        for part, r in zip(parts, full_reductions):
            lines.append(f"            {part}_ = {_combine(r.op, part + '_', part)}")
        lines.append(f"        return {', '.join(p + '_' for p in parts)}{',' if len(parts) == 1 else ''}")
    else:
        lines.append(f"            {call}")
    lines.append(f"    shares = run_shares(share, {n}, {step})")
    for k, (a, r) in enumerate(zip(acc_names, full_reductions)):
        combined = f"shares[0][{k}]"
        lines.append(f"    {a} = {combined}")
        lines.append("    for more in shares[1:]:")
        lines.append(f"        {a} = {_combine(r.op, a, f'more[{k}]')}")
        total = f"{a} / {size}" if r.op == "reduce_mean" else a
        lines.append(f"    {a} = np.asarray({total}, dtype={r.dtype.name!r}).reshape({tuple(r.shape)})")
    all_outs = [f"o{k}" for k in range(len(kernel.outputs))]
    lines.append(f"    return {', '.join(all_outs)}{',' if len(all_outs) == 1 else ''}")
    return [(line, None) for line in lines[:1]] + body + [(line, None) for line in lines[1:]]


def _literal(t):
    if t.op != "constant" or t.shape != () or t.dtype.kind not in "fiu":
        return None
    value = t.attrs["value"].item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return repr(value)


def _local(t, buffer_of, out_index):
    if id(t) in out_index:
        return f"o{out_index[id(t)]}"
    return buffer_of[id(t)]
