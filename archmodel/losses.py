"""Ranking and regression losses for training architecture predictors.

Every loss returns ``(loss, dloss/dscores)`` and fits the ``loss_fn`` contract of
:func:`archmodel.nn.train.fit_scores`: a loss object is called as
``loss(scores [B], y [B], rng) -> (float, ndarray [B])``.

Definitions
-----------
Let ``s`` be the predicted scores, ``t`` the targets (higher = better) and, for a pair
``(i, j)``, ``y_ij = sign(t_j - t_i)`` and ``d_ij = s_j - s_i``.

``'hinge'`` (:class:`PairwiseHingeLoss`, GATES' default)
    ``mean over pairs of max(0, m - y_ij d_ij)``, margin ``m = 0.1`` by default. The loss of a
    pair is zero once the better architecture scores at least ``m`` above the worse one. At the
    hinge point (``m - y_ij d_ij == 0``) the sub-gradient 0 is used.
``'logistic'`` (:class:`PairwiseLogisticLoss`, RankNet)
    ``mean over pairs of log(1 + exp(-y_ij d_ij))``, evaluated as ``logaddexp(0, -y_ij d_ij)``
    so it neither overflows nor loses precision for large ``|d_ij|``.
``'listmle'`` (:class:`ListMLELoss`, Xia et al. 2008)
    Negative log-likelihood of the true order ``pi`` (best first) under the Plackett-Luce model
    of the scores, averaged over positions and lists:
    ``(1 / (n_lists L)) sum_lists sum_k [logsumexp(s[pi_k], ..., s[pi_{L-1}]) - s[pi_k]]``.
    The suffix log-sum-exps are a running ``logaddexp`` from the tail (no overflow).
``'mse'`` (:class:`MSELoss`)
    ``mean (s - t)^2`` (a regression baseline; the scores then estimate the targets).

Pairs, lists and ties
---------------------
Pairs and lists are drawn in Python from a :class:`numpy.random.Generator` and passed to the
kernels (:mod:`archmodel.backends`, family ``losses``) as index arrays:

* :func:`sample_pairs` returns every unordered pair of *different* targets (pairs of equal
  targets are skipped: they carry no ranking information), each oriented so that
  ``t[i] < t[j]``; with ``max_pairs`` it keeps a uniform random subset of at most that many.
  The pairwise losses cap a mini-batch of ``B`` at ``max_pairs`` pairs if it is given, else at
  ``ceil(max_pairs_factor * B)`` (default ``4 B``, as GATES); with both None they use every
  pair.
* :func:`sample_lists` returns lists ordered best first; tied targets are ordered at random,
  and a list whose targets are all equal is dropped.

When a batch has no usable pair (all targets equal, or fewer than two items) or no usable
list, the pairwise and listwise losses are **0 with a zero gradient**: the batch carries no
ranking information and leaves the model unchanged. Targets containing NaN or infinity raise
:class:`~archmodel.errors.DataError`; non-finite *scores* are not checked here (they make the
loss non-finite, which :func:`~archmodel.nn.train.fit_scores` reports as
:class:`~archmodel.errors.TrainingDivergedError`).

Kernels compute in float64; the returned gradient has the dtype of ``scores``.

Examples
--------
>>> import numpy as np
>>> from archmodel.losses import get_loss
>>> loss = get_loss("hinge", margin=0.1, backend="numpy")
>>> value, grad = loss(np.array([0.3, 0.1, 0.2]), np.array([1.0, 2.0, 3.0]), np.random.default_rng(0))
>>> round(value, 6), grad.shape
(0.166667, (3,))
"""
from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np

from archmodel.errors import DataError, ParameterError, check_choice, check_range

logger = logging.getLogger(__name__)

__all__ = [
    "LOSSES", "Loss", "PairwiseHingeLoss", "PairwiseLogisticLoss", "ListMLELoss", "MSELoss",
    "get_loss", "sample_pairs", "sample_lists",
    "pairwise_hinge_loss", "pairwise_logistic_loss", "listmle_loss", "mse_loss",
]

#: Pair counts above which :func:`sample_pairs` stops enumerating every pair and draws pairs
#: with replacement (only reached with ``max_pairs`` set and ``n(n-1)/2`` above it).
ENUMERATE_LIMIT = 1 << 22


