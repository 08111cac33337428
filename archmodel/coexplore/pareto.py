"""Pareto dominance, NSGA-II's sorting and crowding, and exact hypervolume.

Everything here works on *gains*: an array ``G [n, m]`` in which every column is maximised and
the hypervolume reference point is the origin (:func:`gains` builds it from objective values:
``accuracy - ref`` and ``log10(ref) - log10(cost)``). A point with a non-positive gain in some
column adds no hypervolume.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from archmodel.errors import ParameterError

__all__ = ["gains", "non_dominated", "non_dominated_sort", "crowding_distance", "hypervolume",
           "hypervolume_contributions"]


def gains(values: Mapping[str, np.ndarray], objectives: Sequence[str], reference: Mapping[str, float]) -> np.ndarray:
    """Objective values -> gains (maximised, reference at the origin), float64 [n, m].

    ``accuracy``: ``value - reference``; costs (``edp_js``, ``latency_s``, ``energy_j``,
    ``area_mm2``): ``log10(reference) - log10(value)`` (costs span orders of magnitude).
    """
    from archmodel.coexplore.space import OBJECTIVES

    cols = []
    for name in objectives:
        v = np.asarray(values[name], dtype=np.float64)
        if OBJECTIVES[name] > 0:
            cols.append(v - reference[name])
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                cols.append(np.log10(reference[name]) - np.log10(v))
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def _check(G: np.ndarray) -> np.ndarray:
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2:
        raise ParameterError(f"gains must be a 2-D array [n, m]; got shape {G.shape}")
    if not np.isfinite(G).all():
        raise ParameterError("gains must be finite (drop infeasible points first)")
    return G


def non_dominated(G: np.ndarray) -> np.ndarray:
    """Mask of the points no other point dominates (>= in every column, > in one), bool [n].

    Duplicates of a non-dominated point are all kept. Two columns: one sort, O(n log n);
    more: each point is checked against the current front, O(n * front).
    """
    G = _check(G)
    n, m = G.shape
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    if m == 2:
        order = np.lexsort((-G[:, 1], -G[:, 0]))  # by g0 desc, then g1 desc
        best = -np.inf
        prev = None
        for i in order:
            row = (G[i, 0], G[i, 1])
            if row == prev:
                keep[i] = keep[last]
                continue
            if G[i, 1] > best:
                keep[i] = True
                best = G[i, 1]
            prev, last = row, i
        return keep
    order = np.lexsort(tuple(-G[:, j] for j in range(m - 1, -1, -1)))
    front: list[int] = []
    for i in order:
        if front:
            F = G[front]
            dom = np.all(F >= G[i], axis=1) & np.any(F > G[i], axis=1)
            if dom.any():
                continue
        front.append(int(i))
    keep[front] = True
    return keep


def non_dominated_sort(G: np.ndarray) -> np.ndarray:
    """NSGA-II's fast non-dominated sort: the front rank of each point (0 = non-dominated), int64 [n]."""
    G = _check(G)
    n = G.shape[0]
    ge = np.all(G[:, None, :] >= G[None, :, :], axis=2)
    gt = np.any(G[:, None, :] > G[None, :, :], axis=2)
    dom = ge & gt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)
    rank = np.full(n, -1, dtype=np.int64)
    current = np.flatnonzero(count == 0)
    r = 0
    while current.size:
        rank[current] = r
        count = count - dom[current].sum(axis=0)
        count[rank >= 0] = -1
        current = np.flatnonzero(count == 0)
        r += 1
    return rank


def crowding_distance(G: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of the points of one front, float64 [n] (inf at the extremes)."""
    G = _check(G)
    n, m = G.shape
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(G[:, j], kind="stable")
        span = G[order[-1], j] - G[order[0], j]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (G[order[2:], j] - G[order[:-2], j]) / span
    return d


def _hv2(P: np.ndarray) -> float:
    """Area dominated by 2-D points with positive gains (sweep over g0 descending)."""
    if P.shape[0] == 0:
        return 0.0
    order = np.lexsort((-P[:, 1], -P[:, 0]))
    P = P[order]
    best = np.maximum.accumulate(P[:, 1])
    x = P[:, 0]
    nxt = np.append(x[1:], 0.0)
    return float(np.sum((x - nxt) * best))


def _hv(P: np.ndarray) -> float:
    m = P.shape[1]
    if P.shape[0] == 0:
        return 0.0
    if m == 1:
        return float(P[:, 0].max())
    if m == 2:
        return _hv2(P)
    # slicing (HSO): sweep the last column downwards; each slab is the (m-1)-D volume of the
    # points at least that high in the last column
    P = P[non_dominated(P)]
    order = np.argsort(-P[:, -1], kind="stable")
    P = P[order]
    total = 0.0
    for i in range(P.shape[0]):
        top = P[i, -1]
        bottom = P[i + 1, -1] if i + 1 < P.shape[0] else 0.0
        if top > bottom:
            total += (top - bottom) * _hv(P[: i + 1, :-1])
    return total


def hypervolume(G: np.ndarray) -> float:
    """Exact hypervolume dominated by ``G`` with the reference point at the origin.

    Rows with a non-positive gain anywhere contribute nothing and are dropped. Two columns: a
    sweep, O(n log n); more columns: exact slicing over the last column (HSO), meant for fronts
    of up to a few thousand points.
    """
    G = _check(G)
    P = G[np.all(G > 0, axis=1)]
    if P.shape[0] == 0:
        return 0.0
    return _hv(P[non_dominated(P)])


def hypervolume_contributions(front: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Hypervolume each candidate would add to ``front`` on its own, float64 [k] (>= 0)."""
    front = _check(front) if len(front) else np.zeros((0, candidates.shape[1]))
    cand = _check(candidates)
    base = hypervolume(front)
    return np.array([max(hypervolume(np.vstack([front, c[None, :]])) - base, 0.0) for c in cand])
