"""The ``graphc`` command line: ``graphc demo`` and ``graphc render "EXPR" -o out.svg``.

    graphc demo [--out DIR]
        h = (a + b) * (c + d) and its gradients: values, generated source, pass report, and
        the diagrams h.svg, grad.svg, f.svg, f.png in DIR (default ./graphc-demo).

    graphc render "EXPR" -o out.svg [--grad a,b] [--shape NAME=2x3 ...] [--optimize]
        draws an expression. EXPR is parsed, never eval'd: names, numbers, + - * / ** @,
        unary -, and calls of graphc's math functions (exp, tanh, matmul, reduce_sum, ...).
        Every free name is a float32 placeholder, scalar unless --shape gives its shape.

Exit codes: 0 done, 1 the work failed (e.g. Graphviz missing), 2 bad usage or expression.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Functions an expression may call: graphc's op builders, never anything that touches files.
EXPRESSION_FUNCTIONS = frozenset("""
    add sub mul div pow neg exp log log1p sqrt square abs sign sin cos tanh sigmoid relu softplus
    leaky_relu elu maximum minimum where clip equal not_equal less less_equal greater greater_equal
    cast reshape transpose concat stack expand_dims squeeze broadcast_to
    reduce_sum reduce_mean reduce_max reduce_min reduce_prod argmax argmin
    matmul one_hot gather zeros ones fill zeros_like ones_like
""".split())

BINARY_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
                    ast.MatMult: "@"}


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit code 2."""


# -- expressions -----------------------------------------------------------------------------

def parse_expression(text: str) -> ast.Expression:
    """Parse ``text`` and check that it only uses what ``build_expression`` allows."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise UsageError(f"cannot parse expression {text!r}: {exc.msg}") from None
    check_expression(tree.body)
    return tree


def check_expression(root: ast.AST) -> None:
    """Reject anything but names, literals, arithmetic and calls of allowed functions.

    Iterative (explicit stack), so a long expression cannot exhaust the recursion limit.
    """
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp):
            if type(node.op) not in BINARY_OPERATORS:
                raise UsageError(f"operator {type(node.op).__name__} is not allowed "
                                 f"(use {' '.join(BINARY_OPERATORS.values())})")
            stack += [node.left, node.right]
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise UsageError(f"unary operator {type(node.op).__name__} is not allowed (only - and +)")
            stack.append(node.operand)
        elif isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise UsageError(f"name {node.id!r} is not allowed: names may not start with '_'")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, bool, str)) and node.value is not None:
                raise UsageError(f"literal {node.value!r} is not allowed (numbers only)")
        elif isinstance(node, (ast.Tuple, ast.List)):
            stack += node.elts
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise UsageError(f"only calls of graphc functions by plain name are allowed, "
                                 f"not {ast.unparse(node.func)!r}")
            if node.func.id not in EXPRESSION_FUNCTIONS:
                raise UsageError(f"function {node.func.id!r} is not allowed; allowed: "
                                 f"{', '.join(sorted(EXPRESSION_FUNCTIONS))}")
            for kw in node.keywords:
                if kw.arg is None:
                    raise UsageError("**kwargs is not allowed in an expression")
                stack.append(kw.value)
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    raise UsageError("*args is not allowed in an expression")
                stack.append(arg)
        else:
            raise UsageError(f"{type(node).__name__} is not allowed in an expression "
                             f"({ast.unparse(node)!r})")


def free_names(tree: ast.Expression) -> list[str]:
    """Names that are not called, in order of first appearance in the text."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    first: dict[str, tuple] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in called:
            position = (node.lineno, node.col_offset)
            first[node.id] = min(first.get(node.id, position), position)
    return sorted(first, key=first.get)


def build_expression(tree: ast.Expression, env: dict):
    """The expression built with graphc: names looked up in ``env``, calls to ``gc.<name>``.

    Post-order with an explicit stack: operands first, then the node that combines them.
    """
    import graphc as gc

    values: dict[int, object] = {}
    stack = [(tree.body, False)]
    while stack:
        node, ready = stack.pop()
        children = _children(node)
        if not ready:
            stack.append((node, True))
            stack += [(child, False) for child in reversed(children)]
            continue
        args = [values.pop(id(child)) for child in children]
        values[id(node)] = _combine(gc, node, args, env)
    return values[id(tree.body)]


def _children(node) -> list:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, (ast.Tuple, ast.List)):
        return list(node.elts)
    if isinstance(node, ast.Call):
        return list(node.args) + [kw.value for kw in node.keywords]
    return []


def _combine(gc, node, args, env):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.Tuple):
        return tuple(args)
    if isinstance(node, ast.List):
        return list(args)
    if isinstance(node, ast.UnaryOp):
        return -args[0] if isinstance(node.op, ast.USub) else args[0]
    if isinstance(node, ast.BinOp):
        left, right = args
        op = type(node.op)
        if op is ast.Add:
            return left + right
        if op is ast.Sub:
            return left - right
        if op is ast.Mult:
            return left * right
        if op is ast.Div:
            return left / right
        if op is ast.Pow:
            return left ** right
        return left @ right
    # a call of an allowed graphc function
    fn = getattr(gc, node.func.id, None)
    if fn is None:
        raise UsageError(f"function {node.func.id!r} is not available in this graphc")
    n_pos = len(node.args)
    kwargs = {kw.arg: value for kw, value in zip(node.keywords, args[n_pos:])}
    return fn(*args[:n_pos], **kwargs)


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
        elif part.isdigit():
            dims.append(int(part))
        else:
            raise UsageError(f"bad dimension {part!r} in shape {text!r} (write e.g. 2x3 or ?x3)")
    return tuple(dims)


