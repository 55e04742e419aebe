"""graphc.backends: one package per lowering target (numpy, cupy, dask), each registering itself
with ``graphc.backend_registry`` on import.

The facade exports ``gc.backends()`` (the usable names) under the same name as this package, so
importing a backend rebinds ``graphc.backends`` to this module: it stays callable and answers
the same.
"""
from __future__ import annotations

import sys
import types

from graphc import backend_registry


class _CallablePackage(types.ModuleType):
    def __call__(self) -> list:
        """Names of the backends usable on this machine (``gc.backends()``)."""
        return backend_registry.available()


sys.modules[__name__].__class__ = _CallablePackage
