"""graphc: a compiler for static computation graphs.

Build graphs of Tensors, differentiate them symbolically, optimize and compile them to NumPy
(or CUDA via CuPy), render them with Graphviz. ``import graphc as gc``.
"""
from . import allocator as _allocator
_allocator.keep_freed_memory()   # compiled steps reuse freed memory instead of page-faulting anew
from . import debugging, linalg, nn, passes, random
from .autodiff import check_grad, grad, hessian, jacobian
from .compile_cache import CompileCacheWarning, cache_dir, set_cache_dir
from .compiler import Function, function, optimize
from .compiler import backends_available as backends
from .errors import BackendUnavailable, DTypeError, GraphError, NumericsError, ShapeError
from .graph import Graph
from .ops.linalg import matmul
from .ops.math import (abs, add, clip, cos, div, elu, equal, exp, expm1, greater, greater_equal,
                       leaky_relu, less, less_equal, log, log1p, logical_and, logical_not,
                       logical_or, maximum, minimum, mul, neg, not_equal, pow, relu, rsqrt,
                       sigmoid, sign, sin, softplus, sqrt, square, stop_gradient, sub, tanh, where)
from .ops.reduce import (argmax, argmin, logsumexp, reduce_max, reduce_mean, reduce_min,
                         reduce_prod, reduce_sum)
from .ops.shape_ops import (broadcast_to, cast, concat, expand_dims, fill, gather, one_hot,
                            ones, ones_like, reshape, shape, squeeze, stack, transpose, zeros,
                            zeros_like)
from .render import render, to_dot
from .tensor import Tensor, Variable, constant, placeholder, variable
from . import activations, initializers, losses, metrics, optimizers, regularizers
from . import callbacks, data, datasets, layers, models
from . import distribute   # Dask: data-parallel fit, out-of-core predict (dask imported on use)

__version__ = "0.1.0"
