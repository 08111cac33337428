"""archmodel: architecture modeling.

Learn how a neural-network architecture (and the hardware under it) maps to its performance,
and use that model to search, estimate, transform and understand architectures.

The top-level import is deliberately light: it loads NumPy and this package's small core only.
Numba, onnx, onnxruntime and matplotlib are imported lazily, by the functions that need them.

Subpackages and modules
-----------------------
arch        immutable architecture type and conversions between representations
spaces      search spaces read from JSON specs (nb201, nb101, darts, enas, nasbench-graph)
data        benchmark data sets and loaders
metrics     ranking metrics (Kendall's tau, Spearman, precision@K, N@K, ...)
backends    kernel implementations: ``numpy`` (reference), ``numba``, ``onnxruntime``
testing     gradient checker and test helpers
"""
from __future__ import annotations

import importlib
from typing import Any

from archmodel._version import __version__
from archmodel.errors import (
    ArchModelError,
    DataError,
    InvalidArchitectureError,
    NotFittedError,
    ParameterError,
)

__all__ = [
    "__version__",
    "ArchModelError",
    "DataError",
    "InvalidArchitectureError",
    "NotFittedError",
    "ParameterError",
    "Arch",
    "get_space",
    "load_dataset",
]

_LAZY = {
    "Arch": ("archmodel.arch", "Arch"),
    "get_space": ("archmodel.spaces", "get_space"),
    "load_dataset": ("archmodel.data", "load_dataset"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'archmodel' has no attribute {name!r}")
