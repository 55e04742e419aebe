"""Graphviz diagrams of graphc graphs: ``to_dot``, ``render`` and Jupyter's ``repr_svg``.

The classic computation-graph diagram of h = (a + b) * (c + d): nodes are inputs and operations,
EDGES are tensors labelled with their shape, and node kinds are told apart by shape and colour
(``to_dot`` lists them). The ``graphviz`` Python package is imported lazily: graphc works (and
tests import this module) on machines where Graphviz is not installed.
"""
from __future__ import annotations

import os
import re

import numpy as np

from graphc.atomic_write import write_atomically
from graphc.errors import BackendUnavailable
from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor, format_shape

INSTALL_HINT = ("install Graphviz: apt-get install -y graphviz (the `dot` program) "
                "and pip install graphviz (the Python package)")

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

GRAPH_ATTRS = {"rankdir": "LR", "ordering": "in", "fontname": "Helvetica", "nodesep": "0.3", "ranksep": "0.4"}
NODE_ATTRS = {"fontname": "Helvetica", "fontsize": "11"}
EDGE_ATTRS = {"fontname": "Helvetica", "fontsize": "9", "color": "gray30"}

# One style per kind of node; "grad" overrides only the colours of the node's own kind.
STYLES = {
    "placeholder": {"shape": "ellipse", "style": "filled", "fillcolor": "lightblue"},
    "variable": {"shape": "box3d", "style": "filled", "fillcolor": "palegreen"},
    "constant": {"shape": "box", "style": "filled", "fillcolor": "gray90", "color": "gray60",
                 "fontsize": "9", "height": "0.3", "width": "0.3", "margin": "0.05,0.02"},
    "fill": {"shape": "box", "style": "rounded,filled", "fillcolor": "gray96", "color": "gray60",
             "fontsize": "9", "height": "0.3", "margin": "0.05,0.02"},
    "random": {"shape": "box", "style": "filled", "fillcolor": "plum"},
    "op": {"shape": "box", "style": "filled", "fillcolor": "white"},
}
GRAD_COLORS = {"fillcolor": "gold", "color": "darkorange"}
OUTPUT_ATTRS = {"peripheries": "2"}
OUTPUT_LABEL_STYLE = {"shape": "plaintext", "fontsize": "10"}
UPDATE_EDGE_STYLE = {"style": "dashed", "color": "forestgreen", "fontcolor": "forestgreen",
                     "constraint": "false"}
KERNEL_STYLE = {"style": "rounded,dashed", "color": "steelblue", "fontcolor": "steelblue",
                "fontsize": "10"}

# Graphviz's `dot` slows down sharply with long labelled edges (a labelled edge spanning k
# ranks becomes ~2k virtual nodes): a 120-node graph whose input feeds every layer takes ~50 s
# with the defaults. Past this estimated span, edges carry their shape as an xlabel (placed
# after layout) and the layout's iteration limits are capped: ~0.7 s for that graph.
LAYOUT_SPAN_BUDGET = 1500
FAST_LAYOUT_ATTRS = {"nslimit": "2", "nslimit1": "2", "mclimit": "0.2"}

MAX_ATTR_TEXT = 24      # an attribute is shown on its node only when "k=v" is this short
MAX_ATTRS_SHOWN = 3
MAX_CONST_SHOWN = 4     # constants with at most this many elements show their value


# -- what can be drawn ---------------------------------------------------------------------

def as_graph(obj) -> tuple[Graph, list, str | None]:
    """(graph, kernel groups, default title) for anything ``to_dot`` accepts."""
    if isinstance(obj, Tensor):
        return Graph([obj]), [], None
    if isinstance(obj, Graph):
        return obj, [], None
    if isinstance(obj, (list, tuple)):
        tensors = list(obj)
        bad = [t for t in tensors if not isinstance(t, Tensor)]
        if bad:
            raise TypeError(f"to_dot: a list to draw must hold only Tensors, got {type(bad[0]).__name__}")
        return Graph(tensors), [], None
    graph = getattr(obj, "graph", None)
    if isinstance(graph, Graph):  # a compiled Function: its optimized graph and fused kernels
        # ... or the groups its backend draws instead (the Dask backend: what runs per chunk)
        groups = getattr(getattr(obj, "backend", None), "render_groups", None)
        kernels = groups(obj) if groups is not None else getattr(obj, "kernels", None)
        return graph, list(kernels or []), getattr(obj, "name", None)
    if callable(getattr(obj, "to_graph", None)):  # a model
        return obj.to_graph(), [], getattr(obj, "name", None)
    raise TypeError(
        f"to_dot: cannot draw a {type(obj).__name__}; pass a Tensor, a list of Tensors, a Graph, "
        "a compiled Function or a model")


