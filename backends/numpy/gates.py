"""GATES encoder kernels, NumPy reference (the specification of the ``gates`` kernel family).

A batch of cells is compressed into a table of *rows* (node states) and *messages*: row ``r``
receives the messages ``m`` in ``msg_ptr[r]:msg_ptr[r+1]``, each from row ``msg_src[m]``
(always ``< r``) gated by operation ``msg_op[m]``. One GATES layer (Ning et al., ECCV 2020) is

    s = x @ w                                   # [R, H]
    z[r] = [r < n_residual] s[r] + sum_m g[msg_op[m]] * s[msg_src[m]]   # g = sigmoid(op_emb @ W_o + b_o), [K, H]
    y = relu(z) if relu else z

The residual term ``s[r]`` is added to the first ``n_residual`` rows only (``None``: every row).
GATES' NB201 configuration keeps it for the input rows alone: every other node's state is then
purely the gated information that flows into it.

(operation-on-node cells use ``msg_op[m]`` = the operation of the receiving node). The readout
averages, per cell of the batch, the rows listed in ``read_rows`` ``[B, Q]``.

Integer arrays are int64; float arrays share one dtype (float32 or float64).
"""
from __future__ import annotations

import numpy as np


def _dst(msg_ptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(msg_ptr.shape[0] - 1), np.diff(msg_ptr))


def _n_res(n_residual: int | None, rows: int) -> int:
    return rows if n_residual is None else min(int(n_residual), rows)


def propagate_forward(s: np.ndarray, g: np.ndarray, msg_ptr: np.ndarray, msg_src: np.ndarray,
                      msg_op: np.ndarray, relu: bool, n_residual: int | None = None) -> np.ndarray:
    """Gated message passing with residual: ``y = act(s + sum of gated messages)``.

    Parameters
    ----------
    s : ndarray [R, H]
        Transformed node states (``x @ w``).
    g : ndarray [K, H]
        Operation gates.
    msg_ptr : int64 [R + 1]
    msg_src, msg_op : int64 [M]
    relu : bool
    n_residual : int or None
        Rows that keep their own state (the residual); None = all.

    Returns
    -------
    y : ndarray [R, H]
    """
    k = _n_res(n_residual, s.shape[0])
    z = np.zeros_like(s)
    z[:k] = s[:k]
    if msg_src.size:
        np.add.at(z, _dst(msg_ptr), g[msg_op] * s[msg_src])
    if relu:
        np.maximum(z, 0, out=z)
    return z


def propagate_backward(grad_y: np.ndarray, s: np.ndarray, y: np.ndarray, g: np.ndarray,
                       msg_ptr: np.ndarray, msg_src: np.ndarray, msg_op: np.ndarray,
                       relu: bool, n_residual: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`propagate_forward`.

    Returns
    -------
    grad_s : ndarray [R, H]
    grad_g : ndarray [K, H]
    """
    dz = np.where(y > 0, grad_y, 0).astype(grad_y.dtype, copy=False) if relu else grad_y
    k = _n_res(n_residual, s.shape[0])
    grad_s = np.zeros_like(dz)
    grad_s[:k] = dz[:k]
    grad_g = np.zeros_like(g)
    if msg_src.size:
        dzm = dz[_dst(msg_ptr)]
        np.add.at(grad_s, msg_src, g[msg_op] * dzm)
        np.add.at(grad_g, msg_op, dzm * s[msg_src])
    return grad_s, grad_g


def layer_forward(x: np.ndarray, w: np.ndarray, g: np.ndarray, msg_ptr: np.ndarray,
                  msg_src: np.ndarray, msg_op: np.ndarray, relu: bool,
                  n_residual: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One GATES layer: ``s = x @ w`` then :func:`propagate_forward`.

    Parameters
    ----------
    x : ndarray [R, H_in]
    w : ndarray [H_in, H]
    g : ndarray [K, H]

    Returns
    -------
    s : ndarray [R, H]
        Kept for the backward pass.
    y : ndarray [R, H]
    """
    s = x @ w
    return s, propagate_forward(s, g, msg_ptr, msg_src, msg_op, relu, n_residual)


def layer_backward(grad_y: np.ndarray, x: np.ndarray, w: np.ndarray, s: np.ndarray, y: np.ndarray,
                   g: np.ndarray, msg_ptr: np.ndarray, msg_src: np.ndarray, msg_op: np.ndarray,
                   relu: bool, need_grad_x: bool,
                   n_residual: int | None = None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`layer_forward`.

    Returns
    -------
    grad_x : ndarray [R, H_in] or None
    grad_w : ndarray [H_in, H]
    grad_g : ndarray [K, H]
    """
    grad_s, grad_g = propagate_backward(grad_y, s, y, g, msg_ptr, msg_src, msg_op, relu, n_residual)
    grad_w = x.T @ grad_s
    grad_x = grad_s @ w.T if need_grad_x else None
    return grad_x, grad_w, grad_g


def readout_forward(y: np.ndarray, read_rows: np.ndarray) -> np.ndarray:
    """Per cell, the mean of the rows ``read_rows[b]``.

    Parameters
    ----------
    y : ndarray [R, H]
    read_rows : int64 [B, Q]

    Returns
    -------
    ndarray [B, H]
    """
    return y[read_rows].mean(axis=1)


def readout_backward(grad_out: np.ndarray, read_rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Gradient of :func:`readout_forward` w.r.t. ``y`` -> ``[n_rows, H]``."""
    q = read_rows.shape[1]
    grad = np.zeros((n_rows, grad_out.shape[1]), dtype=grad_out.dtype)
    vals = np.repeat(grad_out / q, q, axis=0)
    np.add.at(grad, read_rows.reshape(-1), vals)
    return grad
