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
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import io
import keyword
import numbers
import os
import sys
import tokenize

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

# Chains of one precedence level: (operator when the term adds/multiplies, when it subtracts/divides).
CHAIN_FAMILIES = {ast.Add: (ast.Add, ast.Sub), ast.Sub: (ast.Add, ast.Sub),
                  ast.Mult: (ast.Mult, ast.Div), ast.Div: (ast.Mult, ast.Div),
                  ast.MatMult: (ast.MatMult, ast.MatMult)}
LONG_CHAIN = 32            # chains of more terms are built as balanced trees
MAX_CONSTANT_BITS = 4096   # a constant power such as 9**9**9 larger than this is refused

# Top-level tokens of a long expression, for splitting it at its + - and * / // % @ operators.
ADDITIVE_TOKENS = {"+": ast.Add, "-": ast.Sub}
MULTIPLICATIVE_TOKENS = {"*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "@": ast.MatMult}
OPENING, CLOSING = "([{", ")]}"


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


# -- expressions -----------------------------------------------------------------------------

def parse_expression(text: str) -> ast.Expression:
    """Parse ``text`` and check that it only uses what ``build_expression`` allows.

    Python's parser recurses once per operator of a chain like x + x + ... + x and gives up
    after a few thousand; such an expression is split at its top-level + - (then * / @)
    and each term parsed alone (``parse_long_expression``)."""
    text = text.strip()
    if not text:
        raise UsageError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise UsageError(f"cannot parse expression {shorten(text)!r}: {exc.msg}") from None
    except ValueError as exc:   # NUL characters (Python 3.11)
        raise UsageError(f"cannot parse expression: {exc}") from None
    except (RecursionError, MemoryError):
        tree = ast.Expression(body=parse_long_expression(text))
    check_expression(tree.body)
    return tree


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_long_expression(text: str) -> ast.AST:
    """``text`` parsed term by term: split at its top-level + and - (binary ones), each term
    at its top-level * / // % @, each factor parsed by ``ast.parse``, the pieces joined left
    to right as Python would. Iterative: the depth of the chain does not matter, only that
    of each factor."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise UsageError(f"cannot parse expression {shorten(text)!r}: {exc}") from None
    line_starts = [0]   # the lines as tokenize reads them: broken at \n only
    for line in io.StringIO(text).readlines():
        line_starts.append(line_starts[-1] + len(line))

    def offset(position):
        row, col = position
        return line_starts[row - 1] + col

    terms = []                      # [(operator before the term, [(operator before the factor, start, end)])]
    term_op, factors, factor_op = None, [], None
    start, depth, previous = 0, 0, None
    for token in tokens:
        if token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.INDENT,
                          tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        string, is_op = token.string, token.type == tokenize.OP
        if is_op and string in OPENING:
            depth += 1
        elif is_op and string in CLOSING:
            depth -= 1
        elif depth == 0 and is_op and (string in MULTIPLICATIVE_TOKENS
                                       or (string in ADDITIVE_TOKENS and ends_operand(previous))):
            factors.append((factor_op, start, offset(token.start)))
            if string in ADDITIVE_TOKENS:
                terms.append((term_op, factors))
                term_op, factors, factor_op = ADDITIVE_TOKENS[string], [], None
            else:
                factor_op = MULTIPLICATIVE_TOKENS[string]
            start = offset(token.end)
        elif depth == 0 and (is_op or keyword.iskeyword(string)) and \
                string not in ("**", "~", ".", "None", "True", "False", *ADDITIVE_TOKENS):
            raise UsageError(f"{string!r} is not allowed in an expression "
                             f"(use {' '.join(BINARY_OPERATORS.values())})")
        previous = token
    factors.append((factor_op, start, len(text)))
    terms.append((term_op, factors))

    def chain(items):
        node = items[0][1]
        for op, right in items[1:]:
            node = ast.BinOp(left=node, op=op(), right=right)
        return node

    built = []
    for term_op, factors in terms:
        built.append((term_op, chain([(op, parse_factor(text[lo:hi])) for op, lo, hi in factors])))
    return chain(built)


def ends_operand(token) -> bool:
    """Whether ``token`` can end an operand, making a following + or - binary."""
    if token is None:
        return False
    if token.type in (tokenize.NUMBER, tokenize.STRING):
        return True
    if token.type == tokenize.NAME:
        return not keyword.iskeyword(token.string) or token.string in ("None", "True", "False")
    return token.type == tokenize.OP and token.string in CLOSING


def parse_factor(text: str) -> ast.AST:
    text = text.strip()
    if not text:
        raise UsageError("cannot parse expression: an operator is missing an operand")
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise UsageError(f"cannot parse expression: {exc.msg} in {shorten(text)!r}") from None
    except (RecursionError, MemoryError):
        raise UsageError(f"the expression is nested too deeply for Python's parser (in {shorten(text)!r}); "
                         "a flat sum or product may be as long as you like, but nest fewer levels") from None


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
    """Names that are not called, in order of first appearance in the text (a left-to-right
    walk of the tree, with an explicit stack)."""
    seen: dict[str, None] = {}
    stack = [tree.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            seen.setdefault(node.id)
        stack += reversed(_source_children(node))
    return list(seen)


def _source_children(node) -> list:
    """The sub-expressions of ``node`` in source order (a called function's name excluded)."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, (ast.Tuple, ast.List)):
        return list(node.elts)
    if isinstance(node, ast.Call):
        return list(node.args) + [kw.value for kw in node.keywords]
    return []


def build_expression(tree: ast.Expression, env: dict):
    """The expression built with graphc: names looked up in ``env``, calls to ``gc.<name>``.

    Post-order with an explicit stack: operands first, then the node that combines them. A
    chain of one precedence level (a + b - c + ..., a * b / c ..., a @ b @ ...) is one step
    whose operands are all its terms: left to right as Python groups them, or as a balanced
    tree when it has more than ``LONG_CHAIN`` terms (``_balanced``).
    """
    from graphc import api as gc

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


def _chain(node: ast.BinOp) -> tuple[list, list]:
    """(terms, operators) of the chain of ``node``'s precedence level that ends at ``node``:
    a - b + c is ([a, b, c], [Sub, Add])."""
    family = CHAIN_FAMILIES.get(type(node.op))
    terms, operators = [], []
    while isinstance(node, ast.BinOp) and family is not None and CHAIN_FAMILIES.get(type(node.op)) == family:
        terms.append(node.right)
        operators.append(type(node.op))
        node = node.left
    terms.append(node)
    return terms[::-1], operators[::-1]


def _children(node) -> list:
    if isinstance(node, ast.BinOp):
        if type(node.op) in CHAIN_FAMILIES:
            return _chain(node)[0]
        return [node.left, node.right]
    return _source_children(node)


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
        _check_operands("unary " + ("-" if isinstance(node.op, ast.USub) else "+"), args)
        return -args[0] if isinstance(node.op, ast.USub) else args[0]
    if isinstance(node, ast.BinOp):
        if type(node.op) not in CHAIN_FAMILIES:
            return _apply(type(node.op), *args)
        operators = _chain(node)[1]
        if len(args) > LONG_CHAIN:
            return _balanced(args, operators)
        value = args[0]
        for op, right in zip(operators, args[1:]):
            value = _apply(op, value, right)
        return value
    # a call of an allowed graphc function
    fn = getattr(gc, node.func.id, None)
    if fn is None:
        raise UsageError(f"function {node.func.id!r} is not available in this graphc")
    n_pos = len(node.args)
    kwargs = {kw.arg: value for kw, value in zip(node.keywords, args[n_pos:])}
    return fn(*args[:n_pos], **kwargs)


def _balanced(terms: list, operators: list):
    """The chain terms[0] op1 terms[1] op2 ... as a balanced tree: neighbours combined in pairs,
    round after round. Each item carries the operator it is joined by (the first: + or *);
    two items joined alike keep the pair's outer operator and combine with + (or *), two
    joined differently combine with - (or /): -b - c = -(b + c), -b + c = -(b - c).

    A pair met again (the same operator on the same two values, as in x + x + ... + x) is
    built once and shared, so repeated terms draw as a few nodes rather than thousands."""
    positive, negative = CHAIN_FAMILIES[operators[0]]
    items = [(positive, terms[0])] + list(zip(operators, terms[1:]))
    built = {}   # (operator, id(a), id(b)) -> a op b; a and b stay alive in the entries' values
    while len(items) > 1:
        paired = []
        for (op_a, a), (op_b, b) in zip(items[0::2], items[1::2]):
            op = positive if op_a == op_b else negative
            key = (op, id(a), id(b))
            if key not in built:
                built[key] = (_apply(op, a, b), a, b)
            paired.append((op_a, built[key][0]))
        if len(items) % 2:
            paired.append(items[-1])
        items = paired
    return items[0][1]


def _apply(op, left, right):
    """``left op right`` for tensors and numbers. Anything else (a tuple, a string) is refused
    rather than repeated or concatenated, and so is a constant power too large to compute."""
    symbol = BINARY_OPERATORS[op]
    _check_operands(symbol, (left, right))
    if op is ast.Pow and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
            and abs(right) * abs(left).bit_length() > MAX_CONSTANT_BITS:
        raise UsageError(f"the constant {shorten(str(left), 20)} ** {shorten(str(right), 20)} is too large")
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


def _check_operands(symbol: str, operands) -> None:
    from graphc.ir.tensor import Tensor

    for value in operands:
        if not isinstance(value, (Tensor, numbers.Real)):
            raise UsageError(f"{symbol} takes tensors and numbers, not {type(value).__name__} {shorten(repr(value), 40)}")


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


# -- commands --------------------------------------------------------------------------------

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


def run_demo(args) -> int:
    from graphc import api as gc
    from graphc.render import render

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
    from graphc.ir.tensor import format_shape
    return format_shape(shape)


# -- entry point -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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


if __name__ == "__main__":
    sys.exit(main())
