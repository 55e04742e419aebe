"""The compiler's public API in one namespace: building, differentiating, optimizing, compiling
and rendering graphs. The facade (``graphc``) re-exports it beside the Keras-style library, and
the library uses the compiler through it alone."""
from graphc import passes
from graphc.api import debugging, linalg, nn, random
from graphc.autodiff import grad, hessian, jacobian
from graphc.compile.check_grad import check_grad
from graphc.compile.cache import CompileCacheWarning, cache_dir, set_cache_dir
from graphc.compile.function import Function, function, optimize
from graphc.backend_registry import available as backends
from graphc.errors import BackendUnavailable, DTypeError, GraphError, NumericsError, ShapeError
from graphc.ir.graph import Graph
from graphc.ops.linalg import matmul
from graphc.ops.math import (abs, add, clip, cos, div, elu, equal, exp, expm1, greater, greater_equal,
                       leaky_relu, less, less_equal, log, log1p, logical_and, logical_not,
                       logical_or, maximum, minimum, mul, neg, not_equal, pow, relu, rsqrt,
                       sigmoid, sign, sin, softplus, sqrt, square, stop_gradient, sub, tanh, where)
from graphc.ops.reduce import (argmax, argmin, logsumexp, reduce_max, reduce_mean, reduce_min,
                         reduce_prod, reduce_sum)
from graphc.ops.indexing import gather, one_hot
from graphc.ops.broadcasting import broadcast_to
from graphc.ops.shape_ops import (cast, concat, expand_dims, fill, ones, ones_like,
                            reshape, shape, squeeze, stack, transpose, zeros, zeros_like)
from graphc.render import render, to_dot
from graphc.ir.tensor import Tensor, Variable, constant, placeholder, variable

# exactly what ``import graphc as gc`` re-exports (graphc.api.support is the library's, not gc's)
__all__ = [
    "BackendUnavailable", "CompileCacheWarning", "DTypeError", "Function", "Graph", "GraphError",
    "NumericsError", "ShapeError", "Tensor", "Variable", "abs", "add", "argmax", "argmin",
    "backends", "broadcast_to", "cache_dir", "cast", "check_grad", "clip", "concat", "constant",
    "cos", "debugging", "div", "elu", "equal", "exp", "expand_dims", "expm1", "fill", "function",
    "gather", "grad", "greater", "greater_equal", "hessian", "jacobian", "leaky_relu", "less",
    "less_equal", "linalg", "log", "log1p", "logical_and", "logical_not", "logical_or", "logsumexp",
    "matmul", "maximum", "minimum", "mul", "neg", "nn", "not_equal", "one_hot", "ones", "ones_like",
    "optimize", "passes", "placeholder", "pow", "random", "reduce_max", "reduce_mean", "reduce_min",
    "reduce_prod", "reduce_sum", "relu", "render", "reshape", "rsqrt", "set_cache_dir", "shape",
    "sigmoid", "sign", "sin", "softplus", "sqrt", "square", "squeeze", "stack", "stop_gradient",
    "sub", "tanh", "to_dot", "transpose", "variable", "where", "zeros", "zeros_like",
]
