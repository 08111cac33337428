"""Neural-network kernels, NumPy reference (the specification of the ``nn`` kernel family).

Conventions shared with :mod:`archmodel.backends.numba.nn` (same names, same signatures):

* arrays in, arrays out; float32 or float64, every float argument of one call has one dtype;
* a linear layer stores its weight as ``[in, out]`` (``y = x @ w + b``);
* dropout masks are *given* (drawn by the caller), already scaled: entries are ``0`` or
  ``1 / (1 - p)``, same shape and dtype as the activation;
* optimiser updates work in place on ``param`` and the state arrays and return ``None``.
"""
from __future__ import annotations

import numpy as np


# ----------------------------------------------------------------------------- linear / dense
def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``y = x @ w + b``.

    Parameters
    ----------
    x : ndarray [M, K]
    w : ndarray [K, N]
    b : ndarray [N] or None

    Returns
    -------
    y : ndarray [M, N]
    """
    y = x @ w
    if b is not None:
        y += b
    return y


def linear_backward(grad_y: np.ndarray, x: np.ndarray, w: np.ndarray,
                    need_grad_x: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``y = x @ w + b``.

    Parameters
    ----------
    grad_y : ndarray [M, N]
    x : ndarray [M, K]
    w : ndarray [K, N]
    need_grad_x : bool
        If False, ``grad_x`` is None (saves one matmul).

    Returns
    -------
    grad_x : ndarray [M, K] or None
    grad_w : ndarray [K, N]
    grad_b : ndarray [N]
    """
    grad_w = x.T @ grad_y
    grad_b = grad_y.sum(axis=0)
    grad_x = grad_y @ w.T if need_grad_x else None
    return grad_x, grad_w, grad_b


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, relu: bool,
                  mask: np.ndarray | None) -> np.ndarray:
    """Fused ``y = mask * act(x @ w + b)``, ``act`` = ReLU if ``relu`` else identity.

    Parameters
    ----------
    x : ndarray [M, K]
    w : ndarray [K, N]
    b : ndarray [N] or None
    relu : bool
    mask : ndarray [M, N] or None
        Scaled dropout mask (0 or 1/(1-p)); None = no dropout.

    Returns
    -------
    y : ndarray [M, N]
    """
    y = linear_forward(x, w, b)
    if relu:
        np.maximum(y, 0, out=y)
    if mask is not None:
        y *= mask
    return y


def dense_backward(grad_y: np.ndarray, x: np.ndarray, w: np.ndarray, y: np.ndarray, relu: bool,
                   mask: np.ndarray | None,
                   need_grad_x: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`dense_forward` given its output ``y``.

    With ReLU, ``d(pre-activation) = grad_y * mask * [y > 0]`` (``y > 0`` exactly where the
    pre-activation is positive and the mask keeps the unit; dropped units get zero gradient
    either way).

    Returns
    -------
    grad_x : ndarray [M, K] or None
    grad_w : ndarray [K, N]
    grad_b : ndarray [N]
    """
    g = grad_y if mask is None else grad_y * mask
    if relu:
        g = np.where(y > 0, g, 0).astype(y.dtype, copy=False)
    return linear_backward(g, x, w, need_grad_x)


def dense_backward_input(grad_y: np.ndarray, w: np.ndarray, y: np.ndarray, relu: bool,
                         mask: np.ndarray | None) -> np.ndarray:
    """``grad_x`` of :func:`dense_forward` alone: the array :func:`dense_backward` returns
    first, computed the same way (so a caller can compute it beside ``grad_w``).

    Returns
    -------
    grad_x : ndarray [M, K]
    """
    g = grad_y if mask is None else grad_y * mask
    if relu:
        g = np.where(y > 0, g, 0).astype(y.dtype, copy=False)
    return g @ w.T


# ----------------------------------------------------------------------------- activations
def relu_forward(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``, any shape."""
    return np.maximum(x, 0)


def relu_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad_y * [y > 0]`` where ``y`` is the ReLU output."""
    return np.where(y > 0, grad_y, 0).astype(grad_y.dtype, copy=False)


def sigmoid_forward(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid as ``0.5 * (1 + tanh(x / 2))``: no overflow for any ``x``, absolute
    error within a few ulps of 1, and one vectorised ufunc (NumPy's ``exp`` with masks for
    the two signs was 20-35x slower here). For ``x`` below about -37 (float64) or -17
    (float32) it returns 0 where the exact value is smaller than the dtype's epsilon."""
    y = np.tanh(x * x.dtype.type(0.5))
    y += 1
    y *= x.dtype.type(0.5)
    return y


def sigmoid_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad_y * y * (1 - y)`` where ``y`` is the sigmoid output."""
    return grad_y * y * (1 - y)


def tanh_forward(x: np.ndarray) -> np.ndarray:
    """``tanh(x)``."""
    return np.tanh(x)


def tanh_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad_y * (1 - y**2)`` where ``y`` is the tanh output."""
    return grad_y * (1 - y * y)


def dropout_forward(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``x * mask`` (mask already scaled by ``1/(1-p)``)."""
    return x * mask


def dropout_backward(grad_y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``grad_y * mask``."""
    return grad_y * mask


# ----------------------------------------------------------------------------- embedding
def embedding_forward(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Row lookup: ``table[idx]``.

    Parameters
    ----------
    table : ndarray [n, D]
    idx : int64 ndarray, any shape ``S`` (values in ``[0, n)``)

    Returns
    -------
    ndarray ``S + (D,)``
    """
    return table[idx]


def embedding_backward(grad_y: np.ndarray, idx: np.ndarray, n_rows: int) -> np.ndarray:
    """Scatter-add ``grad_y`` (shape ``idx.shape + (D,)``) into a ``[n_rows, D]`` table gradient."""
    d = grad_y.shape[-1]
    grad = np.zeros((n_rows, d), dtype=grad_y.dtype)
    np.add.at(grad, idx.reshape(-1), grad_y.reshape(-1, d))
    return grad


# ----------------------------------------------------------------------------- optimisers
def adam_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float, step: int) -> None:
    """One Adam step in place (PyTorch ``torch.optim.Adam`` semantics, L2-coupled decay).

    ``g = grad + weight_decay * param``; ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``;
    ``param -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)``.

    Parameters
    ----------
    param, grad, m, v : ndarray, same shape and dtype
    lr, beta1, beta2, eps, weight_decay : float
    step : int
        1 for the first update.
    """
    g = grad + weight_decay * param if weight_decay != 0 else grad
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    denom = np.sqrt(v) / np.sqrt(bc2) + eps
    param -= (lr / bc1) * (m / denom)


def sgd_update(param: np.ndarray, grad: np.ndarray, buf: np.ndarray, lr: float, momentum: float,
               dampening: float, weight_decay: float, nesterov: bool, first: bool) -> None:
    """One SGD step in place (``torch.optim.SGD`` semantics).

    ``g = grad + weight_decay * param``; with momentum: ``buf = g`` on the first step, else
    ``buf = momentum * buf + (1 - dampening) * g``; ``g = g + momentum * buf`` (Nesterov) or
    ``g = buf``; then ``param -= lr * g``. ``buf`` is untouched when ``momentum == 0``.
    """
    g = grad + weight_decay * param if weight_decay != 0 else grad
    if momentum != 0:
        if first:
            buf[...] = g
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g
