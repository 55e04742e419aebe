"""Op families, one module each. Importing this package registers every op in OPS."""
from graphc.ops import broadcasting, conv, indexing, linalg, math, nn, random, reduce, shape_ops  # noqa: F401 - registration
from graphc.ir.opdef import OPS, OpDef, apply
from graphc.ops import tensor_methods

tensor_methods.install()

__all__ = ["OPS", "OpDef", "apply"]
