"""The op registry: one record per op (``OpDef``), holding everything about it in one place —
shape/dtype rule, NumPy template, gradient rule and what the passes, the memory plan and the
backends may assume — so adding an op means filling one record (``defop``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from graphc.ir import arguments, batching
from graphc.codetext import literal
from graphc.errors import GraphError
from graphc.ir.tensor import Tensor, format_shape


@dataclasses.dataclass(frozen=True)
class OpDef:
    """One op's record. It carries
      * ``infer(inputs, attrs) -> (shape, dtype)``: the shape and dtype rule, which raises
        ShapeError / DTypeError naming the op and the tensors;
      * ``numpy``: a code template (``"np.add({x}, {y})"``). The NumPy backend pastes it into the
        generated source; compiled once, the same template is the op's reference semantics
        (``impl``), which the constant folder evaluates. ``helpers`` name the functions a template
        may call beyond ``np``, each with its plain-NumPy reference; backends bind their own
        kernels to the names;
      * ``grad(node, g) -> [input cotangent or None, ...]``: the gradient rule, which builds graph
        nodes and never touches NumPy arrays;
      * ``numpy_out``: optionally, the op as a statement writing into an existing array
        ``{out}`` (fused kernels use it; single-ufunc templates get one automatically). It must
        read its inputs no later than its first write, so ``{out}`` may alias a dying input;
      * ``kind``: "elementwise", "reduction", "source", "random" or "opaque" — what the passes may
        do with it; ``scalar``: for elementwise ops, the per-element expression (``numpy`` and
        ``cuda``) that fused kernels are built from;
      * ``result``: "new" (an array of its own, sharing no memory with the inputs), "view" (may be
        its first input's memory) or "unknown" — what the memory plan may overwrite;
      * ``batch``: its batch rule (``graphc.ir.batching``): how it runs on operands split into
        chunks along an axis, or why it cannot;
      * ``monoid``: for reductions, how partial results combine ("sum", "mean", "max", "min",
        "prod"), which also gives the accumulator's identity (``reduction_identity``).
    Elementwise ops derive ``result`` and ``batch``; every other op with inputs states them.
    """
    name: str
    args: tuple               # template names of the inputs; "*xs" takes all of them as a list
    infer: Callable
    numpy: str
    grad: Callable | None = None
    kind: str = "opaque"
    helpers: dict = dataclasses.field(default_factory=dict)
    scalar: dict | None = None
    doc: str = ""
    numpy_out: str | None = None  # statement writing into an existing array {out}, for fused
    #                               kernels; derived automatically for single-ufunc templates
    result: str | None = None     # "new", "view" or "unknown"
    batch: Callable | None = None  # batch rule (graphc.ir.batching)
    monoid: str | None = None     # reductions: "sum", "mean", "max", "min" or "prod"

    @property
    def stateful(self) -> bool:
        return self.kind == "random"

    def render_call(self, arg_exprs, attrs) -> str:
        """The template filled with input expressions and attribute literals."""
        fields = {k: literal(v) for k, v in attrs.items()}
        if self.args and self.args[0].startswith("*"):
            fields[self.args[0][1:]] = ", ".join(arg_exprs)
        else:
            fields.update(zip(self.args, arg_exprs))
        return self.numpy.format(**fields)

    def impl(self, *arrays, **attrs):
        """Reference semantics: the template evaluated on NumPy arrays."""
        names = [f"_in{i}" for i in range(len(arrays))]
        source = self.render_call(names, attrs)
        code = _compiled(source)
        namespace = {"np": np, **self.helpers, **dict(zip(names, arrays))}
        with np.errstate(all="ignore"):
            return eval(code, namespace)  # noqa: S307 - our own template, not user text


_code_cache: dict[str, object] = {}


def _compiled(source: str):
    code = _code_cache.get(source)
    if code is None:
        code = _code_cache[source] = compile(source, "<graphc-op>", "eval")
    return code


OPS: dict[str, OpDef] = {}


RESULTS = ("new", "view", "unknown")
MONOIDS = ("sum", "mean", "max", "min", "prod")


def register(opdef: OpDef) -> OpDef:
    if opdef.name in OPS:
        raise GraphError(f"op {opdef.name!r} is defined twice")
    if opdef.result not in RESULTS:
        raise GraphError(f"op {opdef.name!r}: result must be one of {RESULTS}, got {opdef.result!r}")
    if opdef.args and opdef.batch is None:
        raise GraphError(f"op {opdef.name!r} has no batch rule (graphc.ir.batching; refuse(reason) "
                         "for an op that cannot run chunk by chunk)")
    if opdef.monoid is not None and (opdef.kind != "reduction" or opdef.monoid not in MONOIDS):
        raise GraphError(f"op {opdef.name!r}: a monoid ({MONOIDS}) is for reductions only, got {opdef.monoid!r}")
    OPS[opdef.name] = opdef
    return opdef


def defop(name, args, infer, numpy, grad=None, kind="opaque", helpers=None, scalar=None, doc="",
          numpy_out=None, result=None, batch=None, monoid=None):
    if kind in ("elementwise", "reduction", "source", "random"):
        result = result or "new"
    if kind == "elementwise":
        batch = batch or batching.elementwise
    return register(OpDef(name, tuple(args), infer, numpy, grad, kind, helpers or {}, scalar, doc,
                          numpy_out, result, batch, monoid))


def reduction_identity(monoid: str, dtype):
    """The value a ``monoid`` accumulator of ``dtype`` starts from: 0 for sums and means, 1 for
    products, the lowest (highest) value of the dtype for max (min)."""
    dtype = np.dtype(dtype)
    if monoid in ("sum", "mean"):
        return dtype.type(0)
    if monoid == "prod":
        return dtype.type(1)
    lowest = monoid == "max"
    if dtype.kind == "f":
        return dtype.type(-np.inf if lowest else np.inf)
    if dtype.kind == "b":
        return np.bool_(not lowest)
    info = np.iinfo(dtype)
    return dtype.type(info.min if lowest else info.max)


def helper_names() -> set:
    """The names the ops' helpers take in a generated namespace."""
    return {h for od in OPS.values() for h in od.helpers}


def opdef(op_name: str) -> OpDef:
    try:
        return OPS[op_name]
    except KeyError:
        raise GraphError(f"unknown op {op_name!r}") from None


def apply(op_name: str, inputs, **attrs) -> Tensor:
    """Build the node ``op_name(*inputs, **attrs)``, inferring its shape and dtype."""
    od = opdef(op_name)
    inputs = tuple(inputs)
    shape, dtype = od.infer(inputs, attrs)
    return Tensor(op_name, inputs, attrs, shape, dtype)


def rebuild(node: Tensor, inputs) -> Tensor:
    """The same op and attributes over new inputs (shapes re-inferred). Sources are returned as is."""
    if not node.inputs:
        return node
    inputs = tuple(inputs)
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    od = OPS[node.op]
    shape, dtype = od.infer(inputs, node.attrs)
    # the same op, built where the user built the original
    return Tensor(node.op, inputs, node.attrs, shape, dtype, tag=node.tag, site=node.site)


# -- helpers for shape rules -------------------------------------------------------------

def describe(t: Tensor) -> str:
    """How a tensor is named in an error message: name, shape and dtype."""
    return f"{t.name!r} {format_shape(t.shape)} {t.dtype}"


def broadcast_shapes(op: str, *tensors: Tensor) -> tuple:
    """NumPy broadcasting over the tensors' static shapes, with None for sizes known only at
    call time."""
    return broadcast_tuples(op, [t.shape for t in tensors],
                            lambda: ", ".join(describe(t) for t in tensors))


def broadcast_tuples(op: str, shapes, listing) -> tuple:
    """NumPy broadcasting over shape tuples (None: known at call time); ``listing()`` names the
    operands in the ShapeError when they cannot broadcast."""
    from graphc.errors import ShapeError
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        dims = [s[axis] for s in shapes if len(s) >= -axis]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError(f"{op}: shapes cannot broadcast (axis {axis}: sizes {sorted(known)}): {listing()}")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(op: str, t: Tensor, axis) -> int:
    """An axis of ``t`` (an integer, negative counting from the end) as a non-negative int, or
    a TypeError (not an integer) / ShapeError (out of range) naming op, axis and t."""
    from graphc.errors import ShapeError
    axis = arguments.index(axis, f"{op}: axis")
    ndim = t.ndim
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ShapeError(f"{op}: axis {axis} is out of range for {describe(t)}")
    return axis % ndim if ndim else 0


def normalize_axes(op: str, t: Tensor, axis) -> tuple:
    """None -> all axes; int or sequence -> sorted tuple of non-negative axes (no repeats)."""
    from graphc.errors import ShapeError
    if axis is None:
        return tuple(range(t.ndim))
    given = arguments.indices(axis, f"{op}: axis", allow_int=True)
    axes = tuple(sorted(normalize_axis(op, t, a) for a in given))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axis in {axis} for {describe(t)}")
    return axes
