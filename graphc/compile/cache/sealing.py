"""An entry file's bytes: a magic line, an HMAC-SHA256 tag, then the payload; and reading such
a file without following links or blocking on FIFOs and devices."""
from __future__ import annotations

import hashlib
import hmac
import os
import stat

from graphc.compile.cache.errors import _Refused

_MAGIC = b"graphc compile cache, format 2\n"  # the file starts so; then the tag, then the payload
_TAG_BYTES = 32      # HMAC-SHA256
_MAX_ENTRY_BYTES = 1 << 30  # read no more than this into memory, whatever the file says


def _seal(name: str, payload: bytes, key: bytes) -> bytes:
    """The file's bytes: the magic line, the tag, the payload. The tag also covers the name
    the entry is filed under, so a genuine entry moved to another graph's name is refused."""
    return _MAGIC + _tag(name, payload, key) + payload


def _tag(name: str, payload: bytes, key: bytes) -> bytes:
    return hmac.new(key, _MAGIC + name.encode() + b"\n" + payload, hashlib.sha256).digest()


def _unseal(name: str, data: bytes, key: bytes) -> bytes:
    """The payload of a file written by ``_seal`` with ``key``, else _Refused."""
    if not data.startswith(_MAGIC):
        raise _Refused("not a graphc cache entry of this format")
    tag = data[len(_MAGIC):len(_MAGIC) + _TAG_BYTES]
    payload = data[len(_MAGIC) + _TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(name, payload, key)):
        raise _Refused("its signature does not match this user's key (written by someone else, "
                       "for another graph, or changed since)")
    return payload


def _read_entry_file(path):
    """The file's bytes, or None if there is none. Not through a symbolic link, and never from
    a FIFO or device (a planted one could block or feed endless bytes)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Refused(f"cannot open it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _Refused("not a regular file")
        if info.st_size > _MAX_ENTRY_BYTES:
            raise _Refused(f"{info.st_size} bytes, more than an entry may hold")
        return f.read(_MAX_ENTRY_BYTES)