def parse_shape_options(options) -> dict:
    shapes = {}
    for option in options or ():
        name, sep, shape = option.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--shape {option!r}: write NAME=SHAPE, e.g. x=2x3")
        shapes[name.strip()] = parse_shape(shape)
    return shapes


# -- commands --------------------------------------------------------------------------------

def run_render(args) -> int:
    import graphc as gc
    from .render import format_of, render
    from .tensor import Tensor

    try:
        format_of(args.output)
    except ValueError:
        raise UsageError(f"-o {args.output}: unknown suffix; use .svg, .png, .pdf or .dot") from None
    tree = parse_expression(args.expression)
    names = free_names(tree)
    shapes = parse_shape_options(args.shape)
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise UsageError(f"--shape names {', '.join(unknown)}, which the expression does not use "
                         f"(its names: {', '.join(names) or 'none'})")
    env = {n: gc.placeholder(shapes.get(n, ()), dtype=args.dtype, name=n) for n in names}
    try:
        y = build_expression(tree, env)
    except (TypeError, ValueError) as exc:  # ShapeError, DTypeError, GraphError included
        raise UsageError(f"cannot build {args.expression!r}: {exc}") from None
    if not isinstance(y, Tensor):
        raise UsageError(f"{args.expression!r} is a constant ({y!r}), not a graph: use a name such as x")

    outputs, labels = [y], [args.expression]
    if args.grad:
        wrt = [n.strip() for n in args.grad.split(",") if n.strip()]
        missing = [n for n in wrt if n not in env]
        if missing:
            raise UsageError(f"--grad {', '.join(missing)}: not a name in the expression "
                             f"(its names: {', '.join(names) or 'none'})")
        target = y
        if y.shape != ():
            target = gc.reduce_sum(y)
            print(f"note: the expression has shape {_shape_text(y.shape)}; differentiating "
                  f"reduce_sum({args.expression}) (gc.grad needs a scalar)")
        outputs += list(gc.grad(target, [env[n] for n in wrt]))
        labels += [f"d/d{n}" for n in wrt]
    if args.optimize:
        outputs = list(gc.optimize(outputs))

    title = args.title if args.title is not None else args.expression
    path = render(outputs, args.output, title=title, legend=args.legend, output_labels=labels)
    print(f"wrote {path}")
    return EXIT_OK


def run_demo(args) -> int:
    import graphc as gc
    from .render import render

    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)

    a, b, c, d = (gc.placeholder(name=n) for n in "abcd")
    h = (a + b) * (c + d)
    grads = gc.grad(h, [a, c])
    f = gc.function([a, b, c, d], [h] + list(grads))

    inputs = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    h_value, dh_da, dh_dc = f(*inputs.values())
    print("h = (a + b) * (c + d)")
    print("inputs:  " + ", ".join(f"{k} = {_number(v)}" for k, v in inputs.items()))
    print(f"h     = {_number(h_value)}")
    print(f"dh/da = c + d = {_number(dh_da)}")
    print(f"dh/dc = a + b = {_number(dh_dc)}")
    print("\n# f.source: the generated code")
    print(f.source)
    print("# f.explain(): what each pass did")
    print(f.explain())

    labels = ["h", "dh/da", "dh/dc"]
    written = [
        render(h, os.path.join(out_dir, "h.svg"), title="h = (a + b) * (c + d)", output_labels=["h"]),
        render([h] + list(grads), os.path.join(out_dir, "grad.svg"),
               title="h and its gradient (gold: nodes built by gc.grad)", legend=True,
               output_labels=labels),
        render(f, os.path.join(out_dir, "f.svg"), title="f: the optimized compiled function",
               output_labels=labels),
        render(f, os.path.join(out_dir, "f.png"), title="f: the optimized compiled function",
               output_labels=labels),
    ]
    print("\ndiagrams:")
    for path in written:
        print(f"  {path}")
    return EXIT_OK


def _number(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        x = arr.item()
        return f"{x:.6g}" if isinstance(x, float) else str(x)
    return np.array2string(arr, precision=6)


def _shape_text(shape) -> str:
    from .tensor import format_shape
    return format_shape(shape)


# -- entry point -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphc", description="graphc: a compiler for symbolic computation graphs.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser(
        "demo", help="h = (a+b)*(c+d): values, gradients, generated code, diagrams",
        description="Build h = (a+b)*(c+d) and its gradients, compile, run at a,b,c,d = 1,2,3,4, "
                    "print the generated code and the pass report, and draw the graphs.")
    demo.add_argument("--out", default="graphc-demo", metavar="DIR",
                      help="folder for h.svg, grad.svg, f.svg and f.png (default: ./graphc-demo)")
    demo.set_defaults(run=run_demo)

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
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (never raises SystemExit itself)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    from .errors import BackendUnavailable
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"graphc {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (BackendUnavailable, OSError) as exc:
        print(f"graphc {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
