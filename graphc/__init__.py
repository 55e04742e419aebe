"""graphc: a compiler for static computation graphs.

Build graphs of Tensors, differentiate them symbolically, optimize and compile them to NumPy
(or CUDA via CuPy), render them with Graphviz. ``import graphc as gc``.
"""
from graphc import passes
from graphc.api import debugging
from graphc.api import linalg
from graphc.api import nn
from graphc.api import random
from graphc.autodiff import check_grad, grad, hessian, jacobian
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
from graphc.ops.shape_ops import (broadcast_to, cast, concat, expand_dims, fill, gather, one_hot,
                            ones, ones_like, reshape, shape, squeeze, stack, transpose, zeros,
                            zeros_like)
from graphc.render import render, to_dot
from graphc.ir.tensor import Tensor, Variable, constant, placeholder, variable
from graphc import activations, initializers, losses, metrics, optimizers, regularizers
from graphc import callbacks, data, datasets, layers, models
from graphc import distribute   # Dask: data-parallel fit, out-of-core predict (dask imported on use)

__version__ = "0.1.0"
