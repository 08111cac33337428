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

    #: Below this many scalars an update runs on the calling thread only.
    PARALLEL_MIN_SIZE = 65536

    def __init__(self, lr: float, backend: Any = None, n_jobs: int | None = None) -> None:
        check_range(type(self).__name__, "lr", lr, 0.0, low_inclusive=False)
        self.lr = float(lr)
        self.backend = backend
        self.n_jobs = n_jobs
        self.state: dict[str, dict[str, Any]] = {}

    def _foreach(self, keys: list[str], sizes: list[int], update) -> None:
        """Run ``update(key)`` for every key; large updates are spread over worker threads
        (the kernels release the GIL; every element is updated independently, so the result
        does not depend on the split)."""
        from archmodel.nn.parallel import map_chunks, resolve_n_jobs

        n_jobs = resolve_n_jobs(self.n_jobs, type(self).__name__)
        if n_jobs <= 1 or sum(sizes) < self.PARALLEL_MIN_SIZE:
            for k in keys:
                update(k)
            return
        buckets: list[list[str]] = [[] for _ in range(n_jobs)]
        loads = [0] * n_jobs
        for k, n in sorted(zip(keys, sizes), key=lambda kn: -kn[1]):
            j = loads.index(min(loads))
            buckets[j].append(k)
            loads[j] += n

        def run(j: int) -> None:
            for k in buckets[j]:
                update(k)

        map_chunks(run, n_jobs, n_jobs)

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
    n_jobs : int or None
        Threads for large updates (None: every CPU this process may use).
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, backend: Any = None,
                 n_jobs: int | None = None) -> None:
        super().__init__(lr, backend, n_jobs)
        b1, b2 = betas
        check_range("Adam", "betas[0]", b1, 0.0, 1.0, high_inclusive=False)
        check_range("Adam", "betas[1]", b2, 0.0, 1.0, high_inclusive=False)
        check_range("Adam", "eps", eps, 0.0, low_inclusive=False)
        check_range("Adam", "weight_decay", weight_decay, 0.0)
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def step(self, params: Params, grads: Mapping[str, np.ndarray]) -> None:
        """Update ``params[k]`` in place for every ``k`` in ``grads``."""
        self._check(params, grads)
        be = self._be()
        keys = sorted(grads)
        for k in keys:
            if k not in self.state:
                p = params[k]
                self.state[k] = {"m": np.zeros_like(p), "v": np.zeros_like(p), "step": 0}
            self.state[k]["step"] += 1

        def update(k: str) -> None:
            st = self.state[k]
            be.nn.adam_update(params[k], grads[k], st["m"], st["v"], self.lr, self.betas[0],
                              self.betas[1], self.eps, self.weight_decay, st["step"])

        self._foreach(keys, [params[k].size for k in keys], update)


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
    n_jobs : int or None
        Threads for large updates (None: every CPU this process may use).
    """

    def __init__(self, lr: float = 1e-2, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, backend: Any = None,
                 n_jobs: int | None = None) -> None:
        super().__init__(lr, backend, n_jobs)
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
        """Update ``params[k]`` in place for every ``k`` in ``grads``."""
        self._check(params, grads)
        be = self._be()
        keys = sorted(grads)
        for k in keys:
            if k not in self.state:
                p = params[k]
                buf = np.zeros_like(p) if self.momentum != 0 else np.zeros(0, p.dtype)
                self.state[k] = {"buf": buf, "step": 0}
            self.state[k]["step"] += 1

        def update(k: str) -> None:
            st = self.state[k]
            be.nn.sgd_update(params[k], grads[k], st["buf"], self.lr, self.momentum,
                             self.dampening, self.weight_decay, self.nesterov, st["step"] == 1)

        self._foreach(keys, [params[k].size for k in keys], update)
