"""Multi-objective searches of a joint network x PIM-hardware space: random, NSGA-II, Gibbon.

Every search is ``search(ev, rng, **options)``: it asks the :class:`~archmodel.coexplore.evaluate.JointEvaluator`
``ev`` for points until its budget is spent. All randomness comes from ``rng`` (a
:class:`numpy.random.Generator`), so a seed fixes the whole path.

* :func:`random_search` — distinct uniform points.
* :func:`nsga2` — NSGA-II (Deb et al. 2002): binary tournaments on (front rank, crowding
  distance), uniform crossover, uniform per-gene mutation, elitist survivor selection.
* :func:`gibbon` — Gibbon's evolution (Sun et al., DATE 2022 / TCAD 2023):

  - **adaptive parameter priority**: each gene ``i`` has a priority ``p_i`` (they sum to 1); a
    child is made by mutating genes drawn with probability ``p``. After each generation
    ``p_i <- (1 - rate) p_i + rate * s_i / sum(s)``, with ``s_i`` the smoothed success rate of
    the children that mutated gene ``i`` (a success: the child is on the non-dominated front of
    everything evaluated so far), then floored at ``floor / G`` and renormalised. The history
    is returned (``priority_history``), so what the search learned is measurable;
  - **predictor pre-screening**: :class:`~archmodel.coexplore.predictor.JointPredictor`, refit
    on all evaluated points each generation, scores ``screen`` x as many candidate children as
    are evaluated, plus every hardware configuration of up to ``hw_sweep`` of their cells; the
    evaluated ones are chosen greedily by predicted hypervolume gain over the current front
    (then by predicted front rank), a fraction ``explore`` (30 %) uniformly among the
    candidates of the first predicted non-dominated layers (at least ``max(4 x children, 64)``
    of them).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from archmodel.coexplore.evaluate import BudgetExhausted, JointEvaluator, feasible
from archmodel.coexplore.pareto import (
    crowding_distance,
    gains,
    hypervolume,
    hypervolume_contributions,
    non_dominated,
    non_dominated_sort,
)
from archmodel.errors import ParameterError, check_range

log = logging.getLogger(__name__)

__all__ = ["SEARCHES", "random_search", "nsga2", "gibbon", "run_search", "hypervolume_trace", "update_priority"]


# ---------------------------------------------------------------------------- helpers
def _gains_of(ev: JointEvaluator, vals: dict[str, np.ndarray]) -> np.ndarray:
    """Gains of points; infeasible points get -inf in every column."""
    sp = ev.space
    G = gains(vals, sp.objectives, sp.reference)
    G[~vals["feasible"]] = -np.inf
    G[~np.isfinite(G)] = -np.inf
    return G


def _finite(G: np.ndarray) -> np.ndarray:
    """Gains with -inf replaced by a value below every finite one (for sorting/crowding)."""
    G = G.copy()
    fin = np.isfinite(G)
    low = (G[fin].min() if fin.any() else 0.0) - 1e6
    G[~fin] = low
    return G


def _rank_and_crowding(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NSGA-II's front rank of every row and its crowding distance within its front."""
    F = _finite(G)
    rank = non_dominated_sort(F)
    crowd = np.zeros(len(G))
    for r in np.unique(rank):
        idx = np.flatnonzero(rank == r)
        crowd[idx] = crowding_distance(F[idx])
    return rank, crowd


def _select_survivors(G: np.ndarray, n: int) -> np.ndarray:
    """NSGA-II environmental selection: indices of ``n`` rows by (rank, -crowding)."""
    rank, crowd = _rank_and_crowding(G)
    keep: list[int] = []
    for r in range(rank.max() + 1):
        idx = np.flatnonzero(rank == r)
        if len(keep) + len(idx) <= n:
            keep.extend(idx.tolist())
        else:
            keep.extend(idx[np.argsort(-crowd[idx], kind="stable")][: n - len(keep)].tolist())
            break
    return np.asarray(keep, dtype=np.int64)


def _tournament(rank: np.ndarray, crowd: np.ndarray, rng: np.random.Generator) -> int:
    a, b = rng.integers(0, len(rank), size=2)
    if rank[a] != rank[b]:
        return int(a if rank[a] < rank[b] else b)
    return int(a if crowd[a] >= crowd[b] else b)


