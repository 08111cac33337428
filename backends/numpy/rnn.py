"""Recurrent kernels, NumPy reference (the specification of the ``rnn`` kernel family).

One LSTM layer over a batch of equal-length sequences, zero initial state, gate order
``(i, f, g, o)`` as in PyTorch, one bias vector::

    z_t = x_t @ w_ih + h_{t-1} @ w_hh + b                  # [B, 4H]
    i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

The backward pass is back-propagation through time over the stored activations. float32 or
float64; every float argument of one call has one dtype.
"""
from __future__ import annotations

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def lstm_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                 b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one LSTM layer from a zero state.

    Parameters
    ----------
    x : ndarray [B, T, E]
    w_ih : ndarray [E, 4H]
    w_hh : ndarray [H, 4H]
    b : ndarray [4H]

    Returns
    -------
    h : ndarray [B, T, H]
        Hidden states.
    c : ndarray [B, T, H]
        Cell states.
    acts : ndarray [B, T, 4H]
        Activated gates ``(i, f, g, o)`` (kept for the backward pass).
    """
    bsz, t_len, e = x.shape
    hd = w_hh.shape[0]
    dt = x.dtype
    xw = (x.reshape(bsz * t_len, e) @ w_ih).reshape(bsz, t_len, 4 * hd)
    h = np.zeros((bsz, t_len, hd), dtype=dt)
    c = np.zeros((bsz, t_len, hd), dtype=dt)
    acts = np.zeros((bsz, t_len, 4 * hd), dtype=dt)
    h_prev = np.zeros((bsz, hd), dtype=dt)
    c_prev = np.zeros((bsz, hd), dtype=dt)
    for t in range(t_len):
        z = xw[:, t] + h_prev @ w_hh + b
        ifo = _sigmoid(np.concatenate([z[:, :2 * hd], z[:, 3 * hd:]], axis=1))
        i, f, o = ifo[:, :hd], ifo[:, hd:2 * hd], ifo[:, 2 * hd:]
        g = np.tanh(z[:, 2 * hd:3 * hd])
        c_prev = f * c_prev + i * g
        h_prev = o * np.tanh(c_prev)
        acts[:, t, :hd] = i
        acts[:, t, hd:2 * hd] = f
        acts[:, t, 2 * hd:3 * hd] = g
        acts[:, t, 3 * hd:] = o
        h[:, t] = h_prev
        c[:, t] = c_prev
    return h, c, acts


def lstm_backward(grad_h: np.ndarray, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                  h: np.ndarray, c: np.ndarray, acts: np.ndarray,
                  need_grad_x: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """Back-propagation through time for :func:`lstm_forward`.

    Parameters
    ----------
    grad_h : ndarray [B, T, H]
        ``dloss/dh_t`` from outside the recurrence (e.g. zeros except the last step).
    x, w_ih, w_hh : as in :func:`lstm_forward`
    h, c, acts : outputs of :func:`lstm_forward`
    need_grad_x : bool

    Returns
    -------
    grad_x : ndarray [B, T, E] or None
    grad_w_ih : ndarray [E, 4H]
    grad_w_hh : ndarray [H, 4H]
    grad_b : ndarray [4H]
    """
    bsz, t_len, e = x.shape
    hd = w_hh.shape[0]
    dt = x.dtype
    dz = np.zeros((bsz, t_len, 4 * hd), dtype=dt)
    dh_next = np.zeros((bsz, hd), dtype=dt)
    dc_next = np.zeros((bsz, hd), dtype=dt)
    for t in range(t_len - 1, -1, -1):
        a = acts[:, t]
        i, f, g, o = a[:, :hd], a[:, hd:2 * hd], a[:, 2 * hd:3 * hd], a[:, 3 * hd:]
        c_prev = c[:, t - 1] if t > 0 else np.zeros((bsz, hd), dtype=dt)
        tc = np.tanh(c[:, t])
        dh = grad_h[:, t] + dh_next
        dc = dc_next + dh * o * (1 - tc * tc)
        dz[:, t, :hd] = dc * g * i * (1 - i)
        dz[:, t, hd:2 * hd] = dc * c_prev * f * (1 - f)
        dz[:, t, 2 * hd:3 * hd] = dc * i * (1 - g * g)
        dz[:, t, 3 * hd:] = dh * tc * o * (1 - o)
        dc_next = dc * f
        dh_next = dz[:, t] @ w_hh.T
    dz2 = dz.reshape(bsz * t_len, 4 * hd)
    h_prev = np.zeros_like(h)
    h_prev[:, 1:] = h[:, :-1]
    grad_w_hh = h_prev.reshape(bsz * t_len, hd).T @ dz2
    grad_w_ih = x.reshape(bsz * t_len, e).T @ dz2
    grad_b = dz2.sum(axis=0)
    grad_x = (dz2 @ w_ih.T).reshape(bsz, t_len, e) if need_grad_x else None
    return grad_x, grad_w_ih, grad_w_hh, grad_b
