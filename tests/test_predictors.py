"""Predictor API: fit/predict/score, reproducibility, persistence, and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import kendalltau

from archmodel.errors import (DataError, FormatError, InvalidArchitectureError, NotFittedError,
                              ParameterError, TrainingDivergedError)
from archmodel.predictors import GATESPredictor, load_predictor, make_predictor
from archmodel.spaces import get_space

SMALL = dict(gates_dims=(16, 16), mlp_hidden=(16,), hidden_dim=12, op_emb_dim=8, node_emb_dim=8,
             epochs=3, batch_size=32)


def toy(space="nb201", n=64, seed=0):
    sp = get_space(space)
    archs = sp.sample(n, seed)
    # a deterministic target computed from the cell (number of parametric ops), for API tests only
    y = np.array([sum(sp.onehot([a])[0][1::2]) + 0.01 * i for i, a in enumerate(archs)])
    return archs, y


@pytest.mark.parametrize("space", ["nb201", "nb101", "darts", "enas", "nasbench-graph"])
def test_fit_predict_every_space(space):
    archs, y = toy(space)
    p = GATESPredictor(rng=0, **SMALL)
    assert p.fit(archs, y) is p
    s = p.predict(archs)
    assert s.shape == (len(archs),) and s.dtype == np.float32 and np.isfinite(s).all()
    assert len(p.history_) == 3 and p.n_train_ == len(archs)
    # score() is Kendall's tau-b of the predictions (checked with SciPy's implementation),
    # and reversing the target reverses it
    tau = p.score(archs, y)
    assert tau == pytest.approx(kendalltau(s, y).statistic, abs=1e-12)
    assert p.score(archs, -y) == pytest.approx(-tau, abs=1e-12)


def test_same_seed_is_bit_for_bit_reproducible():
    archs, y = toy()
    a = GATESPredictor(rng=5, **SMALL).fit(archs, y)
    b = GATESPredictor(rng=5, **SMALL).fit(archs, y)
    for k in a.params_:
        assert np.array_equal(a.params_[k], b.params_[k]), k
    c = GATESPredictor(rng=6, **SMALL).fit(archs, y)
    assert not all(np.array_equal(a.params_[k], c.params_[k]) for k in a.params_)


def test_backends_agree_in_float64():
    archs, y = toy(n=40)
    kw = dict(SMALL, dtype="float64", rng=1)
    a = GATESPredictor(backend="numpy", **kw).fit(archs, y)
    b = GATESPredictor(backend="numba", **kw).fit(archs, y)
    for k in a.params_:
        np.testing.assert_allclose(a.params_[k], b.params_[k], rtol=1e-9, atol=1e-9, err_msg=k)


def test_learns_a_real_ranking(data_dir):
    import csv

    sp = get_space("nb201")
    with open(data_dir / "analog-nasbench" / "analog_nasbench_flat.csv") as fh:
        rows = list(csv.DictReader(fh))
    archs = [sp.parse(r["arch_str"]) for r in rows]
    y = np.array([float(r["baseline_accuracy"]) for r in rows])
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(archs))
    tr, te = idx[:300], idx[300:3300]
    p = GATESPredictor(rng=0, epochs=60, batch_size=128).fit([archs[i] for i in tr], y[tr])
    assert p.score([archs[i] for i in te], y[te]) > 0.6


def test_save_load_round_trip(tmp_path):
    archs, y = toy()
    p = GATESPredictor(rng=0, **SMALL).fit(archs, y)
    path = tmp_path / "m.npz"
    p.save(path)
    q = load_predictor(path)
    assert type(q) is GATESPredictor and q.get_params() == {**p.get_params(), "gates_dims": [16, 16], "mlp_hidden": [16]}
    np.testing.assert_array_equal(p.predict(archs), q.predict(archs))
    with np.load(path, allow_pickle=False) as z:  # a plain npz, readable without pickle
        header = json.loads(str(z["__header__"]))
    assert header["format"] == "archmodel.predictor" and header["format_version"] == 1


def test_model_file_errors(tmp_path):
    archs, y = toy()
    p = GATESPredictor(rng=0, **SMALL).fit(archs, y)
    good = tmp_path / "m.npz"
    p.save(good)
    # truncated
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(FormatError, match=r"truncated or corrupt"):
        load_predictor(bad)
    # future format version
    from archmodel.io import load_npz, save_npz

    arrays, header = load_npz(good, expected_format="archmodel.predictor", supported_versions=(1,))
    header["format_version"] = 99
    fut = tmp_path / "future.npz"
    save_npz(fut, arrays, header)
    with pytest.raises(FormatError, match=r"format_version 99 is not supported.*newer archmodel"):
        load_predictor(fut)
    # another archmodel file type
    other = tmp_path / "other.npz"
    save_npz(other, {"x": np.zeros(2)}, {"format": "archmodel.network", "format_version": 1})
    with pytest.raises(FormatError, match=r"format is 'archmodel.network', expected 'archmodel.predictor'"):
        load_predictor(other)
    # not an npz at all
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    with pytest.raises(FormatError, match=r"cannot read"):
        load_predictor(junk)


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    archs, y = toy()
    p = GATESPredictor(rng=0, **SMALL).fit(archs, y)
    target = tmp_path / "out.npz"

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        p.save(target)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_errors():
    archs, y = toy()
    with pytest.raises(NotFittedError, match=r"not fitted yet"):
        GATESPredictor().predict(archs)
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(DataError, match=r"NaN/inf values \(first at index 3\)"):
        GATESPredictor(**SMALL).fit(archs, y_nan)
    with pytest.raises(DataError, match=r"shape \(64,\)"):
        GATESPredictor(**SMALL).fit(archs, y[:10])
    with pytest.raises(ParameterError, match=r"'loss' parameter of GATESPredictor must be one of .*Got 'hinj'"):
        GATESPredictor(loss="hinj").fit(archs, y)
    with pytest.raises(ParameterError, match=r"'epochs' parameter of GATESPredictor must be an integer in the range \[1, inf\]"):
        GATESPredictor(epochs=0).fit(archs, y)
    with pytest.raises(ParameterError, match=r"'encoder' parameter must be one of"):
        make_predictor("transformer")
    p = GATESPredictor(rng=0, **SMALL).fit(archs, y)
    other = get_space("nb101").sample(3, 0)
    with pytest.raises(InvalidArchitectureError, match=r"trained on search space 'nb201'; got architectures of 'nb101'"):
        p.predict(other)
    with pytest.raises(InvalidArchitectureError, match=r"unknown op"):
        p.predict(["|bad~0|+|none~0|none~1|+|none~0|none~1|none~2|"])


def test_divergence_is_reported_with_epoch():
    archs, y = toy()
    p = GATESPredictor(rng=0, loss="mse", lr=1e8, **{k: v for k, v in SMALL.items() if k != "epochs"}, epochs=50)
    with pytest.raises(TrainingDivergedError, match=r"diverged at epoch \d+ of 50"):
        p.fit(archs, y)


def test_strings_need_space_and_are_parsed():
    archs, y = toy()
    sp = get_space("nb201")
    texts = [sp.format(a) for a in archs]
    with pytest.raises(ParameterError, match=r"need space="):
        GATESPredictor(**SMALL).fit(texts, y)
    p = GATESPredictor(rng=0, **SMALL).fit(texts, y, space="nb201")
    np.testing.assert_array_equal(p.predict(texts), p.predict(archs))


def test_isomorphic_cells_score_equal():
    sp = get_space("nb201")
    archs, y = toy()
    p = GATESPredictor(rng=0, **SMALL).fit(archs, y)
    b = sp.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    c = sp.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    s = p.predict([b, c])
    assert s[0] == s[1]


@pytest.mark.parametrize("encoder,kw", [
    ("mlp", dict(mlp_hidden=(16,))),
    ("lstm", dict(emb_dim=8, hidden_dim=12, mlp_hidden=(16,))),
    ("gcn", dict(gcn_dims=(16, 16), mlp_hidden=(16,))),
])
@pytest.mark.parametrize("space", ["nb201", "nb101", "darts"])
def test_baselines_fit_save_load(encoder, kw, space, tmp_path):
    archs, y = toy(space, n=48)
    p = make_predictor(encoder, rng=0, epochs=3, batch_size=16, **kw).fit(archs, y)
    s = p.predict(archs)
    assert s.shape == (48,) and np.isfinite(s).all()
    p.save(tmp_path / "b.npz")
    q = load_predictor(tmp_path / "b.npz")
    assert type(q) is type(p)
    np.testing.assert_array_equal(q.predict(archs), s)


def test_initialize_matches_the_start_of_fit(monkeypatch):
    import archmodel.nn.train as train_mod

    archs, y = toy()
    seen = {}
    real = train_mod.fit_scores

    def spy(model, params, *args, **kw):
        seen.update({k: v.copy() for k, v in params.items()})
        return real(model, params, *args, **kw)

    monkeypatch.setattr(train_mod, "fit_scores", spy)
    GATESPredictor(rng=3, **SMALL).fit(archs, y)
    a = GATESPredictor(rng=3, **SMALL).initialize("nb201", np.random.default_rng(3))
    assert set(a.params_) == set(seen)
    for k in seen:
        assert np.array_equal(a.params_[k], seen[k]), k
    assert a.space_ == "nb201" and a.predict(archs).shape == (len(archs),)
    with pytest.raises(ParameterError, match=r"'readout' parameter of GATESPredictor"):
        GATESPredictor(readout="max").initialize("nb201")


def test_astype_converts_a_copy_exactly():
    from archmodel.errors import NotFittedError, ParameterError

    sp = get_space("nb201")
    p = GATESPredictor(backend="numpy")
    p.initialize(sp, 0)
    p64 = p.astype("float64")
    assert p64 is not p and p64.dtype == "float64" and p.dtype == "float32"
    for k, v in p.params_.items():
        assert v.dtype == np.float32 and p64.params_[k].dtype == np.float64
        np.testing.assert_array_equal(p64.params_[k].astype(np.float32), v)  # float32 -> float64 is exact
    archs = sp.sample(50, 1)
    s32, s64 = p.predict(archs), p64.predict(archs)
    assert s32.dtype == np.float32 and s64.dtype == np.float64
    np.testing.assert_allclose(s32, s64, rtol=1e-5, atol=1e-6)
    with pytest.raises(ParameterError, match="'dtype' parameter of GATESPredictor.astype must be one of"):
        p.astype("int8")
    with pytest.raises(NotFittedError):
        GATESPredictor().astype("float64")
