"""graphc.render: DOT text, and real diagrams drawn by Graphviz's `dot`."""
import inspect
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.errors import BackendUnavailable
from graphc.ir.graph import Graph
from graphc.render import render, repr_svg, to_dot
from graphc.ir.tensor import tagging

needs_function = pytest.mark.skipif(not hasattr(gc, "function"), reason="gc.function not written yet")
needs_grad = pytest.mark.skipif(not hasattr(gc, "grad"), reason="gc.grad not written yet")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- helpers: read the DOT text back ---------------------------------------------------------

NODE_LINE = re.compile(r"^\s*(\w+) \[(.*)\]$")
EDGE_LINE = re.compile(r"^\s*(\w+) -> (\w+) \[(.*)\]$")
ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ \]]+)')


def parse_attrs(text: str) -> dict:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in ATTR.findall(text)}


def dot_nodes(dot: str) -> dict:
    """node id -> its attributes."""
    nodes = {}
    for line in dot.splitlines():
        m = NODE_LINE.match(line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            nodes[m.group(1)] = parse_attrs(m.group(2))
    return nodes


def dot_edges(dot: str) -> list:
    """(tail, head, attributes) for every edge."""
    return [(m.group(1), m.group(2), parse_attrs(m.group(3)))
            for m in map(EDGE_LINE.match, dot.splitlines()) if m]


def node_of(dot: str, t) -> dict:
    return dot_nodes(dot)[f"n{t.id}"]


@pytest.fixture
def classic():
    """h = (a + b) * (c + d): the classic computation-graph diagram."""
    a, b, c, d = (gc.placeholder(name=n) for n in "abcd")
    return (a, b, c, d), (a + b) * (c + d)


# -- DOT text -----------------------------------------------------------------------------------

def test_classic_diagram_nodes_are_inputs_and_ops_edges_are_tensors(classic):
    (a, b, c, d), h = classic
    dot = to_dot(h)
    nodes = dot_nodes(dot)
    graph = Graph([h])
    assert {f"n{t.id}" for t in graph.nodes} <= set(nodes)
    for p, name in zip((a, b, c, d), "abcd"):
        assert node_of(dot, p)["label"] == name
        assert node_of(dot, p)["class"] == "placeholder"
        assert node_of(dot, p)["shape"] == "ellipse"
    assert node_of(dot, h)["label"] == "mul"
    assert node_of(dot, h)["peripheries"] == "2"
    assert "output" in node_of(dot, h)["class"]
    assert sorted(nodes[f"n{t.id}"]["label"] for t in graph.nodes if t.op == "add") == ["add", "add"]
    edges = dot_edges(dot)
    # 6 tensors feed ops, and h leaves the graph as the output edge
    assert len(edges) == 7
    assert all(e[2]["label"].startswith("()") for e in edges)
    out_edges = [e for e in edges if e[0] == f"n{h.id}" and not e[1].startswith("n")]
    assert len(out_edges) == 1 and out_edges[0][2]["label"] == "() float32"
    assert nodes[out_edges[0][1]]["label"] == "output"


def test_node_ids_are_stable_and_unique(classic):
    _, h = classic
    first, second = to_dot(h), to_dot(h)
    assert first == second
    ids = [m.group(1) for m in map(NODE_LINE.match, first.splitlines()) if m]
    ids = [i for i in ids if i not in ("graph", "node", "edge")]
    assert len(ids) == len(set(ids))


def test_edges_are_labelled_with_shapes():
    x = gc.placeholder((2, 3), name="x")
    w = gc.variable(np.ones((3, 4), np.float32), name="w")
    batch = gc.placeholder((None, 3), name="batch")
    dot = to_dot([x @ w, batch @ w])
    labels = {e[2]["label"] for e in dot_edges(dot)}
    assert "(2, 3)" in labels
    assert "(3, 4)" in labels
    assert "(?, 3)" in labels
    assert "(2, 4) float32" in labels and "(?, 4) float32" in labels  # the two output edges


def test_dtype_shown_on_an_edge_only_where_it_differs_from_the_consumer():
    x = gc.placeholder((2,), name="x")
    y = gc.cast(x + 1.0, "float64")
    dot = to_dot(y)
    by_head = {head: attrs["label"] for _, head, attrs in dot_edges(dot)}
    assert by_head[f"n{y.id}"] == "(2,) float32"          # float32 feeds a float64 cast
    assert by_head[f"n{y.inputs[0].id}"] in ("(2,)", "()")  # float32 into float32 add: no dtype


def test_node_kinds_are_distinguishable():
    x = gc.placeholder((3,), name="x")
    w = gc.variable(np.ones(3, np.float32), name="w")
    k = gc.constant(2.0)
    z = gc.zeros((3,))
    y = x * w + k + z
    with tagging("grad"):
        g = y * 3.0
    dot = to_dot(g)
    styles = {name: node_of(dot, t) for name, t in
              [("placeholder", x), ("variable", w), ("constant", k), ("fill", z), ("op", y), ("grad", g)]}
    for name, attrs in styles.items():
        assert name in attrs["class"].split(), (name, attrs)
    looks = {name: (a["shape"], a["style"], a["fillcolor"]) for name, a in styles.items()}
    assert len(set(looks.values())) == len(looks), looks
    assert styles["variable"]["label"] == r"w\n(3,)"
    assert styles["constant"]["label"] == "2"
    assert styles["fill"]["label"].startswith("fill 0")
    assert styles["grad"]["fillcolor"] == "gold"


def test_constants_show_small_values_and_summarize_large_ones():
    small = gc.constant([1.0, 2.5])
    large = gc.constant(np.zeros((10, 2), np.float32))
    dot = to_dot([small + 1.0, large * 2.0])
    assert node_of(dot, small)["label"] == "[1, 2.5]"
    assert node_of(dot, large)["label"] == "const (10, 2) float32"


def test_short_attributes_appear_on_op_nodes():
    x = gc.placeholder((2, 3), name="x")
    s = gc.reduce_sum(x, axis=1)
    label = node_of(to_dot(s), s)["label"]
    assert label.startswith("reduce_sum")
    assert "axis=" in label and "keepdims" not in label  # False defaults are left out


def test_variable_updates_are_dashed_edges_back_to_the_variable():
    w = gc.variable(np.ones(2, np.float32), name="w")
    x = gc.placeholder((2,), name="x")
    new_w = w - 0.1 * x
    dot = to_dot(Graph([x * w], updates=[(w, new_w)]))
    updates = [e for e in dot_edges(dot) if e[2].get("style") == "dashed"]
    assert [(tail, head) for tail, head, _ in updates] == [(f"n{new_w.id}", f"n{w.id}")]
    assert updates[0][2]["label"] == "update"


def test_labels_are_escaped_for_dot(tmp_path):
    weird = 'we"ird\\<b>{x|y}'
    x = gc.placeholder(name=weird)
    path = render(x + 1.0, tmp_path / "weird.svg", title='title "q" \\n <i>')
    root = ET.parse(path).getroot()
    texts = [el.text for el in root.iter() if el.text]
    assert weird in texts
    assert 'title "q" \\n <i>' in texts


def test_kernels_of_a_function_are_drawn_as_clusters():
    x = gc.placeholder((4,), name="x")
    u = gc.exp(x) * 2.0
    y = gc.tanh(u) + 1.0

    class Compiled:  # the shape of gc.Function that to_dot reads
        name = "f"
        graph = Graph([y])
        kernels = [[u, u.inputs[0]], [y, y.inputs[0]]]

    dot = to_dot(Compiled())
    assert "subgraph cluster_kernel_0" in dot and "subgraph cluster_kernel_1" in dot
    assert 'label="kernel 0"' in dot and 'label="kernel 1"' in dot
    assert re.search(r"label=f\b", dot)  # the function's name is the default title
    cluster0 = dot.split("subgraph cluster_kernel_0")[1].split("}")[0]
    assert f"n{u.id} " in cluster0 and f"n{y.id} " not in cluster0


def test_objects_with_to_graph_are_drawn():
    x = gc.placeholder((2,), name="x")

    class Model:
        name = "tiny"

        def to_graph(self):
            return Graph([gc.relu(x)])

    dot = to_dot(Model())
    assert "relu" in dot and "tiny" in dot


def test_accepts_tensor_list_and_graph_and_rejects_others(classic):
    (a, *_), h = classic
    assert to_dot(h) == to_dot([h]) == to_dot(Graph([h])) == to_dot((h,))
    with pytest.raises(TypeError, match="cannot draw"):
        to_dot(42)
    with pytest.raises(TypeError, match="only Tensors"):
        to_dot([h, 3])


def test_ten_thousand_node_chain_is_drawn_without_recursion():
    x = gc.placeholder((2, 3), name="x")
    y = x
    for i in range(10_000):
        y = gc.tanh(y) if i % 2 else y + x
    limit = sys.getrecursionlimit()
    depth = len(inspect.stack(0))
    sys.setrecursionlimit(depth + 100)  # nothing may recurse over the graph
    try:
        dot = to_dot(y)
    finally:
        sys.setrecursionlimit(limit)
    assert len(dot_edges(dot)) == 10_000 + 5_000 + 1
    assert len(dot_nodes(dot)) == 10_000 + 1 + 1


def test_graphs_slow_to_lay_out_get_fast_layout_settings(tmp_path):
    """An input read by every layer of a deep chain: with labelled edges `dot` takes ~50 s,
    so such graphs put shapes in xlabels and cap the layout's iterations."""
    x = gc.placeholder((4,), name="x")
    z = x
    for _ in range(60):
        z = gc.tanh(z) * x
    dot = to_dot(z)
    assert "nslimit" in dot and "xlabel=\"(4,)\"" in dot
    assert "ordering" not in dot
    small = to_dot(gc.tanh(x) * x)
    assert "nslimit" not in small and "xlabel" not in small and 'label="(4,)"' in small
    root = ET.parse(render(z, tmp_path / "deep.svg")).getroot()
    assert root.tag.endswith("svg")


# -- real files, drawn by `dot` ---------------------------------------------------------------

def test_render_svg_is_real_svg(classic, tmp_path):
    _, h = classic
    path = render(h, tmp_path / "h.svg")
    assert path == str(tmp_path / "h.svg") and isinstance(path, str)
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = " ".join(el.text for el in root.iter() if el.text)
    for word in ("add", "mul", "a", "b", "c", "d", "output"):
        assert word in text.split()
    # node kinds survive into the SVG as classes
    classes = {el.get("class") for el in root.iter()}
    assert "node placeholder" in classes and "node op output" in classes


def test_render_png_is_real_png(classic, tmp_path):
    _, h = classic
    path = render(h, str(tmp_path / "h.png"))
    data = Path(path).read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 2000


def test_render_pdf(classic, tmp_path):
    _, h = classic
    data = Path(render(h, tmp_path / "h.pdf")).read_bytes()
    assert data.startswith(b"%PDF")


def test_format_argument_overrides_the_suffix(classic, tmp_path):
    _, h = classic
    data = Path(render(h, tmp_path / "diagram.img", format="png")).read_bytes()
    assert data.startswith(PNG_MAGIC)


def test_dot_suffix_writes_the_dot_text(classic, tmp_path):
    _, h = classic
    path = render(h, tmp_path / "h.dot")
    assert Path(path).read_text() == to_dot(h)
    # and `dot` accepts it
    svg = subprocess.run(["dot", "-Tsvg", path], capture_output=True, check=True).stdout
    assert b"<svg" in svg


def test_unknown_suffix_raises_and_writes_nothing(classic, tmp_path):
    _, h = classic
    with pytest.raises(ValueError, match=r"\.xyz"):
        render(h, tmp_path / "h.xyz")
    with pytest.raises(ValueError):
        render(h, tmp_path / "h.svg", format="bmpx")
    assert os.listdir(tmp_path) == []


def test_writes_are_atomic(classic, tmp_path):
    _, h = classic
    for name in ("h.svg", "h.png", "h.dot", "h.svg"):  # h.svg twice: replaced in place
        render(h, tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == ["h.dot", "h.png", "h.svg"]
    # a failed render leaves the old file as it was, and no temporary file behind
    before = Path(tmp_path / "h.svg").read_bytes()
    with pytest.raises(TypeError):
        render(object(), tmp_path / "h.svg")
    assert Path(tmp_path / "h.svg").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["h.dot", "h.png", "h.svg"]
    with pytest.raises(FileNotFoundError):
        render(h, tmp_path / "missing-dir" / "h.svg")
    assert sorted(os.listdir(tmp_path)) == ["h.dot", "h.png", "h.svg"]


def test_repr_svg_for_jupyter(classic):
    _, h = classic
    svg = repr_svg(h)
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    assert ET.fromstring(svg.encode()).tag.endswith("svg")
    assert h._repr_svg_() == svg


def test_missing_dot_program_is_reported(classic, tmp_path, monkeypatch):
    _, h = classic
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH on which there is no `dot`
    with pytest.raises(BackendUnavailable, match="apt-get install -y graphviz"):
        render(h, tmp_path / "h.svg")
    assert not (tmp_path / "h.svg").exists()
    assert repr_svg(h) is None
    render(h, tmp_path / "h.dot")  # DOT text needs no `dot`
    assert (tmp_path / "h.dot").exists()


def test_a_failing_dot_program_is_one_line_naming_its_status(classic, tmp_path, monkeypatch):
    _, h = classic
    (tmp_path / "dot").write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    (tmp_path / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(BackendUnavailable) as caught:
        render(h, tmp_path / "h.svg")
    assert str(caught.value) == "render: Graphviz's dot failed (exit status 139): Segmentation fault"
    assert not (tmp_path / "h.svg").exists()


def test_missing_graphviz_package_is_reported(classic, tmp_path, monkeypatch):
    _, h = classic
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now fails
    with pytest.raises(BackendUnavailable, match="graphviz"):
        render(h, tmp_path / "h.svg")
    with pytest.raises(BackendUnavailable):
        to_dot(h)
    assert repr_svg(h) is None


def test_importing_graphc_does_not_import_graphviz():
    code = "import sys, graphc, graphc.render, graphc.cli; assert 'graphviz' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))


# -- the real pipeline ---------------------------------------------------------------------------

@needs_grad
def test_gradient_nodes_are_gold(classic):
    (a, _, c, _), h = classic
    grads = gc.grad(h, [a, c])
    dot = to_dot([h] + list(grads))
    nodes = dot_nodes(dot)
    grad_nodes = [n for n in nodes.values() if "grad" in n.get("class", "").split()]
    assert grad_nodes and all(n["fillcolor"] == "gold" for n in grad_nodes)
    assert node_of(dot, h)["fillcolor"] == "white"  # the forward pass is not gradient


@needs_function
@needs_grad
def test_compiled_function_renders(classic, tmp_path):
    (a, b, c, d), h = classic
    f = gc.function([a, b, c, d], [h] + list(gc.grad(h, [a, c])))
    dot = to_dot(f)
    assert "->" in dot
    root = ET.parse(render(f, tmp_path / "f.svg")).getroot()
    assert root.tag.endswith("svg")
    assert Path(render(f, tmp_path / "f.png")).read_bytes().startswith(PNG_MAGIC)
    kernels = getattr(f, "kernels", None) or []
    if kernels:
        assert "cluster_kernel_0" in dot
