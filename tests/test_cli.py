"""The `graphc` command line: `graphc demo` and `graphc render`, with real Graphviz output."""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphc as gc
from graphc.cli import main, parse_shape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

needs_pipeline = pytest.mark.skipif(
    not all(hasattr(gc, name) for name in ("function", "grad")),
    reason="gc.function / gc.grad not written yet")
needs_grad = pytest.mark.skipif(not hasattr(gc, "grad"), reason="gc.grad not written yet")
needs_optimize = pytest.mark.skipif(not hasattr(gc, "optimize"), reason="gc.optimize not written yet")


def svg_texts(path) -> list:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return [el.text for el in root.iter() if el.text]


# -- graphc demo ------------------------------------------------------------------------------

@needs_pipeline
def test_demo_prints_values_and_writes_four_diagrams(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "h     = 21" in printed
    assert "dh/da = c + d = 7" in printed
    assert "dh/dc = a + b = 3" in printed
    assert "a = 1, b = 2, c = 3, d = 4" in printed
    assert sorted(os.listdir(out)) == ["f.png", "f.svg", "grad.svg", "h.svg"]
    for name in ("f.png", "f.svg", "grad.svg", "h.svg"):
        assert str(out / name) in printed
    assert {"add", "mul", "a", "b", "c", "d"} <= set(svg_texts(out / "h.svg"))
    assert "dh/da" in svg_texts(out / "grad.svg")
    svg_texts(out / "f.svg")
    png = (out / "f.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 2000


@needs_pipeline
def test_python_dash_m_graphc_demo(tmp_path):
    result = subprocess.run([sys.executable, "-m", "graphc", "demo", "--out", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "21" in result.stdout
    assert (tmp_path / "f.png").exists()


# -- graphc render ------------------------------------------------------------------------------

def test_render_expression_to_svg(tmp_path, capsys):
    path = tmp_path / "h.svg"
    assert main(["render", "(a + b) * (c + d)", "-o", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    texts = svg_texts(path)
    assert {"a", "b", "c", "d", "add", "mul"} <= set(texts)
    assert "(a + b) * (c + d)" in texts  # title and output label


def test_render_with_shapes_and_functions(tmp_path):
    path = tmp_path / "layer.dot"
    code = main(["render", "tanh(x @ w) * 2 - reduce_sum(x, axis=1, keepdims=True) ** 2",
                 "-o", str(path), "--shape", "x=?x3", "--shape", "w=3x4"])
    assert code == 0
    dot = path.read_text()
    for text in ('label="(?, 3)"', 'label="(3, 4)"', 'label="(?, 4)"', "tanh", "matmul", "reduce_sum"):
        assert text in dot


def test_render_png(tmp_path):
    path = tmp_path / "e.png"
    assert main(["render", "exp(-x) / (1 + exp(-x))", "-o", str(path)]) == 0
    assert path.read_bytes().startswith(PNG_MAGIC)


@needs_grad
def test_render_with_gradients(tmp_path, capsys):
    path = tmp_path / "grad.dot"
    assert main(["render", "x * y + exp(x)", "-o", str(path), "--grad", "x,y"]) == 0
    dot = path.read_text()
    assert re.search(r'class="[^"]*\bgrad\b', dot)  # gradient nodes are marked
    assert "d/dx" in dot and "d/dy" in dot
    svg = tmp_path / "grad.svg"
    assert main(["render", "x * y + exp(x)", "-o", str(svg), "--grad", "x,y"]) == 0
    assert {"d/dx", "d/dy"} <= set(svg_texts(svg))


@needs_grad
def test_render_gradient_of_a_non_scalar_sums_it_first(tmp_path, capsys):
    path = tmp_path / "g.svg"
    assert main(["render", "sigmoid(x @ w)", "-o", str(path), "--shape", "x=2x3",
                 "--shape", "w=3x1", "--grad", "w"]) == 0
    printed = capsys.readouterr().out
    assert "reduce_sum" in printed and "(2, 1)" in printed
    assert "d/dw" in svg_texts(path)


@needs_optimize
def test_render_optimized(tmp_path):
    path = tmp_path / "opt.dot"
    assert main(["render", "x * 1 + 0 * y", "-o", str(path), "--optimize"]) == 0
    assert path.read_text().startswith("digraph")


@pytest.mark.parametrize("expression", [
    "__import__('os')",
    "__import__('os').system('true')",
    "().__class__",
    "x.real",
    "lambda: 1",
    "[i for i in x]",
    "x if y else z",
    "x[0]",
    "open('f')",
    "render(x, 'stolen.svg')",
    "exp(*x)",
    "x < y",
    "_secret + 1",
    "(x",
])
def test_unsafe_or_unsupported_expressions_are_rejected(expression, tmp_path, capsys):
    path = tmp_path / "out.svg"
    assert main(["render", expression, "-o", str(path)]) == 2
    assert "error" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv, message", [
    (["render", "x", "-o", "out.bmp"], "suffix"),
    (["render", "x", "-o", "out.svg", "--shape", "x=2xq"], "dimension"),
    (["render", "x", "-o", "out.svg", "--shape", "y=2"], "does not use"),
    (["render", "x + y", "-o", "out.svg", "--grad", "z"], "not a name"),
    (["render", "x @ y", "-o", "out.svg", "--shape", "x=2x3", "--shape", "y=4x5"], "matmul"),
    (["render", "1 + 2", "-o", "out.svg"], "constant"),
])
def test_bad_arguments_exit_with_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_usage_errors_and_help(capsys):
    assert main([]) == 2
    assert main(["render", "x"]) == 2  # -o is required
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out


def test_parse_shape():
    assert parse_shape("2x3") == (2, 3)
    assert parse_shape("?x3") == (None, 3)
    assert parse_shape("(2, 3)") == (2, 3)
    assert parse_shape("5") == (5,)
    assert parse_shape("") == ()


def test_python_dash_m_graphc_render(tmp_path):
    path = tmp_path / "h.svg"
    result = subprocess.run([sys.executable, "-m", "graphc", "render", "a * b + 1", "-o", str(path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout
    svg_texts(path)
    rejected = subprocess.run([sys.executable, "-m", "graphc", "render", "__import__('os')", "-o",
                               str(tmp_path / "x.svg")], capture_output=True, text=True, cwd=ROOT)
    assert rejected.returncode == 2
    assert "not allowed" in rejected.stderr


# -- every bad input: one line on stderr, exit status 2, nothing written, nothing evaluated -------

LONG_SUM = "+".join(["x"] * 5000)

BAD_INPUTS = [
    # dtypes, shapes, gradients, output files
    (["x + y", "--dtype", "object"], "dtype"),
    (["x + y", "--dtype", "float17"], "dtype"),
    (["x", "--shape", "x=2xq"], "dimension"),
    (["x", "--shape", "x=²"], "dimension"),
    (["x", "--shape", "x=-3"], "dimension"),
    (["x", "--shape", "=3"], "NAME=SHAPE"),
    (["x", "--shape", "x"], "NAME=SHAPE"),
    (["x", "--shape", "y=3"], "does not use"),
    (["x", "--shape", "x=2", "--shape", "x=3"], "twice"),
    (["x + y", "--grad", "z"], "not a name"),
    (["x + y", "--grad", ","], "not a name"),
    (["x", "-o", "out.bmp"], "suffix"),
    (["x", "-o", "out"], "suffix"),
    (["x", "-o", "missing/out.svg"], "does not exist"),
    # syntax errors
    (["x +"], "cannot parse"),
    (["(x"], "cannot parse"),
    (["x y"], "cannot parse"),
    ([""], "empty"),
    (["x\0y"], "parse"),
    (["(" * 300 + "x" + ")" * 300], "parse"),
    (["exp(" + LONG_SUM + ")"], "nested too deeply"),
    ([LONG_SUM + " < y"], "not allowed"),
    ([LONG_SUM + ", y"], "not allowed"),
    # constructs that are not allowed
    (["x.real"], "Attribute"),
    (["().__class__"], "Attribute"),
    (["x.__class__.__bases__"], "Attribute"),
    (["x[0]"], "Subscript"),
    (["lambda: 1"], "Lambda"),
    (["[i for i in x]"], "ListComp"),
    (["x if y else z"], "IfExp"),
    (["x < y"], "Compare"),
    (["x and y"], "BoolOp"),
    (["not x"], "not allowed"),
    (["~x"], "not allowed"),
    (["x // y"], "FloorDiv"),
    (["x % y"], "Mod"),
    (["x | y"], "BitOr"),
    (["x << 2"], "LShift"),
    (["(y := x)"], "NamedExpr"),
    (["f'{x}'"], "JoinedStr"),
    (["b'x' + x"], "literal"),
    (["1j * x"], "literal"),
    (["exp(*x)"], "*args"),
    (["exp(**x)"], "**kwargs"),
    (["_secret + 1"], "'_'"),
    # calls of anything but graphc's whitelisted functions
    (["foo(x)"], "'foo' is not allowed"),
    (["open('f')"], "'open' is not allowed"),
    (["eval('1') + x"], "'eval' is not allowed"),
    (["exec('import os')"], "'exec' is not allowed"),
    (["getattr(x, 'shape')"], "'getattr' is not allowed"),
    (["__import__('os').system('touch PWNED')"], "allowed"),
    (["render(x, 'stolen.svg')"], "'render' is not allowed"),
    (["exp(x)(y)"], "plain name"),
    # graphs graphc refuses to build
    (["exp(x, y)"], "cannot build"),
    (["reduce_sum(x, axis='a')"], "cannot build"),
    (["reshape(x, 1e400)"], "cannot build"),
    (["x @ y", "--shape", "x=2x3", "--shape", "y=4x5"], "matmul"),
    (["x ** 10**1000"], "cannot build"),
    (["9**9**9**9 * x"], "too large"),
    (["(x,) * 10**10"], "takes tensors and numbers"),
    (["'a' * 10**10 + x"], "takes tensors and numbers"),
    (["-(x, y)"], "takes tensors and numbers"),
    (["1/0 + x"], "ZeroDivisionError"),
    (["1 + 2"], "constant"),
    (["x", "--grad", "x", "--dtype", "int32"], "cannot build"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_every_bad_input_is_one_line_and_exit_status_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "-o" not in argv:
        argv = argv + ["-o", "out.svg"]
    assert main(["render"] + argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("graphc render: error: ") and message in err, err
    assert "Traceback" not in err and captured.out == ""
    assert os.listdir(tmp_path) == []


def test_argparse_errors_are_one_line_too(capsys, tmp_path):
    for argv in ([], ["render"], ["render", "x"], ["render", "x", "-o", "a.svg", "--bogus"], ["draw"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "usage" not in err, (argv, err)
    assert main(["render", "-x", "-o", str(tmp_path / "neg.dot")]) == 2
    assert "goes after --" in capsys.readouterr().err
    assert main(["render", "-o", str(tmp_path / "neg.dot"), "--", "-x * y"]) == 0


def test_bad_inputs_through_python_dash_m_graphc(tmp_path):
    cases = [["x+y", "--dtype", "object"], [LONG_SUM + " < y"], ["x.real"], ["foo(x)"], ["x +"],
             ["x", "--shape", "x=2xq"], ["x", "--grad", "z"], ["exp(" + LONG_SUM + ")"],
             ["__import__('os').system('touch PWNED')"]]
    children = [subprocess.Popen([sys.executable, "-m", "graphc", "render", *argv, "-o", str(tmp_path / "out.svg")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
                for argv in cases]
    for argv, child in zip(cases, children):
        out, err = child.communicate(timeout=120)
        assert child.returncode == 2, (argv[0][:40], err)
        assert err.startswith("graphc render: error: ") and err.count("\n") == 1, err
        assert out == ""
    assert os.listdir(tmp_path) == []


def test_a_5000_term_sum_renders_with_real_dot(tmp_path):
    path = tmp_path / "long.svg"
    result = subprocess.run([sys.executable, "-m", "graphc", "render", LONG_SUM, "-o", str(path), "--grad", "x"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and str(path) in result.stdout
    texts = svg_texts(path)
    assert "add" in texts and "x" in texts and "d/dx" in texts
    # balanced, and the equal pairs of x + x + ... shared: a few dozen nodes, not 10 000
    assert len(re.findall(r'<g id="node', path.read_text())) < 100


def test_a_long_sum_of_distinct_terms_is_a_balanced_tree(tmp_path):
    from graphc.cli import build_expression, free_names, parse_expression
    names = [f"x{i}" for i in range(5000)]
    tree = parse_expression(" + ".join(names))
    assert free_names(tree) == names
    env = {n: gc.placeholder((), name=n) for n in names}
    y = build_expression(tree, env)
    nodes, stack = set(), [y]
    while stack:   # iterative walk of the built graph
        t = stack.pop()
        if id(t) in nodes:
            continue
        nodes.add(id(t))
        stack += list(t.inputs)
    assert len(nodes) == 5000 + 4999
    level, frontier = 0, [y]
    while frontier:
        frontier = [i for t in frontier for i in t.inputs]
        level += 1
    assert level == 14   # ceil(log2(5000)) + 1, instead of 5000
    code = main(["render", " + ".join(names), "-o", str(tmp_path / "long.dot")])
    assert code == 0 and (tmp_path / "long.dot").read_text().count("class=placeholder") == 5000


@pytest.mark.parametrize("operators", ["+-", "*/", "+-*/", "@"])
def test_long_chains_keep_their_value(operators):
    from graphc.cli import build_expression, parse_expression
    rng = np.random.default_rng(len(operators))
    for n in (5, 40, 3000):   # left to right as Python groups them, balanced beyond 32 terms
        terms = [f"x{i}" for i in rng.integers(0, 6, size=n)]
        ops = [operators[k] for k in rng.integers(0, len(operators), size=n - 1)]
        text = terms[0] + "".join(f" {op} {t}" for op, t in zip(ops, terms[1:]))
        shape = (3, 3) if operators == "@" else ()
        values = {f"x{i}": (np.eye(3) * 1.01 + 0.01 * i if shape else 1.0 + 0.01 * i) for i in range(6)}
        tree = parse_expression(text)
        env = {name: gc.placeholder(shape, "float64", name=name) for name in values}
        f = gc.function(list(env.values()), [build_expression(tree, env)])
        # Python's grouping: products (* / @) left to right within each term of the sum (+ -)
        total, sign, product = 0.0, 1.0, values[terms[0]]
        for op, t in zip(ops, terms[1:]):
            if op in "+-":
                total, sign, product = total + sign * product, (1.0 if op == "+" else -1.0), values[t]
            else:
                product = {"*": np.multiply, "/": np.divide, "@": np.matmul}[op](product, values[t])
        expected = total + sign * product
        np.testing.assert_allclose(f(*values.values())[0], expected, rtol=1e-9)


def test_the_cli_never_evaluates_user_text(tmp_path, monkeypatch, capsys):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("the command line evaluated user text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.chdir(tmp_path)
    assert main(["render", "tanh(x @ w) + reduce_sum(x, axis=1, keepdims=True)", "-o", "ok.dot",
                 "--shape", "x=2x3", "--shape", "w=3x1", "--grad", "w"]) == 0
    for text in ["__import__('os').system('touch PWNED')", "open('PWNED', 'w')", "exec('open(\"PWNED\", \"w\")')",
                 "().__class__.__base__.__subclasses__()", "x.__init__.__globals__"]:
        assert main(["render", text, "-o", "bad.svg"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["ok.dot"]


def test_a_crashing_dot_is_one_line_and_exit_status_1(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\necho 'Segmentation fault' >&2\necho 'core dumped' >&2\nexit 139\n")
    (fake / "dot").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "graphc", "render", "x + y", "-o", str(tmp_path / "a.svg")],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "dot failed" in result.stderr and "Segmentation" in result.stderr
    assert not (tmp_path / "a.svg").exists()


@needs_pipeline
@pytest.mark.parametrize("backend", [b for b in ("numpy", "c") if b in gc.backends()])
def test_demo_compiles_with_the_backend_asked_for(tmp_path, capsys, backend):
    assert main(["demo", "--out", str(tmp_path / backend), "--backend", backend]) == 0
    assert "h     = 21" in capsys.readouterr().out


def test_demo_with_an_unknown_backend_fails_on_one_line(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--backend", "fortran"]) == 1   # BackendUnavailable
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fortran" in err
