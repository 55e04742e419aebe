"""Field checkers for a loaded entry: each takes a JSON value and what it is (for the message),
and returns the value or raises _Refused saying why not."""
from __future__ import annotations

import numpy as np

from graphc.compile.cache.errors import _Refused

_DTYPES = {np.dtype(n).str: np.dtype(n) for n in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "longdouble")}
_DTYPE_NAMES = {dt.name for dt in _DTYPES.values()}
_DTYPE_STR = {dt: text for text, dt in _DTYPES.items()}  # dtype.str is slow to compute


def _expect(condition, message: str) -> None:
    if not condition:
        raise _Refused(message)


def _show(value, limit=60) -> str:
    """A value in a message: repr'd (no raw newlines) and cut short."""
    return _brief(repr(value), limit)


def _brief(text: str, limit=200) -> str:
    """Text for a one-line message: newlines escaped, cut short."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _refusing(check, *args):
    """``check(*args)``, any exception it raises (a parser's, an op rule's) as _Refused."""
    try:
        return check(*args)
    except _Refused:
        raise
    except Exception as exc:
        raise _Refused(f"{type(exc).__name__}: {_brief(str(exc))}") from exc


def _int(value, what, lo=None, hi=None) -> int:
    if type(value) is not int:  # not a bool, not a float, not a string of digits
        raise _Refused(f"{what}: expected an int, got {_show(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _Refused(f"{what}: {value} is out of range [{lo}, {hi}]")
    return value


def _list(value, what, length=None) -> list:
    if type(value) is not list:
        raise _Refused(f"{what}: expected a list, got {_show(value)}")
    if length is not None and len(value) != length:
        raise _Refused(f"{what}: expected {length} items, got {len(value)}")
    return value


def _fields(value, what, keys) -> dict:
    if type(value) is not dict or value.keys() != keys:
        raise _Refused(f"{what}: expected an object with fields {sorted(keys)}, got {_show(value)}")
    return value


def _text(value, what) -> str:
    """Names and report texts: printable, so they cannot break a line of generated code or
    send escape sequences to a terminal."""
    if type(value) is not str or not value.isprintable():
        raise _Refused(f"{what}: expected printable text, got {_show(value)}")
    return value


def _tagged(value, tag, what):
    if type(value) is not dict or len(value) != 1 or tag not in value:
        raise _Refused(f"{what}: expected {{{tag!r}: ...}}, got {_show(value)}")
    return value[tag]


def _ints(value, what, lo=None, length=None) -> tuple:
    items = _list(_tagged(value, "tuple", what), what, length)
    for v in items:
        _int(v, what, lo)
    return tuple(items)
