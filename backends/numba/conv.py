"""Convolution-network kernels, Numba backend.

Same names, signatures and results as :mod:`archmodel.backends.numpy.conv` (the
specification; see its docstrings there).

Design
------
* The convolution is im2col + BLAS (``np.dot`` inside Numba calls scipy's BLAS). At stride 1
  the column matrix is built from contiguous slices of zero-padded planes (computing over the
  padded width and dropping the extra positions), several samples per GEMM; 1x1 convolutions
  need no column matrix; other strides use a general im2col.
* Parallelism is over the batch (or channels / planes / elements for the other kernels): the
  jitted chunk functions release the GIL and ``numba.get_num_threads()`` threads (or
  ``NUMBA_NUM_THREADS`` while Numba's own threading layer is not started) take chunks from a
  shared counter, 4 chunks per thread; small arrays run on the calling thread. This compiles
  several times faster than ``prange`` with the same speed. Results do not depend on the
  thread count or on which thread ran a chunk, except that the batch is split into chunks
  differently for another thread count (the weight gradient is summed per chunk).
* BLAS must be single-threaded under that parallelism: several threads each calling a
  multi-threaded OpenBLAS oversubscribe the cores and can be 10-100x slower. The parallel
  regions therefore limit BLAS to one thread themselves (threadpoolctl, when installed);
  single-chunk calls leave the caller's setting alone (``archmodel.utils.blas_threads(1)``).
  Importing this module loads the BLAS that Numba calls (scipy's), so that a limit set later
  by the caller covers it too.
* Statistics (batch norm, global pooling, softmax) are accumulated in float64.
* The public kernels are thin Python functions (argument layout, output allocation, dispatch);
  all arithmetic happens in jitted code.
"""
from __future__ import annotations

import itertools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS np.dot calls inside Numba; see above)

from archmodel.backends.numba._jit import njit

#: Element-wise kernels on fewer elements than this run on the calling thread only, and so do
#: convolutions of fewer multiply-accumulates than :data:`PARALLEL_MIN_MACS`: below these a
#: thread hand-off (~70 us on a 2-core VM) costs more than the work it shares. Measured on the
#: micro-benchmark's networks (C=8, 8x8, batch 32), two threads with the earlier limits of 2^15
#: for both were 1.3-1.8x *slower* per training step than one.
PARALLEL_MIN_ELEMENTS = 1 << 18
PARALLEL_MIN_MACS = 1 << 24

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="archmodel-conv")
            _pool_size = n
        return _pool


def _max_threads() -> int:
    """``numba.get_num_threads()`` (so ``numba.set_num_threads`` applies), without starting
    Numba's own threading layer when nothing has started it (these kernels do not use it)."""
    try:
        from numba.np.ufunc import parallel

        started = bool(getattr(parallel, "_is_initialized", True))
    except ImportError:  # pragma: no cover
        started = True
    return numba.get_num_threads() if started else int(numba.config.NUMBA_NUM_THREADS)


#: Chunks per thread: the threads take chunks from a shared counter, so a thread slowed down
#: by other processes on its core does fewer of them.
CHUNKS_PER_THREAD = 4


def _n_chunks(n_items: int, work: int, min_work: int | None = None) -> int:
    """How many chunks to split ``n_items`` independent items of total ``work`` into (one
    below ``min_work``, default :data:`PARALLEL_MIN_ELEMENTS`, read at call time)."""
    if work < (PARALLEL_MIN_ELEMENTS if min_work is None else min_work) or n_items < 2:
        return 1
    return max(1, min(_max_threads() * CHUNKS_PER_THREAD, n_items))


def _single_thread_blas() -> Any:
    """A context limiting every loaded BLAS to one thread (:func:`archmodel.utils.blas_threads`)."""
    from archmodel.utils import blas_threads

    return blas_threads(1)


def _run(fn: Callable[..., Any], nchunk: int, *args: Any) -> None:
    """Call ``fn(t, nchunk, *args)`` for every t in range(nchunk) (``fn`` is jitted nogil).

    Up to ``_max_threads()`` threads (the caller's and pool threads) take chunk indices from a
    shared counter. Which thread runs a chunk does not change the result: each chunk writes
    its own outputs (and its own partial sums, reduced in chunk order afterwards).
    """
    nthreads = min(_max_threads(), nchunk)
    if nthreads <= 1:
        for t in range(nchunk):
            fn(t, nchunk, *args)
        return
    counter = itertools.count()

    def worker() -> None:
        while True:
            t = next(counter)            # atomic under the GIL
            if t >= nchunk:
                return
            fn(t, nchunk, *args)

    pool = _get_pool(nthreads - 1)
    with _single_thread_blas():
        futures = [pool.submit(worker) for _ in range(nthreads - 1)]
        try:
            worker()
        finally:
            for f in futures:
                f.result()


