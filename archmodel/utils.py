"""Small shared utilities: hardware description for benchmarks, BLAS thread control, timing."""
from __future__ import annotations

import contextlib
import contextvars
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


_blas_controller: object = None  # threadpoolctl controller, built on first use; False if unavailable
_blas_limit: contextvars.ContextVar[int | None] = contextvars.ContextVar("archmodel_blas_limit", default=None)


def _controller() -> object:
    global _blas_controller
    if _blas_controller is None:
        try:
            # load SciPy's BLAS (the one Numba's np.dot calls) *before* the controller takes
            # its inventory, or that BLAS would stay multi-threaded inside worker threads
            import scipy.linalg.cython_blas  # noqa: F401
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - optional
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()
    return _blas_controller


@contextlib.contextmanager
def blas_threads(n: int | None = 1) -> Iterator[None]:
    """Limit every loaded BLAS (NumPy's and SciPy's) to ``n`` threads inside the block.

    A no-op when threadpoolctl is missing, when ``n`` is None, or when an enclosing block of
    this thread already set the same limit (so nesting costs nothing). OpenBLAS with several
    threads is much *slower* on the small matmuls of architecture encoders; archmodel runs them
    single-threaded and parallelises at the batch level instead.
    """
    ctl = _controller() if n is not None and _blas_limit.get() != n else False
    if ctl is False:
        yield
        return
    token = _blas_limit.set(n)
    try:
        with ctl.limit(limits=n, user_api="blas"):  # type: ignore[attr-defined]
            yield
    finally:
        _blas_limit.reset(token)


class Timer:
    """``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