# ----------------------------------------------------------------------------- validation
def _as_targets(y: Any, owner: str) -> np.ndarray:
    t = np.asarray(y, dtype=np.float64)
    if t.ndim != 1:
        raise ParameterError(f"{owner}: targets must be 1-D; got shape {t.shape}.")
    bad = ~np.isfinite(t)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{owner}: targets contain {int(bad.sum())} non-finite value(s) (first at index {k}: "
            f"{t[k]!r}); drop or impute them before training.")
    return t


def _as_scores(scores: Any, n: int, owner: str) -> np.ndarray:
    if not isinstance(scores, np.ndarray) or scores.dtype.kind != "f":
        raise ParameterError(f"{owner}: scores must be a float numpy array; got "
                             f"{getattr(scores, 'dtype', type(scores).__name__)}.")
    if scores.ndim != 1 or scores.shape[0] != n:
        raise ParameterError(f"{owner}: scores must have shape ({n},) like the targets; got {scores.shape}.")
    return scores


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _backend(backend: Any):
    from archmodel.backends import Backend, get_backend

    return backend if isinstance(backend, Backend) else get_backend(backend)


# ----------------------------------------------------------------------------- sampling
#: Largest ``n(n-1)/2`` whose pair enumeration :func:`sample_pairs` keeps between calls (16 MiB).
_KEEP_PAIRS_LIMIT = 1 << 20


def _triu_int64(n: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.triu_indices(n, 1)
    return a.astype(np.int64, copy=False), b.astype(np.int64, copy=False)


@functools.lru_cache(maxsize=8)
def _kept_upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = _triu_int64(n)
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n, 1)`` as int64 arrays (read-only and kept for the last few small
    ``n``: a training run asks for the same mini-batch size at every step)."""
    if n * (n - 1) // 2 <= _KEEP_PAIRS_LIMIT:
        return _kept_upper_pairs(n)
    return _triu_int64(n)


def sample_pairs(y: Any, rng: np.random.Generator | int | None = None,
                 max_pairs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of items with different targets, oriented so that ``y[i] < y[j]``.

    Parameters
    ----------
    y : array-like [n]
        Targets (finite).
    rng : Generator, int or None
        Used only when ``max_pairs`` is smaller than the number of usable pairs.
    max_pairs : int >= 1 or None
        ``None``: every usable pair, in row-major order of ``(min(a, b), max(a, b))`` (no
        randomness). Otherwise at most ``max_pairs`` pairs: a uniform random subset, drawn
        without replacement while ``n(n-1)/2 <= ENUMERATE_LIMIT`` and with replacement (by
        rejection of equal-target draws) above it.

    Returns
    -------
    i, j : int64 ndarray [P]
        ``y[i[k]] < y[j[k]]`` for every ``k``. Pairs of equal targets are never returned, so
        ``P == 0`` when all targets are equal or ``n < 2``.

    Raises
    ------
    DataError
        If ``y`` contains NaN or infinity.
    """
    t = _as_targets(y, "sample_pairs")
    if max_pairs is not None:
        check_range("sample_pairs", "max_pairs", max_pairs, 1, integer=True)
    n = t.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    if n < 2:
        return empty, empty.copy()
    total = n * (n - 1) // 2
    if max_pairs is None or total <= ENUMERATE_LIMIT:
        a, b = _upper_pairs(n)
        keep = t[a] != t[b]
        a, b = a[keep], b[keep]
        if max_pairs is not None and a.size > max_pairs:
            pick = np.sort(_rng(rng).choice(a.size, size=max_pairs, replace=False))
            a, b = a[pick], b[pick]
    else:
        if np.all(t == t[0]):
            return empty, empty.copy()
        gen = _rng(rng)
        got_a: list[np.ndarray] = []
        got_b: list[np.ndarray] = []
        have = 0
        while have < max_pairs:
            a = gen.integers(0, n, size=2 * (max_pairs - have))
            b = gen.integers(0, n, size=a.size)
            keep = t[a] != t[b]
            a, b = a[keep][:max_pairs - have], b[keep][:max_pairs - have]
            got_a.append(a)
            got_b.append(b)
            have += a.size
        a = np.concatenate(got_a).astype(np.int64)
        b = np.concatenate(got_b).astype(np.int64)
    swap = t[a] > t[b]
    i = np.where(swap, b, a)
    j = np.where(swap, a, b)
    return i, j


