"""Model files (``Model.save`` / ``gc.models.load_model``) against damage, tampering and kills.

- every damaged file is a ValueError naming the file, never another exception: zip-level damage
  (bad CRC, truncation, an unsupported or any compression, encryption, duplicate entries, not a
  zip, a directory) and document-level damage (null or wrong-typed fields, missing keys);
- nothing in a file is ever unpickled, so no model file can run code;
- a file changed after it was saved is refused by its SHA-256 checksum, a file saved before
  the checksum existed still loads;
- a fuzz test: hundreds of random mutations of one small saved model, each either loading a
  model that predicts exactly as the original or raising a ValueError that names the file;
- killed saves: a real subprocess SIGKILLed mid-save leaves the file intact, and the next save
  removes the temporaries it left (and only those).
"""
import fcntl
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # the repository
X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)


MODEL_ENTRY, DIGEST_ENTRY = "graphc_model", "graphc_sha256"   # the documented format


def content_digest(arrays: dict) -> bytes:
    """The checksum as the format documents it: SHA-256 over every entry but the checksum, in
    name order: name, dtype, shape, then the bytes in C order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name != DIGEST_ENTRY:
            array = arrays[name]
            digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode("utf-8"))
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


def small_model(trained=False):
    model = gc.models.Sequential([L.Input((4,)), L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")],
                                 seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    if trained:   # the file then holds optimizer state too
        model.fit(X, np.array([0, 1, 2, 0, 1]), epochs=1, verbose=0)
    return model


# -- helpers: the entries of an archive, and archives rebuilt from entries ------------------------

def read_entries(path) -> dict:
    """{entry name: raw bytes}, in archive order."""
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def npy_bytes(array, allow_pickle=False) -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array(stream, np.asanyarray(array), allow_pickle=allow_pickle)
    return stream.getvalue()


def write_entries(path, entries, compression=zipfile.ZIP_STORED):
    """An archive of ``entries`` ({name: bytes} or [(name, bytes)]: duplicates allowed)."""
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return path


def document_of(entries) -> dict:
    return json.loads(np.load(io.BytesIO(entries[f"{MODEL_ENTRY}.npy"])).tobytes())


def with_document(entries, document, seal=True) -> dict:
    """``entries`` with ``document`` in place of theirs: sealed (the checksum recomputed, as a
    writer with a bug would produce), or without a checksum (a file from before checksums)."""
    raw = json.dumps(document).encode("utf-8") if not isinstance(document, bytes) else document
    entries = dict(entries)
    entries[f"{MODEL_ENTRY}.npy"] = npy_bytes(np.frombuffer(raw, dtype=np.uint8))
    entries.pop(f"{DIGEST_ENTRY}.npy", None)
    if seal:
        arrays = {name[:-4]: np.load(io.BytesIO(data)) for name, data in entries.items()}
        entries[f"{DIGEST_ENTRY}.npy"] = npy_bytes(np.frombuffer(content_digest(arrays), dtype=np.uint8))
    return entries


def load_outcome(path):
    """("loaded", model) or ("refused", message); any other exception fails the test."""
    try:
        return "loaded", gc.models.load_model(path)
    except ValueError as exc:
        assert str(path) in str(exc), f"the message does not name the file: {exc}"
        return "refused", str(exc)


def assert_refused(path, match=None):
    outcome, detail = load_outcome(path)
    assert outcome == "refused", f"{path} loaded"
    if match:
        assert re.search(match, detail), detail
    return detail


# -- zip-level damage ------------------------------------------------------------------------------

def test_zip_level_damage_is_a_value_error_naming_the_file(tmp_path):
    good = small_model().save(tmp_path / "good.npz")
    data = open(good, "rb").read()
    entries = read_entries(good)

    unsupported = bytearray(data)   # compression method 99 in the local and the central header
    unsupported[8] = 99
    central = data.index(b"PK\x01\x02")
    unsupported[central + 10] = 99
    (tmp_path / "method99.npz").write_bytes(bytes(unsupported))
    assert_refused(tmp_path / "method99.npz", "compressed")

    weight = data.index(b"weight_0000.npy")
    bad_crc = bytearray(data)
    bad_crc[weight + 200] ^= 0x55            # inside the weight's array bytes
    (tmp_path / "crc.npz").write_bytes(bytes(bad_crc))
    assert_refused(tmp_path / "crc.npz", "damaged")

    for cut in (0, 3, 30, len(data) // 3, len(data) - 1):
        (tmp_path / f"cut{cut}.npz").write_bytes(data[:cut])
        assert_refused(tmp_path / f"cut{cut}.npz")

    (tmp_path / "text.npz").write_text("just some text")
    assert_refused(tmp_path / "text.npz", "not a graphc model")
    (tmp_path / "folder.npz").mkdir()
    assert_refused(tmp_path / "folder.npz", "directory")

    encrypted = bytearray(data)
    encrypted[6] |= 1
    encrypted[central + 8] |= 1
    (tmp_path / "encrypted.npz").write_bytes(bytes(encrypted))
    assert_refused(tmp_path / "encrypted.npz")

    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        assert_refused(write_entries(tmp_path / f"method{method}.npz", entries, method), "compressed")
    twice = list(entries.items()) + [("weight_0000.npy", entries["weight_0000.npy"])]
    with pytest.warns(UserWarning, match="Duplicate name"):
        write_entries(tmp_path / "twice.npz", twice)
    assert_refused(tmp_path / "twice.npz", "more than once")
    assert_refused(write_entries(tmp_path / "extra.npz", {**entries, "notes.txt": b"hi"}), "unexpected entry")
    assert_refused(write_entries(tmp_path / "empty.npz", {}), "not a graphc model")
    gap = {k: v for k, v in entries.items() if k != "weight_0001.npy"}
    assert_refused(write_entries(tmp_path / "gap.npz", with_document(gap, document_of(entries))), "numbered")

    with pytest.raises(FileNotFoundError):
        gc.models.load_model(tmp_path / "missing.npz")


def test_npy_headers_are_checked_before_any_memory_is_allocated(tmp_path):
    entries = read_entries(small_model().save(tmp_path / "good.npz"))
    huge = bytearray(entries["weight_0000.npy"])
    header_end = huge.index(b"\n")
    header = huge[:header_end].decode("latin1").replace("(4, 5)", "(400000000, 500000)")
    entries["weight_0000.npy"] = header.encode("latin1").ljust(header_end) + b"\n" + huge[header_end + 1:]
    assert_refused(write_entries(tmp_path / "huge.npz", entries), "declares")


# -- nothing is unpickled --------------------------------------------------------------------------

SPRUNG = []


def spring_the_trap():
    SPRUNG.append(True)
    return "pwned"


class Trap:
    """Unpickling this calls ``spring_the_trap``: what a malicious model file would do."""

    def __reduce__(self):
        return (spring_the_trap, ())


@pytest.mark.parametrize("entry", ["weight_0000.npy", f"{MODEL_ENTRY}.npy", f"{DIGEST_ENTRY}.npy"])
def test_object_arrays_are_never_unpickled(entry, tmp_path):
    entries = read_entries(small_model().save(tmp_path / "good.npz"))
    entries[entry] = npy_bytes(np.array([Trap(), Trap()], dtype=object), allow_pickle=True)
    detail = assert_refused(write_entries(tmp_path / "trap.npz", entries))
    assert "never unpickles" in detail
    assert SPRUNG == []


# -- the document ----------------------------------------------------------------------------------

def replace(document, path, value):
    """A copy of ``document`` with the field at ``path`` (a tuple of keys) set to ``value``
    (``DELETE`` removes it)."""
    document = json.loads(json.dumps(document))
    node = document
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


DELETE = object()


@pytest.mark.parametrize("path, value", [
    (("model",), None),
    (("model",), []),
    (("model",), DELETE),
    (("model", "config"), None),
    (("model", "config"), 5),
    (("model", "class_name"), 7),
    (("model", "config", "layers"), 3),
    (("model", "config", "layers"), None),
    (("model", "config", "layers", 1), "Dense"),
    (("model", "config", "layers", 1, "class_name"), None),
    (("model", "config", "layers", 1, "config"), [1, 2]),
    (("model", "config", "layers", 1, "config", "units"), "five"),
    (("model", "config", "layers", 1, "config", "units"), 2.5),
    (("model", "config", "layers", 1, "config", "activation"), 12),
    (("model", "config", "layers", 1, "config", "oops"), 1),
    (("model", "config", "name"), 5),
    (("model", "config", "seed"), "zero"),
    (("model", "config", "seed"), True),
    (("model", "config", "build_input_shape"), "(None, 4)"),
    (("model", "config", "build_input_shape"), [None, -4]),
    (("compile",), 5),
    (("compile",), DELETE),
    (("compile", "optimizer"), None),
    (("compile", "optimizer", "config"), "fast"),
    (("compile", "loss"), 3),
    (("compile", "loss"), {"class_name": "Nope"}),
    (("compile", "metrics"), "accuracy"),
    (("compile", "metrics"), [1]),
    (("compile", "backend"), None),
    (("compile", "backend"), "fortran"),
    (("version",), "1"),
    (("version",), True),
    (("version",), 2),
    (("format",), None),
])
@pytest.mark.parametrize("seal", [True, False], ids=["sealed", "no-checksum"])
def test_wrong_typed_or_missing_fields_are_value_errors(path, value, seal, tmp_path):
    entries = read_entries(small_model(trained=True).save(tmp_path / "good.npz"))
    document = replace(document_of(entries), path, value)
    assert_refused(write_entries(tmp_path / "bad.npz", with_document(entries, document, seal)))


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"graphc.model"', b"{", b"\xff\xfe", b"[" * 100000,
                                 b'{"format": "graphc.model", "version": 1}'],
                         ids=["empty", "null", "list", "string", "unclosed", "not-utf8", "deep", "no-model"])
def test_documents_that_are_not_the_json_object_save_writes(raw, tmp_path):
    entries = read_entries(small_model().save(tmp_path / "good.npz"))
    assert_refused(write_entries(tmp_path / "bad.npz", with_document(entries, raw)))


def test_a_file_changed_after_saving_is_refused_by_its_checksum(tmp_path):
    model = small_model()
    entries = read_entries(model.save(tmp_path / "good.npz"))
    other = dict(entries)   # same shape, other values: a valid model, but not the one saved
    kernel = np.load(io.BytesIO(entries["weight_0000.npy"]))
    other["weight_0000.npy"] = npy_bytes(kernel + 1)
    assert_refused(write_entries(tmp_path / "other.npz", other), "checksum")
    relu = replace(document_of(entries), ("model", "config", "layers", 1, "config", "activation"), "tanh")
    assert_refused(write_entries(tmp_path / "tanh.npz", with_document(entries, relu, seal=False) |
                                 {f"{DIGEST_ENTRY}.npy": entries[f"{DIGEST_ENTRY}.npy"]}), "checksum")


def test_the_checksum_is_the_documented_one(tmp_path):
    model = small_model(trained=True)
    entries = read_entries(model.save(tmp_path / "good.npz"))
    assert list(entries)[-1] == f"{DIGEST_ENTRY}.npy"
    assert with_document(entries, document_of(entries))[f"{DIGEST_ENTRY}.npy"] == entries[f"{DIGEST_ENTRY}.npy"]
    resealed = write_entries(tmp_path / "resealed.npz", with_document(entries, document_of(entries)))
    np.testing.assert_array_equal(gc.models.load_model(resealed).predict(X), model.predict(X))


def test_files_saved_before_the_checksum_still_load(tmp_path):
    model = small_model(trained=True)
    entries = read_entries(model.save(tmp_path / "good.npz"))
    legacy = write_entries(tmp_path / "legacy.npz", {k: v for k, v in entries.items() if k != f"{DIGEST_ENTRY}.npy"})
    loaded = gc.models.load_model(legacy)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert int(loaded.optimizer.iterations.value) == int(model.optimizer.iterations.value)


@pytest.mark.parametrize("seal", [True, False])
def test_a_configuration_larger_than_the_files_weights_is_refused_before_allocating(seal, tmp_path):
    entries = read_entries(small_model().save(tmp_path / "good.npz"))
    huge = replace(document_of(entries), ("model", "config", "layers", 1, "config", "units"), 10 ** 9)
    path = write_entries(tmp_path / "huge.npz", with_document(entries, huge, seal=seal))
    assert_refused(path, "more values than the file's weights")   # before any weight is made


def test_optimizer_state_without_an_optimizer_is_refused(tmp_path):
    entries = read_entries(small_model(trained=True).save(tmp_path / "good.npz"))
    document = replace(document_of(entries), ("compile",), None)
    assert_refused(write_entries(tmp_path / "bad.npz", with_document(entries, document)), "optimizer state")


def test_a_backend_this_machine_lacks_is_backend_unavailable_not_damage(tmp_path):
    from graphc import backend_registry
    if "cupy" in backend_registry.available():
        pytest.skip("this machine runs the cupy backend")
    entries = read_entries(small_model().save(tmp_path / "good.npz"))
    document = replace(document_of(entries), ("compile", "backend"), "cupy")
    path = write_entries(tmp_path / "gpu.npz", with_document(entries, document))
    with pytest.raises(gc.BackendUnavailable, match=re.escape(str(path))):
        gc.models.load_model(path)


# -- the fuzz test ---------------------------------------------------------------------------------

RANDOM_VALUES = [None, True, False, 0, 1, -1, 7, 2.5, -0.0, 1e300, "", "relu", "Dense", "x" * 50,
                 [], [1, 2], [None, 4], {}, {"a": 1}, {"class_name": "Dense", "config": {}}]


def json_paths(document):
    """Every (key, key, ...) path of a field in the document, iteratively."""
    paths, stack = [], [((), document)]
    while stack:
        path, node = stack.pop()
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            paths.append(path + (key,))
            stack.append((path + (key,), child))
    return paths


def mutate(rng, data: bytes, entries: dict, work):
    """(description, bytes of the mutated file, strict). ``strict``: the checksum still guards the
    content, so a load must give the original model exactly; else (a document sealed with a
    new checksum, or no checksum) any model may load, but still only ValueError may be raised."""
    kind = rng.integers(10)
    if kind == 0:
        out = bytearray(data)
        positions = rng.integers(len(data), size=rng.integers(1, 4))
        for p in positions:
            out[p] ^= int(rng.integers(1, 256))
        return f"flip bytes at {positions.tolist()}", bytes(out), True
    if kind == 1:
        cut = int(rng.integers(len(data)))
        return f"truncate to {cut}", data[:cut], True
    if kind == 2:
        at = int(rng.integers(len(data) + 1))
        junk = rng.bytes(int(rng.integers(1, 64)))
        return f"insert {len(junk)} bytes at {at}", data[:at] + junk + data[at:], True
    if kind == 3:
        lo = int(rng.integers(len(data)))
        hi = min(len(data), lo + int(rng.integers(1, 200)))
        return f"zero bytes {lo}:{hi}", data[:lo] + bytes(hi - lo) + data[hi:], True
    if kind in (4, 5, 6):
        document = document_of(entries)
        paths = json_paths(document)
        path = paths[rng.integers(len(paths))]
        value = DELETE if kind == 6 else RANDOM_VALUES[rng.integers(len(RANDOM_VALUES))]
        seal = bool(rng.integers(2))
        changed = with_document(entries, replace(document, path, value), seal=seal)
        what = "remove" if value is DELETE else f"set to {value!r:.30}"
        return (f"{what} field {path} ({'sealed' if seal else 'no checksum'})",
                archive_bytes(work, changed), False)
    names = list(entries)
    name = names[rng.integers(len(names))]
    changed = dict(entries)
    kind = rng.integers(9)
    if kind == 0:
        changed[name] = rng.bytes(int(rng.integers(0, 300)))
        what = "random bytes"
    elif kind == 1:
        changed[name] = entries[names[rng.integers(len(names))]]
        what = "another entry's bytes"
    elif kind == 2:
        changed[name] = npy_bytes(rng.normal(size=tuple(rng.integers(0, 6, size=rng.integers(0, 3)))))
        what = "a random array"
    elif kind == 3:
        original = np.load(io.BytesIO(entries[name]))
        changed[name] = npy_bytes(original.astype(np.float64) + 1 if original.dtype != np.uint8 else original[::-1])
        what = "same shape, other values"
    elif kind == 4:
        changed[name] = npy_bytes(np.array([Trap()], dtype=object), allow_pickle=True)
        what = "a pickled object array"
    elif kind == 5:
        changed[name] = npy_bytes(np.array(["a", "bc"]))
        what = "an array of strings"
    elif kind == 6:
        del changed[name]
        what = "removed"
    elif kind == 7:
        changed[name.replace(".npy", "_copy.npy")] = entries[name]
        what = "copied under another name"
    else:
        method = [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA][rng.integers(3)]
        return f"every entry compressed (method {method})", archive_bytes(work, entries, method), True
    return f"entry {name}: {what}", archive_bytes(work, changed), True


def archive_bytes(work, entries, compression=zipfile.ZIP_STORED) -> bytes:
    write_entries(work, entries, compression)
    return open(work, "rb").read()


def test_fuzz_every_mutation_loads_the_same_model_or_is_a_value_error(tmp_path):
    rng = np.random.default_rng(2024)
    for trained in (False, True):
        model = small_model(trained=trained)
        expected = model.predict(X)
        good = model.save(tmp_path / "good.npz")
        data = open(good, "rb").read()
        entries = read_entries(good)
        outcomes = {"loaded": 0, "refused": 0}
        start = time.perf_counter()
        for trial in range(400 if not trained else 150):
            description, mutated, strict = mutate(rng, data, entries, tmp_path / "work.npz")
            path = tmp_path / f"mutant_{trained:d}_{trial:03d}.npz"
            path.write_bytes(mutated)
            try:
                outcome, loaded = load_outcome(path)
            except Exception as exc:   # the property: nothing but ValueError, ever
                pytest.fail(f"{description}: {type(exc).__name__}: {exc}")
            outcomes[outcome] += 1
            if outcome == "loaded" and (strict or mutated == data):
                np.testing.assert_array_equal(loaded.predict(X), expected, err_msg=description)
                for a, b in zip(loaded.get_weights(), model.get_weights()):
                    np.testing.assert_array_equal(a, b, err_msg=description)
            os.unlink(path)
        assert SPRUNG == []
        assert outcomes["refused"] > 50 and outcomes["loaded"] > 0, outcomes   # both paths exercised
        assert time.perf_counter() - start < 20


# -- killed saves ----------------------------------------------------------------------------------

TEMPORARY = re.compile(r"\.big\.npz\.([0-9]+)\.[A-Za-z0-9_]+\.tmp")


def temporaries(directory) -> list:
    return sorted(name for name in os.listdir(directory) if TEMPORARY.fullmatch(name))


def big_model():
    """6.1 MB of weights: a save takes long enough for a kill to land in the middle of it."""
    return gc.models.Sequential([L.Input((1000,)), L.Dense(1500), L.Dense(10)], seed=0)


SAVE_FOREVER = textwrap.dedent("""
    import sys
    import graphc as gc
    model = gc.models.load_model(sys.argv[1])
    print("ready", flush=True)
    while True:
        model.save(sys.argv[1])
