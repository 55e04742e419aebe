"""The ``graphc`` command line: ``graphc demo`` and ``graphc render "EXPR" -o out.svg``.

    graphc demo [--out DIR]
        h = (a + b) * (c + d) and its gradients: values, generated source, pass report, and
        the diagrams h.svg, grad.svg, f.svg, f.png in DIR (default ./graphc-demo).

    graphc render "EXPR" -o out.svg [--grad a,b] [--shape NAME=2x3 ...] [--optimize]
        draws an expression. EXPR is parsed, never eval'd: names, numbers, + - * / ** @,
        unary -, and calls of graphc's math functions (exp, tanh, matmul, reduce_sum, ...).
        Every free name is a float32 placeholder, scalar unless --shape gives its shape.

        A flat sum or product of more than 32 terms (x1 + x2 + ... + x5000) is built as a
        balanced tree of the same terms, equal pairs shared: the same value up to rounding,
        drawn log2(n) deep rather than n deep, which Graphviz can lay out. A chain too long
        for Python's parser is split at its top-level operators and parsed term by term.

Exit codes: 0 done, 1 the work failed (e.g. Graphviz missing or crashing), 2 bad usage or
expression. Every error is ONE line on stderr, ``graphc COMMAND: error: ...``; no traceback.

Layout: ``app`` (the parser and ``main``), one module per command (``demo``, ``render``),
``expressions`` (EXPR: parse, check, build) and ``common`` (exit codes, ``UsageError``, the
one-line parser, ``--shape``); ``python -m graphc.cli`` runs ``main`` as before.
"""
from graphc.cli.app import build_parser, main
from graphc.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, parse_shape
from graphc.cli.expressions import build_expression, free_names, parse_expression

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_expression", "build_parser", "free_names",
           "main", "parse_expression", "parse_shape"]
