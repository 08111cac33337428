"""Kernel backends behind one small interface.

A backend is a package with one module per kernel family (``nn``, ``gates``, ``conv``, ...).
Every backend implements the same functions with the same names and signatures:

* ``numpy``: the reference implementation and the specification of each kernel;
* ``numba``: the same kernels, jitted (compiled lazily, on first call);
* ``onnxruntime``: inference for exported predictors (see :mod:`archmodel.export`).

The core never imports Numba: it asks :func:`get_backend` for a backend and calls
``backend.<family>.<kernel>(arrays...)``.

Examples
--------
>>> from archmodel.backends import get_backend
>>> be = get_backend("numpy")
>>> be.name
'numpy'
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from archmodel.config import check_backend_name, numba_installed, resolve_backend_name
from archmodel.errors import MissingDependencyError

__all__ = ["Backend", "KERNEL_BACKENDS", "available_backends", "check_backend_name", "get_backend"]

#: Kernel backends: name -> (package, pip extra that provides its dependency).
KERNEL_BACKENDS: dict[str, tuple[str, str | None]] = {
    "numpy": ("archmodel.backends.numpy", None),
    "numba": ("archmodel.backends.numba", "numba"),
}

_cache: dict[str, "Backend"] = {}


class Backend:
    """A kernel backend: attribute access returns the backend's kernel-family module.

    Parameters
    ----------
    name : str
        Backend name, a key of :data:`KERNEL_BACKENDS`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._package = KERNEL_BACKENDS[name][0]
        self._families: dict[str, ModuleType] = {}

    def __getattr__(self, family: str) -> Any:
        if family.startswith("_"):
            raise AttributeError(family)
        try:
            return self._families[family]
        except KeyError:
            pass
        try:
            module = importlib.import_module(f"{self._package}.{family}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{self._package}.{family}":
                raise AttributeError(f"backend {self.name!r} has no kernel family {family!r}") from None
            raise
        self._families[family] = module
        return module

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


def get_backend(name: str | None = None) -> Backend:
    """Return the kernel backend ``name``, resolved as in :mod:`archmodel.config`.

    Raises
    ------
    ParameterError
        If the name is unknown.
    MissingDependencyError
        If the backend's dependency is not installed (the message names the pip extra).
    """
    name = check_backend_name(resolve_backend_name(name))
    if name in _cache:
        return _cache[name]
    package, extra = KERNEL_BACKENDS[name]
    try:
        importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(
            f"The {name!r} backend needs {extra!r}, which is not installed: "
            f"pip install 'archmodel[{extra}]' (or use backend='numpy'). ({exc})"
        ) from None
    backend = Backend(name)
    _cache[name] = backend
    return backend


def available_backends() -> list[str]:
    """Names of the kernel backends whose dependencies are installed."""
    names = ["numpy"]
    if numba_installed():
        names.append("numba")
    return names
