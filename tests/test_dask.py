"""Scale-out scoring on Dask (archmodel.distributed): LocalCluster with 2 worker processes.

Every test compares the distributed scores with local scoring of the same batches, exactly
(the same onnxruntime model on the same batch partition gives bit-identical scores).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

distributed = __import__("conftest").require_module("distributed", "dask")  # skips locally, fails under CI

from distributed import WorkerPlugin  # noqa: E402

from conftest import two_worker_client  # noqa: E402

from archmodel.errors import InvalidArchitectureError, ParameterError  # noqa: E402
from archmodel.spaces import get_space  # noqa: E402

SMALL = dict(op_emb_dim=8, node_emb_dim=8, hidden_dim=16, gates_dims=(32, 32, 32), mlp_hidden=(32, 32))


def _fresh_gates(space_name: str, seed: int = 0, **kw):
    from archmodel.predictors.gates import GATESPredictor

    sp = get_space(space_name)
    p = GATESPredictor(backend="numpy", **{**SMALL, **kw})
    p.initialize(sp, seed)
    return p


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from archmodel.export import to_onnx

    path = tmp_path_factory.mktemp("dask") / "nb201.onnx"
    to_onnx(_fresh_gates("nb201"), path)
    return str(path)


@pytest.fixture(scope="module")
def client():
    with two_worker_client() as c:
        yield c


def _local(model_path: str, archs, batch_size: int) -> np.ndarray:
    from archmodel.export import load_onnx_predictor

    return load_onnx_predictor(model_path, intra_op_num_threads=1, batch_size=batch_size).predict(archs)


def test_strings_match_local_scoring_exactly(client, model_path):
    from archmodel.distributed import loader_stats, score_dask

    sp = get_space("nb201")
    archs = sp.sample(2500, 7)
    strings = [sp.format(a) for a in archs]
    got = score_dask(model_path, strings, space="nb201", scheduler=client, batch_size=300)
    want = _local(model_path, archs, 300)
    assert got.dtype == np.float32 and got.shape == (2500,)
    np.testing.assert_array_equal(got, want)
    # both workers took part and each loaded the model exactly once for its 4-5 batches
    stats = client.run(loader_stats)
    loads = [s["loads"].get(os.path.abspath(model_path), 0) for s in stats.values()]
    assert sorted(loads) == [1, 1], stats


def test_arch_objects_sequences_and_mixed_inputs(client, model_path):
    from archmodel.distributed import score_dask

    sp = get_space("nb201")
    archs = sp.sample(700, 8)
    want = _local(model_path, archs, 128)
    by_arch = score_dask(model_path, archs, scheduler=client, batch_size=128)
    seqs = np.array([a.seq for a in archs], dtype=np.int64)
    by_seq = score_dask(model_path, seqs, space="nb201", scheduler=client, batch_size=128)
    mixed = [a if i % 2 else sp.format(a, "naslib") for i, a in enumerate(archs)]
    by_mixed = score_dask(model_path, mixed, space="nb201", scheduler=client, batch_size=128)
    for got in (by_arch, by_seq, by_mixed):
        np.testing.assert_array_equal(got, want)


def test_npz_predictor_on_workers(client, tmp_path):
    from archmodel.distributed import score_dask

    p = _fresh_gates("nasbench-graph", seed=3)
    path = tmp_path / "nbg.npz"
    p.save(path)
    sp = get_space("nasbench-graph")
    archs = sp.sample(400, 9)
    got = score_dask(path, [sp.format(a) for a in archs], space="nasbench-graph", scheduler=client,
                     batch_size=150)
    want = np.concatenate([p.predict(archs[s:s + 150]) for s in range(0, 400, 150)])
    np.testing.assert_array_equal(got, want)


def test_errors_reach_the_caller(client, model_path):
    from archmodel.distributed import score_dask

    with pytest.raises(InvalidArchitectureError, match="node group"):
        score_dask(model_path, ["|nor_conv_3x3~0|+|bad"], space="nb201", scheduler=client)
    with pytest.raises(ParameterError, match="need space="):
        score_dask(model_path, ["|nor_conv_3x3~0|"], scheduler=client)
    with pytest.raises(InvalidArchitectureError,
                       match=r"scores search space 'nb201'; got architectures of \['darts'\]"):
        score_dask(model_path, get_space("darts").sample(3, 0), scheduler=client)
    with pytest.raises(ParameterError, match="batch_size"):
        score_dask(model_path, get_space("nb201").sample(3, 0), scheduler=client, batch_size=0)
    with pytest.raises(FileNotFoundError, match="no such file"):
        score_dask(model_path + ".missing", get_space("nb201").sample(3, 0), scheduler=client)


def test_scheduler_address_and_bad_scheduler(client, model_path):
    from archmodel.distributed import score_dask

    archs = get_space("nb201").sample(300, 12)
    got = score_dask(model_path, archs, scheduler=client.scheduler.address, batch_size=100)
    np.testing.assert_array_equal(got, _local(model_path, archs, 100))
    assert client.status == "running"  # the caller's client is left alone
    with pytest.raises(ParameterError, match="scheduler must be None, an address"):
        score_dask(model_path, archs, scheduler=42)


def test_starts_its_own_local_cluster(model_path):
    from archmodel.distributed import score_dask

    sp = get_space("nb201")
    archs = sp.sample(600, 10)
    got = score_dask(model_path, archs, batch_size=100, n_workers=2)
    np.testing.assert_array_equal(got, _local(model_path, archs, 100))


class KillFirstScoringTask(WorkerPlugin):
    """Logs every task whose key starts with ``prefix`` (default: scoring tasks) that a worker
    starts; the first one ever started (cluster-wide, decided by atomically creating a marker
    file) kills its own worker process. With the marker file already there it only logs."""

    def __init__(self, marker: str, log: str, prefix: str = "archmodel-score-") -> None:
        self.marker, self.log, self.prefix = marker, log, prefix

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(self.prefix):
            return
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"{key} {os.getpid()}\n")
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{key} {os.getpid()}".encode())
        os.close(fd)
        os._exit(1)  # the worker process dies mid-task; its nanny starts a new one


def test_killed_worker_loses_and_duplicates_nothing(model_path, tmp_path):
    import cloudpickle

    from archmodel.distributed import score_dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker, log = tmp_path / "killed", tmp_path / "started.log"
    with two_worker_client() as c:
        c.register_plugin(KillFirstScoringTask(str(marker), str(log)), name="kill-once")
        pids_before = set(c.run(os.getpid).values())
        sp = get_space("nb201")
        archs = sp.sample(2000, 11)
        got = score_dask(model_path, archs, scheduler=c, batch_size=100)
        pids_after = set(c.run(os.getpid).values())
    assert marker.exists(), "no worker was killed"
    killed_key, killed_pid = marker.read_text().split()
    assert int(killed_pid) in pids_before and int(killed_pid) not in pids_after
    started = [line.split()[0] for line in log.read_text().splitlines()]
    assert started.count(killed_key) >= 2, "the killed batch was not re-run"
    assert len(set(started)) == 20  # every batch ran (some more than once)
    np.testing.assert_array_equal(got, _local(model_path, archs, 100))


def test_missing_dask_names_the_extra(model_path):
    import subprocess

    code = ("import sys; sys.modules['distributed'] = None\n"
            "from archmodel.distributed import score_dask\n"
            "try:\n    score_dask(sys.argv[1], ['x'], space='nb201')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    r = subprocess.run([sys.executable, "-c", code, model_path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("MissingDependencyError") and "pip install 'archmodel[dask]'" in r.stdout


# ------------------------------------------------------------------------------------------
# the engine under every job: archmodel.distributed.map_chunks
# ------------------------------------------------------------------------------------------
def test_map_chunks_dask_matches_local_in_input_order(client):
    from archmodel.distributed import map_chunks

    rng = np.random.default_rng(3)
    chunks = [rng.standard_normal(int(n)) for n in rng.integers(1, 50, size=23)]
    local = list(map_chunks(np.cumsum, chunks, kwargs={"dtype": np.float64}))
    on_dask = list(map_chunks(np.cumsum, chunks, kwargs={"dtype": np.float64}, engine="dask",
                              scheduler=client, name="test-cumsum"))
    assert len(on_dask) == len(chunks) == 23
    for a, b, c in zip(on_dask, local, chunks):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, np.cumsum(c))  # each result belongs to its own chunk
    assert list(map_chunks(np.cumsum, [], engine="dask", scheduler=client)) == []


def test_map_chunks_errors(client):
    from archmodel.distributed import map_chunks

    with pytest.raises(ParameterError, match="'engine' parameter of map_chunks must be one of"):
        next(map_chunks(np.cumsum, [[1]], engine="spark"))
    with pytest.raises(ParameterError, match="a scheduler needs engine='dask'"):
        next(map_chunks(np.cumsum, [[1]], scheduler=client))
    with pytest.raises(ParameterError, match="scheduler must be None, an address"):
        next(map_chunks(np.cumsum, [[1]], engine="dask", scheduler=3.5))
    # a task's own error reaches the caller with its type (here: get_space's ParameterError)
    results = map_chunks(get_space, ["nb201", "no-such-space"], engine="dask", scheduler=client)
    assert next(results).name == "nb201"
    with pytest.raises(ParameterError, match="Unknown search space 'no-such-space'"):
        next(results)


def test_map_chunks_missing_dask_names_the_extra(monkeypatch):
    from archmodel.distributed import map_chunks
    from archmodel.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'archmodel\[dask\]'"):
        next(map_chunks(np.cumsum, [[1]], engine="dask"))
    assert list(map_chunks(np.cumsum, [[1, 2]]))[0].tolist() == [1, 3]  # the local engine needs no dask