def sample_lists(y: Any, rng: np.random.Generator | int | None = None,
                 list_size: int | None = None, n_lists: int = 1) -> np.ndarray:
    """Lists of item indices in true order (best first) for :func:`listmle_loss`.

    Parameters
    ----------
    y : array-like [n]
        Targets (finite, higher = better).
    rng : Generator, int or None
        Draws the subsets and breaks ties.
    list_size : int >= 2 or None
        ``None`` (or ``>= n``): every list holds all ``n`` items. Otherwise each list is a
        uniform random subset of ``list_size`` distinct items.
    n_lists : int >= 1
        Number of lists drawn.

    Returns
    -------
    int64 ndarray [n_kept, L]
        Each row sorted by decreasing target, ties in random order. Rows whose targets are all
        equal are dropped (no ranking information), so ``n_kept <= n_lists`` and ``n_kept`` is 0
        when all targets are equal or ``n < 2``.

    Raises
    ------
    DataError
        If ``y`` contains NaN or infinity.
    """
    t = _as_targets(y, "sample_lists")
    if list_size is not None:
        check_range("sample_lists", "list_size", list_size, 2, integer=True)
    check_range("sample_lists", "n_lists", n_lists, 1, integer=True)
    n = t.shape[0]
    size = n if list_size is None else min(int(list_size), n)
    if n < 2:
        return np.zeros((0, max(size, 0)), dtype=np.int64)
    gen = _rng(rng)
    rows = []
    for _ in range(n_lists):
        members = gen.permutation(n) if size == n else gen.choice(n, size=size, replace=False)
        members = gen.permutation(members)  # random order among ties after the stable sort
        order = members[np.argsort(-t[members], kind="stable")]
        if t[order[0]] != t[order[-1]]:
            rows.append(order)
    if not rows:
        return np.zeros((0, size), dtype=np.int64)
    return np.asarray(rows, dtype=np.int64)


# ----------------------------------------------------------------------------- functional API
def pairwise_hinge_loss(scores: np.ndarray, y: Any, *, margin: float = 0.1,
                        pairs: tuple[np.ndarray, np.ndarray] | None = None,
                        rng: np.random.Generator | int | None = None,
                        max_pairs_factor: float | None = 4.0, max_pairs: int | None = None,
                        backend: Any = None) -> tuple[float, np.ndarray]:
    """Mean pairwise hinge loss ``max(0, margin - y_ij (s_j - s_i))`` and its gradient.

    Parameters
    ----------
    scores : float ndarray [n]
    y : array-like [n]
        Targets.
    margin : float >= 0
    pairs : (int ndarray [P], int ndarray [P]), optional
        Pairs ``(i, j)`` to use; default :func:`sample_pairs` with the cap below. Given pairs
        with equal targets have ``y_ij = 0`` and contribute ``margin`` with zero gradient.
    rng : Generator, int or None
        Passed to :func:`sample_pairs`.
    max_pairs_factor : float > 0 or None
        At most ``ceil(max_pairs_factor * n)`` pairs (default 4: GATES' ``4n`` pairs per batch).
    max_pairs : int >= 1 or None
        At most this many pairs; when given it replaces the ``max_pairs_factor`` cap. With both
        None every pair of different targets is used.
    backend : str, Backend or None

    Returns
    -------
    loss : float
        0 when there is no pair.
    grad : ndarray [n], dtype of ``scores``
    """
    check_range("pairwise_hinge_loss", "margin", margin, 0.0)
    t = _as_targets(y, "pairwise_hinge_loss")
    s = _as_scores(scores, t.shape[0], "pairwise_hinge_loss")
    cap = _pair_cap(t.shape[0], max_pairs_factor, max_pairs, "pairwise_hinge_loss")
    i, j = _pairs(pairs, t, rng, cap, "pairwise_hinge_loss")
    loss, grad = _backend(backend).losses.pairwise_hinge(s.astype(np.float64), t, i, j, float(margin))
    return float(loss), grad.astype(s.dtype, copy=False)


