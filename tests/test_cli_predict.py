"""archmodel train / score / evaluate from the shell (small, fast settings)."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from archmodel.cli.main import cli


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), **kw)


def test_train_score_evaluate(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data_dir))
    out = tmp_path / "model.npz"
    r = run("-q", "train", "--data", "nb201-analog", "--target", "baseline_accuracy", "--train-size", "100",
            "--encoder", "gates", "--epochs", "20", "--seed", "0", "--output", str(out), "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    for k in ("kendall_tau", "spearman", "precision_at_top5pct", "n_at_5", "train_seconds", "n_train", "n_test"):
        assert k in rep
    assert rep["n_train"] == 100 and rep["n_test"] == 15525 and rep["kendall_tau"] > 0.3
    assert out.exists()
    archs = ["(2, 2, 0, 4, 2, 0)", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
    r = run("score", str(out), *archs, "--json")
    assert r.exit_code == 0, r.output
    scores = json.loads(r.stdout)
    assert len(scores) == 2 and scores[0] > scores[1]  # a strong cell above the empty cell
    r2 = run("score", str(out), "--input", "-", input="\n".join(reversed(archs)) + "\n", catch_exceptions=False)
    assert r2.exit_code == 0, r2.output
    # plain output: one score a line, in input order, printed with 6 significant digits: within
    # half a unit of the 6th digit (5e-6 relative) of the JSON scores, plus 16 float32 roundoffs
    # (1e-6) for scoring the two cells in the other order
    plain = [float(x) for x in r2.stdout.split()]
    assert len(plain) == 2
    np.testing.assert_allclose(plain, scores[::-1], rtol=5e-6 + 16 * 2.0 ** -24, atol=0)
    assert plain[1] > plain[0]
    r = run("evaluate", str(out), "--data", "nb201-analog", "--target", "baseline_accuracy", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["n_test"] == 15625


def test_train_tagates_and_dele(data_dir, monkeypatch):
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data_dir))
    base = ["-q", "train", "--data", "nb201-analog", "--target", "baseline_accuracy", "--train-size", "40",
            "--epochs", "2", "--json"]
    r = run(*base, "--encoder", "tagates", "--symmetry-breaking", "noise", "--time-steps", "2")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["encoder"] == "tagates"
    r = run(*base, "--ensemble", "dele", "--low-fidelity", "params,macs", "--gate", "learned",
            "--pretrain-epochs", "1")
    assert r.exit_code == 0, r.output
    w = json.loads(r.stdout)["gate_weights"]
    assert set(w) == {"params", "macs"} and abs(sum(w.values()) - 1) < 1e-5
    r = run(*base, "--symmetry-breaking", "noise")
    assert r.exit_code == 2 and "--encoder tagates" in r.output
    r = run(*base, "--ensemble", "dele", "--encoder", "mlp")
    assert r.exit_code == 2 and "gates or tagates" in r.output
    r = run(*base, "--gate", "uniform")
    assert r.exit_code == 2 and "--gate goes with --ensemble dele" in r.output


def test_train_errors_are_one_line(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data_dir))
    r = run("train", "--data", "nb201-analog", "--target", "nope", "--epochs", "1")
    assert r.exit_code == 1 and "Traceback" not in r.output and "nope" in r.output
    r = run("train", "--data", "nb201-analog", "--target", "baseline_accuracy", "--train-size", "0", "--epochs", "1")
    assert r.exit_code != 0 and "Traceback" not in r.output and "train_size" in r.output
    r = run("train", "--data", "nb201-analog", "--target", "baseline_accuracy", "--train-size", "20000", "--epochs", "1")
    assert r.exit_code != 0 and "train_size" in r.output
    bad_dir = tmp_path / "missing" / "m.npz"
    r = run("train", "--data", "nb201-analog", "--target", "baseline_accuracy", "--train-size", "50",
            "--epochs", "1", "--output", str(bad_dir))
    assert r.exit_code != 0 and not bad_dir.exists()


def test_score_rejects_other_space(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data_dir))
    out = tmp_path / "m.npz"
    r = run("-q", "train", "--data", "nb201-analog", "--target", "baseline_accuracy", "--train-size", "50",
            "--epochs", "2", "--output", str(out))
    assert r.exit_code == 0, r.output
    r = run("score", str(out), '{"matrix": [[0,1],[0,0]], "ops": ["input","output"]}')
    assert r.exit_code == 1 and "architecture 1" in r.output and "Traceback" not in r.output
    (tmp_path / "trunc.npz").write_bytes(out.read_bytes()[:100])
    r = run("score", str(tmp_path / "trunc.npz"), "(2, 2, 0, 4, 2, 0)")
    assert r.exit_code == 1 and "truncated or corrupt" in r.output
