"""The CPU backend: generated Python source over NumPy."""
from graphc.backend_registry import register
from graphc.backends.numpy.backend import NumpyBackend

register("numpy", NumpyBackend)

__all__ = ["NumpyBackend"]
