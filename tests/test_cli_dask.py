"""``--engine dask`` of ``archmodel score``, ``zeroshot``, ``pim sweep`` and
``scripts/make_microbench.py``, on a LocalCluster of 2 worker processes (1 thread each).

Every test runs the same job with the local engine and compares: identical output, in input
order. For scoring, zero-cost proxies and the PIM sweep a worker is killed mid-run (the first
task started kills its own process, through the plugin of tests/test_dask.py); the tests check
that the killed task ran again and that nothing was lost or written twice. Small inputs and the NumPy backend keep the
file fast; the micro-benchmark's real training runs are in a slow test.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

import pytest

distributed = __import__("conftest").require_module("distributed", "dask")  # skips locally, fails under CI

import cloudpickle  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from conftest import two_worker_client  # noqa: E402
import test_dask  # noqa: E402  (the worker-killing plugin and the small GATES model)
from archmodel.cli.main import cli  # noqa: E402
from archmodel.spaces import get_space  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ZS = ["--proxies", "params,flops,synflow", "--channels", "2", "--cells-per-stage", "1", "--input-size", "8",
      "--batch", "4", "--data", "random", "--backend", "numpy", "--quiet"]
TINY_PROTOCOL = {"data": "digits", "input_size": 8, "channels": 3, "C": 2, "N": 1, "epochs": 1,
                 "batch_size": 256, "lr": 0.1, "seeds": [0, 1], "n_sampled": 1, "sample_seed": 0}


def run(*args, **kw):
    r = CliRunner().invoke(cli, ["-q", *map(str, args)], **kw)
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def cluster():
    cloudpickle.register_pickle_by_value(test_dask)
    with two_worker_client() as c:
        yield c


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    from archmodel.export import to_onnx

    path = tmp_path_factory.mktemp("cli-dask") / "nb201.onnx"
    to_onnx(test_dask._fresh_gates("nb201", seed=5), path)
    return path


class WorkerKiller:
    """Register the worker-killing plugin for tasks of ``prefix`` (only logging if ``kill`` is
    False); on exit unregister it and return what it saw."""

    def __init__(self, client, tmp_path, prefix: str, kill: bool = True) -> None:
        self.client, self.prefix = client, prefix
        self.marker, self.log = tmp_path / f"killed-{prefix}", tmp_path / f"started-{prefix}.log"
        if not kill:
            self.marker.write_text("none 0")

    def __enter__(self):
        self.pids_before = set(self.client.run(os.getpid).values())
        self.client.register_plugin(test_dask.KillFirstScoringTask(str(self.marker), str(self.log), self.prefix),
                                    name=f"kill-{self.prefix}")
        return self

    def __exit__(self, *exc):
        self.client.unregister_worker_plugin(f"kill-{self.prefix}")

    def started(self) -> list[str]:
        return [line.split()[0] for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def killed(self) -> tuple[str, int]:
        key, pid = self.marker.read_text().split()
        return key, int(pid)


def arch_strings(n: int, seed: int) -> list[str]:
    sp = get_space("nb201")
    return list(dict.fromkeys(sp.format(a) for a in sp.sample(n, seed)))


# ------------------------------------------------------------------------------------------
# archmodel score
# ------------------------------------------------------------------------------------------
def test_score_dask_matches_local_and_survives_a_killed_worker(cluster, onnx_model, tmp_path):
    archs = arch_strings(1200, 21)
    (tmp_path / "a.txt").write_text("\n".join(archs) + "\n")
    common = ["score", onnx_model, "--input", tmp_path / "a.txt", "--batch-size", "100", "--json"]
    local = json.loads(run(*common).stdout)
    assert len(local) == len(archs)
    with WorkerKiller(cluster, tmp_path, "archmodel-score-") as k:
        on_dask = json.loads(run(*common, "--engine", "dask", "--scheduler", cluster.scheduler.address).stdout)
    assert on_dask == local                          # same scores, input order
    key, pid = k.killed()
    started = k.started()
    assert pid in k.pids_before and pid not in set(cluster.run(os.getpid).values())
    assert started.count(key) >= 2, "the killed batch was not run again"
    assert len(set(started)) == 12                   # every batch of 100 ran


def test_without_scheduler_the_cli_asks_for_a_2x1_process_local_cluster(cluster, onnx_model, monkeypatch):
    """The LocalCluster arguments of --engine dask without --scheduler, recorded by a stand-in
    that lends the module's cluster (the slow test below starts a real one)."""
    asked = []

    class Borrowed:
        def __init__(self, **kw):
            asked.append(kw)

        def __getattr__(self, name):
            return getattr(cluster.cluster, name)

        def close(self):
            asked.append("closed")

    monkeypatch.setattr(distributed, "LocalCluster", Borrowed)
    archs = arch_strings(50, 26)
    got = run("score", onnx_model, *archs, "--batch-size", "20", "--engine", "dask", "--json").stdout
    assert json.loads(got) == json.loads(run("score", onnx_model, *archs, "--batch-size", "20", "--json").stdout)
    assert asked == [{"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0"},
                     "closed"]


