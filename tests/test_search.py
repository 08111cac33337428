"""archmodel.search: oracles, the query log (counting, failures, resume) and the loops."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from archmodel.errors import DataError, ParameterError
from archmodel.search import (ALGORITHMS, CommandOracle, FunctionOracle, OracleError, QueryLog,
                              TableOracle, run_search)
from archmodel.spaces import get_space

NB201 = get_space("nb201")



def n_conv3(arch) -> float:
    """A synthetic objective with one optimum: the number of 3x3 convolutions (0..6)."""
    name = "nor_conv_3x3"
    return float(sum(NB201.format(arch).count(name) for _ in [0]))


class Counting(FunctionOracle):
    def __init__(self, fn, space="nb201", fail=()):
        super().__init__(fn, space)
        self.calls = 0
        self.fail = set(fail)

    def __call__(self, arch):
        self.calls += 1
        if arch.seq in self.fail:
            raise RuntimeError("training diverged")
        return super().__call__(arch)


def test_query_log_counts_caches_and_enforces_the_budget():
    o = Counting(n_conv3)
    log = QueryLog(o, 3)
    a, b, c, d = NB201.sample(4, np.random.default_rng(0), unique=True)
    assert log(a) == n_conv3(a)
    assert log(a) == n_conv3(a) and o.calls == 1 and log.n_queries == 1  # a repeat is free
    log(b), log(c)
    from archmodel.search.oracle import BudgetExhausted
    with pytest.raises(BudgetExhausted):
        log(d)
    assert o.calls == 3 and log.remaining == 0
    assert log.trajectory() == list(np.maximum.accumulate([n_conv3(x) for x in (a, b, c)]))


def test_failed_queries_are_recorded_and_skipped():
    archs = NB201.sample(30, np.random.default_rng(1), unique=True)
    o = Counting(n_conv3, fail={archs[0].seq, archs[3].seq})
    log = QueryLog(o, 10)
    vals = [log(a) for a in archs[:5]]
    assert vals[0] is None and vals[3] is None and vals[1] == n_conv3(archs[1])
    assert [q.ok for q in log] == [False, True, True, False, True]
    assert "training diverged" in log.queries[0].error
    assert len(log.evaluated()[0]) == 3
    res = run_search(Counting(n_conv3, fail={a.seq for a in archs}), 40, algorithm="evolution", seed=0)
    assert res.queries == 40 and res.best_value is not None


def test_command_oracle_reads_the_last_line_and_records_timeouts(tmp_path):
    a = NB201.sample(1, np.random.default_rng(2))[0]
    ok = CommandOracle(f"{sys.executable} -c \"import sys; print('log'); print(len(sys.argv[1]))\" {{arch}}", "nb201")
    assert ok(a) == float(len(NB201.format(a)))
    slow = CommandOracle(f"{sys.executable} -c \"import time; time.sleep(5)\" {{arch}}", "nb201", timeout=0.3)
    with pytest.raises(OracleError, match="timed out after 0.3 s"):
        slow(a)
    log = QueryLog(slow, 2)
    assert log(a) is None and "timed out" in log.queries[0].error
    with pytest.raises(ParameterError, match=r"must contain '\{arch\}'"):
        CommandOracle("echo 1", "nb201")


@pytest.mark.parametrize("algorithm", ["random", "evolution", "local", "predictor", "bananas"])
def test_every_loop_spends_exactly_its_budget_on_distinct_archs_reproducibly(algorithm):
    kw = {"predictor": "mlp", "predictor_params": {"epochs": 20}} if algorithm == "predictor" else {}
    if algorithm == "bananas":
        kw = {"ensemble_params": {"epochs": 20, "n_members": 2}}
    r1 = run_search(Counting(n_conv3), 25, algorithm=algorithm, seed=3, **kw)
    r2 = run_search(Counting(n_conv3), 25, algorithm=algorithm, seed=3, **kw)
    assert r1.queries == 25 and len({h[0] for h in r1.history}) == 25
    assert r1.history == r2.history
    assert all(x <= y for x, y in zip(r1.trajectory, r1.trajectory[1:]))


def test_evolution_and_local_search_find_the_optimum_random_search_does_not():
    # one cell in 15,625 has six 3x3 convolutions: random search finds it in 300 queries with prob ~2 %
    found = {alg: [run_search(Counting(n_conv3), 300, algorithm=alg, seed=s).best_value for s in range(3)]
             for alg in ("random", "evolution", "local")}
    assert found["evolution"] == [6.0] * 3 and found["local"] == [6.0] * 3
    assert max(found["random"]) < 6.0


def test_gates_guided_search_learns_the_objective():
    res = run_search(Counting(n_conv3), 30, algorithm="predictor", predictor="gates", seed=0, n_init=10,
                     batch=10, predictor_params={"epochs": 60})
    assert res.best_value == 6.0  # within two refits


def test_a_killed_search_resumes_from_its_log_without_requerying(tmp_path):
    path = tmp_path / "q.jsonl"
    full = run_search(Counting(n_conv3), 40, algorithm="evolution", seed=5)
    first = Counting(n_conv3)
    run_search(first, 40, algorithm="evolution", seed=5, log_path=path)
    lines = path.read_text().splitlines()
    assert len(lines) == 41 and json.loads(lines[0])["format"] == "archmodel.search-log"
    # what a kill after 17 queries leaves on disk: 17 complete lines and a torn one
    path.write_text("\n".join(lines[:18]) + "\n" + lines[18][:7])
    again = Counting(n_conv3)
    res = run_search(again, 40, algorithm="evolution", seed=5, log_path=path)
    assert again.calls == 40 - 17 and res.oracle_calls == 23
    assert res.history == full.history
    with pytest.raises(DataError, match="other settings"):
        run_search(Counting(n_conv3), 40, algorithm="evolution", seed=6, log_path=path)


def test_run_search_validates_its_arguments():
    with pytest.raises(ParameterError, match="'algorithm'.*must be one of"):
        run_search(Counting(n_conv3), 10, algorithm="annealing")
    with pytest.raises(ParameterError, match="'budget' parameter must be an integer >= 1"):
        run_search(Counting(n_conv3), 0)
    assert set(ALGORITHMS) == {"random", "evolution", "local", "predictor", "bananas"}


def test_table_oracle_and_cli_on_real_data(monkeypatch):
    from conftest import require_data

    data = require_data("analog-nasbench")
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data.parent))
    from archmodel.cli.main import cli
    from archmodel.data import load_dataset

    ds = load_dataset("nb201-analog")
    o = TableOracle(ds, "baseline_accuracy")
    y = ds.target("baseline_accuracy")
    assert o(ds.archs[123]) == y[123] and o.best_possible == y.max()
    r = CliRunner().invoke(cli, ["-q", "search", "--data", "nb201-analog", "--target", "baseline_accuracy",
                                 "--budget", "20", "--predictor", "none", "--algorithm", "evolution",
                                 "--seed", "0", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["queries"] == 20 and len(out["trajectory"]) == 20
    assert out["best_found"] == max(out["trajectory"]) == out["trajectory"][-1]
    best = NB201.parse(out["best_arch"])
    assert o(best) == out["best_found"]
    r = CliRunner().invoke(cli, ["search", "--data", "nb201-analog", "--target", "baseline_accuracy",
                                 "--algorithm", "random"])
    assert r.exit_code == 2 and "use it with --predictor none" in r.output


def test_archs_outside_a_tables_domain_cost_no_budget():
    from archmodel.data import Dataset

    rng = np.random.default_rng(7)
    archs = NB201.sample(60, rng, unique=True)
    ds = Dataset("toy", "nb201", archs, {"acc": np.array([n_conv3(a) for a in archs])})
    o = TableOracle(ds, "acc")
    assert o.domain == archs
    log = QueryLog(o, 5)
    outside = next(a for a in NB201.sample(200, rng) if a.seq not in {b.seq for b in archs}
                   and a.key("structural") not in {b.key("structural") for b in archs})
    assert log(outside) is None and log.n_queries == 0 and log.seen(outside)
    for alg in ("random", "evolution", "local", "predictor"):
        kw = {"predictor": "mlp", "predictor_params": {"epochs": 10}} if alg == "predictor" else {}
        res = run_search(TableOracle(ds, "acc"), 30, algorithm=alg, seed=0, **kw)
        assert res.queries == 30 and res.failed == 0
        # every query is a cell of the table (mutants may spell one differently: same structure)
        keys = {a.key("structural") for a in archs}
        assert {NB201.parse(h[0]).key("structural") for h in res.history} <= keys
