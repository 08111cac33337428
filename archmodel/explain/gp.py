"""A Gaussian process on the normalised Weisfeiler-Lehman kernel (NAS-BOWL's surrogate).

``k(a, b) = s2 * <phi(a), phi(b)> / (|phi(a)| |phi(b)|)`` with ``phi`` the WL feature counts of
:mod:`archmodel.explain.wl`. Targets are standardised; the signal variance ``s2`` and the
noise variance are fitted by maximising the log marginal likelihood (L-BFGS-B, analytic
gradients), separately for each number of WL iterations ``h = 0..h_max``, and the ``h`` with
the highest marginal likelihood is kept. The posterior mean is differentiable in the feature
counts: :meth:`WLGaussianProcess.mean_gradient` gives the gradient NAS-BOWL reads motifs from.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np
import scipy.linalg as sla
from scipy.optimize import minimize
from scipy.stats import norm

from archmodel.arch import Arch
from archmodel.errors import DataError, NotFittedError, check_range
from archmodel.explain.wl import WLFeatures

logger = logging.getLogger(__name__)

__all__ = ["WLGaussianProcess"]


def _normalised(X: Any, norms: np.ndarray) -> Any:
    import scipy.sparse as sp

    inv = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0)
    return sp.diags(inv) @ X


def _nll(theta: np.ndarray, S: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood and its gradient in (log s2, log noise)."""
    s2, n2 = math.exp(theta[0]), math.exp(theta[1])
    n = len(y)
    K = s2 * S + n2 * np.eye(n)
    try:
        L = np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros(2)
    alpha = sla.cho_solve((L, True), y)
    nll = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * math.log(2 * math.pi)
    Kinv = sla.cho_solve((L, True), np.eye(n))
    W = np.outer(alpha, alpha) - Kinv
    g = np.array([-0.5 * s2 * np.sum(W * S), -0.5 * n2 * np.trace(W)])
    return float(nll), g


class WLGaussianProcess:
    """GP regression on architectures with the WL kernel (scikit-learn conventions).

    Parameters
    ----------
    space : str or SearchSpace
    h_max : int >= 0
        Largest number of WL iterations tried (NAS-BOWL: 0..2 or 3).
    h : int, optional
        Fix the number of iterations instead of choosing it by marginal likelihood.

    Attributes
    ----------
    h_ : int
        Chosen WL iterations.
    signal_variance_, noise_variance_ : float
        Fitted hyperparameters (in standardised target units).
    log_marginal_likelihood_ : dict[int, float]
        Per ``h`` tried.
    features_ : WLFeatures
    """

    def __init__(self, space: Any = "nb201", *, h_max: int = 3, h: int | None = None) -> None:
        self.space = space
        self.h_max = h_max
        self.h = h

    def _space(self) -> Any:
        from archmodel.spaces import get_space

        return get_space(self.space)

    def fit(self, archs: Sequence[Arch], y: Any) -> "WLGaussianProcess":
        """Fit on architectures and targets (higher = better).

        Returns
        -------
        self
        """
        check_range("WLGaussianProcess", "h_max", self.h_max, 0, integer=True)
        y = np.asarray(y, dtype=np.float64)
        archs = list(archs)
        if len(archs) != len(y) or len(archs) < 2:
            raise DataError(f"WLGaussianProcess.fit needs >= 2 architectures and as many targets; "
                            f"got {len(archs)} architectures, {len(y)} targets")
        if not np.isfinite(y).all():
            raise DataError("WLGaussianProcess.fit: targets contain NaN/inf")
        sp_ = self._space()
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        z = (y - self.y_mean_) / self.y_std_
        hs = [self.h] if self.h is not None else list(range(self.h_max + 1))
        best = None
        self.log_marginal_likelihood_ = {}
        for h in hs:
            feats = WLFeatures(sp_, h).fit(archs)
            X, norms = feats.transform(archs)
            Xn = _normalised(X, norms)
            S = (Xn @ Xn.T).toarray()
            res = minimize(_nll, np.array([0.0, math.log(0.1)]), args=(S, z), jac=True,
                           method="L-BFGS-B", bounds=[(math.log(1e-3), math.log(1e3)),
                                                      (math.log(1e-6), math.log(10.0))])
            lml = -float(res.fun)
            self.log_marginal_likelihood_[h] = lml
            if best is None or lml > best[0]:
                best = (lml, h, feats, Xn, S, res.x)
        assert best is not None
        _, self.h_, self.features_, self._Xn, S, theta = best
        self.signal_variance_, self.noise_variance_ = float(math.exp(theta[0])), float(math.exp(theta[1]))
        K = self.signal_variance_ * S + self.noise_variance_ * np.eye(len(z))
        self._L = np.linalg.cholesky(K)
        self._alpha = sla.cho_solve((self._L, True), z)
        self.n_train_ = len(archs)
        logger.info("WL-GP: h=%d, s2=%.3g, noise=%.3g, lml=%s", self.h_, self.signal_variance_,
                    self.noise_variance_, self.log_marginal_likelihood_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "_alpha"):
            raise NotFittedError("This WLGaussianProcess is not fitted yet: call fit(archs, y) first.")

    def _cross(self, archs: Sequence[Arch]) -> tuple[np.ndarray, Any, np.ndarray]:
        X, norms = self.features_.transform(list(archs))
        Xn = _normalised(X, norms)
        Ks = self.signal_variance_ * (Xn @ self._Xn.T).toarray()
        return Ks, X, norms

    def predict(self, archs: Sequence[Arch], *, return_std: bool = False) -> Any:
        """Posterior mean (and standard deviation) in target units, shape [n]."""
        self._check_fitted()
        out_mean, out_std = [], []
        archs = list(archs)
        for i in range(0, len(archs), 4096):
            Ks, _, _ = self._cross(archs[i:i + 4096])
            out_mean.append(Ks @ self._alpha)
            if return_std:
                v = sla.solve_triangular(self._L, Ks.T, lower=True)
                var = np.maximum(self.signal_variance_ - np.sum(v * v, axis=0), 1e-12)
                out_std.append(np.sqrt(var))
        mean = np.concatenate(out_mean) * self.y_std_ + self.y_mean_ if out_mean else np.zeros(0)
        if return_std:
            return mean, (np.concatenate(out_std) * self.y_std_ if out_std else np.zeros(0))
        return mean

    def expected_improvement(self, archs: Sequence[Arch], best: float, xi: float = 0.0) -> np.ndarray:
        """Expected improvement over ``best`` (maximisation), shape [n]."""
        mu, sd = self.predict(archs, return_std=True)
        z = (mu - best - xi) / sd
        return (mu - best - xi) * norm.cdf(z) + sd * norm.pdf(z)

    def mean_gradient(self, archs: Sequence[Arch]) -> np.ndarray:
        """Gradient of the posterior mean with respect to the feature counts, [n, F].

        Columns follow ``features_.labels_``; target units per unit count.
        """
        self._check_fitted()
        Ks, X, norms = self._cross(archs)
        w = self._Xn.T @ self._alpha                                  # [F] = sum_i alpha_i phi_i-hat
        Xd = X.toarray()
        safe = np.maximum(norms, 1e-300)[:, None]
        phihat = Xd / safe
        proj = (phihat @ w)[:, None]                                  # phi*-hat . w
        g = self.signal_variance_ * (w[None, :] - proj * phihat) / safe
        return g * self.y_std_
