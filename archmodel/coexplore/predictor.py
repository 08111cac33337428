"""Gibbon's learned predictor of accuracy and hardware cost over the joint (cell, hardware) encoding.

Accuracy is modelled in *difference form* (Gibbon): ``accuracy = ideal(cell) - drop(cell, hw)``,
one regressor for the ideal accuracy on the cell genes and one for the hardware-caused drop on
the whole genome; every cost is regressed in log10 on the whole genome. Two encoders, both the
existing archmodel models trained with hand-written backprop (:func:`archmodel.nn.train.fit_scores`,
MSE on standardised targets, Adam):

* ``'lstm'`` — the paper's choice, an RNN over the joint decision sequence
  (:class:`archmodel.models.baselines.LSTMModel` with one token per gene);
* ``'mlp'`` — an MLP on the concatenated one-hot of the genes
  (:class:`archmodel.models.baselines.MLPModel`).

A target that is constant in the training data (e.g. a drop that is exactly zero because the
space's accuracy does not depend on the hardware) is predicted as that constant without a model.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from archmodel.errors import NotFittedError, ParameterError, check_choice, check_range

__all__ = ["JointPredictor", "PREDICTOR_KINDS"]

PREDICTOR_KINDS = ("mlp", "lstm")


class _Regressor:
    """One standardised regression target on one encoder."""

    def __init__(self, kind: str, sizes: tuple[int, ...], hidden: int, seed: int, backend: Any) -> None:
        from archmodel.models.baselines import LSTMModel, MLPModel

        self.kind, self.sizes, self.backend = kind, sizes, backend
        if kind == "mlp":
            self.model = MLPModel(in_features=int(sum(sizes)), mlp_hidden=(hidden, hidden), n_jobs=1)
        else:
            self.model = LSTMModel(decision_sizes=sizes, emb_dim=16, hidden_dim=hidden // 2,
                                   mlp_hidden=(hidden // 2,), n_jobs=1)
        self.params = self.model.init_params(seed, np.float64)
        from archmodel.nn.optim import Adam

        self.opt = Adam(lr=2e-3, backend=backend, n_jobs=1)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.const: float | None = None

    def batch(self, genes: np.ndarray) -> dict[str, np.ndarray]:
        if self.kind == "lstm":
            return {"seq": genes}
        x = np.zeros((genes.shape[0], int(sum(self.sizes))))
        x[np.arange(genes.shape[0])[:, None], genes + self.offsets] = 1.0
        return {"onehot": x}

    def fit(self, genes: np.ndarray, y: np.ndarray, epochs: int, rng: np.random.Generator) -> None:
        from archmodel.losses import mse_loss
        from archmodel.nn.train import fit_scores

        if np.ptp(y) == 0:
            self.const = float(y[0])
            return
        self.const = None
        self.mu, self.sd = float(y.mean()), float(y.std())
        z = (y - self.mu) / self.sd
        fit_scores(self.model, self.params, self.batch(genes), z,
                   lambda s, t, _r: mse_loss(s, t, backend=self.backend), self.opt,
                   epochs=epochs, batch_size=min(64, len(y)), rng=rng, backend=self.backend)

    def predict(self, genes: np.ndarray) -> np.ndarray:
        if self.const is not None:
            return np.full(genes.shape[0], self.const)
        return self.model.predict(self.params, self.batch(genes), backend=self.backend) * self.sd + self.mu


class JointPredictor:
    """Accuracy (difference form) and log10 costs of joint-space points.

    Parameters
    ----------
    kind : {'mlp', 'lstm'}
        Encoder of the genome (see the module docstring).
    hidden : int >= 2
        Width of the MLP's hidden layers (the LSTM uses ``hidden // 2`` for its state and head).
    epochs : int >= 1
        Epochs of the first fit; later fits continue from the previous parameters.
    refit_epochs : int >= 1
        Epochs of each later (warm-started) fit.
    seed : int
        Parameter initialisation and mini-batch order.
    backend : {'numpy', 'numba'}, optional

    Attributes
    ----------
    targets_ : list of str
        ``'ideal'``, ``'drop'`` and one ``'log10_<cost>'`` per cost.
    n_fits_ : int
    """

    def __init__(self, kind: str = "mlp", *, hidden: int = 64, epochs: int = 150, refit_epochs: int = 30,
                 seed: int = 0, backend: Any = None) -> None:
        self.kind = check_choice("JointPredictor", "kind", kind, PREDICTOR_KINDS)
        self.hidden = check_range("JointPredictor", "hidden", hidden, 2, integer=True)
        self.epochs = check_range("JointPredictor", "epochs", epochs, 1, integer=True)
        self.refit_epochs = check_range("JointPredictor", "refit_epochs", refit_epochs, 1, integer=True)
        self.seed = int(seed)
        self.backend = backend

    def fit(self, space: Any, genomes: np.ndarray, values: Mapping[str, np.ndarray], costs: list[str]) -> "JointPredictor":
        """Fit (or continue fitting) on evaluated points.

        Parameters
        ----------
        space : JointSpace
        genomes : int64 [n, G]
        values : dict with ``accuracy``, ``ideal`` (the cell's accuracy on ideal hardware), ``ok``
            and every name of ``costs``, arrays [n]
        costs : list of str
            Cost metrics to model (log10), fitted on the points that fit the chip.
        """
        g = np.asarray(genomes, dtype=np.int64)
        if g.shape[0] < 2:
            raise ParameterError(f"JointPredictor.fit needs at least 2 points; got {g.shape[0]}")
        first = not hasattr(self, "models_")
        if first:
            self.space_, self.costs_ = space, list(costs)
            nc = space.n_cell_genes
            sizes = tuple(space.gene_sizes)
            self.models_ = {"ideal": _Regressor(self.kind, sizes[:nc], self.hidden, self.seed, self.backend),
                            "drop": _Regressor(self.kind, sizes, self.hidden, self.seed + 1, self.backend)}
            for j, c in enumerate(self.costs_):
                self.models_[f"log10_{c}"] = _Regressor(self.kind, sizes, self.hidden, self.seed + 2 + j, self.backend)
            self.targets_ = list(self.models_)
            self.n_fits_ = 0
            self._rng = np.random.default_rng(self.seed)
        elif list(costs) != self.costs_ or space is not self.space_:
            raise ParameterError("JointPredictor.fit: a refit must use the same space and costs")
        epochs = self.epochs if first else self.refit_epochs
        nc = space.n_cell_genes
        ideal = np.asarray(values["ideal"], dtype=np.float64)
        cells, first_row = np.unique(g[:, :nc], axis=0, return_index=True)
        self.models_["ideal"].fit(cells, ideal[first_row], epochs, self._rng)
        self.models_["drop"].fit(g, ideal - np.asarray(values["accuracy"], dtype=np.float64), epochs, self._rng)
        ok = np.asarray(values["ok"], dtype=bool)
        for c in self.costs_:
            if ok.sum() >= 2:
                self.models_[f"log10_{c}"].fit(g[ok], np.log10(np.asarray(values[c])[ok]), epochs, self._rng)
        self.n_fits_ += 1
        return self

    def predict(self, genomes: np.ndarray, *, known_ideal: Mapping[tuple[int, ...], float] | None = None
                ) -> dict[str, np.ndarray]:
        """Predicted ``accuracy`` (``ideal - drop``) and costs (SI units), arrays [n].

        ``known_ideal`` maps cell gene tuples to their measured ideal accuracy; those cells use it
        instead of the ideal-accuracy model.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError("JointPredictor is not fitted yet: call fit first")
        g = np.asarray(genomes, dtype=np.int64)
        nc = self.space_.n_cell_genes
        ideal = self.models_["ideal"].predict(g[:, :nc])
        if known_ideal:
            for i, row in enumerate(g[:, :nc]):
                v = known_ideal.get(tuple(int(x) for x in row))
                if v is not None:
                    ideal[i] = v
        out = {"ideal": ideal, "drop": self.models_["drop"].predict(g)}
        out["accuracy"] = out["ideal"] - out["drop"]
        for c in self.costs_:
            out[c] = 10.0 ** self.models_[f"log10_{c}"].predict(g)
        return out
