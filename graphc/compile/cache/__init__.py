"""The on-disk compile cache: the pass pipeline's result, kept between processes.

The passes are most of a compile's time (rounds of folding, simplification and CSE, then
fusion), and their result depends only on the graph's structure, shapes, dtypes and constant
values and on graphc's own code. So the optimized graph, its kernel partition and the pass
reports are filed under a key hashing exactly those, and an equal graph compiled later, in any
process, skips the passes. Placeholders, variables and random draws are matched by position in
the source graph, so a hit uses the new graph's own variables and seeds. Off unless
``gc.set_cache_dir(path)`` or ``GRAPHC_CACHE_DIR`` sets a directory; one file per entry, written
atomically (a temporary file, then a rename).

Threat model: a cache directory may be shared, and whoever can write it must not be able to run
code in, or change the results of, the jobs that read it. So a loaded entry is never trusted:
it is authenticated, validated and probed (``_load``); one that fails is discarded with one
``CompileCacheWarning`` naming the file and the reason, compiled again and rewritten.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import time
import warnings

from graphc.atomic_write import write_atomically
from graphc.passes.report import PassReport
from graphc.compile.cache.attributes import ATTRIBUTES
from graphc.compile.cache.errors import CompileCacheWarning, _Refused, _Uncacheable, _warn_once
from graphc.compile.cache.fingerprint import _key
from graphc.compile.cache.key import _signing_key
from graphc.compile.cache.payload import _read_payload, _store_payload, _write_payload
from graphc.compile.cache.probe import _probe
from graphc.compile.cache.rebuild import _rebuild
from graphc.compile.cache.schema import _refusing
from graphc.compile.cache.sealing import _MAGIC, _TAG_BYTES, _read_entry_file, _seal, _unseal

# The public API; then what tests/compile/test_compile_cache_security.py forges entries with.
__all__ = ["ATTRIBUTES", "CompileCacheWarning", "cache_dir", "optimize", "set_cache_dir", "stats",
           "_MAGIC", "_TAG_BYTES", "_write_payload"]


_SUFFIX = ".entry"
_state = {"dir": None, "env_read": False}
stats = {"hits": 0, "misses": 0, "writes": 0, "discarded": 0}


def set_cache_dir(path) -> None:
    """Keep optimized graphs under ``path`` (created if missing); ``None`` turns the cache off."""
    _state["dir"] = None if path is None else pathlib.Path(path).expanduser()
    _state["env_read"] = True


def cache_dir():
    """The directory in use, or None when the cache is off."""
    if not _state["env_read"]:
        env = os.environ.get("GRAPHC_CACHE_DIR")
        _state["dir"] = pathlib.Path(env).expanduser() if env else None
        _state["env_read"] = True
    return _state["dir"]


def optimize(graph, run_passes):
    """``run_passes(graph) -> (graph, reports)``, through the cache when it is on."""
    directory = cache_dir()
    if directory is None:
        return run_passes(graph)
    key = _signing_key(directory)
    if key is None:  # no usable key: nothing can be authenticated, so nothing is read or written
        return run_passes(graph)
    try:
        name = _key(graph)
    except _Uncacheable:
        return run_passes(graph)
    path = directory / f"{name}{_SUFFIX}"
    loaded = _try_load(path, name, graph, key)
    if loaded is not None:
        stats["hits"] += 1
        return loaded
    stats["misses"] += 1
    optimized, reports = run_passes(graph)
    _try_store(path, name, graph, optimized, reports, key)
    return optimized, reports


def _try_load(path, name, source, key):
    """The entry at ``path`` as (graph, reports), or None when it is missing or discarded."""
    start = time.perf_counter()
    data = b""
    try:
        data = _read_entry_file(path)
        if data is None:
            return None
        optimized, reports = _load(data, name, source, key)
    except _Refused as exc:
        stats["discarded"] += 1
        _warn_once(("entry", str(path), hashlib.sha256(data).digest()),
                   f"graphc compile cache: discarded entry {path}: {exc}; compiling again and "
                   "rewriting it")
        return None
    reports[-1].seconds = time.perf_counter() - start
    return optimized, reports


def _try_store(path, name, source, optimized, reports, key) -> None:
    try:
        payload = _store_payload(source, optimized, reports)
    except _Uncacheable:
        return
    try:
        data = _seal(name, payload, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda f: f.write(data))
        stats["writes"] += 1
    except OSError as exc:
        warnings.warn(f"graphc compile cache: cannot write {path} ({exc})", CompileCacheWarning)


def _load(data: bytes, name: str, source, key: bytes):
    """(optimized graph, reports) from a file's bytes, or _Refused saying why not. The entry is
    never trusted:

    1. *Authenticated*: each file carries an HMAC-SHA256 of its bytes (and of the key it is
       filed under) with a per-user secret key kept outside the cache directory
       (``$GRAPHC_CACHE_KEY``, else ``$XDG_CONFIG_HOME/graphc/cache.key``, else
       ``~/.config/graphc/cache.key``; 32 random bytes, created mode 0600 on first use). A key
       file that others can read or write, or that another user owns, is refused: no entry is
       then read or written.
    2. *Validated*: the payload (a JSON document plus the large folded constants, read with
       ``allow_pickle=False``) must follow the schema ``_store_payload`` writes, field by field:
       real ints, known ops and dtypes, each op's attributes of the types it takes, inputs that
       are earlier nodes. Every node is rebuilt through its op's own shape/dtype rule, which
       must agree with the entry; kernels must be partitions the fusion passes could have made.
    3. *Probed*: the source graph and the loaded one are evaluated on the same fixed inputs with
       each op's reference semantics (``OpDef.impl``) and must agree - an op swapped for
       another of the same shape rule, or a changed constant, is caught even under a valid
       signature."""
    payload = _unseal(name, data, key)
    entry, arrays = _refusing(_read_payload, payload)
    optimized, reports = _refusing(_rebuild, entry, arrays, source)
    _refusing(_probe, source, optimized)
    hit = PassReport("compile_cache", len(source), len(optimized), round=None)
    hit.changes[f"optimized graph loaded from {name[:12]}…"] += 1
    return optimized, reports + [hit]