def node_kind(t: Tensor) -> str:
    """The style family of a node: placeholder, variable, constant, fill, random or op."""
    if t.op in ("placeholder", "variable", "constant"):
        return t.op
    if t.op in ("fill", "fill_like"):
        return "fill"
    if t.op.startswith("random"):
        return "random"
    return "op"


# -- labels --------------------------------------------------------------------------------

def dot_text(*lines: str):
    """Lines as one DOT label: backslashes kept literal, lines joined by DOT's ``\\n``,
    never read as an HTML-like label (graphviz.nohtml). Quotes are escaped on output."""
    import graphviz
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


def format_scalar(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.6g}"
    return str(x)


def format_value(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return format_scalar(arr.item())
    return np.array2string(arr, separator=", ", max_line_width=10**6,
                           formatter={"float_kind": lambda x: f"{x:.4g}"})


def format_attr(value) -> str | None:
    """A short text for an attribute value, or None when it has no short form."""
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, (bool, int, float, str, np.generic)) or value is None:
        return format_scalar(value)
    if isinstance(value, tuple) and all(isinstance(v, (int, np.integer)) or v is None for v in value):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, np.ndarray) and value.size <= MAX_CONST_SHOWN:
        return format_value(value)
    return None


_AUTO_NAME = re.compile(r"(\w+)_\d+")


def has_own_name(t: Tensor) -> bool:
    """False for automatic names "<op>_<n>" (also another op's, as passes keep names), True for
    names a user gave."""
    m = _AUTO_NAME.fullmatch(t.name)
    if m is None:
        return True
    from graphc.ir.opdef import OPS
    return not (m.group(1) == t.op or m.group(1) in OPS)


def short_attrs(t: Tensor) -> list[str]:
    shown = []
    for key, value in t.attrs.items():
        if value is None or value is False:  # the usual defaults: keepdims=False, axis=None
            continue
        text = format_attr(value)
        if text is None:
            continue
        item = f"{key}={text}"
        if len(item) <= MAX_ATTR_TEXT:
            shown.append(item)
        if len(shown) == MAX_ATTRS_SHOWN:
            break
    return shown


def dtype_suffix(t: Tensor) -> str:
    return "" if t.dtype == np.float32 else f" {t.dtype.name}"


def node_label(t: Tensor, kind: str) -> list[str]:
    if kind == "placeholder":
        return [t.name + dtype_suffix(t)]
    if kind == "variable":
        return [t.name, format_shape(t.shape) + dtype_suffix(t)]
    if kind == "constant":
        value = t.attrs.get("value")
        if value is not None and np.size(value) <= MAX_CONST_SHOWN:
            return [format_value(value)]
        return [f"const {format_shape(t.shape)} {t.dtype.name}"]
    if kind == "fill":
        return [f"{t.op} {format_scalar(t.attrs.get('value'))}"]
    lines = [t.op]
    attrs = short_attrs(t)
    if attrs:
        lines.append(", ".join(attrs))
    if has_own_name(t):
        lines.append(f"({t.name})")
    return lines


def edge_label(t: Tensor, consumer_dtype=None) -> str:
    """The tensor's shape, and its dtype where it differs from ``consumer_dtype``
    (always, when there is no consumer)."""
    label = format_shape(t.shape)
    if consumer_dtype is None or t.dtype != consumer_dtype:
        label += f" {t.dtype.name}"
    return label


def node_attrs(t: Tensor, output: bool):
    kind = node_kind(t)
    attrs = dict(STYLES[kind])
    css = [kind]
    if t.tag == "grad":
        attrs.update(GRAD_COLORS)
        css.append("grad")
    if output:
        attrs.update(OUTPUT_ATTRS)
        css.append("output")
    attrs["class"] = " ".join(css)
    attrs["tooltip"] = dot_text(str(t))
    return dot_text(*node_label(t, kind)), attrs


# -- DOT -----------------------------------------------------------------------------------

def node_id(t: Tensor) -> str:
    return f"n{t.id}"


def output_names(graph: Graph, labels=None) -> list[str]:
    """The label of each output: ``labels[k]`` when given, else the output's own name, else
    "output k" ("output" when there is only one)."""
    names = []
    for k, t in enumerate(graph.outputs):
        if labels is not None and k < len(labels) and labels[k] is not None:
            names.append(str(labels[k]))
        elif has_own_name(t) and t.op not in ("placeholder", "variable"):
            names.append(t.name)
        else:
            names.append("output" if len(graph.outputs) == 1 else f"output {k}")
    return names


