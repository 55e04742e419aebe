"""User names (functions, placeholders, variables, constants) never become code.

They may be anything — Python keywords, builtins, the names of graphc's own helpers, text with
newlines and quotes — and appear in generated source only inside quoted comments.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backends.cupy import host_codegen
from graphc import codetext, passes
from graphc.plan import memory
from graphc.plan.feeds import convert as _convert
from graphc.plan.program import Program
from graphc.ir.opdef import helper_names
from graphc.plan.schedule import schedule

HOSTILE = ["one_hot", "type", "np", "gemm_matmul", "relu_max0", "sum_reduce", "gather_grad",
           "run_shares", "_convert", "in0", "t1", "v0", "c0", "fn_f", "lambda", "None",
           "train step", "x\n    __import__('os').system('touch PWNED')\n    #", "a'b\"c", "é", ""]


def _graph(name_of):
    ids = gc.placeholder((4,), "int64", name=name_of("ids"))
    x = gc.placeholder((4, 3), "float64", name=name_of("x"))
    w = gc.variable(np.linspace(-1, 1, 12).reshape(4, 3), name=name_of("w"))
    c = gc.constant(np.array([1.0, 2.0, 3.0]), name=name_of("c"))
    y = gc.one_hot(ids, 3, dtype="float64") * gc.relu(x @ gc.transpose(w) @ w + c)
    return [ids, x], gc.reduce_sum(y, axis=0)


def _expected(ids, xv):
    w = np.linspace(-1, 1, 12).reshape(4, 3)
    return (np.eye(3)[ids] * np.maximum(xv @ w.T @ w + [1.0, 2.0, 3.0], 0)).sum(axis=0)


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("optimize", [True, False])
def test_any_user_name_compiles_and_runs_on_the_numpy_backend(name, optimize, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inputs, out = _graph(lambda role: name or role)
    names = [p.name for p in inputs]
    if len(set(names)) < len(names):   # two inputs may not share a name: vary them
        inputs, out = _graph(lambda role: f"{name}{role}")
    f = gc.function(inputs, out, optimize=optimize, name=name or "f")
    ids, xv = np.array([0, 2, 1, 2]), np.arange(12.0).reshape(4, 3) / 7
    for _ in range(3):   # first call binds, later calls go through the generated checks
        np.testing.assert_allclose(f(ids, xv), _expected(ids, xv), rtol=1e-12)
    assert not (tmp_path / "PWNED").exists()
    compile(f.source, "<source>", "exec")


@pytest.mark.parametrize("name", HOSTILE)
def test_user_names_stay_in_comments(name):
    inputs, out = _graph(lambda role: f"{name}{role}")
    f = gc.function(inputs, out, name=f"{name}fn")
    code_lines = [line.split("#", 1)[0] for line in f.source.splitlines()]
    identifiers = {tok for line in code_lines for tok in _identifiers(line)}
    for user in [f"{name}ids", f"{name}x", f"{name}w", f"{name}c"]:
        if user.isidentifier():
            assert user not in identifiers


def _identifiers(line):
    import re
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line)


@pytest.mark.parametrize("name", ["np", "relu_max0", "x\n    raise SystemExit\n    #", "train step"])
def test_cupy_host_code_takes_no_identifier_from_user_names(name):
    x = gc.placeholder((4, 3), "float32", name=name)
    w = gc.variable(np.ones((3, 2), np.float32), name=name + "w")
    fn = gc.function([x], gc.relu(x @ w), updates=[(w, w * 0.5)], name=name)
    graph, ins = fn._graph_for(tuple(p.shape for p in fn.inputs))
    graph, _ = passes.run(graph)
    steps = schedule(graph)
    program = Program(fn.name, ins, graph, steps, memory.plan(steps, graph), True, _convert)
    module = host_codegen.generate(program)
    compile(module.source, "<host>", "exec")   # valid Python whatever the names
    assert module.fn_name.isidentifier() and module.fn_name not in helper_names()
    assert f"def {module.fn_name}(in_" in module.source


def test_dask_backend_runs_functions_with_any_name():
    x = gc.placeholder((None, 3), "float64", name="type")
    f = gc.function([x], gc.exp(x) * 2, backend="dask", name="train step")
    xv = np.arange(24.0).reshape(8, 3) / 10
    np.testing.assert_allclose(f(xv), np.exp(xv) * 2)


def test_generated_names_never_meet_a_helper():
    # generated names are a short prefix and a number, or "fn_" and the function's name
    import re
    for helper in helper_names():
        assert not re.fullmatch(r"(in|t|c|v|var|rng|kernel)\d+", helper), helper
        assert not helper.startswith("fn_"), helper


@pytest.mark.parametrize("value", [
    object(), np.zeros(3), type("Evil", (), {"__repr__": lambda self: "__import__('os')"})(),
    {"a": 1}, b"bytes", 1j, type("S", (str,), {})("x"),
])
def test_only_plain_data_becomes_a_literal(value):
    with pytest.raises(gc.GraphError, match="cannot be written into generated code"):
        codetext.literal(value)


@pytest.mark.parametrize("value", [
    None, True, 3, -2, 0.5, float("inf"), float("-inf"), float("nan"), "float32", np.dtype("int8"),
    np.float32(0.25), np.int64(7), np.bool_(True), slice(1, None, 2), Ellipsis,
    (1, (2, 3), [None, slice(None)]), (), (5,),
])
def test_literals_evaluate_back_to_the_value(value):
    text = codetext.literal(value)
    back = eval(text, {"np": np, "__builtins__": {"float": float, "slice": slice}})  # noqa: S307
    if isinstance(value, float) and np.isnan(value):
        assert np.isnan(back)
    elif isinstance(value, np.dtype):
        assert np.dtype(back) == value
    else:
        assert back == value and type(back) is type(value)
