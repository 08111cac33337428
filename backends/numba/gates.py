"""GATES encoder kernels, Numba twin of :mod:`archmodel.backends.numpy.gates`.

Same names and signatures as the NumPy reference (see there for the maths). The message
passing, its gradient scatter and the readout run as compiled loops (one pass over the
messages, no temporaries); matrix products call BLAS through ``np.dot``. Kernels are ``nogil``,
so archmodel runs batch chunks on several threads. Nothing is compiled at import.
"""
from __future__ import annotations

import numpy as np

from archmodel.backends.numba._jit import njit


@njit(error_model="numpy")
def _propagate_fwd(s, g, msg_ptr, msg_src, msg_op, relu, n_res):  # pragma: no cover - jitted
    r_count, h = s.shape
    z = np.empty_like(s)
    for r in range(r_count):
        for j in range(h):
            z[r, j] = s[r, j] if r < n_res else 0
        for m in range(msg_ptr[r], msg_ptr[r + 1]):
            src = msg_src[m]
            op = msg_op[m]
            for j in range(h):
                z[r, j] += g[op, j] * s[src, j]
        if relu:
            for j in range(h):
                if not z[r, j] > 0:
                    z[r, j] = 0
    return z


@njit(error_model="numpy")
def _propagate_bwd(grad_y, s, y, g, msg_ptr, msg_src, msg_op, relu, n_res):  # pragma: no cover
    r_count, h = s.shape
    grad_s = np.empty_like(s)
    grad_g = np.zeros_like(g)
    dz = np.empty(h, dtype=s.dtype)
    # first grad_s = dz (the residual path), then scatter every message's gradient
    for r in range(r_count):
        for j in range(h):
            v = grad_y[r, j]
            if relu and not y[r, j] > 0:
                v = 0
            grad_s[r, j] = v if r < n_res else 0
    for r in range(r_count):
        if msg_ptr[r] == msg_ptr[r + 1]:
            continue
        for j in range(h):
            v = grad_y[r, j]
            if relu and not y[r, j] > 0:
                v = 0
            dz[j] = v
        for m in range(msg_ptr[r], msg_ptr[r + 1]):
            src = msg_src[m]
            op = msg_op[m]
            for j in range(h):
                grad_s[src, j] += g[op, j] * dz[j]
                grad_g[op, j] += dz[j] * s[src, j]
    return grad_s, grad_g


@njit(error_model="numpy")
def _layer_fwd(x, w, g, msg_ptr, msg_src, msg_op, relu, n_res):  # pragma: no cover - jitted
    s = np.dot(x, w)
    return s, _propagate_fwd(s, g, msg_ptr, msg_src, msg_op, relu, n_res)


@njit(error_model="numpy")
def _layer_bwd(grad_y, x, w, s, y, g, msg_ptr, msg_src, msg_op, relu, need_gx, n_res):  # pragma: no cover
    grad_s, grad_g = _propagate_bwd(grad_y, s, y, g, msg_ptr, msg_src, msg_op, relu, n_res)
    grad_w = np.dot(x.T, grad_s)
    if need_gx:
        grad_x = np.dot(grad_s, w.T)
    else:
        grad_x = np.empty((0, 0), dtype=x.dtype)
    return grad_x, grad_w, grad_g


@njit(error_model="numpy")
def _readout_fwd(y, read_rows):  # pragma: no cover - jitted
    b_count, q = read_rows.shape
    h = y.shape[1]
    out = np.zeros((b_count, h), dtype=y.dtype)
    for b in range(b_count):
        for k in range(q):
            r = read_rows[b, k]
            for j in range(h):
                out[b, j] += y[r, j]
        if q != 1:
            for j in range(h):
                out[b, j] /= q
    return out


@njit(error_model="numpy")
def _readout_bwd(grad_out, read_rows, n_rows):  # pragma: no cover - jitted
    b_count, q = read_rows.shape
    h = grad_out.shape[1]
    grad = np.zeros((n_rows, h), dtype=grad_out.dtype)
    for b in range(b_count):
        for k in range(q):
            r = read_rows[b, k]
            for j in range(h):
                grad[r, j] += grad_out[b, j] / q
    return grad


def _c(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


def _n_res(n_residual: int | None, rows: int) -> int:
    return rows if n_residual is None else min(int(n_residual), rows)


def propagate_forward(s: np.ndarray, g: np.ndarray, msg_ptr: np.ndarray, msg_src: np.ndarray,
                      msg_op: np.ndarray, relu: bool, n_residual: int | None = None) -> np.ndarray:
    """Gated message passing with residual on the first ``n_residual`` rows -> y [R, H]."""
    return _propagate_fwd(_c(s), _c(g), msg_ptr, msg_src, msg_op, bool(relu), _n_res(n_residual, s.shape[0]))


def propagate_backward(grad_y: np.ndarray, s: np.ndarray, y: np.ndarray, g: np.ndarray,
                       msg_ptr: np.ndarray, msg_src: np.ndarray, msg_op: np.ndarray,
                       relu: bool, n_residual: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`propagate_forward` -> (grad_s [R, H], grad_g [K, H])."""
    return _propagate_bwd(_c(grad_y), _c(s), _c(y), _c(g), msg_ptr, msg_src, msg_op, bool(relu),
                          _n_res(n_residual, s.shape[0]))


def layer_forward(x: np.ndarray, w: np.ndarray, g: np.ndarray, msg_ptr: np.ndarray,
                  msg_src: np.ndarray, msg_op: np.ndarray, relu: bool,
                  n_residual: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One GATES layer -> (s [R, H], y [R, H])."""
    return _layer_fwd(_c(x), _c(w), _c(g), msg_ptr, msg_src, msg_op, bool(relu),
                      _n_res(n_residual, x.shape[0]))


def layer_backward(grad_y: np.ndarray, x: np.ndarray, w: np.ndarray, s: np.ndarray, y: np.ndarray,
                   g: np.ndarray, msg_ptr: np.ndarray, msg_src: np.ndarray, msg_op: np.ndarray,
                   relu: bool, need_grad_x: bool,
                   n_residual: int | None = None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`layer_forward` -> (grad_x or None, grad_w, grad_g)."""
    gx, gw, gg = _layer_bwd(_c(grad_y), _c(x), _c(w), _c(s), _c(y), _c(g), msg_ptr, msg_src,
                            msg_op, bool(relu), bool(need_grad_x), _n_res(n_residual, s.shape[0]))
    return (gx if need_grad_x else None), gw, gg


def readout_forward(y: np.ndarray, read_rows: np.ndarray) -> np.ndarray:
    """Mean of ``y[read_rows[b]]`` per cell -> [B, H]."""
    return _readout_fwd(_c(y), _c(read_rows))


def readout_backward(grad_out: np.ndarray, read_rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Gradient of :func:`readout_forward` -> [n_rows, H]."""
    return _readout_bwd(_c(grad_out), _c(read_rows), int(n_rows))
