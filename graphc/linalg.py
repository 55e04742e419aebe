"""gc.linalg: inverse, pseudo-inverse and norms (matmul is gc.matmul)."""
from .ops.linalg import inv, norm, pinv

__all__ = ["inv", "norm", "pinv"]