def pairwise_logistic_loss(scores: np.ndarray, y: Any, *,
                           pairs: tuple[np.ndarray, np.ndarray] | None = None,
                           rng: np.random.Generator | int | None = None,
                           max_pairs_factor: float | None = 4.0, max_pairs: int | None = None,
                           backend: Any = None) -> tuple[float, np.ndarray]:
    """Mean pairwise logistic loss ``log(1 + exp(-y_ij (s_j - s_i)))`` and its gradient.

    Parameters and returns as in :func:`pairwise_hinge_loss` (without ``margin``). Given pairs
    with equal targets contribute ``log 2`` with zero gradient.
    """
    t = _as_targets(y, "pairwise_logistic_loss")
    s = _as_scores(scores, t.shape[0], "pairwise_logistic_loss")
    cap = _pair_cap(t.shape[0], max_pairs_factor, max_pairs, "pairwise_logistic_loss")
    i, j = _pairs(pairs, t, rng, cap, "pairwise_logistic_loss")
    loss, grad = _backend(backend).losses.pairwise_logistic(s.astype(np.float64), t, i, j)
    return float(loss), grad.astype(s.dtype, copy=False)


def listmle_loss(scores: np.ndarray, y: Any, *, lists: np.ndarray | None = None,
                 rng: np.random.Generator | int | None = None, list_size: int | None = None,
                 n_lists: int = 1, backend: Any = None) -> tuple[float, np.ndarray]:
    """ListMLE (Plackett-Luce negative log-likelihood of the true order) and its gradient.

    Parameters
    ----------
    scores : float ndarray [n]
    y : array-like [n]
        Targets (higher = better).
    lists : int ndarray [n_lists, L], optional
        Orders to score (each row best first); default :func:`sample_lists`
        ``(y, rng, list_size, n_lists)``.
    rng, list_size, n_lists
        Passed to :func:`sample_lists`.
    backend : str, Backend or None

    Returns
    -------
    loss : float
        Mean over lists and positions of ``logsumexp(s[pi_k:]) - s[pi_k]``; 0 with no list.
    grad : ndarray [n], dtype of ``scores``
    """
    t = _as_targets(y, "listmle_loss")
    s = _as_scores(scores, t.shape[0], "listmle_loss")
    if lists is None:
        lists = sample_lists(t, rng, list_size, n_lists)
    else:
        lists = np.asarray(lists)
        if lists.ndim != 2 or lists.dtype.kind not in "iu":
            raise ParameterError(f"listmle_loss: lists must be a 2-D integer array; got "
                                 f"{lists.dtype} of shape {lists.shape}.")
        _check_indices(lists, t.shape[0], "listmle_loss", "lists")
        lists = lists.astype(np.int64, copy=False)
    loss, grad = _backend(backend).losses.listmle(s.astype(np.float64), lists)
    return float(loss), grad.astype(s.dtype, copy=False)


def mse_loss(scores: np.ndarray, y: Any, *, backend: Any = None) -> tuple[float, np.ndarray]:
    """Mean squared error ``mean (s - t)^2`` and its gradient ``2 (s - t) / n``."""
    t = _as_targets(y, "mse_loss")
    s = _as_scores(scores, t.shape[0], "mse_loss")
    loss, grad = _backend(backend).losses.mse(s.astype(np.float64), t)
    return float(loss), grad.astype(s.dtype, copy=False)


def _pair_cap(n: int, factor: float | None, max_pairs: int | None, owner: str) -> int | None:
    """``max_pairs`` if given, else ``ceil(factor * n)`` if given, else None (every pair)."""
    if factor is not None:
        check_range(owner, "max_pairs_factor", factor, 0.0, low_inclusive=False)
    if max_pairs is not None:
        check_range(owner, "max_pairs", max_pairs, 1, integer=True)
        return int(max_pairs)
    if factor is not None:
        return max(1, int(math.ceil(factor * n)))
    return None


def _check_indices(idx: np.ndarray, n: int, owner: str, what: str) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ParameterError(f"{owner}: {what} must index [0, {n}); got values in "
                             f"[{idx.min()}, {idx.max()}].")


