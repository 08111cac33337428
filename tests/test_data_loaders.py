"""Benchmark loaders on the real data: sizes, decoding, cross-source agreement, locating, caching."""
from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from archmodel.data import (
    NASBENCH_GRAPH_DATASETS,
    clear_cache,
    data_dir,
    list_datasets,
    load_dataset,
    locate_dataset,
)
from archmodel.data import loaders as loaders_mod
from archmodel.errors import DataError, MissingDependencyError, ParameterError
from archmodel.spaces import get_space
from conftest import require_data


@pytest.fixture
def bench_env(monkeypatch):
    """ARCHMODEL_DATA_DIR pointing at the shared data; no pip package found."""
    root = require_data()
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(root))
    monkeypatch.setattr(loaders_mod, "_package_dir", lambda module: None)
    return root


@pytest.fixture
def no_data(monkeypatch):
    monkeypatch.delenv("ARCHMODEL_DATA_DIR", raising=False)
    monkeypatch.setattr(loaders_mod, "_package_dir", lambda module: None)


# ---------------------------------------------------------------------------- nb201-analog
ANALOG_SCALARS = ["baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy"]


def test_analog_pickle_covers_nb201(bench_env):
    ds = load_dataset("nb201-analog")
    assert ds.info["location"].endswith("data.anb")
    assert len(ds) == 15625 and ds.space == "nb201"
    assert set(ds.archs) == set(get_space("nb201").enumerate())
    for m in ANALOG_SCALARS:
        assert m in ds.metrics
    for kind in ("baseline", "analog"):
        for t in (60, 3600, 86400, 2592000):
            assert f"{kind}_drift_{t}_mean" in ds.metrics and f"{kind}_drift_{t}_std" in ds.metrics
    assert len(ds.metrics) == 5 + 16
    for v in ds.metrics.values():
        assert v.dtype == np.float64 and np.isfinite(v).all()
    # data README: exactly the 341 cells with no input-to-output path sit at 10.0 %
    space = ds.search_space
    disconnected = np.array([space.pruned_graphs(a)[0] is None for a in ds.archs])
    assert disconnected.sum() == 341
    base = ds.target("baseline_accuracy")
    assert np.all(base[disconnected] == 10.0)
    assert np.count_nonzero(base == 10.0) == 341


