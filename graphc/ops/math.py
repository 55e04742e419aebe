"""Elementwise ops: arithmetic, transcendental functions, comparisons, where/clip.

Each op is one ``defop`` call: its NumPy template (also its reference semantics), its
dtype rule, and its gradient rule written with graph ops.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import arguments
from graphc.ir import dtypes
from graphc.errors import DTypeError
from graphc.ir.tensor import Tensor, as_tensor, constant
from graphc.ir.opdef import apply, broadcast_shapes, defop, describe


# -- operands: weak Python scalars take the dtype of the tensor they meet ----------------

def operands(*values, what: str = "constant") -> list[Tensor]:
    """Convert the operands of an elementwise op to Tensors under the weak-scalar rules;
    ``what`` (the op's name) is named when a value is no array."""
    strong = [v for v in values if not dtypes.is_python_scalar(v)]
    strong_tensors = [as_tensor(v, what=what) for v in strong]
    if strong_tensors:
        target = dtypes.promote(*(t.dtype for t in strong_tensors))
    else:
        target = None
    if target is not None and target.kind != "f" and any(
            isinstance(v, float) and dtypes.is_python_scalar(v) for v in values):
        # JAX's rule: a Python float meeting only integer/bool tensors gives the default float
        # (int_tensor * 1.5 is float32, not NumPy's float64): the tensors are cast to it
        from graphc.ops.shape_ops import cast
        strong_tensors = [cast(t, dtypes.DEFAULT_FLOAT) for t in strong_tensors]
        target = dtypes.DEFAULT_FLOAT
    out, it = [], iter(strong_tensors)
    for v in values:
        if dtypes.is_python_scalar(v):
            dt = dtypes.weak_dtype(v, target) if target is not None else dtypes.python_scalar_dtype(v)
            out.append(constant(v, dtype=dt))
        else:
            out.append(next(it))
    return out


def scalar_like(value, t: Tensor) -> Tensor:
    """A 0-d constant of ``t``'s dtype (used by gradient rules)."""
    return constant(value, dtype=t.dtype)


# -- dtype rules -------------------------------------------------------------------------

def _numeric(op, t):
    if t.dtype.kind == "b":
        raise DTypeError(f"{op}: needs a numeric tensor, got bool {describe(t)}; use gc.cast")


def _floating(op, t):
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: needs a float tensor, got {describe(t)}; use gc.cast(x, 'float32')")


def _unary_rule(op, kind):
    """kind: "float" (float inputs only), "numeric" (not bool), "any", or "bool" (any input,
    bool result)."""
    def infer(inputs, attrs):
        (x,) = inputs
        if kind == "float":
            _floating(op, x)
        elif kind == "numeric":
            _numeric(op, x)
        return x.shape, (dtypes.BOOL if kind == "bool" else x.dtype)
    return infer


def _binary_rule(op, ufunc, result=None):
    def infer(inputs, attrs):
        x, y = inputs
        shape = broadcast_shapes(op, x, y)
        if result == "bool":
            return shape, dtypes.BOOL
        if result == "numeric":
            _numeric(op, x), _numeric(op, y)
        return shape, dtypes.result_dtype(ufunc, x.dtype, y.dtype)
    return infer


# -- gradient helpers --------------------------------------------------------------------

def unbroadcast(g: Tensor, x: Tensor) -> Tensor:
    """Sum ``g`` down to ``x``'s shape: the adjoint of NumPy broadcasting."""
    from graphc.ops import broadcasting
    return broadcasting.sum_to_like(g, x)


def _defbinary(name, ufunc, template, grad, result=None, doc="", cuda=None):
    defop(name, ("x", "y"), _binary_rule(name, ufunc, result), template, grad=grad,
          kind="elementwise", doc=doc, scalar={"cuda": cuda})

    def build(x, y):
        return apply(name, operands(x, y, what=name))
    build.__name__ = name
    build.__doc__ = doc
    return build


def _defunary(name, template, grad, kind="float", doc="", numpy_out=None, cuda=None, helpers=None,
              result=None):
    defop(name, ("x",), _unary_rule(name, kind), template, grad=grad, kind="elementwise", doc=doc,
          numpy_out=numpy_out, scalar={"cuda": cuda}, helpers=helpers, result=result)

    def build(x):
        return apply(name, [as_tensor(x, what=name)])
    build.__name__ = name
    build.__doc__ = doc
    return build


# -- CUDA templates ------------------------------------------------------------------------
# ``cuda=`` is the op's per-element C++ expression for the GPU backend's generated kernels
# (backends/cupy/cuda_codegen.py). {x}, {y}, {cond} are the operands, already converted to the
# dtype NumPy's loop computes in (the result dtype; for comparisons, the operands' common
# dtype); {T} is the C type of the result; attributes such as {alpha} are literals. Math
# functions are CUDA's C++ overloads (exp(float) is expf), so literals are written ({T})0.5,
# never a bare 0.5 that would turn float32 arithmetic into float64. gc_maximum, gc_minimum,
# gc_abs and gc_pow are the small device functions of backends/cupy/preamble.py where NumPy's
# semantics need more than an expression (NaN propagation, integer powers).

# -- arithmetic --------------------------------------------------------------------------

add = _defbinary("add", "add", "np.add({x}, {y})",
                 lambda n, g: [unbroadcast(g, n.inputs[0]), unbroadcast(g, n.inputs[1])],
                 doc="x + y, elementwise with broadcasting", cuda="({x} + {y})")
sub = _defbinary("sub", "subtract", "np.subtract({x}, {y})",
                 lambda n, g: [unbroadcast(g, n.inputs[0]), unbroadcast(neg(g), n.inputs[1])],
                 result="numeric", doc="x - y", cuda="({x} - {y})")
mul = _defbinary("mul", "multiply", "np.multiply({x}, {y})",
                 lambda n, g: [unbroadcast(g * n.inputs[1], n.inputs[0]),
                               unbroadcast(g * n.inputs[0], n.inputs[1])],
                 doc="x * y, elementwise", cuda="({x} * {y})")


def _div_grad(n, g):
    x, y = n.inputs
    return [unbroadcast(g / y, x), unbroadcast(neg(g) * n / y, y)]


div = _defbinary("div", "true_divide", "np.true_divide({x}, {y})", _div_grad,
                 result="numeric", doc="x / y (true division; integers give float64, as NumPy)",
                 cuda="({x} / {y})")


def _pow_grad(n, g):
    x, y = n.inputs
    # d/dx x**y = y x**(y-1); d/dy = x**y log x, taken as 0 where x == 0 (TensorFlow's choice)
    gx = g * y * pow(x, y - scalar_like(1, y))
    safe_log = log(where(x > scalar_like(0, x), x, ones_like_value(x)))
    gy = g * n * safe_log
    return [unbroadcast(gx, x), unbroadcast(gy, y) if y.dtype.kind == "f" else None]


def ones_like_value(x):
    from graphc.ops.shape_ops import ones_like
    return ones_like(x)


pow = _defbinary("pow", "power", "np.power({x}, {y})", _pow_grad, result="numeric",
                 doc="x ** y", cuda="gc_pow({x}, {y})")  # noqa: A001 - the API name


def _select_grad(pick_x):
    def grad(n, g):
        x, y = n.inputs
        # ties go to x, as TensorFlow (x >= y for maximum, x <= y for minimum)
        mask = pick_x(x, y)
        zero = zeros_like_g(g)
        return [unbroadcast(where(mask, g, zero), x), unbroadcast(where(mask, zero, g), y)]
    return grad


def zeros_like_g(g):
    from graphc.ops.shape_ops import zeros_like
    return zeros_like(g)


maximum = _defbinary("maximum", "maximum", "np.maximum({x}, {y})",
                     _select_grad(lambda x, y: greater_equal(x, y)), result="numeric",
                     doc="elementwise max; at ties the gradient goes to x",
                     cuda="gc_maximum({x}, {y})")
minimum = _defbinary("minimum", "minimum", "np.minimum({x}, {y})",
                     _select_grad(lambda x, y: less_equal(x, y)), result="numeric",
                     doc="elementwise min; at ties the gradient goes to x",
                     cuda="gc_minimum({x}, {y})")

# -- comparisons: bool results, no gradient ----------------------------------------------

equal = _defbinary("equal", "equal", "np.equal({x}, {y})", None, result="bool", doc="x == y elementwise",
                   cuda="({x} == {y})")
not_equal = _defbinary("not_equal", "not_equal", "np.not_equal({x}, {y})", None, result="bool",
                       cuda="({x} != {y})")
less = _defbinary("less", "less", "np.less({x}, {y})", None, result="bool", cuda="({x} < {y})")
less_equal = _defbinary("less_equal", "less_equal", "np.less_equal({x}, {y})", None, result="bool",
                        cuda="({x} <= {y})")
greater = _defbinary("greater", "greater", "np.greater({x}, {y})", None, result="bool",
                     cuda="({x} > {y})")
greater_equal = _defbinary("greater_equal", "greater_equal", "np.greater_equal({x}, {y})", None,
                           result="bool", cuda="({x} >= {y})")
# C++ converts any non-zero number (NaN included) to true, as NumPy's logical ops do
logical_and = _defbinary("logical_and", "logical_and", "np.logical_and({x}, {y})", None, result="bool",
                         cuda="({x} && {y})")
logical_or = _defbinary("logical_or", "logical_or", "np.logical_or({x}, {y})", None, result="bool",
                        cuda="({x} || {y})")

# -- unary ---------------------------------------------------------------------------------

neg = _defunary("neg", "np.negative({x})", lambda n, g: [neg(g)], kind="numeric", doc="-x",
               cuda="(-{x})")
exp = _defunary("exp", "np.exp({x})", lambda n, g: [g * n], doc="e**x", cuda="exp({x})")
log = _defunary("log", "np.log({x})", lambda n, g: [g / n.inputs[0]], doc="natural logarithm",
               cuda="log({x})")
log1p = _defunary("log1p", "np.log1p({x})",
                  lambda n, g: [g / (n.inputs[0] + scalar_like(1, n.inputs[0]))], doc="log(1 + x), accurate near 0",
                  cuda="log1p({x})")
expm1 = _defunary("expm1", "np.expm1({x})",
                  lambda n, g: [g * (n + scalar_like(1, n))], doc="exp(x) - 1, accurate near 0",
                  cuda="expm1({x})")
sqrt = _defunary("sqrt", "np.sqrt({x})", lambda n, g: [g / (scalar_like(2, n) * n)], doc="square root",
                 cuda="sqrt({x})")
# 1 / sqrt(x), rounded twice as NumPy's template does (CUDA's rsqrt is 2 ulp off)
rsqrt = _defunary("rsqrt", "np.reciprocal(np.sqrt({x}))",
                  lambda n, g: [g * scalar_like(-0.5, n) * n / n.inputs[0]], doc="1 / sqrt(x)",
                  numpy_out="np.sqrt({x}, out={out}); np.reciprocal({out}, out={out})",
                  cuda="(({T})1 / sqrt({x}))")
square = _defunary("square", "np.square({x})",
                   lambda n, g: [g * scalar_like(2, n) * n.inputs[0]], kind="numeric", doc="x * x",
                   cuda="({x} * {x})")
abs = _defunary("abs", "np.abs({x})", lambda n, g: [g * sign(n.inputs[0])], kind="numeric",  # noqa: A001
                doc="|x|; gradient sign(x), 0 at 0", cuda="gc_abs({x})")
# NumPy's sign: 0 for ±0, NaN for NaN
sign = _defunary("sign", "np.sign({x})", lambda n, g: [None], kind="numeric", doc="-1, 0 or 1",
                 cuda="({x} > ({T})0 ? ({T})1 : ({x} < ({T})0 ? ({T})-1 : ({x} == ({T})0 ? ({T})0 : {x})))")
sin = _defunary("sin", "np.sin({x})", lambda n, g: [g * cos(n.inputs[0])], cuda="sin({x})")
cos = _defunary("cos", "np.cos({x})", lambda n, g: [neg(g * sin(n.inputs[0]))], cuda="cos({x})")
tanh = _defunary("tanh", "np.tanh({x})",
                 lambda n, g: [g * (scalar_like(1, n) - square(n))], doc="hyperbolic tangent",
                 cuda="tanh({x})")
def logistic(x, out=None):
    """1 / (1 + e**-x), optionally into ``out`` (x's shape; it may be x itself), to a few ulps
    over the whole range. With e = e**-|x|, which never overflows, the result is 1 / (1 + e)
    for x >= 0 and e / (1 + e) for x < 0: e**x itself far out on the left, subnormals
    included (0.5 tanh(x / 2) + 0.5 loses it below x ≈ -20 and is 0 below -38 in float64).
    Seven ufunc calls, one exp; the numerator is max(x >= 0, e) rather than np.where, which
    is several times slower than exp on mixed signs. NaN stays NaN."""
    x = np.asarray(x)
    e = np.abs(x, out=np.empty_like(x))
    np.negative(e, out=e)
    np.exp(e, out=e)                                   # e**-|x|, in (0, 1]
    # x is read for the last time here, so out may alias it
    numerator = np.greater_equal(x, 0, out=np.empty_like(e) if out is None else out)
    np.maximum(numerator, e, out=numerator)            # 1 where x >= 0, else e**x (= e)
    np.add(e, 1, out=e)
    np.divide(numerator, e, out=numerator)
    return numerator if out is not None or numerator.ndim else numerator[()]


def _sigmoid_grad(n, g):
    """g σ(x) (1 - σ(x)), JAX's and TensorFlow's formula (relative accuracy for x <= 0,
    absolute accuracy ulp(1) σ for large x > 0). The gradient of log(σ(x)) or log(1 - σ(x))
    arrives here as g / σ(x) or -(g / (1 - σ(x))), which overflows where σ(x) or 1 - σ(x)
    rounds to 0 (inf · 0 = NaN): the quotient is cancelled in the formula instead, giving
    g σ(-x) and -g σ(x), finite for every x, with or without the optimizer."""
    z = n.inputs[0]
    if g.op == "div" and g.inputs[1] is n and g.shape == n.shape:
        return [g.inputs[0] * sigmoid(neg(z))]          # d/dx log σ(x) = σ(-x)
    quotient = g.inputs[0] if g.op == "neg" else None
    if (quotient is not None and quotient.op == "div" and quotient.shape == n.shape
            and quotient.inputs[1].op == "sub" and quotient.inputs[1].inputs[1] is n
            and _is_one(quotient.inputs[1].inputs[0]) and quotient.inputs[1].shape == n.shape):
        return [neg(quotient.inputs[0]) * n]            # d/dx log(1 - σ(x)) = -σ(x)
    return [g * n * (scalar_like(1, n) - n)]


def _is_one(t) -> bool:
    return t.op == "constant" and t.attrs["value"].size > 0 and bool(np.all(t.attrs["value"] == 1))


sigmoid = _defunary("sigmoid", "logistic({x})", _sigmoid_grad, doc="1 / (1 + e**-x)",
                    numpy_out="logistic({x}, {out})", helpers={"logistic": logistic},
                    # one exp: the branch not taken is not evaluated
                    cuda="({x} >= ({T})0 ? ({T})1 / (({T})1 + exp(-{x})) "
                         ": exp({x}) / (({T})1 + exp({x})))")


def _relu_grad(n, g):
    # TensorFlow's ReluGrad: g * (x > 0), so relu'(0) = 0; a product, which fuses as one ufunc
    from graphc.ops.shape_ops import cast
    return [g * cast(greater(n.inputs[0], scalar_like(0, n)), g.dtype)]


def relu_max0(x, out=None):
    """np.maximum(x, 0), optionally into ``out`` (the NumPy backend binds a faster kernel)."""
    return np.maximum(x, 0) if out is None else np.maximum(x, 0, out=out)


relu = _defunary("relu", "relu_max0({x})", _relu_grad, kind="numeric",
                 doc="max(x, 0); relu'(0) = 0 as TensorFlow", cuda="gc_maximum({x}, ({T})0)",
                 numpy_out="relu_max0({x}, {out})", helpers={"relu_max0": relu_max0})
# NumPy's logaddexp(0, x): x + log1p(e**-x) for x > 0, else log1p(e**x) (NaN stays NaN)
softplus = _defunary("softplus", "np.logaddexp(0, {x})",
                     lambda n, g: [g * sigmoid(n.inputs[0])], doc="log(1 + e**x), stable",
                     cuda="({x} > ({T})0 ? {x} + log1p(exp(-{x})) : log1p(exp({x})))")
step = _defunary("step", "np.greater_equal({x}, 0).astype({x}.dtype)", lambda n, g: [None],
                 kind="numeric", doc="Heaviside step: 1 where x >= 0, else 0; gradient 0",
                 numpy_out="np.greater_equal({x}, 0, out={out})",
                 cuda="({x} >= ({T})0 ? ({T})1 : ({T})0)")
logical_not = _defunary("logical_not", "np.logical_not({x})", lambda n, g: [None], kind="bool",
                        cuda="(!{x})")
stop_gradient = _defunary("stop_gradient", "{x}", lambda n, g: [None], kind="any", result="view",
                          doc="identity whose gradient is zero", cuda="{x}")


# -- ops with attributes --------------------------------------------------------------------

def _leaky_grad(n, g):
    x = n.inputs[0]
    alpha = n.attrs["alpha"]
    return [where(x > scalar_like(0, x), g, g * scalar_like(alpha, g))]


defop("leaky_relu", ("x",), _unary_rule("leaky_relu", "float"),
      "np.where({x} > 0, {x}, {x} * {alpha})", grad=_leaky_grad, kind="elementwise",
      doc="x if x > 0 else alpha * x", scalar={"cuda": "({x} > ({T})0 ? {x} : {x} * ({T}){alpha})"})


def leaky_relu(x, alpha=0.01):
    return apply("leaky_relu", [as_tensor(x, what="leaky_relu")],
                 alpha=arguments.real(alpha, "leaky_relu: alpha"))


def _elu_grad(n, g):
    x = n.inputs[0]
    alpha = n.attrs["alpha"]
    return [where(x > scalar_like(0, x), g, g * scalar_like(alpha, g) * exp(x))]


defop("elu", ("x",), _unary_rule("elu", "float"),
      "np.where({x} > 0, {x}, {alpha} * np.expm1(np.minimum({x}, 0)))", grad=_elu_grad,
      kind="elementwise", doc="x if x > 0 else alpha * (e**x - 1)",
      scalar={"cuda": "({x} > ({T})0 ? {x} : ({T}){alpha} * expm1({x}))"})


def elu(x, alpha=1.0):
    return apply("elu", [as_tensor(x, what="elu")], alpha=arguments.real(alpha, "elu: alpha"))


def _where_rule(inputs, attrs):
    cond, x, y = inputs
    if cond.dtype.kind != "b":
        raise DTypeError(f"where: the condition must be bool, got {describe(cond)}")
    shape = broadcast_shapes("where", cond, x, y)
    return shape, dtypes.promote(x.dtype, y.dtype)


def _where_grad(n, g):
    cond, x, y = n.inputs
    zero = zeros_like_g(g)
    return [None, unbroadcast(where(cond, g, zero), x), unbroadcast(where(cond, zero, g), y)]


defop("where", ("cond", "x", "y"), _where_rule, "np.where({cond}, {x}, {y})", grad=_where_grad,
      kind="elementwise", doc="x where cond else y", scalar={"cuda": "({cond} ? {x} : {y})"})


def where(cond, x, y):
    """Elementwise select: ``x`` where ``cond`` is true, else ``y`` (broadcasting)."""
    cond = as_tensor(cond, what="where: cond")
    x, y = operands(x, y, what="where")
    return apply("where", [cond, x, y])


def clip(x, lo, hi):
    """min(max(x, lo), hi); the gradient passes where lo <= x <= hi (TensorFlow's rule)."""
    x, lo_t, hi_t = operands(x, lo, hi, what="clip")
    return minimum(maximum(x, lo_t), hi_t)

