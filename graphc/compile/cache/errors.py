"""How the compile cache refuses: the warning users see, and the two exceptions behind it."""
from __future__ import annotations

import warnings


class CompileCacheWarning(RuntimeWarning):
    """A cache entry was discarded (and compiled again), or the cache's key is unusable."""


class _Uncacheable(Exception):
    """An attribute the cache cannot encode: the graph is compiled without the cache."""


class _Refused(Exception):
    """An entry (or key file) that fails authentication or validation; the text says why."""


_warned: set = set()  # what was already warned about: each bad entry or key once per process


def _warn_once(what, message) -> None:
    if what not in _warned:
        _warned.add(what)
        warnings.warn(message, CompileCacheWarning, stacklevel=4)
