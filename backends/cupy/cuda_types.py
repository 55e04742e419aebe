"""NumPy dtypes as CUDA C++ types, and values as C++ literals of an exact type."""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import GraphError

C_TYPES = {
    "bool": "bool",
    "int8": "signed char", "uint8": "unsigned char",
    "int16": "short", "uint16": "unsigned short",
    "int32": "int", "uint32": "unsigned int",
    "int64": "long long", "uint64": "unsigned long long",
    "float32": "float", "float64": "double",
}


def c_type(dtype) -> str:
    """The C++ type that holds one element of ``dtype`` (same size and representation)."""
    dtype = np.dtype(dtype)
    try:
        return C_TYPES[dtype.name]
    except KeyError:
        raise GraphError(f"the CUDA code generator has no C type for {dtype} "
                         f"(it handles {', '.join(C_TYPES)})") from None


def literal(value, dtype) -> str:
    """``value`` as a parenthesized C++ expression of exactly ``dtype``'s C type."""
    dtype = np.dtype(dtype)
    ctype = c_type(dtype)
    if dtype.kind == "b":
        return "true" if bool(value) else "false"
    if dtype.kind == "f":
        x = float(dtype.type(value))
        single = dtype == np.float32
        if math.isnan(x):
            return '__builtin_nanf("")' if single else '__builtin_nan("")'
        if math.isinf(x):
            inf = "__builtin_huge_valf()" if single else "__builtin_huge_val()"
            return inf if x > 0 else f"(-{inf})"
        # repr() round-trips a double exactly; a float32 value is a double too, so the 'f'
        # literal rounds back to the same float
        text = repr(x)
        return f"({text}f)" if single else f"({text})"
    x = int(dtype.type(value))
    if dtype.kind == "u":
        return f"(({ctype}){x}ULL)"
    if x == -2**63:  # no literal for it: -9223372036854775808LL is minus an out-of-range literal
        return "(-9223372036854775807LL - 1)"
    return f"(({ctype}){x}LL)"


def index_type(count: int) -> str:
    """C type for flat indices below ``count``: 32-bit when a grid-stride loop cannot
    overflow it (64-bit division is several times slower on a GPU)."""
    return "int" if count <= 2**30 else "long long"
