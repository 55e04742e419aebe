"""The GPU backend: fused kernels as generated CUDA C++ (compiled by NVRTC through CuPy),
matmul through cuBLAS, every other op on CuPy arrays. Importing it needs no GPU and no CuPy;
``CupyBackend.unavailable_reason()`` says what is missing where it cannot run."""
from graphc.backend_registry import register
from graphc.backends.cupy.backend import CupyBackend

register("cupy", CupyBackend)

__all__ = ["CupyBackend"]
