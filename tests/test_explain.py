"""archmodel.explain: WL features, the WL-kernel GP, motifs and single-edit suggestions."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from archmodel.errors import NotFittedError
from archmodel.explain import (WLFeatures, WLGaussianProcess, motif_holdout_check, motif_importance,
                               suggest_edits, wl_counts, wl_labels)
from archmodel.metrics import kendall_tau
from archmodel.spaces import get_space

NB201 = get_space("nb201")


def objective(arch) -> float:
    """Synthetic: +1 per 3x3 conv, -1 per 3x3 average pool (a known good and a known bad motif)."""
    s = NB201.format(arch)
    return float(s.count("nor_conv_3x3") - s.count("avg_pool_3x3"))


def test_wl_labels_of_a_hand_checked_cell():
    a = NB201.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
    # pruned: in0 -conv3-> n1 -skip-> n2 -pool-> out
    it = wl_labels(NB201.pruned_graphs(a), 2)
    assert sorted(it[0]) == sorted(["in0", "node", "node", "out", "nor_conv_3x3", "skip_connect", "avg_pool_3x3"])
    assert "nor_conv_3x3(in0)" in it[1] and "node(nor_conv_3x3)" in it[1] and "out(avg_pool_3x3)" in it[1]
    assert "node(nor_conv_3x3(in0))" in it[2]
    c = wl_counts(NB201, a, 1)
    assert sum(c.values()) == 14 and c["node"] == 2


def test_isomorphic_cells_have_identical_features_and_kernel_one():
    a = NB201.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|avg_pool_3x3~2|")
    b = NB201.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|skip_connect~2|")
    assert a.seq != b.seq  # the same cell with intermediate nodes 1 and 2 swapped
    assert wl_counts(NB201, a, 3) == wl_counts(NB201, b, 3)
    f = WLFeatures(NB201, 2).fit([a])
    X, norms = f.transform([a, b])
    assert np.allclose(X.toarray()[0], X.toarray()[1]) and norms[0] == norms[1]


def test_gp_learns_a_synthetic_objective_and_its_motifs():
    rng = np.random.default_rng(0)
    archs = NB201.sample(400, rng, unique=True)
    y = np.array([objective(a) for a in archs])
    gp = WLGaussianProcess("nb201", h_max=2).fit(archs[:60], y[:60])
    assert kendall_tau(y[60:], gp.predict(archs[60:])) > 0.7
    good, bad = motif_importance(gp, archs[:60], top=3)
    assert good[0].label == "nor_conv_3x3" and bad[0].label == "avg_pool_3x3"
    chk = motif_holdout_check(NB201, good[:1], bad[:1], archs[60:], y[60:], gp.h_)
    assert chk["good_mean"] > chk["all_mean"] > chk["bad_mean"]


def test_gp_std_and_ei():
    rng = np.random.default_rng(1)
    archs = NB201.sample(80, rng, unique=True)
    y = np.array([objective(a) for a in archs])
    gp = WLGaussianProcess("nb201", h=1).fit(archs[:40], y[:40])
    mu, sd = gp.predict(archs, return_std=True)
    assert np.all(sd > 0)
    assert sd[:40].mean() < sd[40:].mean()  # more certain where it has seen data
    ei = gp.expected_improvement(archs[40:], best=y[:40].max())
    assert np.all(ei >= 0) and ei.max() > 0


def test_mean_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    archs = NB201.sample(30, rng, unique=True)
    y = np.array([objective(a) for a in archs]) + rng.normal(0, 0.1, 30)
    gp = WLGaussianProcess("nb201", h=1).fit(archs, y)
    X, norms = gp.features_.transform(archs[:3])
    G = gp.mean_gradient(archs[:3])

    def mean_of_counts(phi: np.ndarray, extra_sq: float) -> float:
        # posterior mean as a function of the counts (features outside the vocabulary fixed)
        nrm = np.sqrt(phi @ phi + extra_sq)
        ks = gp.signal_variance_ * (gp._Xn @ (phi / nrm))
        return float(ks @ gp._alpha) * gp.y_std_ + gp.y_mean_

    for r in range(3):
        phi = X.toarray()[r]
        extra = norms[r] ** 2 - phi @ phi
        assert mean_of_counts(phi, extra) == pytest.approx(gp.predict([archs[r]])[0], rel=1e-10)
        for j in np.flatnonzero(phi)[:6]:
            e = np.zeros_like(phi)
            e[j] = 1e-5
            fd = (mean_of_counts(phi + e, extra) - mean_of_counts(phi - e, extra)) / 2e-5
            assert G[r, j] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_unfitted_and_bad_input():
    with pytest.raises(NotFittedError, match="not fitted"):
        WLGaussianProcess().predict(NB201.sample(2, 0))
    with pytest.raises(ValueError, match="needs >= 2 architectures"):
        WLGaussianProcess().fit(NB201.sample(1, 0), [1.0])
    with pytest.raises(ValueError, match="NaN"):
        WLGaussianProcess().fit(NB201.sample(2, 0), [1.0, np.nan])


def test_suggest_edits_ranks_single_edits_by_predicted_gain():
    class Oracle:
        def predict(self, archs):
            return np.array([objective(a) for a in archs])

    a = NB201.parse("|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|none~2|")
    edits = suggest_edits(Oracle(), a)
    assert len(edits) == len(NB201.neighbours(a)) == 24
    gains = [e["predicted_gain"] for e in edits]
    assert gains == sorted(gains, reverse=True)
    top = edits[0]
    assert top["from"] == "avg_pool_3x3" and top["to"] == "nor_conv_3x3" and top["predicted_gain"] == 2.0
    assert top["where"] == "op of edge 0->1"
    assert objective(NB201.parse(top["arch"])) - objective(a) == 2.0


def test_explain_cli_on_real_data(monkeypatch, tmp_path):
    from conftest import require_data

    data = require_data("analog-nasbench")
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data.parent))
    from archmodel.cli.main import cli

    r = CliRunner().invoke(cli, ["explain", "--data", "nb201-analog", "--target", "baseline_accuracy",
                                 "--train-size", "50", "--seed", "0", "--json", "--edits", "(2, 2, 0, 4, 2, 0)"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["n_train"] == 50 and out["n_test"] == 15625 - 50
    assert out["kendall_tau"] > 0.4
    assert out["good_motifs"] and out["bad_motifs"]
    assert out["holdout"]["good_mean"] > out["holdout"]["bad_mean"]
    assert len(out["edits"]) == 5 and out["edits"][0]["predicted_gain"] >= out["edits"][-1]["predicted_gain"]
