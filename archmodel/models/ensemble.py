"""A dynamic ensemble of score models (DELE, Zhao, Ning et al., AAAI 2023), as an array model.

"Dynamic Ensemble of Low-fidelity Experts: Mitigating NAS Cold-Start": ``K`` experts, each a
full score model (encoder + head), and a gate that weighs them per architecture::

    s_k  = expert_k(arch)                           # [B] each
    w    = softmax(gate(arch) / temperature)        # [B, K]   (gate: a model with K outputs)
         | 1/K                                      # gate=None: the uniform ensemble
    score = sum_k w_k * s_k

The experts and the gate are existing models (:class:`~archmodel.models.gates.GATESModel`,
:class:`~archmodel.models.tagates.TAGATESModel`, the baselines); their parameters are kept
under the prefixes ``expert{k}.`` and ``gate.``. The backward pass chains the members' own
backward passes through the weighted sum and the softmax.

Examples
--------
>>> import numpy as np
>>> from archmodel.models.gates import GATESModel
>>> from archmodel.models.ensemble import EnsembleModel
>>> small = dict(gates_dims=(8,), mlp_hidden=(8,), op_emb_dim=4, node_emb_dim=4, hidden_dim=4)
>>> ens = EnsembleModel([GATESModel(**small), GATESModel(**small)], GATESModel(**small, n_outputs=2))
>>> params = ens.init_params(0, dtype=np.float64)
>>> edges = np.array([[[0, 1, 2], [0, 2, 3], [1, 2, 1], [0, 3, 4], [1, 3, 0], [2, 3, 2]]])
>>> scores, cache = ens.forward(params, {"edges": edges}, backend="numpy")
>>> ens.gate_weights(params, {"edges": edges}).shape
(1, 2)
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import ParameterError, check_range
from archmodel.models._base import ScoreModel
from archmodel.nn.params import Params, as_rng, check_dtype

__all__ = ["EnsembleModel"]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _Prepared:
    """Per member, its own prepared training set (``take`` slices each)."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def take(self, idx: np.ndarray) -> "_Taken":
        return _Taken([p.take(idx) for p in self.parts])


class _Taken:
    __slots__ = ("parts",)

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts


