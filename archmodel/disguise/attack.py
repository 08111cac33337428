"""Transfer attacks against a deployed network, the threat a disguise is meant to blunt.

The attacker knows (or believes it knows) the victim's architecture, trains a surrogate of that
architecture from scratch on the same task, crafts L-infinity PGD adversarial examples on the
surrogate with the conv engine's own input gradients, and sends them to the victim. The
measure is the victim's accuracy on them. A disguise's *benefit* is the victim's accuracy under
attack from a surrogate of the disguised architecture minus that from a surrogate of the true
one (:func:`disguise_benefit`).

Perturbations live in pixel space, ``[0, 1]`` (the digits' 17 grey levels scaled), and the
images are normalised afterwards exactly as the data set normalises them, so ``eps`` means
the same for every network.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from archmodel.errors import ParameterError, check_range

log = logging.getLogger(__name__)

__all__ = ["AttackResult", "pgd_attack", "transfer_attack", "disguise_benefit", "digits_for"]


@dataclass
class AttackResult:
    """One transfer attack: accuracies (fractions of the attacked images)."""

    surrogate_ops: list[str]
    victim_clean: float
    surrogate_clean: float
    surrogate_under_attack: float  # white-box: the attack on the network that crafted it
    victim_under_attack: float     # transfer: what the attack does to the victim
    eps: float
    steps: int
    n_images: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def digits_for(net: Any) -> Any:
    """The digits data set shaped as ``net`` takes it (size and channels from its config), loaded
    as ``archmodel net train`` loads it."""
    from archmodel.datasets.images import load_digits

    size, channels = int(net.config["input_size"]), int(net.config["in_channels"])
    if channels not in (1, 3):
        raise ParameterError(f"digits networks take 1 or 3 input channels; this one takes {channels}")
    return load_digits(size=size, channels=channels, interpolation="nearest" if size == 8 else "bilinear",
                       dtype=net.dtype)


def _accuracy(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(net.predict(x), axis=1) == y))


def pgd_attack(net: Any, x: np.ndarray, y: np.ndarray, *, mean: np.ndarray, std: np.ndarray,
               eps: float, steps: int = 10, step_size: float | None = None,
               batch_size: int = 256) -> np.ndarray:
    """L-infinity PGD (no random start) on ``net`` in evaluation mode.

    Parameters
    ----------
    net : archmodel.conv.Network
    x : ndarray, shape (n, C, H, W)
        Normalised images, ``(pixels - mean) / std``.
    y : ndarray of int, shape (n,)
    mean, std : ndarray, shape (C,)
        The data set's normalisation (``ImageDataset.mean``, ``.std``).
    eps : float
        Budget in pixel units (pixels in ``[0, 1]``).
    steps : int
    step_size : float, optional
        Default ``eps / 10`` (DeepGuiser's setting, with 10 steps).

    Returns
    -------
    ndarray, shape of ``x``
        Normalised adversarial images, each within ``eps`` of its clean pixels and in ``[0, 1]``.
    """
    check_range("pgd_attack", "eps", eps, 0.0, 1.0)
    check_range("pgd_attack", "steps", steps, 1, integer=True)
    step = eps / 10.0 if step_size is None else float(step_size)
    m = np.asarray(mean, np.float64).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float64).reshape(1, -1, 1, 1)
    raw = np.asarray(x, np.float64) * s + m
    adv = raw.copy()
    y = np.asarray(y, np.int64)
    for _ in range(steps):
        for i in range(0, len(adv), batch_size):
            sl = slice(i, i + batch_size)
            net.loss_and_grad(((adv[sl] - m) / s).astype(net.dtype), y[sl], train=False)
            g = net.input_gradient.astype(np.float64) / s   # d loss / d pixels
            adv[sl] = np.clip(np.clip(adv[sl] + step * np.sign(g), raw[sl] - eps, raw[sl] + eps), 0.0, 1.0)
    net.zero_grad()
    return ((adv - m) / s).astype(net.dtype)


def _train_surrogate(ops: Sequence[str], like: Any, data: Any, *, epochs: int, seed: int) -> Any:
    from archmodel.conv import build_nb201_network, train

    cfg = {k: v for k, v in like.config.items() if k != "ops"}
    cfg.pop("dtype", None)
    net = build_nb201_network(list(ops), rng=seed, backend=like.backend, dtype=like.dtype, **cfg)
    train(net, data.X_train, data.y_train, epochs=epochs, rng=seed + 1)
    return net


def transfer_attack(victim: Any, surrogate_ops: Sequence[str] | str, *, eps: float = 0.1, steps: int = 10,
                    epochs: int = 10, seed: int = 0, n_images: int | None = None,
                    data: Any = None) -> AttackResult:
    """Train a surrogate of ``surrogate_ops`` (the victim's size, from scratch, seed ``seed``),
    attack it with PGD on the test images, and measure the victim on the same images.

    Parameters
    ----------
    victim : archmodel.conv.Network
        An NB201 network trained on digits (e.g. by ``archmodel net train``).
    surrogate_ops : 6 op names or an arch string
        The architecture the attacker believes (:data:`archmodel.conv.nb201.EXTENDED_OPS`).
    eps, steps : float, int
        PGD budget in pixel units and iterations (step ``eps / 10``).
    epochs : int
        Surrogate training epochs.
    seed : int
        Surrogate initialisation and shuffling.
    n_images : int, optional
        Attack only the first ``n_images`` test images (default: all).
    data : ImageDataset, optional
        Default :func:`digits_for` ``(victim)``.
    """
    from archmodel.conv.nb201 import EXTENDED_OPS, check_ops, ops_from_arch_string

    ops = ops_from_arch_string(surrogate_ops) if isinstance(surrogate_ops, str) else check_ops(surrogate_ops, EXTENDED_OPS)
    data = digits_for(victim) if data is None else data
    x, y = data.X_test, data.y_test
    if n_images is not None:
        check_range("transfer_attack", "n_images", n_images, 1, integer=True)
        x, y = x[:n_images], y[:n_images]
    sur = _train_surrogate(ops, victim, data, epochs=epochs, seed=seed)
    adv = pgd_attack(sur, x, y, mean=data.mean, std=data.std, eps=eps, steps=steps)
    res = AttackResult(list(ops), _accuracy(victim, x, y), _accuracy(sur, x, y), _accuracy(sur, adv, y),
                       _accuracy(victim, adv, y), float(eps), int(steps), int(len(y)), int(seed))
    log.info("transfer attack from %s: victim %.3f -> %.3f", ops, res.victim_clean, res.victim_under_attack)
    return res


def disguise_benefit(victim: Any, disguised_ops: Sequence[str], *, seeds: Sequence[int] = (0, 1, 2),
                     **kw: Any) -> dict[str, Any]:
    """Mean over attacker seeds of the victim's accuracy under attack from a surrogate of the
    disguised architecture minus that from a surrogate of the true one (higher = better
    disguise), with every attack's result."""
    true_ops = list(victim.config["ops"])
    rows = {"true": [transfer_attack(victim, true_ops, seed=s, **kw) for s in seeds],
            "disguised": [transfer_attack(victim, disguised_ops, seed=s, **kw) for s in seeds]}
    acc = {k: float(np.mean([r.victim_under_attack for r in v])) for k, v in rows.items()}
    return {"benefit": acc["disguised"] - acc["true"], "victim_under_true_attack": acc["true"],
            "victim_under_disguised_attack": acc["disguised"],
            "attacks": {k: [r.to_dict() for r in v] for k, v in rows.items()}}
