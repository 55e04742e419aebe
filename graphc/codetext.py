"""The one way a value becomes text in generated source.

Generated code never pastes text it did not make: attribute values become literals only if they
are plain data (numbers, strings, None, slices, dtypes and tuples/lists of these), identifiers
are made by the code generator, and the names users give (functions, placeholders, variables,
constants) appear only inside comments, quoted by ``repr`` (which escapes newlines).
"""
from __future__ import annotations

import keyword
import math
import re

import numpy as np

from graphc.errors import GraphError

_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")


def literal(value) -> str:
    """``value`` as Python source that evaluates to an equal value, or GraphError for anything
    that is not plain data (an object's ``repr`` may be arbitrary text)."""
    if isinstance(value, Name):
        return str(value)
    if value is Ellipsis:
        return "..."
    if value is None or type(value) in (bool, str):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float) and not isinstance(value, np.floating):
        x = float(value)   # a subclass's own repr is never pasted
        return repr(x) if math.isfinite(x) else f"float({repr(x)!r})"
    if isinstance(value, np.dtype):
        return repr(value.name)
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return f"np.{type(value).__name__}({literal(value.item())})"
    if isinstance(value, slice):
        return f"slice({literal(value.start)}, {literal(value.stop)}, {literal(value.step)})"
    if type(value) is tuple:
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if type(value) is list:
        return f"[{', '.join(literal(v) for v in value)}]"
    raise GraphError(f"a {type(value).__name__} cannot be written into generated code as an "
                     f"op attribute")


class Name(str):
    """A name the code generator made (a namespace entry), pasted into a template as is."""

    def __new__(cls, text):
        if not str(text).isidentifier() or keyword.iskeyword(text):
            raise GraphError(f"{text!r} is not an identifier")
        return super().__new__(cls, text)


def identifier(name: str, prefix: str) -> str:
    """A Python identifier for a user's name, made of ASCII letters, digits and underscores
    only, starting with ``prefix`` so it never meets a keyword, a builtin or a helper."""
    text = _NOT_IDENTIFIER.sub("_", str(name))
    ident = f"{prefix}{text}"
    assert ident.isidentifier() and not keyword.iskeyword(ident)
    return ident


def unique_identifier(name: str, prefix: str, taken: set) -> str:
    """``identifier(name, prefix)``, numbered when ``taken`` already holds it; added to
    ``taken``. Readable, but never the user's text itself."""
    base = candidate = identifier(name, prefix)
    number = 1
    while candidate in taken:
        candidate = f"{base}_{number}"
        number += 1
    taken.add(candidate)
    return candidate


def function_identifier(name: str) -> str:
    """The generated function's identifier for a Function named ``name`` (any text)."""
    return identifier(name, "fn_")


def comment(text) -> str:
    """``text`` quoted for a ``#`` or ``//`` comment: one line, whatever it holds."""
    return repr(str(text))
