"""Baseline predictors the field compares GATES against, with the same training code.

* :class:`MLPPredictor`: an MLP on the one-hot sequential encoding;
* :class:`LSTMPredictor`: a one-layer LSTM over the decision sequence;
* :class:`GCNPredictor`: a GCN (Kipf & Welling) over the cell's adjacency matrix.

The array-level models live in :mod:`archmodel.models.baselines`; training, persistence and
the estimator contract come from :class:`archmodel.predictors.base.Predictor`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.errors import check_range
from archmodel.predictors.base import Predictor

_COMMON = ("loss", "margin", "max_pairs_factor", "epochs", "batch_size", "lr", "weight_decay",
           "dtype", "backend", "rng")


class _ModelPredictor(Predictor):
    """A predictor wrapping one array-level baseline model class."""

    _model_path = ""
    _model_args: tuple[str, ...] = ()

    @classmethod
    def _model_class(cls) -> Any:
        import importlib

        module, attr = cls._model_path.split(":")
        return getattr(importlib.import_module(module), attr)

    def _validate_params(self) -> None:
        super()._validate_params()
        check_range(type(self).__name__, "dropout", self.dropout, 0.0, 1.0, high_inclusive=False)

    def _build_model(self, space: Any) -> Any:
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in
              ((a, getattr(self, a)) for a in self._model_args)}
        return self._model_class().from_space(space, **kw)

    def _model_config(self) -> dict[str, Any]:
        return self.model_.get_config()

    @classmethod
    def _model_from_config(cls, config: Mapping[str, Any]) -> Any:
        return cls._model_class()(**config)

    def _encode(self, space: Any, archs: Sequence[Arch]) -> dict[str, np.ndarray]:
        return self._model_class().encode(space, archs)


class MLPPredictor(_ModelPredictor):
    """MLP on the one-hot sequential encoding (a baseline).

    Parameters
    ----------
    mlp_hidden : sequence of int
        Hidden widths (default [300] * 5, the GATES head's size).
    dropout : float
        Dropout after each hidden layer during training.
    n_jobs : int or None
        Worker threads.
    loss, margin, max_pairs_factor, epochs, batch_size, lr, weight_decay, dtype, backend, rng
        See :class:`~archmodel.predictors.base.Predictor`.
    """

    _model_path = "archmodel.models.baselines:MLPModel"
    _model_args = ("mlp_hidden", "dropout", "n_jobs")

    def __init__(self, *, mlp_hidden: Sequence[int] = (300, 300, 300, 300, 300), dropout: float = 0.1,
                 n_jobs: int | None = None, loss: str = "hinge", margin: float = 0.1,
                 max_pairs_factor: float = 4.0, epochs: int = 200, batch_size: int = 512,
                 lr: float = 1e-3, weight_decay: float = 0.0, dtype: str = "float32",
                 backend: str | None = None, rng: int | None = None) -> None:
        super().__init__(loss=loss, margin=margin, max_pairs_factor=max_pairs_factor, epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, dtype=dtype,
                         backend=backend, rng=rng)
        self.mlp_hidden = mlp_hidden
        self.dropout = dropout
        self.n_jobs = n_jobs


class LSTMPredictor(_ModelPredictor):
    """One-layer LSTM over the decision sequence (a baseline).

    Parameters
    ----------
    emb_dim, hidden_dim : int
        Decision embedding width (48) and LSTM state width (96).
    mlp_hidden : sequence of int
        Hidden widths of the head (default [300] * 5).
    dropout : float
        Head dropout during training.
    """

    _model_path = "archmodel.models.baselines:LSTMModel"
    _model_args = ("emb_dim", "hidden_dim", "mlp_hidden", "dropout", "n_jobs")

    def __init__(self, *, emb_dim: int = 48, hidden_dim: int = 96,
                 mlp_hidden: Sequence[int] = (300, 300, 300, 300, 300), dropout: float = 0.1,
                 n_jobs: int | None = None, loss: str = "hinge", margin: float = 0.1,
                 max_pairs_factor: float = 4.0, epochs: int = 200, batch_size: int = 512,
                 lr: float = 1e-3, weight_decay: float = 0.0, dtype: str = "float32",
                 backend: str | None = None, rng: int | None = None) -> None:
        super().__init__(loss=loss, margin=margin, max_pairs_factor=max_pairs_factor, epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, dtype=dtype,
                         backend=backend, rng=rng)
        self.emb_dim = emb_dim
        self.hidden_dim = hidden_dim
        self.mlp_hidden = mlp_hidden
        self.dropout = dropout
        self.n_jobs = n_jobs


class GCNPredictor(_ModelPredictor):
    """GCN over the adjacency matrix (a baseline).

    Parameters
    ----------
    gcn_dims : sequence of int
        GCN layer widths (default three of 128).
    readout : {'mean', 'output'}
        Mean over nodes or the output node.
    mlp_hidden : sequence of int
        Hidden widths of the head (default [300] * 5).
    dropout : float
        Head dropout during training.
    """

    _model_path = "archmodel.models.baselines:GCNModel"
    _model_args = ("gcn_dims", "readout", "mlp_hidden", "dropout", "n_jobs")

    def __init__(self, *, gcn_dims: Sequence[int] = (128, 128, 128), readout: str = "mean",
                 mlp_hidden: Sequence[int] = (300, 300, 300, 300, 300), dropout: float = 0.1,
                 n_jobs: int | None = None, loss: str = "hinge", margin: float = 0.1,
                 max_pairs_factor: float = 4.0, epochs: int = 200, batch_size: int = 512,
                 lr: float = 1e-3, weight_decay: float = 0.0, dtype: str = "float32",
                 backend: str | None = None, rng: int | None = None) -> None:
        super().__init__(loss=loss, margin=margin, max_pairs_factor=max_pairs_factor, epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, dtype=dtype,
                         backend=backend, rng=rng)
        self.gcn_dims = gcn_dims
        self.readout = readout
        self.mlp_hidden = mlp_hidden
        self.dropout = dropout
        self.n_jobs = n_jobs
