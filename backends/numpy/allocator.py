"""Keeping freed memory in the process (glibc malloc tuning), applied once, when the NumPy
backend first compiles (never at ``import graphc``).

Why: a compiled step allocates and frees the same multi-MB arrays on every call. glibc serves
large blocks with fresh ``mmap``s (and trims the heap's top on free), so every call page-faults
its whole working set again, a large part of a CNN step's time (benchmarks/README.md:
allocator). Raising the mmap and trim thresholds keeps freed blocks in the heap, ready for the
next call, as PyTorch's and JAX's own caching allocators do on their devices. The cost: the
process keeps up to its peak of freed memory instead of handing it back to the system.

``GRAPHC_KEEP_MEMORY=0`` leaves malloc as found. Elsewhere than glibc this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# blocks up to this size come from the heap, not from mmap (glibc caps it at 32 MiB on 64-bit
# builds older than 2.26; newer ones accept more)
MMAP_THRESHOLD = 256 << 20
# free memory at the heap's top kept up to this size
TRIM_THRESHOLD = 1 << 30

state = "as found"


def keep_freed_memory() -> str:
    """Raise glibc's mmap and trim thresholds (once); returns what was done, for reports."""
    global state
    if state != "as found":
        return state
    if os.environ.get("GRAPHC_KEEP_MEMORY", "1").strip().lower() in ("0", "false", "no", "off"):
        state = "as found (GRAPHC_KEEP_MEMORY=0)"
        return state
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        version = libc.gnu_get_libc_version().decode()
    except (OSError, AttributeError):
        return state   # not glibc: its malloc has its own policy
    mmap_ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) or libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    trim_ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    if mmap_ok and trim_ok:
        state = f"freed memory kept (glibc {version} mallopt)"
    return state
