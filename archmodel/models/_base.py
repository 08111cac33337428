"""What every array-level score model shares: the loss-and-gradient convenience."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.nn.params import Params, as_rng


class ScoreModel:
    """Mixin for models with ``forward(params, batch, ...) -> (scores, cache)`` and
    ``backward(cache, grad_scores) -> grads``."""

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
