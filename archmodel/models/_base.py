"""What every array-level score model shares: parameter shapes, initialisation and checks (an
encoder followed by the MLP head), and the loss-and-gradient convenience."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import ParameterError
from archmodel.nn.params import Params, as_rng, check_dtype, require_params


class ScoreModel:
    """Mixin for models with ``forward(params, batch, ...) -> (scores, cache)`` and
    ``backward(cache, grad_scores) -> grads``, an encoder (:meth:`_encoder_shapes`,
    :meth:`_init_encoder`) and an MLP head (``self.head``).
    """

    #: the class name used in error messages
    _owner = "ScoreModel"

    def _encoder_shapes(self) -> dict[str, tuple[int, ...]]:  # pragma: no cover - abstract
        """The encoder's parameter names and shapes, in initialisation order."""
        raise NotImplementedError

    def _init_encoder(self, rng: np.random.Generator, dt: np.dtype) -> Params:  # pragma: no cover - abstract
        """Fresh encoder parameters, drawn from ``rng`` in :meth:`_encoder_shapes` order."""
        raise NotImplementedError

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter name and shape, in initialisation order (encoder, then head)."""
        shapes = dict(self._encoder_shapes())
        shapes.update(self.head.param_shapes())  # type: ignore[attr-defined]
        return shapes

    def init_params(self, rng: np.random.Generator | int | None = None,
                    dtype: Any = np.float32) -> Params:
        """Fresh parameters (scheme in the model module's docstring): encoder first, then the head.

        Parameters
        ----------
        rng : Generator, int or None
        dtype : float32 (default) or float64

        Returns
        -------
        dict[str, ndarray]
        """
        dt = check_dtype(dtype, self._owner)
        rng = as_rng(rng)
        params = self._init_encoder(rng, dt)
        params.update(self.head.init_params(rng, dt))  # type: ignore[attr-defined]
        return params

    def _dropout_plan(self, train: bool, masks: Sequence[np.ndarray] | None, rng: Any, b: int,
                      dtype: np.dtype) -> tuple[list[np.ndarray] | None, bool]:
        """The head's dropout for a forward pass of ``b`` rows.

        Returns ``(masks, draw)``: the caller's validated masks (or None), and whether masks
        must be drawn from ``rng`` (training, ``dropout > 0``, no masks given).
        """
        if not (train and self.dropout > 0 and self.mlp_hidden):  # type: ignore[attr-defined]
            return None, False
        hidden = self.mlp_hidden  # type: ignore[attr-defined]
        if masks is None:
            if rng is None:
                raise ParameterError(f"{self._owner}.forward: train=True with dropout > 0 needs rng= or masks=.")
            return None, True
        if len(masks) != len(hidden) or any(m.shape != (b, h) or m.dtype != dtype for m, h in zip(masks, hidden)):
            raise ParameterError(
                f"{self._owner}.forward: masks must be {len(hidden)} arrays "
                f"[{b}, mlp_hidden[i]] of dtype {dtype}.")
        return list(masks), False

    def _grad_scores(self, cache: dict, grad_scores: np.ndarray) -> np.ndarray:
        """``dloss/dscores`` checked against the forward pass in ``cache`` (shape ``[B]``) and
        cast to its dtype."""
        b = cache["slices"][-1].stop
        k = getattr(self, "n_outputs", 1)
        want = (b,) if k == 1 else (b, k)
        g = np.asarray(grad_scores)
        if g.shape != want:
            raise ParameterError(f"{self._owner}.backward: grad_scores must have shape {want}; got {g.shape}.")
        return g.astype(cache["dtype"], copy=False)

    def prepare_batch(self, batch: Mapping[str, np.ndarray]) -> Any:
        """A training set for :func:`archmodel.nn.train.fit_scores`: ``take(idx)`` returns the
        mini-batch of rows ``idx`` as :meth:`forward` accepts it.

        Here ``take`` slices every array of the mapping; a model that can validate or
        precompute once per training run (GATES: the compressed cells) overrides this.
        """
        return _Rows(batch)

    def check_params(self, params: Mapping[str, np.ndarray]) -> np.dtype:
        """Raise ParameterError unless ``params`` has every parameter with the right shape;
        return their (common) dtype."""
        shapes = self.param_shapes()
        require_params(params, shapes, self._owner)
        dtypes = {params[k].dtype for k in shapes}
        if len(dtypes) != 1:
            raise ParameterError(f"{self._owner}: parameters must share one dtype; got {sorted(map(str, dtypes))}.")
        return dtypes.pop()

    def value_and_grad(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                       y: np.ndarray, loss_fn, *, rng: np.random.Generator | int | None = None,
                       train: bool = True, masks: Sequence[np.ndarray] | None = None,
                       backend: Any = None) -> tuple[float, Params, np.ndarray]:
        """``loss_fn(scores, y, rng) -> (loss, dloss/dscores)`` and the parameter gradients.

        Returns
        -------
        loss : float
        grads : dict[str, ndarray]
        scores : ndarray [B]
        """
        rng = as_rng(rng)
        scores, cache = self.forward(params, batch, train=train, rng=rng, masks=masks,  # type: ignore[attr-defined]
                                     backend=backend)
        loss, d_scores = loss_fn(scores, y, rng)
        return float(loss), self.backward(cache, np.asarray(d_scores)), scores  # type: ignore[attr-defined]


class _Rows:
    """``take(idx) -> {name: array[idx]}`` over a mapping of arrays (rows on the first axis)."""

    __slots__ = ("batch",)

    def __init__(self, batch: Mapping[str, np.ndarray]) -> None:
        self.batch = batch

    def take(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[idx] for k, v in self.batch.items()}
