"""archmodel.report and 'archmodel report': estimators on one test set, every criterion."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from archmodel.data import Dataset
from archmodel.errors import DataError, ParameterError
from archmodel.metrics import ranking_report
from archmodel.report import score_estimators, write_html
from archmodel.spaces import get_space

NB201 = get_space("nb201")


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    archs = NB201.sample(n, rng, unique=True)
    y = np.array([NB201.format(a).count("nor_conv_3x3") for a in archs], float) + rng.normal(0, 0.3, n)
    good = y + rng.normal(0, 0.1, n)
    bad = rng.normal(size=n)
    bad[:7] = -1e8  # NASLib's failure value: a missing score, never a score
    return Dataset("toy", "nb201", archs, {"acc": y}, low_fidelity={"good": good, "bad": bad}), y


def test_every_estimator_is_judged_on_the_same_cells_with_every_criterion(tmp_path):
    ds, y = _toy()
    csv = tmp_path / "oneshot.csv"
    lines = ["arch,score"] + [f"\"{NB201.format(a, 'naslib')}\",{v}" for a, v in zip(ds.archs[::2], y[::2])]
    csv.write_text("\n".join(lines) + "\n")
    res, info = score_estimators(ds, "acc", ["zeroshot:good", "zeroshot:bad", f"oneshot:{csv}", "mlp"],
                                 train_size=30, seed=0, predictor_params={"epochs": 30})
    idx = info["test_idx"]
    assert info["n_test"] == len(idx) and info["n_train"] == 30
    # common cells: not trained on, scored by the file (every other cell), not a failure value
    assert all(i % 2 == 0 and i >= 7 for i in idx)
    r = {e.name: e for e in res}
    assert r["zeroshot:good"].report == ranking_report(y[idx], ds.low_fidelity["good"][idx])
    assert r[f"oneshot:{csv}"].report["kendall_tau"] == pytest.approx(1.0)  # the file holds the truth
    assert r["zeroshot:good"].report["kendall_tau"] > 0.8 > abs(r["zeroshot:bad"].report["kendall_tau"])
    pytest.importorskip("matplotlib", reason="plots need matplotlib (extra 'plot')")
    page = tmp_path / "r.html"
    write_html(page, res, info)
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 2 and "zeroshot:good" in text and "kendall_tau" in text


def test_unknown_estimators_and_missing_proxies_are_clear_errors():
    ds, _ = _toy(50)
    with pytest.raises(ParameterError, match="unknown estimator 'tagatez'; allowed: gates"):
        score_estimators(ds, "acc", ["tagatez"])
    with pytest.raises(DataError, match="zeroshot:nope"):
        score_estimators(ds, "acc", ["zeroshot:nope"])


def test_report_cli_on_real_data(monkeypatch, tmp_path):
    from conftest import require_data

    data = require_data("naslib-zc-suite-zero")
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data.parent))
    from archmodel.cli.main import cli

    r = CliRunner().invoke(cli, ["report", "--data", "nb201-analog", "--target", "baseline_accuracy",
                                 "--estimators", "zeroshot:synflow,zeroshot:jacov,zeroshot:flops", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    # the NASLib file covers 724 NB201 cells; jacov's failures are dropped, the rest are common
    assert 600 < out["n_test"] < 724
    taus = {e["estimator"]: e["kendall_tau"] for e in out["estimators"]}
    assert all(0.3 < t < 0.9 for t in taus.values()), taus
