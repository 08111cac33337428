"""Convolution-network kernels, Numba backend.

Same names, signatures and results as :mod:`archmodel.backends.numpy.conv` (the
specification; see its docstrings). The convolution is im2col + BLAS (``np.dot`` inside Numba
calls scipy's BLAS): one column buffer per sample, samples spread over Numba's threads with
``prange``. Run it with single-threaded BLAS (``archmodel.utils.blas_threads(1)``): the
parallelism is over the batch. The element-wise and reduction kernels are parallel loops.
Statistics (batch norm, global pooling) are accumulated in float64.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from archmodel.backends.numba._jit import njit


@njit
def _out_size(size, k, stride, padding, dilation):
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


@njit
def _valid_range(off, stride, size, n_out):
    """Output positions ``o`` in [lo, hi) with ``0 <= o * stride + off < size``."""
    lo = 0
    if off < 0:
        lo = (-off + stride - 1) // stride
    hi = (size - 1 - off) // stride + 1 if size - 1 - off >= 0 else 0
    if hi > n_out:
        hi = n_out
    if lo > hi:
        lo = hi
    return lo, hi


# --------------------------------------------------------------------------------------------
# convolution: im2col / col2im of one sample and one group
# --------------------------------------------------------------------------------------------
@njit
def _im2col(xn, c0, cg, kh, kw, stride, padding, dilation, ho, wo, col):
    """col[(c*kh + i)*kw + j, oh*wo + ow] = xpad[c0 + c, oh*s + i*d, ow*s + j*d]."""
    h = xn.shape[1]
    w = xn.shape[2]
    for c in range(cg):
        for i in range(kh):
            roff = i * dilation - padding
            rlo, rhi = _valid_range(roff, stride, h, ho)
            for j in range(kw):
                r = (c * kh + i) * kw + j
                coff = j * dilation - padding
                clo, chi = _valid_range(coff, stride, w, wo)
                for oh in range(ho):
                    base = oh * wo
                    if oh < rlo or oh >= rhi:
                        for ow in range(wo):
                            col[r, base + ow] = 0
                        continue
                    src = xn[c0 + c, oh * stride + roff]
                    for ow in range(clo):
                        col[r, base + ow] = 0
                    if stride == 1:
                        for ow in range(clo, chi):
                            col[r, base + ow] = src[ow + coff]
                    else:
                        for ow in range(clo, chi):
                            col[r, base + ow] = src[ow * stride + coff]
                    for ow in range(chi, wo):
                        col[r, base + ow] = 0


@njit
def _col2im_add(dcol, dxn, c0, cg, kh, kw, stride, padding, dilation, ho, wo):
    """Adjoint of :func:`_im2col`: dxn[c0 + c, ...] += scattered dcol."""
    h = dxn.shape[1]
    w = dxn.shape[2]
    for c in range(cg):
        for i in range(kh):
            roff = i * dilation - padding
            rlo, rhi = _valid_range(roff, stride, h, ho)
            for j in range(kw):
                r = (c * kh + i) * kw + j
                coff = j * dilation - padding
                clo, chi = _valid_range(coff, stride, w, wo)
                for oh in range(rlo, rhi):
                    dst = dxn[c0 + c, oh * stride + roff]
                    base = oh * wo
                    if stride == 1:
                        for ow in range(clo, chi):
                            dst[ow + coff] += dcol[r, base + ow]
                    else:
                        for ow in range(clo, chi):
                            dst[ow * stride + coff] += dcol[r, base + ow]


@njit(parallel=True)
def conv2d_forward(x, w, stride, padding, dilation, groups):
    """See :func:`archmodel.backends.numpy.conv.conv2d_forward`."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    ho = _out_size(h, kh, stride, padding, dilation)
    wo = _out_size(wd, kw, stride, padding, dilation)
    g = groups
    coutg = cout // g
    k = cg * kh * kw
    ll = ho * wo
    w3 = w.reshape(g, coutg, k)
    y = np.empty((n, g, coutg, ll), dtype=x.dtype)
    direct = kh == 1 and kw == 1 and stride == 1 and padding == 0
    x4 = x.reshape(n, g, cg, h * wd)
    for s in prange(n):
        col = np.empty((k, ll), dtype=x.dtype)
        for gi in range(g):
            if direct:
                np.dot(w3[gi], x4[s, gi], y[s, gi])
            else:
                _im2col(x[s], gi * cg, cg, kh, kw, stride, padding, dilation, ho, wo, col)
                np.dot(w3[gi], col, y[s, gi])
    return y.reshape(n, cout, ho, wo)