class EnsembleModel(ScoreModel):
    """Experts weighted per architecture by a gate (see the module docstring).

    Parameters
    ----------
    experts : sequence of score models
        Each with ``forward(params, batch, ...) -> (scores [B], cache)`` and ``backward``.
    gate : score model with ``n_outputs == len(experts)``, or None
        None: uniform weights ``1/K``.
    temperature : float > 0
        Softmax temperature of the gate (1).
    """

    _owner = "EnsembleModel"

    def __init__(self, experts: Sequence[Any], gate: Any = None, *, temperature: float = 1.0) -> None:
        self.experts = list(experts)
        if not self.experts:
            raise ParameterError("EnsembleModel: needs at least one expert.")
        if gate is not None and getattr(gate, "n_outputs", 1) != len(self.experts):
            raise ParameterError(f"EnsembleModel: the gate must have n_outputs={len(self.experts)} (one per "
                                 f"expert); got {getattr(gate, 'n_outputs', 1)}.")
        self.gate = gate
        self.temperature = float(check_range("EnsembleModel", "temperature", temperature, 0.0, low_inclusive=False))

    @property
    def n_experts(self) -> int:
        return len(self.experts)

    def _members(self) -> list[tuple[str, Any]]:
        out = [(f"expert{k}.", m) for k, m in enumerate(self.experts)]
        if self.gate is not None:
            out.append(("gate.", self.gate))
        return out

    @staticmethod
    def sub_params(params: Mapping[str, np.ndarray], prefix: str) -> Params:
        """The member's parameters (the same arrays) under their own names."""
        n = len(prefix)
        return {k[n:]: v for k, v in params.items() if k.startswith(prefix)}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for prefix, m in self._members():
            shapes.update({prefix + k: v for k, v in m.param_shapes().items()})
        return shapes

    def init_params(self, rng: np.random.Generator | int | None = None, dtype: Any = np.float32) -> Params:
        """Each expert's fresh parameters in order, then the gate's, all from ``rng``."""
        dt = check_dtype(dtype, self._owner)
        rng = as_rng(rng)
        params: Params = {}
        for prefix, m in self._members():
            params.update({prefix + k: v for k, v in m.init_params(rng, dt).items()})
        return params

    def prepare_batch(self, batch: Mapping[str, np.ndarray]) -> _Prepared:
        return _Prepared([m.prepare_batch(batch) for _, m in self._members()])

    def _member_batches(self, batch: Any) -> list[Any]:
        if isinstance(batch, _Taken):
            return batch.parts
        return [batch] * len(self._members())

    # ------------------------------------------------------------------ passes
    def forward(self, params: Mapping[str, np.ndarray], batch: Any, *, train: bool = False,
                rng: np.random.Generator | int | None = None, masks: Any = None,
                backend: Any = None) -> tuple[np.ndarray, dict]:
        """Ensemble scores ``[B]`` and the cache of :meth:`backward` (``masks`` unsupported)."""
        if masks is not None:
            raise ParameterError("EnsembleModel.forward: masks= is not supported (members draw their own).")
        self.check_params(params)
        rng = as_rng(rng) if train else rng
        parts = self._member_batches(batch)
        s, caches = [], []
        for k, m in enumerate(self.experts):
            sk, ck = m.forward(self.sub_params(params, f"expert{k}."), parts[k], train=train, rng=rng,
                               backend=backend)
            s.append(sk)
            caches.append(ck)
        s = np.stack(s, axis=1)
        gate_cache = z = None
        if self.gate is not None:
            z, gate_cache = self.gate.forward(self.sub_params(params, "gate."), parts[-1], train=train,
                                              rng=rng, backend=backend)
            w = _softmax(z / z.dtype.type(self.temperature))
        else:
            w = np.full_like(s, 1.0 / self.n_experts)
        scores = (w * s).sum(axis=1)
        cache = {"s": s, "w": w, "experts": caches, "gate": gate_cache,
                 "slices": [slice(0, s.shape[0])], "dtype": s.dtype}
        return scores, cache

    def backward(self, cache: dict, grad_scores: np.ndarray) -> Params:
        """Gradients of ``sum(grad_scores * scores)`` w.r.t. every parameter."""
        g = self._grad_scores(cache, grad_scores)
        s, w = cache["s"], cache["w"]
        grads: Params = {}
        for k, m in enumerate(self.experts):
            gk = m.backward(cache["experts"][k], np.ascontiguousarray(g * w[:, k]))
            grads.update({f"expert{k}." + n: v for n, v in gk.items()})
        if self.gate is not None:
            d_w = g[:, None] * s
            d_z = w * (d_w - (w * d_w).sum(axis=1, keepdims=True)) / d_w.dtype.type(self.temperature)
            gg = self.gate.backward(cache["gate"], np.ascontiguousarray(d_z))
            grads.update({"gate." + n: v for n, v in gg.items()})
        return grads

    def expert_scores(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
                      backend: Any = None) -> np.ndarray:
        """Every expert's scores, ``[B, K]`` (evaluation mode)."""
        return np.stack([m.predict(self.sub_params(params, f"expert{k}."), batch, backend=backend)
                         for k, m in enumerate(self.experts)], axis=1)

    def gate_weights(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
                     backend: Any = None) -> np.ndarray:
        """The weights ``[B, K]`` (evaluation mode; uniform without a gate)."""
        if self.gate is None:
            n = len(next(iter(batch.values())))
            return np.full((n, self.n_experts), 1.0 / self.n_experts)
        z = self.gate.predict(self.sub_params(params, "gate."), batch, backend=backend)
        return _softmax(z / z.dtype.type(self.temperature))

    def predict(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
                backend: Any = None) -> np.ndarray:
        """Ensemble scores ``[B]`` in evaluation mode."""
        self.check_params(params)
        s = self.expert_scores(params, batch, backend=backend)
        return (self.gate_weights(params, batch, backend=backend).astype(s.dtype) * s).sum(axis=1)
