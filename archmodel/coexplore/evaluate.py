"""Evaluating points of a joint space: accuracy from the benchmark data, costs from the PIM simulator.

:class:`JointEvaluator` is the "slow simulator" a search pays for: every distinct point it
evaluates is one *call* (repeats are answered from memory and not counted), up to a budget.
A cell's accuracy comes from the space's data set (``network.accuracy``); latency, energy,
area and EDP come from :func:`archmodel.pim.simulate_batch` on the NAS-Bench-201 network of the
cell (:func:`archmodel.pim.conv_network.layers_from_arch`). A point is *feasible* when the
network fits the chip and every constraint of the space holds.

:func:`evaluate_all` evaluates the whole space (every cell x every configuration, one kernel
call per cell, chunks of cells optionally on a Dask cluster): the exhaustive ground truth of a search.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import numpy as np

from archmodel.coexplore.space import JointSpace, load_space
from archmodel.errors import ParameterError

log = logging.getLogger(__name__)

__all__ = ["METRICS", "BudgetExhausted", "JointEvaluator", "evaluate_all", "evaluate_cells", "cell_accuracies",
           "feasible"]

#: per-point values an evaluation returns (SI units; accuracy in the data's units)
METRICS = ("accuracy", "latency_s", "energy_j", "area_mm2", "edp_js")

_LAYERS: dict[tuple, list | None] = {}
_SPACES: dict[str, JointSpace] = {}  # per worker process: spaces of the tasks it ran


class BudgetExhausted(Exception):
    """The evaluator's budget of simulator calls is spent."""


def _layers(space: JointSpace, cell: np.ndarray) -> list | None:
    """The PIM layer list of the cell's network, or None when it has nothing to map (NB201's
    all-``none`` cell: its output is a constant no layer produces). Kept per process: tracing a
    network takes ~30 ms."""
    from archmodel.errors import InvalidArchitectureError

    key = (space.cell_space.name, tuple(int(v) for v in cell), tuple(sorted(space.net_kwargs.items())))
    if key not in _LAYERS:
        from archmodel.pim.conv_network import layers_from_arch

        arch = space.cell_space.format(space.cell_space.from_sequence(key[1]))
        try:
            _LAYERS[key] = layers_from_arch(arch, **space.net_kwargs)
        except InvalidArchitectureError as exc:
            log.info("cell %s has no PIM mapping (%s): its points are infeasible", arch, exc)
            _LAYERS[key] = None
    return _LAYERS[key]


def cell_accuracies(space: JointSpace, data_path: Any = None) -> np.ndarray:
    """The accuracy of every representative cell of ``space``, float64 [n_cells]."""
    from archmodel.data.loaders import load_dataset

    ds = load_dataset(space.accuracy_data, data_path)
    if ds.space != space.cell_space.name:
        raise ParameterError(f"joint space {space.name}: data set {ds.name} is of space {ds.space}, "
                             f"not {space.cell_space.name}")
    if space.accuracy_metric not in ds.metrics:
        raise ParameterError(f"joint space {space.name}: network.accuracy.metric {space.accuracy_metric!r} "
                             f"is not a metric of {ds.name} ({sorted(ds.metrics)})")
    by_seq = {a.seq: i for i, a in enumerate(ds.archs)}
    col = ds.metrics[space.accuracy_metric]
    rows = []
    for c in space.cells:
        i = by_seq.get(tuple(int(v) for v in c))
        if i is None:
            raise ParameterError(f"joint space {space.name}: data set {ds.name} lacks the cell {tuple(c)}")
        rows.append(i)
    acc = np.asarray(col[rows], dtype=np.float64)
    if np.isnan(acc).any():
        raise ParameterError(f"joint space {space.name}: {ds.name} has no {space.accuracy_metric} for some cells")
    return acc


_HARDWARE: dict[str, Any] = {}  # per process: each space's HardwareSet, by spec hash


def _hardware_set(space: JointSpace):
    """The space's hardware configurations as one :class:`~archmodel.pim.model.HardwareSet`
    (validated once per process)."""
    from archmodel.pim.model import prepare_hardware

    hs = _HARDWARE.get(space.sha256)
    if hs is None:
        genes = space.hardware_genes()
        overrides = [{k.name: k.values[int(v)] for k, v in zip(space.knobs, row)} for row in genes]
        hs = _HARDWARE[space.sha256] = prepare_hardware(overrides=overrides, base=space.base)
    return hs


