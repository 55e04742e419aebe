"""The per-user secret key entries are signed with: where it lives, making it, and refusing
one that others could read or change (see the threat model in ``graphc/compile/cache/__init__.py``)."""
from __future__ import annotations

import os
import pathlib
import secrets
import stat
import tempfile

from graphc.compile.cache.errors import _Refused, _warn_once

_KEY_BYTES = 32


def _key_path() -> pathlib.Path:
    """Where this user's key lives: never inside a cache directory others may write."""
    env = os.environ.get("GRAPHC_CACHE_KEY")
    if env:
        return pathlib.Path(env).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return pathlib.Path(config) / "graphc" / "cache.key"


def _signing_key(directory=None):
    """This user's key (created on first use), or None with a warning when it is unusable."""
    path = _key_path()
    try:
        if directory is not None and pathlib.Path(directory).resolve() in path.resolve().parents:
            raise _Refused(f"the key {path} is inside the cache directory {directory}, which others "
                           "may write: set GRAPHC_CACHE_KEY (or XDG_CONFIG_HOME) to a place of your own")
        try:
            return _read_key(path)
        except FileNotFoundError:
            _create_key(path)
            return _read_key(path)
    except OSError as exc:
        reason = f"cannot make or read the key {path} ({exc.strerror or exc})"
    except _Refused as exc:
        reason = str(exc)
    _warn_once(("key", str(path), reason), f"graphc compile cache: not reading or writing cache entries: {reason}")
    return None


def _read_key(path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _Refused(f"the key {path} is not a regular file")
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise _Refused(f"the key {path} belongs to uid {info.st_uid}, not to you "
                           f"(uid {os.geteuid()}): delete it and a new one is made")
        if info.st_mode & 0o077:
            raise _Refused(f"the key {path} has mode {stat.S_IMODE(info.st_mode):04o}, so others "
                           f"may read or change it: run `chmod 600 {path}` (or delete it)")
        data = f.read(_KEY_BYTES + 1)
    if len(data) != _KEY_BYTES:
        raise _Refused(f"the key {path} holds {len(data)} bytes, not {_KEY_BYTES}: delete it and "
                       "a new one is made")
    return data


def _create_key(path) -> None:
    """32 random bytes, mode 0600, made atomically: written under a temporary name, then
    hard-linked into place, which fails rather than replace a key another process made first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cache.key.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(_KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its key
    finally:
        os.unlink(tmp)