@pytest.mark.slow
def test_score_dask_starts_a_local_cluster_without_scheduler(onnx_model, tmp_path, caplog):
    archs = arch_strings(300, 22)
    caplog.set_level(logging.INFO, logger="archmodel.distributed")
    got = run("score", onnx_model, *archs, "--batch-size", "64", "--engine", "dask", "--json").stdout
    assert json.loads(got) == json.loads(run("score", onnx_model, *archs, "--json").stdout)
    assert "started a LocalCluster of 2 workers x 1 threads" in caplog.text


def test_engine_option_errors(onnx_model, monkeypatch, tmp_path):
    arch = arch_strings(1, 0)[0]
    r = CliRunner().invoke(cli, ["score", str(onnx_model), arch, "--scheduler", "tcp://127.0.0.1:1"])
    assert r.exit_code == 2 and "--scheduler needs --engine dask" in r.output
    r = CliRunner().invoke(cli, ["score", str(onnx_model), arch, "--engine", "spark"])
    assert r.exit_code == 2 and "'spark' is not one of 'local', 'dask'" in r.output
    monkeypatch.setitem(sys.modules, "distributed", None)      # as if dask were not installed
    for cmd in (["score", str(onnx_model), arch], ["zeroshot", *ZS, "-o", tmp_path / "never.csv", arch],
                ["pim", "sweep", "--grid", "adc_bits=4"]):
        r = CliRunner().invoke(cli, [*map(str, cmd), "--engine", "dask"])
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        assert "Error: --engine dask: The dask engine needs dask.distributed: pip install 'archmodel[dask]'" in r.output
    assert not (tmp_path / "never.csv").exists()
    # the local engine needs no dask
    assert CliRunner().invoke(cli, ["score", str(onnx_model), arch]).exit_code == 0


# ------------------------------------------------------------------------------------------
# archmodel zeroshot
# ------------------------------------------------------------------------------------------
def test_zeroshot_dask_resumes_matches_local_and_survives_a_killed_worker(cluster, tmp_path):
    archs = arch_strings(9, 23)
    assert len(archs) == 9
    local = tmp_path / "local.csv"
    run("zeroshot", *ZS, "-o", local, *archs)
    # a partial file (3 rows) finished on Dask, 2 architectures per task; the first task
    # started kills its worker
    out = tmp_path / "dask.csv"
    run("zeroshot", *ZS, "-o", out, *archs[:3])
    with WorkerKiller(cluster, tmp_path, "archmodel-zeroshot-") as k:
        run("zeroshot", *ZS, "-o", out, "--engine", "dask", "--scheduler", cluster.scheduler.address,
            "--chunk", "2", *archs)
    assert out.read_bytes() == local.read_bytes()     # the same rows, in input order, once each
    key, pid = k.killed()
    started = k.started()
    assert pid in k.pids_before
    assert started.count(key) >= 2, "the killed task was not run again"
    assert len(set(started)) == 3                     # only the 6 missing architectures, 2 per task
    rows = list(csv.reader(out.read_text().splitlines()[2:]))
    assert [r[0] for r in rows] == archs


