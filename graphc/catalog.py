"""Catalog: the classes of one kind of library object (losses, optimizers, regularizers, ...)
by class name and by short name, with Keras' ``get`` / ``serialize`` / ``deserialize``
conventions — written once for every module that needs them."""
from __future__ import annotations


class Configurable:
    """Library objects rebuilt from their constructor arguments: ``get_config()`` returns
    them, ``from_config`` calls the constructor with them, and ``repr`` shows them."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Catalog:
    """``kind`` names the objects in messages ("loss"); ``base`` is their base class;
    ``names`` maps short names ("mse") to classes. ``bare_config``: ``deserialize`` also reads
    a plain ``get_config()`` whose ``name`` is a short name. ``on_callable``: what ``get``
    makes of a plain function (None: it is refused); ``none_ok``: ``get(None)`` gives None."""

    def __init__(self, kind, base, classes, names=None, *, bare_config=False, on_callable=None,
                 none_ok=False):
        self.kind = kind
        self.base = base
        self.classes = {cls.__name__: cls for cls in classes}
        self.names = dict(names or {})
        self.bare_config = bare_config
        self.on_callable = on_callable
        self.none_ok = none_ok

    def short_names(self) -> list:
        return sorted(self.names)

    def serialize(self, obj) -> dict:
        """``{"class_name": ..., "config": ...}``, the form ``deserialize`` reads back."""
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config):
        """An object from ``serialize``'s output (or, with ``bare_config``, a bare config)."""
        if isinstance(config, dict) and "class_name" in config:
            cls = self.classes.get(config["class_name"])
            if cls is None:
                raise ValueError(f"{self.kind}: unknown class {config['class_name']!r} in a saved "
                                 f"config; known: {', '.join(sorted(self.classes))}")
            return cls.from_config(config.get("config", {}))
        if self.bare_config and isinstance(config, dict) and str(config.get("name", "")).lower() in self.names:
            return self.names[str(config["name"]).lower()].from_config(config)
        raise ValueError(f"{self.kind}: expected {{'class_name': one of {sorted(self.classes)}, "
                         f"'config': {{...}}}} (from serialize), got {config!r}")

    def get(self, identifier):
        """An object from a short or class name (default arguments), an instance (as is), a
        class, a ``serialize`` dict, or — where allowed — a plain callable or None."""
        if identifier is None and self.none_ok:
            return None
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            cls = self.names.get(identifier.lower()) or self.classes.get(identifier)
            if cls is None:
                raise ValueError(f"unknown {self.kind} {identifier!r}; valid names: "
                                 f"{', '.join(self.short_names())}")
            return cls()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier) and self.on_callable is not None:
            return self.on_callable(identifier)
        raise ValueError(f"cannot interpret {identifier!r} as a {self.kind}; valid names: "
                         f"{', '.join(self.short_names())}")
