"""Restricted unpickling of the benchmark files that only exist as pickles.

Two benchmarks ship their data as Python pickles: AnalogNAS-Bench (``analognasbench/data.anb``,
a dict of ``analognasbench.data.Architecture`` objects) and NAS-Bench-Graph
(``nas_bench_graph/light/<dataset>.bench``, a dict of dicts of ``numpy.float64``). A plain
``pickle.load`` executes whatever callable a file names, so archmodel never uses it. Instead
:func:`restricted_load` resolves every global the file references through an explicit allow
list and refuses anything else with a :class:`~archmodel.errors.DataError` that names the
refused global.

* AnalogNAS-Bench: its two classes are mapped onto the plain stand-ins
  :class:`AnalogArchitecture` and :class:`DriftMeasurement` defined here, so neither the
  ``analog-nasbench`` package nor pandas (which it imports) is needed. No builtins are admitted:
  the file only uses pickle opcodes for its dicts, tuples, ints and floats.
* NAS-Bench-Graph: the files reference exactly ``numpy.core.multiarray.scalar`` and
  ``numpy.dtype`` (checked with ``pickletools``; numpy 2 pickles name
  ``numpy._core.multiarray.scalar``). Both are admitted through wrappers that accept only
  numeric (bool, int, unsigned, float) dtypes given as type strings and raw ``bytes`` payloads.

Examples
--------
>>> import io, pickle
>>> from archmodel.data.unpickle import restricted_load
>>> restricted_load(io.BytesIO(pickle.dumps({1: (2.0, 3)})), {}, what="demo")
{1: (2.0, 3)}
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import IO, Any, Callable, Mapping

import numpy as np

from archmodel.errors import DataError

__all__ = [
    "AnalogArchitecture",
    "DriftMeasurement",
    "ANALOG_NASBENCH_GLOBALS",
    "NUMPY_SCALAR_GLOBALS",
    "RestrictedUnpickler",
    "restricted_load",
]


class _Record:
    """A plain attribute bag filled by pickle's BUILD opcode (string keys only)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]  # (dict_state, slot_state) form
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise DataError(
                f"unexpected pickled state for {type(self).__name__}: expected a dict with string keys, "
                f"got {type(state).__name__}"
            )
        self.__dict__.update(state)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


class DriftMeasurement(_Record):
    """Stand-in for ``analognasbench.data.DriftMeasurement``.

    Attributes (set by unpickling)
    ------------------------------
    value : float
        Mean accuracy (%) over the repeated drift simulations.
    uncertainty : float
        Their standard deviation (percentage points).
    """


class AnalogArchitecture(_Record):
    """Stand-in for ``analognasbench.data.Architecture``.

    Attributes (set by unpickling)
    ------------------------------
    architecture : tuple of int
        The NASLib 6-tuple of the cell.
    baseline_accuracy, ptq_accuracy, qat_accuracy, noisy_accuracy, analog_accuracy : float
    baseline_drift_<T>, analog_drift_<T> : DriftMeasurement
        For T in 60, 3600, 86400, 2592000 seconds.
    """


#: The globals ``analognasbench/data.anb`` references, mapped onto archmodel's stand-ins.
ANALOG_NASBENCH_GLOBALS: dict[tuple[str, str], Any] = {
    ("analognasbench.data", "Architecture"): AnalogArchitecture,
    ("analognasbench.data", "DriftMeasurement"): DriftMeasurement,
}


def _numpy_scalar_function() -> Callable[..., Any]:
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    return scalar


_NUMERIC_KINDS = frozenset("biuf")


def _safe_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """``numpy.dtype`` restricted to numeric type strings such as ``'f8'``."""
    if not isinstance(spec, str) or len(spec) > 8:
        raise DataError(f"refusing to unpickle numpy.dtype({spec!r}): only numeric type strings are admitted")
    try:
        dt = np.dtype(spec, bool(align), bool(copy))
    except TypeError as exc:
        raise DataError(f"refusing to unpickle numpy.dtype({spec!r}): {exc}") from None
    if dt.kind not in _NUMERIC_KINDS:
        raise DataError(f"refusing to unpickle numpy.dtype({spec!r}): kind {dt.kind!r} is not numeric")
    return dt


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar`` restricted to numeric dtypes and raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS:
        raise DataError(f"refusing to unpickle a numpy scalar of dtype {dtype!r}: only numeric dtypes are admitted")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise DataError(
            f"malformed pickled numpy scalar: expected {dtype.itemsize} raw bytes, got {type(data).__name__}"
        )
    return _numpy_scalar_function()(dtype, data)


#: The globals a pickle of numpy numeric scalars references (both numpy 1 and numpy 2 names).
NUMPY_SCALAR_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("numpy", "dtype"): _safe_dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves globals only through an allow list.

    Parameters
    ----------
    file : binary file object
    allowed : mapping of (module, name) to object
        What each admitted global resolves to (usually archmodel's own stand-in, not the
        original). Every other global raises :class:`DataError`.
    what : str
        Name of the data being read, for messages.
    encoding : str
        How Python 2 ``str`` objects are decoded (``"bytes"`` keeps them as bytes, as
        CIFAR-10's Python 2 batches need); pickle's default is ``"ASCII"``.
    """

    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any], *, what: str,
                 encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = dict(allowed)
        self._what = what

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle API
        try:
            return self._allowed[(module, name)]
        except KeyError:
            pass
        admitted = ", ".join(sorted(f"{m}.{n}" for m, n in self._allowed)) or "none"
        raise DataError(
            f"{self._what}: refusing to unpickle the global {module}.{name}: archmodel reads this file with a "
            f"restricted unpickler that admits only [{admitted}]. The file is not the expected benchmark "
            "data (corrupt, a different version, or malicious)."
        )

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102 - pickle API
        raise DataError(f"{self._what}: refusing persistent id {pid!r} in pickle")


def restricted_load(source: str | os.PathLike | IO[bytes], allowed: Mapping[tuple[str, str], Any], *,
                    what: str | None = None, encoding: str = "ASCII") -> Any:
    """Unpickle ``source`` admitting only the globals in ``allowed``.

    Parameters
    ----------
    source : path or binary file object
    allowed : mapping of (module, name) to object
        For example :data:`ANALOG_NASBENCH_GLOBALS` or :data:`NUMPY_SCALAR_GLOBALS`.
    what : str, optional
        Name used in error messages (default: the path).
    encoding : str
        Decoding of Python 2 ``str`` objects (see :class:`RestrictedUnpickler`).

    Returns
    -------
    object
        The unpickled object.

    Raises
    ------
    DataError
        If the file is missing, is not a pickle, is truncated, or references a global that
        is not admitted (the message names it).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = what or str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{what}: no such file") from None
        except OSError as exc:
            raise DataError(f"{what}: cannot read: {exc}") from None
        fh: IO[bytes] = io.BytesIO(data)
    else:
        fh = source
        what = what or "pickle"
    try:
        return RestrictedUnpickler(fh, allowed, what=what, encoding=encoding).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, MemoryError) as exc:
        raise DataError(f"{what}: not a readable pickle (truncated or corrupt?): {type(exc).__name__}: {exc}") from None
