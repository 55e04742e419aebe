"""``graphc render "EXPR" -o out.svg``: draw an expression, and optionally its gradients, with
Graphviz. This module owns the command's arguments and checks them (output suffix and folder,
``--dtype``, ``--shape``, ``--grad``) before any graph is built; the expression language itself
is ``graphc.cli.expressions``. graphc and Graphviz are imported only when the command runs.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys

from graphc.cli.common import EXIT_OK, UsageError, one_line, parse_shape_options, shorten
from graphc.cli.expressions import EXPRESSION_FUNCTIONS, build_expression, free_names, parse_expression


def add_render_parser(commands) -> None:
    """Register ``render`` and its arguments with the ``graphc`` subparsers ``commands``."""
    draw = commands.add_parser(
        "render", help="draw an expression (and its gradients) with Graphviz",
        description="Draw EXPR. Free names become float32 placeholders (scalars unless --shape). "
                    "Allowed: names, numbers, + - * / ** @, unary -, and calls of "
                    f"{', '.join(sorted(EXPRESSION_FUNCTIONS))}.")
    draw.add_argument("expression", metavar="EXPR", help='e.g. "(a + b) * (c + d)" or "tanh(x @ w)"')
    draw.add_argument("-o", "--output", required=True, metavar="PATH",
                      help="output file; the format comes from the suffix: .svg .png .pdf .dot")
    draw.add_argument("--grad", metavar="NAMES", help="comma-separated names to differentiate by")
    draw.add_argument("--shape", action="append", metavar="NAME=SHAPE",
                      help="shape of a name, e.g. x=2x3 or x=?x3 (repeatable)")
    draw.add_argument("--dtype", default="float32", help="dtype of the placeholders (default float32)")
    draw.add_argument("--optimize", action="store_true", help="draw the graph after gc.optimize")
    draw.add_argument("--title", help="diagram title (default: the expression)")
    draw.add_argument("--legend", action="store_true", help="add a key to the node styles")
    draw.set_defaults(run=run_render)


def run_render(args) -> int:
    from graphc import api as gc
    from graphc.ir.dtypes import as_dtype
    from graphc.render import format_of, render
    from graphc.ir.tensor import Tensor

    try:
        format_of(args.output)
    except ValueError:
        raise UsageError(f"-o {args.output}: unknown suffix; use .svg, .png, .pdf or .dot") from None
    directory = os.path.dirname(os.path.abspath(args.output))
    if os.path.isdir(args.output):
        raise UsageError(f"-o {args.output}: is a directory; give a file name such as out.svg")
    if not os.path.isdir(directory):
        raise UsageError(f"-o {args.output}: the folder {directory} does not exist")
    try:
        dtype = as_dtype(args.dtype).name
    except (TypeError, ValueError) as exc:   # DTypeError
        raise UsageError(f"--dtype {args.dtype}: {exc}") from None
    tree = parse_expression(args.expression)
    names = free_names(tree)
    shapes = parse_shape_options(args.shape)
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise UsageError(f"--shape names {', '.join(unknown)}, which the expression does not use "
                         f"(its names: {', '.join(names) or 'none'})")
    wrt = None
    if args.grad is not None:
        wrt = [n.strip() for n in args.grad.split(",") if n.strip()]
        missing = [n for n in wrt if n not in names]
        if missing or not wrt:
            raise UsageError(f"--grad {', '.join(missing) or repr(args.grad)}: not a name in the expression "
                             f"(its names: {', '.join(names) or 'none'})")
    expression = shorten(one_line(args.expression))
    try:   # anything the expression makes graphc raise is a bad expression: one line, exit 2
        env = {n: gc.placeholder(shapes.get(n, ()), dtype=dtype, name=n) for n in names}
        y = build_expression(tree, env)
        if not isinstance(y, Tensor):
            raise UsageError(f"{expression!r} is a constant ({shorten(repr(y), 40)}), not a graph: "
                             "use a name such as x")
        outputs, labels = [y], [expression]
        if wrt is not None:
            target = y
            if y.shape != ():
                target = gc.reduce_sum(y)
                print(f"note: the expression has shape {_shape_text(y.shape)}; differentiating "
                      f"reduce_sum({expression}) (gc.grad needs a scalar)")
            outputs += list(gc.grad(target, [env[n] for n in wrt]))
            labels += [f"d/d{n}" for n in wrt]
        if args.optimize:
            outputs = list(gc.optimize(outputs))
    except UsageError:
        raise
    except Exception as exc:   # ShapeError, DTypeError, GraphError, OverflowError, ZeroDivisionError...
        raise UsageError(f"cannot build {expression!r}: {type(exc).__name__}: {exc}") from None

    title = args.title if args.title is not None else expression
    dot_messages = io.StringIO()   # what dot prints (the graphviz package copies it to stderr)
    with contextlib.redirect_stderr(dot_messages):   # a failing dot: BackendUnavailable, one line
        path = render(outputs, args.output, title=title, legend=args.legend, output_labels=labels)
    sys.stderr.write(dot_messages.getvalue())   # dot's warnings, if any
    print(f"wrote {path}")
    return EXIT_OK


def _shape_text(shape) -> str:
    from graphc.ir.tensor import format_shape
    return format_shape(shape)
