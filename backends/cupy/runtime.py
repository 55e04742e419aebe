"""Run-time support for the generated host code, and the check that CuPy can run here.

Nothing here imports CuPy at module import: graphc imports on machines without it.
"""
from __future__ import annotations

import functools
import hashlib

import numpy

from graphc.backends.cupy.cuda_codegen import strip_comments

INSTALL_HINT = "pip install 'graphc[gpu]' (CuPy for CUDA 12: cupy-cuda12x)"


@functools.lru_cache(maxsize=None)
def unavailable_reason() -> str | None:
    """Why the CuPy backend cannot run on this machine, or None when it can. Checked once
    per process: CuPy importable, a driver, a driver new enough for CuPy's CUDA runtime, a
    device."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is not installed ({exc}); {INSTALL_HINT}"
    except Exception as exc:  # a broken install raises other errors from its extension modules
        return f"CuPy is installed but does not import: {type(exc).__name__}: {exc}"
    if cupy.cuda.is_available():
        return None
    runtime = cupy.cuda.runtime
    try:
        driver = runtime.driverGetVersion()
    except Exception as exc:
        return f"no usable NVIDIA driver: {type(exc).__name__}: {exc}"
    try:
        needed = runtime.runtimeGetVersion()
    except Exception:
        needed = None
    if driver == 0:
        return ("no NVIDIA driver is installed (cupy.cuda.is_available() is False; the CUDA "
                "driver version is 0): this machine has no usable GPU")
    if needed is not None and driver < needed:
        return (f"the NVIDIA driver is too old: it supports CUDA {_version(driver)}, CuPy "
                f"{cupy.__version__} was built for CUDA {_version(needed)}; update the driver or "
                f"install the CuPy wheel for an older CUDA")
    try:
        count = runtime.getDeviceCount()
    except Exception as exc:
        return f"no usable CUDA device: {exc}"
    if count == 0:
        return "no CUDA device found (cupy.cuda.runtime.getDeviceCount() is 0)"
    return f"cupy.cuda.is_available() is False with {count} device(s) and driver CUDA {_version(driver)}"


def _version(v: int) -> str:
    return f"{v // 1000}.{v % 1000 // 10}"


# -- what generated code calls --------------------------------------------------------------

_modules: dict[str, object] = {}


def cuda_module(source: str):
    """The compiled module (cupy.RawModule, NVRTC) of a kernel's CUDA source; compiled once
    per distinct code (comments aside) for the life of the process."""
    import cupy
    code = strip_comments(source)
    key = hashlib.sha1(code.encode()).hexdigest()
    module = _modules.get(key)
    if module is None:
        module = _modules[key] = cupy.RawModule(code=source)
    return module


def contiguous(value):
    """``value`` itself when C-contiguous (0-d arrays always are), else a contiguous copy
    (cupy.ascontiguousarray would also turn a 0-d array into a 1-d one)."""
    import cupy
    return value if value.flags.c_contiguous else cupy.ascontiguousarray(value)


def to_device(value):
    """A C-contiguous CuPy array: CuPy arrays pass through (copied only if strided), anything
    else is copied to the device once."""
    import cupy
    if type(value) is cupy.ndarray:
        return value if value.flags.c_contiguous else cupy.ascontiguousarray(value)
    return cupy.asarray(numpy.asarray(value, order="C"))


def variable_on_device(var):
    """A variable's value as a device array. The first use moves it to the device, where it
    stays: updates store device arrays, so ``var.value`` is a CuPy array from then on."""
    import cupy
    value = var._value
    if type(value) is not cupy.ndarray or not value.flags.c_contiguous:
        value = var._value = to_device(value)
    return value


def namespace(bindings: dict) -> dict:
    """The globals of a generated host module: CuPy as ``np``, the run-time helpers, the device
    ops, and the device objects its ``bindings`` describe."""
    import cupy

    from graphc.backends.cupy.device_ops import HELPERS
    ns = {"np": cupy, "cupy": cupy, "numpy": numpy, "cuda_module": cuda_module,
          "to_device": to_device, "contiguous": contiguous, "variable_on_device": variable_on_device, **HELPERS}
    for name, (kind, payload) in bindings.items():
        if kind == "constant":
            ns[name] = cupy.asarray(numpy.asarray(payload.attrs["value"], order="C"))
        elif kind == "variable":
            ns[name] = payload
        elif kind == "rng":
            ns[name] = cupy.random.RandomState(payload)
        else:
            raise ValueError(f"unknown binding kind {kind!r} for {name!r}")
    return ns
