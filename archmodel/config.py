"""Run-time configuration: which kernel backend to use, Numba caching.

Backend resolution follows networkx's dispatch order:

1. an explicit ``backend=`` argument,
2. the innermost :func:`use_backend` context (or :func:`set_backend`),
3. the ``ARCHMODEL_BACKEND`` environment variable,
4. the default: ``"numba"`` when Numba is installed, else ``"numpy"``.

Numba's on-disk cache is opt-in: set ``ARCHMODEL_NUMBA_CACHE=1`` before the Numba backend
is first used.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import os
from typing import Iterator

ENV_BACKEND = "ARCHMODEL_BACKEND"
ENV_NUMBA_CACHE = "ARCHMODEL_NUMBA_CACHE"

_backend_ctx: contextvars.ContextVar[str | None] = contextvars.ContextVar("archmodel_backend", default=None)
_global_backend: str | None = None


def numba_installed() -> bool:
    """Whether Numba can be imported (checked without importing it)."""
    return importlib.util.find_spec("numba") is not None


def default_backend_name() -> str:
    """The backend used when nothing else is configured."""
    return "numba" if numba_installed() else "numpy"


def resolve_backend_name(backend: str | None = None) -> str:
    """Apply the resolution order above and return a backend name (not validated here)."""
    if backend is not None:
        return backend
    ctx = _backend_ctx.get()
    if ctx is not None:
        return ctx
    if _global_backend is not None:
        return _global_backend
    env = os.environ.get(ENV_BACKEND, "").strip()
    if env:
        return env
    return default_backend_name()


def set_backend(name: str | None) -> None:
    """Set the process-wide backend (``None`` restores the default resolution)."""
    global _global_backend
    if name is not None:
        from archmodel.backends import check_backend_name

        check_backend_name(name)
    _global_backend = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager selecting a backend for the code inside it."""
    from archmodel.backends import check_backend_name

    check_backend_name(name)
    token = _backend_ctx.set(name)
    try:
        yield
    finally:
        _backend_ctx.reset(token)


def numba_cache_enabled() -> bool:
    """Whether jitted kernels should use Numba's on-disk cache (opt-in)."""
    return os.environ.get(ENV_NUMBA_CACHE, "").strip().lower() in {"1", "true", "yes", "on"}
