"""Ranking and regression loss kernels, NumPy reference (the ``losses`` kernel family).

Every kernel returns ``(loss, grad)`` where ``loss`` is a Python float and ``grad`` is
``d loss / d scores`` with the shape of ``scores``. Kernels work in float64 (the callers in
:mod:`archmodel.losses` cast), never draw random numbers (pairs and lists are given) and never
validate their inputs (the callers do).

Definitions (``P`` pairs ``(i[k], j[k])``, ``y_k = sign(t[j[k]] - t[i[k]])``,
``d_k = s[j[k]] - s[i[k]]``):

* :func:`pairwise_hinge`: ``(1/P) sum_k max(0, margin - y_k d_k)``; the sub-gradient at the
  hinge point (``margin - y_k d_k == 0``) is taken as 0;
* :func:`pairwise_logistic`: ``(1/P) sum_k log(1 + exp(-y_k d_k))`` computed as
  ``logaddexp(0, -y_k d_k)``;
* :func:`listmle`: for ``L``-long lists ``pi`` (indices, best first), the Plackett-Luce negative
  log-likelihood averaged over positions and lists,
  ``(1/(n_lists L)) sum_lists sum_k [logsumexp(s[pi[k:]]) - s[pi[k]]]``;
* :func:`mse`: ``(1/n) sum (s - t)^2``.

With ``P == 0`` pairs (or no lists, or ``n == 0``) the loss is 0 and the gradient is all zeros.
"""
from __future__ import annotations

import numpy as np


def _pair_terms(scores: np.ndarray, targets: np.ndarray, i: np.ndarray,
                j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.sign(targets[j] - targets[i])
    d = scores[j] - scores[i]
    return y, d


def _scatter_pairs(n: int, i: np.ndarray, j: np.ndarray, g_d: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. scores of ``sum_k f_k(s[j_k] - s[i_k])`` given ``g_d[k] = f_k'``."""
    return (np.bincount(j, weights=g_d, minlength=n)
            - np.bincount(i, weights=g_d, minlength=n)).astype(np.float64, copy=False)


def pairwise_hinge(scores: np.ndarray, targets: np.ndarray, i: np.ndarray, j: np.ndarray,
                   margin: float) -> tuple[float, np.ndarray]:
    """Mean pairwise hinge loss ``max(0, margin - y (s_j - s_i))``.

    Parameters
    ----------
    scores : float64 ndarray [n]
    targets : float64 ndarray [n]
    i, j : int64 ndarray [P]
        Pair indices into ``scores``.
    margin : float

    Returns
    -------
    loss : float
    grad : float64 ndarray [n]
    """
    n = scores.shape[0]
    p = i.shape[0]
    if p == 0:
        return 0.0, np.zeros(n, dtype=np.float64)
    y, d = _pair_terms(scores, targets, i, j)
    viol = margin - y * d
    active = viol > 0
    loss = float(np.where(active, viol, 0.0).sum() / p)
    g_d = np.where(active, -y, 0.0) / p
    return loss, _scatter_pairs(n, i, j, g_d)


def pairwise_logistic(scores: np.ndarray, targets: np.ndarray, i: np.ndarray,
                      j: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean pairwise logistic loss ``log(1 + exp(-y (s_j - s_i)))`` (RankNet).

    Parameters
    ----------
    scores : float64 ndarray [n]
    targets : float64 ndarray [n]
    i, j : int64 ndarray [P]

    Returns
    -------
    loss : float
    grad : float64 ndarray [n]
    """
    n = scores.shape[0]
    p = i.shape[0]
    if p == 0:
        return 0.0, np.zeros(n, dtype=np.float64)
    y, d = _pair_terms(scores, targets, i, j)
    u = -y * d
    loss = float(np.logaddexp(0.0, u).sum() / p)
    # d softplus(u)/du = sigmoid(u), computed without overflow for either sign of u
    e = np.exp(-np.abs(u))
    sig = np.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    g_d = -y * sig / p
    return loss, _scatter_pairs(n, i, j, g_d)


def listmle(scores: np.ndarray, lists: np.ndarray) -> tuple[float, np.ndarray]:
    """ListMLE: Plackett-Luce negative log-likelihood of the given orders.

    For one list ``pi`` of length ``L`` (best first) the terms are
    ``T_k = lse_k - s[pi[k]]`` with ``lse_k = logsumexp(s[pi[k]], ..., s[pi[L-1]])``, computed
    by a running ``logaddexp`` from the tail. The gradient w.r.t. ``s[pi[m]]`` is
    ``sum_{k <= m} exp(s[pi[m]] - lse_k) - 1 = exp(s[pi[m]] + A_m) - 1`` with
    ``A_m = logsumexp(-lse_0, ..., -lse_m)`` (a running ``logaddexp`` from the head), which
    never overflows because ``s[pi[m]] + A_m <= log(m + 1)``.

    Parameters
    ----------
    scores : float64 ndarray [n]
    lists : int64 ndarray [n_lists, L]
        Each row: indices into ``scores`` in the true order, best first (no repeats in a row).

    Returns
    -------
    loss : float
        ``sum of all T_k / (n_lists * L)``.
    grad : float64 ndarray [n]
    """
    n = scores.shape[0]
    n_lists, length = lists.shape
    grad = np.zeros(n, dtype=np.float64)
    if n_lists == 0 or length == 0:
        return 0.0, grad
    s = scores[lists]                                       # [n_lists, L]
    # lse[:, k] = logsumexp(s[:, k:]) by a running logaddexp from the tail
    lse = np.logaddexp.accumulate(s[:, ::-1], axis=1)[:, ::-1]
    loss = float((lse - s).sum() / (n_lists * length))
    acc = np.logaddexp.accumulate(-lse, axis=1)            # A_m
    g = (np.exp(s + acc) - 1.0) / (n_lists * length)
    np.add.at(grad, lists.reshape(-1), g.reshape(-1))
    return loss, grad


def mse(scores: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error ``(1/n) sum (s - t)^2`` and its gradient ``2 (s - t) / n``.

    Parameters
    ----------
    scores, targets : float64 ndarray [n]

    Returns
    -------
    loss : float
    grad : float64 ndarray [n]
    """
    n = scores.shape[0]
    if n == 0:
        return 0.0, np.zeros(0, dtype=np.float64)
    r = scores - targets
    return float((r * r).sum() / n), 2.0 * r / n
