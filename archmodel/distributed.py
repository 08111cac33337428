"""Embarrassingly parallel jobs in this process or on a Dask cluster (optional extra:
``pip install 'archmodel[dask]'``).

One engine function, :func:`map_chunks`, runs a task over a list of chunks and yields the
results in input order, either here (``engine='local'``) or on a Dask cluster
(``engine='dask'``). The jobs of the command line are built on it:

* :func:`score_archs` (``archmodel score``): predictor scores, one task per batch of
  architectures; :func:`score_dask` is its Dask form.
* :func:`zeroshot_file` (``archmodel zeroshot``): zero-cost proxies into the resumable score
  file of :func:`archmodel.zeroshot.score_file`.
* ``archmodel pim sweep`` (a task per chunk of hardware configurations) and the micro-benchmark
  generator (:func:`archmodel.microbench.run`, a task per training run).

How a killed worker loses and duplicates nothing: every chunk is one task whose key is the
job's name, a random token of this call and the chunk's index. A task is a pure function of
its chunk and arguments, so when a worker dies the scheduler re-runs the tasks it held on the
surviving or restarted workers (``distributed.scheduler.allowed-failures`` times); ``retries``
re-runs a task that *raised*. The client collects one result per key, in key order, so a chunk
re-run after a failure is counted once, and a chunk is never skipped. Files (resumable outputs)
are written by the client only, in input order, as results arrive.

Without a scheduler, a ``LocalCluster`` of ``n_workers`` processes with ``threads_per_worker``
threads each is started on this machine for the call and closed afterwards. Workers read input
files (models, network files) at the client's paths: a shared file system, which a
LocalCluster trivially has.

Models for scoring: ``.onnx`` files (scored with onnxruntime, one intra-op thread per worker
thread on Dask) or saved ``.npz`` predictors (scored with the predictor's own backend). Each
worker process loads a model file once (:func:`cached_predictor`).

Examples
--------
>>> from archmodel.distributed import score_archs                      # doctest: +SKIP
>>> scores = score_archs("gates.onnx", arch_strings, space="nb201", engine="dask")
"""
from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import threading
import uuid
from typing import Any, Callable, Iterator, Sequence

from archmodel.errors import MissingDependencyError, ParameterError, check_choice, check_range

logger = logging.getLogger(__name__)

__all__ = ["ENGINES", "map_chunks", "dask_client", "require_dask", "score_archs", "score_dask",
           "zeroshot_file", "cached_predictor", "load_model", "loader_stats", "score_batch"]

#: Where :func:`map_chunks` runs the tasks.
ENGINES = ("local", "dask")

_CACHE: dict[tuple, Any] = {}
_CACHE_MAX = 4
_LOCK = threading.Lock()
_LOADS: dict[str, int] = {}


