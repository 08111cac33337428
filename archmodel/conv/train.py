"""Training: SGD with momentum and weight decay, a cosine learning-rate schedule, the
minibatch loop, evaluation and simple augmentation.

The loop never prints. Progress goes to an optional ``callback(event)`` (pass
:class:`StderrProgress` to see it on stderr) and to ``logging`` (one INFO line per epoch).
A non-finite minibatch loss stops training with
:class:`archmodel.errors.TrainingDivergedError`, which names the epoch.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Sequence

import numpy as np

from archmodel.conv.network import Network, single_thread_blas
from archmodel.errors import ParameterError, TrainingDivergedError, check_range

logger = logging.getLogger(__name__)

#: ``augment(x, rng) -> x``: a batch transform drawn with ``rng``.
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# --------------------------------------------------------------------------------------------
# optimiser and schedule
# --------------------------------------------------------------------------------------------
class SGD:
    """Stochastic gradient descent with momentum and L2 weight decay (PyTorch semantics).

    ``g = grad + weight_decay * p``; ``v = momentum * v + g``; the step is ``v`` (or
    ``g + momentum * v`` with Nesterov); ``p -= lr * step``, in place.

    Parameters
    ----------
    params : dict of str -> ndarray
        The live parameter arrays (``Network.parameters()``); updated in place.
    lr : float
        Default learning rate (a schedule passes its own to :meth:`step`).
    momentum : float
    weight_decay : float
    nesterov : bool
    no_decay : callable, optional
        ``no_decay(name) -> bool``: parameters exempt from weight decay (default: none, as in
        NAS-Bench-201).
    """

    def __init__(self, params: dict[str, np.ndarray], *, lr: float = 0.1, momentum: float = 0.9,
                 weight_decay: float = 5e-4, nesterov: bool = False,
                 no_decay: Callable[[str], bool] | None = None) -> None:
        check_range("SGD", "lr", lr, 0.0)
        check_range("SGD", "momentum", momentum, 0.0, 1.0, high_inclusive=False)
        check_range("SGD", "weight_decay", weight_decay, 0.0)
        if nesterov and momentum == 0:
            raise ParameterError("The 'nesterov' parameter of SGD needs momentum > 0.")
        self.params = params
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.decay = {k: (weight_decay if not (no_decay and no_decay(k)) else 0.0) for k in params}
        self.velocity = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, grads: dict[str, np.ndarray], lr: float | None = None) -> None:
        """Apply one update with ``grads``: every parameter named in ``grads`` (all of them,
        or a subset: a supernet updates only the parameters the sampled path used)."""
        lr = self.lr if lr is None else lr
        mu = self.momentum
        for k, g in grads.items():
            p = self.params[k]
            wd = self.decay[k]
            if wd:
                g = g + wd * p
            if mu:
                v = self.velocity[k]
                v *= mu
                v += g
                g = g + mu * v if self.nesterov else v
            p -= (lr * g).astype(p.dtype, copy=False)


def cosine_lr(step: int, total_steps: int, base_lr: float, min_lr: float = 0.0,
              warmup_steps: int = 0) -> float:
    """Cosine-annealed learning rate at ``step`` (0-based) of ``total_steps``.

    Linear warm-up from ``base_lr / warmup_steps`` to ``base_lr`` over ``warmup_steps``, then
    ``min_lr + (base_lr - min_lr) * (1 + cos(pi * t)) / 2`` with ``t`` going from 0 to 1 over
    the remaining steps.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, max(0.0, (step - warmup_steps) / span))
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))


# --------------------------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------------------------
def random_crop(padding: int) -> Augment:
    """Zero-pad by ``padding`` and crop back at a random offset per image."""
    check_range("random_crop", "padding", padding, 0, integer=True)

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if padding == 0:
            return x
        n, c, h, w = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        oy = rng.integers(0, 2 * padding + 1, n)
        ox = rng.integers(0, 2 * padding + 1, n)
        out = np.empty_like(x)
        for i in range(n):
            out[i] = xp[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w]
        return out

    return apply


def random_flip(p: float = 0.5) -> Augment:
    """Flip each image left-right with probability ``p``."""
    check_range("random_flip", "p", p, 0.0, 1.0)

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = rng.random(x.shape[0]) < p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    return apply


def compose(*augments: Augment) -> Augment:
    """Apply several augmentations in order."""

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for a in augments:
            x = a(x, rng)
        return x

    return apply


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------
@dataclass
class TrainEvent:
    """What a training callback receives.

    ``kind`` is ``'batch'`` (after each optimiser step) or ``'epoch'`` (after each epoch and
    its validation). Epochs and steps are 1-based. Call :meth:`request_stop` to end training
    after this event (the result is then marked ``stopped_early``).
    """

    kind: str
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    global_step: int
    loss: float
    lr: float
    elapsed: float
    train_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    _stop: bool = field(default=False, repr=False)

    def request_stop(self) -> None:
        self._stop = True


