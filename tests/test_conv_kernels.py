"""Kernels of the ``conv`` family: forward against independent loop implementations written
here, hand-written backward against finite differences (float64, ``check_grad``), and the
Numba backend against the NumPy reference to 1e-9 (float64)."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.backends import get_backend
from archmodel.testing import check_grad

REF = get_backend("numpy").conv

# (kernel, stride, padding, dilation, groups, c_in, c_out, h, w)
CONV_CASES = [
    (3, 1, 1, 1, 1, 3, 4, 6, 7),      # NB201 nor_conv_3x3
    (1, 1, 0, 1, 1, 4, 5, 5, 5),      # nor_conv_1x1
    (5, 1, 2, 1, 1, 2, 3, 7, 6),      # 5x5
    (3, 2, 1, 1, 1, 3, 4, 8, 8),      # reduction conv (stride 2)
    (1, 2, 0, 1, 1, 3, 2, 7, 6),      # 1x1 stride 2
    (3, 1, 2, 2, 1, 2, 3, 7, 7),      # dilated 3x3 (DARTS dil_conv)
    (5, 1, 4, 2, 1, 2, 2, 9, 8),      # dilated 5x5
    (3, 1, 1, 1, 4, 4, 4, 6, 6),      # depthwise (separable conv, first half)
    (3, 2, 1, 1, 2, 4, 6, 7, 7),      # grouped, stride 2
    (3, 3, 0, 1, 1, 2, 2, 8, 8),      # stride 3, no padding
]


def naive_conv2d(x, w, stride, padding, dilation, groups):
    """Direct definition: y[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] * xpad[n, g*cg + c, ...]."""
    n, c, h, wd = x.shape
    cout, cg, k, _ = w.shape
    ho = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    wo = (wd + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((n, cout, ho, wo))
    per_group = cout // groups
    for o in range(cout):
        g = o // per_group
        for ci in range(cg):
            for a in range(k):
                for b in range(k):
                    for i in range(ho):
                        for j in range(wo):
                            y[:, o, i, j] += w[o, ci, a, b] * xp[:, g * cg + ci, i * stride + a * dilation,
                                                                 j * stride + b * dilation]
    return y


def naive_pool(x, k, stride, padding, mode, count_include_pad=True):
    n, c, h, w = x.shape
    ho = (h + 2 * padding - k) // stride + 1
    wo = (w + 2 * padding - k) // stride + 1
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * stride - padding, j * stride - padding
            rs = slice(max(r0, 0), min(r0 + k, h))
            cs = slice(max(c0, 0), min(c0 + k, w))
            win = x[:, :, rs, cs]
            if mode == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                div = k * k if count_include_pad else win.shape[2] * win.shape[3]
                y[:, :, i, j] = win.sum(axis=(2, 3)) / div
    return y


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "k{}s{}p{}d{}g{}".format(*c[:5]))
def test_conv2d_forward_matches_definition(backend, rng, case):
    k, s, p, d, g, cin, cout, h, w = case
    x = rng.standard_normal((2, cin, h, w))
    wt = rng.standard_normal((cout, cin // g, k, k))
    y = backend.conv.conv2d_forward(x, wt, s, p, d, g)
    np.testing.assert_allclose(y, naive_conv2d(x, wt, s, p, d, g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "k{}s{}p{}d{}g{}".format(*c[:5]))
def test_conv2d_gradients(backend, rng, case):
    k, s, p, d, g, cin, cout, h, w = case
    x = rng.standard_normal((2, cin, h, w))
    wt = rng.standard_normal((cout, cin // g, k, k))
    r = rng.standard_normal(backend.conv.conv2d_forward(x, wt, s, p, d, g).shape)
    kern = backend.conv

    def fn(x, wt):
        y = kern.conv2d_forward(x, wt, s, p, d, g)
        dx, dw = kern.conv2d_backward(r, x, wt, s, p, d, g)
        return float((y * r).sum()), (dx, dw)

    check_grad(fn, x, wt, rtol=1e-6, max_probes=60)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "k{}s{}p{}d{}g{}".format(*c[:5]))
def test_conv2d_parity_with_reference(backend, rng, case):
    k, s, p, d, g, cin, cout, h, w = case
    x = rng.standard_normal((5, cin, h, w))          # 5 samples: several per thread chunk
    wt = rng.standard_normal((cout, cin // g, k, k))
    y = backend.conv.conv2d_forward(x, wt, s, p, d, g)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(y, REF.conv2d_forward(x, wt, s, p, d, g), rtol=0, atol=1e-9)
    for a, b in zip(backend.conv.conv2d_backward(dy, x, wt, s, p, d, g),
                    REF.conv2d_backward(dy, x, wt, s, p, d, g)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_conv2d_nb201_sized_batch_parity(backend, rng):
    """A batch big enough to use several threads and several samples per GEMM block."""
    x = rng.standard_normal((12, 8, 8, 8))
    wt = rng.standard_normal((8, 8, 3, 3))
    y = backend.conv.conv2d_forward(x, wt, 1, 1, 1, 1)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(y, REF.conv2d_forward(x, wt, 1, 1, 1, 1), atol=1e-9, rtol=0)
    for a, b in zip(backend.conv.conv2d_backward(dy, x, wt, 1, 1, 1, 1),
                    REF.conv2d_backward(dy, x, wt, 1, 1, 1, 1)):
        np.testing.assert_allclose(a, b, atol=1e-9, rtol=0)


def test_conv2d_float32_in_float32_out(backend, rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    wt = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = backend.conv.conv2d_forward(x, wt, 1, 1, 1, 1)
    dx, dw = backend.conv.conv2d_backward(np.ones_like(y), x, wt, 1, 1, 1, 1)
    assert y.dtype == dx.dtype == dw.dtype == np.float32
    np.testing.assert_allclose(y, naive_conv2d(x.astype(np.float64), wt.astype(np.float64), 1, 1, 1, 1),
                               rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# batch norm
# --------------------------------------------------------------------------------------------
def test_batchnorm_train_forward_statistics(backend, rng):
    x = rng.standard_normal((4, 3, 5, 5)) * np.array([1.0, 3.0, 0.5])[None, :, None, None] + 2.0
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    y, mean, var, invstd = backend.conv.batchnorm_forward_train(x, gamma, beta, 1e-5)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(x.var(axis=(0, 2, 3)) + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), beta, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), np.abs(gamma) * np.sqrt(var / (var + 1e-5)),
                               rtol=1e-10)


def test_batchnorm_train_gradients(backend, rng):
    x = rng.standard_normal((3, 2, 4, 3))
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    r = rng.standard_normal(x.shape)
    kern = backend.conv

    def fn(x, gamma, beta):
        y, mean, _, invstd = kern.batchnorm_forward_train(x, gamma, beta, 1e-5)
        dx, dg, db = kern.batchnorm_backward(r, x, gamma, mean, invstd)
        return float((y * r).sum()), (dx, dg, db)

    check_grad(fn, x, gamma, beta, rtol=1e-6)


def test_batchnorm_eval_forward_and_gradients(backend, rng):
    x = rng.standard_normal((3, 2, 4, 4))
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    rm, rv = rng.standard_normal(2), rng.random(2) + 0.5
    y = backend.conv.batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5)
    expect = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5) \
        * gamma[None, :, None, None] + beta[None, :, None, None]
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)
    r = rng.standard_normal(x.shape)
    kern = backend.conv

    def fn(x, gamma, beta):
        y = kern.batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5)
        return float((y * r).sum()), kern.batchnorm_backward_eval(r, x, gamma, rm, rv, 1e-5)

    check_grad(fn, x, gamma, beta, rtol=1e-6)


def test_batchnorm_running_statistics_momentum(backend):
    rm, rv = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    mean, var = np.array([2.0, -1.0]), np.array([4.0, 0.5])
    new_m, new_v = backend.conv.batchnorm_update_running(rm, rv, mean, var, 10, 0.1)
    np.testing.assert_allclose(new_m, [0.2, 0.8])
    # unbiased batch variance (count / (count - 1)), PyTorch convention
    np.testing.assert_allclose(new_v, 0.9 * rv + 0.1 * var * 10 / 9)
    assert rm[0] == 0.0 and rv[1] == 2.0   # inputs untouched


def test_batchnorm_parity(backend, rng):
    x = rng.standard_normal((6, 5, 7, 7)) * 3 + 1
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    dy = rng.standard_normal(x.shape)
    rm, rv = rng.standard_normal(5), rng.random(5) + 0.1
    got = backend.conv.batchnorm_forward_train(x, gamma, beta, 1e-5)
    ref = REF.batchnorm_forward_train(x, gamma, beta, 1e-5)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, atol=1e-9, rtol=0)
    for a, b in zip(backend.conv.batchnorm_backward(dy, x, gamma, ref[1], ref[3]),
                    REF.batchnorm_backward(dy, x, gamma, ref[1], ref[3])):
        np.testing.assert_allclose(a, b, atol=1e-9, rtol=0)
    np.testing.assert_allclose(backend.conv.batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5),
                               REF.batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5), atol=1e-9, rtol=0)
    for a, b in zip(backend.conv.batchnorm_backward_eval(dy, x, gamma, rm, rv, 1e-5),
                    REF.batchnorm_backward_eval(dy, x, gamma, rm, rv, 1e-5)):
        np.testing.assert_allclose(a, b, atol=1e-9, rtol=0)


# --------------------------------------------------------------------------------------------
# ReLU, pooling, linear, loss, edge sum
# --------------------------------------------------------------------------------------------
def test_relu(backend, rng):
    x = rng.standard_normal((2, 3, 4, 4))
    y = backend.conv.relu_forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0.0))
    r = rng.standard_normal(x.shape)
    kern = backend.conv
    check_grad(lambda x: (float((kern.relu_forward(x) * r).sum()), (kern.relu_backward(r, x),)), x)
    dx = kern.relu_backward(np.array([[[[5.0, 6.0, 7.0]]]]), np.array([[[[0.0, -1.0, 2.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 0.0, 7.0]]]])       # subgradient 0 at x = 0


POOLS = [(3, 1, 1), (2, 2, 0), (3, 2, 1)]


@pytest.mark.parametrize("k,s,p", POOLS)
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool(backend, rng, k, s, p, count_include_pad):
    x = rng.standard_normal((2, 3, 6, 5))
    y = backend.conv.avg_pool2d_forward(x, k, s, p, count_include_pad)
    np.testing.assert_allclose(y, naive_pool(x, k, s, p, "avg", count_include_pad), rtol=1e-12, atol=1e-14)
    r = rng.standard_normal(y.shape)
    kern = backend.conv

    def fn(x):
        y = kern.avg_pool2d_forward(x, k, s, p, count_include_pad)
        return float((y * r).sum()), (kern.avg_pool2d_backward(r, 6, 5, k, s, p, count_include_pad),)

    check_grad(fn, x)
    np.testing.assert_allclose(kern.avg_pool2d_backward(r, 6, 5, k, s, p, count_include_pad),
                               REF.avg_pool2d_backward(r, 6, 5, k, s, p, count_include_pad), atol=1e-9, rtol=0)


def test_avg_pool_nb201_corner_values(backend):
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    excl = backend.conv.avg_pool2d_forward(x, 3, 1, 1, False)
    incl = backend.conv.avg_pool2d_forward(x, 3, 1, 1, True)
    assert excl[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)      # 4 in-image values
    assert incl[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 9)
    assert excl[0, 0, 1, 1] == incl[0, 0, 1, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))
    assert excl[0, 0, 0, 1] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)


@pytest.mark.parametrize("k,s,p", POOLS)
def test_max_pool(backend, rng, k, s, p):
    x = rng.permutation(2 * 3 * 6 * 5).reshape(2, 3, 6, 5).astype(np.float64) / 7.0   # no ties
    y, argmax = backend.conv.max_pool2d_forward(x, k, s, p)
    np.testing.assert_array_equal(y, naive_pool(x, k, s, p, "max"))
    flat = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, argmax.reshape(2, 3, -1), 2).reshape(y.shape), y)
    r = rng.standard_normal(y.shape)
    kern = backend.conv

    def fn(x):
        y, am = kern.max_pool2d_forward(x, k, s, p)
        return float((y * r).sum()), (kern.max_pool2d_backward(r, am, 6, 5),)

    check_grad(fn, x, eps=1e-7)
    y2, am2 = REF.max_pool2d_forward(x, k, s, p)
    np.testing.assert_array_equal(argmax, am2)
    np.testing.assert_allclose(kern.max_pool2d_backward(r, argmax, 6, 5),
                               REF.max_pool2d_backward(r, am2, 6, 5), atol=1e-12, rtol=0)


def test_max_pool_ties_pick_first_in_window_order(backend):
    x = np.zeros((1, 1, 2, 2))
    y, am = backend.conv.max_pool2d_forward(x, 2, 2, 0)
    assert y[0, 0, 0, 0] == 0 and am[0, 0, 0, 0] == 0


def test_global_avg_pool(backend, rng):
    x = rng.standard_normal((3, 4, 5, 2))
    kern = backend.conv
    np.testing.assert_allclose(kern.global_avg_pool_forward(x), x.mean(axis=(2, 3)), rtol=1e-12)
    r = rng.standard_normal((3, 4))
    check_grad(lambda x: (float((kern.global_avg_pool_forward(x) * r).sum()),
                          (kern.global_avg_pool_backward(r, 5, 2),)), x)


def test_linear(backend, rng):
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal(3)
    kern = backend.conv
    np.testing.assert_allclose(kern.linear_forward(x, w, b), x @ w.T + b, rtol=1e-12)
    r = rng.standard_normal((4, 3))
    check_grad(lambda x, w, b: (float((kern.linear_forward(x, w, b) * r).sum()),
                                kern.linear_backward(r, x, w)), x, w, b)


def test_softmax_cross_entropy(backend, rng):
    logits = rng.standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    kern = backend.conv
    loss, d = kern.softmax_cross_entropy(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), labels])), rel=1e-12)

    def fn(z):
        value, dz = kern.softmax_cross_entropy(z, labels)
        return value, (dz,)

    check_grad(fn, logits)
    big = np.array([[1000.0, 0.0], [0.0, -1000.0]])   # no overflow
    loss_big, _ = kern.softmax_cross_entropy(big, np.array([1, 0]))
    assert loss_big == pytest.approx(500.0)


def test_sum_edges(backend, rng):
    xs = tuple(rng.standard_normal((2, 3, 4, 4)) for _ in range(3))
    kern = backend.conv
    y = kern.sum_edges_forward(xs)
    np.testing.assert_allclose(y, xs[0] + xs[1] + xs[2], rtol=1e-15)
    assert y is not xs[0] and not np.shares_memory(y, xs[0])
    single = kern.sum_edges_forward(xs[:1])
    np.testing.assert_array_equal(single, xs[0])
    r = rng.standard_normal(y.shape)
    grads = kern.sum_edges_backward(r, 3)
    assert len(grads) == 3 and all(g is r for g in grads)

    def fn(a, b, c):
        return float((kern.sum_edges_forward((a, b, c)) * r).sum()), kern.sum_edges_backward(r, 3)

    check_grad(fn, *xs)


def test_backends_have_identical_kernel_signatures(backend):
    import inspect

    def public(mod):
        return {n: inspect.signature(f) for n, f in vars(mod).items()
                if not n.startswith("_") and inspect.isfunction(f) and f.__module__ == mod.__name__}

    ref, got = public(REF), public(backend.conv)
    assert set(ref) == set(got)
    assert set(ref) >= {"conv2d_forward", "conv2d_backward", "batchnorm_forward_train",
                        "batchnorm_backward", "batchnorm_forward_eval", "batchnorm_backward_eval",
                        "batchnorm_update_running", "relu_forward", "relu_backward",
                        "avg_pool2d_forward", "avg_pool2d_backward", "max_pool2d_forward",
                        "max_pool2d_backward", "global_avg_pool_forward", "global_avg_pool_backward",
                        "linear_forward", "linear_backward", "softmax_cross_entropy",
                        "sum_edges_forward", "sum_edges_backward"}
    for name in ref:
        assert list(ref[name].parameters) == list(got[name].parameters), name


# --------------------------------------------------------------------------------------------
# the multi-chunk (threaded) paths of the Numba kernels, forced at test sizes
# --------------------------------------------------------------------------------------------
def test_chunked_numba_kernels_match_the_reference(monkeypatch, rng):
    """The size limits keep small arrays on one thread; with them at 0 every kernel splits its
    work into chunks on the worker threads, and must still equal the NumPy reference."""
    from conftest import require_module

    require_module("numba", "numba")
    import archmodel.backends.numba.conv as K

    monkeypatch.setattr(K, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(K, "PARALLEL_MIN_MACS", 0)
    calls = []
    run = K._run
    monkeypatch.setattr(K, "_run", lambda fn, nchunk, *a: (calls.append((fn.__name__, nchunk)), run(fn, nchunk, *a))[1])

    def same(a, b):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            np.testing.assert_allclose(u, v, rtol=0, atol=1e-9)

    x = rng.standard_normal((6, 4, 7, 7))
    wt = rng.standard_normal((5, 4, 3, 3))
    y = K.conv2d_forward(x, wt, 1, 1, 1, 1)
    dy = rng.standard_normal(y.shape)
    same(y, REF.conv2d_forward(x, wt, 1, 1, 1, 1))
    same(K.conv2d_backward(dy, x, wt, 1, 1, 1, 1), REF.conv2d_backward(dy, x, wt, 1, 1, 1, 1))
    g, b = rng.standard_normal(4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.1
    ref = REF.batchnorm_forward_train(x, g, b, 1e-5)
    same(K.batchnorm_forward_train(x, g, b, 1e-5), ref)
    dx = rng.standard_normal(x.shape)
    same(K.batchnorm_backward(dx, x, g, ref[1], ref[3]), REF.batchnorm_backward(dx, x, g, ref[1], ref[3]))
    same(K.batchnorm_forward_eval(x, g, b, rm, rv, 1e-5), REF.batchnorm_forward_eval(x, g, b, rm, rv, 1e-5))
    same(K.batchnorm_backward_eval(dx, x, g, rm, rv, 1e-5), REF.batchnorm_backward_eval(dx, x, g, rm, rv, 1e-5))
    same(K.relu_forward(x), REF.relu_forward(x))
    same(K.relu_backward(dx, x), REF.relu_backward(dx, x))
    for cip in (False, True):
        same(K.avg_pool2d_forward(x, 3, 1, 1, cip), REF.avg_pool2d_forward(x, 3, 1, 1, cip))
        same(K.avg_pool2d_backward(dx, 7, 7, 3, 1, 1, cip), REF.avg_pool2d_backward(dx, 7, 7, 3, 1, 1, cip))
    ym, am = K.max_pool2d_forward(x, 2, 2, 0)
    yr, ar = REF.max_pool2d_forward(x, 2, 2, 0)
    same(ym, yr)
    same(K.max_pool2d_backward(np.ones_like(ym), am, 7, 7), REF.max_pool2d_backward(np.ones_like(yr), ar, 7, 7))
    same(K.global_avg_pool_forward(x), REF.global_avg_pool_forward(x))
    same(K.sum_edges_forward((x, dx, x)), REF.sum_edges_forward((x, dx, x)))
    assert len(calls) >= 12 and min(n for _, n in calls) > 1, calls  # every kernel ran in chunks
