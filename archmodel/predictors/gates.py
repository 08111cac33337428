"""GATESPredictor: the GATES encoder + MLP head, trained with a ranking loss.

Ning et al., "A Generic Graph-based Neural Architecture Encoding Scheme for Predictor-based
NAS", ECCV 2020. Defaults follow the authors' NAS-Bench-201 configuration: op and node
embeddings 48, hidden 96, five GATES layers of 128, MLP head [300] x 5 with dropout 0.1,
Adam (lr 1e-3), batch 512, 200 epochs, pairwise hinge loss with margin 0.1 and at most 4n
pairs per batch of n.

Examples
--------
>>> from archmodel.spaces import get_space
>>> from archmodel.predictors import GATESPredictor
>>> sp = get_space("nb201")
>>> archs = sp.sample(64, 0)
>>> y = [a.seq.count(3) for a in archs]          # a toy target: number of 3x3 convs
>>> p = GATESPredictor(epochs=5, rng=0).fit(archs, y)
>>> p.predict(archs[:3]).shape
(3,)
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.errors import check_choice, check_range
from archmodel.predictors.base import Predictor


def graph_inputs(space: Any, archs: Sequence[Arch]) -> dict[str, np.ndarray]:
    """The graph models' input arrays: ``{"edges"}`` or ``{"adj", "node_ops"}`` (see the ONNX contract)."""
    gb = space.to_arrays(archs)
    if gb.kind == "edge":
        return {"edges": gb.edges}
    return {"adj": gb.adj, "node_ops": gb.node_ops}


class GATESPredictor(Predictor):
    """GATES performance predictor (scikit-learn conventions).

    Parameters
    ----------
    op_emb_dim, node_emb_dim, hidden_dim : int
        Operation embedding, node embedding and input-projection widths (48, 48, 96).
    gates_dims : sequence of int
        Widths of the GATES layers (five of 128).
    mlp_hidden : sequence of int
        Hidden widths of the MLP head ([300] * 5).
    dropout : float
        Dropout in the head during training (0.1).
    readout : {'output', 'mean'}
        Output node's state or mean over non-input nodes.
    residual : {'inputs', 'all'}
        Nodes that add their own state to the gated messages: the input nodes only (the
        authors' setting and the better one here: NB201 1 %, tau 0.804 vs 0.781) or all.
    n_jobs : int or None
        Worker threads (batch-level parallelism; None = all available cores).
    loss, margin, max_pairs_factor, epochs, batch_size, lr, weight_decay, dtype, backend, rng
        See :class:`archmodel.predictors.base.Predictor`.

    Attributes
    ----------
    space_ : str
        Search space of the training architectures.
    model_ : GATESModel
        The array-level model.
    params_ : dict[str, ndarray]
        Learned parameters.
    history_ : list of float
        Mean training loss per epoch.
    fit_seconds_ : float
    n_train_ : int
    """

    def __init__(self, *, op_emb_dim: int = 48, node_emb_dim: int = 48, hidden_dim: int = 96,
                 gates_dims: Sequence[int] = (128, 128, 128, 128, 128),
                 mlp_hidden: Sequence[int] = (300, 300, 300, 300, 300), dropout: float = 0.1,
                 readout: str = "output", residual: str = "inputs", n_jobs: int | None = None,
                 loss: str = "hinge",
                 margin: float = 0.1, max_pairs_factor: float = 4.0, epochs: int = 200,
                 batch_size: int = 512, lr: float = 1e-3, weight_decay: float = 0.0,
                 dtype: str = "float32", backend: str | None = None, rng: int | None = None) -> None:
        super().__init__(loss=loss, margin=margin, max_pairs_factor=max_pairs_factor, epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, dtype=dtype,
                         backend=backend, rng=rng)
        self.op_emb_dim = op_emb_dim
        self.node_emb_dim = node_emb_dim
        self.hidden_dim = hidden_dim
        self.gates_dims = gates_dims
        self.mlp_hidden = mlp_hidden
        self.dropout = dropout
        self.readout = readout
        self.residual = residual
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        super()._validate_params()
        check_choice("GATESPredictor", "readout", self.readout, ("output", "mean"))
        check_choice("GATESPredictor", "residual", self.residual, ("inputs", "all"))
        check_range("GATESPredictor", "dropout", self.dropout, 0.0, 1.0, high_inclusive=False)

    def _build_model(self, space: Any) -> Any:
        from archmodel.encoding import vocabulary
        from archmodel.models.gates import GATESModel

        probe = space.to_arrays(space.sample(1, 0))
        return GATESModel(kind=space.kind, n_nodes=probe.n_nodes, n_inputs=probe.n_inputs,
                          n_ops=len(vocabulary(space)), n_cells=probe.n_cells,
                          readout=self.readout, op_emb_dim=self.op_emb_dim,
                          node_emb_dim=self.node_emb_dim, hidden_dim=self.hidden_dim,
                          gates_dims=tuple(self.gates_dims), mlp_hidden=tuple(self.mlp_hidden),
                          dropout=self.dropout, n_jobs=self.n_jobs, residual=self.residual)

    def _model_config(self) -> dict[str, Any]:
        return self.model_.get_config()

    @classmethod
    def _model_from_config(cls, config: Mapping[str, Any]) -> Any:
        from archmodel.models.gates import GATESModel

        return GATESModel(**config)

    def _encode(self, space: Any, archs: Sequence[Arch]) -> dict[str, np.ndarray]:
        return graph_inputs(space, archs)

    def embed(self, archs: Sequence[Arch | str], *, space: Any = None) -> np.ndarray:
        """Encoder readouts (the head's input), shape (n, n_cells * gates_dims[-1])."""
        self._check_fitted()
        sp, archs = self._resolve_archs(archs, space)
        return self.model_.embed(self.params_, self._encode(sp, archs), backend=self.backend)
