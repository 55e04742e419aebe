"""The backend registry: lowering targets registered by name and loaded on first use.

A backend receives a scheduled graph (``graphc.compile.function.Program``) and returns an executable
with ``run(values) -> list of outputs`` and ``source`` (the generated code). It does no graph
rewriting: what to compute is decided before it is called.
"""
from __future__ import annotations

import importlib
from typing import Callable

from graphc.errors import BackendUnavailable

_FACTORIES: dict[str, Callable] = {}
_MODULES = {"numpy": "graphc.backends.numpy", "c": "graphc.backends.c", "cupy": "graphc.backends.cupy",
            "dask": "graphc.backends.dask"}
_instances: dict[str, object] = {}


def register(name: str, factory: Callable) -> None:
    """Register ``factory() -> backend`` under ``name`` (a backend module calls this on import)."""
    _FACTORIES[name] = factory


def _load(name: str) -> None:
    if name not in _FACTORIES and name in _MODULES:
        try:
            importlib.import_module(_MODULES[name])
        except ImportError:
            pass


def get(name: str):
    """The backend instance called ``name``; BackendUnavailable if unknown or unusable here."""
    if name in _instances:
        return _instances[name]
    _load(name)
    if name not in _FACTORIES:
        known = sorted(set(_MODULES) | set(_FACTORIES))
        raise BackendUnavailable(f"no backend {name!r} on this machine (known: {known}; usable: {available()})")
    backend = _FACTORIES[name]()
    reason = backend.unavailable_reason()
    if reason:
        raise BackendUnavailable(f"backend {name!r} cannot run here: {reason}")
    _instances[name] = backend
    return backend


def known() -> set:
    """Names of every backend graphc knows, usable here or not."""
    return set(_MODULES) | set(_FACTORIES)


def available() -> list:
    """Names of the backends usable on this machine."""
    usable = []
    for name in list(_MODULES) + [n for n in _FACTORIES if n not in _MODULES]:
        _load(name)
        factory = _FACTORIES.get(name)
        if factory is not None and not factory().unavailable_reason():
            usable.append(name)
    return usable
