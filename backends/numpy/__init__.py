"""The CPU backend: generated Python source over NumPy."""
from .. import register
from .backend import NumpyBackend

register("numpy", NumpyBackend)

__all__ = ["NumpyBackend"]
