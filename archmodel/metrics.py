"""Ranking metrics for performance predictors.

A performance predictor is judged by how well its scores ``y_pred`` order a set of
architectures compared with their measured values ``y_true``. This module provides the usual
correlation coefficients and the top-K metrics of the neural-predictor literature.

Conventions (used by every function here)
-----------------------------------------
* **Higher is better.** A larger ``y_true`` is a better architecture (accuracy, or the negative
  of a latency/energy) and a larger ``y_pred`` means "predicted better". To evaluate a
  lower-is-better quantity, pass ``-latency`` for both arguments.
* **True rank.** The true rank of item ``i`` is ``r_i = 1 + #{j : y_true[j] > y_true[i]}``
  (1 = best; tied items share the best rank of their group, "competition" ranking, so the
  ranks of ``[9, 7, 7, 3]`` are ``[1, 2, 2, 4]``). See :func:`true_ranks`.
* **K.** A top-K size is either a count, an ``int`` with ``1 <= K <= n``, or a fraction of
  ``n``, a ``float`` in ``(0, 1]``, turned into the count ``K = ceil(fraction * n)``
  (the product is first rounded to 9 decimals, so ``0.07 * 100`` gives 7 and not 8; the
  result is always at least 1). See :func:`resolve_k`.
* **Predicted top K.** The K items with the highest ``y_pred``. When the K-th place is tied in
  ``y_pred``, the tie is broken *pessimistically*: among the tied items, those with the lowest
  ``y_true`` are taken first (then the lowest index). A predictor is therefore never rewarded
  for ties; a constant predictor selects the worst items.
* **Constant input.** Kendall's tau, Spearman's rho and Pearson's r are undefined when one
  input is constant; they return ``nan``, as :mod:`scipy.stats` does.
* **Validation.** Inputs are converted to 1-D float64 arrays; they must have the same length,
  at least 2 items and only finite values, otherwise :class:`~archmodel.errors.DataError` is
  raised. A bad ``k`` raises :class:`~archmodel.errors.ParameterError`.

Functions
---------
kendall_tau           Kendall's tau-b in O(n log n)
spearman              Spearman's rho (average ranks for ties)
pearson               Pearson's r
average_ranks         1-based ranks, ties get the average of their positions
true_ranks            1-based competition ranks, 1 = highest value
resolve_k             K as a count or a fraction of n -> count
precision_at_top_k    overlap of the true and predicted top K, divided by K
precision_at_bottom_k overlap of the true and predicted bottom K, divided by K
n_at_k                N@K, best true rank among the predicted top K
best_rank_at_k        BR@K (= N@K), optionally as a fraction of n
worst_rank_at_k       WR@K, worst true rank among the predicted top K
ranking_report        all of the above in one dict

References
----------
.. [1] W. R. Knight, "A computer method for calculating Kendall's tau with ungrouped data",
   Journal of the American Statistical Association 61(314), 436-439, 1966.
.. [2] X. Ning, Y. Zheng, T. Zhao, Y. Wang, H. Yang, "A generic graph-based neural
   architecture encoding scheme for predictor-based NAS", ECCV 2020 (N@K, precision@K).
.. [3] X. Ning et al., "Evaluating efficient performance estimators of neural architectures",
   NeurIPS 2021 (BR@K, WR@K).
"""
from __future__ import annotations

import logging
import math
import numbers
from typing import Any, Iterable

import numpy as np

from archmodel.errors import DataError, ParameterError

__all__ = [
    "kendall_tau",
    "spearman",
    "pearson",
    "average_ranks",
    "true_ranks",
    "resolve_k",
    "precision_at_top_k",
    "precision_at_bottom_k",
    "n_at_k",
    "best_rank_at_k",
    "worst_rank_at_k",
    "ranking_report",
]

logger = logging.getLogger(__name__)

ArrayLike = Any

