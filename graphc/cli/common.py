"""What every ``graphc`` command shares: the exit codes, ``UsageError``, the one-line argparse
parser, the text helpers of the error messages, and the ``--shape`` option's parser.

Kept apart from the commands so that each command module, and the entry point that reports
their errors, agree on one exit-code table and one error format (``graphc COMMAND: error: ...``).
"""
from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors on one line (``graphc render: error: ...``) and exit code 2."""

    def error(self, message):
        if "EXPR" in message:   # "-x * y" reads as an option
            message += " (an expression starting with - goes after --: graphc render -o out.svg -- '-x * y')"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text) -> str:
    """``text`` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(str(text).split())


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_shape(text: str) -> tuple:
    """'2x3' or '2,3' -> (2, 3); '?' or 'None' is a dimension known only at call time;
    '' or '()' is a scalar."""
    text = text.strip().strip("()[]").strip()
    if not text:
        return ()
    dims = []
    for part in text.replace(",", "x").split("x"):
        part = part.strip()
        if part in ("?", "None", "none"):
            dims.append(None)
        elif part.isascii() and part.isdigit():
            dims.append(int(part))
        else:
            raise UsageError(f"bad dimension {part!r} in shape {text!r} (write e.g. 2x3 or ?x3)")
    return tuple(dims)


def parse_shape_options(options) -> dict:
    shapes = {}
    for option in options or ():
        name, sep, shape = option.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--shape {option!r}: write NAME=SHAPE, e.g. x=2x3")
        if name in shapes:
            raise UsageError(f"--shape {name}=... is given twice")
        shapes[name] = parse_shape(shape)
    return shapes
