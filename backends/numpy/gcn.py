"""Graph-convolution kernels, NumPy reference (the specification of the ``gcn`` kernel family).

A batch of ``G`` small graphs of ``M`` nodes each, with a dense (already normalised) propagation
matrix per graph. One propagation step (Kipf & Welling's ``A_hat H W + b``, with ``s = H W``
computed by the caller) is::

    y[g] = act(a[g] @ s[g] + b)        a [G, M, M], s [G, M, H], b [H]; act = ReLU or identity

float32 or float64; every float argument of one call has one dtype.
"""
from __future__ import annotations

import numpy as np


def propagate_forward(a: np.ndarray, s: np.ndarray, b: np.ndarray | None, relu: bool) -> np.ndarray:
    """``y = act(a @ s + b)`` per graph.

    Parameters
    ----------
    a : ndarray [G, M, M]
        Propagation matrices.
    s : ndarray [G, M, H]
        Transformed node states.
    b : ndarray [H] or None
    relu : bool

    Returns
    -------
    y : ndarray [G, M, H]
    """
    y = np.matmul(a, s)
    if b is not None:
        y += b
    if relu:
        np.maximum(y, 0, out=y)
    return y


def propagate_backward(grad_y: np.ndarray, a: np.ndarray, y: np.ndarray,
                       relu: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`propagate_forward` given its output ``y``.

    Returns
    -------
    grad_s : ndarray [G, M, H]
        ``a^T @ dz`` per graph, ``dz = grad_y * [y > 0]`` (ReLU) or ``grad_y``.
    grad_b : ndarray [H]
        ``dz`` summed over graphs and nodes.
    """
    dz = np.where(y > 0, grad_y, 0).astype(grad_y.dtype, copy=False) if relu else grad_y
    grad_s = np.matmul(a.transpose(0, 2, 1), dz)
    grad_b = dz.sum(axis=(0, 1))
    return grad_s, grad_b