#: Width of the blocks whose inversions are counted by direct comparison before merging.
_BASE_BLOCK = 16
#: Largest input of :func:`kendall_tau` (the merge keys must fit in 63 bits).
_MAX_KENDALL_ITEMS = 1 << 30


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _as_scores(name: str, values: ArrayLike) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array or raise :class:`DataError`."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise DataError(f"{name} must be a 1-D array of real numbers; it could not be "
                        f"converted to an array ({exc}).") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{name} must be a 1-D array of real numbers (bool, int or float); "
                        f"got an array of dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise DataError(f"{name} must be a 1-D array of scores; got an array of shape "
                        f"{arr.shape}.")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        first = float(arr[bad[0]])
        raise DataError(f"{name} must contain only finite values (no NaN or inf); got "
                        f"{bad.size} non-finite value(s), the first is {first!r} at "
                        f"index {int(bad[0])}.")
    return arr


def _as_pair(x: ArrayLike, y: ArrayLike, names: tuple[str, str],
             func: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate two score vectors of equal length >= 2 (see the module conventions)."""
    a = _as_scores(names[0], x)
    b = _as_scores(names[1], y)
    if a.size != b.size:
        raise DataError(f"{names[0]} and {names[1]} must have the same length; got "
                        f"{a.size} and {b.size} items.")
    if a.size < 2:
        raise DataError(f"{func} needs at least 2 items in {names[0]} and {names[1]}; got "
                        f"{a.size}.")
    return a, b


def resolve_k(k: int | float, n: int, *, name: str = "k", owner: str = "resolve_k") -> int:
    """Turn a top-K size given as a count or as a fraction of ``n`` into a count.

    Parameters
    ----------
    k : int or float
        An ``int`` (Python or NumPy integer, not bool) with ``1 <= k <= n`` is a count and is
        returned unchanged. A ``float`` in ``(0, 1]`` is a fraction of ``n``:
        ``K = ceil(round(k * n, 9))``, which is always in ``[1, n]``. The rounding to 9
        decimals removes floating-point noise (``0.07 * 100 = 7.000000000000001`` gives 7).
    n : int
        Number of items.
    name, owner : str
        Argument and function named in the error message.

    Returns
    -------
    int
        The count K, ``1 <= K <= n``.

    Raises
    ------
    ParameterError
        If ``k`` is neither such an integer nor such a float.

    Examples
    --------
    >>> resolve_k(0.05, 100), resolve_k(0.05, 30), resolve_k(1.0, 7), resolve_k(3, 7)
    (5, 2, 7, 3)
    """
    allowed = (f"must be an integer in [1, {n}] (a count) or a float in (0, 1] "
               f"(a fraction of the n = {n} items)")
    if isinstance(k, (bool, np.bool_)):
        raise ParameterError(f"The {name!r} parameter of {owner} {allowed}. Got {k!r} instead.")
    if isinstance(k, numbers.Integral):
        if 1 <= k <= n:
            return int(k)
        raise ParameterError(f"The {name!r} parameter of {owner} {allowed}. Got {k!r} instead.")
    if isinstance(k, numbers.Real) and 0.0 < float(k) <= 1.0:
        return max(1, min(n, math.ceil(round(float(k) * n, 9))))
    raise ParameterError(f"The {name!r} parameter of {owner} {allowed}. Got {k!r} instead.")


# --------------------------------------------------------------------------------------------
# ranks
# --------------------------------------------------------------------------------------------
def _sorted_groups(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(order, starts, counts)``: argsort of ``v`` and its runs of equal values."""
    order = np.argsort(v)
    vs = v[order]
    new = np.empty(v.size, dtype=bool)
    new[0] = True
    np.not_equal(vs[1:], vs[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, v.size))
    return order, starts, counts


def _dense_ranks(v: np.ndarray) -> tuple[np.ndarray, int, int]:
    """0-based dense ranks of ``v``, the number of distinct values and of tied pairs."""
    order, starts, counts = _sorted_groups(v)
    ranks = np.empty(v.size, dtype=np.int64)
    ranks[order] = np.repeat(np.arange(starts.size, dtype=np.int64), counts)
    c = counts.astype(np.int64)
    return ranks, int(starts.size), int((c * (c - 1) // 2).sum())


def _average_ranks(v: np.ndarray) -> np.ndarray:
    order, starts, counts = _sorted_groups(v)
    # a group occupying sorted positions s+1 .. s+c (1-based) gets their mean s + (c + 1) / 2
    avg = starts + (counts + 1) / 2.0
    ranks = np.empty(v.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, counts)
    return ranks


def average_ranks(x: ArrayLike) -> np.ndarray:
    """1-based ranks in increasing order of ``x``; tied values get the mean of their positions.

    This is ``scipy.stats.rankdata(x, method="average")``: the smallest value has rank 1.

    Parameters
    ----------
    x : array_like, shape (n,)
        Finite real values, ``n >= 1``.

    Returns
    -------
    ndarray of float64, shape (n,)

    Examples
    --------
    >>> average_ranks([10.0, 30.0, 20.0, 20.0]).tolist()
    [1.0, 4.0, 2.5, 2.5]
    """
    v = _as_scores("x", x)
    if v.size == 0:
        raise DataError("average_ranks needs at least 1 item in x; got 0.")
    return _average_ranks(v)


def _true_ranks_from_sorted(sorted_true: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``1 + #{j : y_true[j] > v}`` for each ``v`` in ``values`` (``sorted_true`` ascending)."""
    return 1 + sorted_true.size - np.searchsorted(sorted_true, values, side="right")


def true_ranks(y_true: ArrayLike) -> np.ndarray:
    """1-based competition ranks, 1 = best (highest) value.

    ``r_i = 1 + #{j : y_true[j] > y_true[i]}``: tied items share the best rank of their group
    and the next rank is skipped (``[9, 7, 7, 3] -> [1, 2, 2, 4]``).

    Parameters
    ----------
    y_true : array_like, shape (n,)
        Finite real values, ``n >= 1``; higher is better.

    Returns
    -------
    ndarray of int64, shape (n,)
        Values in ``[1, n]``.

    Examples
    --------
    >>> true_ranks([9.0, 7.0, 7.0, 3.0]).tolist()
    [1, 2, 2, 4]
    """
    v = _as_scores("y_true", y_true)
    if v.size == 0:
        raise DataError("true_ranks needs at least 1 item in y_true; got 0.")
    return _true_ranks_from_sorted(np.sort(v), v).astype(np.int64)


# --------------------------------------------------------------------------------------------
# correlations
# --------------------------------------------------------------------------------------------
def _count_inversions(a: np.ndarray, sentinel: int) -> int:
    """Number of pairs ``i < j`` with ``a[i] > a[j]`` (strictly), in O(n log n).

    ``a`` holds non-negative int64 values below ``sentinel``. A vectorised bottom-up merge
    sort: the array is padded with ``sentinel`` to a power of two (padding sits after every
    real item and is not smaller than any, so it adds no inversion). Blocks of
    ``_BASE_BLOCK`` items are counted by direct comparison and sorted. Then, at each level,
    pairs of sorted blocks of width ``w`` are merged: each item is encoded as
    ``value * 2w + local_index`` and the rows of width ``2w`` are sorted; an item of the
    right block whose local index is ``idx`` and whose merged position is ``q`` has exactly
    ``idx - q`` larger items of the left block before it (ties keep the left item first
    because its index is smaller). Left items have ``idx - q <= 0`` and ``sum(idx - q) = 0``
    over a row, so the cross inversions of a level are ``sum(|idx - q|) / 2``.
    """
    n = a.size
    if n < 2:
        return 0
    size = max(_BASE_BLOCK, 1 << (n - 1).bit_length())
    cur = np.full(size, sentinel, dtype=np.int64)
    cur[:n] = a
    rows = cur.reshape(-1, _BASE_BLOCK)
    inv = 0
    for i in range(_BASE_BLOCK - 1):
        inv += int(np.count_nonzero(rows[:, i:i + 1] > rows[:, i + 1:]))
    cur = np.sort(rows, axis=1).ravel()
    w = _BASE_BLOCK
    shift = (2 * w).bit_length() - 1  # log2(2w)
    while w < size:
        width = 2 * w
        local = np.arange(width, dtype=np.int64)
        keys = cur.reshape(-1, width) << shift
        keys |= local
        keys.sort(axis=1)
        d = keys & (width - 1)
        d -= local
        np.abs(d, out=d)
        inv += int(d.sum()) // 2
        keys >>= shift
        cur = keys.ravel()
        w = width
        shift += 1
    return inv


def kendall_tau(x: ArrayLike, y: ArrayLike) -> float:
    r"""Kendall's tau-b rank correlation, in O(n log n) time and O(n) memory.

    .. math::

        \tau_b = \frac{n_c - n_d}{\sqrt{(n_0 - n_x)(n_0 - n_y)}}, \qquad
        n_c - n_d = n_0 - n_x - n_y + n_{xy} - 2 n_d

    where, over the ``n0 = n (n - 1) / 2`` pairs ``i < j``, ``n_c`` (``n_d``) counts the pairs
    ordered the same (opposite) way by ``x`` and ``y``, ``n_x = sum_g t_g (t_g - 1) / 2`` over
    the groups of tied ``x`` values (likewise ``n_y`` for ``y``) and ``n_xy`` counts the pairs
    tied in both. This is ``scipy.stats.kendalltau(x, y, variant="b").statistic`` (agreement
    to ~1e-15; the result is clipped to ``[-1, 1]`` as SciPy does).

    Knight's algorithm: sort the items by ``(x, y)``; ``n_d`` is then the number of strict
    inversions of the ``y`` sequence, counted by a vectorised bottom-up merge sort (pure
    NumPy); the tie counts come from the runs of the sorted arrays.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Finite real values, ``n >= 2`` (at most 2**30 items).

    Returns
    -------
    float
        In ``[-1, 1]``, or ``nan`` when ``x`` or ``y`` is constant (tau-b is then undefined;
        SciPy returns ``nan`` too).

    Raises
    ------
    DataError
        Different lengths, fewer than 2 items, non-finite or non-numeric values.

    Examples
    --------
    >>> kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])   # 5 concordant, 1 discordant pair
    0.6666666666666666
    """
    a, b = _as_pair(x, y, ("x", "y"), "kendall_tau")
    n = a.size
    if n > _MAX_KENDALL_ITEMS:
        raise DataError(f"kendall_tau supports at most {_MAX_KENDALL_ITEMS} items; got {n}.")
    rx, _, x_ties = _dense_ranks(a)
    ry, my, y_ties = _dense_ranks(b)
    total = n * (n - 1) // 2
    if x_ties == total or y_ties == total:
        logger.debug("kendall_tau: constant input, returning nan")
        return float("nan")
    key = rx * my
    key += ry
    key.sort()  # order by (x, y); equal keys are joint ties
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    c = np.diff(np.append(np.flatnonzero(new), n)).astype(np.int64)
    xy_ties = int((c * (c - 1) // 2).sum())
    discordant = _count_inversions(key % my, my)
    con_minus_dis = total - x_ties - y_ties + xy_ties - 2 * discordant
    tau = con_minus_dis / math.sqrt(float((total - x_ties) * (total - y_ties)))
    return float(min(1.0, max(-1.0, tau)))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    am = a - a.mean()
    bm = b - b.mean()
    sa = np.abs(am).max()
    sb = np.abs(bm).max()
    if sa == 0.0 or sb == 0.0:
        logger.debug("pearson: constant input, returning nan")
        return float("nan")
    # Divide by a power of two near the largest magnitude (exact, no rounding) so that the
    # squares below cannot overflow for huge values.
    am *= math.ldexp(1.0, -math.frexp(float(sa))[1])
    bm *= math.ldexp(1.0, -math.frexp(float(sb))[1])
    denom = math.sqrt(float(am @ am) * float(bm @ bm))  # each sum <= n after scaling
    r = float(am @ bm) / denom
    return float(min(1.0, max(-1.0, r)))


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    r"""Pearson's linear correlation coefficient.

    .. math::

        r = \frac{\sum_i (x_i - \bar x)(y_i - \bar y)}
                 {\sqrt{\sum_i (x_i - \bar x)^2} \sqrt{\sum_i (y_i - \bar y)^2}}

    computed in float64 with each centred vector first scaled by a power of two close to its
    largest magnitude (exact; so the squares cannot overflow), clipped to ``[-1, 1]``; equals
    ``scipy.stats.pearsonr(x, y).statistic``.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Finite real values, ``n >= 2``.

    Returns
    -------
    float
        In ``[-1, 1]``, or ``nan`` when ``x`` or ``y`` is constant.

    Raises
    ------
    DataError
        Different lengths, fewer than 2 items, non-finite or non-numeric values.

    Examples
    --------
    >>> pearson([1, 2, 3], [2, 4, 6])
    1.0
    """
    a, b = _as_pair(x, y, ("x", "y"), "pearson")
    return _pearson(a, b)


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rank correlation: Pearson's r of the average ranks.

    ``rho = pearson(average_ranks(x), average_ranks(y))``: tied values get the mean of the
    positions they occupy (see :func:`average_ranks`); equals
    ``scipy.stats.spearmanr(x, y).statistic``. With ties this is *not* the textbook
    ``1 - 6 sum(d^2) / (n (n^2 - 1))``, which holds only without ties.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Finite real values, ``n >= 2``.

    Returns
    -------
    float
        In ``[-1, 1]``, or ``nan`` when ``x`` or ``y`` is constant.

    Raises
    ------
    DataError
        Different lengths, fewer than 2 items, non-finite or non-numeric values.

    Examples
    --------
    >>> spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 40.0, 30.0])
    0.8
    """
    a, b = _as_pair(x, y, ("x", "y"), "spearman")
    return _pearson(_average_ranks(a), _average_ranks(b))


# --------------------------------------------------------------------------------------------
# top-K metrics
# --------------------------------------------------------------------------------------------
def _predicted_top(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Indices of the predicted top ``k`` (ties at the cut broken pessimistically), O(n)."""
    n = y_pred.size
    if k >= n:
        return np.arange(n)
    cut = np.partition(y_pred, n - k)[n - k]  # the k-th largest predicted score
    above = np.flatnonzero(y_pred > cut)
    tied = np.flatnonzero(y_pred == cut)
    need = k - above.size
    if need < tied.size:
        # worst true value first; a stable sort keeps the lower index first among equal ones
        tied = tied[np.argsort(y_true[tied], kind="stable")[:need]]
    return np.concatenate([above, tied])


def _top_true_ranks(y_true: np.ndarray, y_pred: np.ndarray, k: int,
                    sorted_true: np.ndarray | None = None) -> np.ndarray:
    """True ranks (1 = best) of the items in the predicted top ``k``."""
    if sorted_true is None:
        sorted_true = np.sort(y_true)
    sel = _predicted_top(y_true, y_pred, k)
    return _true_ranks_from_sorted(sorted_true, y_true[sel])


def _checked(y_true: ArrayLike, y_pred: ArrayLike, k: int | float,
             func: str) -> tuple[np.ndarray, np.ndarray, int]:
    t, p = _as_pair(y_true, y_pred, ("y_true", "y_pred"), func)
    return t, p, resolve_k(k, t.size, owner=func)


def precision_at_top_k(y_true: ArrayLike, y_pred: ArrayLike, k: int | float) -> float:
    """Precision@top-K: the share of the predicted top K that is truly in the top K.

    ``P = #{i in T_K : r_i <= K} / K`` where ``T_K`` is the predicted top K (the K highest
    ``y_pred``, ties at the cut broken pessimistically, see the module notes) and ``r_i`` the
    true rank (``1 + #{j : y_true[j] > y_true[i]}``). Without ties this is
    ``|true top K  ∩  predicted top K| / K``; an item tied with the K-th best true value counts
    as truly top K.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        Measured and predicted scores, higher is better, finite, ``n >= 2``.
    k : int or float
        ``int`` in ``[1, n]``: a count; ``float`` in ``(0, 1]``: a fraction,
        ``K = ceil(k * n)`` (see :func:`resolve_k`).

    Returns
    -------
    float
        In ``[0, 1]``, a multiple of ``1 / K``.

    Raises
    ------
    DataError
        Invalid ``y_true`` / ``y_pred``.
    ParameterError
        ``k`` out of range.

    Examples
    --------
    >>> precision_at_top_k([5, 4, 3, 2, 1], [5, 1, 4, 3, 2], 2)   # {0, 2} vs true {0, 1}
    0.5
    """
    t, p, kk = _checked(y_true, y_pred, k, "precision_at_top_k")
    return float(np.count_nonzero(_top_true_ranks(t, p, kk) <= kk)) / kk


def precision_at_bottom_k(y_true: ArrayLike, y_pred: ArrayLike, k: int | float) -> float:
    """Precision@bottom-K: the share of the predicted bottom K that is truly in the bottom K.

    The mirror image of :func:`precision_at_top_k`, i.e.
    ``precision_at_top_k(-y_true, -y_pred, k)``: the predicted bottom K are the K lowest
    ``y_pred`` (ties at the cut broken pessimistically: highest ``y_true`` first, then lowest
    index), and an item is truly in the bottom K when ``1 + #{j : y_true[j] < y_true[i]} <= K``.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        Measured and predicted scores, higher is better, finite, ``n >= 2``.
    k : int or float
        ``int`` in ``[1, n]``: a count; ``float`` in ``(0, 1]``: a fraction,
        ``K = ceil(k * n)`` (see :func:`resolve_k`).

    Returns
    -------
    float
        In ``[0, 1]``.

    Raises
    ------
    DataError
        Invalid ``y_true`` / ``y_pred``.
    ParameterError
        ``k`` out of range.

    Examples
    --------
    >>> precision_at_bottom_k([5, 4, 3, 2, 1], [5, 1, 4, 3, 2], 2)  # {1, 4} vs true {3, 4}
    0.5
    """
    t, p, kk = _checked(y_true, y_pred, k, "precision_at_bottom_k")
    return float(np.count_nonzero(_top_true_ranks(-t, -p, kk) <= kk)) / kk


def n_at_k(y_true: ArrayLike, y_pred: ArrayLike, k: int | float) -> int:
    """N@K: the best true rank among the K items with the highest predicted scores.

    ``N@K = min_{i in T_K} r_i`` with ``r_i = 1 + #{j : y_true[j] > y_true[i]}`` (1-based;
    tied items share the best rank of their group) and ``T_K`` the predicted top K (ties at the
    cut broken pessimistically). 1 means the truly best architecture (or one tied with it) is
    among the predicted top K.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        Measured and predicted scores, higher is better, finite, ``n >= 2``.
    k : int or float
        ``int`` in ``[1, n]``: a count; ``float`` in ``(0, 1]``: a fraction (see
        :func:`resolve_k`).

    Returns
    -------
    int
        In ``[1, n - K + 1]``.

    Raises
    ------
    DataError
        Invalid ``y_true`` / ``y_pred``.
    ParameterError
        ``k`` out of range.

    Examples
    --------
    >>> n_at_k([5, 4, 3, 2, 1], [1, 2, 5, 4, 3], 2)   # predicted top 2: items 2 and 3
    3
    """
    t, p, kk = _checked(y_true, y_pred, k, "n_at_k")
    return int(_top_true_ranks(t, p, kk).min())


def best_rank_at_k(y_true: ArrayLike, y_pred: ArrayLike, k: int | float, *,
                   normalize: bool = False) -> int | float:
    """BR@K: the best true rank among the predicted top K, as a rank or a fraction of n.

    The rank is ``min_{i in T_K} r_i``, identical to :func:`n_at_k`; with ``normalize=True``
    it is divided by ``n`` (so ``1/n`` is the best possible value and 1 the worst), the
    percentile form used for BR@K in the literature.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        Measured and predicted scores, higher is better, finite, ``n >= 2``.
    k : int or float
        ``int`` in ``[1, n]``: a count; ``float`` in ``(0, 1]``: a fraction (see
        :func:`resolve_k`).
    normalize : bool
        Return ``rank / n`` (a float) instead of the rank (an int).

    Returns
    -------
    int or float

    Raises
    ------
    DataError
        Invalid ``y_true`` / ``y_pred``.
    ParameterError
        ``k`` out of range.

    Examples
    --------
    >>> best_rank_at_k([5, 4, 3, 2, 1], [1, 2, 5, 4, 3], 2, normalize=True)
    0.6
    """
    t, p, kk = _checked(y_true, y_pred, k, "best_rank_at_k")
    r = int(_top_true_ranks(t, p, kk).min())
    return r / t.size if normalize else r


def worst_rank_at_k(y_true: ArrayLike, y_pred: ArrayLike, k: int | float, *,
                    normalize: bool = False) -> int | float:
    """WR@K: the worst true rank among the predicted top K, as a rank or a fraction of n.

    ``WR@K = max_{i in T_K} r_i`` with the true rank ``r_i = 1 + #{j : y_true[j] > y_true[i]}``
    and ``T_K`` the predicted top K (ties at the cut broken pessimistically); with
    ``normalize=True`` divided by ``n``.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        Measured and predicted scores, higher is better, finite, ``n >= 2``.
    k : int or float
        ``int`` in ``[1, n]``: a count; ``float`` in ``(0, 1]``: a fraction (see
        :func:`resolve_k`).
    normalize : bool
        Return ``rank / n`` (a float) instead of the rank (an int).

    Returns
    -------
    int or float
        The rank is in ``[1, n]``; it is at least K when ``y_true`` has no ties.

    Raises
    ------
    DataError
        Invalid ``y_true`` / ``y_pred``.
    ParameterError
        ``k`` out of range.

    Examples
    --------
    >>> worst_rank_at_k([5, 4, 3, 2, 1], [1, 2, 5, 4, 3], 2)   # items 2 and 3: ranks 3, 4
    4
    """
    t, p, kk = _checked(y_true, y_pred, k, "worst_rank_at_k")
    r = int(_top_true_ranks(t, p, kk).max())
    return r / t.size if normalize else r


def _pct_label(fraction: float) -> str:
    """``0.05 -> '5pct'``, ``0.025 -> '2.5pct'`` (shortest round-trip form of the percent)."""
    return f"{round(100.0 * fraction, 9):g}pct"


def ranking_report(y_true: ArrayLike, y_pred: ArrayLike, *, top_fraction: float = 0.05,
                   k_values: Iterable[int] = (5, 10)) -> dict[str, float | int]:
    """All ranking metrics of a predictor in one flat dict (JSON-friendly Python scalars).

    With ``P`` the percentage ``100 * top_fraction`` written in ``%g`` format followed by
    ``pct`` (``"5pct"`` for the default 0.05, ``"2.5pct"`` for 0.025) and each ``k`` of
    ``k_values``, the keys are, in this order:

    ==============================  =======================================================
    ``n``                           number of items (int)
    ``kendall_tau``                 :func:`kendall_tau` (tau-b; nan for constant input)
    ``spearman``                    :func:`spearman` (nan for constant input)
    ``pearson``                     :func:`pearson` (nan for constant input)
    ``k_top{P}``                    ``K = ceil(top_fraction * n)`` (int, :func:`resolve_k`)
    ``precision_at_top{P}``         :func:`precision_at_top_k` with that K
    ``precision_at_bottom{P}``      :func:`precision_at_bottom_k` with that K
    ``br_at_top{P}``                :func:`best_rank_at_k` with that K (int)
    ``wr_at_top{P}``                :func:`worst_rank_at_k` with that K (int)
    ``br_at_top{P}_frac``           the same divided by ``n``
    ``wr_at_top{P}_frac``           the same divided by ``n``
    ``n_at_{k}``                    :func:`n_at_k` with the count ``k`` (int)
    ``br_at_{k}``                   :func:`best_rank_at_k`, count ``k`` (int, = ``n_at_{k}``)
    ``wr_at_{k}``                   :func:`worst_rank_at_k`, count ``k`` (int)
    ``br_at_{k}_frac``              ``br_at_{k} / n``
    ``wr_at_{k}_frac``              ``wr_at_{k} / n``
    ==============================  =======================================================

    so the defaults give ``precision_at_top5pct``, ``precision_at_bottom5pct``, ``n_at_5``,
    ``n_at_10``, ``br_at_5``, ``wr_at_5``, ... In ``n_at_{k}``/``br_at_{k}``/``wr_at_{k}``
    the ``k`` is a count of items, never a percentage. Higher scores are better, rank 1 is the
    best true value; ties follow the module conventions.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        Measured and predicted scores, finite, ``n >= 2``.
    top_fraction : float
        Fraction of ``n`` in ``(0, 1]`` for the precision and fraction-based BR/WR metrics.
    k_values : iterable of int
        Counts ``1 <= k <= n`` for N@K, BR@K and WR@K (duplicates are dropped).

    Returns
    -------
    dict of str to int or float

    Raises
    ------
    DataError
        Invalid ``y_true`` / ``y_pred``.
    ParameterError
        ``top_fraction`` not in ``(0, 1]`` or an entry of ``k_values`` not an integer in
        ``[1, n]``.

    Examples
    --------
    >>> rep = ranking_report(list(range(100)), list(range(100)))
    >>> rep["kendall_tau"], rep["precision_at_top5pct"], rep["n_at_5"], rep["wr_at_5"]
    (1.0, 1.0, 1, 5)
    """
    owner = "ranking_report"
    t, p = _as_pair(y_true, y_pred, ("y_true", "y_pred"), owner)
    n = t.size
    if (isinstance(top_fraction, (bool, np.bool_)) or not isinstance(top_fraction, numbers.Real)
            or not 0.0 < float(top_fraction) <= 1.0):
        raise ParameterError(f"The 'top_fraction' parameter of {owner} must be a float in "
                             f"(0, 1]. Got {top_fraction!r} instead.")
    top_fraction = float(top_fraction)
    try:
        ks = list(dict.fromkeys(k_values))
    except TypeError:
        raise ParameterError(f"The 'k_values' parameter of {owner} must be an iterable of "
                             f"integers in [1, {n}]. Got {k_values!r} instead.") from None
    for k in ks:
        if (isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral)
                or not 1 <= k <= n):
            raise ParameterError(f"The 'k_values' parameter of {owner} must contain integers "
                                 f"in [1, {n}] (counts of items; n = {n}). Got {k!r} in "
                                 f"{k_values!r} instead.")
    label = _pct_label(top_fraction)
    k_top = resolve_k(top_fraction, n, name="top_fraction", owner=owner)
    sorted_true = np.sort(t)

    report: dict[str, float | int] = {
        "n": int(n),
        "kendall_tau": kendall_tau(t, p),
        "spearman": _pearson(_average_ranks(t), _average_ranks(p)),
        "pearson": _pearson(t, p),
        f"k_top{label}": k_top,
    }
    ranks_top = _top_true_ranks(t, p, k_top, sorted_true)
    report[f"precision_at_top{label}"] = float(np.count_nonzero(ranks_top <= k_top)) / k_top
    ranks_bottom = _top_true_ranks(-t, -p, k_top)
    report[f"precision_at_bottom{label}"] = float(np.count_nonzero(ranks_bottom <= k_top)) / k_top
    report[f"br_at_top{label}"] = int(ranks_top.min())
    report[f"wr_at_top{label}"] = int(ranks_top.max())
    report[f"br_at_top{label}_frac"] = int(ranks_top.min()) / n
    report[f"wr_at_top{label}_frac"] = int(ranks_top.max()) / n
    for k in map(int, ks):
        r = _top_true_ranks(t, p, k, sorted_true)
        best, worst = int(r.min()), int(r.max())
        report[f"n_at_{k}"] = best
        report[f"br_at_{k}"] = best
        report[f"wr_at_{k}"] = worst
        report[f"br_at_{k}_frac"] = best / n
        report[f"wr_at_{k}_frac"] = worst / n
    return report
