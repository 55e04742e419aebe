"""The layer registry: class name -> Layer subclass, read by ``deserialize`` (and so by
``load_model``: a model file stores each layer as ``{"class_name": ..., "config": ...}``, the
form ``serialize`` gives). Each family registers its layers with ``@register`` as it is
imported; this module imports none of them (``graphc.layers`` imports them all), so a family
can import ``serialize`` / ``deserialize`` (the wrappers do) without a cycle.
"""
from __future__ import annotations

from graphc.layers.base import Layer

__all__ = ["deserialize", "register", "serialize"]

_LAYERS: dict[str, type[Layer]] = {}


def register(cls):
    """Make a Layer subclass known to ``deserialize`` (and so to ``load_model``)."""
    _LAYERS[cls.__name__] = cls
    return cls


def serialize(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    try:
        cls = _LAYERS[config["class_name"]]
    except (KeyError, TypeError):
        raise ValueError(f"layers.deserialize: unknown layer {config!r}; known: {sorted(_LAYERS)}") from None
    return cls.from_config(dict(config.get("config", {})))
