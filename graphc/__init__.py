"""graphc: a compiler for static computation graphs.

Build graphs of Tensors, differentiate them symbolically, optimize and compile them to NumPy
(or CUDA via CuPy), render them with Graphviz. ``import graphc as gc``.
"""
from graphc.api import *  # noqa: F401,F403 - the compiler's public API
from graphc.api import debugging, linalg, nn, passes, random
from graphc import activations, initializers, losses, metrics, optimizers, regularizers
from graphc import callbacks, data, datasets, layers, models
from graphc import distribute   # Dask: data-parallel fit, out-of-core predict (dask imported on use)

__version__ = "0.1.0"
