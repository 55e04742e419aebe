"""Model files: what ``model.save`` writes and ``load_model`` reads, checks and rebuilds.

Format: a NumPy ``.npz`` archive (a zip of uncompressed ``.npy`` arrays) holding
``graphc_model`` — the UTF-8 bytes of a JSON document ``{"format": "graphc.model",
"version": 1, "model": {class_name, config}, "compile": {optimizer, loss, metrics, backend} or
null}`` — then ``weight_0000``, ``weight_0001``, ... in ``get_weights()`` order,
``optimizer_0000``, ... in ``optimizer.variables()`` order (iterations first, then slots) and
``graphc_sha256``: the SHA-256 of the document and of every array (name, dtype, shape, bytes),
so that a file changed after it was saved is refused rather than loaded as some other model.
(Files written before the checksum existed have no ``graphc_sha256`` and load unchecked.)

Loading trusts nothing in the file: every entry's name, compression and ``.npy`` header is
checked before its bytes are read, arrays must hold plain numbers (nothing is unpickled, so no
model file can run code), the zip CRCs and the checksum must match, and every field of the
document must have the type ``save`` writes. Anything else — a truncated or foreign file, a
directory, a damaged entry, a wrong-typed field, a layer configuration graphc cannot rebuild —
is a ``ModelFileError`` (a ``ValueError``) naming the file. The model is rebuilt within the
file's weight budget: a configuration asking for more weights than the file holds is refused
before they are allocated.

Saving is atomic, and killed saves leave no debris (``graphc.atomic_write``).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import stat
import zipfile

import numpy as np

from graphc.api.support import backend_registry
from graphc import layers as layers_module
from graphc import losses as losses_module
from graphc import optimizers as optimizers_module
from graphc.atomic_write import write_atomically
from graphc.api.support import to_host
from graphc.errors import BackendUnavailable
from graphc.api.support import arguments
from graphc.api.support import format_shape

FORMAT = "graphc.model"
FORMAT_VERSION = 1
MODEL_ENTRY = "graphc_model"      # the JSON document, as a uint8 array of its UTF-8 bytes
DIGEST_ENTRY = "graphc_sha256"    # SHA-256 of the document and every array (_content_digest)
_NUMBERED_ENTRY = re.compile(r"(weight|optimizer)_([0-9]{4,})")


class ModelFileError(ValueError):
    """A file ``load_model`` cannot load: damaged, truncated, foreign or changed after it was
    saved. A ValueError; the message names the file and what is wrong with it."""


# -- writing ---------------------------------------------------------------------------------------

def save_model(model, path, optimizer_variables) -> str:
    """Write ``model`` (architecture, weights, and ``optimizer_variables``: the optimizer's
    state, empty before the training step exists) to ``path`` atomically; returns the path."""
    path = os.fspath(path)
    document = {"format": FORMAT, "version": FORMAT_VERSION,
                "model": {"class_name": type(model).__name__, "config": model.get_config()},
                "compile": model.get_compile_config()}
    arrays = {MODEL_ENTRY: np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)}
    for i, w in enumerate(model.get_weights()):
        arrays[f"weight_{i:04d}"] = w
    for i, v in enumerate(optimizer_variables):
        arrays[f"optimizer_{i:04d}"] = to_host(v.value)
    arrays[DIGEST_ENTRY] = np.frombuffer(_content_digest(arrays), dtype=np.uint8)
    write_atomically(path, lambda f: np.savez(f, **arrays))
    return path


def _content_digest(arrays: dict) -> bytes:
    """SHA-256 over every entry but the digest itself, in name order: its name, dtype, shape
    and bytes (C order). ``save`` stores it; ``load_model`` recomputes it from what it read."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == DIGEST_ENTRY:
            continue
        array = np.asarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode("utf-8"))
        digest.update(np.ascontiguousarray(array).view(np.uint8).reshape(-1))
    return digest.digest()


# -- reading and rebuilding ------------------------------------------------------------------------

def restore_model(path, model_class):
    """The model of the file at ``path``, rebuilt as a ``model_class`` (the only class a file
    may name) within the file's weight budget, compiled again as it was and with its
    optimizer state restored. ``load_model``'s errors (see its docstring)."""
    path = os.fspath(path)
    document, weights, state = _read_model_file(path, model_class.__name__)
    compile_config = document["compile"]
    try:
        with layers_module.weight_budget(sum(w.size for w in weights), "the file's weights"):
            model = model_class.from_config(document["model"]["config"])
            model.set_weights(weights)
        if compile_config is not None:
            model.compile(optimizer=optimizers_module.deserialize(compile_config["optimizer"])
                          if isinstance(compile_config["optimizer"], dict) else compile_config["optimizer"],
                          loss=losses_module.deserialize(compile_config["loss"])
                          if isinstance(compile_config["loss"], dict) else compile_config["loss"],
                          metrics=compile_config["metrics"] or None,
                          backend=compile_config["backend"])
        if state:
            model.train_function  # builds the training step, which creates the optimizer's slots
            variables = model.optimizer.variables()
            if len(variables) != len(state) or any(v.shape != s.shape for v, s in zip(variables, state)):
                raise ModelFileError(f"load_model: {path!r}: the saved optimizer state ({len(state)} arrays) does "
                                     f"not fit the optimizer ({len(variables)} variables)")
            for var, value in zip(variables, state):
                var.assign(value)
    except ModelFileError:
        raise
    except BackendUnavailable as exc:   # an intact file, compiled for a backend this machine lacks
        raise BackendUnavailable(f"load_model: {path!r}: {exc}") from exc
    except Exception as exc:   # a layer, loss, optimizer or metric its configuration cannot make
        raise ModelFileError(f"load_model: {path!r} holds a model graphc cannot rebuild "
                             f"({type(exc).__name__}: {exc})") from exc
    return model


