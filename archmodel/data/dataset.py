"""The :class:`Dataset` type: architectures of one search space with their measured metrics."""
from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.errors import DataError, InvalidArchitectureError, ParameterError

__all__ = ["Dataset"]


def _frozen_column(owner: str, name: Any, values: Any, n: int) -> np.ndarray:
    if not isinstance(name, str) or not name:
        raise DataError(f"{owner}: column names must be non-empty strings; got {name!r}")
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{owner}: column {name!r} is not numeric: {exc}") from None
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"{owner}: column {name!r} must have shape ({n},); got {arr.shape}")
    arr.flags.writeable = False
    return arr


def _stats(arr: np.ndarray) -> dict[str, Any]:
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "n_missing": int(arr.size)}
    return {"min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean()),
            "n_missing": int(arr.size - finite.size)}


def _json_float(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


class Dataset:
    """Architectures of one search space with their metrics: what predictors train on.

    Treat instances as immutable: the arrays are read-only and ``archs`` is a tuple; the
    dicts holding them are plain dicts that must not be modified (:func:`load_dataset`
    shares cached instances). Derive new data sets with :meth:`subset`, :meth:`deduplicate`
    or :func:`archmodel.data.train_test_split`.

    Parameters
    ----------
    name : str
        Data set name (e.g. ``'nb201-analog'``).
    space : str
        Search-space name; every architecture must belong to it.
    archs : sequence of Arch, length n
    metrics : mapping of str to array-like of float, each shape (n,)
        Measured targets (accuracy, latency, ...). Stored as read-only float64; NaN marks a
        missing value.
    low_fidelity : mapping of str to array-like of float, each shape (n,), optional
        Cheap proxies (zero-cost scores, FLOPs, ...). Names must differ from the metric names.
    info : dict, optional
        Free-form, JSON-able provenance. Conventional keys: ``source``, ``license``,
        ``description``, ``citation``, ``location`` (the file read), ``units`` (metric name to
        unit), ``ids`` (what :attr:`ids` holds).
    ids : array-like of int, shape (n,), optional
        Each row's identifier in its source (NB201 index, NAS-Bench-Graph hash, ...). Default:
        ``0..n-1``.
    default_target : str, optional
        The metric :meth:`target` returns when called without a name. Default: the only
        metric if there is exactly one, else none.

    Attributes
    ----------
    name, space : str
    archs : tuple of Arch, length n
    metrics : dict of str to ndarray of float64, shape (n,)
    low_fidelity : dict of str to ndarray of float64, shape (n,)
    info : dict
    ids : ndarray of int64, shape (n,)
    default_target : str or None

    Examples
    --------
    >>> from archmodel.spaces import get_space
    >>> nb201 = get_space("nb201")
    >>> archs = nb201.sample(3, rng=0, unique=True)
    >>> ds = Dataset("toy", "nb201", archs, {"acc": [90.0, 91.0, 92.0]})
    >>> len(ds), ds.target().tolist()
    (3, [90.0, 91.0, 92.0])
    """

    def __init__(self, name: str, space: str, archs: Sequence[Arch], metrics: Mapping[str, Any], *,
                 low_fidelity: Mapping[str, Any] | None = None, info: Mapping[str, Any] | None = None,
                 ids: Any = None, default_target: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"The 'name' parameter of Dataset must be a non-empty string. Got {name!r} instead.")
        from archmodel.spaces import get_space

        space_obj = get_space(space)
        self.name = name
        self.space: str = space_obj.name
        archs = tuple(archs)
        for i, a in enumerate(archs):
            if not isinstance(a, Arch) or a.space != self.space:
                got = a.space if isinstance(a, Arch) else type(a).__name__
                raise InvalidArchitectureError(
                    f"Dataset {name!r}: architecture {i} must be an Arch of space {self.space!r}; got {got!r}"
                )
        self.archs: tuple[Arch, ...] = archs
        n = len(archs)
        owner = f"Dataset {name!r}"
        self.metrics: dict[str, np.ndarray] = {k: _frozen_column(owner, k, v, n) for k, v in dict(metrics).items()}
        self.low_fidelity: dict[str, np.ndarray] = {
            k: _frozen_column(owner, k, v, n) for k, v in dict(low_fidelity or {}).items()
        }
        clash = sorted(set(self.metrics) & set(self.low_fidelity))
        if clash:
            raise DataError(f"{owner}: names {clash} appear both as metrics and as low-fidelity columns")
        if ids is None:
            ids_arr = np.arange(n, dtype=np.int64)
        else:
            ids_arr = np.asarray(ids)
            if ids_arr.shape != (n,) or (n and ids_arr.dtype.kind not in "iu"):
                raise DataError(f"{owner}: ids must be integers of shape ({n},); got {ids_arr.dtype} {ids_arr.shape}")
            ids_arr = ids_arr.astype(np.int64)
        ids_arr.flags.writeable = False
        self.ids: np.ndarray = ids_arr
        self.info: dict[str, Any] = dict(info or {})
        if default_target is None and len(self.metrics) == 1:
            default_target = next(iter(self.metrics))
        if default_target is not None and default_target not in self.metrics:
            raise DataError(
                f"{owner}: default_target {default_target!r} is not a metric; metrics are {sorted(self.metrics)}"
            )
        self.default_target: str | None = default_target

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.archs)

    def __repr__(self) -> str:
        return (f"<Dataset {self.name!r}: {len(self)} archs of {self.space!r}, "
                f"metrics {list(self.metrics)}, {len(self.low_fidelity)} low-fidelity>")

    @property
    def metric_names(self) -> list[str]:
        """Names of the metrics, in storage order."""
        return list(self.metrics)

    @property
    def search_space(self) -> Any:
        """The :class:`~archmodel.spaces.SearchSpace` object of :attr:`space`."""
        from archmodel.spaces import get_space

        return get_space(self.space)

    def target(self, name: str | None = None) -> np.ndarray:
        """The metric ``name`` (default: :attr:`default_target`) as a read-only float64 array.

        Returns
        -------
        ndarray of float64, shape (n,)

        Raises
        ------
        DataError
            If ``name`` is not a metric (the message lists the available ones) or no name was
            given and the data set has no default target.
        """
        if name is None:
            if self.default_target is None:
                raise DataError(
                    f"data set {self.name!r} has no default target; pass one of the metrics {self.metric_names}"
                )
            name = self.default_target
        try:
            return self.metrics[name]
        except (KeyError, TypeError):
            pass
        hint = ""
        if isinstance(name, str) and name in self.low_fidelity:
            hint = f" ({name!r} is a low-fidelity column: use dataset.low_fidelity[{name!r}])"
        raise DataError(
            f"data set {self.name!r} has no metric {name!r}{hint}; available metrics: {self.metric_names}"
        )

    def column(self, name: str) -> np.ndarray:
        """A metric or a low-fidelity column by name (metrics first)."""
        if name in self.metrics:
            return self.metrics[name]
        if name in self.low_fidelity:
            return self.low_fidelity[name]
        raise DataError(
            f"data set {self.name!r} has no column {name!r}; metrics: {self.metric_names}, "
            f"low-fidelity: {list(self.low_fidelity)}"
        )

    # ------------------------------------------------------------------ derived data sets
    def _indices(self, indices: Any) -> np.ndarray:
        n = len(self)
        if isinstance(indices, slice):
            return np.arange(n, dtype=np.int64)[indices]
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise ParameterError(f"boolean mask for subset must have shape ({n},); got {idx.shape}")
            return np.flatnonzero(idx)
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ParameterError(f"subset indices must be a 1-d array of integers or a boolean mask; got {idx.dtype} {idx.shape}")
        if idx.min() < -n or idx.max() >= n:
            raise ParameterError(f"subset indices must be in [-{n}, {n - 1}]; got min {idx.min()}, max {idx.max()}")
        return np.where(idx < 0, idx + n, idx).astype(np.int64)

    def subset(self, indices: Any, *, name: str | None = None) -> "Dataset":
        """A new data set holding the rows ``indices`` (ints, a boolean mask, or a slice), in that order."""
        idx = self._indices(indices)
        return Dataset(
            name or self.name, self.space, [self.archs[i] for i in idx],
            {k: v[idx] for k, v in self.metrics.items()},
            low_fidelity={k: v[idx] for k, v in self.low_fidelity.items()},
            info=self.info, ids=self.ids[idx], default_target=self.default_target,
        )

    def keys(self, kind: str = "structural") -> list[str]:
        """Canonical key of every architecture (``'structural'``, or ``'unique'`` for NB201)."""
        space = self.search_space
        return [space.canonical_key(a, kind) for a in self.archs]

    def representatives(self, kind: str = "structural") -> np.ndarray:
        """Indices of the first row (in data order) of each canonical-key class, ascending.

        Returns
        -------
        ndarray of int64, shape (n_classes,)
        """
        seen: set[str] = set()
        keep = []
        for i, k in enumerate(self.keys(kind)):
            if k not in seen:
                seen.add(k)
                keep.append(i)
        return np.asarray(keep, dtype=np.int64)

    def deduplicate(self, kind: str = "structural") -> "Dataset":
        """Keep one architecture per canonical class: the first one in data order."""
        return self.subset(self.representatives(kind))

    # ------------------------------------------------------------------ export
    def to_rows(self, fmt: str | None = None) -> list[dict[str, Any]]:
        """One JSON-able dict per architecture.

        Keys: ``id``, ``arch`` (the architecture in format ``fmt``, default the space's
        default), then every metric and every low-fidelity column. Non-finite values become
        ``None``.
        """
        space = self.search_space
        cols = list(self.metrics.items()) + list(self.low_fidelity.items())
        lists = [(k, v.tolist()) for k, v in cols]
        rows = []
        for i, a in enumerate(self.archs):
            row: dict[str, Any] = {"id": int(self.ids[i]), "arch": space.format(a, fmt)}
            for k, vals in lists:
                row[k] = _json_float(vals[i])
            rows.append(row)
        return rows

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: size, every column's min/max/mean/unit, and provenance.

        Keys: ``name``, ``space``, ``size``, ``default_target``, ``metrics`` and
        ``low_fidelity`` (each a dict of column name to ``{'min', 'max', 'mean', 'n_missing',
        'unit'}``, statistics over finite values), then ``source``, ``license``,
        ``description``, ``citation``, ``location`` and ``ids`` from :attr:`info` where present.
        """
        units = self.info.get("units", {}) or {}
        out: dict[str, Any] = {
            "name": self.name,
            "space": self.space,
            "size": len(self),
            "default_target": self.default_target,
            "metrics": {k: {**_stats(v), "unit": units.get(k)} for k, v in self.metrics.items()},
            "low_fidelity": {k: {**_stats(v), "unit": units.get(k)} for k, v in self.low_fidelity.items()},
        }
        for key in ("description", "source", "license", "citation", "location", "ids"):
            if key in self.info:
                out[key] = self.info[key]
        return out

    def describe_text(self) -> str:
        """:meth:`describe` as aligned plain text, for terminals."""
        d = self.describe()
        lines = [f"{d['name']}: {d['size']} architectures of search space {d['space']!r}"]
        for key in ("description", "source", "license", "citation", "location", "ids"):
            if key in d:
                lines.append(f"  {key}: {d[key]}")
        for title, cols in (("metrics", d["metrics"]), ("low-fidelity", d["low_fidelity"])):
            if not cols:
                continue
            lines.append(f"{title}:")
            width = max(len(k) for k in cols)
            for k, s in cols.items():
                star = " (default target)" if k == d["default_target"] else ""
                if s["min"] is None:
                    stats = "all missing"
                else:
                    stats = f"min {s['min']:.6g}  max {s['max']:.6g}  mean {s['mean']:.6g}"
                    if s["n_missing"]:
                        stats += f"  missing {s['n_missing']}"
                unit = f"  [{s['unit']}]" if s.get("unit") else ""
                lines.append(f"  {k:<{width}}  {stats}{unit}{star}")
        return "\n".join(lines)

    def __iter__(self) -> Iterator[Arch]:
        return iter(self.archs)