def test_analog_pickle_and_flat_csv_agree(bench_env):
    folder = bench_env / "analog-nasbench"
    pk = load_dataset("nb201-analog", path=folder / "data.anb")
    flat = load_dataset("nb201-analog", path=folder / "analog_nasbench_flat.csv")
    assert pk.archs == flat.archs
    assert pk.metric_names == flat.metric_names
    for m in pk.metric_names:
        # the flat CSV stores values rounded to 4 decimals
        np.testing.assert_allclose(flat.metrics[m], pk.metrics[m], rtol=0, atol=5e-5, err_msg=m)
    # the flat CSV's own arch_str column names the same cell as its NASLib tuple e0..e5
    nb201 = get_space("nb201")
    with open(folder / "analog_nasbench_flat.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows[::97]:
        tup = tuple(int(r[f"e{i}"]) for i in range(6))
        assert nb201.parse(tup, "naslib") == nb201.parse(r["arch_str"], "arch_str")


def test_analog_joins_nb201_c10_through_the_arch(bench_env):
    from scipy.stats import kendalltau

    analog = load_dataset("nb201-analog")
    c10 = load_dataset("nb201-c10")
    pos = {a: i for i, a in enumerate(c10.archs)}
    idx = np.array([pos[a] for a in analog.archs])
    # the flat CSV's nb201_index column agrees with nb201-c10's ids for the same cell
    with open(bench_env / "analog-nasbench" / "analog_nasbench_flat.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    nb201 = get_space("nb201")
    for r in rows[::113]:
        a = nb201.parse(r["arch_str"])
        assert int(c10.ids[pos[a]]) == int(r["nb201_index"])
    # data README: baseline vs analog accuracy tau 0.66
    tau = kendalltau(analog.target("baseline_accuracy"), analog.target("analog_accuracy")).statistic
    assert abs(tau - 0.66) < 0.01
    # two trainings of one cell: digital AnalogNAS-Bench vs NB201 cifar10-valid test accuracy
    tau_nb = kendalltau(analog.target("baseline_accuracy"), c10.target("test_accuracy")[idx]).statistic
    assert 0.85 < tau_nb < 0.97


# ---------------------------------------------------------------------------- nb201-c10
def test_nb201_c10(bench_env):
    ds = load_dataset("nb201-c10")
    assert len(ds) == 15625
    np.testing.assert_array_equal(ds.ids, np.arange(15625))  # NB201 index = row order of the file
    assert set(ds.archs) == set(get_space("nb201").enumerate())
    for split in ("train", "valid", "test"):
        for what in ("loss", "accuracy", "per_time", "all_time"):
            assert f"{split}_{what}" in ds.metrics
    assert ds.default_target == "valid_accuracy"
    # SOURCE.txt: max valid-accuracy 91.607 (the published NB201 cifar10-valid optimum)
    assert ds.target().max() == pytest.approx(91.607, abs=1e-3)
    with open(bench_env / "nb201-landscapes" / "cifar10_avg.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i in (0, 1, 777, 15624):
        assert ds.search_space.format(ds.archs[i], "arch_str") == rows[i]["arch_str"]
        assert ds.metrics["test_accuracy"][i] == float(rows[i]["test-accuracy"])


# ---------------------------------------------------------------------------- nasbench-graph
@pytest.mark.parametrize("name", NASBENCH_GRAPH_DATASETS)
def test_nasbench_graph_hashes_round_trip(bench_env, name):
    ds = load_dataset(f"nasbench-graph/{name}")
    space = get_space("nasbench-graph")
    assert len(ds) == (2021 if name == "proteins" else 26206)
    assert ds.metric_names == ["valid_perf", "perf", "latency", "para"]
    assert len(set(ds.archs)) == len(ds)
    for h, a in zip(ds.ids.tolist(), ds.archs):
        assert space.to_hash(a) == h
        assert space.from_hash(h) == a
    for m in ("valid_perf", "perf"):
        v = ds.target(m)
        assert np.isfinite(v).all() and v.min() >= 0.0 and v.max() <= 1.0
    assert (ds.target("latency") > 0).all() and (ds.target("para") > 0).all()


def test_nasbench_graph_proteins_uses_the_base10_hash(bench_env):
    ds = load_dataset("nasbench-graph/proteins")
    space = get_space("nasbench-graph")
    used = {space.node_op_choices[o] for a in ds.archs for o in a.seq[1:]}
    assert used == set(space.protein_ops)  # gcn, sage, arma, fc, skip
    # the file is keyed by the 9-op base-10 hash; the 5-op base-6 hash of the same cells differs
    assert all(space.to_hash(a, proteins=True) != h for a, h in zip(ds.archs[:200], ds.ids[:200].tolist()))
    assert len(set(ds.keys("structural"))) == len(ds)  # keys are de-isomorphised cells


# ---------------------------------------------------------------------------- zero-cost proxies
@pytest.mark.parametrize("dataset,n", [("cifar10", 724), ("cifar100", 725), ("ImageNet16-120", 724)])
def test_zc_nb201(bench_env, dataset, n):
    ds = load_dataset("zc/nb201", dataset=dataset)
    assert ds is load_dataset(f"zc/nb201/{dataset}")
    assert len(ds) == n and ds.name == f"zc/nb201/{dataset}"
    assert ds.metric_names == ["val_accuracy"]
    assert set(ds.low_fidelity) == {"flops", "params", "synflow", "grasp", "fisher", "grad_norm", "l2_norm",
                                    "plain", "nwot", "epe_nas", "jacov", "snip"}
    raw = json.loads((bench_env / "naslib-zc-suite-zero" / "zc_nasbench201.json").read_text())[dataset]
    key, rec = next(iter(raw.items()))
    assert ds.search_space.format(ds.archs[0], "naslib") == key
    assert ds.target()[0] == rec["val_accuracy"]
    assert ds.low_fidelity["synflow"][0] == rec["synflow"]["score"]
    assert int(ds.ids[0]) == int(rec["idx"])


def test_zc_nb201_cifar10_matches_nb201_c10_validation(bench_env):
    from scipy.stats import spearmanr

    zc = load_dataset("zc/nb201")
    c10 = load_dataset("nb201-c10")
    pos = {a: i for i, a in enumerate(c10.archs)}
    idx = np.array([pos[a] for a in zc.archs])
    rho = spearmanr(zc.target(), c10.target("valid_accuracy")[idx]).statistic
    assert rho > 0.985  # SOURCE.txt: Spearman 0.991 vs the 3-seed mean


def test_zc_nb101_structural_classes(bench_env):
    ds = load_dataset("zc/nb101")
    assert len(ds) == 500 and ds.space == "nb101"
    assert len(set(ds.keys("structural"))) == 292
    assert "val_accuracy" in ds.metrics and "synflow" in ds.low_fidelity and "nwot" not in ds.low_fidelity


def test_zc_darts_and_tnb(bench_env):
    ds = load_dataset("zc/darts")
    assert len(ds) == 725 and ds.space == "darts" and "surrogate" in ds.info["description"]
    t = load_dataset("zc/tnb101-micro", dataset="jigsaw")
    assert len(t) == 711 and t.space == "tnb101-micro"
    raw = json.loads((bench_env / "naslib-zc-suite-zero" / "zc_nasbench301.json").read_text())["cifar10"]
    key, rec = next(iter(raw.items()))
    assert ds.archs[0] == get_space("darts").parse(key, "naslib")
    assert ds.target()[0] == rec["val_accuracy"]


# ---------------------------------------------------------------------------- locating and options
def test_data_dir_is_only_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ARCHMODEL_DATA_DIR", raising=False)
    assert data_dir() is None
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path


def test_missing_package_data_names_the_extra(no_data):
    with pytest.raises(MissingDependencyError, match=r"pip install 'archmodel\[bench\]'.*path=.*ARCHMODEL_DATA_DIR"):
        load_dataset("nb201-analog")
    with pytest.raises(MissingDependencyError, match=r"nas-bench-graph"):
        load_dataset("nasbench-graph/cora")
    with pytest.raises(DataError, match=r"nb201-c10: data not found.*ARCHMODEL_DATA_DIR"):
        load_dataset("nb201-c10")


def test_explicit_path_errors(no_data, tmp_path):
    with pytest.raises(DataError, match=r"no such file"):
        load_dataset("nb201-c10", path=tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"holds none of the expected files \['cifar10_avg.csv'\]"):
        load_dataset("nb201-c10", path=tmp_path)
    bad = tmp_path / "cifar10_avg.csv"
    bad.write_text("index,arch_str\n0,|x~0|\n")
    with pytest.raises(DataError, match=r"lacks the columns \['train-loss'"):
        load_dataset("nb201-c10", path=bad)


def test_unknown_names_and_options(bench_env):
    with pytest.raises(DataError, match=r"Unknown data set 'nb999'.*nb201-analog"):
        load_dataset("nb999")
    with pytest.raises(ParameterError, match=r"'dataset' parameter of zc/nb201 must be one of"):
        load_dataset("zc/nb201", dataset="mnist")
    with pytest.raises(ParameterError, match=r"takes no option 'dataset'"):
        load_dataset("nb201-c10", dataset="cifar10")
    with pytest.raises(ParameterError, match=r"names dataset='cifar100' but dataset='cifar10'"):
        load_dataset("zc/nb201/cifar100", dataset="cifar10")


def test_list_datasets(bench_env, monkeypatch):
    rows = list_datasets()
    names = [r["name"] for r in rows]
    assert {"nb201-analog", "nb201-c10", "zc/nb201", "zc/nb101", "zc/darts"} <= set(names)
    assert {f"nasbench-graph/{d}" for d in NASBENCH_GRAPH_DATASETS} <= set(names)
    assert all(r["available"] and r["location"] for r in rows)
    json.dumps(rows)
    monkeypatch.delenv("ARCHMODEL_DATA_DIR")
    rows = {r["name"]: r for r in list_datasets()}
    assert not rows["nb201-c10"]["available"] and "ARCHMODEL_DATA_DIR" in rows["nb201-c10"]["hint"]
    assert "archmodel[bench]" in rows["nb201-analog"]["hint"]
    assert rows["zc/nb201"]["variants"] == ["cifar10", "cifar100", "ImageNet16-120"]


def test_found_in_installed_packages_without_importing_them(monkeypatch, tmp_path):
    """The pip packages are located with find_spec; their __init__ (pandas...) never runs."""
    src = require_data()
    monkeypatch.delenv("ARCHMODEL_DATA_DIR", raising=False)
    for pkg, rel, target in [("analognasbench", "data.anb", src / "analog-nasbench" / "data.anb"),
                             ("nas_bench_graph", "light/cora.bench", src / "nas-bench-graph" / "cora.bench")]:
        d = tmp_path / pkg
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / "__init__.py").write_text("raise RuntimeError('imported!')\n")
        (d / rel).symlink_to(target)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert locate_dataset("nb201-analog") == tmp_path / "analognasbench" / "data.anb"
    ds = load_dataset("nasbench-graph/cora")
    assert ds.info["location"] == str(tmp_path / "nas_bench_graph" / "light" / "cora.bench")
    assert len(ds) == 26206
    assert "analognasbench" not in sys.modules and "nas_bench_graph" not in sys.modules


def test_cache(bench_env):
    a = load_dataset("zc/nb101")
    assert load_dataset("zc/nb101") is a
    assert load_dataset("zc/nb101", cache=False) is not a
    clear_cache()
    b = load_dataset("zc/nb101")
    assert b is not a and b.archs == a.archs


def test_load_speed(bench_env):
    import time

    clear_cache()
    t0 = time.perf_counter()
    load_dataset("nb201-analog")
    t1 = time.perf_counter()
    load_dataset("nasbench-graph/arxiv")
    t2 = time.perf_counter()
    # generous bounds (shared 2-core machine); typical 0.5 s and 0.25 s
    assert t1 - t0 < 5.0 and t2 - t1 < 5.0


def test_register_a_users_own_data_set(monkeypatch, tmp_path):
    from archmodel.data import load_table, register_dataset

    monkeypatch.setattr(loaders_mod, "_REGISTRY", dict(loaders_mod._REGISTRY))
    nb201 = get_space("nb201")
    table = tmp_path / "lab.csv"
    table.write_text("arch,acc\n" + "".join(f"{nb201.format(a)},{i}\n" for i, a in enumerate(nb201.sample(3, rng=1))))
    register_dataset("lab", space="nb201", description="our lab's runs",
                     locate=lambda path=None: path or table,
                     read=lambda path: load_table(path, space="nb201", target="acc", name="lab"))
    ds = load_dataset("lab")
    assert ds.name == "lab" and ds.target().tolist() == [0.0, 1.0, 2.0]
    assert ds.info["location"] == str(table)
    row = {r["name"]: r for r in list_datasets()}["lab"]
    assert row["available"] and row["description"] == "our lab's runs"