""")


def test_saves_killed_mid_write_leave_the_file_intact_and_the_next_save_removes_their_debris(tmp_path):
    model = big_model()
    path = tmp_path / "big.npz"
    model.save(path)
    x = np.random.default_rng(1).normal(size=(2, 1000)).astype(np.float32)
    expected = model.predict(x)
    killed_mid_write = 0
    for attempt in range(4):
        child = subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(path)], stdout=subprocess.PIPE,
                                 cwd=ROOT)
        try:
            assert child.stdout.readline() == b"ready\n"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:   # kill it while its temporary is being written
                if any(TEMPORARY.fullmatch(n).group(1) == str(child.pid) for n in temporaries(tmp_path)):
                    break
                time.sleep(0.0005)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        left = temporaries(tmp_path)
        killed_mid_write += bool(left)
        # whatever earlier children left was removed by this child's first save
        assert all(TEMPORARY.fullmatch(n).group(1) == str(child.pid) for n in left), left
        np.testing.assert_array_equal(gc.models.load_model(path).predict(x), expected)
    assert killed_mid_write >= 2
    model.save(path)
    assert os.listdir(tmp_path) == ["big.npz"]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_save_removes_only_the_temporaries_of_dead_writers_of_the_same_file(tmp_path):
    model = small_model()
    path = tmp_path / "big.npz"
    gone = dead_pid()
    zombie = subprocess.Popen(["sleep", "60"])
    zombie.send_signal(signal.SIGKILL)
    time.sleep(0.2)   # killed but not reaped (no wait() yet): a zombie writes nothing
    stale = [f".big.npz.{gone}.abcd1234.tmp", f".big.npz.{zombie.pid}.k_9xz0qq.tmp"]
    alive = f".big.npz.{os.getpid()}.zz8_1234.tmp"                 # a save running in this process
    locked = f".big.npz.{dead_pid()}.lockedxx.tmp"                  # its writer in another PID namespace
    others = [f".other.npz.{gone}.abcd1234.tmp", ".big.npz.tmp", ".big.npz.notes.tmp", "big.npz.1234.x.tmp",
              f".big.npz.{gone}.tmp"]
    for name in stale + [alive, locked] + others:
        (tmp_path / name).write_bytes(b"partial")
    with open(tmp_path / locked, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        model.save(path)
    zombie.wait()
    left = sorted(os.listdir(tmp_path))
    assert left == sorted([alive, locked, "big.npz"] + others)
    np.testing.assert_array_equal(gc.models.load_model(path).predict(X), model.predict(X))


def test_the_save_docstring_documents_the_cleanup():
    doc = gc.models.Sequential.save.__doc__
    assert ".<basename>.<pid>.<random>.tmp" in doc and "flock" in doc and "zombie" in doc