class StderrProgress:
    """Callback writing progress lines to a stream (default: ``sys.stderr`` at call time).

    Parameters
    ----------
    every : int
        Write a line every ``every`` minibatches (0: epoch lines only).
    stream : file, optional
    """

    def __init__(self, every: int = 20, stream: IO[str] | None = None) -> None:
        self.every = every
        self.stream = stream

    def __call__(self, ev: TrainEvent) -> None:
        out = self.stream if self.stream is not None else sys.stderr
        if ev.kind == "batch":
            if self.every and (ev.step % self.every == 0 or ev.step == ev.steps_per_epoch):
                out.write(f"epoch {ev.epoch}/{ev.epochs} step {ev.step}/{ev.steps_per_epoch} "
                          f"loss {ev.loss:.4f} lr {ev.lr:.4g} ({ev.elapsed:.1f} s)\n")
        else:
            val = ""
            if ev.val_accuracy is not None:
                val = f" val_loss {ev.val_loss:.4f} val_acc {ev.val_accuracy:.4f}"
            out.write(f"epoch {ev.epoch}/{ev.epochs} done: train_loss {ev.loss:.4f} "
                      f"train_acc {ev.train_accuracy:.4f}{val} ({ev.elapsed:.1f} s)\n")
        out.flush()


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    history : list of dict
        One entry per finished epoch: ``epoch``, ``train_loss``, ``train_accuracy`` (on the
        augmented minibatches, in training mode), ``val_loss``, ``val_accuracy`` (None
        without validation data), ``lr`` (at the epoch's last step), ``seconds``.
    steps : int
        Optimiser steps taken.
    stopped_early : bool
        A callback requested the stop.
    seconds : float
    """

    history: list[dict[str, Any]]
    steps: int
    stopped_early: bool
    seconds: float


# --------------------------------------------------------------------------------------------
# loop
# --------------------------------------------------------------------------------------------
def check_data(net: Network, X: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` checked against ``net`` (image shape, integer labels in range, same length);
    ``what`` names the data in the ParameterError ('training', 'validation')."""
    X = np.asarray(X)
    y = np.asarray(y)
    expect = (net.in_channels, net.input_size, net.input_size)
    if X.ndim != 4 or tuple(X.shape[1:]) != expect:
        raise ParameterError(f"{what} images must have shape (n, {expect[0]}, {expect[1]}, "
                             f"{expect[2]}) for this network; got {X.shape}.")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise ParameterError(f"{what} labels must be integers of shape ({X.shape[0]},); got "
                             f"{y.dtype} {y.shape}.")
    if y.size and (y.min() < 0 or y.max() >= net.num_classes):
        raise ParameterError(f"{what} labels must lie in [0, {net.num_classes}); got "
                             f"[{y.min()}, {y.max()}].")
    return X, y.astype(np.int64)


def evaluate(net: Network, X: np.ndarray, y: np.ndarray, *, batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``net`` in evaluation mode.

    Returns
    -------
    (loss, accuracy) : (float, float)
    """
    X, y = check_data(net, X, y, "evaluation")
    if X.shape[0] == 0:
        raise ParameterError("evaluate needs at least one image")
    total, correct = 0.0, 0
    with single_thread_blas():
        for i in range(0, X.shape[0], batch_size):
            logits = net.predict(X[i:i + batch_size], batch_size=batch_size)
            loss, _ = net.loss(logits, y[i:i + batch_size])
            total += loss * logits.shape[0]
            correct += int((logits.argmax(axis=1) == y[i:i + batch_size]).sum())
    return total / X.shape[0], correct / X.shape[0]


def train(net: Network, X: np.ndarray, y: np.ndarray, *, epochs: int = 10, batch_size: int = 64,
          lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
          nesterov: bool = True, min_lr: float = 0.0, warmup_epochs: int = 0,
          X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
          augment: Augment | Sequence[Augment] | None = None,
          rng: np.random.Generator | int | None = None,
          callback: Callable[[TrainEvent], None] | None = None, drop_last: bool = False,
          eval_batch_size: int = 256) -> TrainResult:
    """Train ``net`` in place with minibatch SGD and a per-step cosine schedule.

    Defaults follow NAS-Bench-201 (SGD, Nesterov momentum 0.9, weight decay 5e-4 on all
    parameters, lr 0.1 annealed to 0).

    Parameters
    ----------
    net : Network
    X : ndarray, shape (n, C_in, H, W)
    y : ndarray of int, shape (n,)
    epochs, batch_size : int
    lr, momentum, weight_decay, nesterov, min_lr
        See :class:`SGD` and :func:`cosine_lr`.
    warmup_epochs : int
        Linear warm-up length.
    X_val, y_val : ndarray, optional
        Evaluated (evaluation mode) after every epoch.
    augment : callable or sequence of callables, optional
        ``augment(x_batch, rng) -> x_batch`` (e.g. :func:`random_crop`, :func:`random_flip`).
    rng : Generator, int or None
        Shuffling and augmentation.
    callback : callable, optional
        ``callback(TrainEvent)`` after each step and each epoch (:class:`StderrProgress`
        prints progress to stderr).
    drop_last : bool
        Drop the last incomplete minibatch of each epoch.
    eval_batch_size : int

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDivergedError
        A minibatch loss is NaN or infinite (raised before the update; the message names the
        epoch and step; the exception has ``epoch`` and ``step`` attributes).
    ParameterError
        Bad arguments or data shapes.
    """
    owner = "train"
    check_range(owner, "epochs", epochs, 1, integer=True)
    check_range(owner, "batch_size", batch_size, 1, integer=True)
    check_range(owner, "warmup_epochs", warmup_epochs, 0, integer=True)
    X, y = check_data(net, X, y, "training")
    n = X.shape[0]
    if (X_val is None) != (y_val is None):
        raise ParameterError("pass both X_val and y_val, or neither")
    if X_val is not None:
        X_val, y_val = check_data(net, X_val, y_val, "validation")
    steps_per_epoch = n // batch_size if drop_last else -(-n // batch_size)
    if steps_per_epoch < 1:
        raise ParameterError(f"{n} training images make no minibatch of {batch_size} with drop_last=True")
    if augment is not None and not callable(augment):
        augment = compose(*augment)
    gen = np.random.default_rng(rng)
    opt = SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
              nesterov=nesterov)
    total_steps = epochs * steps_per_epoch
    warmup = warmup_epochs * steps_per_epoch
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    gstep = 0
    stopped = False
    with single_thread_blas():
        for epoch in range(1, epochs + 1):
            t_epoch = time.perf_counter()
            perm = gen.permutation(n)
            loss_sum, correct, seen = 0.0, 0, 0
            cur_lr = lr
            for step in range(1, steps_per_epoch + 1):
                idx = perm[(step - 1) * batch_size: step * batch_size]
                xb = X[idx]
                if augment is not None:
                    xb = augment(xb, gen)
                yb = y[idx]
                loss, logits = net.loss_and_grad(xb, yb, train=True)
                if not math.isfinite(loss):
                    err = TrainingDivergedError(
                        f"training diverged: loss {loss!r} at epoch {epoch} of {epochs}, step "
                        f"{step} of {steps_per_epoch} (learning rate {cur_lr:.4g}); lower the "
                        f"learning rate")
                    err.epoch, err.step = epoch, step
                    raise err
                cur_lr = cosine_lr(gstep, total_steps, lr, min_lr, warmup)
                opt.step(net.gradients(), lr=cur_lr)
                gstep += 1
                loss_sum += loss * len(idx)
                correct += int((logits.argmax(axis=1) == yb).sum())
                seen += len(idx)
                if callback is not None:
                    ev = TrainEvent("batch", epoch, epochs, step, steps_per_epoch, gstep, loss,
                                    cur_lr, time.perf_counter() - start)
                    callback(ev)
                    if ev._stop:
                        stopped = True
                        break
            record: dict[str, Any] = {
                "epoch": epoch, "train_loss": loss_sum / max(seen, 1),
                "train_accuracy": correct / max(seen, 1), "val_loss": None,
                "val_accuracy": None, "lr": cur_lr,
            }
            if X_val is not None and not stopped:
                record["val_loss"], record["val_accuracy"] = evaluate(
                    net, X_val, y_val, batch_size=eval_batch_size)
            record["seconds"] = time.perf_counter() - t_epoch
            history.append(record)
            logger.info("epoch %d/%d: train_loss %.4f train_acc %.4f val_acc %s (%.1f s)",
                        epoch, epochs, record["train_loss"], record["train_accuracy"],
                        "n/a" if record["val_accuracy"] is None else f"{record['val_accuracy']:.4f}",
                        record["seconds"])
            if stopped:
                break
            if callback is not None:
                ev = TrainEvent("epoch", epoch, epochs, steps_per_epoch, steps_per_epoch, gstep,
                                record["train_loss"], cur_lr, time.perf_counter() - start,
                                record["train_accuracy"], record["val_loss"],
                                record["val_accuracy"])
                callback(ev)
                if ev._stop:
                    stopped = True
                    break
    return TrainResult(history=history, steps=gstep, stopped_early=stopped,
                       seconds=time.perf_counter() - start)
