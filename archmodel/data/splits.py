"""Train/test splits of a :class:`~archmodel.data.Dataset`."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from archmodel.data.dataset import Dataset
from archmodel.errors import ParameterError

__all__ = ["train_test_split", "split_indices", "resolve_train_size"]

_OWNER = "train_test_split"


def resolve_train_size(train_size: Any, n: int) -> int:
    """Number of training rows for ``train_size`` out of ``n``.

    A float in (0, 1) is a fraction: ``floor(train_size * n + 0.5)`` rows (half rounds up).
    An integer is a count. The result must lie in [1, n - 1] so that both parts are
    non-empty; otherwise :class:`ParameterError`.
    """
    if isinstance(train_size, bool) or not isinstance(train_size, numbers.Real):
        raise ParameterError(
            f"The 'train_size' parameter of {_OWNER} must be a fraction in (0, 1) or an integer count in "
            f"[1, {n - 1}]. Got {train_size!r} instead."
        )
    if n < 2:
        raise ParameterError(f"{_OWNER} needs at least 2 architectures to split; the data set has {n}")
    if isinstance(train_size, numbers.Integral):
        count = int(train_size)
        if not 1 <= count <= n - 1:
            raise ParameterError(
                f"The 'train_size' parameter of {_OWNER} must be an integer count in [1, {n - 1}] "
                f"(the data set has {n} architectures). Got {count} instead."
            )
        return count
    frac = float(train_size)
    if not (0.0 < frac < 1.0):
        raise ParameterError(
            f"The 'train_size' parameter of {_OWNER} must be a fraction in the range (0, 1) or an integer "
            f"count. Got {train_size!r} instead."
        )
    count = int(math.floor(frac * n + 0.5))
    if not 1 <= count <= n - 1:
        raise ParameterError(
            f"train_size={train_size!r} of {n} architectures gives {count} training rows; both parts must be "
            f"non-empty: use a fraction in [{0.5 / n:.3g}, {1 - 0.5 / n:.3g}) or an integer count in [1, {n - 1}]"
        )
    return count


def split_indices(n: int, train_size: Any = 0.01, rng: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Random disjoint (train, test) index arrays covering ``range(n)``, each sorted ascending.

    Returns
    -------
    train : ndarray of int64, shape (n_train,)
    test : ndarray of int64, shape (n - n_train,)
    """
    count = resolve_train_size(train_size, n)
    perm = np.random.default_rng(rng).permutation(n)
    return np.sort(perm[:count]).astype(np.int64), np.sort(perm[count:]).astype(np.int64)


def train_test_split(dataset: Dataset, train_size: Any = 0.01, rng: Any = None,
                     dedup: str | None = None) -> tuple[Dataset, Dataset]:
    """Split a data set at random into a training and a test part.

    Parameters
    ----------
    dataset : Dataset
    train_size : float or int
        A fraction in (0, 1) of the (deduplicated) data set, rounded half up, or an integer
        count in [1, n - 1]. The default 0.01 is the small-sample regime predictors are
        usually judged in (156 of NB201's 15,625 cells).
    rng : Generator, int or None
        Randomness (``numpy.random.default_rng(rng)``); the same seed gives the same split.
    dedup : {None, 'structural', 'unique'}
        First keep one architecture per canonical class (``Arch.key(dedup)``): the *first*
        in data order. Isomorphic cells can then never sit on both sides of the split, and
        ``n`` counts classes. The other members of each class are dropped from both parts.
        ``'unique'`` is NB201's own key (6,466 classes); ``'structural'`` works in every space.

    Returns
    -------
    train, test : Dataset
        Disjoint; together they hold every row of the (deduplicated) data set. Each keeps
        the data order; ``ids`` identify the rows in the source.

    Raises
    ------
    ParameterError
        ``train_size`` outside the ranges above (0, 1.0, n, and larger are refused) or an
        unknown ``dedup``.
    """
    if not isinstance(dataset, Dataset):
        raise ParameterError(f"{_OWNER} needs a Dataset; got {type(dataset).__name__}")
    base = dataset
    if dedup is not None:
        kinds = dataset.search_space.key_kinds
        if dedup not in kinds:
            raise ParameterError(
                f"The 'dedup' parameter of {_OWNER} must be one of {[None, *kinds]} for space "
                f"{dataset.space!r}. Got {dedup!r} instead."
            )
        base = dataset.deduplicate(dedup)
    train_idx, test_idx = split_indices(len(base), train_size, rng)
    return base.subset(train_idx), base.subset(test_idx)