@njit(parallel=True)
def conv2d_backward(dy, x, w, stride, padding, dilation, groups):
    """See :func:`archmodel.backends.numpy.conv.conv2d_backward`."""
    dy = np.ascontiguousarray(dy)
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    ho = dy.shape[2]
    wo = dy.shape[3]
    g = groups
    coutg = cout // g
    k = cg * kh * kw
    ll = ho * wo
    w3 = w.reshape(g, coutg, k)
    dy4 = dy.reshape(n, g, coutg, ll)
    direct = kh == 1 and kw == 1 and stride == 1 and padding == 0
    x4 = x.reshape(n, g, cg, h * wd)
    dx = np.zeros((n, c, h, wd), dtype=x.dtype)
    dx4 = dx.reshape(n, g, cg, h * wd)
    nchunk = min(n, numba.get_num_threads())
    dwp = np.zeros((nchunk, g, coutg, k), dtype=x.dtype)
    for t in prange(nchunk):
        col = np.empty((k, ll), dtype=x.dtype)
        dcol = np.empty((k, ll), dtype=x.dtype)
        tmp = np.empty((coutg, k), dtype=x.dtype)
        lo = t * n // nchunk
        hi = (t + 1) * n // nchunk
        for s in range(lo, hi):
            for gi in range(g):
                dys = dy4[s, gi]
                if direct:
                    np.dot(dys, x4[s, gi].T, tmp)
                    np.dot(w3[gi].T, dys, dx4[s, gi])
                else:
                    _im2col(x[s], gi * cg, cg, kh, kw, stride, padding, dilation, ho, wo, col)
                    np.dot(dys, col.T, tmp)
                    np.dot(w3[gi].T, dys, dcol)
                    _col2im_add(dcol, dx[s], gi * cg, cg, kh, kw, stride, padding, dilation,
                                ho, wo)
                dwp[t, gi] += tmp
    dw = np.zeros((g, coutg, k), dtype=x.dtype)
    for t in range(nchunk):
        dw += dwp[t]
    return dx, dw.reshape(cout, cg, kh, kw)


