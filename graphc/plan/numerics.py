"""The numerics guard: raise at the first op whose value holds NaN or Inf.

Like TensorFlow's ``tf.debugging.enable_check_numerics`` and PyTensor's ``NanGuardMode``. A
function compiled with ``check_numerics=True`` runs its graph as built (no rewriting passes,
so each op is the one the user wrote) and checks every floating-point value after the op that
makes it. Off by default, and then the generated code holds no check at all.
"""
from __future__ import annotations

import numpy as np

from graphc.errors import NumericsError
from graphc.ir.opdef import describe

_enabled = False
_switches = 0   # how often the switch moved: functions compiled before recompile on their next call


def enable_check_numerics() -> None:
    """Every function on the numpy backend checks its values from its next call on (models'
    steps included), except those compiled with ``check_numerics=False``."""
    _set(True)


def disable_check_numerics() -> None:
    _set(False)


def _set(on: bool) -> None:
    global _enabled, _switches
    if on != _enabled:
        _enabled = on
        _switches += 1


def switch_count() -> int:
    return _switches


def enabled() -> bool:
    return _enabled


def checked(node) -> bool:
    """Whether ``node``'s values are checked: floating-point ones."""
    return node.dtype.kind in "fc"


def check(value, node) -> None:
    """Raise NumericsError naming ``node`` if ``value`` holds NaN or Inf."""
    if np.isfinite(value).all():
        return
    value = np.asarray(value)
    nans = int(np.isnan(value).sum())
    infs = int(np.isinf(value).sum())
    found = ", ".join(part for part in (f"{nans} NaN" if nans else "", f"{infs} Inf" if infs else "") if part)
    inputs = "; ".join(describe(i) for i in node.inputs) or "none"
    raise NumericsError(f"check_numerics: {node.op} {describe(node)} holds {found} "
                        f"(of {value.size} values); its inputs: {inputs}{_site(node)}")


def _site(node) -> str:
    if node.site is None:   # built from no Python frame outside graphc
        return ""
    filename, line, function = node.site
    return f"; built at {filename}:{line} in {function}"
