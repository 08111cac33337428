"""Baseline score models (archmodel.models.baselines) and their kernels (rnn, gcn): gradients
(float64 finite differences) on both backends, NumPy/Numba parity, references written from the
definitions, the GCN graphs on a hand-worked cell, chunking/threading invariance, the GATESModel
interface, input validation, reproducible training and a short training run on real NB201 data."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from archmodel.backends import get_backend
from archmodel.errors import ParameterError
from archmodel.models.baselines import (GCNModel, LSTMModel, MLPModel, gcn_graphs,
                                        normalize_adjacency)
from archmodel.nn import Adam, fit_scores
from archmodel.nn.layers import dropout_mask
from archmodel.spaces import get_space
from archmodel.testing import check_grad

from conftest import require_data

needs_numba = pytest.mark.usefixtures("numba_module")  # skips without numba, fails under CI

SMALL = {
    MLPModel: dict(mlp_hidden=(8, 6)),
    LSTMModel: dict(emb_dim=4, hidden_dim=5, mlp_hidden=(6,)),
    GCNModel: dict(gcn_dims=(6, 5), mlp_hidden=(7,)),
}


def _model(cls, space, **kw):
    return cls.from_space(space, **{**SMALL[cls], **kw})


def _model_fn(model, batch, r, backend, **fwd):
    """fn(*param arrays) -> (sum(scores * r), grads in param order) for check_grad."""
    names = list(model.param_shapes())

    def fn(*arrays):
        params = dict(zip(names, arrays))
        s, cache = model.forward(params, batch, backend=backend, **fwd)
        g = model.backward(cache, r)
        assert list(g) == names
        return float((s * r).sum()), [g[k] for k in names]

    return fn, names


# --------------------------------------------------------------------------------------------
# kernels: references, gradients, parity
# --------------------------------------------------------------------------------------------
def ref_lstm(x, w_ih, w_hh, b):
    """Per-sequence, per-step LSTM straight from the equations (PyTorch gate order i, f, g, o)."""
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    bsz, t_len, _ = x.shape
    hd = w_hh.shape[0]
    out = np.zeros((bsz, t_len, hd))
    for r in range(bsz):
        h = np.zeros(hd)
        c = np.zeros(hd)
        for t in range(t_len):
            z = x[r, t] @ w_ih + h @ w_hh + b
            i, f, g, o = sig(z[:hd]), sig(z[hd:2 * hd]), np.tanh(z[2 * hd:3 * hd]), sig(z[3 * hd:])
            c = f * c + i * g
            h = o * np.tanh(c)
            out[r, t] = h
    return out


def test_lstm_kernel_reference_and_grad(backend, rng):
    x = rng.standard_normal((3, 5, 4))
    w_ih = rng.standard_normal((4, 12)) * 0.7
    w_hh = rng.standard_normal((3, 12)) * 0.7
    b = rng.standard_normal(12) * 0.5
    h, c, acts = backend.rnn.lstm_forward(x, w_ih, w_hh, b)
    np.testing.assert_allclose(h, ref_lstm(x, w_ih, w_hh, b), rtol=1e-12, atol=1e-14)
    r = rng.standard_normal(h.shape)

    def fn(x, w_ih, w_hh, b):
        h, c, acts = backend.rnn.lstm_forward(x, w_ih, w_hh, b)
        return float((h * r).sum()), list(backend.rnn.lstm_backward(r, x, w_ih, w_hh, h, c, acts, True))

    check_grad(fn, x, w_ih, w_hh, b, max_probes=None)
    # need_grad_x=False skips grad_x and changes nothing else
    full = backend.rnn.lstm_backward(r, x, w_ih, w_hh, h, c, acts, True)
    part = backend.rnn.lstm_backward(r, x, w_ih, w_hh, h, c, acts, False)
    assert part[0] is None
    for a, bb in zip(full[1:], part[1:]):
        np.testing.assert_array_equal(a, bb)


@pytest.mark.parametrize("relu", [True, False])
def test_gcn_kernel_reference_and_grad(backend, rng, relu):
    a = rng.random((4, 5, 5))
    s = rng.standard_normal((4, 5, 3))
    b = rng.standard_normal(3)
    y = backend.gcn.propagate_forward(a, s, b, relu)
    ref = np.einsum("gij,gjk->gik", a, s) + b
    np.testing.assert_allclose(y, np.maximum(ref, 0) if relu else ref, rtol=1e-12, atol=1e-14)
    assert np.abs(ref).min() > 1e-6  # away from the ReLU kink
    r = rng.standard_normal(y.shape)

    def fn(a_, s_, b_):
        y_ = backend.gcn.propagate_forward(a_, s_, b_, relu)
        gs, gb = backend.gcn.propagate_backward(r, a_, y_, relu)
        return float((y_ * r).sum()), [None, gs, gb]

    check_grad(fn, a, s, b, wrt=[1, 2], max_probes=None)
    y0 = backend.gcn.propagate_forward(a, s, None, relu)
    np.testing.assert_allclose(y0, np.maximum(ref - b, 0) if relu else ref - b, rtol=1e-12, atol=1e-14)


@needs_numba
def test_kernel_parity_numpy_numba(rng):
    npb, nbb = get_backend("numpy"), get_backend("numba")
    x = rng.standard_normal((7, 6, 5))
    w_ih, w_hh, b = rng.standard_normal((5, 16)), rng.standard_normal((4, 16)), rng.standard_normal(16)
    out1 = npb.rnn.lstm_forward(x, w_ih, w_hh, b)
    out2 = nbb.rnn.lstm_forward(x, w_ih, w_hh, b)
    for p, q in zip(out1, out2):
        np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-12)
    r = rng.standard_normal(out1[0].shape)
    for p, q in zip(npb.rnn.lstm_backward(r, x, w_ih, w_hh, *out1, True),
                    nbb.rnn.lstm_backward(r, x, w_ih, w_hh, *out1, True)):
        np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-12)
    a = normalize_adjacency(rng.random((9, 8, 8)) > 0.6)
    s = rng.standard_normal((9, 8, 6))
    bb = rng.standard_normal(6)
    for relu in (True, False):
        y1 = npb.gcn.propagate_forward(a, s, bb, relu)
        np.testing.assert_allclose(nbb.gcn.propagate_forward(a, s, bb, relu), y1, rtol=1e-9, atol=1e-12)
        g = rng.standard_normal(y1.shape)
        for p, q in zip(npb.gcn.propagate_backward(g, a, y1, relu), nbb.gcn.propagate_backward(g, a, y1, relu)):
            np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# GCN graphs
# --------------------------------------------------------------------------------------------
def test_normalize_adjacency_hand_example():
    # path 0 -> 1 -> 2 (stored adj[dst, src]); A + A^T + I has degrees (2, 3, 2)
    adj = np.zeros((3, 3))
    adj[1, 0] = adj[2, 1] = 1
    got = normalize_adjacency(adj)
    ref = np.array([[1 / 2, 1 / math.sqrt(6), 0], [1 / math.sqrt(6), 1 / 3, 1 / math.sqrt(6)],
                    [0, 1 / math.sqrt(6), 1 / 2]])
    np.testing.assert_allclose(got, ref, rtol=1e-15)
    ev = np.linalg.eigvalsh(normalize_adjacency(np.random.default_rng(0).random((10, 10)) > 0.5))
    assert ev.max() <= 1 + 1e-12 and ev.min() >= -1 - 1e-12


def test_line_graph_of_a_hand_worked_nb201_cell():
    sp = get_space("nb201")
    a = sp.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
    edges = GCNModel.encode(sp, [a])["edges"][:, 0]
    # edge slots: e0 0->1 conv3x3, e1 0->2 none, e2 1->2 skip, e3 0->3 avg, e4 1->3 none, e5 2->3 conv1x1
    assert edges[0].tolist() == [[0, 1, 3], [0, 2, 0], [1, 2, 1], [0, 3, 4], [1, 3, 0], [2, 3, 2]]
    adj, feat, out = gcn_graphs("edge", (edges,), n_nodes=4, n_inputs=1, n_ops=5, none_op=0)
    # graph nodes: 0 input, 1..6 = e0..e5, 7 output
    expected = {(0, 1), (0, 4), (1, 3), (3, 6), (4, 7), (6, 7)}  # (u -> v)
    got = {(int(u), int(v)) for v, u in zip(*np.nonzero(adj[0]))}
    assert got == expected and out == 7
    assert feat[0].tolist() == [5, 3, 0, 1, 4, 0, 2, 6]
    assert not adj[0, :, 2].any() and not adj[0, 2].any()  # none edges are isolated
    # node kind: the cell itself
    nb = get_space("nb101")
    gb = GCNModel.encode(nb, nb.sample(2, rng=0))
    adj2, feat2, out2 = gcn_graphs("node", (gb["adj"][:, 0], gb["node_ops"][:, 0]), n_nodes=7,
                                   n_inputs=1, n_ops=5, none_op=None)
    np.testing.assert_array_equal(adj2, gb["adj"][:, 0] != 0)
    np.testing.assert_array_equal(feat2, gb["node_ops"][:, 0])
    assert out2 == 6


def test_gcn_forward_matches_dense_reference(rng):
    sp = get_space("nb201")
    model = GCNModel.from_space(sp, gcn_dims=(6, 4), mlp_hidden=(), readout="mean")
    archs = sp.sample(5, rng=3)
    batch = model.encode(sp, archs)
    params = model.init_params(1, np.float64)
    emb = model.embed(params, batch, backend="numpy")
    for k, arch in enumerate(archs):
        adj, feat, _ = gcn_graphs("edge", (batch["edges"][k:k + 1, 0],), n_nodes=4, n_inputs=1,
                                  n_ops=5, none_op=0)
        a_hat = normalize_adjacency(adj[0])
        x = np.eye(model.n_features)[feat[0]]
        h1 = np.maximum(a_hat @ x @ params["encoder.cell0.gcn0.weight"] + params["encoder.cell0.gcn0.bias"], 0)
        h2 = a_hat @ h1 @ params["encoder.cell0.gcn1.weight"] + params["encoder.cell0.gcn1.bias"]
        np.testing.assert_allclose(emb[k], h2.mean(axis=0), rtol=1e-12, atol=1e-14)
    scores = model.predict(params, batch, backend="numpy")
    np.testing.assert_allclose(scores, emb @ params["head.out.weight"][:, 0] + params["head.out.bias"][0],
                               rtol=1e-12)


# --------------------------------------------------------------------------------------------
# model gradients and parity
# --------------------------------------------------------------------------------------------
CASES = [(MLPModel, "nb201", {}), (LSTMModel, "nb201", {}), (GCNModel, "nb201", {}),
         (GCNModel, "nb201", {"readout": "output"}), (LSTMModel, "darts", {}),
         (GCNModel, "darts", {}), (MLPModel, "nb101", {}), (GCNModel, "nb101", {"readout": "output"})]


@pytest.mark.parametrize("cls,space,kw", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_model_grad(backend, cls, space, kw):
    sp = get_space(space)
    model = _model(cls, sp, chunk_size=3, **kw)  # several chunks
    batch = model.encode(sp, sp.sample(7, rng=1))
    params = model.init_params(0, np.float64)
    r = np.random.default_rng(2).standard_normal(7)
    fn, names = _model_fn(model, batch, r, backend)
    check_grad(fn, *[params[k] for k in names], max_probes=60)


def test_model_grad_with_head_dropout(backend):
    sp = get_space("nb201")
    model = _model(LSTMModel, sp, dropout=0.3)
    batch = model.encode(sp, sp.sample(6, rng=4))
    params = model.init_params(0, np.float64)
    masks = [dropout_mask(np.random.default_rng(5), (6, h), 0.3, np.float64) for h in model.mlp_hidden]
    r = np.random.default_rng(6).standard_normal(6)
    fn, names = _model_fn(model, batch, r, backend, train=True, masks=masks)
    check_grad(fn, *[params[k] for k in names], max_probes=60)
    s_train, _ = model.forward(params, batch, train=True, masks=masks, backend=backend)
    s_eval = model.predict(params, batch, backend=backend)
    assert not np.allclose(s_train, s_eval)


@needs_numba
@pytest.mark.parametrize("cls,space,kw", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_model_parity_numpy_numba(cls, space, kw):
    sp = get_space(space)
    model = _model(cls, sp, **kw)
    batch = model.encode(sp, sp.sample(20, rng=7))
    params = model.init_params(0, np.float64)
    r = np.random.default_rng(8).standard_normal(20)
    out = {}
    for be in ("numpy", "numba"):
        s, cache = model.forward(params, batch, backend=be)
        out[be] = (s, model.backward(cache, r))
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-9, atol=1e-12)
    for k, g in out["numpy"][1].items():
        np.testing.assert_allclose(out["numba"][1][k], g, rtol=1e-9, atol=1e-12, err_msg=k)


# --------------------------------------------------------------------------------------------
# interface, chunking, validation
# --------------------------------------------------------------------------------------------
def test_interface_mirrors_gates_model():
    from archmodel.models.gates import GATESModel

    public = {n for n in dir(GATESModel) if not n.startswith("_")}
    for cls in (MLPModel, LSTMModel, GCNModel):
        assert public <= set(dir(cls)), (cls.__name__, public - set(dir(cls)))
        assert {"from_space", "encode"} <= set(dir(cls))


@pytest.mark.parametrize("cls", [MLPModel, LSTMModel, GCNModel])
def test_config_params_and_shapes(cls):
    sp = get_space("darts")
    model = _model(cls, sp)
    clone = cls(**model.get_config())
    assert clone.get_config() == model.get_config()
    p32 = model.init_params(3)
    p64 = model.init_params(3, dtype="float64")
    assert list(p32) == list(model.param_shapes())
    assert all(p32[k].dtype == np.float32 and p32[k].shape == s for k, s in model.param_shapes().items())
    assert all(np.allclose(p32[k], p64[k], atol=1e-6) for k in p32)  # same draws, cast
    batch = model.encode(sp, sp.sample(5, rng=0))
    s, _ = model.forward(p32, batch, backend="numpy")
    assert s.dtype == np.float32 and s.shape == (5,)
    assert model.embed(p32, batch, backend="numpy").shape == (5, model.embedding_dim)
    assert repr(model).startswith(cls.__name__ + "(")


@pytest.mark.parametrize("cls", [MLPModel, LSTMModel, GCNModel])
def test_chunking_and_threads_do_not_change_results(cls):
    sp = get_space("nb201")
    archs = sp.sample(50, rng=9)
    r = np.random.default_rng(1).standard_normal(50)
    results = []
    for chunk, jobs in [(1000, 1), (7, 1), (7, 2)]:
        model = _model(cls, sp, chunk_size=chunk, predict_chunk_size=chunk, n_jobs=jobs)
        params = model.init_params(0, np.float64)
        batch = model.encode(sp, archs)
        s, cache = model.forward(params, batch, backend="numpy")
        results.append((s, model.backward(cache, r), model.predict(params, batch, backend="numpy")))
    (s0, g0, p0), (s1, g1, p1), (s2, g2, p2) = results
    np.testing.assert_allclose(s1, s0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p1, s0, rtol=1e-12, atol=1e-14)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-10, atol=1e-13)
        np.testing.assert_array_equal(g2[k], g1[k])  # threads: bit-for-bit
    np.testing.assert_array_equal(s2, s1)


def test_validation_errors():
    sp = get_space("nb201")
    lstm = LSTMModel.from_space(sp, **SMALL[LSTMModel])
    params = lstm.init_params(0)
    seq = sp.sequences(sp.sample(3, rng=0))
    with pytest.raises(ParameterError, match=r"batch needs a 'seq' array; got keys \['onehot'\]"):
        lstm.forward(params, {"onehot": seq})
    bad = seq.copy()
    bad[1, 2] = 5
    with pytest.raises(ParameterError, match=r"batch\['seq'\]\[1, 2\] = 5 is outside \[0, 5\)"):
        lstm.forward(params, {"seq": bad})
    with pytest.raises(ParameterError, match=r"must have shape \[B, 6\]"):
        lstm.forward(params, {"seq": seq[:, :4]})
    with pytest.raises(ParameterError, match="must be an integer array"):
        lstm.forward(params, {"seq": seq.astype(float)})
    with pytest.raises(ParameterError, match="the batch is empty"):
        lstm.forward(params, {"seq": seq[:0]})
    with pytest.raises(ParameterError, match=r"parameter 'encoder.lstm.w_hh' must have shape"):
        lstm.forward({**params, "encoder.lstm.w_hh": np.zeros((2, 2), np.float32)}, {"seq": seq})
    with pytest.raises(ParameterError, match=r"grad_scores must have shape \(3,\)"):
        lstm.backward(lstm.forward(params, {"seq": seq})[1], np.zeros(4))
    gcn = GCNModel.from_space(sp, **SMALL[GCNModel])
    gp = gcn.init_params(0)
    edges = GCNModel.encode(sp, sp.sample(3, rng=0))["edges"]
    with pytest.raises(ParameterError, match=r"operation indices in batch\['edges'\] must be in \[0, 5\)"):
        e = edges.copy()
        e[0, 0, 0, 2] = 9
        gcn.forward(gp, {"edges": e})
    with pytest.raises(ParameterError, match=r"batch\['edges'\] must have shape \[B, 6, 3\]"):
        gcn.forward(gp, {"edges": edges[:, :, :4]})
    with pytest.raises(ParameterError, match=r"The 'readout' parameter of GCNModel must be one of \{'mean', 'output'\}"):
        GCNModel(readout="sum")
    with pytest.raises(ParameterError, match=r"The 'n_edges' parameter of GCNModel must be an integer"):
        GCNModel(n_edges=None)
    mlp = MLPModel.from_space(sp, **SMALL[MLPModel])
    with pytest.raises(ParameterError, match=r"batch\['onehot'\] must have shape \[B, 30\]"):
        mlp.forward(mlp.init_params(0), {"onehot": np.zeros((2, 29), np.float32)})
    with pytest.raises(ParameterError, match="train=True with dropout > 0 needs rng= or masks="):
        m2 = MLPModel(dropout=0.5, mlp_hidden=(4,))
        m2.forward(m2.init_params(0), {"onehot": np.zeros((2, 30), np.float32)}, train=True)


@pytest.mark.parametrize("cls", [MLPModel, LSTMModel, GCNModel])
def test_training_is_reproducible(backend, cls):
    from archmodel.losses import get_loss

    sp = get_space("nb201")
    archs = sp.sample(64, rng=2)
    y = np.array([a.seq.count(3) - a.seq.count(0) for a in archs], dtype=np.float32)

    def train(seed):
        model = _model(cls, sp, dropout=0.2)
        params = model.init_params(0)
        hist = fit_scores(model, params, model.encode(sp, archs), y, get_loss("hinge", backend=backend),
                          Adam(lr=1e-2, backend=backend), epochs=3, batch_size=16, rng=seed,
                          backend=backend)
        return params, hist

    p1, h1 = train(5)
    p2, h2 = train(5)
    p3, _ = train(6)
    assert h1 == h2
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert any(not np.array_equal(p1[k], p3[k]) for k in p1)


# --------------------------------------------------------------------------------------------
# real data: NB201 cells of AnalogNAS-Bench, baseline (digital) CIFAR-10 accuracy
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nb201_data():
    path = require_data("analog-nasbench", "analog_nasbench_flat.csv")
    sp = get_space("nb201")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    archs = [sp.parse(r["arch_str"]) for r in rows]
    y = np.array([float(r["baseline_accuracy"]) for r in rows])
    return sp, archs, y


@pytest.mark.parametrize("cls,kw", [
    (MLPModel, dict(mlp_hidden=(128, 128))),
    (LSTMModel, dict(emb_dim=16, hidden_dim=32, mlp_hidden=(64,))),
    (GCNModel, dict(gcn_dims=(64, 64, 64), mlp_hidden=(64,))),
], ids=["mlp", "lstm", "gcn"])
def test_baselines_rank_real_nb201_cells(nb201_data, cls, kw):
    """Trained on 500 cells with the hinge loss, each baseline ranks 3000 held-out cells."""
    from archmodel.losses import get_loss

    sp, archs, y = nb201_data
    assert len(archs) == 15625
    perm = np.random.default_rng(0).permutation(len(archs))
    tr, te = perm[:500], perm[500:3500]
    model = cls.from_space(sp, n_jobs=1, **kw)
    params = model.init_params(0)
    hist = fit_scores(model, params, model.encode(sp, [archs[i] for i in tr]), y[tr].astype(np.float32),
                      get_loss("hinge", backend="numpy"), Adam(lr=1e-3, backend="numpy"), epochs=30,
                      batch_size=64, rng=1, backend="numpy")
    assert hist[-1] < hist[0]
    pred = model.predict(params, model.encode(sp, [archs[i] for i in te]), backend="numpy")
    tau = kendalltau(pred, y[te])[0]
    assert tau > 0.5, tau


@pytest.mark.parametrize("cls", [LSTMModel, GCNModel])
def test_encoder_forward_and_backward(cls, backend):
    sp = get_space("nb201")
    model = cls.from_space(sp, mlp_hidden=[8], n_jobs=1)
    params = model.init_params(np.random.default_rng(0), np.float64)
    batch = model.encode(sp, sp.sample(4, rng=3))
    x, cache = model.encoder_forward(params, batch, backend=backend.name)
    assert x.shape == (4, model.embedding_dim)
    r = np.random.default_rng(1).standard_normal(x.shape)
    g = model.encoder_backward(cache, r)
    names = sorted(g)[:3]
    assert names and not any(n.startswith("head.") for n in g)

    from conftest import check_encoder_grad

    res = check_encoder_grad(model, params, batch, names, r, backend.name, max_probes=20)
    assert min(res.n_probed) > 0