def _read_model_file(path: str, class_name: str):
    """(document, weights, optimizer state) of a file written by ``save`` for a model of
    ``class_name``, every entry and field checked; ``ModelFileError`` (a ValueError naming the
    path) for anything else. FileNotFoundError and PermissionError come through as they are."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise ModelFileError(f"load_model: {path!r} is a directory, not a graphc model file")
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"load_model: {path!r} is not a regular file, so not a graphc model file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file (not an .npz archive; "
                             "models are written by model.save)")
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = _read_entries(archive, path, os.path.getsize(path))
    except ModelFileError:
        raise
    except Exception as exc:   # zipfile, struct, zlib, numpy header errors...: all are damage
        raise ModelFileError(f"load_model: {path!r} is damaged or truncated "
                             f"({type(exc).__name__}: {exc})") from exc
    if MODEL_ENTRY not in arrays:
        raise ModelFileError(f"load_model: {path!r} is an .npz archive but not a graphc model file "
                             f"(no {MODEL_ENTRY!r} entry)")
    text, digest = arrays.pop(MODEL_ENTRY), arrays.pop(DIGEST_ENTRY, None)
    for name, value in ((MODEL_ENTRY, text), (DIGEST_ENTRY, digest)):
        if value is not None and (value.dtype != np.uint8 or value.ndim != 1):
            raise ModelFileError(f"load_model: {path!r} is damaged: entry {name!r} must be bytes (a 1-d "
                                 f"uint8 array), got {value.dtype} {format_shape(value.shape)}")
    if digest is not None and digest.tobytes() != _content_digest({MODEL_ENTRY: text, **arrays}):
        raise ModelFileError(f"load_model: {path!r} is damaged: its content does not match the SHA-256 "
                             "checksum written by save (the file was changed after it was saved)")
    try:
        document = json.loads(text.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:   # UnicodeDecodeError and JSONDecodeError included
        raise ModelFileError(f"load_model: {path!r} is damaged: its document is not UTF-8 JSON "
                             f"({type(exc).__name__}: {exc})") from exc
    _check_document(document, path, class_name)
    weights, state = _numbered_entries(arrays, "weight", path), _numbered_entries(arrays, "optimizer", path)
    if state and document["compile"] is None:
        raise ModelFileError(f"load_model: {path!r} is damaged: it holds optimizer state ({len(state)} arrays) "
                             "but no optimizer (its 'compile' field is null)")
    return document, weights, state


def _read_entries(archive: zipfile.ZipFile, path: str, file_size: int) -> dict:
    """{name without .npy: array} of every entry, each checked before it is read: a known
    name, not twice, stored uncompressed and unencrypted (as ``np.savez`` writes them), no
    larger than the file."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ModelFileError(f"load_model: {path!r} is damaged: entries {twice} appear more than once")
    arrays = {}
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else None
        if name not in (MODEL_ENTRY, DIGEST_ENTRY) and (name is None or not _NUMBERED_ENTRY.fullmatch(name)):
            raise ModelFileError(f"load_model: {path!r} is not a graphc model file: unexpected entry "
                                 f"{info.filename!r} (graphc writes {MODEL_ENTRY}.npy, weight_0000.npy, ..., "
                                 f"optimizer_0000.npy, ... and {DIGEST_ENTRY}.npy)")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"load_model: {path!r} is not a graphc model file: entry {info.filename!r} "
                                 "is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(f"load_model: {path!r} is not a graphc model file: entry {info.filename!r} "
                                 f"is compressed (zip method {info.compress_type}); model.save stores "
                                 "entries uncompressed")
        if info.file_size != info.compress_size or info.file_size > file_size:
            raise ModelFileError(f"load_model: {path!r} is damaged: entry {info.filename!r} claims "
                                 f"{info.file_size} bytes in a file of {file_size}")
        arrays[name] = _parse_npy(archive.read(info), info.filename, path)
    return arrays


