"""Co-exploration of NB201 cells and PIM hardware (archmodel.coexplore, ``archmodel pim search``)."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from archmodel.coexplore.pareto import crowding_distance, hypervolume, non_dominated, non_dominated_sort
from archmodel.coexplore.space import JointSpace, load_space, resolve_objectives
from archmodel.errors import FormatError, ParameterError

from conftest import require_data

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # nothing to map: every point infeasible
]


def small_spec(**over) -> dict:
    spec = json.loads(json.dumps(load_space("space-nb201").spec))
    spec["name"] = "test-small"
    spec["network"]["cells"] = list(CELLS)
    spec["hardware"]["knobs"] = [{"name": "xbar_size", "values": [128, 256]},
                                 {"name": "adc_bits", "values": [4, 8]}]
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def analog_path():
    return require_data("analog-nasbench")


# ------------------------------------------------------------------------------ pareto
def brute_non_dominated(G):
    n = len(G)
    return np.array([not any(np.all(G[j] >= G[i]) and np.any(G[j] > G[i]) for j in range(n)) for i in range(n)])


def brute_hv(G):
    """Volume of the union of boxes [0, g] by counting unit cells of an integer grid."""
    G = G[np.all(G > 0, axis=1)]
    if not len(G):
        return 0.0
    top = G.max(axis=0).astype(int)
    count = 0
    for cell in itertools.product(*(range(t) for t in top)):
        c = np.asarray(cell) + 0.5
        count += bool(np.any(np.all(G >= c, axis=1)))
    return float(count)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_non_dominated_and_sort_match_brute_force(m):
    rng = np.random.default_rng(m)
    for _ in range(20):
        G = rng.integers(0, 6, size=(int(rng.integers(1, 25)), m)).astype(float)  # many ties
        expect = brute_non_dominated(G)
        np.testing.assert_array_equal(non_dominated(G), expect)
        rank = non_dominated_sort(G)
        np.testing.assert_array_equal(rank == 0, expect)
        for r in range(1, rank.max() + 1):  # rank r = non-dominated once ranks < r are removed
            rest = rank >= r
            np.testing.assert_array_equal(rank[rest] == r, brute_non_dominated(G[rest]))


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_hypervolume_is_exact(m):
    rng = np.random.default_rng(10 + m)
    for _ in range(15):
        G = rng.integers(-2, 7, size=(int(rng.integers(1, 12)), m)).astype(float)
        assert hypervolume(G) == pytest.approx(brute_hv(G), abs=1e-9)


def test_hypervolume_simple_cases():
    assert hypervolume(np.array([[2.0, 3.0]])) == 6.0
    assert hypervolume(np.array([[2.0, 3.0], [3.0, 1.0]])) == 7.0
    assert hypervolume(np.array([[2.0, 3.0], [1.0, 1.0]])) == 6.0  # dominated point adds nothing
    assert hypervolume(np.array([[-1.0, 3.0]])) == 0.0
    assert hypervolume(np.zeros((0, 2))) == 0.0
    with pytest.raises(ParameterError, match="finite"):
        hypervolume(np.array([[np.inf, 1.0]]))


def test_crowding_distance():
    G = np.array([[0.0, 4.0], [1.0, 3.0], [2.0, 1.0], [4.0, 0.0]])
    d = crowding_distance(G)
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx(2 / 4 + 3 / 4) and d[2] == pytest.approx(3 / 4 + 3 / 4)


# ------------------------------------------------------------------------------ space
def test_shipped_space():
    sp = load_space("space-nb201")
    assert (sp.n_cells, sp.n_hardware, sp.size) == (6466, 216, 6466 * 216)
    assert sp.objectives == ["accuracy", "edp_js"]
    rng = np.random.default_rng(0)
    g = sp.sample(200, rng)
    np.testing.assert_array_equal(sp.canonical(g), g)  # samples are representatives
    np.testing.assert_array_equal(sp.canonical(sp.canonical(g)), sp.canonical(g))
    for row in g[:20]:
        assert (sp.parse_point(sp.describe(row)) == row).all()
        for gene in range(len(sp.gene_sizes)):
            child = sp.mutate(row, gene, rng)
            assert sp.point_index(child)[0] != sp.point_index(row)[0]
    assert len(set(sp.point_index(sp.canonical(np.concatenate(
        [np.tile(sp.cells[:3], (1, 1)), np.zeros((3, 5), dtype=np.int64)], axis=1))))) == 3
    from archmodel.pim import list_presets

    assert not any(p.startswith("space-") for p in list_presets())


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(format="x"), "'format'"),
    (lambda s: s["hardware"]["knobs"].append({"name": "warp_drive", "values": [1]}), "warp_drive"),
    (lambda s: s["hardware"]["knobs"][0].update(values=[128, 128]), "repeats"),
    (lambda s: s["hardware"]["knobs"][1].update(values=[3]), "adc"),
    (lambda s: s.update(objectives=["accuracy", "speed"]), "speed"),
    (lambda s: s["reference"].pop("edp_js"), "reference lacks"),
    (lambda s: s.update(constraints={"area_mm2": {"below": 3}}), "constraint"),
    (lambda s: s["network"].update(cells="some"), "network.cells"),
])
def test_bad_space_specs_name_the_field(edit, message):
    spec = small_spec()
    edit(spec)
    with pytest.raises(ParameterError, match=message):
        JointSpace(spec)


def test_objective_names():
    assert resolve_objectives("accuracy,edp,area") == ["accuracy", "edp_js", "area_mm2"]
    with pytest.raises(ParameterError, match="twice"):
        resolve_objectives("edp,edp_js")
    with pytest.raises(ParameterError, match="at least two"):
        resolve_objectives("edp")


# ------------------------------------------------------------------------------ evaluator
def test_evaluator_counts_and_matches_the_simulator(analog_path):
    from archmodel.coexplore.evaluate import BudgetExhausted, JointEvaluator
    from archmodel.data.loaders import load_dataset
    from archmodel.pim import simulate
    from archmodel.pim.conv_network import layers_from_arch
    from archmodel.pim.spec import apply_overrides

    sp = JointSpace(small_spec())
    ev = JointEvaluator(sp, budget=5, data_path=analog_path)
    g = np.array([[*sp.cells[0], 1, 0], [*sp.cells[1], 0, 1], [*sp.cells[0], 1, 0]])
    out = ev(g)
    assert ev.calls == 2  # the repeat is free
    np.testing.assert_array_equal(out["edp_js"][0], out["edp_js"][2])
    ds = load_dataset("nb201-analog", analog_path)
    acc = dict(zip((a.seq for a in ds.archs), ds.metrics["baseline_accuracy"]))
    for row, j in ((g[0], 0), (g[1], 1)):
        hw = apply_overrides(sp.base, sp.overrides(row))
        ref = simulate(layers_from_arch(sp.cell_string(row)), hw)
        assert out["edp_js"][j] == pytest.approx(ref.edp_js, rel=1e-12)
        assert out["area_mm2"][j] == pytest.approx(ref.area_mm2, rel=1e-12)
        assert out["accuracy"][j] == acc[tuple(row[:6])]
    empty = np.array([[*sp.cells[4], 0, 0]])
    bad = ev(empty)
    assert not bad["ok"][0] and not bad["feasible"][0] and np.isnan(bad["edp_js"][0])
    assert ev.calls == 3
    with pytest.raises(BudgetExhausted):
        ev(np.array([[*sp.cells[2], a, b] for a in (0, 1) for b in (0, 1)]))
    assert ev.calls == 3  # nothing was evaluated by the refused call


def test_constraints_make_points_infeasible(analog_path):
    from archmodel.coexplore.evaluate import JointEvaluator

    free = JointEvaluator(JointSpace(small_spec()), data_path=analog_path)
    g = np.array([[*sp_cell, a, b] for sp_cell in free.space.cells[:3] for a in (0, 1) for b in (0, 1)])
    area = free(g)["area_mm2"]
    cut = float(np.median(area))
    ev = JointEvaluator(JointSpace(small_spec(constraints={"area": {"max": cut}})), data_path=analog_path)
    np.testing.assert_array_equal(ev(g)["feasible"], area <= cut)


def test_true_front_is_the_brute_force_front_and_a_full_search_finds_it(analog_path):
    from archmodel.coexplore.front import front_gains, true_front
    from archmodel.coexplore.search import run_search

    sp = JointSpace(small_spec())
    doc = true_front(sp, data_path=analog_path)
    assert doc["points"] == sp.size == 20 and doc["feasible_points"] == 16
    # brute force: every point on its own, then the non-dominated set by definition
    from archmodel.coexplore.evaluate import JointEvaluator
    from archmodel.coexplore.pareto import gains

    ev = JointEvaluator(sp, data_path=analog_path)
    allg = np.array([[*c, a, b] for c in sp.cells for a in (0, 1) for b in (0, 1)])
    v = ev(allg)
    f = v["feasible"]
    G = gains({k: v[k][f] for k in sp.objectives}, sp.objectives, sp.reference)
    expect = {tuple(r) for r in allg[f][brute_non_dominated(G)]}
    assert {tuple(p["genome"]) for p in doc["front"]} == expect
    assert doc["hypervolume"] == pytest.approx(hypervolume(G))
    for algorithm in ("random", "nsga2", "gibbon"):
        res = run_search(sp, algorithm, sp.size, seed=1, data_path=analog_path,
                         **({"population": 4, "n_init": 4} if algorithm == "gibbon" else
                            {"population": 4} if algorithm == "nsga2" else {}))
        assert res["calls"] == sp.size
        assert res["hypervolume"] == pytest.approx(doc["hypervolume"])
    assert hypervolume(front_gains(sp, doc)) == pytest.approx(doc["hypervolume"])


# ------------------------------------------------------------------------------ searches
@pytest.mark.parametrize("algorithm", ["random", "nsga2", "gibbon"])
def test_searches_are_seeded_and_respect_the_budget(algorithm, analog_path):
    from archmodel.coexplore.search import run_search

    opts = {"population": 8} if algorithm != "random" else {}
    a = run_search("space-nb201", algorithm, 40, seed=3, data_path=analog_path, **opts)
    b = run_search("space-nb201", algorithm, 40, seed=3, data_path=analog_path, **opts)
    c = run_search("space-nb201", algorithm, 40, seed=4, data_path=analog_path, **opts)
    ha, hb, hc = (r["evaluator"].history for r in (a, b, c))
    assert a["calls"] == 40 and len(np.unique(a["evaluator"].space.point_index(ha))) == 40
    np.testing.assert_array_equal(ha, hb)
    assert not np.array_equal(ha, hc)
    assert a["hypervolume"] > 0
    if algorithm == "gibbon":
        hist = np.asarray(a["priority_history"])
        assert hist.shape == (len(a["priority_history"]), 11) and hist.shape[0] >= 2
        np.testing.assert_allclose(hist.sum(axis=1), 1.0)
        assert (hist >= 0.25 / 11 - 1e-12).all()
        assert not np.allclose(hist[-1], hist[0])  # the priorities moved
        assert a["predictor_seconds"] > 0


def test_priority_update_rewards_success_and_keeps_the_floor():
    from archmodel.coexplore.search import update_priority

    G = 4
    prio, trials, wins = np.full(G, 0.25), np.ones(G), np.full(G, 0.5)
    for _ in range(30):  # gene 0 always succeeds, gene 3 always fails, genes 1-2 are never tried
        prio, trials, wins = update_priority(prio, trials, wins, np.array([5.0, 0, 0, 5]),
                                             np.array([5.0, 0, 0, 0]), 0.3, 0.25)
        np.testing.assert_allclose(prio.sum(), 1.0)
    # untried genes keep the prior rate 0.5 (wins 0.5 / trials 1 decay together)
    assert prio[1] == prio[2]
    assert prio[0] > prio[1] > prio[3]
    # the floor: max(p, f) / sum with sum <= 1 + G f, so p >= f / (1 + G f), f = 0.25 / G;
    # without it gene 3 would decay geometrically towards 0
    f = 0.25 / G
    assert prio[3] >= f / (1 + G * f)


def test_prescreening_picks_the_largest_predicted_hypervolume_gains():
    from archmodel.coexplore.search import _choose

    G = np.array([[1.0, 1.0]])
    chosen = _choose(G, np.array([[2.0, 2.0], [0.5, 0.5], [1.5, 0.2], [0.1, 3.0]]), 2, 0.0,
                     np.random.default_rng(0))
    assert chosen.tolist() == [0, 3]  # largest predicted hypervolume gains first


def test_joint_predictor_learns_costs(analog_path):
    from scipy.stats import kendalltau

    from archmodel.coexplore.evaluate import JointEvaluator
    from archmodel.coexplore.predictor import JointPredictor

    sp = load_space("space-nb201")
    ev = JointEvaluator(sp, data_path=analog_path)
    rng = np.random.default_rng(0)
    g = sp.sample(400, rng)
    v = ev(g)
    tr, te = np.arange(300), np.arange(300, 400)
    for kind in ("mlp", "lstm"):
        p = JointPredictor(kind, epochs=120, seed=0).fit(sp, g[tr], {**{k: a[tr] for k, a in v.items()},
                                                                     "ideal": v["accuracy"][tr]}, ["edp_js"])
        pred = p.predict(g[te])
        ok = v["ok"][te]
        tau = kendalltau(pred["edp_js"][ok], v["edp_js"][te][ok])[0]
        assert tau > 0.7, (kind, tau)
        np.testing.assert_array_equal(pred["drop"], 0.0)  # the space's accuracy ignores the hardware
        assert p.targets_ == ["ideal", "drop", "log10_edp_js"]


# ------------------------------------------------------------------------------ CLI
def test_cli_search_and_front(tmp_path, analog_path, monkeypatch):
    from click.testing import CliRunner

    from archmodel.cli.main import cli

    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(analog_path.parent))
    space = tmp_path / "small.json"
    space.write_text(json.dumps(small_spec()))
    runner = CliRunner()
    true = tmp_path / "true.json"
    r = runner.invoke(cli, ["-q", "pim", "search", "--space", str(space), "--algorithm", "exhaustive",
                            "--output", str(true), "--json"])
    assert r.exit_code == 0, r.output
    t = json.loads(r.stdout)
    assert t["calls"] == 20 and t["front"]
    found = tmp_path / "found.json"
    r = runner.invoke(cli, ["-q", "pim", "search", "--space", str(space), "--algorithm", "random", "--budget", "8",
                            "--seed", "2", "--true", str(true), "--output", str(found), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["calls"] == 8 and 0 < d["hypervolume_fraction"] <= 1 + 1e-12
    assert set(d) >= {"calls", "hypervolume", "hypervolume_fraction", "front", "trace"}
    r = runner.invoke(cli, ["pim", "front", str(found), "--true", str(true), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["hypervolume_fraction"] == pytest.approx(d["hypervolume_fraction"])
    r = runner.invoke(cli, ["pim", "front", str(found)])
    assert r.exit_code == 0 and "non-dominated points" in r.output
    from conftest import require_module

    require_module("matplotlib", "plot")
    png = tmp_path / "front.png"
    r = runner.invoke(cli, ["pim", "front", str(found), "--true", str(true), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a front of other objectives is refused
    other = tmp_path / "other.json"
    r = runner.invoke(cli, ["-q", "pim", "search", "--space", str(space), "--objectives", "accuracy,latency",
                            "--algorithm", "random", "--budget", "5", "--true", str(true)])
    assert r.exit_code != 0 and "space_sha256" in r.output
    r = runner.invoke(cli, ["pim", "search", "--space", str(space), "--objectives", "accuracy,speed"])
    assert r.exit_code != 0 and "speed" in r.output and "Traceback" not in r.output
    other.write_text("{}")
    r = runner.invoke(cli, ["pim", "front", str(other)])
    assert r.exit_code != 0 and "format" in r.output


def test_read_front_rejects_other_files(tmp_path):
    from archmodel.coexplore.front import read_front

    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(FormatError, match="format"):
        read_front(p)
    p.write_text("not json")
    with pytest.raises(FormatError, match="JSON"):
        read_front(p)
