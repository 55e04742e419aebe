"""The system C++ compiler: found once per process, probed with a small OpenMP program, and
used to build one shared object per Function from generated source.

Objects are built with ``-march=native`` (they are not portable), so they live in a private
temporary directory of this process and in memory, keyed by a hash of the source, the
compiler's version and the flags; nothing is loaded from a location another user can write.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading

# -fno-math-errno and -fno-trapping-math let loops over float maths vectorize; results are
# IEEE all the same (NumPy neither reads errno nor traps)
BASE_FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-std=c++17", "-fno-math-errno", "-fno-trapping-math")
OPENMP_FLAG = "-fopenmp"
COMPILE_TIMEOUT_S = 120


class CompilerMissing(RuntimeError):
    """No usable C++ compiler; the message says what was tried and what it printed."""


class CompileFailed(RuntimeError):
    """The compiler rejected generated source; the message holds its diagnostics."""


def _candidates() -> list:
    named = os.environ.get("CXX")
    return [named] if named else ["c++", "g++", "clang++"]


def toolchain() -> tuple:
    """(compiler path, its version line, flags) or CompilerMissing, probed once per process:
    the compiler must build and load a small shared object; OpenMP is used when it builds
    with it too."""
    found = _probe()
    if isinstance(found, CompilerMissing):
        raise found
    return found


@functools.lru_cache(maxsize=None)
def _probe():
    tried = []
    for name in _candidates():
        path = shutil.which(name)
        if path is None:
            tried.append(f"{name}: not found on PATH")
            continue
        version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.splitlines()
        version = version[0] if version else name
        probe = ('#include <math.h>\nextern "C" double gc_probe(double x) {\n'
                 "    double s = 0;\n    #pragma omp parallel for reduction(+:s)\n"
                 "    for (int i = 0; i < 4; ++i) s += exp(x);\n    return s;\n}\n")
        for flags in (BASE_FLAGS + (OPENMP_FLAG,), BASE_FLAGS):
            try:
                fn = _build(path, flags, probe).gc_probe
                fn.argtypes, fn.restype = [ctypes.c_double], ctypes.c_double
                if abs(fn(0.0) - 4.0) < 1e-12:
                    return path, version, flags
            except (CompileFailed, OSError) as exc:
                tried.append(f"{path} {' '.join(flags)}: {exc}")
    return CompilerMissing("no C++ compiler could build a shared object (" + "; ".join(tried)
                          + "). Install g++ or clang++ (with OpenMP for threads), or set CXX")


_workdir = None
_lock = threading.Lock()
_loaded: dict = {}


def _directory() -> str:
    global _workdir
    if _workdir is None:
        _workdir = tempfile.mkdtemp(prefix="graphc-c-")   # mode 0700: this user's only
        atexit.register(shutil.rmtree, _workdir, True)
    return _workdir


def _build(compiler: str, flags: tuple, source: str) -> ctypes.CDLL:
    digest = hashlib.sha256("\0".join((compiler, *flags, source)).encode()).hexdigest()[:24]
    with _lock:
        found = _loaded.get(digest)
        if found is not None:
            return found
        directory = _directory()
        src, obj = os.path.join(directory, f"{digest}.cpp"), os.path.join(directory, f"{digest}.so")
        with open(src, "w") as f:
            f.write(source)
        try:
            result = subprocess.run([compiler, *flags, "-o", obj, src], capture_output=True, text=True,
                                    timeout=COMPILE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CompileFailed(f"{type(exc).__name__}: {exc}") from None
        if result.returncode != 0:
            raise CompileFailed((result.stderr or result.stdout).strip()[-4000:])
        library = _loaded[digest] = ctypes.CDLL(obj)
        return library


def build(source: str) -> ctypes.CDLL:
    """``source`` compiled with the probed toolchain and loaded (cached per process)."""
    compiler, _, flags = toolchain()
    return _build(compiler, flags, source)


def describe() -> str:
    compiler, version, flags = toolchain()
    return f"{version} ({compiler} {' '.join(flags)})"
