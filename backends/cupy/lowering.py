"""How each op that is not elementwise runs on the device.

Elementwise ops become CUDA kernels (cuda_codegen.py). Every other op is listed here, one
way or the other, so nothing can reach the CPU unnoticed:

* ``SAME_AS_NUMPY``: the op's NumPy template is run as it is, with ``np`` bound to CuPy —
  for the ops where CuPy's function has NumPy's semantics (views, concatenate, take, linalg,
  argmax) — and with its helper functions (``helpers=`` of the
  defop: convolution, pooling, scatters, ...) resolved to the device versions of the same
  name and signature in device_ops.py, never to the NumPy ones;
* ``DEVICE_TEMPLATES``: a template written for CuPy — matmul as one cuBLAS call (the NumPy
  template splits products over CPU threads), reductions with their result dtype spelled out,
  shapes read from ``.shape``, CuPy's seeded RandomState.

* ``REFUSED``: ops the backend declines, each with the reason ``device_template`` raises.

Every registered op is in exactly one of them or elementwise (a test checks it).
"""
from __future__ import annotations

from graphc.codetext import literal
from graphc.errors import BackendUnavailable
from graphc.ir.opdef import OPS

SAME_AS_NUMPY = frozenset({
    "reshape", "transpose", "concat", "expand_dims", "squeeze", "broadcast_to", "fill",
    "getitem", "gather", "inv", "pinv", "argmax", "argmin",
    # NumPy templates calling helpers: device_ops.py has each helper, same name and signature
    "sum_to_like", "getitem_grad", "scatter_slices", "concat_part", "one_hot", "gather_grad",
    "softmax_cross_entropy", "reduced_count", "conv2d", "conv2d_bias", "conv2d_backprop_input",
    "conv2d_backprop_filter", "max_pool2d", "max_pool2d_grad", "max_pool2d_select", "avg_pool2d",
    "avg_pool2d_grad",
})

DEVICE_TEMPLATES = {
    "matmul": "np.matmul({a}, {b})",   # cuBLAS
    # shapes from the arrays themselves
    "reshape_like": "np.reshape({x}, {ref}.shape)",
    "broadcast_like": "np.broadcast_to({x}, numpy.broadcast_shapes({x}.shape, {ref}.shape))",
    "fill_like": "np.full({ref}.shape, {value}, dtype={dtype})",
    # reductions, with NumPy's result dtype (int32 sums to int64, int means are float64)
    "reduce_sum": "np.sum({x}, axis={axis}, dtype={out_dtype}, keepdims={keepdims})",
    "reduce_mean": "np.mean({x}, axis={axis}, dtype={out_dtype}, keepdims={keepdims})",
    "reduce_prod": "np.prod({x}, axis={axis}, dtype={out_dtype}, keepdims={keepdims})",
    "reduce_max": "np.max({x}, axis={axis}, keepdims={keepdims})",
    "reduce_min": "np.min({x}, axis={axis}, keepdims={keepdims})",
    # random ops: one cupy.random.RandomState per node, seeded by the op's seed
    "random_uniform": "{rng}.uniform({minval}, {maxval}, {shape}, dtype={dtype})",
    "random_normal": "{rng}.normal({mean}, {stddev}, {shape}, dtype={dtype})",
    "random_uniform_like": "{rng}.uniform({minval}, {maxval}, {ref}.shape, dtype={dtype})",
    "random_normal_like": "{rng}.normal({mean}, {stddev}, {ref}.shape, dtype={dtype})",
}

# op -> why the CuPy backend does not lower it (none today)
REFUSED: dict = {}

# ops whose result is a new C-contiguous array (a CUDA kernel may read it as it is); the
# results of every other op (views: transposes, slices, broadcasts) are made contiguous first
FRESH = frozenset({
    "matmul", "concat", "fill", "fill_like", "gather", "inv", "pinv", "argmax", "argmin",
    "reduce_sum", "reduce_mean", "reduce_prod", "reduce_max", "reduce_min", "reduced_count",
    "getitem_grad", "scatter_slices", "one_hot", "gather_grad", "softmax_cross_entropy",
    "conv2d", "conv2d_bias", "conv2d_backprop_input", "conv2d_backprop_filter", "max_pool2d", "max_pool2d_grad",
    "max_pool2d_select", "avg_pool2d", "avg_pool2d_grad", "random_uniform", "random_normal",
    "random_uniform_like", "random_normal_like",
})


def device_template(op: str) -> str:
    """The device template of a non-elementwise op; BackendUnavailable if it has none."""
    if op in DEVICE_TEMPLATES:
        return DEVICE_TEMPLATES[op]
    if op in SAME_AS_NUMPY:
        return OPS[op].numpy
    if op in REFUSED:
        raise BackendUnavailable(f"the CuPy backend cannot lower op {op!r}: {REFUSED[op]}")
    raise BackendUnavailable(f"the CuPy backend cannot lower op {op!r}: it is neither a CUDA "
                             f"kernel (elementwise) nor listed in backends/cupy/lowering.py")


def render(node, operands: list, extra: dict) -> str:
    """The device template of ``node`` filled with operand names and attribute literals;
    ``extra`` adds fields (the random generator's name)."""
    od = OPS[node.op]
    fields = {k: literal(v) for k, v in node.attrs.items()}
    if od.args and od.args[0].startswith("*"):
        fields[od.args[0][1:]] = ", ".join(operands)
    else:
        fields.update(zip(od.args, operands))
    fields["out_dtype"] = repr(node.dtype.name)
    fields.update(extra)
    return device_template(node.op).format(**fields)