def kernel_groups(graph: Graph, kernels) -> dict[int, int]:
    """Map id(node) -> the index of the kernel that holds it (first kernel wins)."""
    in_graph = {id(n) for n in graph.nodes}
    owner: dict[int, int] = {}
    for k, group in enumerate(kernels):
        members = getattr(group, "nodes", group)
        for t in members:
            if isinstance(t, Tensor) and id(t) in in_graph:
                owner.setdefault(id(t), k)
    return owner


def layout_span(graph: Graph) -> int:
    """Estimate of the ranks all edges span in dot's layout (its virtual nodes), linear time.

    Ops are ranked by longest path from their non-source inputs; a source (placeholder,
    variable, constant) sits just before its first reader, as dot would place it.
    """
    rank: dict[int, int] = {}
    sources = []
    for n in graph.nodes:
        if n.inputs:
            rank[id(n)] = max((rank[id(i)] + 1 for i in n.inputs if i.inputs), default=0)
        else:
            sources.append(n)
    first_reader: dict[int, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            if not i.inputs:
                first_reader[id(i)] = min(first_reader.get(id(i), rank[id(n)]), rank[id(n)])
    for n in sources:
        rank[id(n)] = first_reader.get(id(n), 0) - 1
    return sum(rank[id(n)] - rank[id(i)] for n in graph.nodes for i in n.inputs)


def build_digraph(obj, *, title=None, legend=False, output_labels=None):
    """The ``graphviz.Digraph`` of ``obj`` (see ``to_dot``)."""
    graphviz = require_graphviz_package()
    graph, kernels, default_title = as_graph(obj)
    title = title if title is not None else default_title

    large = layout_span(graph) > LAYOUT_SPAN_BUDGET
    graph_attrs = dict(GRAPH_ATTRS)
    if large:
        graph_attrs.pop("ordering")
        graph_attrs.update(FAST_LAYOUT_ATTRS)
    shape_key = "xlabel" if large else "label"  # where an edge shows its tensor's shape

    dot = graphviz.Digraph(name="graphc", graph_attr=graph_attrs, node_attr=NODE_ATTRS,
                           edge_attr=EDGE_ATTRS)
    if title:
        dot.attr(label=dot_text(title), labelloc="t", fontsize="14")

    outputs = {id(t) for t in graph.outputs}
    owner = kernel_groups(graph, kernels)
    clusters = [graphviz.Digraph(name=f"cluster_kernel_{k}") for k in range(len(kernels))]
    for k, cluster in enumerate(clusters):   # a group may carry its own label and style
        style = {**KERNEL_STYLE, **getattr(kernels[k], "style", {})}
        cluster.attr(label=dot_text(getattr(kernels[k], "label", None) or f"kernel {k}"), **style)

    # Nodes, each in its kernel's cluster when it has one; then edges (tensors) into each node.
    for t in graph.nodes:
        label, attrs = node_attrs(t, id(t) in outputs)
        target = clusters[owner[id(t)]] if id(t) in owner else dot
        target.node(node_id(t), label, **attrs)
    for cluster in clusters:
        dot.subgraph(cluster)
    for t in graph.nodes:
        for i in t.inputs:
            dot.edge(node_id(i), node_id(t), **{shape_key: edge_label(i, t.dtype)})

    for k, (t, name) in enumerate(zip(graph.outputs, output_names(graph, output_labels))):
        sink = f"out{k}"
        dot.node(sink, dot_text(name), **OUTPUT_LABEL_STYLE, **{"class": "output-label"})
        dot.edge(node_id(t), sink, **{shape_key: edge_label(t)})
    for variable, new_value in graph.updates:
        dot.edge(node_id(new_value), node_id(variable), label="update", **UPDATE_EDGE_STYLE)

    if legend:
        add_legend(dot, graphviz)
    return dot


def add_legend(dot, graphviz) -> None:
    """A small cluster with one sample node per kind."""
    legend = graphviz.Digraph(name="cluster_legend")
    legend.attr(label="legend", style="dotted", fontsize="10")
    samples = [("placeholder", "placeholder", {}), ("variable", "variable", {}),
               ("constant", "constant", {}), ("op", "op", {}), ("op", "gradient", GRAD_COLORS),
               ("op", "output", OUTPUT_ATTRS)]
    for k, (kind, text, extra) in enumerate(samples):
        attrs = {**STYLES[kind], **extra, "class": "legend"}
        legend.node(f"legend{k}", text, **attrs)
    for k in range(len(samples) - 1):
        legend.edge(f"legend{k}", f"legend{k + 1}", style="invis")
    dot.subgraph(legend)


def to_dot(obj, *, title=None, legend=False, output_labels=None) -> str:
    """Graphviz DOT source for a Tensor, a list of Tensors, a Graph, a compiled Function (its
    optimized graph, fused kernels as clusters) or a model (anything with ``to_graph()``).

    ``title`` labels the whole diagram (a Function's name by default), ``legend`` adds a key to
    the node styles, ``output_labels`` names the outputs in order (e.g. ``["h", "dh/da"]``).

    Edges are labelled with their tensor's shape (and its dtype where it differs from the dtype
    of the node it feeds). Node kinds, also named by a ``class`` attribute in the DOT text
    (which lands in the SVG):

        placeholder   ellipse, light blue, the placeholder's name
        variable      3-d box, green, name and shape
        constant      small grey box, the value (or "const (shape) dtype" when larger than 4)
        fill          grey rounded box, "fill <value>"
        random        plum box, the op name
        op            white box, the op name and its short attributes (axis=1)
        grad          like its kind but gold: nodes built by gc.grad
        output        double border, plus an edge to a plain "output" label carrying its shape

    Variable updates ``(variable, new_value)`` are dashed edges from the new value back to the
    variable. A compiled Function's fused kernels are drawn as clusters labelled "kernel k".

    Linear in the size of the graph and never recursive: 10 000-node graphs are fine. Graphs
    whose layout would be slow get edge shapes as ``xlabel``s and capped layout iterations.
    """
    return build_digraph(obj, title=title, legend=legend, output_labels=output_labels).source


# -- files -----------------------------------------------------------------------------------

def require_graphviz_package():
    try:
        import graphviz
    except ImportError:
        raise BackendUnavailable(f"rendering needs the graphviz Python package; {INSTALL_HINT}") from None
    return graphviz


def format_of(path) -> str:
    suffix = os.path.splitext(str(path))[1].lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise ValueError(
            f"render: cannot tell the format of {str(path)!r} from its suffix {suffix!r}; "
            f"use one of {', '.join(sorted(FORMATS))} or pass format=") from None


def pipe(digraph, fmt: str) -> bytes:
    """The diagram in ``fmt``, drawn by the real ``dot`` program."""
    graphviz = require_graphviz_package()
    try:
        return digraph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise BackendUnavailable(f"rendering needs Graphviz's `dot` program on PATH; {INSTALL_HINT}") from None
    except graphviz.CalledProcessError as exc:   # dot ran and failed (a crash, out of memory)
        said = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise BackendUnavailable(f"render: Graphviz's dot failed (exit status {exc.returncode})"
                                 f"{': ' + said[0] if said else ''}") from None


def render(obj, path, format=None, *, title=None, legend=False, output_labels=None) -> str:
    """Write the diagram of ``obj`` to ``path`` and return the path (a str).

    The format comes from the suffix (.svg .png .pdf .dot) unless ``format`` is given; ``.dot``
    writes the DOT text, every other format is drawn by Graphviz's ``dot``. The file appears
    whole or not at all. Raises ``BackendUnavailable`` when Graphviz is missing and
    ``ValueError`` for a format it does not know. Keywords as for ``to_dot``.
    """
    path = os.fspath(path)
    fmt = format.lower().lstrip(".") if format is not None else format_of(path)
    if fmt == "gv":
        fmt = "dot"
    if fmt not in FORMATS.values():
        raise ValueError(f"render: unknown format {format!r}; use one of svg, png, pdf, dot")
    digraph = build_digraph(obj, title=title, legend=legend, output_labels=output_labels)
    data = digraph.source.encode("utf-8") if fmt == "dot" else pipe(digraph, fmt)
    write_atomically(path, lambda f: f.write(data))
    return path


REPR_SVG_MAX_NODES = 2000  # larger graphs show as text in Jupyter: laying them out takes minutes


def repr_svg(obj) -> str | None:
    """SVG text for Jupyter's ``_repr_svg_``; None (Jupyter then shows the text repr) without
    Graphviz, or for graphs too large to lay out quickly (``render`` still draws those)."""
    try:
        graph, _, _ = as_graph(obj)
        if len(graph.nodes) > REPR_SVG_MAX_NODES:
            return None
        return pipe(build_digraph(obj), "svg").decode("utf-8")
    except BackendUnavailable:
        return None


def _tensor_repr_svg(self):
    return repr_svg(self)


Tensor._repr_svg_ = _tensor_repr_svg   # the IR sits below Graphviz: rendering installs the display
