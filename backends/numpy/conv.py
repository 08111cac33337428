"""Convolution-network kernels, NumPy reference (the specification of the ``conv`` family).

Every kernel is a module-level function: arrays and scalars in, arrays (or tuples of arrays) out.
Layout is channels-first: images are ``(N, C, H, W)``. Kernels keep the dtype of their inputs
(float32 for training, float64 for gradient checks); statistics are accumulated in float64.
The Numba backend (``archmodel.backends.numba.conv``) has the same names and signatures.

Output size of a sliding window (convolution and pooling)::

    H_out = (H + 2 * padding - dilation * (k - 1) - 1) // stride + 1

Kernels do not validate their arguments (the layers in :mod:`archmodel.conv.layers` do).

Kernels
-------
conv2d_forward, conv2d_backward
    2-D cross-correlation without bias, with stride, zero padding, dilation and groups.
batchnorm_forward_train, batchnorm_backward, batchnorm_forward_eval, batchnorm_backward_eval,
batchnorm_update_running
    Batch normalisation over ``(N, H, W)`` per channel.
relu_forward, relu_backward
avg_pool2d_forward, avg_pool2d_backward, max_pool2d_forward, max_pool2d_backward
global_avg_pool_forward, global_avg_pool_backward
linear_forward, linear_backward
softmax_cross_entropy
sum_edges_forward, sum_edges_backward
    The sum of a cell node's incoming edges (and of gradients flowing into one node).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided


def _out_size(size: int, k: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _pad(x: np.ndarray, padding: int, value: float = 0.0) -> np.ndarray:
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                  constant_values=value)


def _windows(xp: np.ndarray, kh: int, kw: int, stride: int, dilation: int,
             ho: int, wo: int) -> np.ndarray:
    """Read-only view ``(N, C, kh, kw, ho, wo)`` of the windows of a padded image."""
    sn, sc, sh, sw = xp.strides
    n, c = xp.shape[:2]
    return as_strided(xp, shape=(n, c, kh, kw, ho, wo),
                      strides=(sn, sc, sh * dilation, sw * dilation, sh * stride, sw * stride),
                      writeable=False)


# --------------------------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------------------------
def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: int, padding: int, dilation: int,
                   groups: int) -> np.ndarray:
    """2-D convolution (cross-correlation, no bias), as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W)
    w : ndarray, shape (C_out, C_in // groups, kh, kw)
    stride, padding, dilation : int
        The same along both spatial axes; padding is with zeros.
    groups : int
        ``C_in`` and ``C_out`` are split into ``groups`` blocks; output block ``g`` sees input
        block ``g`` only (``groups == C_in`` gives a depthwise convolution).

    Returns
    -------
    y : ndarray, shape (N, C_out, H_out, W_out)
    """
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    ho = _out_size(h, kh, stride, padding, dilation)
    wo = _out_size(wd, kw, stride, padding, dilation)
    g = groups
    cols = _windows(_pad(x, padding), kh, kw, stride, dilation, ho, wo)
    cols = cols.reshape(n, g, cg * kh * kw, ho * wo)
    wg = w.reshape(g, cout // g, cg * kh * kw)
    y = np.matmul(wg, cols)                                   # (N, G, C_out/G, L)
    return y.reshape(n, cout, ho, wo)


def conv2d_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, padding: int,
                    dilation: int, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward`.

    Parameters
    ----------
    dy : ndarray, shape (N, C_out, H_out, W_out)
        Gradient of the loss with respect to the output.
    x, w, stride, padding, dilation, groups
        As given to the forward pass.

    Returns
    -------
    dx : ndarray, shape (N, C_in, H, W)
    dw : ndarray, shape (C_out, C_in // groups, kh, kw)
    """
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    ho, wo = dy.shape[2], dy.shape[3]
    g = groups
    k = cg * kh * kw
    xp = _pad(x, padding)
    cols = _windows(xp, kh, kw, stride, dilation, ho, wo).reshape(n, g, k, ho * wo)
    dyg = dy.reshape(n, g, cout // g, ho * wo)
    dw = np.matmul(dyg, cols.transpose(0, 1, 3, 2)).sum(axis=0)   # (G, C_out/G, K)
    wg = w.reshape(g, cout // g, k)
    dcols = np.matmul(wg.transpose(0, 2, 1), dyg)                 # (N, G, K, L)
    dcols = dcols.reshape(n, c, kh, kw, ho, wo)
    dxp = np.zeros(xp.shape, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilation, j * dilation
            dxp[:, :, r0:r0 + stride * (ho - 1) + 1:stride,
                c0:c0 + stride * (wo - 1) + 1:stride] += dcols[:, :, i, j]
    dx = dxp[:, :, padding:padding + h, padding:padding + wd]
    return np.ascontiguousarray(dx), dw.reshape(w.shape)


# --------------------------------------------------------------------------------------------
# batch normalisation
# --------------------------------------------------------------------------------------------
def batchnorm_forward_train(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalisation with the statistics of the batch (training mode).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    gamma, beta : ndarray, shape (C,)
        Scale and shift.
    eps : float
        Added to the variance.

    Returns
    -------
    y : ndarray, shape (N, C, H, W)
        ``(x - mean) * invstd * gamma + beta``.
    mean, var : ndarray, shape (C,)
        Batch mean and biased batch variance over ``(N, H, W)``.
    invstd : ndarray, shape (C,)
        ``1 / sqrt(var + eps)``.
    """
    mean = x.mean(axis=(0, 2, 3), dtype=np.float64)
    xc = x - mean.astype(x.dtype)[None, :, None, None]
    var = np.mean(np.square(xc), axis=(0, 2, 3), dtype=np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    scale = (invstd * gamma).astype(x.dtype)
    y = xc * scale[None, :, None, None] + beta.astype(x.dtype)[None, :, None, None]
    dt = x.dtype
    return y, mean.astype(dt), var.astype(dt), invstd.astype(dt)


def batchnorm_backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, mean: np.ndarray,
                       invstd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_forward_train` (batch statistics depend on ``x``).

    Parameters
    ----------
    dy, x : ndarray, shape (N, C, H, W)
    gamma, mean, invstd : ndarray, shape (C,)
        ``mean`` and ``invstd`` as returned by the forward pass.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dgamma, dbeta : ndarray, shape (C,)
    """
    m = x.shape[0] * x.shape[2] * x.shape[3]
    xhat = (x - mean[None, :, None, None]) * invstd[None, :, None, None]
    dbeta = dy.sum(axis=(0, 2, 3), dtype=np.float64)
    dgamma = np.sum(dy * xhat, axis=(0, 2, 3), dtype=np.float64)
    k = (gamma * invstd / m).astype(x.dtype)
    dx = k[None, :, None, None] * (m * dy - dbeta.astype(x.dtype)[None, :, None, None]
                                   - xhat * dgamma.astype(x.dtype)[None, :, None, None])
    return dx, dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def batchnorm_forward_eval(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                           running_mean: np.ndarray, running_var: np.ndarray,
                           eps: float) -> np.ndarray:
    """Batch normalisation with fixed (running) statistics (evaluation mode).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    gamma, beta, running_mean, running_var : ndarray, shape (C,)
    eps : float

    Returns
    -------
    y : ndarray, shape (N, C, H, W)
    """
    invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    scale = (invstd * gamma).astype(x.dtype)
    shift = (beta - running_mean * invstd * gamma).astype(x.dtype)
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def batchnorm_backward_eval(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                            running_mean: np.ndarray, running_var: np.ndarray,
                            eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_forward_eval` (statistics are constants).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dgamma, dbeta : ndarray, shape (C,)
    """
    invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    xhat = (x - running_mean.astype(x.dtype)[None, :, None, None]) \
        * invstd.astype(x.dtype)[None, :, None, None]
    dbeta = dy.sum(axis=(0, 2, 3), dtype=np.float64)
    dgamma = np.sum(dy * xhat, axis=(0, 2, 3), dtype=np.float64)
    dx = dy * (invstd * gamma).astype(x.dtype)[None, :, None, None]
    return dx, dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def batchnorm_update_running(running_mean: np.ndarray, running_var: np.ndarray,
                             mean: np.ndarray, var: np.ndarray, count: int,
                             momentum: float) -> tuple[np.ndarray, np.ndarray]:
    """New running statistics, PyTorch convention.

    ``new = (1 - momentum) * old + momentum * batch``, where the batch variance is the
    unbiased one, ``var * count / (count - 1)`` (``count`` = N * H * W values per channel).

    Returns
    -------
    running_mean, running_var : ndarray, shape (C,)
        New arrays (the inputs are not modified).
    """
    unbiased = var * (count / (count - 1)) if count > 1 else var
    new_mean = (1.0 - momentum) * running_mean + momentum * mean
    new_var = (1.0 - momentum) * running_var + momentum * unbiased
    return new_mean.astype(running_mean.dtype), new_var.astype(running_var.dtype)


# --------------------------------------------------------------------------------------------
# activation
# --------------------------------------------------------------------------------------------
def relu_forward(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``, any shape."""
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def relu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient of ReLU: ``dy`` where ``x > 0``, else 0 (the subgradient at 0 is 0)."""
    return np.where(x > 0, dy, 0).astype(dy.dtype, copy=False)


# --------------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------------
def _avg_divisor(h: int, w: int, kernel: int, stride: int, padding: int,
                 count_include_pad: bool, ho: int, wo: int, dtype) -> np.ndarray:
    if count_include_pad:
        return np.full((ho, wo), kernel * kernel, dtype=dtype)
    ones = _pad(np.ones((1, 1, h, w), dtype=dtype), padding)
    return _windows(ones, kernel, kernel, stride, 1, ho, wo).sum(axis=(2, 3))[0, 0]


def avg_pool2d_forward(x: np.ndarray, kernel: int, stride: int, padding: int,
                       count_include_pad: bool) -> np.ndarray:
    """Average pooling over ``kernel x kernel`` windows, as ``torch.nn.AvgPool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel, stride, padding : int
        Zero padding; requires ``padding <= kernel // 2``.
    count_include_pad : bool
        True: divide by ``kernel**2``; False: by the number of window positions inside the
        image (NAS-Bench-201's ``avg_pool_3x3`` uses False).

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out)
    """
    n, c, h, w = x.shape
    ho = _out_size(h, kernel, stride, padding)
    wo = _out_size(w, kernel, stride, padding)
    s = _windows(_pad(x, padding), kernel, kernel, stride, 1, ho, wo).sum(axis=(2, 3))
    div = _avg_divisor(h, w, kernel, stride, padding, count_include_pad, ho, wo, x.dtype)
    return (s / div).astype(x.dtype, copy=False)


def avg_pool2d_backward(dy: np.ndarray, h: int, w: int, kernel: int, stride: int,
                        padding: int, count_include_pad: bool) -> np.ndarray:
    """Gradient of :func:`avg_pool2d_forward`.

    Parameters
    ----------
    dy : ndarray, shape (N, C, H_out, W_out)
    h, w : int
        Spatial size of the forward input.

    Returns
    -------
    dx : ndarray, shape (N, C, h, w)
    """
    n, c, ho, wo = dy.shape
    div = _avg_divisor(h, w, kernel, stride, padding, count_include_pad, ho, wo, dy.dtype)
    g = dy / div
    dxp = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=dy.dtype)
    for i in range(kernel):
        for j in range(kernel):
            dxp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride] += g
    return np.ascontiguousarray(dxp[:, :, padding:padding + h, padding:padding + w])


def max_pool2d_forward(x: np.ndarray, kernel: int, stride: int, padding: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling (padding never wins), as ``torch.nn.MaxPool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel, stride, padding : int
        Requires ``padding <= kernel // 2``, so every window holds an image element.

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out)
    argmax : ndarray of int64, shape (N, C, H_out, W_out)
        Flat index ``row * W + col`` of the maximum inside its ``(H, W)`` plane; the first
        one in row-major window order on ties.
    """
    n, c, h, w = x.shape
    ho = _out_size(h, kernel, stride, padding)
    wo = _out_size(w, kernel, stride, padding)
    win = _windows(_pad(x, padding, -np.inf), kernel, kernel, stride, 1, ho, wo)
    win = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, ho, wo, kernel * kernel)
    a = np.argmax(win, axis=-1)
    y = np.take_along_axis(win, a[..., None], axis=-1)[..., 0]
    rows = np.arange(ho)[:, None] * stride - padding + a // kernel
    cols = np.arange(wo)[None, :] * stride - padding + a % kernel
    return np.ascontiguousarray(y), (rows * w + cols).astype(np.int64)


def max_pool2d_backward(dy: np.ndarray, argmax: np.ndarray, h: int, w: int) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward`: ``dy`` routed to each window's maximum.

    Parameters
    ----------
    dy : ndarray, shape (N, C, H_out, W_out)
    argmax : ndarray of int64, same shape
    h, w : int
        Spatial size of the forward input.

    Returns
    -------
    dx : ndarray, shape (N, C, h, w)
    """
    n, c = dy.shape[:2]
    plane = (np.arange(n * c, dtype=np.int64) * (h * w)).reshape(n, c, 1, 1)
    flat = np.bincount((argmax + plane).ravel(), weights=dy.ravel().astype(np.float64),
                       minlength=n * c * h * w)
    return flat.reshape(n, c, h, w).astype(dy.dtype)


def global_avg_pool_forward(x: np.ndarray) -> np.ndarray:
    """Mean over the spatial axes: ``(N, C, H, W) -> (N, C)``."""
    return x.mean(axis=(2, 3), dtype=np.float64).astype(x.dtype)


def global_avg_pool_backward(dy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Gradient of :func:`global_avg_pool_forward`: ``(N, C) -> (N, C, h, w)``."""
    g = (dy / (h * w)).astype(dy.dtype)
    return np.ascontiguousarray(np.broadcast_to(g[:, :, None, None], dy.shape + (h, w)))


# --------------------------------------------------------------------------------------------
# classifier
# --------------------------------------------------------------------------------------------
def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``y = x @ w.T + b``; x (N, in), w (out, in), b (out,) -> y (N, out)."""
    return x @ w.T + b


def linear_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`linear_forward`: dx (N, in), dw (out, in), db (out,)."""
    return dy @ w, dy.T @ x, dy.sum(axis=0)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
    labels : ndarray of int, shape (N,)
        Values in ``[0, K)`` (not checked here).

    Returns
    -------
    loss : float
        ``mean_i(logsumexp(logits_i) - logits_i[labels_i])``.
    dlogits : ndarray, shape (N, K)
        ``(softmax(logits) - onehot(labels)) / N``.
    """
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    lse = np.log(s)[:, 0]
    rows = np.arange(n)
    loss = float(np.mean(lse.astype(np.float64) - z[rows, labels]))
    d = e / s
    d[rows, labels] -= 1.0
    return loss, (d / n).astype(logits.dtype)


# --------------------------------------------------------------------------------------------
# cell
# --------------------------------------------------------------------------------------------
def sum_edges_forward(xs: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of the incoming edges of a cell node.

    Parameters
    ----------
    xs : tuple of ndarray
        At least one array; all of the same shape and dtype (contiguous).

    Returns
    -------
    ndarray
        ``xs[0] + xs[1] + ...``, summed left to right into a new array.
    """
    y = np.array(xs[0], copy=True)
    for a in xs[1:]:
        y += a
    return y


def sum_edges_backward(dy: np.ndarray, n_edges: int) -> tuple[np.ndarray, ...]:
    """Gradient of :func:`sum_edges_forward`: every summand receives ``dy`` (not copied)."""
    return (dy,) * n_edges
