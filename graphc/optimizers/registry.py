"""The optimizers by name: a ``Catalog`` (the same lookup losses, initializers and
regularizers use) that each optimizer module joins with ``@register("short_name")``.
It never imports the optimizer modules itself; ``graphc.optimizers`` imports them all, so
``get("adam")`` and ``deserialize`` know every optimizer once the package is imported.
"""
from __future__ import annotations

from graphc.catalog import Catalog
from graphc.optimizers.base import Optimizer

CATALOG = Catalog("optimizer", Optimizer, (), bare_config=True)


def register(short_name: str):
    """Class decorator: make an Optimizer subclass known by class name and ``short_name``."""
    def add(cls):
        if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
            raise TypeError(f"optimizers.register: {cls!r} is not an Optimizer subclass")
        for table, key in ((CATALOG.classes, cls.__name__), (CATALOG.names, short_name)):
            known = table.get(key)
            if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"optimizers.register: {key!r} is already {known.__module__}.{known.__qualname__}")
            table[key] = cls
        return cls
    return add


def names() -> list[str]:
    """The optimizer names ``get`` accepts."""
    return CATALOG.short_names()


serialize = CATALOG.serialize
deserialize = CATALOG.deserialize  # a fresh optimizer: restore state into variables() after build()


def get(identifier) -> Optimizer:
    """An optimizer from a name (default hyper-parameters), an instance (returned as is), a
    class, or a ``serialize`` dict."""
    return CATALOG.get(identifier)
