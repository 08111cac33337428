"""The low-fidelity signal registry: each signal is one named column over architectures.

A signal name resolves, for architectures of a search space, to a float64 column with NaN
where the signal is missing:

* computed by archmodel (every cell of the space): ``params``, ``macs`` and ``flops``
  (:func:`archmodel.signals.nb201_complexity`; ``flops`` in NASLib's convention,
  :func:`archmodel.signals.naslib_flops`) for NAS-Bench-201;
* from the NASLib zero-cost file of the space (``zc/<space>``, joined by architecture):
  ``file:NAME`` for any of its columns (``file:params``, ``file:flops``, ``file:synflow``, ...),
  and the proxies' plain names (``synflow``, ``jacov``, ``nwot``, ``snip``, ``grad_norm``,
  ``grasp``, ``fisher``, ``epe_nas``, ``l2_norm``, ``plain``) where archmodel computes no
  column of that name; ``jacob_cov`` is an alias of ``jacov``;
* ``oneshot:PATH``: the one-shot accuracy of each NB201 cell with the saved supernet at
  ``PATH`` (vanilla or CLOSENet, :func:`archmodel.supernet.evaluate.score_file`; about 0.2 s
  per cell on one core);
* a column of the data set itself (its ``low_fidelity`` mapping), which wins over both.

NASLib's failure values (``-1e8``; ``-inf``/``nan`` scores) are missing values, never scores.

Examples
--------
>>> from archmodel.signals import signal_column
>>> from archmodel.spaces import get_space
>>> archs = get_space("nb201").sample(3, 0)
>>> signal_column("params", archs, space="nb201").shape
(3,)
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from archmodel.errors import DataError, ParameterError

__all__ = ["signal_column", "signal_columns", "is_computed", "file_cells", "COMPUTED", "ALIASES",
           "NASLIB_FAILURE", "clean_signal"]

#: NASLib's zero-cost failure value
NASLIB_FAILURE = -1e8
ALIASES = {"jacob_cov": "jacov"}


@functools.lru_cache(maxsize=4)
def _nb201_complexity(seqs: tuple[tuple[int, ...], ...]) -> dict[str, np.ndarray]:
    from archmodel.signals.complexity import nb201_complexity

    return nb201_complexity(np.array(seqs, np.int64).reshape(len(seqs), 6))


def _nb201_params(archs: Sequence[Any]) -> np.ndarray:
    return _nb201_complexity(tuple(a.seq for a in archs))["params"].astype(np.float64)


def _nb201_macs(archs: Sequence[Any]) -> np.ndarray:
    return np.asarray(_nb201_complexity(tuple(a.seq for a in archs))["macs"], np.float64)


def _nb201_flops(archs: Sequence[Any]) -> np.ndarray:
    from archmodel.signals.complexity import naslib_flops

    return np.asarray(naslib_flops(archs), np.float64)


#: (space, name) -> function of the architectures
COMPUTED: dict[tuple[str, str], Callable[[Sequence[Any]], np.ndarray]] = {
    ("nb201", "params"): _nb201_params,
    ("nb201", "macs"): _nb201_macs,
    ("nb201", "flops"): _nb201_flops,
}


def clean_signal(col: Any) -> np.ndarray:
    """A float64 copy of ``col`` with NASLib's failure values and non-finite entries as NaN."""
    col = np.array(col, dtype=np.float64)
    col[(col == NASLIB_FAILURE) | ~np.isfinite(col)] = np.nan
    return col


def is_computed(name: str, space: str) -> bool:
    """Whether archmodel computes the signal ``name`` itself for every cell of ``space`` (else it
    comes from the data set or the zero-cost file)."""
    return not name.startswith("file:") and (space, ALIASES.get(name, name)) in COMPUTED


def _zc_file(name: str, space: str) -> Any:
    from archmodel.data import load_dataset

    try:
        return load_dataset(f"zc/{space}")
    except (DataError, ParameterError, KeyError) as exc:
        raise DataError(f"signal {name!r}: no zero-cost file of space {space!r} was found ({exc})") from None


def file_cells(space: str) -> list[Any]:
    """The architectures the zero-cost file of ``space`` covers (where its signals can exist)."""
    return list(_zc_file("file:*", space).archs)


def _file_column(name: str, archs: Sequence[Any], space: str) -> np.ndarray:
    zc = _zc_file(name, space)
    if name not in zc.low_fidelity:
        raise DataError(f"signal {name!r}: unknown; the zero-cost file of {space!r} has "
                        f"{sorted(zc.low_fidelity)}, and archmodel computes "
                        f"{sorted(n for s, n in COMPUTED if s == space) or 'none'} for it")
    by_seq = {a.seq: float(v) for a, v in zip(zc.archs, zc.low_fidelity[name])}
    return np.array([by_seq.get(a.seq, np.nan) for a in archs], dtype=np.float64)


def _oneshot_column(path: str, archs: Sequence[Any], space: str) -> np.ndarray:
    if space != "nb201":
        raise ParameterError(f"signal 'oneshot:{path}': the supernet scores NB201 cells; got space {space!r}")
    from archmodel.spaces import get_space
    from archmodel.supernet.evaluate import score_file

    sp = get_space(space)
    scores, _ = score_file(path, [sp.format(a) for a in archs])
    return scores["accuracy"]


def signal_column(name: str, archs: Sequence[Any] | Any, *, space: str | None = None) -> np.ndarray:
    """The signal ``name`` for ``archs`` (a Dataset, or Arch objects of one space).

    Parameters
    ----------
    name : str
        See the module docstring.
    archs : Dataset or sequence of Arch
    space : str, optional
        Search space name (default: the data set's or the architectures').

    Returns
    -------
    ndarray float64 [n]
        NaN where the signal is missing (not in the file, or a failure value).
    """
    low = getattr(archs, "low_fidelity", None) or {}
    if hasattr(archs, "archs"):
        space = space or archs.space
        archs = list(archs.archs)
    archs = list(archs)
    if space is None:
        space = archs[0].space if archs else None
    if not isinstance(name, str) or not name:
        raise ParameterError(f"a signal name must be a non-empty string; got {name!r}")
    if name in low:
        return clean_signal(low[name])
    if name.startswith("file:"):
        return clean_signal(_file_column(ALIASES.get(name[5:], name[5:]), archs, space))
    if name.startswith("oneshot:"):
        return clean_signal(_oneshot_column(name[8:], archs, space))
    key = ALIASES.get(name, name)
    if is_computed(name, space):
        return clean_signal(COMPUTED[(space, key)](archs))
    return clean_signal(_file_column(key, archs, space))


def signal_columns(names: Sequence[str], archs: Sequence[Any] | Any, *,
                   space: str | None = None) -> dict[str, np.ndarray]:
    """:func:`signal_column` for each name, in order (the zero-cost file is read once)."""
    return {n: signal_column(n, archs, space=space) for n in names}