# ------------------------------------------------------------------------------------------
# archmodel pim sweep
# ------------------------------------------------------------------------------------------
def test_pim_sweep_dask_matches_local(cluster, tmp_path):
    args = ["pim", "sweep", "--network", "vgg8", "--grid", "adc_bits=4,6,8", "--grid", "xbar_size=128,256",
            "--chunk", "2", "--backend", "numpy"]
    local = run(*args).stdout
    with WorkerKiller(cluster, tmp_path, "archmodel-pim-sweep-") as k:
        on_dask = run(*args, "--engine", "dask", "--scheduler", cluster.scheduler.address).stdout
    assert on_dask == local
    key, _ = k.killed()
    assert k.started().count(key) >= 2 and len(set(k.started())) == 3   # 6 configurations, 2 per task
    rows = list(csv.DictReader(local.splitlines()))
    assert [(r["adc_bits"], r["xbar_size"]) for r in rows] == [(a, x) for a in "468" for x in ("128", "256")]
    run(*args, "--engine", "dask", "--scheduler", cluster.scheduler.address, "-o", tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text() == local
    # a library error raised on a worker is still a one-line error
    r = CliRunner().invoke(cli, ["pim", "sweep", "--grid", "adc_bits=12", "--backend", "numpy",
                                 "--engine", "dask", "--scheduler", cluster.scheduler.address])
    assert r.exit_code == 1 and "Traceback" not in r.output and "adc" in r.output, r.output


# ------------------------------------------------------------------------------------------
# scripts/make_microbench.py
# ------------------------------------------------------------------------------------------
def _script():
    spec = importlib.util.spec_from_file_location("make_microbench", REPO / "scripts" / "make_microbench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fake_train_job(job, *, protocol, train=None, backend=None):
    """A stand-in for archmodel.microbench.train_job: a pure function of (arch, seed)."""
    import zlib

    import numpy as np

    arch, seed = job
    acc = np.random.default_rng([seed, zlib.crc32(arch.encode())]).random(2)
    return {"test_accuracy": float(acc[0]), "val_accuracy": float(acc[1]), "train_seconds": 0.0,
            "params": len(arch) * (protocol["C"] + seed)}


def _rows_without_seconds(path):
    lines = path.read_text().splitlines()
    return lines[:2], [r[:6] + r[7:] for r in csv.reader(lines[2:])]   # train_seconds is a timing


def _run_script_twice(cluster, out, capsys, *extra):
    """The script on Dask: 2 runs, then the rest (a resume); returns the last summary."""
    script = _script()
    common = ["--output", str(out), *extra, "--engine", "dask", "--scheduler", cluster.scheduler.address]
    assert script.main([*common, "--limit", "2"]) == 0
    capsys.readouterr()
    assert script.main(common) == 0
    printed = capsys.readouterr()
    assert "added 4 rows" in printed.err
    return json.loads(printed.out)


def test_make_microbench_dask_matches_local(cluster, tmp_path, monkeypatch, capsys):
    """The script's plumbing (order, resume, --limit) with a stand-in training function."""
    from archmodel import microbench as mb

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    space = get_space("nb201")
    cells = [(a, space.parse(a).key("unique"), role) for a, role in
             ((mb.BEST, "best"), (mb.WORST, "worst"), (arch_strings(1, 25)[0], "sampled"))]
    monkeypatch.setattr(mb, "PROTOCOL", TINY_PROTOCOL)
    monkeypatch.setattr(mb, "sample_cells", lambda n, rng=0: cells[:2 + n])
    monkeypatch.setattr(mb, "train_job", fake_train_job)
    local, out = tmp_path / "local.csv", tmp_path / "dask.csv"
    assert mb.run(local) == 6
    summary = _run_script_twice(cluster, out, capsys)
    assert out.read_text() == local.read_text()
    assert [r[3] for r in _rows_without_seconds(out)[1]] == ["0", "0", "0", "1", "1", "1"]  # seed-major
    assert summary["rows"] == 6 and summary["cells"] == 3
    with pytest.raises(SystemExit):
        _script().main(["--output", str(out), "--scheduler", "tcp://127.0.0.1:1"])
    assert "--scheduler needs --engine dask" in capsys.readouterr().err


@pytest.mark.slow
def test_make_microbench_dask_trains_like_local(cluster, tmp_path, monkeypatch, capsys):
    """Real training runs (tiny protocol, NumPy backend) on the workers and here."""
    from archmodel import microbench as mb

    monkeypatch.setattr(mb, "PROTOCOL", TINY_PROTOCOL)
    local, out = tmp_path / "local.csv", tmp_path / "dask.csv"
    assert mb.run(local, backend="numpy") == 6
    summary = _run_script_twice(cluster, out, capsys, "--backend", "numpy")
    assert _rows_without_seconds(out) == _rows_without_seconds(local)
    assert summary["rows"] == 6 and summary["cells"] == 3


def test_pim_exhaustive_front_on_dask_equals_local(cluster, tmp_path, monkeypatch):
    """``pim search --algorithm exhaustive --engine dask``: the same front, calls and hypervolume."""
    import test_coexplore

    data = __import__("conftest").require_data("analog-nasbench")
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data.parent))
    space = tmp_path / "small.json"
    space.write_text(json.dumps(test_coexplore.small_spec()))
    docs = []
    for extra in ([], ["--engine", "dask", "--scheduler", cluster.scheduler.address]):
        r = run("pim", "search", "--space", space, "--algorithm", "exhaustive", "--json", *extra)
        docs.append(json.loads(r.stdout))
    local, dask = docs
    assert dask["engine"] == "dask" and local["engine"] == "local"
    for key in ("calls", "feasible_points", "hypervolume", "front"):
        assert dask[key] == local[key], key
