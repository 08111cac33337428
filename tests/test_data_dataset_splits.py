"""The Dataset type and train_test_split."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from archmodel.arch import Arch
from archmodel.data import Dataset, load_dataset, train_test_split
from archmodel.data import loaders as loaders_mod
from archmodel.errors import DataError, InvalidArchitectureError, ParameterError
from archmodel.spaces import get_space
from conftest import require_data

NB201 = get_space("nb201")


@pytest.fixture(scope="module")
def toy() -> Dataset:
    archs = NB201.sample(40, rng=7, unique=True)
    acc = np.linspace(50.0, 90.0, 40)
    acc[3] = np.nan
    return Dataset("toy", "nb201", archs, {"acc": acc, "lat": np.arange(40.0)},
                   low_fidelity={"synflow": np.arange(40.0) * 2},
                   info={"source": "unit test", "license": "CC0", "units": {"acc": "%"}},
                   ids=np.arange(100, 140), default_target="acc")


@pytest.fixture
def c10(monkeypatch) -> Dataset:
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(require_data()))
    monkeypatch.setattr(loaders_mod, "_package_dir", lambda module: None)
    return load_dataset("nb201-c10")


# ---------------------------------------------------------------------------- Dataset
def test_target_and_errors(toy):
    assert len(toy) == 40 and toy.target() is toy.metrics["acc"]
    with pytest.raises(DataError, match=r"no metric 'accuracy'; available metrics: \['acc', 'lat'\]"):
        toy.target("accuracy")
    with pytest.raises(DataError, match=r"'synflow' is a low-fidelity column: use dataset\.low_fidelity"):
        toy.target("synflow")
    assert toy.column("synflow")[1] == 2.0
    two = Dataset("two", "nb201", toy.archs[:2], {"a": [1, 2], "b": [3, 4]})
    with pytest.raises(DataError, match=r"has no default target; pass one of the metrics \['a', 'b'\]"):
        two.target()


def test_arrays_are_read_only(toy):
    with pytest.raises(ValueError, match="read-only"):
        toy.metrics["acc"][0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        toy.ids[0] = 1


def test_constructor_validation(toy):
    with pytest.raises(DataError, match=r"column 'acc' must have shape \(40,\); got \(39,\)"):
        Dataset("x", "nb201", toy.archs, {"acc": np.zeros(39)})
    other = get_space("nb101").sample(1, rng=0)[0]
    with pytest.raises(InvalidArchitectureError, match=r"architecture 1 must be an Arch of space 'nb201'; got 'nb101'"):
        Dataset("x", "nb201", [toy.archs[0], other], {})
    with pytest.raises(DataError, match=r"names \['acc'\] appear both as metrics and as low-fidelity"):
        Dataset("x", "nb201", toy.archs[:1], {"acc": [1.0]}, low_fidelity={"acc": [2.0]})
    with pytest.raises(DataError, match=r"default_target 'zz' is not a metric"):
        Dataset("x", "nb201", toy.archs[:1], {"acc": [1.0]}, default_target="zz")
    with pytest.raises(DataError, match=r"column 'acc' is not numeric"):
        Dataset("x", "nb201", toy.archs[:1], {"acc": ["high"]})


def test_subset(toy):
    s = toy.subset([5, 0, -1])
    assert s.archs == (toy.archs[5], toy.archs[0], toy.archs[39])
    np.testing.assert_array_equal(s.ids, [105, 100, 139])
    np.testing.assert_array_equal(s.low_fidelity["synflow"], [10.0, 0.0, 78.0])
    mask = np.zeros(40, dtype=bool)
    mask[[1, 2]] = True
    assert toy.subset(mask).archs == toy.archs[1:3]
    assert len(toy.subset(slice(0, 10, 2))) == 5
    with pytest.raises(ParameterError, match=r"subset indices must be in \[-40, 39\]"):
        toy.subset([40])


def test_describe_and_rows(toy):
    d = toy.describe()
    assert d["size"] == 40 and d["space"] == "nb201" and d["license"] == "CC0" and d["source"] == "unit test"
    acc = np.delete(np.linspace(50.0, 90.0, 40), 3)
    assert d["metrics"]["acc"] == {"min": 50.0, "max": 90.0, "mean": pytest.approx(acc.mean()), "n_missing": 1,
                                   "unit": "%"}
    assert set(d["low_fidelity"]) == {"synflow"}
    json.dumps(d)
    text = toy.describe_text()
    assert "toy: 40 architectures" in text and "(default target)" in text and "license: CC0" in text
    rows = toy.to_rows()
    assert rows[3]["acc"] is None and rows[0]["id"] == 100 and rows[0]["synflow"] == 0.0
    assert NB201.parse(rows[7]["arch"]) == toy.archs[7]
    json.dumps(rows, allow_nan=False)


# ---------------------------------------------------------------------------- splits
def test_split_sizes_disjoint_covering(toy):
    tr, te = train_test_split(toy, 0.25, rng=0)
    assert (len(tr), len(te)) == (10, 30)
    assert set(tr.ids.tolist()).isdisjoint(te.ids.tolist())
    assert sorted(tr.ids.tolist() + te.ids.tolist()) == toy.ids.tolist()
    assert set(tr.archs) | set(te.archs) == set(toy.archs)
    for part in (tr, te):
        pos = [toy.ids.tolist().index(i) for i in part.ids.tolist()]
        assert pos == sorted(pos)  # data order kept
        np.testing.assert_array_equal(part.metrics["lat"], toy.metrics["lat"][pos])
    tr, te = train_test_split(toy, 7, rng=1)
    assert (len(tr), len(te)) == (7, 33)
    assert len(train_test_split(toy, 0.0125, rng=1)[0]) == 1  # 0.5 rows: half rounds up
    assert len(train_test_split(toy, 0.3125, rng=1)[0]) == 13  # 12.5 rows


def test_split_reproducible(toy):
    a = train_test_split(toy, 0.5, rng=42)[0].ids
    b = train_test_split(toy, 0.5, rng=42)[0].ids
    c = train_test_split(toy, 0.5, rng=43)[0].ids
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(train_test_split(toy, 3, rng=g1)[0].ids, train_test_split(toy, 3, rng=g2)[0].ids)


@pytest.mark.parametrize("bad", [0, 0.0, 1.0, 40, 41, -1, 1.5, math.nan, True, "0.5", None])
def test_split_bad_train_size(toy, bad):
    with pytest.raises(ParameterError, match=r"train_size"):
        train_test_split(toy, bad, rng=0)


def test_split_fraction_too_small(toy):
    with pytest.raises(ParameterError, match=r"train_size=0\.01 of 40 architectures gives 0 training rows"):
        train_test_split(toy, 0.01)


def test_split_dedup_unique_on_nb201(c10):
    tr, te = train_test_split(c10, 0.1, rng=0, dedup="unique")
    # NB201's own de-isomorphism: 6,466 unique architectures
    assert len(tr) + len(te) == 6466 and len(tr) == 647
    ktr, kte = set(tr.keys("unique")), set(te.keys("unique"))
    assert len(ktr) == len(tr) and len(kte) == len(te) and ktr.isdisjoint(kte)
    # the representative of each class is its first member in data order
    first: dict[str, int] = {}
    for i, k in zip(c10.ids.tolist(), c10.keys("unique")):
        first.setdefault(k, i)
    assert sorted(tr.ids.tolist() + te.ids.tolist()) == sorted(first.values())


def test_split_dedup_structural_and_errors(toy):
    # every architecture twice: the second copies must be dropped, never split from the first
    dup = Dataset("dup", "nb201", list(toy.archs[:5]) * 2, {"acc": np.arange(10.0)})
    tr, te = train_test_split(dup, 2, rng=0, dedup="structural")
    assert len(tr) + len(te) == len({a.key("structural") for a in toy.archs[:5]})
    assert set(tr.ids.tolist()) | set(te.ids.tolist()) <= set(range(5))  # the first copies are kept
    nb101 = Dataset("n", "nb101", get_space("nb101").sample(4, rng=0, unique=True), {"a": np.arange(4.0)})
    with pytest.raises(ParameterError, match=r"'dedup' parameter of train_test_split must be one of \[None, 'structural'\]"):
        train_test_split(nb101, 2, dedup="unique")
    with pytest.raises(ParameterError, match=r"needs a Dataset; got list"):
        train_test_split([Arch("nb201", (0,) * 6)], 0.5)
