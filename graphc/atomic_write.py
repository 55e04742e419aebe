"""Atomic, durable file writes that leave no debris.

A file is written to a temporary beside it, flushed to disk and renamed over it, so readers see
the previous file or the new one, whole, even when the writer is killed. The temporary carries
the writer's PID and an advisory lock, so the next write of the same file can tell a killed
writer's leftovers (removed) from a running one's (left alone).
"""
from __future__ import annotations

import os
import re
import tempfile

try:
    import fcntl
except ImportError:   # not POSIX: writes are still atomic, but killed ones are not cleaned up
    fcntl = None


def write_atomically(path, write) -> None:
    """``write(f)`` into ``.<basename>.<pid>.<random>.tmp`` beside ``path`` (locked with
    ``flock`` while written), fsync, rename over ``path``, fsync the directory. Temporaries of
    earlier writes of ``path`` whose writer is gone are removed first."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale_temporaries(directory, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)   # released when the file closes or we die
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_current_umask())     # mkstemp made it 0600
            os.replace(tmp, path)
        _fsync_directory(directory)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _temporary_pattern(base: str):
    """The names temporaries of a file called ``base`` take: group 1 is the writer's PID."""
    return re.compile(re.escape(f".{base}.") + r"([0-9]{1,10})\.[A-Za-z0-9_]+\.tmp")


def _remove_stale_temporaries(directory: str, base: str) -> list:
    """Remove the temporaries of killed writes of ``directory/base``
    and return their paths. Best effort: a file that cannot be removed (gone already, another
    user's) is left where it is."""
    if os.name != "posix":
        return []
    pattern = _temporary_pattern(base)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or _writer_alive(int(match.group(1))):
            continue
        tmp = os.path.join(directory, name)
        try:
            with open(tmp, "rb") as f:
                if fcntl is not None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a live writer holds it
                os.unlink(tmp)
            removed.append(tmp)
        except OSError:   # BlockingIOError: still being written (a writer in another PID namespace)
            continue
    return removed


def _writer_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be writing: it exists and is not a zombie."""
    if pid <= 0:
        return True    # not a PID a writer has: leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True    # another user's running process
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            status = f.read()
        return status[status.rindex(b")") + 2:][:1] not in (b"Z", b"X")   # Z: killed, not reaped
    except (OSError, ValueError):
        return True


def _current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (``os.umask`` sets it
    process-wide for an instant, which another thread creating a file could observe)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    """Make the rename durable. Some file systems cannot fsync a directory: nothing to do there."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