def _fresh_random(ev: JointEvaluator, rng: np.random.Generator, n: int, taken: set[int]) -> np.ndarray:
    sp = ev.space
    out = []
    for _ in range(1000 * max(n, 1)):
        if len(out) == n:
            break
        g = sp.sample(1, rng)
        pid = int(sp.point_index(g)[0])
        if pid in taken or ev.seen(g)[0]:
            continue
        taken.add(pid)
        out.append(g[0])
    return np.array(out, dtype=np.int64).reshape(-1, len(sp.gene_sizes))


def _evaluate(ev: JointEvaluator, genomes: np.ndarray) -> bool:
    """Evaluate as many of ``genomes`` as the budget allows; False once it is spent."""
    if len(genomes) == 0:
        return ev.remaining > 0
    k = int(min(len(genomes), ev.remaining))
    if k <= 0:
        return False
    try:
        ev(genomes[:k])
    except BudgetExhausted:  # pragma: no cover - k respects the budget
        return False
    return ev.remaining > 0


def _archive(ev: JointEvaluator) -> tuple[np.ndarray, np.ndarray]:
    return ev.history, _gains_of(ev, ev.values)


# ---------------------------------------------------------------------------- random
def random_search(ev: JointEvaluator, rng: np.random.Generator, *, batch: int = 50,
                  progress: Callable[[JointEvaluator], None] | None = None) -> dict[str, Any]:
    """Distinct uniformly random points until the budget is spent."""
    taken: set[int] = set()
    while ev.remaining > 0:
        g = _fresh_random(ev, rng, int(min(batch, ev.remaining)), taken)
        if len(g) == 0:
            break
        _evaluate(ev, g)
        if progress:
            progress(ev)
    return {}


