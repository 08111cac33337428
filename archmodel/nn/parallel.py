"""Batch-level parallelism for small-matrix workloads.

The matrix products of architecture encoders are small (hundreds of rows, ~128-300 columns):
multi-threaded BLAS is slower on them than single-threaded BLAS (OpenBLAS with 2 threads was
measured ~10x slower on this project's machines). archmodel therefore runs BLAS with one thread
and parallelises at the batch level instead: the batch is cut into a fixed number of chunks
(a function of the batch size only, so results do not depend on the number of threads), each
chunk runs the whole forward (or backward) pass in a worker thread, and NumPy / the ``nogil``
Numba kernels release the GIL while they compute.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import numpy as np

from archmodel.errors import check_range

T = TypeVar("T")

_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}
_local = threading.local()


def default_n_jobs() -> int:
    """Number of CPUs this process may use (``os.sched_getaffinity`` where available)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def resolve_n_jobs(n_jobs: int | None, owner: str = "archmodel") -> int:
    """``None`` -> :func:`default_n_jobs`; ``-1`` -> same; otherwise a positive int."""
    if n_jobs is None or n_jobs == -1:
        return default_n_jobs()
    check_range(owner, "n_jobs", n_jobs, 1, integer=True)
    return int(n_jobs)


def _pool(n: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _pools.get(n)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="archmodel-nn")
            _pools[n] = pool
        return pool


def chunk_slices(n_rows: int, chunk_rows: int) -> list[slice]:
    """Cut ``range(n_rows)`` into ``ceil(n_rows / chunk_rows)`` near-equal contiguous slices."""
    n_chunks = max(1, -(-n_rows // max(1, chunk_rows)))
    bounds = np.linspace(0, n_rows, n_chunks + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _in_worker(fn: Callable[[], T]) -> T:
    prev = getattr(_local, "in_worker", False)
    _local.in_worker = True
    try:
        return fn()
    finally:
        _local.in_worker = prev


def map_chunks(fn: Callable[[int], T], n_chunks: int, n_jobs: int) -> list[T]:
    """``[fn(0), fn(1), ...]``, evaluated on up to ``n_jobs`` threads, results in order.

    Runs inline when ``n_jobs == 1``, there is one chunk, or we already are in a worker thread.
    Otherwise the calling thread takes part: it runs chunk 0 while up to ``n_jobs - 1`` worker
    threads start on the others, then runs every chunk that no worker has started yet (on a
    busy machine a worker may wait long for a core; this thread never waits for work that has
    not begun). Which thread runs a chunk changes no result.
    """
    if n_jobs <= 1 or n_chunks <= 1 or getattr(_local, "in_worker", False):
        return [fn(i) for i in range(n_chunks)]
    pool = _pool(min(n_jobs, n_chunks) - 1)
    futures = [pool.submit(_in_worker, lambda i=i: fn(i)) for i in range(1, n_chunks)]
    try:
        out = [_in_worker(lambda: fn(0))]
        for i, fut in enumerate(futures, start=1):
            out.append(_in_worker(lambda i=i: fn(i)) if fut.cancel() else fut.result())
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return out


def run_pair(first: Callable[[], T], second: Callable[[], Any], n_jobs: int) -> tuple[T, Any]:
    """``(first(), second())``, with ``second`` on a worker thread while this thread runs
    ``first`` (``n_jobs > 1``, outside a worker); if no worker has started ``second`` by then,
    this thread runs it. Both must release the GIL to gain anything (NumPy, BLAS, the
    ``nogil`` Numba kernels); which thread runs what changes no result."""
    if n_jobs <= 1 or getattr(_local, "in_worker", False):
        return first(), second()
    fut = _pool(1).submit(_in_worker, second)
    try:
        a = _in_worker(first)
    except BaseException:
        fut.cancel()
        raise
    return a, (_in_worker(second) if fut.cancel() else fut.result())


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """Limit every loaded BLAS to 1 thread: :func:`archmodel.utils.blas_threads` ``(1)``."""
    from archmodel.utils import blas_threads

    return blas_threads(1)
