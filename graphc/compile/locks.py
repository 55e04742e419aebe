"""Locks that make calls updating the same variables run one at a time.

A compiled call reads its variables, computes, then stores the new values: two such calls
running at once on different threads would both read the old value and one update would be
lost. Each variable has a lock; a call takes the locks of the variables it updates, always in
the variables' creation order, so two calls over overlapping sets cannot deadlock.
"""
from __future__ import annotations

import threading
import weakref

_registry_lock = threading.Lock()
_locks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class LockSet:
    """``with locks:`` holds every lock of the set, taken in a fixed order."""

    __slots__ = ("_locks",)

    def __init__(self, locks):
        self._locks = tuple(locks)

    def __enter__(self):
        for lock in self._locks:
            lock.acquire()
        return self

    def __exit__(self, *exc):
        for lock in reversed(self._locks):
            lock.release()
        return False


def variable_locks(variables) -> LockSet:
    """The locks of ``variables`` (created on first use), in creation order."""
    with _registry_lock:
        ordered = sorted(set(variables), key=lambda v: v.id)
        return LockSet(_locks.setdefault(v, threading.Lock()) for v in ordered)
