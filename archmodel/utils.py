"""Small shared utilities: hardware description for benchmarks, BLAS thread control, timing."""
from __future__ import annotations

import contextlib
import os
import platform
import time
from typing import Iterator


def hardware_summary() -> str:
    """One line describing this machine (CPU model, cores, Python, NumPy), for benchmark tables."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}; {os.cpu_count()} logical cores; Python {platform.python_version()}; "
            f"NumPy {np.__version__}; {platform.system()} {platform.machine()}")


@contextlib.contextmanager
def blas_threads(n: int | None = 1) -> Iterator[None]:
    """Limit BLAS threads inside the block (no-op if threadpoolctl is missing or ``n`` is None).

    OpenBLAS with several threads is much *slower* on the small matmuls of architecture
    encoders; archmodel runs them single-threaded and parallelises at the batch level instead.
    """
    if n is None:
        yield
        return
    try:
        # load SciPy's BLAS (the one Numba's np.dot calls) *before* limiting, or it would be
        # loaded later, outside the limit, and run multi-threaded inside worker threads
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


class Timer:
    """``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
