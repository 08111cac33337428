"""Neural-network kernels, Numba twin of :mod:`archmodel.backends.numpy.nn`.

Same function names and signatures as the NumPy reference (see there for the maths). Each
public function is a thin Python wrapper (argument normalisation: ``None`` -> empty array plus
flag) around a module-level ``@njit`` kernel that fuses the element-wise work (bias, ReLU,
dropout mask, bias gradient, optimiser update) into one pass; matrix products call BLAS through
``np.dot``. Nothing is compiled at import: kernels compile on first call, per dtype. Element-wise kernels use
``error_model="numpy"`` (IEEE results instead of ZeroDivisionError checks), which lets LLVM
vectorise their loops.
"""
from __future__ import annotations

import math

import numpy as np

from archmodel.backends.numba._jit import njit
from archmodel.backends.numpy import nn as _np_nn


def _empty1(dtype: np.dtype) -> np.ndarray:
    return np.empty(0, dtype=dtype)


def _empty2(dtype: np.dtype) -> np.ndarray:
    return np.empty((0, 0), dtype=dtype)


def _c(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------------- linear / dense
@njit(error_model="numpy")
def _dense_fwd(x, w, b, has_b, relu, mask, has_mask):  # pragma: no cover - jitted
    y = np.dot(x, w)
    m, n = y.shape
    for i in range(m):
        for j in range(n):
            v = y[i, j]
            if has_b:
                v += b[j]
            if relu and not v > 0:
                v = 0
            if has_mask:
                v *= mask[i, j]
            y[i, j] = v
    return y


@njit(error_model="numpy")
def _masked_grad(gy, y, relu, mask, has_mask):  # pragma: no cover - jitted
    """``gy`` times the dropout mask and the ReLU's derivative (where ``relu``)."""
    m, n = gy.shape
    g = np.empty_like(gy)
    for i in range(m):
        for j in range(n):
            v = gy[i, j]
            if has_mask:
                v *= mask[i, j]
            if relu and not y[i, j] > 0:
                v = 0
            g[i, j] = v
    return g


@njit(error_model="numpy")
def _dense_bwd(gy, x, w, y, relu, mask, has_mask, need_gx):  # pragma: no cover - jitted
    g = _masked_grad(gy, y, relu, mask, has_mask)
    m, n = g.shape
    gb = np.zeros(n, dtype=gy.dtype)
    for i in range(m):
        for j in range(n):
            gb[j] += g[i, j]
    gw = np.dot(x.T, g)
    if need_gx:
        gx = np.dot(g, w.T)
    else:
        gx = np.empty((0, 0), dtype=gy.dtype)
    return gx, gw, gb


@njit(error_model="numpy")
def _dense_bwd_x(gy, w, y, relu, mask, has_mask):  # pragma: no cover - jitted
    return np.dot(_masked_grad(gy, y, relu, mask, has_mask), w.T)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``y = x @ w + b`` (x [M, K], w [K, N], b [N] or None) -> y [M, N]."""
    has_b = b is not None
    return _dense_fwd(_c(x), _c(w), b if has_b else _empty1(x.dtype), has_b, False,
                      _empty2(x.dtype), False)


def linear_backward(grad_y: np.ndarray, x: np.ndarray, w: np.ndarray,
                    need_grad_x: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``y = x @ w + b`` -> (grad_x [M, K] or None, grad_w [K, N], grad_b [N])."""
    gx, gw, gb = _dense_bwd(_c(grad_y), _c(x), _c(w), _empty2(x.dtype), False,
                            _empty2(x.dtype), False, bool(need_grad_x))
    return (gx if need_grad_x else None), gw, gb


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, relu: bool,
                  mask: np.ndarray | None) -> np.ndarray:
    """Fused ``y = mask * act(x @ w + b)`` -> y [M, N]."""
    has_b = b is not None
    has_m = mask is not None
    return _dense_fwd(_c(x), _c(w), b if has_b else _empty1(x.dtype), has_b, bool(relu),
                      _c(mask) if has_m else _empty2(x.dtype), has_m)


