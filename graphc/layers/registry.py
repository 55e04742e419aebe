"""The layer registry: a ``Catalog`` of Layer subclasses by class name, read by ``deserialize``
(and so by ``load_model``: a model file stores each layer as ``{"class_name": ..., "config":
...}``, the form ``serialize`` gives). Each family registers its layers with ``@register`` as it
is imported; this module imports none of them (``graphc.layers`` imports them all), so a family
can import ``serialize`` / ``deserialize`` (the wrappers do) without a cycle.
"""
from __future__ import annotations

from graphc.catalog import Catalog
from graphc.layers.base import Layer

__all__ = ["CATALOG", "deserialize", "register", "serialize"]

CATALOG = Catalog("layer", Layer, ())


def register(cls):
    """Make a Layer subclass known to ``deserialize`` (and so to ``load_model``)."""
    CATALOG.classes[cls.__name__] = cls
    return cls


def serialize(layer: Layer) -> dict:
    return CATALOG.serialize(layer)


def deserialize(config: dict) -> Layer:
    if not isinstance(config, dict) or config.get("class_name") not in CATALOG.classes:
        raise ValueError(f"layers.deserialize: unknown layer {config!r}; known: {sorted(CATALOG.classes)}")
    return CATALOG.deserialize({**config, "config": dict(config.get("config", {}))})