# --------------------------------------------------------------------------------------------
# batch normalisation
# --------------------------------------------------------------------------------------------
@njit(parallel=True)
def batchnorm_forward_train(x, gamma, beta, eps):
    """See :func:`archmodel.backends.numpy.conv.batchnorm_forward_train`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    hw = h * w
    m = n * hw
    x3 = x.reshape(n, c, hw)
    y = np.empty_like(x)
    y3 = y.reshape(n, c, hw)
    mean = np.empty(c, dtype=x.dtype)
    var = np.empty(c, dtype=x.dtype)
    invstd = np.empty(c, dtype=x.dtype)
    for ch in prange(c):
        acc = 0.0
        for s in range(n):
            for p in range(hw):
                acc += x3[s, ch, p]
        mu = acc / m
        mu_t = x.dtype.type(mu)
        acc2 = 0.0
        for s in range(n):
            for p in range(hw):
                d = x3[s, ch, p] - mu_t
                acc2 += d * d
        v = acc2 / m
        inv = 1.0 / math.sqrt(v + eps)
        mean[ch] = mu
        var[ch] = v
        invstd[ch] = inv
        scale = x.dtype.type(inv * gamma[ch])
        b = x.dtype.type(beta[ch])
        for s in range(n):
            for p in range(hw):
                y3[s, ch, p] = (x3[s, ch, p] - mu_t) * scale + b
    return y, mean, var, invstd


@njit(parallel=True)
def batchnorm_backward(dy, x, gamma, mean, invstd):
    """See :func:`archmodel.backends.numpy.conv.batchnorm_backward`."""
    dy = np.ascontiguousarray(dy)
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    hw = h * w
    m = n * hw
    x3 = x.reshape(n, c, hw)
    dy3 = dy.reshape(n, c, hw)
    dx = np.empty_like(x)
    dx3 = dx.reshape(n, c, hw)
    dgamma = np.empty(c, dtype=x.dtype)
    dbeta = np.empty(c, dtype=x.dtype)
    for ch in prange(c):
        mu = mean[ch]
        inv = invstd[ch]
        sb = 0.0
        sg = 0.0
        for s in range(n):
            for p in range(hw):
                g = dy3[s, ch, p]
                sb += g
                sg += g * ((x3[s, ch, p] - mu) * inv)
        dbeta[ch] = sb
        dgamma[ch] = sg
        k = x.dtype.type(gamma[ch] * inv / m)
        sb_t = x.dtype.type(sb)
        sg_t = x.dtype.type(sg)
        for s in range(n):
            for p in range(hw):
                xhat = (x3[s, ch, p] - mu) * inv
                dx3[s, ch, p] = k * (m * dy3[s, ch, p] - sb_t - xhat * sg_t)
    return dx, dgamma, dbeta


@njit(parallel=True)
def batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps):
    """See :func:`archmodel.backends.numpy.conv.batchnorm_forward_eval`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    hw = h * w
    x3 = x.reshape(n, c, hw)
    y = np.empty_like(x)
    y3 = y.reshape(n, c, hw)
    for q in prange(n * c):
        s = q // c
        ch = q % c
        inv = 1.0 / math.sqrt(np.float64(running_var[ch]) + eps)
        scale = x.dtype.type(inv * gamma[ch])
        shift = x.dtype.type(beta[ch] - running_mean[ch] * inv * gamma[ch])
        for p in range(hw):
            y3[s, ch, p] = x3[s, ch, p] * scale + shift
    return y


@njit(parallel=True)
def batchnorm_backward_eval(dy, x, gamma, running_mean, running_var, eps):
    """See :func:`archmodel.backends.numpy.conv.batchnorm_backward_eval`."""
    dy = np.ascontiguousarray(dy)
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    hw = h * w
    x3 = x.reshape(n, c, hw)
    dy3 = dy.reshape(n, c, hw)
    dx = np.empty_like(x)
    dx3 = dx.reshape(n, c, hw)
    dgamma = np.empty(c, dtype=x.dtype)
    dbeta = np.empty(c, dtype=x.dtype)
    for ch in prange(c):
        inv = 1.0 / math.sqrt(np.float64(running_var[ch]) + eps)
        inv_t = x.dtype.type(inv)
        mu_t = x.dtype.type(running_mean[ch])
        k = x.dtype.type(inv * gamma[ch])
        sb = 0.0
        sg = 0.0
        for s in range(n):
            for p in range(hw):
                g = dy3[s, ch, p]
                sb += g
                sg += g * ((x3[s, ch, p] - mu_t) * inv_t)
                dx3[s, ch, p] = g * k
        dbeta[ch] = sb
        dgamma[ch] = sg
    return dx, dgamma, dbeta


@njit
def batchnorm_update_running(running_mean, running_var, mean, var, count, momentum):
    """See :func:`archmodel.backends.numpy.conv.batchnorm_update_running`."""
    f = count / (count - 1) if count > 1 else 1.0
    c = running_mean.shape[0]
    new_mean = np.empty_like(running_mean)
    new_var = np.empty_like(running_var)
    for ch in range(c):
        new_mean[ch] = (1.0 - momentum) * running_mean[ch] + momentum * mean[ch]
        new_var[ch] = (1.0 - momentum) * running_var[ch] + momentum * (var[ch] * f)
    return new_mean, new_var


# --------------------------------------------------------------------------------------------
# activation
# --------------------------------------------------------------------------------------------
@njit(parallel=True)
def relu_forward(x):
    """See :func:`archmodel.backends.numpy.conv.relu_forward`."""
    xf = np.ascontiguousarray(x).reshape(-1)
    y = np.empty_like(xf)
    zero = x.dtype.type(0)
    for i in prange(xf.size):
        v = xf[i]
        y[i] = v if v > zero else zero
    return y.reshape(x.shape)


