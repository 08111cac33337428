"""Recurrent kernels, Numba twin of :mod:`archmodel.backends.numpy.rnn`.

Same names, signatures and maths as the NumPy reference. The sequential part (the recurrence
and its back-propagation through time, with the gate activations, cell update and gate
gradients fused into one loop per step) is jitted; the products over all steps at once
(``x @ w_ih``, the weight gradients) are plain BLAS calls in the wrappers, which keeps the
compile time short. Compiled lazily on first call, per dtype.
"""
from __future__ import annotations

import math

import numpy as np

from archmodel.backends.numba._jit import njit


@njit
def _sig(z):  # pragma: no cover - jitted
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


@njit
def _lstm_fwd(xw, w_hh, b):  # pragma: no cover - jitted
    bsz, t_len, h4 = xw.shape
    hd = h4 // 4
    h = np.zeros((bsz, t_len, hd), dtype=xw.dtype)
    c = np.zeros((bsz, t_len, hd), dtype=xw.dtype)
    acts = np.zeros((bsz, t_len, h4), dtype=xw.dtype)
    h_prev = np.zeros((bsz, hd), dtype=xw.dtype)
    c_prev = np.zeros((bsz, hd), dtype=xw.dtype)
    for t in range(t_len):
        hw = np.dot(h_prev, w_hh)
        for r in range(bsz):
            for k in range(hd):
                i = _sig(xw[r, t, k] + hw[r, k] + b[k])
                f = _sig(xw[r, t, hd + k] + hw[r, hd + k] + b[hd + k])
                g = math.tanh(xw[r, t, 2 * hd + k] + hw[r, 2 * hd + k] + b[2 * hd + k])
                o = _sig(xw[r, t, 3 * hd + k] + hw[r, 3 * hd + k] + b[3 * hd + k])
                cc = f * c_prev[r, k] + i * g
                hh = o * math.tanh(cc)
                acts[r, t, k] = i
                acts[r, t, hd + k] = f
                acts[r, t, 2 * hd + k] = g
                acts[r, t, 3 * hd + k] = o
                c_prev[r, k] = cc
                h_prev[r, k] = hh
                c[r, t, k] = cc
                h[r, t, k] = hh
    return h, c, acts


@njit
def _lstm_bptt(grad_h, w_hh_t, c, acts):  # pragma: no cover - jitted
    bsz, t_len, hd = grad_h.shape
    dz = np.zeros((bsz, t_len, 4 * hd), dtype=grad_h.dtype)
    dh_next = np.zeros((bsz, hd), dtype=grad_h.dtype)
    dc_next = np.zeros((bsz, hd), dtype=grad_h.dtype)
    dzt = np.zeros((bsz, 4 * hd), dtype=grad_h.dtype)
    for t in range(t_len - 1, -1, -1):
        for r in range(bsz):
            for k in range(hd):
                i = acts[r, t, k]
                f = acts[r, t, hd + k]
                g = acts[r, t, 2 * hd + k]
                o = acts[r, t, 3 * hd + k]
                cp = c[r, t - 1, k] if t > 0 else c[r, t, k] * 0
                tc = math.tanh(c[r, t, k])
                dh = grad_h[r, t, k] + dh_next[r, k]
                dc = dc_next[r, k] + dh * o * (1 - tc * tc)
                dzt[r, k] = dc * g * i * (1 - i)
                dzt[r, hd + k] = dc * cp * f * (1 - f)
                dzt[r, 2 * hd + k] = dc * i * (1 - g * g)
                dzt[r, 3 * hd + k] = dh * tc * o * (1 - o)
                dc_next[r, k] = dc * f
                for q in range(4):
                    dz[r, t, q * hd + k] = dzt[r, q * hd + k]
        dh_next = np.dot(dzt, w_hh_t)
    return dz


def _c(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


def lstm_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                 b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One LSTM layer from a zero state -> (h [B, T, H], c [B, T, H], acts [B, T, 4H]).

    The input projection of every step is one BLAS product (``x @ w_ih``); the jitted loop runs
    the recurrence.
    """
    bsz, t_len, e = x.shape
    xw = (_c(x).reshape(bsz * t_len, e) @ w_ih).reshape(bsz, t_len, w_ih.shape[1])
    return _lstm_fwd(_c(xw), _c(w_hh), _c(b))


def lstm_backward(grad_h: np.ndarray, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                  h: np.ndarray, c: np.ndarray, acts: np.ndarray,
                  need_grad_x: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """BPTT -> (grad_x [B, T, E] or None, grad_w_ih, grad_w_hh, grad_b).

    The jitted loop produces the pre-activation gradients of every step; the weight and input
    gradients are then single BLAS products over all steps.
    """
    bsz, t_len, e = x.shape
    hd = w_hh.shape[0]
    dz = _lstm_bptt(_c(grad_h), _c(w_hh.T), _c(c), _c(acts))
    dz2 = dz.reshape(bsz * t_len, 4 * hd)
    h_prev = np.zeros_like(h)
    h_prev[:, 1:] = h[:, :-1]
    grad_w_hh = h_prev.reshape(bsz * t_len, hd).T @ dz2
    grad_w_ih = _c(x).reshape(bsz * t_len, e).T @ dz2
    grad_b = dz2.sum(axis=0)
    grad_x = (dz2 @ w_ih.T).reshape(bsz, t_len, e) if need_grad_x else None
    return grad_x, grad_w_ih, grad_w_hh, grad_b
