"""DELEPredictor: a dynamic ensemble of low-fidelity experts (Zhao, Ning et al., AAAI 2023).

"Dynamic Ensemble of Low-fidelity Experts: Mitigating NAS Cold-Start". One expert per
low-fidelity signal (a full predictor: GATES or TA-GATES encoder + MLP head) and a gate (its
own encoder + MLP, one output per expert) that weighs them per architecture
(:class:`archmodel.models.ensemble.EnsembleModel`). Training, as the authors':

1. *pretraining*: each expert alone, with the ranking loss, on its own signal (min-max
   normalised) over the cells that have it (:func:`archmodel.signals.signal_column`: computed
   signals on ``pretrain_size`` cells sampled from the space; a zero-cost file's signals on
   the file's cells, at most ``pretrain_size`` of them). Signals are cheap to compute for
   any cell, so these cells may include cells later used for testing; no accuracy is seen;
2. *fine-tuning*: experts and gate together, with the ranking loss on the ground-truth
   accuracies of the training cells.

Ablations by option: ``gate='uniform'`` (weights 1/K, the uniform ensemble); one signal
(``low_fidelity=['flops']``) with ``gate='uniform'`` is single-signal pretrain-then-finetune;
``expert='tagates'`` uses TA-GATES experts and gate.

Examples
--------
>>> from archmodel.spaces import get_space
>>> from archmodel.predictors import DELEPredictor
>>> sp = get_space("nb201")
>>> archs = sp.sample(32, 0)
>>> y = [a.seq.count(3) for a in archs]
>>> small = {"gates_dims": (8,), "mlp_hidden": (8,)}
>>> p = DELEPredictor(low_fidelity=["params", "macs"], pretrain_epochs=2, pretrain_size=64, epochs=2,
...                   expert_params=small, rng=0).fit(archs, y)
>>> p.gate_weights(archs[:2]).shape
(2, 2)
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.errors import DataError, ParameterError, check_choice, check_range
from archmodel.predictors.base import Predictor

logger = logging.getLogger(__name__)

GATES_KINDS = ("learned", "uniform")
EXPERTS = ("gates", "tagates")


def _minmax(v: np.ndarray) -> np.ndarray:
    lo, hi = float(v.min()), float(v.max())
    return (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)


class DELEPredictor(Predictor):
    """DELE ensemble predictor (scikit-learn conventions).

    Parameters
    ----------
    low_fidelity : sequence of str
        Signal names (:mod:`archmodel.signals.registry`), one expert each (default: params,
        synflow, jacob_cov, nwot, snip, grad_norm).
    gate : {'learned', 'uniform'}
    expert : {'gates', 'tagates'}
        Encoder of the experts and the gate.
    expert_params : dict, optional
        Constructor parameters of the expert predictors (their model configuration: widths,
        dropout, ...); the gate uses the same.
    temperature : float
        Softmax temperature of the gate (1).
    pretrain_epochs : int
        Epochs of each expert's pretraining (200, the authors').
    pretrain_size : int
        At most this many cells per signal in pretraining (2048).
    n_jobs : int or None
        Worker threads of the members.
    loss, margin, max_pairs_factor, epochs, batch_size, lr, weight_decay, dtype, backend, rng
        See :class:`archmodel.predictors.base.Predictor` (both stages).

    Attributes
    ----------
    space_, model_ (:class:`~archmodel.models.ensemble.EnsembleModel`), params_, history_
    (fine-tuning), pretrain_history_ (per signal), n_pretrain_ (cells per signal),
    fit_seconds_, n_train_
    """

    def __init__(self, *, low_fidelity: Sequence[str] = ("params", "synflow", "jacob_cov", "nwot", "snip",
                                                           "grad_norm"),
                 gate: str = "learned", expert: str = "gates", expert_params: Mapping[str, Any] | None = None,
                 temperature: float = 1.0, pretrain_epochs: int = 200, pretrain_size: int = 2048,
                 n_jobs: int | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.low_fidelity = low_fidelity
        self.gate = gate
        self.expert = expert
        self.expert_params = expert_params
        self.temperature = temperature
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_size = pretrain_size
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        super()._validate_params()
        name = "DELEPredictor"
        if isinstance(self.low_fidelity, str) or not list(self.low_fidelity):
            raise ParameterError(f"{name}: low_fidelity must be a non-empty list of signal names; "
                                 f"got {self.low_fidelity!r}.")
        if len(set(self.low_fidelity)) != len(list(self.low_fidelity)):
            raise ParameterError(f"{name}: low_fidelity lists a signal twice: {list(self.low_fidelity)}.")
        check_choice(name, "gate", self.gate, GATES_KINDS)
        check_choice(name, "expert", self.expert, EXPERTS)
        check_range(name, "temperature", self.temperature, 0.0, low_inclusive=False)
        check_range(name, "pretrain_epochs", self.pretrain_epochs, 0, integer=True)
        check_range(name, "pretrain_size", self.pretrain_size, 2, integer=True)
        bad = {"rng", "epochs", "backend", "dtype"} & set(self.expert_params or {})
        if bad:
            raise ParameterError(f"{name}: expert_params sets {sorted(bad)}, which the ensemble itself decides.")

    # ------------------------------------------------------------------ the model
    def _member(self, space: Any, n_outputs: int = 1) -> Any:
        from archmodel.predictors import make_predictor

        p = make_predictor(self.expert, n_jobs=self.n_jobs, dtype=self.dtype, **dict(self.expert_params or {}))
        p._validate_params()
        model = p._build_model(space)
        if n_outputs == 1:
            return model
        cfg = model.get_config()
        cfg["n_outputs"] = n_outputs
        return type(model)(**cfg)

    def _build_model(self, space: Any) -> Any:
        from archmodel.models.ensemble import EnsembleModel

        k = len(list(self.low_fidelity))
        experts = [self._member(space) for _ in range(k)]
        gate = self._member(space, n_outputs=k) if self.gate == "learned" else None
        return EnsembleModel(experts, gate, temperature=self.temperature)

    def _model_config(self) -> dict[str, Any]:
        m = self.model_
        return {"member_class": type(m.experts[0]).__name__, "experts": [e.get_config() for e in m.experts],
                "gate": None if m.gate is None else m.gate.get_config(), "temperature": m.temperature}

    @classmethod
    def _model_from_config(cls, config: Mapping[str, Any]) -> Any:
        from archmodel.models.ensemble import EnsembleModel
        from archmodel.models.gates import GATESModel
        from archmodel.models.tagates import TAGATESModel

        classes = {"GATESModel": GATESModel, "TAGATESModel": TAGATESModel}
        if config["member_class"] not in classes:
            raise ValueError(f"unknown member class {config['member_class']!r}")
        mc = classes[config["member_class"]]
        gate = None if config["gate"] is None else mc(**config["gate"])
        return EnsembleModel([mc(**c) for c in config["experts"]], gate, temperature=config["temperature"])

    def _encode(self, space: Any, archs: Sequence[Arch]) -> dict[str, np.ndarray]:
        from archmodel.predictors.gates import graph_inputs

        return graph_inputs(space, archs)

    # ------------------------------------------------------------------ training
    def _pretrain_sets(self, sp: Any, rng: np.random.Generator) -> list[tuple[list[Arch], np.ndarray]]:
        """Per signal: (cells, min-max normalised values), at most ``pretrain_size`` cells."""
        from archmodel.signals import signal_column
        from archmodel.signals.registry import file_cells, is_computed

        sampled = sp.sample(self.pretrain_size, rng, unique=True)
        in_file: list[Arch] | None = None
        out = []
        for name in self.low_fidelity:
            if is_computed(name, sp.name):
                pool = sampled
            else:
                if in_file is None:
                    in_file = file_cells(sp.name)
                pool = in_file
            col = signal_column(name, pool, space=sp.name)
            ok = np.flatnonzero(np.isfinite(col))
            if ok.size < 2:
                raise DataError(f"DELEPredictor: signal {name!r} has {ok.size} usable values; need at least 2.")
            if ok.size > self.pretrain_size:
                ok = np.sort(rng.choice(ok, self.pretrain_size, replace=False))
            out.append(([pool[i] for i in ok], _minmax(col[ok])))
        return out

    def _pretrain(self, sp: Any, rng: np.random.Generator) -> None:
        """Stage 1: each expert alone on its signal (``fit`` then fine-tunes on the accuracies)."""
        from archmodel.models.ensemble import EnsembleModel

        self.pretrain_history_: dict[str, list[float]] = {}
        self.n_pretrain_: dict[str, int] = {}
        if not self.pretrain_epochs:
            return
        for k, (name, (cells, values)) in enumerate(zip(self.low_fidelity, self._pretrain_sets(sp, rng))):
            logger.info("DELE: pretraining expert %d (%s) on %d cells", k, name, len(cells))
            self.pretrain_history_[name] = self._train_stage(
                self.model_.experts[k], EnsembleModel.sub_params(self.params_, f"expert{k}."),
                self._encode(sp, cells), values, rng, epochs=self.pretrain_epochs)
            self.n_pretrain_[name] = len(cells)

    # ------------------------------------------------------------------ inspection
    def gate_weights(self, archs: Sequence[Arch | str], *, space: Any = None) -> np.ndarray:
        """The gate's weights per architecture, ``[n, K]`` (columns in ``low_fidelity`` order)."""
        self._check_fitted()
        sp, archs = self._resolve_archs(archs, space)
        return self.model_.gate_weights(self.params_, self._encode(sp, archs), backend=self.backend)

    def expert_scores(self, archs: Sequence[Arch | str], *, space: Any = None) -> np.ndarray:
        """Every expert's score per architecture, ``[n, K]``."""
        self._check_fitted()
        sp, archs = self._resolve_archs(archs, space)
        return self.model_.expert_scores(self.params_, self._encode(sp, archs), backend=self.backend)
