"""Ranking and regression loss kernels, Numba twin of :mod:`archmodel.backends.numpy.losses`.

Same names, signatures and definitions as the NumPy reference (see there for the maths); one
fused pass over the pairs (or lists) each. float64 only. Compiled lazily on first call.
"""
from __future__ import annotations

import math

import numpy as np

from archmodel.backends.numba._jit import njit


@njit
def _logaddexp(a, b):  # pragma: no cover - jitted
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


@njit
def _sign(x):  # pragma: no cover - jitted
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return 0.0


@njit
def _hinge(scores, targets, i, j, margin):  # pragma: no cover - jitted
    n = scores.shape[0]
    p = i.shape[0]
    grad = np.zeros(n, dtype=np.float64)
    if p == 0:
        return 0.0, grad
    total = 0.0
    for k in range(p):
        a = i[k]
        b = j[k]
        y = _sign(targets[b] - targets[a])
        viol = margin - y * (scores[b] - scores[a])
        if viol > 0:
            total += viol
            grad[b] -= y / p
            grad[a] += y / p
    return total / p, grad


@njit
def _logistic(scores, targets, i, j):  # pragma: no cover - jitted
    n = scores.shape[0]
    p = i.shape[0]
    grad = np.zeros(n, dtype=np.float64)
    if p == 0:
        return 0.0, grad
    total = 0.0
    for k in range(p):
        a = i[k]
        b = j[k]
        y = _sign(targets[b] - targets[a])
        u = -y * (scores[b] - scores[a])
        e = math.exp(-abs(u))
        if u >= 0:
            total += u + math.log1p(e)
            sig = 1.0 / (1.0 + e)
        else:
            total += math.log1p(e)
            sig = e / (1.0 + e)
        g = -y * sig / p
        grad[b] += g
        grad[a] -= g
    return total / p, grad


@njit
def _listmle(scores, lists):  # pragma: no cover - jitted
    n = scores.shape[0]
    n_lists, length = lists.shape
    grad = np.zeros(n, dtype=np.float64)
    if n_lists == 0 or length == 0:
        return 0.0, grad
    denom = n_lists * length
    lse = np.empty(length, dtype=np.float64)
    total = 0.0
    for r in range(n_lists):
        run = -np.inf
        for k in range(length - 1, -1, -1):
            run = _logaddexp(scores[lists[r, k]], run)
            lse[k] = run
        acc = -np.inf
        for m in range(length):
            s = scores[lists[r, m]]
            total += lse[m] - s
            acc = _logaddexp(acc, -lse[m])
            grad[lists[r, m]] += (math.exp(s + acc) - 1.0) / denom
    return total / denom, grad


@njit
def _mse(scores, targets):  # pragma: no cover - jitted
    n = scores.shape[0]
    grad = np.empty(n, dtype=np.float64)
    if n == 0:
        return 0.0, grad
    total = 0.0
    for k in range(n):
        r = scores[k] - targets[k]
        total += r * r
        grad[k] = 2.0 * r / n
    return total / n, grad


def _f(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _i(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def pairwise_hinge(scores: np.ndarray, targets: np.ndarray, i: np.ndarray, j: np.ndarray,
                   margin: float) -> tuple[float, np.ndarray]:
    """Mean pairwise hinge loss -> (loss, grad [n])."""
    loss, grad = _hinge(_f(scores), _f(targets), _i(i), _i(j), float(margin))
    return float(loss), grad


def pairwise_logistic(scores: np.ndarray, targets: np.ndarray, i: np.ndarray,
                      j: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean pairwise logistic loss -> (loss, grad [n])."""
    loss, grad = _logistic(_f(scores), _f(targets), _i(i), _i(j))
    return float(loss), grad


def listmle(scores: np.ndarray, lists: np.ndarray) -> tuple[float, np.ndarray]:
    """ListMLE negative log-likelihood -> (loss, grad [n])."""
    loss, grad = _listmle(_f(scores), _i(lists))
    return float(loss), grad


def mse(scores: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error -> (loss, grad [n])."""
    loss, grad = _mse(_f(scores), _f(targets))
    return float(loss), grad
