"""TA-GATES: semantics against a direct per-cell transcription of the equations, equivalence to
GATES at one time step, end-to-end gradient checks (with and without the stop-gradient of the
authors' update), NumPy/Numba parity, determinism, chunking, input validation and the
predictor's API."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.errors import ParameterError
from archmodel.models.gates import GATESModel
from archmodel.models.tagates import TAGATESModel, cell_noise
from archmodel.testing import GradientCheckError, check_grad
from conftest import nb201_edges

SMALL = dict(n_nodes=4, n_ops=5, gates_dims=(6, 5), mlp_hidden=(7,), op_emb_dim=4, node_emb_dim=3,
             hidden_dim=6, dropout=0.0, backward_dims=(5, 6, 4), fb_dims=(4, 5), update_dims=(6,),
             update_ops=(2, 3), update_scale=0.7)


@pytest.fixture(scope="module")
def edges() -> np.ndarray:
    ops = np.random.default_rng(1).integers(0, 5, (14, 6))
    ops[0] = [2, 3, 2, 3, 2, 3]        # every edge updated
    ops[1] = [0, 0, 0, 0, 0, 1]        # the output node unreachable but by a skip from node 2
    ops[2] = [1, 4, 1, 4, 1, 4]        # nothing updated
    return nb201_edges(ops)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _mlp(params, name, x, n_hidden):
    for i in range(n_hidden):
        x = np.maximum(x @ params[f"{name}.fc{i}.weight"] + params[f"{name}.fc{i}.bias"], 0)
    return x @ params[f"{name}.out.weight"] + params[f"{name}.out.bias"]


def naive_scores(m: TAGATESModel, params, edges: np.ndarray, stats=None) -> np.ndarray:
    """The module docstring's equations, one cell at a time, with dense node loops (residual:
    the input nodes forward and the output node backward, or every node)."""
    p = lambda k: params[f"encoder.cell0.{k}"]  # noqa: E731
    n, out = m.n_nodes, m.output_node
    scores = []
    for b in range(edges.shape[0]):
        live = [(int(s), int(d), int(o), k) for k, (s, d, o) in enumerate(edges[b]) if o != m.none_op]
        emb = {k: p("op_emb")[o].copy() for (_, _, o, k) in live}
        if m.symmetry_breaking == "noise":
            lv = edges[b:b + 1, :, 2] != m.none_op
            z = cell_noise(edges[b:b + 1], lv, m.op_emb_dim, m.noise_seed)[0]
            for k in emb:
                emb[k] = emb[k] + m.noise_std * z[k]
        node = np.zeros((n, m.node_emb_dim))
        node[:m.n_inputs] = p("input_emb")
        x0 = node @ p("x_hidden.weight") + p("x_hidden.bias")
        for t in range(m.time_steps):
            aug = {k: (emb[k] if stats is None else np.concatenate([emb[k], stats[b, k]])) for k in emb}
            y = x0
            fmsg = {}
            for l in range(len(m.gates_dims)):
                s = y @ p(f"gates{l}.weight")
                z = s.copy() if m.residual == "all" else np.zeros_like(s)
                z[:m.n_inputs] = s[:m.n_inputs]
                for (i, j, o, k) in live:
                    g = _sig(aug[k] @ p(f"gates{l}.op_attn.weight") + p(f"gates{l}.op_attn.bias"))
                    z[j] += g * s[i]
                    fmsg[k] = g * s[i]
                y = np.maximum(z, 0) if l < len(m.gates_dims) - 1 else z
            if t == m.time_steps - 1:
                break
            by = np.zeros((n, m.fb_dims[-1]))
            by[out] = _mlp(params, "encoder.cell0.fb", y[out], len(m.fb_dims) - 1)
            bmsg = {}
            for l in range(len(m.backward_dims)):
                s = by @ p(f"bgates{l}.weight")
                z = s.copy() if m.residual == "all" else np.zeros_like(s)
                z[out] = s[out]
                for (i, j, o, k) in live:
                    g = _sig(aug[k] @ p(f"bgates{l}.op_attn.weight") + p(f"bgates{l}.op_attn.bias"))
                    z[i] += g * s[j]
                    bmsg[k] = g * s[j]
                by = np.maximum(z, 0) if l < len(m.backward_dims) - 1 else z
            for (i, j, o, k) in live:
                if o in m.update_ops:
                    u = _mlp(params, "encoder.cell0.update", np.concatenate([emb[k], fmsg[k], bmsg[k]]),
                             len(m.update_dims))
                    emb[k] = emb[k] + m.update_scale * u
        h = y[out]
        scores.append(_mlp(params, "head", h, len(m.mlp_hidden))[0])
    return np.array(scores)


@pytest.mark.parametrize("mode", ["none", "noise", "stats"])
@pytest.mark.parametrize("residual", ["inputs", "all"])
def test_matches_naive_transcription(backend, edges, mode, residual):
    m = TAGATESModel(time_steps=3, symmetry_breaking=mode, n_stats=2 if mode == "stats" else 0,
                     residual=residual, **SMALL)
    params = m.init_params(0, dtype=np.float64)
    stats = np.random.default_rng(2).normal(size=(len(edges), 6, 2)) if mode == "stats" else None
    batch = {"edges": edges} if stats is None else {"edges": edges, "edge_stats": stats}
    ref = naive_scores(m, params, edges, stats)
    scores, _ = m.forward(params, batch, backend=backend)
    np.testing.assert_allclose(scores, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.predict(params, batch, backend=backend), ref, rtol=0, atol=1e-12)


def test_one_time_step_is_gates(backend, edges):
    kw = {k: v for k, v in SMALL.items() if k in ("n_nodes", "n_ops", "gates_dims", "mlp_hidden",
                                                   "op_emb_dim", "node_emb_dim", "hidden_dim")}
    g, t = GATESModel(**kw, dropout=0.2), TAGATESModel(time_steps=1, **kw, dropout=0.2)
    pg, pt = g.init_params(5, dtype=np.float64), t.init_params(5, dtype=np.float64)
    assert list(pg) == list(pt) and all(np.array_equal(pg[k], pt[k]) for k in pg)
    sg, cg = g.forward(pg, {"edges": edges}, train=True, rng=3, backend=backend)
    st, ct = t.forward(pt, {"edges": edges}, train=True, rng=3, backend=backend)
    np.testing.assert_allclose(st, sg, rtol=0, atol=1e-13)
    w = np.linspace(-1, 1, len(edges))
    gg, gt = g.backward(cg, w), t.backward(ct, w)
    for k in gg:
        np.testing.assert_allclose(gt[k], gg[k], rtol=0, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("mode", ["none", "noise", "stats"])
@pytest.mark.parametrize("residual", ["inputs", "all"])
def test_gradients_end_to_end(edges, mode, residual):
    """detach=False: the gradient of the forward function itself, checked by finite differences."""
    m = TAGATESModel(time_steps=3, symmetry_breaking=mode, n_stats=2 if mode == "stats" else 0,
                     residual=residual, detach=False, **SMALL)
    params = m.init_params(3, dtype=np.float64)
    batch = {"edges": edges}
    if mode == "stats":
        batch["edge_stats"] = np.random.default_rng(0).normal(size=(len(edges), 6, 2))
    names = list(params)
    w = np.random.default_rng(1).normal(size=len(edges))

    def fn(*arrs):
        pp = dict(zip(names, arrs))
        s, c = m.forward(pp, batch, backend="numpy")
        g = m.backward(c, w)
        return float(w @ s), [g[k] for k in names]

    check_grad(fn, *[params[k] for k in names], max_probes=40)


def _stop_gradient_check(m: TAGATESModel, params, batch, w, freeze: bool) -> None:
    names = list(params)
    s0, c0 = m.forward(params, batch, backend="numpy")
    g0 = m.backward(c0, w)
    if freeze:
        steps = c0["chunks"][0]["enc"][0]["steps"][:-1]
        m._frozen_update_inputs = [(st["e"], st["fm"]) for st in steps]

    def fn(*arrs):
        s, _ = m.forward(dict(zip(names, arrs)), batch, backend="numpy")
        return float(w @ s), [g0[k] for k in names]

    try:
        check_grad(fn, *[params[k] for k in names], max_probes=40)
    finally:
        m._frozen_update_inputs = None


@pytest.mark.parametrize("mode", ["none", "noise"])
def test_stop_gradient_of_the_update(edges, mode):
    """detach=True (the authors' setting): the gradient is that of the function in which the
    update's inputs E_t and the forward message are constants; finite differences of exactly
    that function (inputs frozen at their values) agree, those of the live function do not."""
    m = TAGATESModel(time_steps=3, symmetry_breaking=mode, detach=True, **SMALL)
    params = m.init_params(4, dtype=np.float64)
    w = np.random.default_rng(1).normal(size=len(edges))
    _stop_gradient_check(m, params, {"edges": edges}, w, freeze=True)
    with pytest.raises(GradientCheckError):
        _stop_gradient_check(m, params, {"edges": edges}, w, freeze=False)


@pytest.mark.parametrize("detach", [True, False])
def test_numpy_numba_parity(numba_module, edges, detach):
    m = TAGATESModel(time_steps=4, symmetry_breaking="noise", detach=detach, **{**SMALL, "dropout": 0.3})
    params = m.init_params(7, dtype=np.float64)
    w = np.random.default_rng(1).normal(size=len(edges))
    out = {}
    for be in ("numpy", "numba"):
        s, c = m.forward(params, {"edges": edges}, train=True, rng=11, backend=be)
        out[be] = (s, m.backward(c, w), m.predict(params, {"edges": edges}, backend=be))
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["numba"][2], out["numpy"][2], rtol=0, atol=1e-9)
    for k, v in out["numpy"][1].items():
        np.testing.assert_allclose(out["numba"][1][k], v, rtol=0, atol=1e-9, err_msg=k)


def test_cells_are_independent_of_chunking_and_position(edges):
    small = TAGATESModel(time_steps=3, symmetry_breaking="noise", chunk_size=3, **SMALL)
    big = TAGATESModel(time_steps=3, symmetry_breaking="noise", chunk_size=256, **SMALL)
    params = small.init_params(1, dtype=np.float64)
    s1, c1 = small.forward(params, {"edges": edges}, backend="numpy")
    s2, c2 = big.forward(params, {"edges": edges}, backend="numpy")
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-13)
    g1, g2 = small.backward(c1, np.ones(len(edges))), big.backward(c2, np.ones(len(edges)))
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10, atol=1e-12, err_msg=k)
    perm = np.random.default_rng(0).permutation(len(edges))
    twice = np.concatenate([edges[perm], edges[:3]])
    p = big.predict(params, {"edges": twice}, backend="numpy")
    np.testing.assert_allclose(p[:len(edges)], s2[perm], rtol=0, atol=1e-13)
    np.testing.assert_allclose(p[len(edges):], s2[:3], rtol=0, atol=1e-13)


def test_noise_is_a_fixed_function_of_the_cell(edges):
    live = edges[..., 2] != 0
    a = cell_noise(edges, live, 4, 0)
    np.testing.assert_array_equal(cell_noise(edges[::-1], live[::-1], 4, 0), a[::-1])
    assert not np.allclose(cell_noise(edges, live, 4, 1), a)
    assert abs(cell_noise(np.repeat(edges, 200, axis=0), np.repeat(live, 200, axis=0), 4, 0).std() - 1) < 0.1
    # distinct cells get distinct noise
    assert not np.allclose(a[3], a[4])


def test_noise_changes_every_cell_whose_output_sees_an_edge(edges):
    """The noise is on every live edge's embedding: it moves each score, except that of cell 1,
    whose output node receives a skip from a node that receives nothing (its state is 0)."""
    base = TAGATESModel(time_steps=3, **SMALL)
    noisy = TAGATESModel(time_steps=3, symmetry_breaking="noise", **SMALL)
    params = base.init_params(2, dtype=np.float64)
    diff = np.abs(base.predict(params, {"edges": edges}, backend="numpy")
                  - noisy.predict(params, {"edges": edges}, backend="numpy"))
    assert diff[1] == 0
    assert np.all(np.delete(diff, 1) > 1e-7)


def test_validation_errors(edges):
    with pytest.raises(ParameterError, match="operation-on-edge"):
        TAGATESModel(kind="node", n_nodes=7)
    with pytest.raises(ParameterError, match="n_cells=1"):
        TAGATESModel(n_cells=2)
    with pytest.raises(ParameterError, match="symmetry_breaking"):
        TAGATESModel(symmetry_breaking="random")
    with pytest.raises(ParameterError, match="n_stats"):
        TAGATESModel(n_stats=3)
    with pytest.raises(ParameterError, match="update_ops"):
        TAGATESModel(update_ops=(7,))
    m = TAGATESModel(symmetry_breaking="stats", n_stats=2, time_steps=2, **{k: v for k, v in SMALL.items()})
    params = m.init_params(0)
    with pytest.raises(ParameterError, match="edge_stats"):
        m.predict(params, {"edges": edges})
    with pytest.raises(ParameterError, match=r"\[14, 6, 2\]"):
        m.predict(params, {"edges": edges, "edge_stats": np.zeros((14, 6, 3))})
    with pytest.raises(ParameterError, match="finite"):
        m.predict(params, {"edges": edges, "edge_stats": np.full((14, 6, 2), np.nan)})


def test_predictor_fit_save_load(tmp_path):
    from archmodel.predictors import load_predictor, make_predictor
    from archmodel.spaces import get_space

    sp = get_space("nb201")
    archs = sp.sample(40, 0)
    y = np.array([a.seq.count(3) - a.seq.count(0) for a in archs], float)
    p = make_predictor("tagates", epochs=30, time_steps=2, gates_dims=(16, 16), backward_dims=(16,),
                       fb_dims=(16,), update_dims=(16,), mlp_hidden=(32,), symmetry_breaking="noise",
                       rng=0)
    assert p.fit(archs, y) is p
    assert p.model_.update_ops == [2, 3]            # the two convolutions of NB201
    assert p.score(archs, y) > 0.5
    path = tmp_path / "tag.npz"
    p.save(path)
    q = load_predictor(path)
    assert type(q).__name__ == "TAGATESPredictor"
    np.testing.assert_array_equal(q.predict(archs), p.predict(archs))
    with pytest.raises(ParameterError, match="stats"):
        make_predictor("tagates", symmetry_breaking="stats").fit(archs, y)
    with pytest.raises(ParameterError, match="nb101"):
        nb = get_space("nb101")
        make_predictor("tagates", epochs=1).fit(nb.sample(4, 0), [1, 2, 3, 4])
