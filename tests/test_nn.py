"""Layers, optimisers and the training helper of archmodel.nn (both kernel backends)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from archmodel.backends import get_backend
from archmodel.errors import ParameterError, TrainingDivergedError
from archmodel.nn import (MLP, SGD, Adam, Dropout, Embedding, Linear, ReLU, Sigmoid, Tanh,
                          dropout_mask, fit_scores)
from archmodel.nn.parallel import chunk_slices
from archmodel.testing import check_grad


def _layer_fn(layer, x_is_param=True, **fwd):
    """fn(x, *param arrays) -> (sum(y * r), grads) for check_grad."""
    names = list(layer.param_shapes())

    def fn(x, r, *arrays):
        params = dict(zip(names, arrays))
        y, cache = layer.forward(params, x, **fwd)
        gx, grads = layer.backward(r, cache)
        return float((y * r).sum()), [gx if x_is_param else None, None] + [grads[k] for k in names]

    return fn, names


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("bias", [True, False])
def test_linear_grad(backend, rng, bias):
    layer = Linear(5, 3, bias=bias, name="lin")
    params = layer.init_params(rng, np.float64)
    x = rng.standard_normal((2, 4, 5))  # leading axes are allowed
    r = rng.standard_normal((2, 4, 3))
    fn, names = _layer_fn(layer, backend=backend)
    check_grad(fn, x, r, *[params[k] for k in names], wrt=[0] + [2 + i for i in range(len(names))])
    y, _ = layer.forward(params, x, backend=backend)
    ref = x @ params["lin.weight"] + (params["lin.bias"] if bias else 0)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Tanh])
def test_activation_grad(backend, rng, cls):
    layer = cls()
    x = rng.standard_normal((6, 7)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the ReLU kink
    r = rng.standard_normal((6, 7))
    fn, _ = _layer_fn(layer, backend=backend)
    check_grad(fn, x, r, wrt=[0])
    y, _ = layer.forward(None, x, backend=backend)
    ref = {ReLU: np.maximum(x, 0), Sigmoid: 1 / (1 + np.exp(-x)), Tanh: np.tanh(x)}[cls]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-15)


def test_sigmoid_extreme_values_are_finite(backend):
    y, _ = Sigmoid().forward(None, np.array([-1000.0, 0.0, 1000.0]), backend=backend)
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])


def test_dropout_grad_and_mask(backend, rng):
    layer = Dropout(0.3)
    x = rng.standard_normal((50, 8))
    mask = dropout_mask(np.random.default_rng(1), x.shape, 0.3, np.float64)
    assert set(np.unique(mask)) <= {0.0, 1 / 0.7}
    r = rng.standard_normal(x.shape)
    fn, _ = _layer_fn(layer, train=True, mask=mask, backend=backend)
    check_grad(fn, x, r, wrt=[0])
    y, _ = layer.forward(None, x, train=True, mask=mask, backend=backend)
    np.testing.assert_array_equal(y, x * mask)
    # eval mode is the identity; a drawn mask keeps about 1-p of the units
    assert layer.forward(None, x, train=False)[0] is x
    big = dropout_mask(np.random.default_rng(2), (200, 200), 0.3, np.float32)
    assert abs((big > 0).mean() - 0.7) < 0.02
    assert big.dtype == np.float32


def test_embedding_grad(backend, rng):
    layer = Embedding(6, 4, name="emb")
    params = layer.init_params(rng, np.float64)
    idx = np.array([[0, 5, 5], [2, 0, 1]])
    r = rng.standard_normal((2, 3, 4))

    def fn(table, r):
        y, cache = layer.forward({"emb.weight": table}, idx, backend=backend)
        _, grads = layer.backward(r, cache)
        return float((y * r).sum()), [grads["emb.weight"], None]

    check_grad(fn, params["emb.weight"], r)
    y, _ = layer.forward(params, idx, backend=backend)
    np.testing.assert_array_equal(y, params["emb.weight"][idx])
    with pytest.raises(ParameterError, match=r"indices must be in \[0, 6\)"):
        layer.forward(params, np.array([6]), backend=backend)
    with pytest.raises(ParameterError, match="indices must be integers"):
        layer.forward(params, np.array([0.0]), backend=backend)


@pytest.mark.parametrize("train", [False, True])
def test_mlp_grad(backend, rng, train):
    mlp = MLP(5, [7, 6], 2, dropout=0.25, name="head")
    params = mlp.init_params(rng, np.float64)
    names = list(mlp.param_shapes())
    x = rng.standard_normal((9, 5))
    r = rng.standard_normal((9, 2))
    masks = mlp.draw_masks(np.random.default_rng(3), 9, np.float64)

    def fn(x, *arrays):
        p = dict(zip(names, arrays))
        y, cache = mlp.forward(p, x, train=train, masks=masks, backend=backend)
        gx, grads = mlp.backward(r, cache)
        return float((y * r).sum()), [gx] + [grads[k] for k in names]

    check_grad(fn, x, *[params[k] for k in names])
    # forward agrees with a plain NumPy composition
    h = x
    for i in range(2):
        h = np.maximum(h @ params[f"head.fc{i}.weight"] + params[f"head.fc{i}.bias"], 0)
        if train:
            h = h * masks[i]
    ref = h @ params["head.out.weight"] + params["head.out.bias"]
    y, _ = mlp.forward(params, x, train=train, masks=masks, backend=backend)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    if not train:  # blocked, threaded, cache-free evaluation gives the same values
        np.testing.assert_allclose(mlp.predict(params, x, backend=backend, block_rows=4, n_jobs=2),
                                   y, rtol=1e-13, atol=1e-15)


# ----------------------------------------------------------------------------- parameters / dtypes
def test_init_scheme_and_dtypes():
    mlp = MLP(100, [50], 1, name="m")
    p32 = mlp.init_params(np.random.default_rng(0))
    p64 = mlp.init_params(np.random.default_rng(0), dtype="float64")
    assert all(v.dtype == np.float32 for v in p32.values())
    assert all(v.dtype == np.float64 for v in p64.values())
    # same seed: float32 params are the float64 ones rounded
    for k in p32:
        np.testing.assert_array_equal(p32[k], p64[k].astype(np.float32))
    w = p64["m.fc0.weight"]
    assert w.shape == (100, 50)
    bound = 1 / math.sqrt(100)
    assert np.abs(w).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # uniform(-b, b) has std b/sqrt(3)
    emb = Embedding(1000, 8).init_params(np.random.default_rng(0))["embedding.weight"]
    assert abs(emb.std() - 1.0) < 0.05
    with pytest.raises(ParameterError, match=r"'dtype' parameter of MLP must be one of"):
        mlp.init_params(0, dtype=np.int32)
    with pytest.raises(ParameterError, match=r"'dtype' parameter of Linear must be one of"):
        Linear(2, 2).init_params(0, dtype="float16")


def test_input_dtype_and_shape_errors(backend):
    lin = Linear(3, 2, name="l")
    p = lin.init_params(0)  # float32
    with pytest.raises(ParameterError, match="input has dtype float64 but the parameters are float32"):
        lin.forward(p, np.zeros((4, 3)), backend=backend)
    with pytest.raises(ParameterError, match="must have 3 features"):
        lin.forward(p, np.zeros((4, 5), np.float32), backend=backend)
    mlp = MLP(3, [4], 1, dropout=0.5)
    pm = mlp.init_params(0)
    with pytest.raises(ParameterError, match="must be 2-D"):
        mlp.forward(pm, np.zeros(3, np.float32), backend=backend)
    with pytest.raises(ParameterError, match="needs rng= or masks="):
        mlp.forward(pm, np.zeros((2, 3), np.float32), train=True, backend=backend)
    y, _ = mlp.forward(pm, np.zeros((2, 3), np.float32), backend=backend)
    assert y.dtype == np.float32
    with pytest.raises(ParameterError, match=r"'p' parameter of Dropout must be a number in the range \[0.0, 1.0\)"):
        Dropout(1.0)
    with pytest.raises(ParameterError, match="'hidden_sizes' parameter of MLP"):
        MLP(3, [0], 1)


# ----------------------------------------------------------------------------- optimisers
def test_adam_matches_pytorch_rule(backend):
    """Two steps of Adam with L2-coupled weight decay, checked against the formula."""
    p0 = np.array([[0.5, -1.0], [2.0, 0.0]])
    g1 = np.array([[0.1, -0.2], [0.3, 0.0]])
    g2 = np.array([[-0.1, 0.4], [0.3, 1.0]])
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.99, 1e-8, 0.1
    params = {"w": p0.copy()}
    opt = Adam(lr, betas=(b1, b2), eps=eps, weight_decay=wd, backend=backend)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate([g1, g2], start=1):
        opt.step(params, {"w": g.copy()})
        gg = g + wd * p
        m = b1 * m + (1 - b1) * gg
        v = b2 * v + (1 - b2) * gg * gg
        p = p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
        np.testing.assert_allclose(params["w"], p, rtol=1e-13, atol=1e-15)
    # first step moves each weight by ~lr against the (decayed) gradient's sign
    st = opt.state_dict()
    assert st["step:w"] == 2 and st["m:w"].shape == (2, 2)
    opt2 = Adam(lr, backend=backend)
    opt2.load_state_dict(st)
    np.testing.assert_array_equal(opt2.state["w"]["v"], opt.state["w"]["v"])


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_rule(backend, nesterov):
    p0 = np.array([1.0, -2.0, 0.5], np.float32)
    grads = [np.array([0.5, 0.5, -1.0], np.float32), np.array([0.1, -0.3, 0.2], np.float32),
             np.array([0.0, 1.0, 1.0], np.float32)]
    lr, mom, wd = 0.1, 0.9, 0.01
    params = {"w": p0.copy()}
    opt = SGD(lr, momentum=mom, weight_decay=wd, nesterov=nesterov, backend=backend)
    p, buf = p0.astype(np.float64), None
    for g in grads:
        opt.step(params, {"w": g})
        gg = g + wd * p
        buf = gg.copy() if buf is None else mom * buf + gg
        p = p - lr * (gg + mom * buf if nesterov else buf)
        np.testing.assert_allclose(params["w"], p, rtol=1e-5)
    assert params["w"].dtype == np.float32
    plain = {"w": p0.copy()}
    SGD(0.5, backend=backend).step(plain, {"w": grads[0]})
    np.testing.assert_allclose(plain["w"], p0 - 0.5 * grads[0], rtol=1e-6)


def test_optimizer_errors():
    with pytest.raises(ParameterError, match="'lr' parameter of Adam"):
        Adam(lr=0.0)
    with pytest.raises(ParameterError, match="nesterov=True needs momentum > 0"):
        SGD(0.1, nesterov=True)
    opt = Adam(0.1)
    with pytest.raises(ParameterError, match="gradient 'w' is"):
        opt.step({"w": np.zeros(3)}, {"w": np.zeros(4)})
    with pytest.raises(ParameterError, match="gradient 'z' has no parameter"):
        opt.step({"w": np.zeros(3)}, {"z": np.zeros(3)})


def test_backend_parity_nn(numba_module):
    be_np, be_nb = get_backend("numpy"), get_backend("numba")
    rng = np.random.default_rng(7)
    mlp = MLP(6, [9, 9], 1, dropout=0.2, name="h")
    params = mlp.init_params(rng, np.float64)
    x = rng.standard_normal((13, 6))
    masks = mlp.draw_masks(rng, 13, np.float64)
    r = rng.standard_normal((13, 1))
    out = {}
    for be in (be_np, be_nb):
        y, c = mlp.forward(params, x, train=True, masks=masks, backend=be)
        gx, g = mlp.backward(r, c)
        p = {k: v.copy() for k, v in params.items()}
        opt = Adam(1e-2, weight_decay=1e-3, backend=be)
        for _ in range(3):
            opt.step(p, g)
        out[be.name] = (y, gx, g, p)
    a, b = out["numpy"], out["numba"]
    np.testing.assert_allclose(a[0], b[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-12)
    for k in params:
        np.testing.assert_allclose(a[2][k], b[2][k], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a[3][k], b[3][k], rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- fit_scores
class _MLPScorer:
    """Minimal ScoreModel over {"x": [B, d]} for exercising fit_scores."""

    def __init__(self, d: int) -> None:
        self.mlp = MLP(d, [16], 1, dropout=0.1, name="m")

    def forward(self, params, batch, *, train=False, rng=None, backend=None):
        y, cache = self.mlp.forward(params, batch["x"], train=train, rng=rng, backend=backend)
        return y[:, 0], cache

    def backward(self, cache, grad_scores):
        return self.mlp.backward(grad_scores[:, None], cache, need_grad_x=False)[1]


def _hinge(scores, y, rng):
    """Pairwise hinge over all ordered pairs (margin 0.1), mean over pairs."""
    diff_y = y[:, None] - y[None, :]
    better = diff_y > 0
    margin = 0.1 - (scores[:, None] - scores[None, :])
    active = better & (margin > 0)
    n = max(int(better.sum()), 1)
    loss = float(np.where(active, margin, 0).sum()) / n
    g = -active.sum(axis=1) + active.sum(axis=0)
    return loss, g.astype(scores.dtype) / n


def test_fit_scores_learns_and_is_reproducible(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32)
    model = _MLPScorer(4)

    def run(seed):
        params = model.mlp.init_params(np.random.default_rng(1))
        seen = []
        hist = fit_scores(model, params, {"x": x}, y, _hinge, Adam(1e-2, backend=backend),
                          epochs=15, batch_size=16, rng=seed, backend=backend,
                          progress=lambda e, l: seen.append(e))
        assert seen == list(range(1, 16))
        return params, hist

    p1, h1 = run(5)
    p2, h2 = run(5)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    assert h1 == h2
    assert h1[-1] < 0.5 * h1[0]
    scores = model.forward(p1, {"x": x})[0]
    assert np.corrcoef(scores, y)[0, 1] > 0.8


def test_fit_scores_divergence_names_epoch(backend):
    x = np.ones((8, 2), np.float32)
    model = _MLPScorer(2)
    params = model.mlp.init_params(0)
    calls = {"n": 0}

    def loss(scores, y, rng):
        calls["n"] += 1
        return (float("nan") if calls["n"] > 5 else 1.0), np.zeros_like(scores)

    with pytest.raises(TrainingDivergedError, match=r"diverged at epoch 3 of 4 \(mini-batch 1\)"):
        fit_scores(model, params, {"x": x}, np.zeros(8), loss, SGD(0.1, backend=backend),
                   epochs=4, batch_size=4, rng=0, backend=backend)
    with pytest.raises(ParameterError, match="y must have 8 rows"):
        fit_scores(model, params, {"x": x}, np.zeros(7), loss, SGD(0.1), epochs=1, batch_size=4)
    with pytest.raises(ParameterError, match="'epochs' parameter of fit_scores"):
        fit_scores(model, params, {"x": x}, np.zeros(8), loss, SGD(0.1), epochs=0, batch_size=4)


def test_chunk_slices():
    sl = chunk_slices(512, 256)
    assert [(s.start, s.stop) for s in sl] == [(0, 256), (256, 512)]
    sl = chunk_slices(10, 4)
    assert len(sl) == 3 and sl[0].start == 0 and sl[-1].stop == 10
    assert sum(s.stop - s.start for s in sl) == 10
    assert len(chunk_slices(1, 256)) == 1
