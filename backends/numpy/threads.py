"""Running a blocked kernel's shares of blocks on several threads.

NumPy releases the GIL inside ufunc loops, so threads working on disjoint blocks of the same
arrays run in parallel. ``GRAPHC_NUM_THREADS`` sets how many (default: the CPU count, at most
8); 1 turns threading off.
"""
from __future__ import annotations

import concurrent.futures
import math
import os

MIN_BLOCKS_PER_THREAD = 2  # fewer blocks than this per thread: not worth the hand-off


def thread_count() -> int:
    configured = os.environ.get("GRAPHC_NUM_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, min(os.cpu_count() or 1, 8))


_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _executor(workers: int):
    global _pool
    if _pool is None or _pool._max_workers < workers:  # noqa: SLF001 - sizing our own pool
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                      thread_name_prefix="graphc-kernel")
    return _pool


def run_shares(share, n: int, step: int) -> list:
    """Split the blocks of [0, n) (``step`` each) into contiguous shares, run ``share(start,
    stop)`` on each (the first in the calling thread) and return their results in order."""
    blocks = math.ceil(n / step)
    workers = min(thread_count(), blocks // MIN_BLOCKS_PER_THREAD)
    if workers <= 1:
        return [share(0, n)]
    per = math.ceil(blocks / workers)
    bounds = [(k * per * step, min((k + 1) * per * step, n)) for k in range(workers)]
    bounds = [(a, b) for a, b in bounds if a < b]
    pool = _executor(len(bounds) - 1)
    futures = [pool.submit(share, a, b) for a, b in bounds[1:]]
    first = share(*bounds[0])
    return [first] + [f.result() for f in futures]