@njit
def _bounds(t, nchunk, n):
    return t * n // nchunk, (t + 1) * n // nchunk


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
# convolution helpers
#
# Hot loops copy between 1-D views indexed by a ``range`` variable: Numba then knows the index
# is non-negative, skips the wrap-around check and LLVM vectorises the loop (5x faster than
# indexing with ``base + q``).
# --------------------------------------------------------------------------------------------
@njit
def _im2col(xn, c0, cg, kh, kw, stride, padding, dilation, ho, wo, col):
    """General im2col of one sample and group:
    ``col[(c*kh + i)*kw + j, oh*wo + ow] = xpad[c0 + c, oh*s + i*d, ow*s + j*d]``."""
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
                crow = col[r]
                for oh in range(ho):
                    dst = crow[oh * wo:(oh + 1) * wo]
                    if oh < rlo or oh >= rhi:
                        for ow in range(wo):
                            dst[ow] = 0
                        continue
                    src = xn[c0 + c, oh * stride + roff]
                    for ow in range(clo):
                        dst[ow] = 0
                    for ow in range(chi - clo):
                        dst[clo + ow] = src[(clo + ow) * stride + coff]
                    for ow in range(chi, wo):
                        dst[ow] = 0


@njit
def _col2im_add(dcol, dxn, c0, cg, kh, kw, stride, padding, dilation, ho, wo):
    """Adjoint of :func:`_im2col`: ``dxn[c0 + c, ...] +=`` the scattered ``dcol``."""
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
                crow = dcol[r]
                for oh in range(rlo, rhi):
                    dst = dxn[c0 + c, oh * stride + roff]
                    src = crow[oh * wo:(oh + 1) * wo]
                    for ow in range(chi - clo):
                        dst[(clo + ow) * stride + coff] += src[clo + ow]


#: Stride-1 path: samples are batched into one GEMM until a block has about this many output
#: positions, capped so that the column buffer stays in L2.
_TARGET_COLS = 1024
_MAX_COL_FLOATS = 262144