def _pairs(pairs: Any, t: np.ndarray, rng: Any, max_pairs: int | None,
           owner: str) -> tuple[np.ndarray, np.ndarray]:
    if pairs is None:
        return sample_pairs(t, rng, max_pairs)
    try:
        i, j = pairs
    except (TypeError, ValueError):
        raise ParameterError(f"{owner}: pairs must be a tuple (i, j) of index arrays.") from None
    i, j = np.asarray(i), np.asarray(j)
    if i.ndim != 1 or i.shape != j.shape or i.dtype.kind not in "iu" or j.dtype.kind not in "iu":
        raise ParameterError(f"{owner}: pairs (i, j) must be 1-D integer arrays of one length; got "
                             f"{i.dtype} {i.shape} and {j.dtype} {j.shape}.")
    _check_indices(i, t.shape[0], owner, "pair indices")
    _check_indices(j, t.shape[0], owner, "pair indices")
    return i.astype(np.int64, copy=False), j.astype(np.int64, copy=False)


# ----------------------------------------------------------------------------- loss objects
class Loss:
    """A loss with fixed hyper-parameters, callable as ``loss(scores, y, rng)``.

    Subclasses set :attr:`name` and implement :meth:`__call__`; :meth:`get_params` returns the
    JSON-able constructor arguments (without ``backend``), so ``get_loss(loss.name,
    **loss.get_params())`` rebuilds an equal loss.
    """

    name: str = ""

    def __init__(self, backend: Any = None) -> None:
        self.backend = backend

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (except ``backend``)."""
        return {}

    def __call__(self, scores: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator | int | None = None) -> tuple[float, np.ndarray]:
        raise NotImplementedError  # pragma: no cover

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_params().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class PairwiseHingeLoss(Loss):
    """``mean max(0, margin - y_ij (s_j - s_i))`` over :func:`sample_pairs` pairs (``'hinge'``).

    Parameters
    ----------
    margin : float >= 0
        Default 0.1 (GATES).
    max_pairs_factor : float > 0 or None
        At most ``ceil(max_pairs_factor * B)`` pairs per mini-batch of ``B`` (default 4, GATES).
    max_pairs : int >= 1 or None
        At most this many pairs per mini-batch; when given it replaces the ``max_pairs_factor``
        cap. With both None every pair of different targets in the mini-batch is used (no
        randomness).
    backend : str, Backend or None
        Kernel backend (resolved at call time).
    """

    name = "hinge"

    def __init__(self, margin: float = 0.1, max_pairs_factor: float | None = 4.0,
                 max_pairs: int | None = None, backend: Any = None) -> None:
        super().__init__(backend)
        check_range("PairwiseHingeLoss", "margin", margin, 0.0)
        _pair_cap(1, max_pairs_factor, max_pairs, "PairwiseHingeLoss")
        self.margin = float(margin)
        self.max_pairs_factor = None if max_pairs_factor is None else float(max_pairs_factor)
        self.max_pairs = None if max_pairs is None else int(max_pairs)

    def get_params(self) -> dict[str, Any]:
        return {"margin": self.margin, "max_pairs_factor": self.max_pairs_factor,
                "max_pairs": self.max_pairs}

    def __call__(self, scores: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator | int | None = None) -> tuple[float, np.ndarray]:
        return pairwise_hinge_loss(scores, y, margin=self.margin, rng=rng,
                                   max_pairs_factor=self.max_pairs_factor, max_pairs=self.max_pairs,
                                   backend=self.backend)


class PairwiseLogisticLoss(Loss):
    """``mean log(1 + exp(-y_ij (s_j - s_i)))`` over :func:`sample_pairs` pairs (``'logistic'``).

    Parameters
    ----------
    max_pairs_factor, max_pairs : as in :class:`PairwiseHingeLoss` (default ``4 B`` pairs)
    backend : str, Backend or None
    """

    name = "logistic"

    def __init__(self, max_pairs_factor: float | None = 4.0, max_pairs: int | None = None,
                 backend: Any = None) -> None:
        super().__init__(backend)
        _pair_cap(1, max_pairs_factor, max_pairs, "PairwiseLogisticLoss")
        self.max_pairs_factor = None if max_pairs_factor is None else float(max_pairs_factor)
        self.max_pairs = None if max_pairs is None else int(max_pairs)

    def get_params(self) -> dict[str, Any]:
        return {"max_pairs_factor": self.max_pairs_factor, "max_pairs": self.max_pairs}

    def __call__(self, scores: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator | int | None = None) -> tuple[float, np.ndarray]:
        return pairwise_logistic_loss(scores, y, rng=rng, max_pairs_factor=self.max_pairs_factor,
                                      max_pairs=self.max_pairs, backend=self.backend)


class ListMLELoss(Loss):
    """Plackett-Luce negative log-likelihood of the true order (``'listmle'``).

    Parameters
    ----------
    list_size : int >= 2 or None
        ``None``: one list per draw holding the whole mini-batch.
    n_lists : int >= 1
        Lists drawn per call.
    backend : str, Backend or None
    """

    name = "listmle"

    def __init__(self, list_size: int | None = None, n_lists: int = 1, backend: Any = None) -> None:
        super().__init__(backend)
        if list_size is not None:
            check_range("ListMLELoss", "list_size", list_size, 2, integer=True)
        check_range("ListMLELoss", "n_lists", n_lists, 1, integer=True)
        self.list_size = None if list_size is None else int(list_size)
        self.n_lists = int(n_lists)

    def get_params(self) -> dict[str, Any]:
        return {"list_size": self.list_size, "n_lists": self.n_lists}

    def __call__(self, scores: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator | int | None = None) -> tuple[float, np.ndarray]:
        return listmle_loss(scores, y, rng=rng, list_size=self.list_size, n_lists=self.n_lists,
                            backend=self.backend)


class MSELoss(Loss):
    """``mean (s - t)^2`` (``'mse'``); ``rng`` is ignored."""

    name = "mse"

    def __call__(self, scores: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator | int | None = None) -> tuple[float, np.ndarray]:
        return mse_loss(scores, y, backend=self.backend)


#: Registered losses: name -> class.
LOSSES: dict[str, type[Loss]] = {
    "hinge": PairwiseHingeLoss,
    "logistic": PairwiseLogisticLoss,
    "listmle": ListMLELoss,
    "mse": MSELoss,
}

_PARAMS: dict[str, tuple[str, ...]] = {
    "hinge": ("margin", "max_pairs_factor", "max_pairs", "backend"),
    "logistic": ("max_pairs_factor", "max_pairs", "backend"),
    "listmle": ("list_size", "n_lists", "backend"),
    "mse": ("backend",),
}


def get_loss(name: str | Loss, *, owner: str = "get_loss", **params: Any) -> Loss:
    """Build a registered loss by name.

    Parameters
    ----------
    name : {'hinge', 'logistic', 'listmle', 'mse'} or Loss
        A :class:`Loss` instance is returned unchanged (``params`` must then be empty).
    owner : str
        Named in error messages (e.g. ``"GATESPredictor"``).
    **params
        Constructor arguments of the loss: ``'hinge'``: ``margin``, ``max_pairs_factor``,
        ``max_pairs``; ``'logistic'``: ``max_pairs_factor``, ``max_pairs``; ``'listmle'``:
        ``list_size``, ``n_lists``; every loss: ``backend``.

    Returns
    -------
    Loss
        Callable as ``loss(scores, y, rng) -> (loss, dloss/dscores)``.

    Raises
    ------
    ParameterError
        "The 'loss' parameter of get_loss must be one of {'hinge', 'logistic', 'listmle',
        'mse'}. Got 'hinj' instead.", or for a parameter the loss does not take.
    """
    if isinstance(name, Loss):
        if params:
            raise ParameterError(f"{owner}: a Loss instance takes no extra parameters; got {sorted(params)}.")
        return name
    check_choice(owner, "loss", name, list(LOSSES))
    allowed = _PARAMS[name]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ParameterError(
            f"{owner}: the {name!r} loss takes the parameters {list(allowed)}; got unknown "
            f"parameter(s) {unknown}.")
    return LOSSES[name](**params)