def require_dask() -> Any:
    """Import ``distributed`` or raise :class:`MissingDependencyError` naming the extra."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            f"The dask engine needs dask.distributed: pip install 'archmodel[dask]' ({exc})") from None
    return distributed


_require_distributed = require_dask  # the old private name


# --------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------
def _check_scheduler(owner: str, scheduler: Any) -> None:
    if not (scheduler is None or isinstance(scheduler, str) or hasattr(scheduler, "submit")
            or hasattr(scheduler, "scheduler_address")):
        raise ParameterError(f"{owner}: scheduler must be None, an address, a distributed.Client "
                             f"or a cluster; got {type(scheduler).__name__}")


@contextlib.contextmanager
def dask_client(scheduler: Any = None, *, n_workers: int = 2, threads_per_worker: int = 1,
                processes: bool = True) -> Iterator[Any]:
    """A connected ``distributed.Client`` for the duration of a ``with`` block.

    Parameters
    ----------
    scheduler : str, distributed.Client, cluster or None
        A scheduler address or a cluster object (a client is opened, and closed afterwards;
        the cluster is left running), a connected client (used as is and left open), or None:
        a ``LocalCluster`` of ``n_workers`` processes (threads if not ``processes``) with
        ``threads_per_worker`` threads each, started here and closed afterwards.

    Raises
    ------
    MissingDependencyError
        dask.distributed is not installed.
    """
    _check_scheduler("dask_client", scheduler)
    require_dask()
    from distributed import Client, LocalCluster

    if hasattr(scheduler, "submit"):
        yield scheduler
        return
    check_range("dask_client", "n_workers", n_workers, 1, integer=True)
    check_range("dask_client", "threads_per_worker", threads_per_worker, 1, integer=True)
    cluster = client = None
    try:
        if scheduler is None:
            import dask

            # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 (long-lived workers give memory
            # back); for the short jobs archmodel starts a cluster for, glibc's own adaptive
            # threshold is kept: with it set, the allocation-heavy PIM front tasks spend 30-90 %
            # more time in page faults (measured on 2 cores)
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                       processes=processes, dashboard_address=":0")
            client = Client(cluster)
            logger.info("started a LocalCluster of %d workers x %d threads at %s", n_workers,
                        threads_per_worker, cluster.scheduler_address)
        else:
            client = Client(scheduler)
            logger.info("connected to the Dask scheduler at %s", client.scheduler.address)
        yield client
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def map_chunks(func: Callable[..., Any], chunks: Sequence[Any], *, kwargs: dict[str, Any] | None = None,
               engine: str = "local", scheduler: Any = None, name: str = "map", retries: int = 0,
               n_workers: int = 2, threads_per_worker: int = 1, processes: bool = True) -> Iterator[Any]:
    """Yield ``func(chunk, **kwargs)`` for every chunk, in input order.

    The engine of every embarrassingly parallel job of archmodel. ``func`` must be a pure
    function of its arguments (importable at module level, or picklable by value), so that a
    chunk computed twice (after a worker died) gives the same result; the results are yielded
    one per chunk, in the order of ``chunks``, whatever order they finish in.

    Parameters
    ----------
    func : callable
        ``func(chunk, **kwargs) -> result``.
    chunks : sequence
        The work, already cut into chunks (one task each).
    kwargs : dict, optional
        Arguments shared by every task.
    engine : {'local', 'dask'}
        ``'local'``: the tasks run one after the other in this process, each when its result
        is asked for. ``'dask'``: every task is submitted at once (key
        ``archmodel-<name>-<token>-<index>``) and the results are gathered in order.
    scheduler : str, distributed.Client, cluster or None
        With ``engine='dask'``: see :func:`dask_client` (None starts a ``LocalCluster`` of
        ``n_workers`` processes with ``threads_per_worker`` threads each).
    name : str
        Job name in the task keys.
    retries : int
        Re-runs of a task that raised (a dead worker is handled by Dask regardless).

    Yields
    ------
    object
        The result of each chunk, in input order.

    Raises
    ------
    ParameterError
        An unknown engine, a scheduler with the local engine, or a bad scheduler object.
    MissingDependencyError
        ``engine='dask'`` without dask.distributed installed.

    Notes
    -----
    This is a generator: the Dask client and any LocalCluster live until it is exhausted or
    closed (use ``contextlib.closing`` when stopping early); closing it cancels the tasks not
    yet gathered. An exception raised by a task is re-raised here, with its own type.
    """
    check_choice("map_chunks", "engine", engine, ENGINES)
    check_range("map_chunks", "retries", retries, 0, integer=True)
    _check_scheduler("map_chunks", scheduler)
    if engine == "local" and scheduler is not None:
        raise ParameterError("map_chunks: a scheduler needs engine='dask'")
    kwargs = dict(kwargs or {})
    task = functools.partial(func, **kwargs) if kwargs else func
    if engine == "local":
        for chunk in chunks:
            yield task(chunk)
        return
    with dask_client(scheduler, n_workers=n_workers, threads_per_worker=threads_per_worker,
                     processes=processes) as client:
        token = uuid.uuid4().hex[:12]
        futures = [client.submit(task, chunk, key=f"archmodel-{name}-{token}-{i}", pure=False,
                                 retries=retries) for i, chunk in enumerate(chunks)]
        logger.info("submitted %d %s tasks", len(futures), name)
        try:
            for i in range(len(futures)):
                result = futures[i].result()
                futures[i] = None  # the cluster may forget it
                yield result
        finally:
            left = [f for f in futures if f is not None]
            if left:
                client.cancel(left)


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------
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
                intra_op_num_threads: int | None = 1) -> Any:
    """Score one batch on the current process (the task of :func:`score_archs`).

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
    intra_op_num_threads : int or None
        onnxruntime intra-op threads (None: onnxruntime's default).

    Returns
    -------
    ndarray, float32 [b]
    """
    import numpy as np

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


def _payloads(items: Any, space: str | None, batch_size: int, owner: str) -> tuple[str, str, list[Any]]:
    """Split the input into batches: (space name, kind, list of payloads)."""
    import numpy as np

    from archmodel.arch import Arch
    from archmodel.spaces import get_space

    if isinstance(items, np.ndarray) and items.ndim == 2 and items.dtype.kind in "iu":
        if space is None:
            raise ParameterError(f"{owner}: decision sequences need space=")
        sp = get_space(space)
        if items.shape[1] != len(sp.decision_sizes):
            raise ParameterError(f"{owner}: sequences of {sp.name!r} have {len(sp.decision_sizes)} "
                                 f"decisions; got an array of shape {items.shape}")
        return sp.name, "seq", [items[s:s + batch_size] for s in range(0, len(items), batch_size)]
    items = list(items)
    if not items:
        raise ParameterError(f"{owner}: no architectures given")
    arch_spaces = {a.space for a in items if isinstance(a, Arch)}
    if space is None:
        if len(arch_spaces) != 1:
            raise ParameterError(f"{owner}: architectures given as strings need space= (e.g. space='nb201')")
        space = arch_spaces.pop()
    sp = get_space(space)
    if arch_spaces - {sp.name}:
        from archmodel.errors import InvalidArchitectureError

        raise InvalidArchitectureError(
            f"{owner}: got architectures of {sorted(arch_spaces)} for space {sp.name!r}")
    if all(isinstance(a, Arch) for a in items):
        seqs = np.array([a.seq for a in items], dtype=np.int64)
        return sp.name, "seq", [seqs[s:s + batch_size] for s in range(0, len(seqs), batch_size)]
    strings = [sp.format(a) if isinstance(a, Arch) else a for a in items]
    bad = [i for i, s in enumerate(strings) if not isinstance(s, str)]
    if bad:
        raise ParameterError(f"{owner}: items must be Arch objects or strings; item {bad[0]} is "
                             f"{type(strings[bad[0]]).__name__}")
    return sp.name, "str", [strings[s:s + batch_size] for s in range(0, len(strings), batch_size)]


def score_archs(model_path: str | os.PathLike, archs_or_strings: Any, *, space: str | None = None,
                engine: str = "local", scheduler: Any = None, batch_size: int = 4096,
                n_workers: int = 2, threads_per_worker: int = 1, processes: bool = True,
                retries: int = 0, progress: Callable[[int], None] | None = None) -> Any:
    """Score many architectures with a saved model, here or on a Dask cluster; input order.

    The architectures are cut into batches of ``batch_size``, one task each
    (:func:`score_batch`, run by :func:`map_chunks`), so both engines score the same batch
    partition with the same code and give the same scores.

    Parameters
    ----------
    model_path : path-like
        ``.onnx`` model (from :func:`archmodel.export.to_onnx`) or ``.npz`` predictor; Dask
        workers read it from the same path.
    archs_or_strings : sequence of Arch or str, or int ndarray [n, D]
        Architectures, their strings (any format the space parses; parsed by the task) or
        their decision sequences.
    space : str, optional
        Search space (required for strings and sequences).
    engine : {'local', 'dask'}
    scheduler : str, distributed.Client, cluster or None
        With ``engine='dask'``: see :func:`dask_client`.
    batch_size : int
        Architectures per task (and per model call).
    n_workers, threads_per_worker : int
        Size of the LocalCluster started for ``engine='dask'`` without ``scheduler``.
        ``threads_per_worker`` is also the number of onnxruntime intra-op threads of the
        workers' ONNX sessions (the local engine uses onnxruntime's default).
    processes : bool
        LocalCluster with worker processes (default, realistic) or threads.
    retries : int
        Re-runs of a batch whose task *raised* (a dead worker is handled by Dask regardless).
    progress : callable, optional
        ``progress(n)`` after each batch of ``n`` architectures.

    Returns
    -------
    ndarray, float32 [n]

    Raises
    ------
    MissingDependencyError
        ``engine='dask'`` without dask.distributed installed.
    RuntimeError
        A batch came back with the wrong number of scores (never expected).
    """
    import numpy as np

    check_choice("score_archs", "engine", engine, ENGINES)
    if engine == "dask":
        require_dask()
    check_range("score_archs", "batch_size", batch_size, 1, integer=True)
    check_range("score_archs", "n_workers", n_workers, 1, integer=True)
    check_range("score_archs", "threads_per_worker", threads_per_worker, 1, integer=True)
    check_range("score_archs", "retries", retries, 0, integer=True)
    _check_scheduler("score_archs", scheduler)
    path = os.path.abspath(os.fspath(model_path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    space_name, kind, payloads = _payloads(archs_or_strings, space, batch_size, "score_archs")
    model_space = _model_space(path)
    if model_space is not None and model_space != space_name:
        from archmodel.errors import InvalidArchitectureError

        raise InvalidArchitectureError(f"the model scores {model_space!r}; got architectures of {space_name!r}")
    task = functools.partial(score_batch, path, space_name)
    threads = threads_per_worker if engine == "dask" else None
    results = []
    with contextlib.closing(map_chunks(
            task, payloads, kwargs={"kind": kind, "batch_size": batch_size, "intra_op_num_threads": threads},
            engine=engine, scheduler=scheduler, name="score", retries=retries, n_workers=n_workers,
            threads_per_worker=threads_per_worker, processes=processes)) as batches:
        for i, (r, p) in enumerate(zip(batches, payloads)):
            if np.shape(r) != (len(p),):
                raise RuntimeError(f"score_archs: batch {i} returned {np.shape(r)} scores for "
                                   f"{len(p)} architectures")
            results.append(r)
            if progress is not None:
                progress(len(p))
    if len(results) != len(payloads):
        raise RuntimeError(f"score_archs: {len(results)} batches came back for {len(payloads)} submitted")
    return np.concatenate(results).astype(np.float32, copy=False)


def score_dask(model_path: str | os.PathLike, archs_or_strings: Any, *, space: str | None = None,
               scheduler: Any = None, batch_size: int = 4096, n_workers: int = 2,
               threads_per_worker: int = 1, processes: bool = True, retries: int = 0) -> Any:
    """Score many architectures on a Dask cluster: :func:`score_archs` with ``engine='dask'``.

    ``scheduler=None`` starts a ``LocalCluster`` of ``n_workers`` processes for this call
    (closed afterwards); an address or a cluster gets a client for this call; a connected
    client is used and left open.
    """
    return score_archs(model_path, archs_or_strings, space=space, engine="dask", scheduler=scheduler,
                       batch_size=batch_size, n_workers=n_workers, threads_per_worker=threads_per_worker,
                       processes=processes, retries=retries)


def _model_space(path: str) -> str | None:
    """The search space a model file scores, read cheaply on the client (None if unknown)."""
    if path.endswith(".onnx"):
        return None  # checked by the tasks (reading it here would need onnxruntime)
    try:
        from archmodel.io import load_npz
        from archmodel.predictors.base import FORMAT, FORMAT_VERSION

        _, header = load_npz(path, expected_format=FORMAT, supported_versions=(FORMAT_VERSION,))
        return header.get("space")
    except Exception:  # noqa: BLE001 - the tasks report the real error
        return None


# --------------------------------------------------------------------------------------------
# zero-cost proxies into a resumable score file
# --------------------------------------------------------------------------------------------
def proxies_chunk(archs: Sequence[str], names: Sequence[str], options: dict[str, Any]) -> list[tuple[str, dict]]:
    """``[(arch, compute_proxies(arch, names, **options)), ...]`` (the task of
    :func:`zeroshot_file`)."""
    from archmodel import zeroshot

    return [(a, zeroshot.compute_proxies(a, list(names), **options)) for a in archs]


class _EngineCompute:
    """A ``compute=`` for :func:`archmodel.zeroshot.score_file` backed by :func:`map_chunks`.

    ``score_file`` calls it once per architecture missing from the file, in input order, after
    checking the file's settings and cutting off a partial last line. The first call reads which
    rows the file already has, submits every missing architecture (``chunk`` per task) and
    returns the first result; each later call returns the next one. ``score_file`` writes each
    row as soon as it is returned, so the file is written by this process only, in input order.
    """

    def __init__(self, keys: list[str], output: str, chunk: int, engine_options: dict[str, Any]) -> None:
        self.keys, self.output, self.chunk, self.engine_options = keys, output, chunk, engine_options
        self._results: Iterator[Any] | None = None
        self._pending: collections.deque = collections.deque()
        self.submitted = 0

    def __call__(self, arch: str, names: Sequence[str], **options: Any) -> dict[str, float]:
        if self._results is None:
            from archmodel.zeroshot import _read_score_file

            _, _, rows, _ = _read_score_file(self.output)
            missing = [k for k in self.keys if k not in rows]
            chunks = [missing[s:s + self.chunk] for s in range(0, len(missing), self.chunk)]
            self.submitted = len(missing)
            self._results = map_chunks(proxies_chunk, chunks, kwargs={"names": list(names), "options": options},
                                       name="zeroshot", **self.engine_options)
        if not self._pending:
            self._pending.extend(next(self._results))
        key, scores = self._pending.popleft()
        if key != arch:  # score_file and this class disagree on what is missing: never expected
            raise RuntimeError(f"zeroshot_file: expected the scores of {arch!r}, got those of {key!r}")
        return scores

    def close(self) -> None:
        if self._results is not None:
            self._results.close()


def zeroshot_file(archs: Sequence[Any], output: str | os.PathLike, *, engine: str = "local",
                  scheduler: Any = None, chunk: int = 1, n_workers: int = 2, threads_per_worker: int = 1,
                  processes: bool = True, retries: int = 0, **options: Any) -> list[dict[str, Any]]:
    """:func:`archmodel.zeroshot.score_file` with the proxies computed by :func:`map_chunks`.

    The file format, resumption (rows already in the file are not recomputed, a partial last
    line is dropped), refusal of other settings and input order are those of ``score_file``;
    only the computation moves: ``chunk`` architectures per task, on ``engine``. Rows are
    written by this process as results arrive, in input order, so a killed client loses at
    most the rows not yet written and a rerun resumes.

    Parameters
    ----------
    archs : sequence of Arch, str or 6 op names
    output : path
    engine, scheduler, n_workers, threads_per_worker, processes, retries
        See :func:`map_chunks`.
    chunk : int
        Architectures per task.
    **options
        ``proxies``, ``C``, ``N``, ``input_size``, ``batch``, ``num_classes``, ``data``,
        ``seed``, ``backend``, ``space``, ``grasp_dtype``, ``progress``: see ``score_file``.

    Returns
    -------
    list of dict
        As ``score_file``.
    """
    from archmodel.conv.nb201 import arch_string
    from archmodel.zeroshot import resolve_ops, score_file

    check_choice("zeroshot_file", "engine", engine, ENGINES)
    check_range("zeroshot_file", "chunk", chunk, 1, integer=True)
    _check_scheduler("zeroshot_file", scheduler)
    if engine == "local" and scheduler is not None:
        raise ParameterError("zeroshot_file: a scheduler needs engine='dask'")
    if engine == "dask":
        require_dask()
    if "compute" in options:
        raise ParameterError("zeroshot_file: compute= is not accepted (the engine computes)")
    keys = list(dict.fromkeys(arch_string(resolve_ops(a)) for a in archs))  # as score_file keys rows
    compute = _EngineCompute(keys, os.fspath(output), chunk, {
        "engine": engine, "scheduler": scheduler, "retries": retries, "n_workers": n_workers,
        "threads_per_worker": threads_per_worker, "processes": processes})
    try:
        return score_file(archs, output, compute=compute, **options)
    finally:
        compute.close()