@njit(parallel=True)
def relu_backward(dy, x):
    """See :func:`archmodel.backends.numpy.conv.relu_backward`."""
    xf = np.ascontiguousarray(x).reshape(-1)
    df = np.ascontiguousarray(dy).reshape(-1)
    dx = np.empty_like(df)
    zero = dy.dtype.type(0)
    for i in prange(xf.size):
        dx[i] = df[i] if xf[i] > 0 else zero
    return dx.reshape(dy.shape)


# --------------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------------
@njit
def _avg_count(oh, ow, h, w, kernel, stride, padding, count_include_pad):
    if count_include_pad:
        return kernel * kernel
    r0 = oh * stride - padding
    c0 = ow * stride - padding
    r1 = min(r0 + kernel, h)
    c1 = min(c0 + kernel, w)
    r0 = max(r0, 0)
    c0 = max(c0, 0)
    return (r1 - r0) * (c1 - c0)


@njit(parallel=True)
def avg_pool2d_forward(x, kernel, stride, padding, count_include_pad):
    """See :func:`archmodel.backends.numpy.conv.avg_pool2d_forward`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho = _out_size(h, kernel, stride, padding, 1)
    wo = _out_size(w, kernel, stride, padding, 1)
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    for q in prange(n * c):
        s = q // c
        ch = q % c
        plane = x[s, ch]
        for oh in range(ho):
            r0 = oh * stride - padding
            rlo = max(r0, 0)
            rhi = min(r0 + kernel, h)
            for ow in range(wo):
                c0 = ow * stride - padding
                clo = max(c0, 0)
                chi = min(c0 + kernel, w)
                acc = x.dtype.type(0)
                for r in range(rlo, rhi):
                    for cc in range(clo, chi):
                        acc += plane[r, cc]
                cnt = _avg_count(oh, ow, h, w, kernel, stride, padding, count_include_pad)
                y[s, ch, oh, ow] = acc / cnt
    return y


@njit(parallel=True)
def avg_pool2d_backward(dy, h, w, kernel, stride, padding, count_include_pad):
    """See :func:`archmodel.backends.numpy.conv.avg_pool2d_backward`."""
    dy = np.ascontiguousarray(dy)
    n, c, ho, wo = dy.shape
    dx = np.zeros((n, c, h, w), dtype=dy.dtype)
    for q in prange(n * c):
        s = q // c
        ch = q % c
        plane = dx[s, ch]
        for oh in range(ho):
            r0 = oh * stride - padding
            rlo = max(r0, 0)
            rhi = min(r0 + kernel, h)
            for ow in range(wo):
                c0 = ow * stride - padding
                clo = max(c0, 0)
                chi = min(c0 + kernel, w)
                cnt = _avg_count(oh, ow, h, w, kernel, stride, padding, count_include_pad)
                g = dy[s, ch, oh, ow] / cnt
                for r in range(rlo, rhi):
                    for cc in range(clo, chi):
                        plane[r, cc] += g
    return dx


@njit(parallel=True)
def max_pool2d_forward(x, kernel, stride, padding):
    """See :func:`archmodel.backends.numpy.conv.max_pool2d_forward`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho = _out_size(h, kernel, stride, padding, 1)
    wo = _out_size(w, kernel, stride, padding, 1)
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    am = np.empty((n, c, ho, wo), dtype=np.int64)
    for q in prange(n * c):
        s = q // c
        ch = q % c
        plane = x[s, ch]
        for oh in range(ho):
            r0 = oh * stride - padding
            rlo = max(r0, 0)
            rhi = min(r0 + kernel, h)
            for ow in range(wo):
                c0 = ow * stride - padding
                clo = max(c0, 0)
                chi = min(c0 + kernel, w)
                best = -np.inf
                bi = rlo * w + clo
                for r in range(rlo, rhi):
                    for cc in range(clo, chi):
                        v = plane[r, cc]
                        if v > best:
                            best = v
                            bi = r * w + cc
                y[s, ch, oh, ow] = best
                am[s, ch, oh, ow] = bi
    return y, am