def dense_backward(grad_y: np.ndarray, x: np.ndarray, w: np.ndarray, y: np.ndarray, relu: bool,
                   mask: np.ndarray | None,
                   need_grad_x: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`dense_forward` -> (grad_x or None, grad_w, grad_b)."""
    has_m = mask is not None
    gx, gw, gb = _dense_bwd(_c(grad_y), _c(x), _c(w), _c(y), bool(relu),
                            _c(mask) if has_m else _empty2(x.dtype), has_m, bool(need_grad_x))
    return (gx if need_grad_x else None), gw, gb


def dense_backward_input(grad_y: np.ndarray, w: np.ndarray, y: np.ndarray, relu: bool,
                         mask: np.ndarray | None) -> np.ndarray:
    """``grad_x`` of :func:`dense_forward` alone (the same array :func:`dense_backward` returns)."""
    has_m = mask is not None
    return _dense_bwd_x(_c(grad_y), _c(w), _c(y), bool(relu),
                        _c(mask) if has_m else _empty2(grad_y.dtype), has_m)


# ----------------------------------------------------------------------------- activations
@njit(error_model="numpy")
def _relu_fwd(x):  # pragma: no cover - jitted
    y = np.empty_like(x)
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else 0
    return y


@njit(error_model="numpy")
def _relu_bwd(gy, y):  # pragma: no cover - jitted
    g = np.empty_like(gy)
    for i in range(gy.size):
        g[i] = gy[i] if y[i] > 0 else 0
    return g


@njit(error_model="numpy")
def _sigmoid_bwd(gy, y):  # pragma: no cover - jitted
    g = np.empty_like(gy)
    for i in range(gy.size):
        g[i] = gy[i] * y[i] * (1 - y[i])
    return g


@njit(error_model="numpy")
def _tanh_bwd(gy, y):  # pragma: no cover - jitted
    g = np.empty_like(gy)
    for i in range(gy.size):
        g[i] = gy[i] * (1 - y[i] * y[i])
    return g


@njit(error_model="numpy")
def _mul(a, b):  # pragma: no cover - jitted
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = a[i] * b[i]
    return out


def _flat_apply(kernel, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    a = _c(a)
    if b is None:
        return kernel(a.reshape(-1)).reshape(a.shape)
    return kernel(a.reshape(-1), _c(b).reshape(-1)).reshape(a.shape)


def relu_forward(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``, any shape."""
    return _flat_apply(_relu_fwd, x)


def relu_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad_y * [y > 0]``."""
    return _flat_apply(_relu_bwd, grad_y, y)


def sigmoid_forward(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid: the NumPy reference itself (one vectorised ``tanh``; Numba's scalar
    ``exp``/``tanh`` loop, without SVML, was 10x slower here)."""
    return _np_nn.sigmoid_forward(x)


def sigmoid_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad_y * y * (1 - y)``."""
    return _flat_apply(_sigmoid_bwd, grad_y, y)


def tanh_forward(x: np.ndarray) -> np.ndarray:
    """``tanh(x)``: NumPy's vectorised ufunc (as :func:`sigmoid_forward`)."""
    return _np_nn.tanh_forward(x)


def tanh_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad_y * (1 - y**2)``."""
    return _flat_apply(_tanh_bwd, grad_y, y)


def dropout_forward(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``x * mask``."""
    return _flat_apply(_mul, x, mask)


def dropout_backward(grad_y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``grad_y * mask``."""
    return _flat_apply(_mul, grad_y, mask)


# ----------------------------------------------------------------------------- embedding
@njit
def _emb_fwd(table, idx):  # pragma: no cover - jitted
    n = idx.size
    d = table.shape[1]
    out = np.empty((n, d), dtype=table.dtype)
    for i in range(n):
        r = idx[i]
        for j in range(d):
            out[i, j] = table[r, j]
    return out


@njit
def _emb_bwd(gy, idx, n_rows):  # pragma: no cover - jitted
    d = gy.shape[1]
    grad = np.zeros((n_rows, d), dtype=gy.dtype)
    for i in range(idx.size):
        r = idx[i]
        for j in range(d):
            grad[r, j] += gy[i, j]
    return grad


def embedding_forward(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``table[idx]``: table [n, D], idx int64 of shape S -> ``S + (D,)``."""
    idx = np.asarray(idx)
    flat = _c(idx.reshape(-1).astype(np.int64, copy=False))
    return _emb_fwd(_c(table), flat).reshape(idx.shape + (table.shape[1],))


def embedding_backward(grad_y: np.ndarray, idx: np.ndarray, n_rows: int) -> np.ndarray:
    """Scatter-add ``grad_y`` (``idx.shape + (D,)``) into a ``[n_rows, D]`` gradient."""
    d = grad_y.shape[-1]
    flat = _c(np.asarray(idx).reshape(-1).astype(np.int64, copy=False))
    return _emb_bwd(_c(grad_y).reshape(-1, d), flat, int(n_rows))


# ----------------------------------------------------------------------------- optimisers
@njit(error_model="numpy")
def _adam(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, sqrt_bc2):  # pragma: no cover - jitted
    # arithmetic in the parameters' dtype (the NumPy reference's moment updates are float32 for
    # float32 parameters too); float32 lanes vectorise twice as wide and sqrt/divide are cheaper
    t = p.dtype.type
    step_size = t(lr / bc1)
    b1, b2, e, w, s2 = t(beta1), t(beta2), t(eps), t(wd), t(sqrt_bc2)
    c1, c2 = t(1 - beta1), t(1 - beta2)
    for i in range(p.size):
        gi = g[i]
        if w != 0:
            gi = gi + w * p[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - step_size * (mi / (math.sqrt(vi) / s2 + e))


@njit(error_model="numpy")
def _sgd(p, g, buf, lr, momentum, dampening, wd, nesterov, first):  # pragma: no cover - jitted
    for i in range(p.size):
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        if momentum != 0:
            if first:
                buf[i] = gi
            else:
                buf[i] = momentum * buf[i] + (1 - dampening) * gi
            if nesterov:
                gi = gi + momentum * buf[i]
            else:
                gi = buf[i]
        p[i] = p[i] - lr * gi


def _inplace_views(*arrays: np.ndarray) -> list[np.ndarray]:
    out = []
    for a in arrays:
        if not a.flags.c_contiguous:
            raise ValueError("optimiser state and parameters must be C-contiguous arrays")
        out.append(a.reshape(-1))
    return out


def adam_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, step: int) -> None:
    """One Adam step in place (PyTorch semantics, L2-coupled weight decay)."""
    p, mm, vv = _inplace_views(param, m, v)
    g = _c(grad).reshape(-1)
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    _adam(p, g, mm, vv, float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
          float(bc1), float(math.sqrt(bc2)))


def sgd_update(param: np.ndarray, grad: np.ndarray, buf: np.ndarray, lr: float, momentum: float,
               dampening: float, weight_decay: float, nesterov: bool, first: bool) -> None:
    """One SGD step in place (``torch.optim.SGD`` semantics)."""
    p, b = _inplace_views(param, buf)
    g = _c(grad).reshape(-1)
    _sgd(p, g, b, float(lr), float(momentum), float(dampening), float(weight_decay),
         bool(nesterov), bool(first))
