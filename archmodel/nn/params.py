"""Parameter containers and initialisation.

Parameters of every archmodel network are a *flat* ``dict[str, numpy.ndarray]`` mapping a
dotted name (``"head.fc0.weight"``) to an array, so a whole model saves to one ``.npz`` file
without pickling and gradients use the same keys.

Initialisation scheme (PyTorch defaults, drawn from a :class:`numpy.random.Generator`):

* ``Linear`` weight ``[in, out]`` and bias ``[out]``: ``uniform(-1/sqrt(in), 1/sqrt(in))``;
* ``Embedding`` table ``[n, dim]``: ``normal(0, 1)``.

Draws are made in float64 and then cast, so float32 and float64 parameters initialised from the
same seed agree to float32 rounding.
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping

import numpy as np

from archmodel.errors import ParameterError

#: A flat parameter (or gradient) dictionary: dotted name -> array.
Params = Dict[str, np.ndarray]

_ALLOWED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype: object, owner: str = "archmodel.nn") -> np.dtype:
    """Return ``numpy.dtype(dtype)`` if it is float32 or float64, else raise ParameterError.

    Parameters
    ----------
    dtype : dtype-like
        ``np.float32``, ``np.float64``, ``"float32"``, ``"float64"``...
    owner : str
        Named in the error message.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _ALLOWED_DTYPES:
        raise ParameterError(
            f"The 'dtype' parameter of {owner} must be one of {{'float32', 'float64'}}. "
            f"Got {dtype!r} instead."
        )
    return dt


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Normalise ``rng`` with :func:`numpy.random.default_rng`."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def uniform_init(rng: np.random.Generator, shape: tuple[int, ...], bound: float,
                 dtype: np.dtype | type = np.float32) -> np.ndarray:
    """``uniform(-bound, bound)`` of ``shape``, drawn in float64 and cast to ``dtype``."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype, copy=False)


def normal_init(rng: np.random.Generator, shape: tuple[int, ...], std: float = 1.0,
                dtype: np.dtype | type = np.float32) -> np.ndarray:
    """``normal(0, std)`` of ``shape``, drawn in float64 and cast to ``dtype``."""
    return (rng.standard_normal(size=shape) * std).astype(dtype, copy=False)


def params_dtype(params: Mapping[str, np.ndarray], names: Iterable[str] | None = None) -> np.dtype:
    """The common floating dtype of ``params`` (or of the named subset); ParameterError if mixed."""
    keys = list(params) if names is None else list(names)
    dtypes = {np.dtype(params[k].dtype) for k in keys}
    if len(dtypes) != 1:
        raise ParameterError(f"parameters must share one dtype; found {sorted(map(str, dtypes))}")
    dt = dtypes.pop()
    check_dtype(dt)
    return dt


def require_params(params: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]],
                   owner: str) -> None:
    """Check that ``params`` holds every name of ``shapes`` with that shape.

    Raises
    ------
    ParameterError
        Naming the missing parameter or the wrong shape.
    """
    for name, shape in shapes.items():
        if name not in params:
            raise ParameterError(f"{owner}: parameter {name!r} is missing from the params dict.")
        arr = params[name]
        if not isinstance(arr, np.ndarray) or tuple(arr.shape) != tuple(shape):
            got = getattr(arr, "shape", type(arr).__name__)
            raise ParameterError(f"{owner}: parameter {name!r} must have shape {tuple(shape)}; got {got}.")
        if arr.dtype not in _ALLOWED_DTYPES:
            raise ParameterError(
                f"{owner}: parameter {name!r} must be float32 or float64; got {arr.dtype}.")


def zeros_like(params: Mapping[str, np.ndarray]) -> Params:
    """A dict of zero arrays with the names, shapes and dtypes of ``params``."""
    return {k: np.zeros_like(v) for k, v in params.items()}


def add_into(total: Params, grads: Mapping[str, np.ndarray]) -> Params:
    """``total[k] += grads[k]`` for every key (keys missing in ``total`` are copied in)."""
    for k, g in grads.items():
        if k in total:
            total[k] += g
        else:
            total[k] = np.array(g, copy=True)
    return total


def cast_params(params: Mapping[str, np.ndarray], dtype: object) -> Params:
    """A copy of ``params`` with every array cast to ``dtype`` (float32 or float64)."""
    dt = check_dtype(dtype)
    return {k: np.array(v, dtype=dt, copy=True) for k, v in params.items()}


def count_params(params: Mapping[str, np.ndarray]) -> int:
    """Total number of scalars in ``params``."""
    return int(sum(v.size for v in params.values()))