def _simulate_cell(space: JointSpace, cell: np.ndarray, hw_index: np.ndarray | None, backend: str | None):
    """Costs of one cell on the configurations ``hw_index`` (all when None): dict of arrays."""
    from archmodel.pim.model import simulate_batch

    hs = _hardware_set(space)
    if hw_index is not None:
        hs = hs.take(hw_index)
    layers = _layers(space, cell)
    if layers is None:
        nan = np.full(len(hs), np.nan)
        return {"latency_s": nan, "energy_j": nan.copy(), "area_mm2": nan.copy(), "edp_js": nan.copy(),
                "ok": np.zeros(len(hs), dtype=bool)}
    r = simulate_batch(layers, hs, backend=backend)
    return {"latency_s": r.latency_s, "energy_j": r.energy_j, "area_mm2": r.area_mm2, "edp_js": r.edp_js,
            "ok": r.ok}


def feasible(space: JointSpace, values: dict[str, np.ndarray]) -> np.ndarray:
    """Points that fit the chip (``values["ok"]``) and meet every constraint of ``space``, bool [n]."""
    ok = values["ok"].copy()
    for name, rule in space.constraints.items():
        v = values[name]
        with np.errstate(invalid="ignore"):
            if "max" in rule:
                ok &= v <= rule["max"]
            if "min" in rule:
                ok &= v >= rule["min"]
    return ok