def _parse_npy(data: bytes, entry: str, path: str) -> np.ndarray:
    """The array of one ``.npy`` entry. Only plain numbers (bool, integers, floats): an
    object array would have to be unpickled, which no model file may make graphc do. The
    header must describe exactly the bytes that follow it."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ModelFileError(f"load_model: {path!r} is damaged: entry {entry!r} is .npy version "
                             f"{version[0]}.{version[1]}")
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file: entry {entry!r} holds "
                             f"{dtype} values; model files hold plain numbers (graphc never unpickles)")
    if any(d < 0 for d in shape):
        raise ModelFileError(f"load_model: {path!r} is damaged: entry {entry!r} has shape {shape}")
    count = math.prod(shape)
    offset = stream.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise ModelFileError(f"load_model: {path!r} is damaged or truncated: entry {entry!r} declares "
                             f"{count * dtype.itemsize} bytes of {dtype} {shape} but holds {len(data) - offset}")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset) if count else np.zeros(0, dtype)
    return flat.reshape(shape, order="F" if fortran_order else "C").copy()


def _numbered_entries(arrays: dict, kind: str, path: str) -> list:
    """[kind_0000, kind_0001, ...]: numbered from 0 without gaps, as ``save`` writes them."""
    found = {}
    for name in arrays:
        match = _NUMBERED_ENTRY.fullmatch(name)
        if match and match.group(1) == kind:
            found[int(match.group(2))] = name
    for i in range(len(found)):
        if found.get(i) != f"{kind}_{i:04d}":
            raise ModelFileError(f"load_model: {path!r} is damaged: its {kind} entries are not numbered "
                                 f"0..{len(found) - 1} ({kind}_{i:04d}.npy is missing)")
    return [arrays[found[i]] for i in range(len(found))]


def _check_document(document, path: str, class_name: str) -> None:
    """Every field of the document that ``load_model`` reads has the type ``save`` writes, and
    the model is a ``class_name``."""
    def fail(where, expected, value):
        raise ModelFileError(f"load_model: {path!r} is damaged: field {where} must be {expected}, "
                             f"got {arguments.shown(value)}")

    def need(container, key, where):
        if key not in container:
            raise ModelFileError(f"load_model: {path!r} is damaged: field {where}.{key} is missing")
        return container[key]

    def is_int(value):
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(document, dict):
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file (its document is a "
                             f"{type(document).__name__}, not an object)")
    if document.get("format") != FORMAT:
        raise ModelFileError(f"load_model: {path!r} is not a graphc model file (format {document.get('format')!r})")
    version = need(document, "version", "document")
    if not is_int(version) or version != FORMAT_VERSION:
        raise ModelFileError(f"load_model: {path!r} has format version {version!r}; "
                             f"this graphc reads version {FORMAT_VERSION}")
    spec = need(document, "model", "document")
    if not isinstance(spec, dict):
        fail("model", "an object {class_name, config}", spec)
    saved_class = need(spec, "class_name", "model")
    if saved_class != class_name:
        raise ModelFileError(f"load_model: {path!r} holds an unknown model class {saved_class!r}")
    config = need(spec, "config", "model")
    if not isinstance(config, dict):
        fail("model.config", "an object", config)
    name = need(config, "name", "model.config")
    if name is not None and not isinstance(name, str):
        fail("model.config.name", "a string or null", name)
    seed = need(config, "seed", "model.config")
    if seed is not None and not is_int(seed):
        fail("model.config.seed", "an integer or null", seed)
    layer_list = need(config, "layers", "model.config")
    if not isinstance(layer_list, list):
        fail("model.config.layers", "a list", layer_list)
    for i, layer in enumerate(layer_list):
        where = f"model.config.layers[{i}]"
        if not isinstance(layer, dict):
            fail(where, "an object {class_name, config}", layer)
        if not isinstance(need(layer, "class_name", where), str):
            fail(f"{where}.class_name", "a string", layer["class_name"])
        if not isinstance(need(layer, "config", where), dict):
            fail(f"{where}.config", "an object", layer["config"])
    shape = need(config, "build_input_shape", "model.config")
    if shape is not None and (not isinstance(shape, list)
                              or not all(d is None or (is_int(d) and d >= 0) for d in shape)):
        fail("model.config.build_input_shape", "null or a list of sizes (integers >= 0 or null)", shape)
    compiled = need(document, "compile", "document")
    if compiled is None:
        return
    if not isinstance(compiled, dict):
        fail("compile", "an object {optimizer, loss, metrics, backend} or null", compiled)
    for key in ("optimizer", "loss"):
        if not isinstance(need(compiled, key, "compile"), (str, dict)):
            fail(f"compile.{key}", "a name or an object {class_name, config}", compiled[key])
    metrics = need(compiled, "metrics", "compile")
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        fail("compile.metrics", "a list of metric names", metrics)
    backend = need(compiled, "backend", "compile")
    if not isinstance(backend, str) or backend not in _known_backends():
        raise ModelFileError(f"load_model: {path!r} is damaged: field compile.backend must name a graphc "
                             f"backend ({', '.join(sorted(_known_backends()))}), got {backend!r}")


def _known_backends() -> set:
    return backend_registry.known()
