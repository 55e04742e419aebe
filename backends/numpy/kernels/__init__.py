"""The NumPy backend's kernels: faster implementations bound to the ops' helper names (chunked,
threaded, Winograd and BLAS paths), and what the backend knows of each op's BLAS use.

An op record names its helpers and holds plain-NumPy references for them; generated code calls
the names, and ``helpers_of`` binds each to the kernel here, or to the reference where none is.
"""
from __future__ import annotations

from graphc.backends.numpy.kernels import conv, fast_ufuncs, gemm, pool

KERNELS = {
    **conv.KERNELS,
    **pool.KERNELS,
    "gemm_matmul": gemm.matmul,
    "relu_max0": fast_ufuncs.relu_max0,
    "sum_reduce": fast_ufuncs.sum_reduce,
}


def _matmul_macs(n) -> int:
    a, b = n.inputs
    if None in a.shape or None in b.shape:
        return 0
    return gemm.macs(a.shape, b.shape)


# node -> multiply-adds of the GEMMs its kernel splits over graphc's threads
GEMM_MACS = {**conv.GEMM_MACS, "matmul": _matmul_macs}

# ops calling LAPACK routines graphc does not split, which need BLAS's own threads
LAPACK_OPS = frozenset({"inv", "pinv"})


def helpers_of(opdef) -> dict:
    """The op's helper names bound to this backend's kernels (its references where none)."""
    return {name: KERNELS.get(name, reference) for name, reference in opdef.helpers.items()}


def gemm_macs(node) -> int:
    """Multiply-adds of the node's GEMMs that the kernels split (0 for other ops)."""
    macs = GEMM_MACS.get(node.op)
    return macs(node) if macs is not None else 0
