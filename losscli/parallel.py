"""Row blocks over a few threads: NumPy releases the GIL inside its loops, so independent
blocks of rows computed in threads use several cores.

Results do not depend on the number of threads: each row is computed by one thread, with the
same operations in the same order as in a single thread, and any sums over blocks are combined
by the caller in the blocks' order.

``LOSSCLI_THREADS`` sets the number of threads (1 turns threading off); the default is the
number of CPUs this process may run on, at most ``MAX_THREADS``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["threads", "map_row_blocks"]

MAX_THREADS = 4  # memory-bound kernels gain little beyond a few cores
MIN_ELEMENTS = 1 << 17  # below this, handing work to a thread costs more than it saves

T = TypeVar("T")
_pool: Any = None  # a ThreadPoolExecutor, made on first use (its import costs ~10 ms)
_lock = threading.Lock()


def threads() -> int:
    """Threads to use: ``LOSSCLI_THREADS``, else the usable CPUs up to ``MAX_THREADS``."""
    value = os.environ.get("LOSSCLI_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, min(_cpus(), MAX_THREADS))


@functools.cache
def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def map_row_blocks(
    work: Callable[[slice], T], rows: int, row_elements: int, *, align: int = 1
) -> list[T]:
    """``work(block)`` over contiguous blocks of ``range(rows)``, one per thread, in order.

    Runs in the calling thread alone when there is one thread or too little work
    (``rows × row_elements`` below ``MIN_ELEMENTS``). Block boundaries are multiples of
    ``align`` rows (so callers with inner blocks of that size cut rows the same way).
    """
    if rows * row_elements < MIN_ELEMENTS or rows < 2 * align or (n := threads()) == 1:
        return [work(slice(0, rows))]
    step = -(-rows // n)
    step = -(-step // align) * align
    blocks = [slice(start, min(rows, start + step)) for start in range(0, rows, step)]
    if getattr(_in_worker, "active", False):  # nested: a pool thread must not wait on the pool
        return [work(b) for b in blocks]
    futures = [_executor().submit(_run_in_worker, work, b) for b in blocks[1:]]
    try:
        first = work(blocks[0])  # the calling thread takes a block too
        return [first, *(f.result() for f in futures)]
    except BaseException:
        # Interrupted (Ctrl-C) or failed: no worker may still be reading the caller's arrays
        # (a memory map about to be closed) when this returns. Cancel what has not started,
        # wait for what has (one block each, short).
        from concurrent.futures import wait

        for f in futures:
            f.cancel()
        wait(futures)
        raise


_in_worker = threading.local()


def _run_in_worker(work: Callable[[slice], T], block: slice) -> T:
    _in_worker.active = True
    return work(block)


def _executor() -> Any:
    global _pool
    with _lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(threads(), thread_name_prefix="losscli-rows")
            # Idle workers never hold up interpreter shutdown: at exit, stop the pool without
            # waiting for queued work (map_row_blocks has waited for its own blocks already).
            import atexit

            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool
