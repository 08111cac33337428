"""The dynamic ensemble (DELE): the weighted sum and softmax gate against a direct computation,
finite-difference gradients through experts and gate, NumPy/Numba parity, the uniform
ensemble, the low-fidelity signal registry, and DELEPredictor's two-stage fit and persistence."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.errors import DataError, ParameterError
from archmodel.models.ensemble import EnsembleModel
from archmodel.models.gates import GATESModel
from archmodel.models.tagates import TAGATESModel
from archmodel.testing import check_grad
from conftest import nb201_edges

SMALL = dict(gates_dims=(5, 6), mlp_hidden=(7,), op_emb_dim=4, node_emb_dim=3, hidden_dim=5, dropout=0.0)


@pytest.fixture(scope="module")
def edges() -> np.ndarray:
    return nb201_edges(np.random.default_rng(3).integers(0, 5, (11, 6)))


def _ensemble(k: int = 3, gate: bool = True, tagates: bool = False) -> EnsembleModel:
    cls = TAGATESModel if tagates else GATESModel
    # detach=False: the function's own gradient, so finite differences check it
    extra = dict(time_steps=2, backward_dims=(4,), fb_dims=(4,), update_dims=(4,), update_ops=(2, 3),
                 detach=False) if tagates else {}
    experts = [cls(**SMALL, **extra) for _ in range(k)]
    return EnsembleModel(experts, cls(**SMALL, **extra, n_outputs=k) if gate else None, temperature=0.7)


def test_scores_are_the_gate_weighted_expert_scores(backend, edges):
    ens = _ensemble()
    params = ens.init_params(0, dtype=np.float64)
    s = np.stack([m.predict(ens.sub_params(params, f"expert{k}."), {"edges": edges}, backend=backend)
                  for k, m in enumerate(ens.experts)], axis=1)
    z = ens.gate.predict(ens.sub_params(params, "gate."), {"edges": edges}, backend=backend) / 0.7
    w = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ens.predict(params, {"edges": edges}, backend=backend), (w * s).sum(1),
                               rtol=0, atol=1e-13)
    scores, _ = ens.forward(params, {"edges": edges}, backend=backend)
    np.testing.assert_allclose(scores, (w * s).sum(1), rtol=0, atol=1e-13)
    np.testing.assert_allclose(ens.gate_weights(params, {"edges": edges}, backend=backend).sum(1), 1, atol=1e-14)
    uni = EnsembleModel(ens.experts, None)
    p_uni = {k: v for k, v in params.items() if not k.startswith("gate.")}
    np.testing.assert_allclose(uni.predict(p_uni, {"edges": edges}, backend=backend), s.mean(1), rtol=0, atol=1e-13)


@pytest.mark.parametrize("gate", [True, False])
@pytest.mark.parametrize("tagates", [False, True])
def test_gradients_through_experts_and_gate(edges, gate, tagates):
    ens = _ensemble(gate=gate, tagates=tagates)
    params = ens.init_params(1, dtype=np.float64)
    names = list(params)
    w = np.random.default_rng(0).normal(size=len(edges))

    def fn(*arrs):
        pp = dict(zip(names, arrs))
        s, c = ens.forward(pp, {"edges": edges}, backend="numpy")
        g = ens.backward(c, w)
        return float(w @ s), [g[k] for k in names]

    check_grad(fn, *[params[k] for k in names], max_probes=25)


def test_numpy_numba_parity(numba_module, edges):
    ens = _ensemble()
    params = ens.init_params(2, dtype=np.float64)
    out = {}
    for be in ("numpy", "numba"):
        s, c = ens.forward(params, {"edges": edges}, train=True, rng=5, backend=be)
        out[be] = (s, ens.backward(c, np.ones(len(edges))))
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=0, atol=1e-9)
    for k, v in out["numpy"][1].items():
        np.testing.assert_allclose(out["numba"][1][k], v, rtol=0, atol=1e-9, err_msg=k)


def test_model_errors():
    with pytest.raises(ParameterError, match="n_outputs=2"):
        EnsembleModel([GATESModel(**SMALL), GATESModel(**SMALL)], GATESModel(**SMALL))
    with pytest.raises(ParameterError, match="at least one expert"):
        EnsembleModel([])
    ens = _ensemble()
    with pytest.raises(ParameterError, match="grad_scores must have shape"):
        _, c = ens.forward(ens.init_params(0), {"edges": nb201_edges(np.zeros((2, 6), int))})
        ens.backward(c, np.ones(3))


def test_signal_registry_computed_and_errors():
    from archmodel.signals import nb201_complexity, signal_column
    from archmodel.signals.registry import clean_signal
    from archmodel.spaces import get_space

    archs = get_space("nb201").sample(20, 0)
    np.testing.assert_array_equal(signal_column("params", archs), nb201_complexity(archs)["params"])
    np.testing.assert_array_equal(clean_signal([1.0, -1e8, -np.inf, np.nan]), [1.0, np.nan, np.nan, np.nan])
    with pytest.raises(ParameterError, match="non-empty"):
        signal_column("", archs)


def test_signal_registry_file_signals(monkeypatch):
    """The NASLib file's signals join by architecture; failure values are missing, never scores."""
    from conftest import require_data

    from archmodel.data import load_dataset
    from archmodel.signals import signal_column

    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(require_data("naslib-zc-suite-zero").parent))
    zc = load_dataset("zc/nb201")
    raw = np.asarray(zc.low_fidelity["jacov"], float)
    col = signal_column("jacob_cov", zc)
    assert np.isnan(col[(raw == -1e8) | ~np.isfinite(raw)]).all() and np.isfinite(col).sum() >= 700
    np.testing.assert_array_equal(col[np.isfinite(col)], raw[np.isfinite(col)])
    np.testing.assert_array_equal(signal_column("file:params", zc), np.asarray(zc.low_fidelity["params"], float))
    with pytest.raises(DataError, match="unknown"):
        signal_column("nope", zc)


def test_dele_predictor_two_stages_and_persistence(tmp_path):
    from archmodel.predictors import DELEPredictor, load_predictor
    from archmodel.spaces import get_space

    sp = get_space("nb201")
    archs = sp.sample(30, 1)
    y = np.array([a.seq.count(3) + 0.5 * a.seq.count(2) for a in archs], float)
    p = DELEPredictor(low_fidelity=["params", "macs"], pretrain_epochs=5, pretrain_size=64, epochs=20,
                      expert_params={"gates_dims": (8,), "mlp_hidden": (16,)}, rng=0)
    assert p.fit(archs, y) is p
    assert set(p.pretrain_history_) == {"params", "macs"} and p.n_pretrain_ == {"params": 64, "macs": 64}
    w = p.gate_weights(archs)
    assert w.shape == (30, 2) and np.allclose(w.sum(1), 1)
    path = tmp_path / "dele.npz"
    p.save(path)
    q = load_predictor(path)
    np.testing.assert_array_equal(q.predict(archs), p.predict(archs))
    np.testing.assert_array_equal(q.gate_weights(archs), w)
    uni = DELEPredictor(low_fidelity=["params"], gate="uniform", pretrain_epochs=2, pretrain_size=16, epochs=2,
                        expert_params={"gates_dims": (8,), "mlp_hidden": (16,)}, rng=0).fit(archs, y)
    assert np.all(uni.gate_weights(archs) == 1.0)
    with pytest.raises(ParameterError, match="gate"):
        DELEPredictor(gate="soft").fit(archs, y)
    with pytest.raises(ParameterError, match="twice"):
        DELEPredictor(low_fidelity=["params", "params"]).fit(archs, y)
    with pytest.raises(ParameterError, match="expert_params"):
        DELEPredictor(expert_params={"epochs": 3}).fit(archs, y)
