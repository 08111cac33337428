"""Run-time configuration: which kernel backend to use, Numba caching.

Backend resolution follows networkx's dispatch order:

1. an explicit ``backend=`` argument,
2. the innermost :func:`use_backend` context (or :func:`set_backend`),
3. the ``ARCHMODEL_BACKEND`` environment variable,
4. the default: ``"numba"`` when Numba is installed, else ``"numpy"``.

Numba's on-disk cache is on by default and lives in a per-user folder
(:func:`numba_cache_root`): ``ARCHMODEL_NUMBA_CACHE=0`` turns it off,
``ARCHMODEL_NUMBA_CACHE_DIR`` moves it. Both are read when the Numba backend is first used.
The Numba backend keys a subfolder by archmodel, Numba and Python versions, the CPU and a hash
of the kernel sources (see ``archmodel.backends.numba._jit``), so an upgrade never loads stale
machine code.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import os
import sys
from pathlib import Path
from typing import Iterator

from archmodel.errors import ParameterError

ENV_BACKEND = "ARCHMODEL_BACKEND"
ENV_NUMBA_CACHE = "ARCHMODEL_NUMBA_CACHE"
ENV_NUMBA_CACHE_DIR = "ARCHMODEL_NUMBA_CACHE_DIR"

_FALSE_WORDS = {"0", "false", "no", "off"}

#: Names of the kernel backends (``archmodel.backends.KERNEL_BACKENDS`` maps each to its package).
BACKEND_NAMES: tuple[str, ...] = ("numpy", "numba")

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


def check_backend_name(name: str) -> str:
    """Raise :class:`~archmodel.errors.ParameterError` unless ``name`` is a known kernel backend."""
    if name not in BACKEND_NAMES:
        raise ParameterError(
            f"Unknown backend {name!r}: allowed values are {sorted(BACKEND_NAMES)} "
            "(set by backend=, archmodel.config.use_backend, or ARCHMODEL_BACKEND)."
        )
    return name


def set_backend(name: str | None) -> None:
    """Set the process-wide backend (``None`` restores the default resolution)."""
    global _global_backend
    if name is not None:
        check_backend_name(name)
    _global_backend = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager selecting a backend for the code inside it."""
    check_backend_name(name)
    token = _backend_ctx.set(name)
    try:
        yield
    finally:
        _backend_ctx.reset(token)


def numba_cache_enabled() -> bool:
    """Whether jitted kernels use the on-disk cache (default on; ``ARCHMODEL_NUMBA_CACHE=0`` is off).

    ``0``, ``false``, ``no`` and ``off`` (any case) turn the cache off; unset, empty or any
    other value (``1``, ``true``, ...) leaves it on.
    """
    return env_switch_on(ENV_NUMBA_CACHE)


def env_switch_on(name: str) -> bool:
    """Whether the on/off environment variable ``name`` leaves its feature on (the default):
    ``0``, ``false``, ``no`` and ``off`` (any case) turn it off; unset, empty or anything else
    leaves it on."""
    return os.environ.get(name, "").strip().lower() not in _FALSE_WORDS


def user_cache_home() -> Path:
    """The platform's per-user cache folder (XDG on Linux and other Unixes); archmodel's caches
    live in its ``archmodel`` subfolder."""
    if sys.platform.startswith("win"):
        local = os.environ.get("LOCALAPPDATA", "").strip()
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    # the XDG spec says to ignore relative paths
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


def numba_cache_root() -> Path:
    """The folder under which compiled kernels are cached (not created here).

    In order: ``ARCHMODEL_NUMBA_CACHE_DIR``; ``$NUMBA_CACHE_DIR/archmodel`` when Numba's own
    cache folder is set; else the per-user cache folder: ``$XDG_CACHE_HOME/archmodel/numba``
    (``~/.cache/archmodel/numba``) on Linux, ``~/Library/Caches/archmodel/numba`` on macOS,
    ``%LOCALAPPDATA%\\archmodel\\numba`` on Windows. The Numba backend adds a versioned
    subfolder. Cache files are pickles: point the variables only at folders whose writers you
    trust (by default only the user's own processes write there).

    Returns
    -------
    pathlib.Path
        An absolute path (``~`` expanded).
    """
    explicit = os.environ.get(ENV_NUMBA_CACHE_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    numba_dir = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    if numba_dir:
        return (Path(numba_dir).expanduser() / "archmodel").absolute()
    return (user_cache_home() / "archmodel" / "numba").absolute()
