"""Keras' progress bar, as ``fit``/``evaluate`` print it.

    Epoch 3/30
    32/32 ━━━━━━━━━━━━━━━━━━━━ 0s 3ms/step - accuracy: 0.9100 - loss: 0.2312

``verbose=1`` on a terminal redraws the line in place (``\\r``) as batches finish, the bar
green up to the progress made; ``verbose=1`` elsewhere (a log file, a pipe, pytest) prints the
finished line once per epoch; ``verbose=2`` prints Keras' terse per-epoch line
``32/32 - 0s - 3ms/step - loss: 0.2312``. Values are printed as given (the caller passes
running means over the epoch so far, as Keras does): 4 decimals, or scientific notation for
magnitudes below 1e-3.
"""
from __future__ import annotations

import sys
import time

WIDTH = 20          # characters of bar
INTERVAL = 0.05     # seconds between two redraws on a terminal (Keras' Progbar interval)
_GREEN, _DIM, _BOLD, _RESET = "\x1b[32m", "\x1b[37m", "\x1b[1m", "\x1b[0m"


def format_value(value) -> str:
    """Keras' number format in the progress line."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return f" {value}"
    if abs(value) > 1e-3 or value == 0.0:
        return f" {value:.4f}"
    return f" {value:.4e}"


def format_time_per_step(seconds: float, unit: str = "step") -> str:
    """3ms/step, 250us/step, 2s/step (Keras' rounding)."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600) // 60:02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


class Progbar:
    """One progress line for ``target`` steps.

    ``update(current, values)`` redraws (on a terminal, at most every 0.05 s);
    ``finish(values)`` prints the final line and a newline. ``stream`` defaults to sys.stdout;
    ``interactive`` defaults to ``stream.isatty()``.
    """

    def __init__(self, target: int, verbose: int = 1, stream=None, interactive=None):
        self.target = int(target)
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn_width = 0

    @property
    def wants_updates(self) -> bool:
        """Whether per-step ``update`` calls draw anything (only verbose=1 on a terminal)."""
        return self.verbose == 1 and self.interactive

    def _counter(self, current: int) -> str:
        digits = len(str(self.target))
        text = f"{current:>{digits}d}/{self.target}"
        return f"{_BOLD}{text}{_RESET}" if self.interactive else text

    def _bar(self, current: int) -> str:
        done = int(WIDTH * min(current, self.target) / max(self.target, 1))
        if not self.interactive:
            return "━" * WIDTH
        filled = f"{_GREEN}{'━' * done}{_RESET}" if done else ""
        return filled + f"{_DIM}{'━' * (WIDTH - done)}{_RESET}"

    @staticmethod
    def _values(values) -> str:
        return "".join(f" - {k}:{format_value(v)}" for k, v in (values or {}).items())

    def update(self, current: int, values=None):
        if not self.wants_updates:
            return
        now = time.perf_counter()
        if now - self._last_draw < INTERVAL:
            return
        self._last_draw = now
        elapsed = now - self.start
        eta = elapsed / max(current, 1) * (self.target - current)
        line = f"{self._counter(current)} {self._bar(current)} {_format_eta(eta)}{self._values(values)}"
        self._write_in_place(line)

    def finish(self, values=None):
        """The finished line: time for all steps, time per step, the values; then a newline."""
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        per_step = format_time_per_step(elapsed / max(self.target, 1))
        if self.verbose == 2:
            line = f"{self.target}/{self.target} - {elapsed:.0f}s - {per_step}{self._values(values)}"
            self.stream.write(line + "\n")
        else:
            line = (f"{self._counter(self.target)} {self._bar(self.target)} {elapsed:.0f}s {per_step}"
                    f"{self._values(values)}")
            if self.interactive:
                self._write_in_place(line)
                self.stream.write("\n")
            else:
                self.stream.write(line + "\n")
        self.stream.flush()

    def _write_in_place(self, line: str):
        pad = max(self._drawn_width - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._drawn_width = len(line)
