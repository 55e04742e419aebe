"""Who threads the GEMMs while a compiled function runs: BLAS's own threads or graphc's.

Why: OpenBLAS's workers keep spinning for a while after every threaded call (its thread
timeout, about 0.1 s), on the cores graphc's kernel threads need for the copies, pools and
fused blocks between the GEMMs (benchmarks/README.md: blas_threads). So while a compiled
function with much BLAS work runs, BLAS is set to one thread and graphc's helpers split the
products over the kernel threads (``kernels.gemm``; the convolutions per batch share), as
PyTorch runs BLAS and oneDNN on its one intra-op pool; the count found is put back after.

The switch is process-wide, so calls that set BLAS to one thread and calls that use it as found
never overlap (``SerialBlas``, ``FoundBlas``): a call's result never depends on other threads.
threadpoolctl finds the BLAS NumPy links (OpenBLAS, MKL, BLIS, FlexiBLAS); with none found, or
``GRAPHC_NUM_THREADS=1``, BLAS keeps its threads and graphc splits nothing.
"""
from __future__ import annotations

import os
import threading

from graphc.backends.numpy.threads import thread_count


class _NumpyBlas:
    """The BLAS libraries NumPy calls, through threadpoolctl (OpenBLAS, MKL, BLIS, FlexiBLAS)."""

    def __init__(self, controllers):
        self.controllers = controllers

    def get(self) -> int:
        return max(c.num_threads for c in self.controllers)

    def set(self, count: int) -> None:
        for c in self.controllers:
            c.set_num_threads(count)

    def describe(self) -> str:
        return ", ".join(f"{c.internal_api} {c.version} ({getattr(c, 'architecture', None) or 'kernel unknown'})"
                         for c in self.controllers)


def _loaded_blas():
    """The BLAS NumPy links (its wheel's own copy when several are loaded), or None."""
    import numpy
    from threadpoolctl import ThreadpoolController
    controllers = ThreadpoolController().select(user_api="blas").lib_controllers
    if not controllers:
        return None
    numpy_dirs = (os.path.dirname(numpy.__file__), os.path.dirname(numpy.__file__) + ".libs")
    own = [c for c in controllers if os.path.dirname(c.filepath or "").startswith(numpy_dirs)]
    return _NumpyBlas(own or controllers)


_blas = None
_probed = False
_lock = threading.Lock()
_depth = 0          # compiled calls now running with BLAS serial (nested or concurrent)
_saved = 1          # BLAS's thread count before the outermost of them


def _library():
    global _blas, _probed
    if not _probed:
        _blas = _loaded_blas()
        _probed = True
    return _blas


def controllable() -> bool:
    """Whether graphc can take the GEMM threading over: a BLAS found, kernel threads on."""
    return thread_count() > 1 and _library() is not None


def active() -> bool:
    """True while a compiled call runs with BLAS serial: the helpers split GEMMs themselves."""
    return _depth > 0


class _Gate:
    """Lets blocks of one kind run together and keeps blocks of the other kind out. The kinds
    take turns: while a block of the other kind waits, no new block of the current kind enters
    (so a stream of overlapping calls cannot hold the other kind off for ever). A thread already
    inside enters again at once, whatever the kind, rather than wait for itself."""

    def __init__(self):
        self._changed = threading.Condition()
        self._kind = None
        self._count = 0
        self._waiting = {"serial": 0, "found": 0}
        self._turn = None
        self._inside = threading.local()

    def enter(self, kind: str):
        depth = getattr(self._inside, "depth", 0)
        with self._changed:
            if depth == 0:
                other = "found" if kind == "serial" else "serial"
                self._waiting[kind] += 1
                while not ((self._count == 0 or self._kind == kind)
                           and (self._waiting[other] == 0 or self._turn == kind)):
                    self._changed.wait()
                self._waiting[kind] -= 1
                if self._count == 0:
                    self._turn = other   # the next run of blocks is the other kind's, if it waits
                self._kind = kind
            self._count += 1
        self._inside.depth = depth + 1

    def exit(self):
        self._inside.depth -= 1
        with self._changed:
            self._count -= 1
            if self._count == 0:
                self._kind = None
                self._changed.notify_all()


_gate = _Gate()


class FoundBlas:
    """``with FoundBlas():`` a compiled call that uses BLAS with the threads it was found with:
    it waits while calls with BLAS serial run."""

    def __enter__(self):
        _gate.enter("found")
        return self

    def __exit__(self, *exc):
        _gate.exit()
        return False


class SerialBlas:
    """``with SerialBlas():`` BLAS runs one-threaded inside (when ``controllable()``), and is
    put back to its former count when the last such block, of any thread, exits. The switch is
    process-wide: another thread calling NumPy's matmul directly meanwhile gets a one-threaded
    product too."""

    def __enter__(self):
        global _depth, _saved
        blas = _library()
        if blas is None:
            return self
        _gate.enter("serial")
        with _lock:
            if _depth == 0:
                _saved = blas.get()
                if _saved > 1:
                    blas.set(1)
            _depth += 1
        return self

    def __exit__(self, *exc):
        global _depth
        blas = _blas
        if blas is None:
            return False
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved > 1:
                blas.set(_saved)
        _gate.exit()
        return False


def describe() -> str:
    """For benchmark headers: what graphc does with the BLAS threads here."""
    if thread_count() == 1:
        return "BLAS threads left to BLAS (one kernel thread: GRAPHC_NUM_THREADS=1 or one CPU)"
    if _library() is None:
        return "BLAS threads left to BLAS (no BLAS found by threadpoolctl)"
    return (f"BLAS: {_blas.describe()}; GEMMs on graphc's kernel threads during compiled calls "
            f"(BLAS had {_blas.get()} threads)")
