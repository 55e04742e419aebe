"""Op families, one module each. Importing this package registers every op in OPS."""
from . import conv, linalg, math, nn, random, reduce, shape_ops  # noqa: F401 - registration
from .registry import OPS, OpDef, apply

__all__ = ["OPS", "OpDef", "apply"]
