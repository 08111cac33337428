"""The GATES array model: semantics against a naive per-cell implementation, gradients,
NumPy/Numba parity, isomorphism invariance, determinism and input validation."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from archmodel.backends import get_backend
from archmodel.errors import ParameterError, TrainingDivergedError
from archmodel.models.gates import GATESModel, compress_edges
from archmodel.nn import Adam, fit_scores
from archmodel.testing import check_grad
from conftest import NB201_EDGES, nb201_edges

SMALL = dict(op_emb_dim=5, node_emb_dim=4, hidden_dim=6, gates_dims=(7, 8, 6),
             mlp_hidden=(9, 5), dropout=0.2)


def random_darts_edges(rng, b: int, n_ops: int = 8) -> np.ndarray:
    """DARTS-like cells: 2 inputs, 4 intermediate nodes with 2 incoming edges each (N = 6)."""
    e = np.zeros((b, 8, 3), np.int64)
    for i in range(4):
        dst = i + 2
        for k in range(2):
            e[:, 2 * i + k, 0] = rng.integers(0, dst, b)
            e[:, 2 * i + k, 1] = dst
            e[:, 2 * i + k, 2] = rng.integers(1, n_ops, b)
    return e


def random_dags(rng, b: int, n: int = 7, n_ops: int = 5, p: float = 0.4):
    """NB101-like op-on-node cells: strictly lower-triangular adjacency (edge j -> i at [i, j])."""
    adj = (rng.random((b, n, n)) < p) & np.tril(np.ones((n, n), bool), -1)
    adj[:, 0, :] = False
    ops = rng.integers(0, n_ops, (b, n))
    return adj.astype(np.float64), ops


# ----------------------------------------------------------------------------- naive reference
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def naive_scores(model: GATESModel, params, batch, masks=None) -> np.ndarray:
    """Direct transcription of the GATES equations, one cell at a time (no compression)."""
    cells = model.check_batch(batch)
    b = cells[0][0].shape[0]
    out = np.zeros(b)
    n, n_in, L = model.n_nodes, model.n_inputs, len(model.gates_dims)
    for i in range(b):
        feats = []
        for c in range(model.n_cells):
            p = lambda k: params[f"encoder.cell{c}.{k}"]  # noqa: E731
            emb = np.zeros((n, model.node_emb_dim))
            emb[:n_in] = p("input_emb")
            x = emb @ p("x_hidden.weight") + p("x_hidden.bias")
            for l in range(L):
                s = x @ p(f"gates{l}.weight")
                gate = _sigmoid(p("op_emb") @ p(f"gates{l}.op_attn.weight") + p(f"gates{l}.op_attn.bias"))
                y = s.copy()
                if model.residual == "inputs":  # only input nodes keep their own state
                    y[n_in:] = 0
                if model.kind == "edge":
                    for src, dst, op in cells[c][0][i]:
                        if op != model.none_op:
                            y[dst] += gate[op] * s[src]
                else:
                    a, ops = cells[c][0][i].astype(float), cells[c][1][i]
                    y += gate[ops] * (a @ s)
                x = np.maximum(y, 0) if l < L - 1 else y
            feats.append(x[model.output_node] if model.readout == "output" else x[n_in:].mean(0))
        h = np.concatenate(feats)
        for j in range(len(model.mlp_hidden)):
            h = np.maximum(h @ params[f"head.fc{j}.weight"] + params[f"head.fc{j}.bias"], 0)
            if masks is not None:
                h = h * masks[j][i]
        out[i] = (h @ params["head.out.weight"] + params["head.out.bias"])[0]
    return out


def _edge_batch(rng, b, n_cells):
    if n_cells == 1:
        return {"edges": nb201_edges(rng.integers(0, 5, (b, 6)))}
    return {"edges": nb201_edges(rng.integers(0, 5, (b, n_cells, 6)))}


def _node_batch(rng, b, n_cells):
    adj, ops = random_dags(rng, b * n_cells)
    if n_cells == 1:
        return {"adj": adj, "node_ops": ops}
    return {"adj": adj.reshape(b, n_cells, 7, 7), "node_ops": ops.reshape(b, n_cells, 7)}


def _model(kind, n_cells, readout="output", **kw):
    kw.setdefault("n_jobs", 1)  # threads are exercised by the tests that pass n_jobs explicitly
    if kind == "edge":
        return GATESModel(kind="edge", n_nodes=4, n_inputs=1, n_ops=5, n_cells=n_cells,
                          readout=readout, **{**SMALL, **kw})
    return GATESModel(kind="node", n_nodes=7, n_inputs=1, n_ops=5, n_cells=n_cells,
                      readout=readout, **{**SMALL, **kw})


def _batch(kind, rng, b, n_cells):
    return _edge_batch(rng, b, n_cells) if kind == "edge" else _node_batch(rng, b, n_cells)


# ----------------------------------------------------------------------------- semantics
@pytest.mark.parametrize("kind", ["edge", "node"])
@pytest.mark.parametrize("n_cells", [1, 2])
@pytest.mark.parametrize("readout", ["output", "mean"])
@pytest.mark.parametrize("residual", ["inputs", "all"])
def test_forward_matches_naive_equations(backend, kind, n_cells, readout, residual):
    rng = np.random.default_rng(1)
    model = _model(kind, n_cells, readout, chunk_size=7, residual=residual)
    params = model.init_params(rng, np.float64)
    batch = _batch(kind, rng, 20, n_cells)
    masks = model.head.draw_masks(rng, 20, np.float64)
    scores, _ = model.forward(params, batch, train=True, masks=masks, backend=backend)
    np.testing.assert_allclose(scores, naive_scores(model, params, batch, masks), rtol=1e-10, atol=1e-12)
    ev = model.predict(params, batch, backend=backend)
    np.testing.assert_allclose(ev, naive_scores(model, params, batch), rtol=1e-10, atol=1e-12)
    assert model.embed(params, batch, backend=backend).shape == (20, n_cells * 6)


def test_darts_two_inputs_double_edges(backend):
    """DARTS-like cells (2 inputs, N=6) incl. two edges between the same pair of nodes."""
    rng = np.random.default_rng(2)
    model = GATESModel(kind="edge", n_nodes=6, n_inputs=2, n_ops=8, n_cells=2, readout="mean",
                       **SMALL)
    params = model.init_params(rng, np.float64)
    e = np.stack([random_darts_edges(rng, 12), random_darts_edges(rng, 12)], axis=1)
    e[0, 0, 1] = e[0, 0, 0]  # duplicate edge (same src, dst, op)
    batch = {"edges": e}
    scores, _ = model.forward(params, batch, backend=backend)
    np.testing.assert_allclose(scores, naive_scores(model, params, batch), rtol=1e-10, atol=1e-12)


def test_none_op_edges_are_ignored(backend):
    rng = np.random.default_rng(3)
    model = _model("edge", 1)
    params = model.init_params(rng, np.float64)
    e = nb201_edges(rng.integers(1, 5, (5, 6)))
    # appending 'none' rows (padding, any endpoints) changes nothing
    pad = np.zeros((5, 3, 3), np.int64)
    pad[:, 1] = [2, 1, 0]
    s1 = model.predict(params, {"edges": e}, backend=backend)
    s2 = model.predict(params, {"edges": np.concatenate([e, pad], axis=1)}, backend=backend)
    np.testing.assert_allclose(s1, s2, rtol=1e-13)


def test_compression_is_exact_and_shares_rows():
    ops = np.array(list(itertools.product(range(5), repeat=6)))
    plan = compress_edges(nb201_edges(ops), 4, 1, 5, 0, [3])
    # independent count of distinct node states: a node's state is the multiset of
    # (source state, op) over its non-'none' incoming edges (nested tuples)
    per_node = [set(), set(), set(), set()]
    for o in ops:
        state = {0: ("input",)}
        for i in (1, 2, 3):
            msgs = sorted((repr(state[s]), int(op)) for k, (s, d) in enumerate(NB201_EDGES)
                          for op in [o[k]] if d == i and op != 0)
            state[i] = tuple(msgs)
            per_node[i].add(state[i])
    assert [len(s) for s in per_node[1:3]] == [5, 105]
    # rows are shared across the batch and across node positions
    assert plan.n_rows == 1 + len(per_node[1] | per_node[2] | per_node[3])
    assert len(np.unique(plan.read_rows)) == len(per_node[3]) < 15625
    assert np.all(plan.msg_src < np.repeat(np.arange(plan.n_rows), np.diff(plan.msg_ptr)))


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("kind", ["edge", "node"])
@pytest.mark.parametrize("n_cells", [1, 2])
@pytest.mark.parametrize("residual", ["inputs", "all"])
def test_gradcheck_full_model(backend, kind, n_cells, residual):
    rng = np.random.default_rng(4)
    model = _model(kind, n_cells, "output" if n_cells == 1 else "mean", chunk_size=5, residual=residual)
    params = model.init_params(rng, np.float64)
    batch = _batch(kind, rng, 11, n_cells)
    masks = model.head.draw_masks(rng, 11, np.float64)
    r = rng.standard_normal(11)
    names = list(model.param_shapes())

    def fn(*arrays):
        p = dict(zip(names, arrays))
        s, cache = model.forward(p, batch, train=True, masks=masks, backend=backend)
        g = model.backward(cache, r)
        return float(s @ r), [g[k] for k in names]

    check_grad(fn, *[params[k] for k in names], max_probes=8, rtol=1e-5, atol=1e-9)


def test_value_and_grad_matches_forward_backward(backend):
    rng = np.random.default_rng(5)
    model = _model("edge", 1, dropout=0.0)
    params = model.init_params(rng, np.float64)
    batch = _edge_batch(rng, 6, 1)
    y = rng.standard_normal(6)

    def mse(s, y, rng):
        return float(((s - y) ** 2).mean()), 2 * (s - y) / len(y)

    loss, grads, scores = model.value_and_grad(params, batch, y, mse, backend=backend)
    s, cache = model.forward(params, batch, backend=backend)
    assert loss == pytest.approx(float(((s - y) ** 2).mean()))
    g2 = model.backward(cache, 2 * (s - y) / 6)
    for k in grads:
        np.testing.assert_allclose(grads[k], g2[k], rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- invariances
def _nb201_swap_12(ops):
    """NB201 cell with nodes 1 and 2 relabelled (valid only when edge 1->2 is 'none')."""
    o = np.array(ops)
    assert o[2] == 0
    # edges: 0:(0,1) 1:(0,2) 2:(1,2) 3:(0,3) 4:(1,3) 5:(2,3)
    return [o[1], o[0], 0, o[3], o[5], o[4]]


def test_isomorphic_edge_cells_same_score(backend):
    rng = np.random.default_rng(6)
    model = _model("edge", 1, dropout=0.0)
    params = model.init_params(rng, np.float64)
    base = [[3, 2, 0, 1, 4, 2], [1, 1, 0, 0, 3, 4], [2, 4, 0, 3, 0, 1]]
    swapped = [_nb201_swap_12(o) for o in base]
    a = model.embed(params, {"edges": nb201_edges(np.array(base))}, backend=backend)
    b = model.embed(params, {"edges": nb201_edges(np.array(swapped))}, backend=backend)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # edge-row order does not matter either
    e = nb201_edges(np.array(base))
    perm = rng.permutation(6)
    np.testing.assert_allclose(model.embed(params, {"edges": e[:, perm]}, backend=backend), a,
                               rtol=1e-12, atol=1e-14)
    # ... while a non-isomorphic cell differs
    other = model.embed(params, {"edges": nb201_edges(np.array([[3, 2, 1, 1, 4, 2]]))}, backend=backend)
    assert not np.allclose(other[0], a[0])
    # float32 as well (same cells in the same batch share their rows exactly)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    both = model.embed(p32, {"edges": nb201_edges(np.array(base + swapped))}, backend=backend)
    np.testing.assert_array_equal(both[:3], both[3:])


def test_isomorphic_node_cells_same_score(backend):
    rng = np.random.default_rng(7)
    model = _model("node", 1, dropout=0.0, readout="output")
    params = model.init_params(rng, np.float64)
    # 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 4, 3 -> 5, 4 -> 5, 5 -> 6, 2 -> 6 ; nodes 1..4 form two chains
    n = 7
    edges = [(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 5), (5, 6), (2, 6)]
    ops = np.array([0, 1, 2, 3, 4, 1, 2])
    adj = np.zeros((n, n))
    for s, d in edges:
        adj[d, s] = 1
    # relabel 1<->2 and 3<->4 (a topological order is kept)
    perm = np.array([0, 2, 1, 4, 3, 5, 6])
    adj2 = np.zeros_like(adj)
    for s, d in edges:
        adj2[perm[d], perm[s]] = 1
    ops2 = np.empty_like(ops)
    ops2[perm] = ops
    batch = {"adj": np.stack([adj, adj2]), "node_ops": np.stack([ops, ops2])}
    emb = model.embed(params, batch, backend=backend)
    np.testing.assert_allclose(emb[0], emb[1], rtol=1e-12, atol=1e-14)
    mean_model = _model("node", 1, dropout=0.0, readout="mean")
    pm = mean_model.init_params(rng, np.float64)
    emb = mean_model.embed(pm, batch, backend=backend)
    np.testing.assert_allclose(emb[0], emb[1], rtol=1e-12, atol=1e-14)
    ops3 = ops2.copy()
    ops3[perm[3]] = 0  # change the op of one relabelled node: not isomorphic any more
    e3 = mean_model.embed(pm, {"adj": adj2[None], "node_ops": ops3[None]}, backend=backend)
    assert not np.allclose(e3[0], emb[0])


def test_chunking_and_threads_do_not_change_results(backend):
    rng = np.random.default_rng(8)
    batch = _edge_batch(rng, 40, 1)
    masks = None
    out = []
    for chunk, jobs in [(1000, 1), (7, 1), (7, 2)]:
        model = _model("edge", 1, chunk_size=chunk, n_jobs=jobs)
        params = model.init_params(np.random.default_rng(0), np.float64)
        if masks is None:
            masks = model.head.draw_masks(np.random.default_rng(1), 40, np.float64)
        s, c = model.forward(params, batch, train=True, masks=masks, backend=backend)
        out.append((s, model.backward(c, np.linspace(-1, 1, 40))))
    for s, g in out[1:]:
        np.testing.assert_allclose(s, out[0][0], rtol=1e-12, atol=1e-14)
        for k in g:
            np.testing.assert_allclose(g[k], out[0][1][k], rtol=1e-10, atol=1e-13)
    # same chunking, different thread counts: bit-identical
    np.testing.assert_array_equal(out[1][0], out[2][0])
    for k in out[1][1]:
        np.testing.assert_array_equal(out[1][1][k], out[2][1][k])


# ----------------------------------------------------------------------------- training
def _hinge(scores, y, rng):
    """Pairwise hinge (margin 0.1) over all ordered pairs with y_i > y_j, mean over pairs."""
    better = (y[:, None] - y[None, :]) > 0
    margin = 0.1 - (scores[:, None] - scores[None, :])
    active = better & (margin > 0)
    n = max(int(better.sum()), 1)
    g = (-active.sum(axis=1) + active.sum(axis=0)) / n
    return float(np.where(active, margin, 0).sum()) / n, g.astype(scores.dtype)


def _nb201_task(n=96):
    rng = np.random.default_rng(9)
    ops = rng.integers(0, 5, (n, 6))
    # a synthetic, structure-dependent target (not real data): conv ops on the 0->3 path count more
    y = (ops == 3).sum(1) + 0.5 * (ops == 2).sum(1) + 1.5 * (ops[:, 3] == 3) - 2.0 * (ops[:, 5] == 0)
    return {"edges": nb201_edges(ops)}, y.astype(np.float64)


def _train(backend, dtype, seed, epochs=3, n_jobs=1):
    batch, y = _nb201_task()
    model = _model("edge", 1, chunk_size=16, n_jobs=n_jobs)  # batches of 32: 2 chunks each
    params = model.init_params(np.random.default_rng(0), dtype)
    hist = fit_scores(model, params, batch, y, _hinge, Adam(3e-3, weight_decay=1e-4, backend=backend),
                      epochs=epochs, batch_size=32, rng=seed, backend=backend)
    return model, params, hist, batch, y


def test_training_reproducible_and_learns(backend, monkeypatch):
    """Two threads (forced, even on a one-CPU runner) train bit for bit like one."""
    import archmodel.models.gates as gates_mod

    seen = []
    threaded = gates_mod.map_chunks

    def spy(fn, n_chunks, n_jobs):
        seen.append((n_chunks, n_jobs))
        return threaded(fn, n_chunks, n_jobs)

    monkeypatch.setattr(gates_mod, "map_chunks", spy)
    model, p1, h1, batch, y = _train(backend, np.float32, 11, epochs=25, n_jobs=2)
    assert (2, 2) in seen  # the chunks of a batch did go to two threads
    _, p2, h2, _, _ = _train(backend, np.float32, 11, epochs=25, n_jobs=1)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    assert h1 == h2
    assert all(v.dtype == np.float32 for v in p1.values())
    scores = model.predict(p1, batch, backend=backend)
    assert scores.dtype == np.float32
    from scipy.stats import kendalltau

    assert kendalltau(scores, y)[0] > 0.5
    assert h1[-1] < h1[0]


def test_backend_parity_float64(numba_module):
    res = {}
    for name in ("numpy", "numba"):
        be = get_backend(name)
        rng = np.random.default_rng(12)
        for kind in ("edge", "node"):
            model = _model(kind, 2, "mean", chunk_size=6)
            params = model.init_params(rng, np.float64)
            batch = _batch(kind, rng, 15, 2)
            s, c = model.forward(params, batch, train=True, rng=rng, backend=be)
            res[(name, kind)] = (s, model.backward(c, rng.standard_normal(15)))
        res[(name, "train")] = _train(be, np.float64, 3)[1]
    for kind in ("edge", "node"):
        (sa, ga), (sb, gb) = res[("numpy", kind)], res[("numba", kind)]
        np.testing.assert_allclose(sa, sb, rtol=1e-9, atol=1e-12)
        for k in ga:
            np.testing.assert_allclose(ga[k], gb[k], rtol=1e-9, atol=1e-12)
    pa, pb = res[("numpy", "train")], res[("numba", "train")]
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=1e-9, atol=1e-12)


def test_nan_target_raises_training_diverged(backend):
    batch, y = _nb201_task(32)
    y[3] = np.nan
    model = _model("edge", 1)
    params = model.init_params(0)

    def mse(s, y, rng):
        return float(((s - y) ** 2).mean()), 2 * (s - y) / len(y)

    with pytest.raises(TrainingDivergedError, match="epoch 1 of 2"):
        fit_scores(model, params, batch, y, mse, Adam(1e-3, backend=backend), epochs=2,
                   batch_size=32, rng=0, backend=backend)


# ----------------------------------------------------------------------------- dtypes and errors
def test_dtypes(backend):
    model = _model("edge", 1)
    batch = _edge_batch(np.random.default_rng(0), 4, 1)
    p32 = model.init_params(0)
    p64 = model.init_params(0, dtype=np.float64)
    assert model.predict(p32, batch, backend=backend).dtype == np.float32
    s64 = model.predict(p64, batch, backend=backend)
    assert s64.dtype == np.float64
    np.testing.assert_allclose(model.predict(p32, batch, backend=backend), s64, rtol=1e-4, atol=1e-5)
    s, c = model.forward(p32, batch, train=True, rng=0, backend=backend)
    g = model.backward(c, np.ones(4))  # float64 grad is cast to the params' dtype
    assert all(v.dtype == np.float32 and v.shape == p32[k].shape for k, v in g.items())
    with pytest.raises(ParameterError, match=r"'dtype' parameter of GATESModel must be one of"):
        model.init_params(0, dtype=np.float16)
    mixed = dict(p32)
    mixed["head.out.bias"] = mixed["head.out.bias"].astype(np.float64)
    with pytest.raises(ParameterError, match="must share one dtype"):
        model.predict(mixed, batch, backend=backend)


def test_config_roundtrip_and_param_names():
    model = GATESModel(kind="edge", n_cells=2)
    again = GATESModel(**model.get_config())
    assert again.param_shapes() == model.param_shapes()
    shapes = model.param_shapes()
    assert shapes["encoder.cell1.op_emb"] == (5, 48)
    assert shapes["encoder.cell0.x_hidden.weight"] == (48, 96)
    assert shapes["encoder.cell0.gates0.weight"] == (96, 128)
    assert shapes["encoder.cell0.gates4.op_attn.weight"] == (48, 128)
    assert shapes["head.fc0.weight"] == (256, 300)
    assert shapes["head.fc4.weight"] == (300, 300)
    assert shapes["head.out.weight"] == (300, 1)
    assert "encoder.cell0.gates5.weight" not in shapes


@pytest.mark.parametrize("batch, match", [
    ({"edges": np.zeros((2, 6, 3))}, "must be an integer array; got dtype float64"),
    ({"edges": np.zeros((2, 6, 2), np.int64)}, r"must have shape \[B, E, 3\]"),
    ({"edges": np.full((2, 6, 3), 5)}, r"operation indices .* must be in \[0, 5\)"),
    ({"edges": np.array([[[0, 4, 1]]])}, r"node indices .* must be in \[0, 4\)"),
    ({"edges": np.array([[[2, 1, 1]]])}, "lower to a higher node index"),
    ({"edges": np.array([[[0, 0, 1]]])}, "lower to a higher node index"),
    ({"adj": np.zeros((2, 4, 4))}, "needs an 'edges' array"),
    ({"edges": np.zeros((2, 3, 6, 3), np.int64)}, r"must be 3-D \[B, \.\.\.\] or \[B, 1, \.\.\.\]"),
])
def test_edge_batch_errors(batch, match):
    model = _model("edge", 1)
    params = model.init_params(0)
    with pytest.raises(ParameterError, match=match):
        model.forward(params, batch, backend="numpy")


def test_node_batch_errors():
    model = _model("node", 1)
    params = model.init_params(0)
    adj, ops = random_dags(np.random.default_rng(0), 3)
    bad = adj.copy()
    bad[0, 2, 5] = 1
    with pytest.raises(ParameterError, match="strictly lower triangular"):
        model.predict(params, {"adj": bad, "node_ops": ops}, backend="numpy")
    bad = adj.copy()
    bad[0, 3, 1] = 0.5
    with pytest.raises(ParameterError, match="entries must be 0 or 1"):
        model.predict(params, {"adj": bad, "node_ops": ops}, backend="numpy")
    with pytest.raises(ParameterError, match=r"missing \['node_ops'\]"):
        model.predict(params, {"adj": adj}, backend="numpy")
    with pytest.raises(ParameterError, match=r"node_ops'\] must be in \[0, 5\)"):
        model.predict(params, {"adj": adj, "node_ops": ops + 5}, backend="numpy")
    with pytest.raises(ParameterError, match=r"must have shape \[B, 7, 7\]"):
        model.predict(params, {"adj": adj[:, :6, :6], "node_ops": ops}, backend="numpy")
    darts = GATESModel(kind="node", n_nodes=7, n_inputs=2, **SMALL)
    adj2 = adj.copy()
    adj2[:, 1, 0] = 1
    with pytest.raises(ParameterError, match=r"input nodes \(the first 2\) cannot receive edges"):
        darts.predict(darts.init_params(0), {"adj": adj2, "node_ops": ops}, backend="numpy")


def test_model_argument_errors():
    with pytest.raises(ParameterError, match=r"'kind' parameter of GATESModel must be one of \{'edge', 'node'\}"):
        GATESModel(kind="ring")
    with pytest.raises(ParameterError, match=r"'n_inputs' parameter of GATESModel"):
        GATESModel(n_nodes=4, n_inputs=4)
    with pytest.raises(ParameterError, match=r"'readout' parameter of GATESModel"):
        GATESModel(readout="max")
    with pytest.raises(ParameterError, match="at least one layer"):
        GATESModel(gates_dims=[])
    model = _model("edge", 1)
    params = model.init_params(0)
    batch = _edge_batch(np.random.default_rng(0), 4, 1)
    broken = dict(params)
    del broken["encoder.cell0.gates1.weight"]
    with pytest.raises(ParameterError, match="'encoder.cell0.gates1.weight' is missing"):
        model.predict(broken, batch, backend="numpy")
    broken = dict(params)
    broken["head.out.weight"] = np.zeros((3, 1), np.float32)
    with pytest.raises(ParameterError, match=r"'head.out.weight' must have shape \(5, 1\)"):
        model.predict(broken, batch, backend="numpy")
    s, c = model.forward(params, batch, train=True, rng=0, backend="numpy")
    with pytest.raises(ParameterError, match=r"grad_scores must have shape \(4,\)"):
        model.backward(c, np.ones(5))
    with pytest.raises(ParameterError, match="needs rng= or masks="):
        model.forward(params, batch, train=True, backend="numpy")


# ----------------------------------------------------------------------------- readout 'nodes'
@pytest.mark.parametrize("kind", ["edge", "node"])
@pytest.mark.parametrize("n_cells", [1, 2])
def test_nodes_readout_encode_and_its_gradient(kind, n_cells, rng, backend):
    model = _model(kind, n_cells, readout="nodes")
    n = model.n_nodes
    assert model.embedding_dim == n_cells * n * model.gates_dims[-1]
    params = model.init_params(rng, np.float64)
    batch = _batch(kind, rng, 5, n_cells)
    x, cache = model.encoder_forward(params, batch, backend=backend.name)
    np.testing.assert_allclose(x, model.embed(params, batch, backend=backend.name), atol=1e-12)
    # each node's block is the readout='output' value when that node is the output node
    h = model.gates_dims[-1]
    out_model = _model(kind, n_cells, readout="output")
    ref = out_model.embed({**params, **{k: v for k, v in out_model.init_params(0, np.float64).items()
                                        if k.startswith("head.")}}, batch, backend=backend.name)
    np.testing.assert_allclose(x[:, (n - 1) * h:n * h], ref[:, :h], atol=1e-12)
    r = rng.standard_normal(x.shape)
    names = [k for k in params if k.startswith("encoder.cell0.")][:6]

    from conftest import check_encoder_grad

    res = check_encoder_grad(model, params, batch, names, r, backend.name, max_probes=25)
    assert min(res.n_probed) > 0
    assert set(model.encoder_backward(cache, r)) == {k for k in params if k.startswith("encoder.")}
