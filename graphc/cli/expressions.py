"""The expression language of ``graphc render``: parse EXPR (never eval it), check that it
uses only names, numbers, arithmetic and calls of graphc's op builders, and build it as a graph.

Its own module because it is the CLI's one piece of real machinery — an iterative parser,
checker and builder that survive chains of thousands of terms (split at top-level operators,
built as balanced trees) — and the part the tests exercise directly.
"""
from __future__ import annotations

import ast
import io
import keyword
import numbers
import tokenize

from graphc.cli.common import UsageError, shorten

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
