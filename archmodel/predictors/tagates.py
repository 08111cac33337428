"""TAGATESPredictor: the TA-GATES encoder + MLP head, trained with a ranking loss.

Ning et al., "TA-GATES: An Encoding Scheme for Neural Network Architectures", NeurIPS 2022.
Defaults follow the authors' NAS-Bench-201 configuration (``tagates.yaml``): four time steps,
forward and backward GATES layers [128] * 3, the forward-to-backward MLP [128, 128], the
embedding-update MLP [128] with scale 0.1 on the convolutions' embeddings, the update's
inputs ``E_t`` and the forward message held constant (``detach``), then the GATES head and
training recipe ([300] * 5, dropout 0.1, Adam 1e-3, batch 512, 200 epochs, hinge loss 0.1).

Examples
--------
>>> from archmodel.spaces import get_space
>>> from archmodel.predictors import TAGATESPredictor
>>> sp = get_space("nb201")
>>> archs = sp.sample(32, 0)
>>> y = [a.seq.count(3) for a in archs]
>>> p = TAGATESPredictor(epochs=2, time_steps=2, rng=0).fit(archs, y)
>>> p.predict(archs[:3]).shape
(3,)
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from archmodel.errors import ParameterError, check_choice, check_range
from archmodel.predictors.gates import GATESPredictor

#: symmetry-breaking options a predictor can use without per-edge statistics
PREDICTOR_SYMMETRY_BREAKING = ("none", "noise")


class TAGATESPredictor(GATESPredictor):
    """TA-GATES performance predictor (scikit-learn conventions).

    Parameters
    ----------
    time_steps : int
        Forward/backward rounds (4).
    symmetry_breaking : {'none', 'noise'}
        ``'noise'``: fixed per-cell Gaussian noise (std ``noise_std``) on the initial edge
        embeddings. (The model's ``'stats'`` option needs per-edge zero-cost statistics, which
        archmodel does not compute for whole search spaces yet.)
    noise_std : float
        0.1.
    backward_dims, fb_dims, update_dims : sequence of int
        [128] * 3, [128, 128], [128].
    update_scale : float
        0.1.
    detach : bool
        Hold the update's inputs ``E_t`` and the forward message constant in the gradient, as
        the authors do (True).
    gates_dims : sequence of int
        Forward GATES layers ([128] * 3).
    op_emb_dim, node_emb_dim, hidden_dim, mlp_hidden, dropout, readout, residual, n_jobs
        As for :class:`~archmodel.predictors.gates.GATESPredictor`.
    loss, margin, max_pairs_factor, epochs, batch_size, lr, weight_decay, dtype, backend, rng
        See :class:`archmodel.predictors.base.Predictor`.

    Attributes
    ----------
    space_, model_ (a :class:`~archmodel.models.tagates.TAGATESModel`), params_, history_,
    fit_seconds_, n_train_
    """

    def __init__(self, *, time_steps: int = 4, symmetry_breaking: str = "none",
                 noise_std: float = 0.1, backward_dims: Sequence[int] = (128, 128, 128),
                 fb_dims: Sequence[int] = (128, 128), update_dims: Sequence[int] = (128,),
                 update_scale: float = 0.1, detach: bool = True,
                 gates_dims: Sequence[int] = (128, 128, 128), **params: Any) -> None:
        super().__init__(gates_dims=gates_dims, **params)
        self.time_steps = time_steps
        self.symmetry_breaking = symmetry_breaking
        self.noise_std = noise_std
        self.backward_dims = backward_dims
        self.fb_dims = fb_dims
        self.update_dims = update_dims
        self.update_scale = update_scale
        self.detach = detach

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.symmetry_breaking == "stats":
            raise ParameterError(
                "TAGATESPredictor: symmetry_breaking='stats' needs per-edge zero-cost statistics for "
                "every cell, which archmodel does not compute yet; use 'none' or 'noise' (the array "
                "model TAGATESModel accepts statistics you computed, as batch['edge_stats']).")
        check_choice("TAGATESPredictor", "symmetry_breaking", self.symmetry_breaking, PREDICTOR_SYMMETRY_BREAKING)
        check_range("TAGATESPredictor", "time_steps", self.time_steps, 1, integer=True)
        check_range("TAGATESPredictor", "noise_std", self.noise_std, 0.0, low_inclusive=False)

    def _build_model(self, space: Any) -> Any:
        from archmodel.encoding import vocabulary
        from archmodel.models.tagates import TAGATESModel

        probe = space.to_arrays(space.sample(1, 0))
        if space.kind != "edge" or probe.n_cells != 1:
            raise ParameterError(
                f"TAGATESPredictor supports spaces with operations on the edges of one cell (e.g. nb201); "
                f"{space.name!r} has kind {space.kind!r} and {probe.n_cells} cell(s).")
        vocab = vocabulary(space)
        seed = 0 if self.rng is None else int(self.rng)
        return TAGATESModel(
            n_nodes=probe.n_nodes, n_inputs=probe.n_inputs, n_ops=len(vocab), readout=self.readout,
            op_emb_dim=self.op_emb_dim, node_emb_dim=self.node_emb_dim, hidden_dim=self.hidden_dim,
            gates_dims=tuple(self.gates_dims), mlp_hidden=tuple(self.mlp_hidden), dropout=self.dropout,
            n_jobs=self.n_jobs, residual=self.residual, time_steps=self.time_steps,
            symmetry_breaking=self.symmetry_breaking, noise_std=self.noise_std, noise_seed=seed,
            backward_dims=tuple(self.backward_dims), fb_dims=tuple(self.fb_dims),
            update_dims=tuple(self.update_dims), update_scale=self.update_scale, detach=self.detach,
            update_ops=[i for i, name in enumerate(vocab) if "conv" in name])

    @classmethod
    def _model_from_config(cls, config: Mapping[str, Any]) -> Any:
        from archmodel.models.tagates import TAGATESModel

        return TAGATESModel(**config)
