"""Generic mini-batch training of a scoring model.

A *score model* maps a batch of encoded architectures to one score per architecture and
back-propagates a gradient on those scores to its parameters::

    scores, cache = model.forward(params, batch, train=True, rng=rng, backend=backend)
    grads = model.backward(cache, grad_scores)          # {param name: gradient}

``batch`` is a mapping ``{name: ndarray}`` whose arrays all have the batch size as first axis
(for GATES: ``{"edges": int64 [B, C, E, 3]}`` or ``{"adj": ..., "node_ops": ...}``).
:func:`fit_scores` shuffles, slices every array of the batch mapping, calls a caller-supplied
loss ``loss_fn(scores, y, rng) -> (loss, dloss/dscores)`` and an optimiser
(:mod:`archmodel.nn.optim`).

Reproducibility: one :class:`numpy.random.Generator` drives the shuffling, dropout masks and the
loss' own sampling, in a fixed order, and the model's batch chunking depends on the batch size
only; the same seed therefore gives bit-for-bit identical parameters (same backend, same
machine and library versions).
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from archmodel.errors import ParameterError, TrainingDivergedError, check_range
from archmodel.nn.params import Params, as_rng
from archmodel.nn.parallel import single_threaded_blas

logger = logging.getLogger(__name__)

__all__ = ["ScoreModel", "LossFn", "fit_scores", "take_rows"]

#: ``loss_fn(scores [B], y [B], rng) -> (loss: float, dloss_dscores [B])``.
LossFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], "tuple[float, np.ndarray]"]


class ScoreModel(Protocol):
    """What :func:`fit_scores` needs from a model (GATESModel implements it)."""

    def forward(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
                train: bool = False, rng: np.random.Generator | None = None,
                backend: Any = None) -> tuple[np.ndarray, Any]: ...

    def backward(self, cache: Any, grad_scores: np.ndarray) -> Params: ...

    # optional: ``prepare_batch(batch_arrays)`` returns an object whose ``take(idx)`` is the
    # mini-batch of rows ``idx`` as ``forward`` accepts it (validated once, work shared
    # between epochs); without it :func:`take_rows` slices the mapping.


def take_rows(batch: Mapping[str, np.ndarray], idx: np.ndarray | slice) -> dict[str, np.ndarray]:
    """``{k: v[idx]}`` for every array of a batch mapping."""
    return {k: v[idx] for k, v in batch.items()}


def _batch_size(batch: Mapping[str, np.ndarray]) -> int:
    if not batch:
        raise ParameterError("fit_scores: batch_arrays is empty.")
    sizes = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in batch.items()}
    uniq = set(sizes.values())
    if len(uniq) != 1 or None in uniq:
        raise ParameterError(f"fit_scores: every array of batch_arrays needs the same first axis; got {sizes}.")
    return int(uniq.pop())


def fit_scores(model: ScoreModel, params: Params, batch_arrays: Mapping[str, np.ndarray],
               y: np.ndarray, loss_fn: LossFn, optimizer: Any, *, epochs: int, batch_size: int,
               rng: np.random.Generator | int | None = None,
               progress: Callable[[int, float], None] | None = None, backend: Any = None,
               shuffle: bool = True, drop_last: bool = False) -> list[float]:
    """Train ``params`` in place; return the mean loss of each epoch.

    Parameters
    ----------
    model : ScoreModel
        Has ``forward(params, batch, *, train, rng, backend) -> (scores [b], cache)`` and
        ``backward(cache, grad_scores [b]) -> grads``.
    params : dict[str, ndarray]
        Updated in place by ``optimizer``.
    batch_arrays : mapping str -> ndarray
        Encoded training set, every array with first axis ``n``.
    y : ndarray [n]
        Targets, passed (sliced) to ``loss_fn``.
    loss_fn : callable
        ``loss_fn(scores [b], y [b], rng) -> (loss, dloss/dscores [b])``.
    optimizer : Adam, SGD or anything with ``step(params, grads)``
    epochs, batch_size : int >= 1
    rng : Generator, int or None
        Drives shuffling, dropout and ``loss_fn``'s sampling.
    progress : callable, optional
        ``progress(epoch, mean_loss)`` after each epoch (epochs counted from 1).
    backend : str, Backend or None
        Kernel backend for the model.
    shuffle : bool
        Reshuffle each epoch (else fixed order).
    drop_last : bool
        Drop a last mini-batch smaller than ``batch_size``.

    Returns
    -------
    list of float
        Mean mini-batch loss per epoch.

    Raises
    ------
    TrainingDivergedError
        When a loss (or its gradient) is not finite; the message names the epoch and batch.
    """
    check_range("fit_scores", "epochs", epochs, 1, integer=True)
    check_range("fit_scores", "batch_size", batch_size, 1, integer=True)
    n = _batch_size(batch_arrays)
    y = np.asarray(y)
    if y.shape[:1] != (n,):
        raise ParameterError(f"fit_scores: y must have {n} rows (the batch size); got shape {y.shape}.")
    rng = as_rng(rng)
    history: list[float] = []
    prepare = getattr(model, "prepare_batch", None)
    if callable(prepare):
        take = prepare(batch_arrays).take
    else:
        def take(idx: np.ndarray) -> dict[str, np.ndarray]:
            return take_rows(batch_arrays, idx)
    with single_threaded_blas():
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n) if shuffle else np.arange(n)
            total, count = 0.0, 0
            for b, start in enumerate(range(0, n, batch_size)):
                idx = order[start:start + batch_size]
                if drop_last and idx.size < batch_size and count > 0:
                    break
                sub = take(idx)
                scores, cache = model.forward(params, sub, train=True, rng=rng, backend=backend)
                loss, dscores = loss_fn(scores, y[idx], rng)
                loss = float(loss)
                if not math.isfinite(loss) or not np.all(np.isfinite(dscores)):
                    raise TrainingDivergedError(
                        f"Training diverged at epoch {epoch} of {epochs} (mini-batch {b}): the loss "
                        f"is {loss!r}. Lower the learning rate or check the targets for NaN/inf.")
                dscores = np.asarray(dscores, dtype=scores.dtype)
                grads = model.backward(cache, dscores)
                optimizer.step(params, grads)
                total += loss
                count += 1
            mean = total / max(count, 1)
            history.append(mean)
            logger.debug("epoch %d/%d: mean loss %.6g", epoch, epochs, mean)
            if progress is not None:
                progress(epoch, mean)
    return history
