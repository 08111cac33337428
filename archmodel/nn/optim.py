"""Optimisers over flat parameter dicts, updating the arrays in place.

Both follow PyTorch's update rules exactly (so results can be compared with a PyTorch run):

* :class:`Adam` is ``torch.optim.Adam``: weight decay is **L2-coupled** (``grad + wd * param``
  enters the moment estimates), *not* the decoupled AdamW rule.
* :class:`SGD` is ``torch.optim.SGD`` (momentum, dampening, Nesterov, L2 weight decay).

Usage::

    opt = Adam(lr=1e-3, weight_decay=5e-4)
    opt.step(params, grads)       # params[k] -= ... in place, for every k in grads

State (moment buffers, step count) is created lazily per parameter name on the first step and
can be saved with :meth:`state_dict` (flat dict of arrays, ``.npz``-friendly).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from archmodel.errors import ParameterError, check_range
from archmodel.nn.params import Params

__all__ = ["Optimizer", "Adam", "SGD"]


class Optimizer:
    """Base class: holds hyper-parameters, per-parameter state and the kernel backend."""

    def __init__(self, lr: float, backend: Any = None) -> None:
        check_range(type(self).__name__, "lr", lr, 0.0, low_inclusive=False)
        self.lr = float(lr)
        self.backend = backend
        self.state: dict[str, dict[str, Any]] = {}

    def _be(self):
        from archmodel.nn.layers import resolve_backend

        return resolve_backend(self.backend)

    def _check(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        for k, g in grads.items():
            if k not in params:
                raise ParameterError(f"{type(self).__name__}.step: gradient {k!r} has no parameter.")
            p = params[k]
            if g.shape != p.shape or g.dtype != p.dtype:
                raise ParameterError(
                    f"{type(self).__name__}.step: gradient {k!r} is {g.shape} {g.dtype}, "
                    f"parameter is {p.shape} {p.dtype}.")

    def step(self, params: Params, grads: Mapping[str, np.ndarray]) -> None:  # pragma: no cover
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat ``{"<buffer>:<param name>": array}`` plus ``"step:<param name>"`` counters."""
        out: dict[str, np.ndarray] = {}
        for name, st in self.state.items():
            for key, val in st.items():
                out[f"{key}:{name}"] = np.asarray(val)
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Inverse of :meth:`state_dict`."""
        self.state = {}
        for full, val in state.items():
            key, _, name = full.partition(":")
            if not name:
                raise ParameterError(f"{type(self).__name__}: malformed state key {full!r}.")
            st = self.state.setdefault(name, {})
            st[key] = int(val) if key == "step" else np.array(val, copy=True)


class Adam(Optimizer):
    """Adam with L2-coupled weight decay (``torch.optim.Adam`` semantics).

    Parameters
    ----------
    lr : float > 0
    betas : (float, float) in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
        Added to the gradient as ``weight_decay * param`` before the moment updates.
    backend : str, Backend or None
        Kernel backend of the fused update (``nn.adam_update``).
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, backend: Any = None) -> None:
        super().__init__(lr, backend)
        b1, b2 = betas
        check_range("Adam", "betas[0]", b1, 0.0, 1.0, high_inclusive=False)
        check_range("Adam", "betas[1]", b2, 0.0, 1.0, high_inclusive=False)
        check_range("Adam", "eps", eps, 0.0, low_inclusive=False)
        check_range("Adam", "weight_decay", weight_decay, 0.0)
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def step(self, params: Params, grads: Mapping[str, np.ndarray]) -> None:
        """Update ``params[k]`` in place for every ``k`` in ``grads`` (sorted order)."""
        self._check(params, grads)
        be = self._be()
        for k in sorted(grads):
            p = params[k]
            st = self.state.get(k)
            if st is None:
                st = {"m": np.zeros_like(p), "v": np.zeros_like(p), "step": 0}
                self.state[k] = st
            st["step"] += 1
            be.nn.adam_update(p, grads[k], st["m"], st["v"], self.lr, self.betas[0],
                              self.betas[1], self.eps, self.weight_decay, st["step"])


class SGD(Optimizer):
    """Stochastic gradient descent (``torch.optim.SGD`` semantics).

    Parameters
    ----------
    lr : float > 0
    momentum : float >= 0
    dampening : float in [0, 1]
    weight_decay : float >= 0
        L2 term ``weight_decay * param`` added to the gradient.
    nesterov : bool
        Needs ``momentum > 0`` and ``dampening == 0``.
    backend : str, Backend or None
    """

    def __init__(self, lr: float = 1e-2, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, backend: Any = None) -> None:
        super().__init__(lr, backend)
        check_range("SGD", "momentum", momentum, 0.0)
        check_range("SGD", "dampening", dampening, 0.0, 1.0)
        check_range("SGD", "weight_decay", weight_decay, 0.0)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ParameterError("SGD: nesterov=True needs momentum > 0 and dampening == 0.")
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)

    def step(self, params: Params, grads: Mapping[str, np.ndarray]) -> None:
        """Update ``params[k]`` in place for every ``k`` in ``grads`` (sorted order)."""
        self._check(params, grads)
        be = self._be()
        for k in sorted(grads):
            p = params[k]
            st = self.state.get(k)
            if st is None:
                buf = np.zeros_like(p) if self.momentum != 0 else np.zeros(0, p.dtype)
                st = {"buf": buf, "step": 0}
                self.state[k] = st
            first = st["step"] == 0
            st["step"] += 1
            be.nn.sgd_update(p, grads[k], st["buf"], self.lr, self.momentum, self.dampening,
                             self.weight_decay, self.nesterov, first)
