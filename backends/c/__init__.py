"""The C backend: generated Python host code over NumPy, as the NumPy backend's, with its large
fused elementwise kernels compiled from C-family source (the same element functions the CUDA
backend launches) by the system C++ compiler, wrapped in OpenMP loops. Without a compiler that
builds a shared object it is unavailable, saying why."""
from graphc.backend_registry import register
from graphc.backends.c.backend import CBackend

register("c", CBackend)

__all__ = ["CBackend"]
