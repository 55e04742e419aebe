"""The ``graphc`` entry point: the top-level parser with one subcommand per command module
(``demo``, ``render``), and ``main``, which runs the chosen command and turns every error into
one line on stderr with its exit code (``graphc.cli.common``). ``graphc.cli`` re-exports
``main``, the target of the console script and of ``python -m graphc``.
"""
from __future__ import annotations

import argparse
import sys

from graphc.cli.common import EXIT_FAILED, EXIT_USAGE, OneLineParser, UsageError, one_line
from graphc.cli.demo import add_demo_parser
from graphc.cli.render import add_render_parser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="graphc", description="graphc: a compiler for symbolic computation graphs.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    add_demo_parser(commands)
    add_render_parser(commands)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (never raises SystemExit itself). Every
    error is reported on ONE line of stderr: bad usage or expression (2), work that failed (1)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    from graphc.errors import BackendUnavailable

    def report(message) -> None:
        print(f"graphc {args.command}: error: {one_line(message)}", file=sys.stderr)

    try:
        return args.run(args)
    except UsageError as exc:
        report(exc)
        return EXIT_USAGE
    except (BackendUnavailable, OSError) as exc:
        report(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        report("interrupted")
        return 130
    except Exception as exc:   # a bug in graphc: still one line, and the exception's name
        report(f"internal error: {type(exc).__name__}: {exc} (please report it)")
        return EXIT_FAILED