@njit(parallel=True)
def max_pool2d_backward(dy, argmax, h, w):
    """See :func:`archmodel.backends.numpy.conv.max_pool2d_backward`."""
    dy = np.ascontiguousarray(dy)
    argmax = np.ascontiguousarray(argmax)
    n, c, ho, wo = dy.shape
    dx = np.zeros((n, c, h * w), dtype=dy.dtype)
    for q in prange(n * c):
        s = q // c
        ch = q % c
        for oh in range(ho):
            for ow in range(wo):
                dx[s, ch, argmax[s, ch, oh, ow]] += dy[s, ch, oh, ow]
    return dx.reshape(n, c, h, w)


@njit(parallel=True)
def global_avg_pool_forward(x):
    """See :func:`archmodel.backends.numpy.conv.global_avg_pool_forward`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    hw = h * w
    x3 = x.reshape(n, c, hw)
    y = np.empty((n, c), dtype=x.dtype)
    for q in prange(n * c):
        s = q // c
        ch = q % c
        acc = 0.0
        for p in range(hw):
            acc += x3[s, ch, p]
        y[s, ch] = acc / hw
    return y


@njit(parallel=True)
def global_avg_pool_backward(dy, h, w):
    """See :func:`archmodel.backends.numpy.conv.global_avg_pool_backward`."""
    n, c = dy.shape
    hw = h * w
    dx = np.empty((n, c, hw), dtype=dy.dtype)
    for q in prange(n * c):
        s = q // c
        ch = q % c
        g = dy.dtype.type(dy[s, ch] / hw)
        for p in range(hw):
            dx[s, ch, p] = g
    return dx.reshape(n, c, h, w)


# --------------------------------------------------------------------------------------------
# classifier
# --------------------------------------------------------------------------------------------
@njit
def linear_forward(x, w, b):
    """See :func:`archmodel.backends.numpy.conv.linear_forward`."""
    y = np.dot(np.ascontiguousarray(x), np.ascontiguousarray(w).T)
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] += b[j]
    return y


@njit
def linear_backward(dy, x, w):
    """See :func:`archmodel.backends.numpy.conv.linear_backward`."""
    dy = np.ascontiguousarray(dy)
    dx = np.dot(dy, np.ascontiguousarray(w))
    dw = np.dot(dy.T, np.ascontiguousarray(x))
    db = np.zeros(dy.shape[1], dtype=dy.dtype)
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            db[j] += dy[i, j]
    return dx, dw, db


@njit
def softmax_cross_entropy(logits, labels):
    """See :func:`archmodel.backends.numpy.conv.softmax_cross_entropy`."""
    n, k = logits.shape
    d = np.empty((n, k), dtype=logits.dtype)
    total = 0.0
    for i in range(n):
        mx = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > mx:
                mx = logits[i, j]
        s = logits.dtype.type(0)
        for j in range(k):
            e = np.exp(logits[i, j] - mx)
            d[i, j] = e
            s += e
        total += np.log(s) - (logits[i, labels[i]] - mx)
        for j in range(k):
            d[i, j] = d[i, j] / s
        d[i, labels[i]] -= 1.0
        for j in range(k):
            d[i, j] = d[i, j] / n
    return total / n, d


# --------------------------------------------------------------------------------------------
# cell
# --------------------------------------------------------------------------------------------
@njit(parallel=True)
def sum_edges_forward(xs):
    """See :func:`archmodel.backends.numpy.conv.sum_edges_forward` (``xs``: a tuple)."""
    first = xs[0]
    y = np.empty(first.shape, dtype=first.dtype)
    yf = y.reshape(-1)
    f0 = np.ascontiguousarray(first).reshape(-1)
    for i in prange(yf.size):
        yf[i] = f0[i]
    for e in range(1, len(xs)):
        af = np.ascontiguousarray(xs[e]).reshape(-1)
        for i in prange(yf.size):
            yf[i] += af[i]
    return y


def sum_edges_backward(dy: np.ndarray, n_edges: int) -> tuple[np.ndarray, ...]:
    """See :func:`archmodel.backends.numpy.conv.sum_edges_backward` (no computation, so not
    jitted)."""
    return (dy,) * n_edges
