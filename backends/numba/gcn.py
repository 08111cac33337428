"""Graph-convolution kernels, Numba twin of :mod:`archmodel.backends.numpy.gcn`.

Same names, signatures and maths as the NumPy reference. The graphs are tiny (``M`` of 4 to
15 nodes), so the per-graph products are explicit loops with the bias and ReLU fused in.
Compiled lazily on first call, per dtype.
"""
from __future__ import annotations

import numpy as np

from archmodel.backends.numba._jit import njit


@njit
def _prop_fwd(a, s, b, has_b, relu):  # pragma: no cover - jitted
    g_count, m, _ = a.shape
    h = s.shape[2]
    y = np.zeros((g_count, m, h), dtype=s.dtype)
    for g in range(g_count):
        for i in range(m):
            for j in range(m):
                w = a[g, i, j]
                if w != 0:
                    for k in range(h):
                        y[g, i, k] += w * s[g, j, k]
            for k in range(h):
                v = y[g, i, k]
                if has_b:
                    v += b[k]
                if relu and not v > 0:
                    v = 0
                y[g, i, k] = v
    return y


@njit
def _prop_bwd(grad_y, a, y, relu):  # pragma: no cover - jitted
    g_count, m, _ = a.shape
    h = grad_y.shape[2]
    grad_s = np.zeros((g_count, m, h), dtype=grad_y.dtype)
    grad_b = np.zeros(h, dtype=grad_y.dtype)
    dz = np.empty(h, dtype=grad_y.dtype)
    for g in range(g_count):
        for i in range(m):
            for k in range(h):
                v = grad_y[g, i, k]
                if relu and not y[g, i, k] > 0:
                    v = 0
                dz[k] = v
                grad_b[k] += v
            for j in range(m):
                w = a[g, i, j]
                if w != 0:
                    for k in range(h):
                        grad_s[g, j, k] += w * dz[k]
    return grad_s, grad_b


def _c(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x)


def propagate_forward(a: np.ndarray, s: np.ndarray, b: np.ndarray | None, relu: bool) -> np.ndarray:
    """``y = act(a @ s + b)`` per graph -> [G, M, H]."""
    has_b = b is not None
    bb = _c(b) if has_b else np.zeros(0, dtype=s.dtype)
    return _prop_fwd(_c(a), _c(s), bb, has_b, bool(relu))


def propagate_backward(grad_y: np.ndarray, a: np.ndarray, y: np.ndarray,
                       relu: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`propagate_forward` -> (grad_s [G, M, H], grad_b [H])."""
    return _prop_bwd(_c(grad_y), _c(a), _c(y), bool(relu))
