"""Scale-out scoring on a Dask cluster (optional extra: ``pip install 'archmodel[dask]'``).

:func:`score_dask` cuts the architectures into batches, scores each batch on a worker and
returns the scores in input order. Each worker process loads a model file once (a per-process
cache keyed by the absolute path, modification time and size: :func:`cached_predictor`) and
keeps it for every later batch. The model file must be readable by the workers at the same
path (a shared file system; a LocalCluster trivially qualifies).

Batches are independent tasks with distinct keys. When a worker dies mid-run, the scheduler
re-runs the batches it held on the surviving or restarted workers (Dask's own resubmission,
``distributed.scheduler.allowed-failures`` times); results are collected per batch key, so a
batch is never counted twice and never lost: :func:`score_dask` checks that every batch came
back exactly once with the right length.

Models: ``.onnx`` files (scored with onnxruntime, one intra-op thread per worker thread by
default) or saved ``.npz`` predictors (scored with the predictor's own backend).

Examples
--------
>>> from archmodel.distributed import score_dask                       # doctest: +SKIP
>>> scores = score_dask("gates.onnx", arch_strings, space="nb201", n_workers=2)
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import Any

import numpy as np

from archmodel.errors import MissingDependencyError, ParameterError, check_range

logger = logging.getLogger(__name__)

__all__ = ["score_dask", "cached_predictor", "load_model", "loader_stats", "score_batch"]

_CACHE: dict[tuple, Any] = {}
_CACHE_MAX = 4
_LOCK = threading.Lock()
_LOADS: dict[str, int] = {}


def _require_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"Scoring on Dask needs dask.distributed: pip install 'archmodel[dask]' ({exc})") from None
    return distributed


def load_model(path: str | os.PathLike, *, intra_op_num_threads: int | None = 1) -> Any:
    """Load a model file for scoring: ``.onnx`` (onnxruntime) or a saved ``.npz`` predictor.

    Returns an object with ``space_`` and ``predict(archs, batch_size=...)``.
    """
    path = os.fspath(path)
    if path.endswith(".onnx"):
        from archmodel.export import load_onnx_predictor

        return load_onnx_predictor(path, intra_op_num_threads=intra_op_num_threads)
    from archmodel.predictors import load_predictor

    return load_predictor(path)


def cached_predictor(path: str | os.PathLike, *, intra_op_num_threads: int | None = 1) -> Any:
    """The model at ``path``, loaded at most once per process (and again only if the file
    changes: the cache key includes its modification time and size)."""
    apath = os.path.abspath(os.fspath(path))
    st = os.stat(apath)
    key = (apath, st.st_mtime_ns, st.st_size, intra_op_num_threads)
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = load_model(apath, intra_op_num_threads=intra_op_num_threads)
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = model
            _LOADS[apath] = _LOADS.get(apath, 0) + 1
            logger.info("loaded model %s in process %d", apath, os.getpid())
    return model


def loader_stats() -> dict[str, Any]:
    """This process's model loads: ``{"pid": ..., "loads": {path: count}}`` (for diagnostics:
    run it on every worker with ``client.run(loader_stats)``)."""
    with _LOCK:
        return {"pid": os.getpid(), "loads": dict(_LOADS)}


def score_batch(model_path: str, space: str, payload: Any, kind: str, batch_size: int,
                intra_op_num_threads: int | None = 1) -> np.ndarray:
    """Score one batch on the current process (the task each Dask worker runs).

    Parameters
    ----------
    model_path : str
        Absolute path of the model file.
    space : str
        Search-space name.
    payload : ndarray [b, D] of int (``kind='seq'``) or list of str (``kind='str'``)
        Decision sequences or architecture strings.
    kind : {'seq', 'str'}
    batch_size : int
        Rows per model call.

    Returns
    -------
    ndarray, float32 [b]
    """
    from archmodel.spaces import get_space

    model = cached_predictor(model_path, intra_op_num_threads=intra_op_num_threads)
    sp = get_space(space)
    if kind == "seq":
        archs = [sp.from_sequence(row) for row in np.asarray(payload).tolist()]
    elif kind == "str":
        archs = [sp.parse(s) for s in payload]
    else:
        raise ParameterError(f"score_batch: kind must be 'seq' or 'str'; got {kind!r}")
    return np.asarray(model.predict(archs, batch_size=batch_size), dtype=np.float32)


def _payloads(items: Any, space: str | None, batch_size: int) -> tuple[str, str, list[Any]]:
    """Split the input into batches: (space name, kind, list of payloads)."""
    from archmodel.arch import Arch
    from archmodel.spaces import get_space

    if isinstance(items, np.ndarray) and items.ndim == 2 and items.dtype.kind in "iu":
        if space is None:
            raise ParameterError("score_dask: decision sequences need space=")
        sp = get_space(space)
        if items.shape[1] != len(sp.decision_sizes):
            raise ParameterError(f"score_dask: sequences of {sp.name!r} have {len(sp.decision_sizes)} "
                                 f"decisions; got an array of shape {items.shape}")
        return sp.name, "seq", [items[s:s + batch_size] for s in range(0, len(items), batch_size)]
    items = list(items)
    if not items:
        raise ParameterError("score_dask: no architectures given")
    arch_spaces = {a.space for a in items if isinstance(a, Arch)}
    if space is None:
        if len(arch_spaces) != 1:
            raise ParameterError("score_dask: architectures given as strings need space= (e.g. space='nb201')")
        space = arch_spaces.pop()
    sp = get_space(space)
    if arch_spaces - {sp.name}:
        from archmodel.errors import InvalidArchitectureError

        raise InvalidArchitectureError(
            f"score_dask: got architectures of {sorted(arch_spaces)} for space {sp.name!r}")
    if all(isinstance(a, Arch) for a in items):
        seqs = np.array([a.seq for a in items], dtype=np.int64)
        return sp.name, "seq", [seqs[s:s + batch_size] for s in range(0, len(seqs), batch_size)]
    strings = [sp.format(a) if isinstance(a, Arch) else a for a in items]
    bad = [i for i, s in enumerate(strings) if not isinstance(s, str)]
    if bad:
        raise ParameterError(f"score_dask: items must be Arch objects or strings; item {bad[0]} is "
                             f"{type(strings[bad[0]]).__name__}")
    return sp.name, "str", [strings[s:s + batch_size] for s in range(0, len(strings), batch_size)]


def score_dask(model_path: str | os.PathLike, archs_or_strings: Any, *, space: str | None = None,
               scheduler: Any = None, batch_size: int = 4096, n_workers: int = 2,
               threads_per_worker: int = 1, processes: bool = True, retries: int = 0) -> np.ndarray:
    """Score many architectures on a Dask cluster; scores come back in input order.

    Parameters
    ----------
    model_path : path-like
        ``.onnx`` model (from :func:`archmodel.export.to_onnx`) or ``.npz`` predictor; the
        workers read it from the same path.
    archs_or_strings : sequence of Arch or str, or int ndarray [n, D]
        Architectures, their strings (any format the space parses; parsed on the workers) or
        their decision sequences.
    space : str, optional
        Search space (required for strings and sequences).
    scheduler : str, distributed.Client, cluster or None
        A scheduler address or a cluster object (a client is opened for this call), a connected
        client (left open), or None to start a ``LocalCluster`` of ``n_workers`` processes for
        this call (closed afterwards).
    batch_size : int
        Architectures per task (and per model call).
    n_workers, threads_per_worker : int
        Size of the LocalCluster started when ``scheduler`` is None. ``threads_per_worker`` is
        also the number of onnxruntime intra-op threads of the workers' ONNX sessions.
    processes : bool
        LocalCluster with worker processes (default, realistic) or threads.
    retries : int
        Re-runs of a batch whose task *raised* (a dead worker is handled by Dask regardless).

    Returns
    -------
    ndarray, float32 [n]

    Raises
    ------
    MissingDependencyError
        dask.distributed is not installed.
    RuntimeError
        A batch came back with the wrong number of scores (never expected).
    """
    _require_distributed()
    from distributed import Client, LocalCluster

    check_range("score_dask", "batch_size", batch_size, 1, integer=True)
    check_range("score_dask", "n_workers", n_workers, 1, integer=True)
    check_range("score_dask", "threads_per_worker", threads_per_worker, 1, integer=True)
    check_range("score_dask", "retries", retries, 0, integer=True)
    path = os.path.abspath(os.fspath(model_path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    space_name, kind, payloads = _payloads(archs_or_strings, space, batch_size)
    model_space = _model_space(path)
    if model_space is not None and model_space != space_name:
        from archmodel.errors import InvalidArchitectureError

        raise InvalidArchitectureError(f"the model scores {model_space!r}; got architectures of {space_name!r}")

    if not (scheduler is None or isinstance(scheduler, str) or hasattr(scheduler, "submit")
            or hasattr(scheduler, "scheduler_address")):
        raise ParameterError(f"score_dask: scheduler must be None, an address, a distributed.Client "
                             f"or a cluster; got {type(scheduler).__name__}")
    cluster = client = None
    own = not hasattr(scheduler, "submit")  # a client we create is ours to close
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                   processes=processes, dashboard_address=":0")
            client = Client(cluster)
        elif hasattr(scheduler, "submit"):
            client = scheduler
        else:  # an address or a cluster object (left running)
            client = Client(scheduler)
        token = uuid.uuid4().hex[:12]
        futures = [client.submit(score_batch, path, space_name, p, kind, batch_size, threads_per_worker,
                                 key=f"archmodel-score-{token}-{i}", pure=False, retries=retries)
                   for i, p in enumerate(payloads)]
        results = client.gather(futures)
        del futures
    finally:
        if own and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if len(results) != len(payloads):
        raise RuntimeError(f"score_dask: {len(results)} batches came back for {len(payloads)} submitted")
    for i, (r, p) in enumerate(zip(results, payloads)):
        if np.shape(r) != (len(p),):
            raise RuntimeError(f"score_dask: batch {i} returned {np.shape(r)} scores for {len(p)} architectures")
    return np.concatenate(results).astype(np.float32, copy=False)


def _model_space(path: str) -> str | None:
    """The search space a model file scores, read cheaply on the client (None if unknown)."""
    if path.endswith(".onnx"):
        return None  # checked on the workers (reading it here would need onnxruntime)
    try:
        from archmodel.io import load_npz
        from archmodel.predictors.base import FORMAT, FORMAT_VERSION

        _, header = load_npz(path, expected_format=FORMAT, supported_versions=(FORMAT_VERSION,))
        return header.get("space")
    except Exception:  # noqa: BLE001 - the workers report the real error
        return None
