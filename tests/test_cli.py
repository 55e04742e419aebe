"""The `graphc` command line: `graphc demo` and `graphc render`, with real Graphviz output."""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

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