class JointEvaluator:
    """Counted, memoised evaluation of joint-space points (see the module docstring).

    Parameters
    ----------
    space : JointSpace, str or dict
    budget : int or None
        Most distinct points to evaluate (None: unlimited).
    data_path : path-like, optional
        The accuracy data set's file (default: found like :func:`archmodel.data.load_dataset`).
    backend : {'numpy', 'numba'}, optional
        Simulator kernels.

    Attributes
    ----------
    calls : int
        Distinct points evaluated so far.
    history : ndarray of int64, shape (calls, G)
        The evaluated genomes (canonical), in order.
    values : dict of str to ndarray, shape (calls,)
        :data:`METRICS` plus ``ideal`` (the cell's accuracy on ideal hardware: Gibbon's
        difference form is ``accuracy = ideal - drop``), ``ok`` (fits the chip) and ``feasible``
        (and meets the constraints) for the history, in order.
    simulate_seconds : float
        Wall time spent in the simulator.
    """

    def __init__(self, space: Any, budget: int | None = None, *, data_path: Any = None,
                 backend: str | None = None) -> None:
        self.space = load_space(space)
        if budget is not None and (not isinstance(budget, (int, np.integer)) or budget < 1):
            raise ParameterError(f"the 'budget' of JointEvaluator must be a positive integer or None; got {budget!r}")
        self.budget = None if budget is None else int(budget)
        self.backend = backend
        self._acc = cell_accuracies(self.space, data_path)
        self._memo: dict[int, int] = {}
        self._rows: list[np.ndarray] = []
        self._vals: dict[str, list] = {k: [] for k in METRICS + ("ideal", "ok", "feasible")}
        self.simulate_seconds = 0.0

    # ------------------------------------------------------------------ state
    @property
    def calls(self) -> int:
        return len(self._rows)

    @property
    def remaining(self) -> float:
        return float("inf") if self.budget is None else self.budget - self.calls

    @property
    def history(self) -> np.ndarray:
        g = len(self.space.gene_sizes)
        return np.array(self._rows, dtype=np.int64).reshape(-1, g)

    @property
    def values(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=bool if k in ("ok", "feasible") else np.float64) for k, v in self._vals.items()}

    def seen(self, genomes: np.ndarray) -> np.ndarray:
        """Whether each point was evaluated already, bool [n]."""
        return np.array([int(p) in self._memo for p in self.space.point_index(genomes)], dtype=bool)

    def ideal_accuracy(self, genomes: np.ndarray) -> np.ndarray:
        """Accuracy of each genome's cell on ideal hardware (the data set's value), float64 [n].

        This is the table the evaluator reads; searches must not call it on unevaluated points
        (it would be a free oracle): they learn it from :attr:`values`.
        """
        return self._acc[self.space.cell_index(genomes)]

    # ------------------------------------------------------------------ evaluation
    def __call__(self, genomes: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate points (each distinct unseen one costs a call), in order.

        Returns
        -------
        dict of str to ndarray, shape (n,)
            :data:`METRICS`, ``ideal``, ``ok``, ``feasible``.

        Raises
        ------
        BudgetExhausted
            If the unseen points exceed the remaining budget (nothing is evaluated then).
        """
        sp = self.space
        g = sp.canonical(genomes)
        pid = sp.point_index(g)
        new = []
        fresh: dict[int, int] = {}
        for i, p in enumerate(pid):
            p = int(p)
            if p not in self._memo and p not in fresh:
                fresh[p] = i
                new.append(i)
        if len(new) > self.remaining:
            raise BudgetExhausted(f"{len(new)} new points but {self.remaining} calls left")
        if new:
            t0 = time.perf_counter()
            cells = sp.cell_index(g[new])
            hwi = sp.hardware_index(g[new])
            out = {k: np.empty(len(new)) for k in ("latency_s", "energy_j", "area_mm2", "edp_js")}
            out["ok"] = np.empty(len(new), dtype=bool)
            for c in np.unique(cells):
                sel = np.flatnonzero(cells == c)
                r = _simulate_cell(sp, sp.cells[c], hwi[sel], self.backend)
                for k in out:
                    out[k][sel] = r[k]
            out["ideal"] = self._acc[cells]
            out["accuracy"] = out["ideal"]  # this space's accuracy does not depend on the hardware
            out["feasible"] = feasible(sp, out)
            self.simulate_seconds += time.perf_counter() - t0
            for j, i in enumerate(new):
                self._memo[int(pid[i])] = len(self._rows)
                self._rows.append(g[i])
                for k in self._vals:
                    self._vals[k].append(out[k][j])
        rows = [self._memo[int(p)] for p in pid]
        return {k: np.asarray(v, dtype=bool if k in ("ok", "feasible") else np.float64)[rows]
                for k, v in self._vals.items()}


# -------------------------------------------------------------------------- exhaustive
def evaluate_cells(cells: np.ndarray, *, spec: dict, backend: str | None = None) -> dict[str, np.ndarray]:
    """Costs of the representative cells ``cells`` (indices) on every configuration of the space
    ``spec``: arrays [len(cells), n_hardware] (one task of :func:`evaluate_all`)."""
    from archmodel.nn.parallel import single_threaded_blas

    key = json.dumps(spec, sort_keys=True)
    space = _SPACES.get(key)
    if space is None:
        space = _SPACES[key] = JointSpace(spec)
    H = space.n_hardware
    out = {k: np.empty((len(cells), H)) for k in ("latency_s", "energy_j", "area_mm2", "edp_js")}
    out["ok"] = np.empty((len(cells), H), dtype=bool)
    with single_threaded_blas():  # one task per core: tracing's small convolutions must not oversubscribe
        for i, c in enumerate(cells):
            r = _simulate_cell(space, space.cells[int(c)], None, backend)
            for k in out:
                out[k][i] = r[k]
    return out


def evaluate_all(space: Any, *, engine: str = "local", scheduler: Any = None, data_path: Any = None,
                 backend: str | None = None, progress: Callable[[int, int], None] | None = None,
                 chunk_cells: int = 64) -> dict[str, Any]:
    """Every point of ``space``: the ground truth a search is measured against.

    Parameters
    ----------
    space : JointSpace, str or dict
    engine, scheduler
        Where the chunks of cells run (:func:`archmodel.distributed.map_chunks`: ``'local'``,
        one after the other in this process; ``'dask'``, on a Dask cluster, by default a local
        one with a worker process per core).
    progress : callable, optional
        ``progress(cells_done, n_cells)``.
    chunk_cells : int
        Cells per task.

    Returns
    -------
    dict
        ``values``: :data:`METRICS`, ``ideal``, ``ok`` and ``feasible`` as arrays [n_cells, n_hardware];
        ``seconds``: wall time; ``points``: number of points.
    """
    import contextlib

    from archmodel.distributed import map_chunks

    sp = load_space(space)
    acc = cell_accuracies(sp, data_path)
    t0 = time.perf_counter()
    chunks = [np.arange(i, min(i + chunk_cells, sp.n_cells)) for i in range(0, sp.n_cells, chunk_cells)]
    extra = {}
    if engine == "dask" and scheduler is None:
        from archmodel.nn.parallel import default_n_jobs

        extra["n_workers"] = default_n_jobs()
    parts = []
    done = 0
    with contextlib.closing(map_chunks(evaluate_cells, chunks, kwargs={"spec": sp.spec, "backend": backend},
                                       engine=engine, scheduler=scheduler, name="pim-front", **extra)) as results:
        for part in results:
            parts.append(part)
            done += len(part["ok"])
            if progress:
                progress(done, sp.n_cells)
    values = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
    values["ideal"] = np.repeat(acc[:, None], sp.n_hardware, axis=1)
    values["accuracy"] = values["ideal"]  # this space's accuracy does not depend on the hardware
    values["feasible"] = feasible(sp, values)
    return {"values": values, "seconds": time.perf_counter() - t0, "points": sp.size}
