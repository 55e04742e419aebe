"""gc.linalg: inverse, pseudo-inverse and norms (matmul is gc.matmul)."""
from graphc.ops.linalg import inv, norm, pinv

__all__ = ["inv", "norm", "pinv"]