@njit
def _block_size(lp, k, per_chunk):
    cols = min(_TARGET_COLS, max(lp, _MAX_COL_FLOATS // max(k, 1)))
    b = max(1, cols // lp)
    return min(b, max(per_chunk, 1))


@njit
def _pad_group(xs, gi, cg, padding, wp, plane, xpad):
    """Copy the channels of group ``gi`` of one sample into the zero-bordered flat planes."""
    h = xs.shape[1]
    w = xs.shape[2]
    for cc in range(cg):
        ch = gi * cg + cc
        for hh in range(h):
            base = ch * plane + (hh + padding) * wp + padding
            dst = xpad[base:base + w]
            src = xs[ch, hh]
            for ww in range(w):
                dst[ww] = src[ww]


@njit
def _shift_col(xpad, gi, cg, kh, kw, dilation, wp, plane, lp, col, c0):
    """Stride-1 im2col: row (c, i, j) is one contiguous slice of the padded planes.

    ``col[r, c0 + oh*wp + ow] = xpad[c, oh + i*d, ow + j*d]`` for ``ow < wp``; the positions
    with ``ow >= wo`` are junk (they straddle two rows) and the callers drop them.
    """
    for cc in range(cg):
        ch = gi * cg + cc
        for i in range(kh):
            for j in range(kw):
                r = (cc * kh + i) * kw + j
                off = ch * plane + i * dilation * wp + j * dilation
                dst = col[r, c0:c0 + lp]
                src = xpad[off:off + lp]
                for q in range(lp):
                    dst[q] = src[q]


@njit
def _fwd_direct(x, w3, y, lo, hi, g, cg, coutg):
    """1x1, stride 1, no padding: ``y[s] = w @ x[s]`` per group, straight into ``y``."""
    n, c, h, wd = x.shape
    hw = h * wd
    x4 = x.reshape(n, g, cg, hw)
    y4 = y.reshape(n, g, coutg, hw)
    for s in range(lo, hi):
        for gi in range(g):
            np.dot(w3[gi], x4[s, gi], y4[s, gi])


@njit
def _fwd_shift(x, w3, y, lo, hi, g, cg, coutg, kh, kw, padding, dilation, bmax):
    n, c, h, wd = x.shape
    ho = y.shape[2]
    wo = y.shape[3]
    k = cg * kh * kw
    hp = h + 2 * padding
    wp = wd + 2 * padding
    plane = hp * wp
    lp = ho * wp
    xpad = np.zeros(c * plane + dilation * (kw - 1), dtype=x.dtype)
    colbuf = np.empty(k * bmax * lp, dtype=x.dtype)
    ybuf = np.empty(coutg * bmax * lp, dtype=x.dtype)
    s = lo
    while s < hi:
        b = min(bmax, hi - s)
        m = b * lp
        col = colbuf[:k * m].reshape(k, m)
        yt = ybuf[:coutg * m].reshape(m, coutg)
        for gi in range(g):
            for bi in range(b):
                _pad_group(x[s + bi], gi, cg, padding, wp, plane, xpad)
                _shift_col(xpad, gi, cg, kh, kw, dilation, wp, plane, lp, col, bi * lp)
            # (m, k) @ (k, coutg): a long, thin output is faster and steadier in OpenBLAS
            # than (coutg, k) @ (k, m)
            np.dot(col.T, w3[gi].T, yt)
            for bi in range(b):
                for co in range(coutg):
                    for oh in range(ho):
                        base = bi * lp + oh * wp
                        src = yt[base:base + wo, co]
                        dst = y[s + bi, gi * coutg + co, oh]
                        for ow in range(wo):
                            dst[ow] = src[ow]
        s += b


@njit
def _fwd_general(x, w3, y, lo, hi, g, cg, coutg, kh, kw, stride, padding, dilation):
    n = x.shape[0]
    ho = y.shape[2]
    wo = y.shape[3]
    ll = ho * wo
    k = cg * kh * kw
    y4 = y.reshape(n, g, coutg, ll)
    col = np.empty((k, ll), dtype=x.dtype)
    yt = np.empty((ll, coutg), dtype=x.dtype)
    for s in range(lo, hi):
        for gi in range(g):
            _im2col(x[s], gi * cg, cg, kh, kw, stride, padding, dilation, ho, wo, col)
            np.dot(col.T, w3[gi].T, yt)
            for co in range(coutg):
                dst = y4[s, gi, co]
                src = yt[:, co]
                for p in range(ll):
                    dst[p] = src[p]


@njit
def _bwd_direct(dy, x, w3, dx, dwt, lo, hi, g, cg, coutg):
    """1x1, stride 1, no padding. ``dwt``: (g, cg, coutg) accumulator of dW^T."""
    n, c, h, wd = x.shape
    hw = h * wd
    x4 = x.reshape(n, g, cg, hw)
    dx4 = dx.reshape(n, g, cg, hw)
    dy4 = dy.reshape(n, g, coutg, hw)
    tmp = np.empty((coutg, cg), dtype=x.dtype)
    for s in range(lo, hi):
        for gi in range(g):
            np.dot(dy4[s, gi], x4[s, gi].T, tmp)
            acc = dwt[gi]
            for co in range(coutg):
                src = tmp[co]
                for cc in range(cg):
                    acc[cc, co] += src[cc]
            np.dot(w3[gi].T, dy4[s, gi], dx4[s, gi])


@njit
def _bwd_shift(dy, x, w3, dx, dwt, lo, hi, g, cg, coutg, kh, kw, padding, dilation, bmax):
    n, c, h, wd = x.shape
    ho = dy.shape[2]
    wo = dy.shape[3]
    k = cg * kh * kw
    hp = h + 2 * padding
    wp = wd + 2 * padding
    plane = hp * wp
    lp = ho * wp
    slack = dilation * (kw - 1)
    xpad = np.zeros(c * plane + slack, dtype=x.dtype)
    dxpad = np.zeros(c * plane + slack, dtype=x.dtype)
    colbuf = np.empty(k * bmax * lp, dtype=x.dtype)
    dcolbuf = np.empty(k * bmax * lp, dtype=x.dtype)
    # zero once: the junk positions (ow >= wo) are never written, so their gradient stays 0
    dybuf = np.zeros(coutg * bmax * lp, dtype=x.dtype)
    tmp = np.empty((k, coutg), dtype=x.dtype)
    s = lo
    while s < hi:
        b = min(bmax, hi - s)
        m = b * lp
        col = colbuf[:k * m].reshape(k, m)
        dcol = dcolbuf[:k * m].reshape(k, m)
        dyt = dybuf[:coutg * m].reshape(m, coutg)
        for gi in range(g):
            for bi in range(b):
                _pad_group(x[s + bi], gi, cg, padding, wp, plane, xpad)
                _shift_col(xpad, gi, cg, kh, kw, dilation, wp, plane, lp, col, bi * lp)
                for co in range(coutg):
                    for oh in range(ho):
                        base = bi * lp + oh * wp
                        dst = dyt[base:base + wo, co]
                        src = dy[s + bi, gi * coutg + co, oh]
                        for ow in range(wo):
                            dst[ow] = src[ow]
            np.dot(col, dyt, tmp)                       # dW^T of this block, (k, coutg)
            acc = dwt[gi]
            for r in range(k):
                a = acc[r]
                t = tmp[r]
                for co in range(coutg):
                    a[co] += t[co]
            np.dot(w3[gi].T, dyt.T, dcol)               # (k, m)
            for bi in range(b):
                z = dxpad[gi * cg * plane:(gi + 1) * cg * plane + slack]
                for q in range(z.size):
                    z[q] = 0
                for cc in range(cg):
                    ch = gi * cg + cc
                    for i in range(kh):
                        for j in range(kw):
                            r = (cc * kh + i) * kw + j
                            off = ch * plane + i * dilation * wp + j * dilation
                            dst = dxpad[off:off + lp]
                            src = dcol[r, bi * lp:(bi + 1) * lp]
                            for q in range(lp):
                                dst[q] += src[q]
                for cc in range(cg):
                    ch = gi * cg + cc
                    for hh in range(h):
                        base = ch * plane + (hh + padding) * wp + padding
                        src = dxpad[base:base + wd]
                        dst = dx[s + bi, ch, hh]
                        for ww in range(wd):
                            dst[ww] = src[ww]
        s += b


@njit
def _bwd_general(dy, x, w3, dx, dwt, lo, hi, g, cg, coutg, kh, kw, stride, padding, dilation):
    n = x.shape[0]
    ho = dy.shape[2]
    wo = dy.shape[3]
    ll = ho * wo
    k = cg * kh * kw
    dy4 = dy.reshape(n, g, coutg, ll)
    col = np.empty((k, ll), dtype=x.dtype)
    dcol = np.empty((k, ll), dtype=x.dtype)
    tmp = np.empty((k, coutg), dtype=x.dtype)
    for s in range(lo, hi):
        for gi in range(g):
            dys = dy4[s, gi]
            _im2col(x[s], gi * cg, cg, kh, kw, stride, padding, dilation, ho, wo, col)
            np.dot(col, dys.T, tmp)
            acc = dwt[gi]
            for r in range(k):
                a = acc[r]
                t = tmp[r]
                for co in range(coutg):
                    a[co] += t[co]
            np.dot(w3[gi].T, dys, dcol)
            _col2im_add(dcol, dx[s], gi * cg, cg, kh, kw, stride, padding, dilation, ho, wo)


@njit
def _conv_fwd_chunk(t, nchunk, x, w3, y, g, cg, coutg, kh, kw, stride, padding, dilation,
                    bmax):
    lo, hi = _bounds(t, nchunk, x.shape[0])
    if kh == 1 and kw == 1 and stride == 1 and padding == 0:
        _fwd_direct(x, w3, y, lo, hi, g, cg, coutg)
    elif stride == 1:
        _fwd_shift(x, w3, y, lo, hi, g, cg, coutg, kh, kw, padding, dilation, bmax)
    else:
        _fwd_general(x, w3, y, lo, hi, g, cg, coutg, kh, kw, stride, padding, dilation)


@njit
def _conv_bwd_chunk(t, nchunk, dy, x, w3, dx, dwp, g, cg, coutg, kh, kw, stride, padding,
                    dilation, bmax):
    lo, hi = _bounds(t, nchunk, x.shape[0])
    dwt = dwp[t]
    if kh == 1 and kw == 1 and stride == 1 and padding == 0:
        _bwd_direct(dy, x, w3, dx, dwt, lo, hi, g, cg, coutg)
    elif stride == 1:
        _bwd_shift(dy, x, w3, dx, dwt, lo, hi, g, cg, coutg, kh, kw, padding, dilation, bmax)
    else:
        _bwd_general(dy, x, w3, dx, dwt, lo, hi, g, cg, coutg, kh, kw, stride, padding,
                     dilation)


@njit
def _sum_dw(dwp, dw):
    """dw[g, co, r] = sum_t dwp[t, g, r, co]."""
    for t in range(dwp.shape[0]):
        for gi in range(dwp.shape[1]):
            for r in range(dwp.shape[2]):
                for co in range(dwp.shape[3]):
                    dw[gi, co, r] += dwp[t, gi, r, co]


def _conv_out(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: int, padding: int, dilation: int,
                   groups: int) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.conv2d_forward`."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    stride, padding, dilation, g = int(stride), int(padding), int(dilation), int(groups)
    ho = _conv_out(h, kh, stride, padding, dilation)
    wo = _conv_out(wd, kw, stride, padding, dilation)
    coutg = cout // g
    k = cg * kh * kw
    y = np.empty((n, cout, ho, wo), dtype=x.dtype)
    nchunk = _n_chunks(n, n * cout * ho * wo * k, min_work=PARALLEL_MIN_MACS)
    bmax = _block_size(ho * (wd + 2 * padding), k, -(-n // nchunk))
    _run(_conv_fwd_chunk, nchunk, x, w.reshape(g, coutg, k), y, g, cg, coutg, kh, kw, stride,
         padding, dilation, bmax)
    return y


def conv2d_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, padding: int,
                    dilation: int, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.conv2d_backward`. The weight gradient is
    summed per chunk of samples, then over chunks."""
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    stride, padding, dilation, g = int(stride), int(padding), int(dilation), int(groups)
    coutg = cout // g
    k = cg * kh * kw
    dx = np.zeros_like(x)
    nchunk = _n_chunks(n, dy.size * k, min_work=PARALLEL_MIN_MACS)
    dwp = np.zeros((nchunk, g, k, coutg), dtype=x.dtype)
    bmax = _block_size(dy.shape[2] * (wd + 2 * padding), k, -(-n // nchunk))
    _run(_conv_bwd_chunk, nchunk, dy, x, w.reshape(g, coutg, k), dx, dwp, g, cg, coutg, kh, kw,
         stride, padding, dilation, bmax)
    dw = np.zeros((g, coutg, k), dtype=x.dtype)
    _sum_dw(dwp, dw)
    return dx, dw.reshape(cout, cg, kh, kw)


# --------------------------------------------------------------------------------------------
# batch normalisation
# --------------------------------------------------------------------------------------------
# Channel sums accumulate in float64 in LANES independent partial sums (element p goes to
# lane p % LANES, lanes added at the end): a fixed order, so results do not depend on threads,
# and no chain of dependent additions (one accumulator made the batch-norm passes
# latency-bound: 3.6 ns per element).
LANES = 8


@njit
def _channel_sum(x3, ch, mu, square):
    """``sum over (sample, position) of d`` (``square``: of ``d^2``) with ``d = x3[s, ch, p] - mu``
    (the subtraction in the array dtype, as NumPy), in float64 lanes."""
    n, _, hw = x3.shape
    acc = np.zeros(LANES)
    for s in range(n):
        row = x3[s, ch]
        full = hw - hw % LANES
        for p in range(0, full, LANES):
            for j in range(LANES):
                d = row[p + j] - mu
                acc[j] += d * d if square else d
        for p in range(full, hw):
            d = row[p] - mu
            acc[p % LANES] += d * d if square else d
    return acc.sum()


@njit
def _channel_grad_sums(dy3, x3, ch, mu, inv):
    """``(sum dy, sum dy * (x - mu) * inv)`` over one channel, in float64 lanes."""
    n, _, hw = x3.shape
    sb = np.zeros(LANES)
    sg = np.zeros(LANES)
    for s in range(n):
        g = dy3[s, ch]
        row = x3[s, ch]
        full = hw - hw % LANES
        for p in range(0, full, LANES):
            for j in range(LANES):
                gr = g[p + j]
                sb[j] += gr
                sg[j] += gr * ((row[p + j] - mu) * inv)
        for p in range(full, hw):
            gr = g[p]
            sb[p % LANES] += gr
            sg[p % LANES] += gr * ((row[p] - mu) * inv)
    return sb.sum(), sg.sum()


@njit
def _bn_train_chunk(t, nchunk, x3, gamma, beta, eps, y3, mean, var, invstd):
    n, c, hw = x3.shape
    m = n * hw
    lo, hi = _bounds(t, nchunk, c)
    for ch in range(lo, hi):
        mean[ch] = _channel_sum(x3, ch, x3.dtype.type(0), False) / m
        mu = mean[ch]                      # rounded to the array dtype, as in NumPy
        v = _channel_sum(x3, ch, mu, True) / m
        inv = 1.0 / math.sqrt(v + eps)
        var[ch] = v
        invstd[ch] = inv
        scale = x3.dtype.type(inv * gamma[ch])
        b = x3.dtype.type(beta[ch])
        for s in range(n):
            for p in range(hw):
                y3[s, ch, p] = (x3[s, ch, p] - mu) * scale + b


def batchnorm_forward_train(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.batchnorm_forward_train`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    y = np.empty_like(x)
    mean = np.empty(c, dtype=x.dtype)
    var = np.empty(c, dtype=x.dtype)
    invstd = np.empty(c, dtype=x.dtype)
    _run(_bn_train_chunk, _n_chunks(c, x.size), x.reshape(n, c, h * w),
         np.asarray(gamma, dtype=np.float64), np.asarray(beta, dtype=np.float64), float(eps),
         y.reshape(n, c, h * w), mean, var, invstd)
    return y, mean, var, invstd


@njit
def _bn_bwd_chunk(t, nchunk, dy3, x3, gamma, mean, invstd, dx3, dgamma, dbeta):
    n, c, hw = x3.shape
    m = n * hw
    lo, hi = _bounds(t, nchunk, c)
    for ch in range(lo, hi):
        mu = mean[ch]
        inv = invstd[ch]
        sb, sg = _channel_grad_sums(dy3, x3, ch, mu, inv)
        dbeta[ch] = sb
        dgamma[ch] = sg
        k = x3.dtype.type(gamma[ch] * inv / m)
        sb_t = dbeta[ch]
        sg_t = dgamma[ch]
        for s in range(n):
            for p in range(hw):
                xhat = (x3[s, ch, p] - mu) * inv
                dx3[s, ch, p] = k * (m * dy3[s, ch, p] - sb_t - xhat * sg_t)


def batchnorm_backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, mean: np.ndarray,
                       invstd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.batchnorm_backward`."""
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    n, c, h, w = x.shape
    dx = np.empty_like(x)
    dgamma = np.empty(c, dtype=x.dtype)
    dbeta = np.empty(c, dtype=x.dtype)
    _run(_bn_bwd_chunk, _n_chunks(c, x.size), dy.reshape(n, c, h * w), x.reshape(n, c, h * w),
         np.asarray(gamma, dtype=x.dtype), np.asarray(mean, dtype=x.dtype),
         np.asarray(invstd, dtype=x.dtype), dx.reshape(n, c, h * w), dgamma, dbeta)
    return dx, dgamma, dbeta


@njit
def _bn_eval_chunk(t, nchunk, x3, scale, shift, y3):
    n, c, hw = x3.shape
    lo, hi = _bounds(t, nchunk, n * c)
    for q in range(lo, hi):
        s = q // c
        ch = q % c
        a = scale[ch]
        b = shift[ch]
        for p in range(hw):
            y3[s, ch, p] = x3[s, ch, p] * a + b


@njit
def _bn_eval_coeffs(gamma, beta, running_mean, running_var, eps, scale, shift):
    for ch in range(gamma.shape[0]):
        inv = 1.0 / math.sqrt(np.float64(running_var[ch]) + eps)
        scale[ch] = inv * gamma[ch]
        shift[ch] = beta[ch] - running_mean[ch] * inv * gamma[ch]


def batchnorm_forward_eval(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                           running_mean: np.ndarray, running_var: np.ndarray,
                           eps: float) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.batchnorm_forward_eval`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    scale = np.empty(c, dtype=x.dtype)
    shift = np.empty(c, dtype=x.dtype)
    _bn_eval_coeffs(np.asarray(gamma, dtype=np.float64), np.asarray(beta, dtype=np.float64),
                    np.asarray(running_mean, dtype=np.float64),
                    np.asarray(running_var, dtype=np.float64), float(eps), scale, shift)
    y = np.empty_like(x)
    _run(_bn_eval_chunk, _n_chunks(n * c, x.size), x.reshape(n, c, h * w), scale, shift,
         y.reshape(n, c, h * w))
    return y


@njit
def _bn_eval_bwd_chunk(t, nchunk, dy3, x3, mu, inv, k, dx3, dgamma, dbeta):
    n, c, hw = x3.shape
    lo, hi = _bounds(t, nchunk, c)
    for ch in range(lo, hi):
        sb, sg = _channel_grad_sums(dy3, x3, ch, mu[ch], inv[ch])
        kc = k[ch]
        for s in range(n):
            for p in range(hw):
                dx3[s, ch, p] = dy3[s, ch, p] * kc
        dbeta[ch] = sb
        dgamma[ch] = sg


def batchnorm_backward_eval(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                            running_mean: np.ndarray, running_var: np.ndarray,
                            eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.batchnorm_backward_eval`."""
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    n, c, h, w = x.shape
    inv64 = 1.0 / np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)
    k = (inv64 * gamma).astype(x.dtype)
    dx = np.empty_like(x)
    dgamma = np.empty(c, dtype=x.dtype)
    dbeta = np.empty(c, dtype=x.dtype)
    _run(_bn_eval_bwd_chunk, _n_chunks(c, x.size), dy.reshape(n, c, h * w),
         x.reshape(n, c, h * w), np.asarray(running_mean, dtype=x.dtype),
         inv64.astype(x.dtype), k, dx.reshape(n, c, h * w), dgamma, dbeta)
    return dx, dgamma, dbeta


@njit
def _bn_running(running_mean, running_var, mean, var, f, momentum, new_mean, new_var):
    for ch in range(running_mean.shape[0]):
        new_mean[ch] = (1.0 - momentum) * running_mean[ch] + momentum * mean[ch]
        new_var[ch] = (1.0 - momentum) * running_var[ch] + momentum * (var[ch] * f)


def batchnorm_update_running(running_mean: np.ndarray, running_var: np.ndarray,
                             mean: np.ndarray, var: np.ndarray, count: int,
                             momentum: float) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.batchnorm_update_running`."""
    f = count / (count - 1) if count > 1 else 1.0
    new_mean = np.empty_like(running_mean)
    new_var = np.empty_like(running_var)
    _bn_running(running_mean, running_var, np.asarray(mean, dtype=np.float64),
                np.asarray(var, dtype=np.float64), float(f), float(momentum), new_mean, new_var)
    return new_mean, new_var


# --------------------------------------------------------------------------------------------
# activation
# --------------------------------------------------------------------------------------------
@njit
def _relu_chunk(t, nchunk, xf, yf):
    lo, hi = _bounds(t, nchunk, xf.size)
    zero = xf.dtype.type(0)
    for i in range(lo, hi):
        v = xf[i]
        yf[i] = v if v > zero else zero


def relu_forward(x: np.ndarray) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.relu_forward`."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _run(_relu_chunk, _n_chunks(x.size, x.size), x.reshape(-1), y.reshape(-1))
    return y


@njit
def _relu_bwd_chunk(t, nchunk, df, xf, dxf):
    lo, hi = _bounds(t, nchunk, xf.size)
    zero = df.dtype.type(0)
    for i in range(lo, hi):
        dxf[i] = df[i] if xf[i] > 0 else zero


def relu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.relu_backward`."""
    dy = np.ascontiguousarray(dy)
    x = np.ascontiguousarray(x)
    dx = np.empty_like(dy)
    _run(_relu_bwd_chunk, _n_chunks(x.size, x.size), dy.reshape(-1), x.reshape(-1),
         dx.reshape(-1))
    return dx


# --------------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------------
@njit
def _avg_inv_count(h, w, kernel, stride, padding, count_include_pad, ho, wo, dtype_probe):
    """1 / divisor of each output position."""
    inv = np.empty((ho, wo), dtype=dtype_probe.dtype)
    for oh in range(ho):
        r0 = oh * stride - padding
        nr = min(r0 + kernel, h) - max(r0, 0)
        for ow in range(wo):
            if count_include_pad:
                cnt = kernel * kernel
            else:
                c0 = ow * stride - padding
                cnt = nr * (min(c0 + kernel, w) - max(c0, 0))
            inv[oh, ow] = 1.0 / cnt
    return inv


@njit
def _avg_fwd_chunk(t, nchunk, x, kernel, stride, padding, inv, y):
    """Separable window sums over a zero-padded plane: rows first, then columns."""
    n, c, h, w = x.shape
    ho = y.shape[2]
    wo = y.shape[3]
    hp = h + 2 * padding
    wp = w + 2 * padding
    xp = np.zeros((hp, wp), dtype=x.dtype)
    tmp = np.empty((hp, wo), dtype=x.dtype)
    lo, hi = _bounds(t, nchunk, n * c)
    for q in range(lo, hi):
        s = q // c
        ch = q % c
        plane = x[s, ch]
        for r in range(h):
            dst = xp[r + padding, padding:padding + w]
            src = plane[r]
            for cc in range(w):
                dst[cc] = src[cc]
        for r in range(hp):
            trow = tmp[r]
            xrow = xp[r]
            for ow in range(wo):
                trow[ow] = 0
            for j in range(kernel):
                if stride == 1:
                    seg = xrow[j:j + wo]
                    for ow in range(wo):
                        trow[ow] += seg[ow]
                else:
                    for ow in range(wo):
                        trow[ow] += xrow[ow * stride + j]
        out = y[s, ch]
        for oh in range(ho):
            orow = out[oh]
            for ow in range(wo):
                orow[ow] = 0
            for i in range(kernel):
                trow = tmp[oh * stride + i]
                for ow in range(wo):
                    orow[ow] += trow[ow]
            irow = inv[oh]
            for ow in range(wo):
                orow[ow] *= irow[ow]


def avg_pool2d_forward(x: np.ndarray, kernel: int, stride: int, padding: int,
                       count_include_pad: bool) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.avg_pool2d_forward`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho = _conv_out(h, kernel, stride, padding, 1)
    wo = _conv_out(w, kernel, stride, padding, 1)
    inv = _avg_inv_count(h, w, int(kernel), int(stride), int(padding), bool(count_include_pad),
                         ho, wo, x[:0, 0, 0, 0])
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    _run(_avg_fwd_chunk, _n_chunks(n * c, x.size), x, int(kernel), int(stride), int(padding),
         inv, y)
    return y


@njit
def _avg_bwd_chunk(t, nchunk, dy, kernel, stride, padding, inv, dx):
    """Adjoint of :func:`_avg_fwd_chunk`: columns first, then rows, then crop."""
    n, c, ho, wo = dy.shape
    h = dx.shape[2]
    w = dx.shape[3]
    hp = h + 2 * padding
    wp = w + 2 * padding
    tmp = np.empty((hp, wo), dtype=dy.dtype)
    g = np.empty(wo, dtype=dy.dtype)
    dxp = np.empty((hp, wp), dtype=dy.dtype)
    lo, hi = _bounds(t, nchunk, n * c)
    for q in range(lo, hi):
        s = q // c
        ch = q % c
        for r in range(hp):
            trow = tmp[r]
            for ow in range(wo):
                trow[ow] = 0
        for oh in range(ho):
            drow = dy[s, ch, oh]
            irow = inv[oh]
            for ow in range(wo):
                g[ow] = drow[ow] * irow[ow]
            for i in range(kernel):
                trow = tmp[oh * stride + i]
                for ow in range(wo):
                    trow[ow] += g[ow]
        for r in range(hp):
            xrow = dxp[r]
            for cc in range(wp):
                xrow[cc] = 0
            trow = tmp[r]
            for j in range(kernel):
                if stride == 1:
                    seg = xrow[j:j + wo]
                    for ow in range(wo):
                        seg[ow] += trow[ow]
                else:
                    for ow in range(wo):
                        xrow[ow * stride + j] += trow[ow]
        plane = dx[s, ch]
        for r in range(h):
            dst = plane[r]
            src = dxp[r + padding, padding:padding + w]
            for cc in range(w):
                dst[cc] = src[cc]


def avg_pool2d_backward(dy: np.ndarray, h: int, w: int, kernel: int, stride: int,
                        padding: int, count_include_pad: bool) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.avg_pool2d_backward`."""
    dy = np.ascontiguousarray(dy)
    n, c, ho, wo = dy.shape
    inv = _avg_inv_count(int(h), int(w), int(kernel), int(stride), int(padding),
                         bool(count_include_pad), ho, wo, dy[:0, 0, 0, 0])
    dx = np.empty((n, c, int(h), int(w)), dtype=dy.dtype)
    _run(_avg_bwd_chunk, _n_chunks(n * c, dx.size), dy, int(kernel), int(stride), int(padding),
         inv, dx)
    return dx


@njit
def _max_fwd_chunk(t, nchunk, x, kernel, stride, padding, y, am):
    n, c, h, w = x.shape
    ho = y.shape[2]
    wo = y.shape[3]
    lo, hi = _bounds(t, nchunk, n * c)
    for q in range(lo, hi):
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
                best = plane[rlo, clo]
                bi = rlo * w + clo
                for r in range(rlo, rhi):
                    for cc in range(clo, chi):
                        v = plane[r, cc]
                        if v > best:
                            best = v
                            bi = r * w + cc
                y[s, ch, oh, ow] = best
                am[s, ch, oh, ow] = bi


def max_pool2d_forward(x: np.ndarray, kernel: int, stride: int, padding: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.max_pool2d_forward`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho = _conv_out(h, kernel, stride, padding, 1)
    wo = _conv_out(w, kernel, stride, padding, 1)
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    am = np.empty((n, c, ho, wo), dtype=np.int64)
    _run(_max_fwd_chunk, _n_chunks(n * c, x.size), x, int(kernel), int(stride), int(padding),
         y, am)
    return y, am


@njit
def _max_bwd_chunk(t, nchunk, dy3, am3, dx3):
    n, c, l = dy3.shape
    lo, hi = _bounds(t, nchunk, n * c)
    for q in range(lo, hi):
        s = q // c
        ch = q % c
        for p in range(l):
            dx3[s, ch, am3[s, ch, p]] += dy3[s, ch, p]


def max_pool2d_backward(dy: np.ndarray, argmax: np.ndarray, h: int, w: int) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.max_pool2d_backward`."""
    dy = np.ascontiguousarray(dy)
    argmax = np.ascontiguousarray(argmax, dtype=np.int64)
    n, c, ho, wo = dy.shape
    dx = np.zeros((n, c, int(h) * int(w)), dtype=dy.dtype)
    _run(_max_bwd_chunk, _n_chunks(n * c, dx.size), dy.reshape(n, c, ho * wo),
         argmax.reshape(n, c, ho * wo), dx)
    return dx.reshape(n, c, int(h), int(w))


@njit
def _gap_chunk(t, nchunk, x3, y):
    n, c, hw = x3.shape
    lo, hi = _bounds(t, nchunk, n * c)
    for q in range(lo, hi):
        s = q // c
        ch = q % c
        acc = 0.0
        for p in range(hw):
            acc += x3[s, ch, p]
        y[s, ch] = acc / hw


def global_avg_pool_forward(x: np.ndarray) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.global_avg_pool_forward`."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    y = np.empty((n, c), dtype=x.dtype)
    _run(_gap_chunk, _n_chunks(n * c, x.size), x.reshape(n, c, h * w), y)
    return y


@njit
def _gap_bwd(dy, hw, dx3):
    n, c = dy.shape
    for s in range(n):
        for ch in range(c):
            gr = dx3.dtype.type(dy[s, ch] / hw)
            for p in range(hw):
                dx3[s, ch, p] = gr


def global_avg_pool_backward(dy: np.ndarray, h: int, w: int) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.global_avg_pool_backward`."""
    dy = np.ascontiguousarray(dy)
    n, c = dy.shape
    dx = np.empty((n, c, int(h) * int(w)), dtype=dy.dtype)
    _gap_bwd(dy, int(h) * int(w), dx)
    return dx.reshape(n, c, int(h), int(w))


# --------------------------------------------------------------------------------------------
# classifier
# --------------------------------------------------------------------------------------------
@njit
def _linear_fwd(x, w, b, y):
    np.dot(x, w.T, y)
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] += b[j]


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.linear_forward`."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    y = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
    _linear_fwd(x, w, np.ascontiguousarray(b, dtype=x.dtype), y)
    return y


@njit
def _linear_bwd(dy, x, w, dx, dw, db):
    np.dot(dy, w, dx)
    np.dot(dy.T, x, dw)
    for j in range(dy.shape[1]):
        db[j] = 0
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            db[j] += dy[i, j]


def linear_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.linear_backward`."""
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    dx = np.empty_like(x)
    dw = np.empty_like(w)
    db = np.empty(w.shape[0], dtype=x.dtype)
    _linear_bwd(dy, x, w, dx, dw, db)
    return dx, dw, db


@njit
def _softmax_ce(logits, labels, d):
    n, k = logits.shape
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
    return total / n


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """See :func:`archmodel.backends.numpy.conv.softmax_cross_entropy`."""
    logits = np.ascontiguousarray(logits)
    d = np.empty_like(logits)
    loss = _softmax_ce(logits, np.ascontiguousarray(labels, dtype=np.int64), d)
    return float(loss), d


# --------------------------------------------------------------------------------------------
# cell
# --------------------------------------------------------------------------------------------
@njit
def _sum_chunk(t, nchunk, xs, yf):
    lo, hi = _bounds(t, nchunk, yf.size)
    first = xs[0]
    for i in range(lo, hi):
        yf[i] = first[i]
    for e in range(1, len(xs)):
        a = xs[e]
        for i in range(lo, hi):
            yf[i] += a[i]


def sum_edges_forward(xs: Sequence[np.ndarray]) -> np.ndarray:
    """See :func:`archmodel.backends.numpy.conv.sum_edges_forward`."""
    first = np.asarray(xs[0])
    flat = tuple(np.ascontiguousarray(a, dtype=first.dtype).reshape(-1) for a in xs)
    y = np.empty(first.shape, dtype=first.dtype)
    _run(_sum_chunk, _n_chunks(y.size, y.size * len(flat)), flat, y.reshape(-1))
    return y


def sum_edges_backward(dy: np.ndarray, n_edges: int) -> tuple[np.ndarray, ...]:
    """See :func:`archmodel.backends.numpy.conv.sum_edges_backward`."""
    return (dy,) * n_edges