# ---------------------------------------------------------------------------- NSGA-II
def _offspring(ev: JointEvaluator, pop: np.ndarray, Gp: np.ndarray, n: int, rng: np.random.Generator,
               mutate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], crossover: float,
               taken: set[int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """``n`` unseen children (and the genes each mutated) of tournament-selected parents."""
    sp = ev.space
    rank, crowd = _rank_and_crowding(Gp)
    kids: list[np.ndarray] = []
    moved: list[np.ndarray] = []
    for _ in range(200 * max(n, 1)):
        if len(kids) == n:
            break
        a = pop[_tournament(rank, crowd, rng)]
        if rng.random() < crossover:
            b = pop[_tournament(rank, crowd, rng)]
            mask = rng.random(len(a)) < 0.5
            child = np.where(mask, a, b)
            if not sp.has_cell(child):  # a listed-cells space: keep a listed cell
                child[:sp.n_cell_genes] = a[:sp.n_cell_genes]
        else:
            child = a.copy()
        child, genes = mutate(child)
        child = sp.canonical(child)[0]
        pid = int(sp.point_index(child)[0])
        if pid in taken or ev.seen(child)[0]:
            continue
        taken.add(pid)
        kids.append(child)
        moved.append(genes)
    if len(kids) < n:  # the neighbourhood is exhausted: fill with random points
        extra = _fresh_random(ev, rng, n - len(kids), taken)
        kids.extend(extra)
        moved.extend([np.zeros(0, dtype=np.int64)] * len(extra))
    return np.array(kids, dtype=np.int64).reshape(-1, len(sp.gene_sizes)), moved


def nsga2(ev: JointEvaluator, rng: np.random.Generator, *, population: int = 20, crossover: float = 0.9,
          mutation: float | None = None, progress: Callable[[JointEvaluator], None] | None = None) -> dict[str, Any]:
    """NSGA-II with uniform crossover and uniform per-gene mutation (probability ``mutation``,
    default ``1 / G``; a child that changed no gene gets one random gene mutated)."""
    check_range("nsga2", "population", population, 2, integer=True)
    check_range("nsga2", "crossover", crossover, 0.0, 1.0)
    sp = ev.space
    n_genes = len(sp.gene_sizes)
    pm = 1.0 / n_genes if mutation is None else float(check_range("nsga2", "mutation", mutation, 0.0, 1.0))

    def mutate(child: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        genes = np.flatnonzero(rng.random(n_genes) < pm)
        if genes.size == 0:
            genes = np.array([rng.integers(0, n_genes)])
        for i in genes:
            child = sp.mutate(child, int(i), rng)
        return child, genes

    taken: set[int] = set()
    if not _evaluate(ev, _fresh_random(ev, rng, int(min(population, ev.remaining)), taken)):
        return {}
    pop_idx = np.arange(ev.calls)
    while ev.remaining > 0:
        hist, G = _archive(ev)
        kids, _ = _offspring(ev, hist[pop_idx], G[pop_idx], int(min(population, ev.remaining)), rng, mutate,
                             crossover, taken)
        start = ev.calls
        more = _evaluate(ev, kids)
        if progress:
            progress(ev)
        hist, G = _archive(ev)
        union = np.concatenate([pop_idx, np.arange(start, ev.calls)])
        pop_idx = union[_select_survivors(G[union], population)]
        if not more:
            break
    return {}


# ---------------------------------------------------------------------------- Gibbon
def gibbon(ev: JointEvaluator, rng: np.random.Generator, *, population: int = 20, screen: int = 10,
           predictor: str = "mlp", crossover: float = 0.5, priority_rate: float = 0.3, floor: float = 0.25,
           explore: float = 0.3, n_init: int | None = None, hw_sweep: int = 64,
           predictor_options: dict | None = None,
           progress: Callable[[JointEvaluator], None] | None = None) -> dict[str, Any]:
    """Gibbon: adaptive-priority evolution with predictor pre-screening (module docstring).

    Parameters
    ----------
    population : int >= 2
        Parents kept and children evaluated per generation.
    screen : int >= 1
        Candidates scored by the predictor per evaluated child.
    predictor : {'mlp', 'lstm'}
    crossover : float in [0, 1]
        Probability that a child starts as a uniform crossover of two parents.
    priority_rate : float in (0, 1]
        Step of the priority update.
    floor : float in [0, 1)
        Every priority stays >= ``floor / G``.
    explore : float in [0, 1]
        Share of each generation's children taken at random from the screened candidates (the
        first predicted non-dominated layers, at least ``max(4 x population, 64)`` rows).
    n_init : int, optional
        Random points before the first generation (default ``2 * population``).
    hw_sweep : int >= 0
        Pair up to this many of the candidate children's cells with *every* hardware
        configuration as further candidates (the predictor is cheap enough to score them all;
        0: off). Each such candidate credits the genes its child mutated plus the knobs changed.

    Returns
    -------
    dict
        ``priority_history`` (list of per-gene priorities, one per generation), ``gene_names``,
        ``predictor_seconds`` and ``predictor`` (the fitted JointPredictor).
    """
    from archmodel.coexplore.predictor import JointPredictor

    check_range("gibbon", "population", population, 2, integer=True)
    check_range("gibbon", "screen", screen, 1, integer=True)
    check_range("gibbon", "priority_rate", priority_rate, 0.0, 1.0, low_inclusive=False)
    check_range("gibbon", "floor", floor, 0.0, 1.0, high_inclusive=False)
    check_range("gibbon", "explore", explore, 0.0, 1.0)
    sp = ev.space
    n_genes = len(sp.gene_sizes)
    prio = np.full(n_genes, 1.0 / n_genes)
    trials = np.ones(n_genes)
    wins = np.full(n_genes, 0.5)
    history = [prio.tolist()]
    costs = sorted({o for o in sp.objectives if o != "accuracy"} | set(sp.constraints) - {"accuracy"})
    model = JointPredictor(predictor, seed=int(rng.integers(0, 2**31 - 1)), **(predictor_options or {}))
    t_pred = 0.0

    def mutate(child: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = 1 + int(rng.random() < 0.3)
        genes = rng.choice(n_genes, size=k, replace=False, p=prio)
        for i in genes:
            child = sp.mutate(child, int(i), rng)
        return child, genes

    taken: set[int] = set()
    n0 = 2 * population if n_init is None else int(check_range("gibbon", "n_init", n_init, 2, integer=True))
    if not _evaluate(ev, _fresh_random(ev, rng, int(min(n0, ev.remaining)), taken)):
        return {"priority_history": history, "gene_names": sp.gene_names(), "predictor_seconds": 0.0}
    _, G = _archive(ev)
    pop_idx = _select_survivors(G, population)
    while ev.remaining > 0:
        hist, G = _archive(ev)
        vals = ev.values
        n_eval = int(min(population, ev.remaining))
        cand, moved = _offspring(ev, hist[pop_idx], G[pop_idx], n_eval * screen, rng, mutate, crossover, taken)
        # the ideal accuracy of a cell is known once any point of that cell was simulated
        ideal = vals["ideal"]
        known = {tuple(int(x) for x in row[:sp.n_cell_genes]): float(a) for row, a in zip(hist, ideal)}
        t0 = time.perf_counter()
        model.fit(sp, hist, vals, costs)
        if hw_sweep:
            cand, moved = _hardware_sweep(ev, cand, moved, hw_sweep)
        pred = model.predict(cand, known_ideal=known)
        t_pred += time.perf_counter() - t0
        pred["ok"] = np.ones(len(cand), dtype=bool)  # the predictor does not model chip overflow
        pred["feasible"] = feasible(sp, pred)
        Gc = _gains_of(ev, pred)
        keep = _predicted_front_layers(Gc, max(4 * n_eval, 64))  # the greedy pick needs only these
        chosen = keep[_choose(G, Gc[keep], n_eval, explore, rng)]
        for j in set(range(len(cand))) - set(chosen.tolist()):  # unchosen candidates stay available
            taken.discard(int(sp.point_index(cand[j])[0]))
        start = ev.calls
        more = _evaluate(ev, cand[chosen])
        if progress:
            progress(ev)
        hist, G = _archive(ev)
        # priority update from the evaluated children
        fin = np.isfinite(G).all(axis=1)
        front = np.zeros(len(G), dtype=bool)
        if fin.any():
            front[np.flatnonzero(fin)[non_dominated(G[fin])]] = True
        t_gen = np.zeros(n_genes)
        w_gen = np.zeros(n_genes)
        for row, j in zip(range(start, ev.calls), chosen):
            for i in moved[j]:
                t_gen[i] += 1
                w_gen[i] += float(front[row])
        prio, trials, wins = update_priority(prio, trials, wins, t_gen, w_gen, priority_rate, floor)
        history.append(prio.tolist())
        union = np.concatenate([pop_idx, np.arange(start, ev.calls)])
        pop_idx = union[_select_survivors(G[union], population)]
        if not more:
            break
    return {"priority_history": history, "gene_names": sp.gene_names(), "predictor_seconds": t_pred,
            "predictor": model}


def update_priority(prio: np.ndarray, trials: np.ndarray, wins: np.ndarray, t_gen: np.ndarray,
                    w_gen: np.ndarray, rate: float, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gibbon's priority step: smoothed trials/wins (decay 0.7) per gene, then
    ``p <- (1 - rate) p + rate * s / sum(s)`` with ``s = wins / trials``, floored at
    ``floor / G`` and renormalised. Returns ``(p, trials, wins)``."""
    trials = 0.7 * trials + t_gen
    wins = 0.7 * wins + w_gen
    s = wins / np.maximum(trials, 1e-12)
    if s.sum() > 0:
        prio = (1 - rate) * prio + rate * s / s.sum()
    prio = np.maximum(prio, floor / len(prio))
    return prio / prio.sum(), trials, wins


def _hardware_sweep(ev: JointEvaluator, cand: np.ndarray, moved: list[np.ndarray], n_cells: int
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """``cand`` plus every configuration of the cells of its first ``n_cells`` distinct cells
    (unseen points only)."""
    sp = ev.space
    nc = sp.n_cell_genes
    if sp.n_hardware > 4096 or len(cand) == 0:
        return cand, moved
    hw = sp.hardware_genes()
    _, first = np.unique(cand[:, :nc], axis=0, return_index=True)
    first = np.sort(first)[:n_cells]
    have = set(sp.point_index(cand).tolist())
    rows, mv = [cand], list(moved)
    for j in first:
        pts = np.concatenate([np.repeat(cand[j:j + 1, :nc], len(hw), axis=0), hw], axis=1)
        pid = sp.point_index(pts)
        fresh = np.array([p not in have for p in pid.tolist()]) & ~ev.seen(pts)
        pts = pts[fresh]
        have.update(pid[fresh].tolist())
        rows.append(pts)
        changed = pts[:, nc:] != cand[j, nc:]
        mv.extend(np.union1d(moved[j], nc + np.flatnonzero(c)).astype(np.int64) for c in changed)
    return np.concatenate(rows, axis=0), mv


def _predicted_front_layers(Gc: np.ndarray, at_least: int) -> np.ndarray:
    """Indices of the first predicted non-dominated layers of ``Gc`` holding >= ``at_least`` rows."""
    fin = np.flatnonzero(np.isfinite(Gc).all(axis=1))
    keep: list[np.ndarray] = []
    left = fin
    while left.size and sum(len(k) for k in keep) < at_least:
        nd = non_dominated(Gc[left])
        keep.append(left[nd])
        left = left[~nd]
    out = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return np.sort(out)


def _choose(G_archive: np.ndarray, Gc: np.ndarray, n: int, explore: float, rng: np.random.Generator) -> np.ndarray:
    """Greedy pick of ``n`` candidates by predicted hypervolume gain over the archive's front,
    then by predicted front rank; ``round(explore * n)`` of them uniformly at random."""
    k = len(Gc)
    n = min(n, k)
    n_rand = int(round(explore * n))
    fin_a = np.isfinite(G_archive).all(axis=1)
    front = G_archive[fin_a]
    front = front[non_dominated(front)] if len(front) else np.zeros((0, Gc.shape[1]))
    avail = np.isfinite(Gc).all(axis=1)
    chosen: list[int] = []
    while len(chosen) < n - n_rand:
        idx = np.flatnonzero(avail)
        if idx.size == 0:
            break
        hv = hypervolume_contributions(front, Gc[idx])
        if hv.max() <= 0:
            break
        best = int(idx[int(np.argmax(hv))])
        chosen.append(best)
        avail[best] = False
        front = np.vstack([front, Gc[best][None, :]])
        front = front[non_dominated(front)]
    rest = np.flatnonzero(avail)
    if len(chosen) < n - n_rand and rest.size:
        F = _finite(Gc[rest])
        rank = non_dominated_sort(F)
        order = rest[np.lexsort((-F.sum(axis=1), rank))]
        take = order[: n - n_rand - len(chosen)]
        chosen.extend(int(i) for i in take)
        avail[take] = False
    left = np.flatnonzero(~np.isin(np.arange(k), chosen))
    if left.size and len(chosen) < n:
        chosen.extend(int(i) for i in rng.choice(left, size=min(n - len(chosen), left.size), replace=False))
    return np.asarray(chosen, dtype=np.int64)


SEARCHES: dict[str, Callable[..., dict[str, Any]]] = {"random": random_search, "nsga2": nsga2, "gibbon": gibbon}


# ---------------------------------------------------------------------------- driver
def hypervolume_trace(ev: JointEvaluator, calls: list[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hypervolume of the feasible points among the first ``c`` evaluated, for each ``c`` in
    ``calls`` (default: every call count), as ``(calls, hypervolume)`` arrays."""
    G = _gains_of(ev, ev.values)
    n = len(G)
    cs = np.arange(1, n + 1) if calls is None else np.asarray([c for c in calls if c <= n], dtype=np.int64)
    hv = np.zeros(len(cs))
    front = np.zeros((0, G.shape[1]))
    done = 0
    for j, c in enumerate(cs):
        new = G[done:c]
        new = new[np.isfinite(new).all(axis=1)]
        if len(new):
            front = np.vstack([front, new])
            front = front[non_dominated(front)]
        done = c
        hv[j] = hypervolume(front) if len(front) else 0.0
    return cs, hv


def run_search(space: Any, algorithm: str, budget: int, *, seed: int = 0, data_path: Any = None,
               backend: str | None = None, progress: Callable[[JointEvaluator], None] | None = None,
               **options: Any) -> dict[str, Any]:
    """Run one search and summarise it.

    Returns
    -------
    dict
        ``evaluator`` (the JointEvaluator: history and values), ``calls``, ``hypervolume``,
        ``front`` (indices into the history of its non-dominated feasible points),
        ``seconds``, ``simulate_seconds``, ``predictor_seconds`` and the algorithm's own
        outputs (Gibbon: ``priority_history``, ``gene_names``, ``predictor``).
    """
    if algorithm not in SEARCHES:
        raise ParameterError(f"the 'algorithm' of a co-exploration search must be one of {sorted(SEARCHES)}; "
                             f"got {algorithm!r}")
    check_range("run_search", "budget", budget, 1, integer=True)
    ev = JointEvaluator(space, budget, data_path=data_path, backend=backend)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    extra = SEARCHES[algorithm](ev, rng, progress=progress, **options)
    seconds = time.perf_counter() - t0
    G = _gains_of(ev, ev.values)
    fin = np.flatnonzero(np.isfinite(G).all(axis=1))
    front = fin[non_dominated(G[fin])] if fin.size else fin
    return {"evaluator": ev, "calls": ev.calls, "hypervolume": hypervolume(G[front]) if front.size else 0.0,
            "front": front, "seconds": seconds, "simulate_seconds": ev.simulate_seconds,
            "predictor_seconds": float(extra.get("predictor_seconds", 0.0)), **extra}
