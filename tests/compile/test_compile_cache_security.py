"""A compile-cache file never becomes code, nor a wrong answer.

Whoever can write a (shared) cache directory must not run code in, or change the results of,
the jobs that read it: entries are signed with a per-user key kept outside the directory,
validated field by field, rebuilt through each op's own shape rule and probed against the
source graph. Every test points the key at tmp_path, never at the real home.
"""
import json
import os
import pickle
import random
import stat
import types
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.compile import cache as cc
from graphc.ir.opdef import OPS


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache directory under tmp_path, the key elsewhere under it; the cache setting and the
    counters are restored afterwards."""
    key_path = tmp_path / "config" / "graphc" / "cache.key"
    monkeypatch.setenv("GRAPHC_CACHE_KEY", str(key_path))
    directory = tmp_path / "cache"
    saved, before = dict(cc._state), dict(cc.stats)
    gc.set_cache_dir(directory)
    yield types.SimpleNamespace(dir=directory, key_path=key_path, canary=tmp_path / "PWNED")
    cc._state.update(saved)
    cc.stats.update(before)


def _code(canary) -> list:
    """Strings that run a command if generated source ever pastes them unquoted."""
    return [f"4\n    __import__('os').system('touch {canary}')\n    #",
            f"__import__('os').system('touch {canary}')",
            f"0); __import__('pathlib').Path('{canary}').touch(); (0",
            f"'] or __import__('pathlib').Path('{canary}').touch() or ['"]


def _open(path):
    """(name, key, entry, arrays) of a genuine entry file."""
    name, key = path.name[:-len(cc._SUFFIX)], cc._signing_key()
    entry, arrays = cc._read_payload(cc._unseal(name, path.read_bytes(), key))
    return name, key, entry, arrays


def _plant(path, name, entry, arrays, key=None):
    """Write ``entry`` at ``path``, signed with ``key`` (None: unsigned, a zero tag)."""
    payload = cc._write_payload(entry, arrays)
    data = cc._seal(name, payload, key) if key is not None else cc._MAGIC + bytes(cc._TAG_BYTES) + payload
    path.write_bytes(data)


def _compile_with_warnings(build, *feeds):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = build()(*feeds)
    return out, [str(w.message) for w in caught if issubclass(w.category, cc.CompileCacheWarning)]


def _exp_graph():
    x = gc.placeholder((4,), "float64", name="x")
    return lambda: gc.function([x], gc.exp(x) * 2.0)


@pytest.mark.parametrize("signed", [True, False], ids=["re-signed", "unsigned"])
def test_a_shape_holding_code_never_runs(cache, signed):
    build = _exp_graph()
    xv = np.array([0.0, 1.0, -2.0, 0.5])
    build()(xv)
    (path,) = cache.dir.glob("*" + cc._SUFFIX)
    name, key, entry, arrays = _open(path)
    for node in entry["nodes"]:
        if "shape" in node:
            node["shape"] = [_code(cache.canary)[0]]
    _plant(path, name, entry, arrays, key if signed else None)

    before = dict(cc.stats)
    out, messages = _compile_with_warnings(build, xv)
    assert not cache.canary.exists()
    np.testing.assert_allclose(out, np.exp(xv) * 2.0)
    assert len(messages) == 1 and "discarded entry" in messages[0] and str(path) in messages[0]
    assert ("expected an int" if signed else "signature") in messages[0]
    assert cc.stats["discarded"] - before["discarded"] == 1 and cc.stats["writes"] - before["writes"] == 1
    before = dict(cc.stats)
    build()(xv)  # rewritten: a genuine entry again
    assert cc.stats["hits"] - before["hits"] == 1


@pytest.mark.parametrize("signed", [True, False], ids=["re-signed", "unsigned"])
def test_an_op_changed_from_exp_to_log_is_refused(cache, signed):
    build = _exp_graph()
    xv = np.array([0.25, 1.0, 2.0, 0.5])
    build()(xv)
    (path,) = cache.dir.glob("*" + cc._SUFFIX)
    name, key, entry, arrays = _open(path)
    (node,) = [n for n in entry["nodes"] if n.get("op") == "exp"]
    node["op"] = "log"  # same shape rule: only the signature, or the probe, can tell
    _plant(path, name, entry, arrays, key if signed else None)
    out, messages = _compile_with_warnings(build, xv)
    np.testing.assert_allclose(out, np.exp(xv) * 2.0)
    assert len(messages) == 1
    assert ("another value than the source graph" if signed else "signature") in messages[0]


def test_an_entry_signed_with_another_key_or_unsigned_or_moved_is_refused(cache, tmp_path, monkeypatch):
    build = _exp_graph()
    xv = np.linspace(-1, 1, 4)
    build()(xv)
    (path,) = cache.dir.glob("*" + cc._SUFFIX)
    genuine = path.read_bytes()

    monkeypatch.setenv("GRAPHC_CACHE_KEY", str(tmp_path / "other" / "cache.key"))  # another user
    out, messages = _compile_with_warnings(build, xv)
    np.testing.assert_allclose(out, np.exp(xv) * 2.0)
    assert len(messages) == 1 and "signature" in messages[0]
    assert path.read_bytes() != genuine  # rewritten under the other key
    monkeypatch.setenv("GRAPHC_CACHE_KEY", str(cache.key_path))

    path.write_bytes(genuine)
    name, key, entry, arrays = _open(path)
    _plant(path, name, entry, arrays, key=None)  # well formed, unsigned
    assert len(_compile_with_warnings(build, xv)[1]) == 1

    # a genuine entry of another graph, filed under this graph's name
    y = gc.placeholder((4,), "float64", name="y")
    gc.function([y], gc.log(y) * 2.0)(np.ones(4))
    (other,) = [p for p in cache.dir.glob("*" + cc._SUFFIX) if p != path]
    path.write_bytes(other.read_bytes())
    out, messages = _compile_with_warnings(build, xv)
    np.testing.assert_allclose(out, np.exp(xv) * 2.0)
    assert len(messages) == 1 and "signature" in messages[0]


def test_a_pickled_array_is_never_unpickled(cache):
    """An object array in the archive (np.savez pickles it) is refused before anything is read."""
    table = np.arange(100.0).reshape(10, 10)
    x = gc.placeholder((10, 10), "float64", name="x")
    build = lambda: gc.function([x], x + (gc.constant(table) * 2.0 + 1.0))  # noqa: E731
    build()(np.zeros((10, 10)))
    (path,) = cache.dir.glob("*" + cc._SUFFIX)
    name, key, entry, arrays = _open(path)
    assert len(arrays) == 1  # the folded 100-element constant

    canary = cache.canary

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    bomb = np.empty(1, dtype=object)
    bomb[0] = Payload()
    assert b"system" in pickle.dumps(bomb)
    _plant(path, name, entry, [bomb], key)
    out, messages = _compile_with_warnings(build, np.zeros((10, 10)))
    assert not canary.exists()
    np.testing.assert_array_equal(out, table * 2 + 1)
    assert len(messages) == 1 and "discarded entry" in messages[0]


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_an_entry_that_is_not_a_regular_file_is_not_read(cache, kind):
    build = _exp_graph()
    build()(np.zeros(4))
    (path,) = cache.dir.glob("*" + cc._SUFFIX)
    target = cache.dir / "elsewhere"
    target.write_bytes(path.read_bytes())
    path.unlink()
    if kind == "symlink":
        path.symlink_to(target)
    else:
        os.mkfifo(path)  # opening it for reading would block forever
    out, messages = _compile_with_warnings(build, np.zeros(4))
    np.testing.assert_allclose(out, 2.0)
    assert len(messages) == 1 and str(path) in messages[0]
    assert stat.S_ISREG(os.lstat(path).st_mode)  # replaced by a genuine entry


def test_a_bad_entry_warns_once_however_often_it_is_met(cache):
    build = _exp_graph()
    build()(np.zeros(4))
    (path,) = cache.dir.glob("*" + cc._SUFFIX)
    bad = path.read_bytes()[:-10]
    counts = []
    for _ in range(3):
        path.write_bytes(bad)  # planted again after each rewrite
        counts.append(len(_compile_with_warnings(build, np.zeros(4))[1]))
    assert counts == [1, 0, 0]


# -- the key ----------------------------------------------------------------------------------------

def test_the_key_is_made_0600_under_xdg_config_home(cache, tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHC_CACHE_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    x = gc.placeholder((3,), "float64", name="x")
    gc.function([x], gc.sin(x))(np.zeros(3))
    key_path = tmp_path / "xdg" / "graphc" / "cache.key"
    info = os.stat(key_path)
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_size == 32
    assert stat.S_IMODE(os.stat(key_path.parent).st_mode) == 0o700
    assert not [p for p in key_path.parent.iterdir() if p != key_path]  # no temporary left
    assert cc._signing_key() == key_path.read_bytes()  # made once, then read


def _refuses_key(cache, adjust, expected):
    build = _exp_graph()
    build()(np.zeros(4))  # makes the key and a genuine entry
    adjust(cache.key_path)
    before = dict(cc.stats)
    out, messages = _compile_with_warnings(build, np.zeros(4))
    np.testing.assert_allclose(out, 2.0)
    assert cc.stats["hits"] == before["hits"] and cc.stats["writes"] == before["writes"]
    assert len(messages) == 1 and str(cache.key_path) in messages[0] and expected in messages[0]


def test_a_key_that_others_can_read_is_refused(cache):
    _refuses_key(cache, lambda p: os.chmod(p, 0o644), "chmod 600")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_key_owned_by_another_user_is_refused(cache):
    _refuses_key(cache, lambda p: os.chown(p, 54321, -1), "belongs to uid 54321")


def test_a_key_inside_the_cache_directory_is_refused(cache, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_KEY", str(cache.dir / "keys" / "cache.key"))
    out, messages = _compile_with_warnings(_exp_graph(), np.zeros(4))
    np.testing.assert_allclose(out, 2.0)
    assert len(messages) == 1 and "inside the cache directory" in messages[0]
    assert not cache.dir.exists()  # nothing written


def test_a_key_of_the_wrong_size_is_refused(cache):
    _refuses_key(cache, lambda p: p.write_bytes(b"short"), "holds 5 bytes")


# -- the schema covers every op ------------------------------------------------------------------

def test_every_attribute_an_op_template_reads_has_a_decoder():
    import string
    for name, od in OPS.items():
        fields = {f for text in (od.numpy, od.numpy_out or "") for _, f, _, _ in string.Formatter().parse(text) if f}
        wanted = fields - {a.lstrip("*") for a in od.args} - {"out", "rng"}
        assert wanted <= set(cc.ATTRIBUTES.get(name, {})), f"{name}: {sorted(wanted)}"


# -- fuzzing: thousands of mutated entries, none runs code or changes a result -------------------------

class Case:
    """A graph compiled through the cache, its inputs, and the NumPy reference of its results."""

    def __init__(self, build, feeds, reference):
        self.build, self.feeds, self.reference = build, feeds, reference

    def run(self):
        self.reset()
        fn = self.build()
        return fn, fn(*self.feeds)

    def reset(self):
        pass


def _cases():
    rng = np.random.default_rng(5)
    cases = []

    x = gc.placeholder((3, 4), "float64", name="x")
    y = gc.placeholder((3, 4), "float64", name="y")
    xv, yv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    cases.append(Case(lambda: gc.function([x, y], gc.tanh(x) * 2.0 + gc.exp(-y) * x),
                      [xv, yv], lambda: [np.tanh(xv) * 2.0 + np.exp(-yv) * xv]))

    a = gc.placeholder((4, 3), "float64", name="a")
    w = gc.variable(rng.normal(size=(3, 5)), name="w")
    bias = rng.normal(size=5)
    av = rng.normal(size=(4, 3))
    cases.append(Case(lambda: gc.function([a], gc.nn.relu(a @ w + gc.constant(bias)) * 0.5),
                      [av], lambda: [np.maximum(av @ w.value + bias, 0) * 0.5]))

    s = gc.placeholder((3, 5), "float64", name="s")
    sv = rng.normal(size=(3, 5))

    def softmax_and_mean():
        e = gc.exp(s - gc.reduce_max(s, axis=1, keepdims=True))
        return gc.function([s], [e / gc.reduce_sum(e, axis=1, keepdims=True), gc.reduce_mean(s * s)])

    def softmax_ref():
        e = np.exp(sv - sv.max(axis=1, keepdims=True))
        return [e / e.sum(axis=1, keepdims=True), np.mean(sv * sv)]
    cases.append(Case(softmax_and_mean, [sv], softmax_ref))

    table = np.arange(80.0).reshape(8, 10) / 7.0
    c = gc.placeholder((8, 10), "float64", name="c")
    cv = rng.normal(size=(8, 10))
    cases.append(Case(lambda: gc.function([c], [c + (gc.constant(table) * 2.0 + 1.0),
                                                gc.transpose(c[1:5, ::3]) * 3.0]),
                      [cv], lambda: [cv + table * 2.0 + 1.0, (cv[1:5, ::3]).T * 3.0]))

    p = gc.placeholder((5, 3), "float64", name="p")
    v = gc.variable(rng.normal(size=(3, 2)), name="v")
    start = v.value.copy()
    pv = rng.normal(size=(5, 3))
    loss = gc.reduce_mean(gc.square(gc.tanh(p @ v) - 0.5))
    (gv,) = gc.grad(loss, [v])

    def step_ref():
        h = np.tanh(pv @ start)
        g = pv.T @ (2 * (h - 0.5) * (1 - h ** 2)) / h.size
        return [np.mean((h - 0.5) ** 2), start - 0.1 * g]
    step = Case(lambda: gc.function([p], loss, updates=[(v, v - 0.1 * gv)]), [pv], step_ref)
    step.reset = lambda: v.assign(start)
    step.results = lambda out: [out, v.value]
    cases.append(step)
    return cases


_INTS = [-1, 0, 1, 2, 3, 4, 7, 64, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 12]
_FLOATS = [0.0, -0.0, 1.5, -3.25, 1e308, float("nan"), float("inf"), float("-inf")]
_STRINGS = ["", "x", "exp", "log", "matmul", "add", "constant", "placeholder", "variable", "<f8", "<f4",
            "|O", "object", "float64", "int64", "same", "tuple", "array", "\x1b[2J", "a" * 300]


def _pool(rng, entry, canary):
    """A replacement value: a number, a string, code, a tagged value, or a piece of the entry."""
    code = rng.choice(_code(canary))
    choices = [
        lambda: rng.choice(_INTS), lambda: rng.randint(-3, 40), lambda: rng.choice(_FLOATS),
        lambda: rng.uniform(-1e3, 1e3), lambda: None, lambda: rng.choice([True, False]),
        lambda: rng.choice(_STRINGS), lambda: code, lambda: [], lambda: [code], lambda: [rng.randint(0, 9)],
        lambda: {}, lambda: {"tuple": [code]}, lambda: {"tuple": [0, 1]}, lambda: {"array": rng.randint(0, 2)},
        lambda: {"inline": ["|O", [1], [code]]}, lambda: {"inline": ["<f8", [1], [2.0]]},
        lambda: {"slice": [None, code, None]}, lambda: {"random": 0}, lambda: {"scalar": ["<f8", 1.0]},
        lambda: {"src": rng.randint(0, 5)}, lambda: _piece(rng, entry),
    ]
    return rng.choice(choices)()


def _piece(rng, entry):
    """A copy of some value found elsewhere in the entry (a node, a shape, a tagged tuple...)."""
    spot = _spot(rng, entry)
    return None if spot is None else json.loads(json.dumps(spot[0][spot[1]]))


def _spot(rng, value):
    """A random (container, key) of the JSON tree under ``value``, None if it has none: a walk
    down from the top that stops at each level with some chance."""
    spot = None
    while isinstance(value, (dict, list)) and value:
        k = rng.choice(list(value)) if isinstance(value, dict) else rng.randrange(len(value))
        spot, value = (value, k), value[k]
        if rng.random() < 0.3:
            break
    return spot


_SWAPPABLE = ["exp", "log", "tanh", "neg", "sqrt", "square", "abs", "sin", "relu", "sigmoid", "add",
              "sub", "mul", "div", "maximum", "minimum", "matmul", "reduce_sum", "reduce_max", "transpose"]


def _mutate_json(rng, entry, canary) -> None:
    """One to three random edits in place: a well-formed one that changes the meaning (another
    op, input, source node, constant, output or kernel member), or any value replaced, nudged,
    deleted, inserted or swapped."""
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.4:
            try:
                _mutate_meaning(rng, entry)
            except (TypeError, KeyError, IndexError, AttributeError, ValueError):
                pass  # an earlier edit already broke the structure it looks for
        else:
            _mutate_anything(rng, entry, canary)


def _mutate_meaning(rng, entry) -> None:
    nodes = entry["nodes"]
    ops = [i for i, n in enumerate(nodes) if isinstance(n, dict) and "op" in n]
    action = rng.choice(["op", "input", "src", "constant", "output", "kernel"])
    if action == "op" and ops:
        nodes[rng.choice(ops)]["op"] = rng.choice(_SWAPPABLE)
    elif action == "input" and ops:
        i = rng.choice(ops)
        if nodes[i]["in"]:
            nodes[i]["in"][rng.randrange(len(nodes[i]["in"]))] = rng.randrange(i)
    elif action == "src":
        sources = [n for n in nodes if isinstance(n, dict) and "src" in n]
        if sources:
            rng.choice(sources)["src"] = rng.randrange(12)
    elif action == "constant":
        inline = [n["attrs"]["value"]["inline"] for n in nodes if isinstance(n, dict) and n.get("op") == "constant"
                  and "inline" in n["attrs"]["value"]]
        if inline:
            values = rng.choice(inline)[2]
            values[rng.randrange(len(values))] = rng.choice([0.0, 1.0, -1.0, 2.5, 1e-3])
    elif action == "output" and entry["outputs"]:
        entry["outputs"][rng.randrange(len(entry["outputs"]))] = rng.randrange(len(nodes))
    elif action == "kernel" and entry["kernels"]:
        kernel = rng.choice(entry["kernels"])
        part = rng.choice(["members", "reductions"])
        if kernel[part] and rng.random() < 0.5:
            del kernel[part][rng.randrange(len(kernel[part]))]
        else:
            kernel[part] = sorted(set(kernel[part]) | {rng.randrange(len(nodes))})


def _mutate_anything(rng, entry, canary) -> None:
    section = rng.choices(["nodes", "kernels", "outputs", "updates", "reports", "format"],
                          weights=[60, 12, 6, 6, 10, 1])[0]
    spot = _spot(rng, entry[section])
    if spot is None:
        entry[section] = _pool(rng, entry, canary)
        return
    parent, k = spot
    action = rng.choice(["replace", "replace", "replace", "nudge", "delete", "insert", "swap"])
    if action == "nudge" and type(parent[k]) in (int, float):
        parent[k] = parent[k] + rng.choice([-1, 1, 0.5])
    elif action == "delete":
        del parent[k]
    elif action == "insert" and isinstance(parent, list):
        parent.insert(rng.randint(0, len(parent)), _pool(rng, entry, canary))
    elif action == "swap" and isinstance(parent, list) and len(parent) > 1:
        i = rng.randrange(len(parent))
        parent[k], parent[i] = parent[i], parent[k]
    else:
        parent[k] = _pool(rng, entry, canary)


def _mutate_bytes(rng, data: bytes, canary) -> bytes:
    data = bytearray(data)
    action = rng.choice(["truncate", "flip", "flip", "insert", "code"])
    if action == "truncate":
        return bytes(data[:rng.randrange(len(data))])
    if action == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    elif action == "insert":
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:
        at = rng.randrange(len(data))
        data[at:at + 40] = rng.choice(_code(canary)).encode()
    return bytes(data)


def _mutate_text(rng, text: str) -> str:
    """A character of the JSON text changed: digits become other digits, quotes vanish..."""
    at = rng.randrange(len(text))
    return text[:at] + rng.choice("0123456789-.,\"[]{}eE ") + text[at + 1:]


def _check_result(case, out):
    results = case.results(out) if hasattr(case, "results") else (out if isinstance(out, list) else [out])
    for got, want in zip(results, case.reference(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_thousands_of_mutated_entries_never_run_code_nor_change_a_result(cache):
    rng = random.Random(20240917)
    tally = {"accepted": 0, "refused": 0}
    for number, case in enumerate(_cases()):
        gc.set_cache_dir(cache.dir / str(number))
        fn, out = case.run()
        _check_result(case, out)
        (path,) = (cache.dir / str(number)).glob("*" + cc._SUFFIX)
        name, key, entry, arrays = _open(path)
        source = fn.source_graph
        assert cc._key(source) == name  # the graph the compiler looked up
        original = path.read_bytes()
        signed_part = len(cc._MAGIC) + cc._TAG_BYTES
        text = json.dumps(entry)
        payload = cc._write_payload(entry, arrays)

        def attempt(data):
            """Load ``data`` in-process; if it is accepted, compile through it and check the results."""
            try:
                cc._load(data, name, source, key)
            except cc._Refused:
                tally["refused"] += 1
                return
            tally["accepted"] += 1
            path.write_bytes(data)
            hits = cc.stats["hits"]
            _, result = case.run()
            assert cc.stats["hits"] == hits + 1  # it ran what was loaded
            _check_result(case, result)

        for _ in range(400):  # the validator and the probe, behind a valid signature
            mutated = json.loads(text)
            _mutate_json(rng, mutated, cache.canary)
            if mutated != entry:  # (an edit may restore what was there)
                attempt(cc._seal(name, cc._write_payload(mutated, arrays), key))
        for _ in range(60):
            try:
                mutated = json.loads(_mutate_text(rng, text))
            except ValueError:
                continue
            if mutated != entry:
                attempt(cc._seal(name, cc._write_payload(mutated, arrays), key))
        for _ in range(100):  # the archive's own bytes
            attempt(cc._seal(name, _mutate_bytes(rng, payload, cache.canary), key))
        for _ in range(150):  # no re-signing: the signature alone must refuse every change
            if rng.random() < 0.5:
                mutated = json.loads(text)
                _mutate_json(rng, mutated, cache.canary)
                data = original[:signed_part] + cc._write_payload(mutated, arrays)
            else:
                data = _mutate_bytes(rng, original, cache.canary)
            accepted = tally["accepted"]
            attempt(data)
            assert tally["accepted"] == accepted or data[signed_part:] == original[signed_part:]
        assert not cache.canary.exists()
    assert not cache.canary.exists()
    assert tally["refused"] > 2500 and tally["accepted"] > 50, tally
