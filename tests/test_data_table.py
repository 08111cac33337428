"""load_table: users' own CSV / JSON Lines files, and every error it promises."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archmodel.data import load_table
from archmodel.errors import DataError, ParameterError
from archmodel.spaces import get_space

NB201 = get_space("nb201")
ARCHS = NB201.sample(5, rng=3, unique=True)


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def table(tmp_path):
    rows = [[NB201.format(a, "arch_str"), 90.0 + i, f"note{i}", "" if i == 2 else 0.5 * i]
            for i, a in enumerate(ARCHS)]
    return _write_csv(tmp_path / "mine.csv", ["arch", "acc", "comment", "latency"], rows)


def test_csv_numeric_columns_become_metrics(table):
    ds = load_table(table, space="nb201")
    assert ds.name == "mine" and ds.space == "nb201" and list(ds.archs) == ARCHS
    assert ds.metric_names == ["acc", "latency"]  # 'comment' is not numeric: ignored
    np.testing.assert_array_equal(ds.target("acc"), [90.0, 91.0, 92.0, 93.0, 94.0])
    lat = ds.target("latency")
    assert math.isnan(lat[2]) and lat[3] == 1.5  # empty cell = missing
    np.testing.assert_array_equal(ds.ids, np.arange(5))
    assert ds.default_target is None
    assert load_table(table, space="nb201", target="acc").default_target == "acc"


def test_metrics_selection_and_fmt(table):
    ds = load_table(table, space="nb201", metrics=["latency"], target="acc", fmt="arch_str")
    assert ds.metric_names == ["latency", "acc"]
    with pytest.raises(ParameterError, match=r"'fmt' parameter of load_table must be one of"):
        load_table(table, space="nb201", fmt="genotype")


def test_jsonl_and_json_array(tmp_path):
    recs = [{"cell": list(NB201.format(a, "naslib").strip("()").split(", ")), "acc": 80 + i, "tag": "x"}
            for i, a in enumerate(ARCHS)]
    for r in recs:
        r["cell"] = [int(v) for v in r["cell"]]
    recs[1]["acc"] = None
    p = tmp_path / "runs.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    ds = load_table(p, space="nb201", arch_column="cell", fmt="naslib")
    assert list(ds.archs) == ARCHS and ds.metric_names == ["acc"] and math.isnan(ds.target()[1])
    q = tmp_path / "runs.json"
    q.write_text(json.dumps(recs))
    assert list(load_table(q, space="nb201", arch_column="cell", fmt="naslib").archs) == ARCHS


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match=r"no such file: .*absent\.csv"):
        load_table(tmp_path / "absent.csv", space="nb201")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty\.csv is empty"):
        load_table(tmp_path / "empty.csv", space="nb201")
    (tmp_path / "head.csv").write_text("arch,acc\n")
    with pytest.raises(DataError, match=r"has no data rows \(columns: \['arch', 'acc'\]\)"):
        load_table(tmp_path / "head.csv", space="nb201")


def test_missing_columns_name_the_available_ones(table):
    with pytest.raises(DataError, match=r"architecture column 'genotype' does not exist; available columns: "
                                        r"\['arch', 'acc', 'comment', 'latency'\]"):
        load_table(table, space="nb201", arch_column="genotype")
    with pytest.raises(DataError, match=r"target column 'accuracy' does not exist; available columns"):
        load_table(table, space="nb201", target="accuracy")
    with pytest.raises(DataError, match=r"metric column 'lat' does not exist"):
        load_table(table, space="nb201", metrics=["lat"])


def test_non_numeric_values_name_the_row(table):
    with pytest.raises(DataError, match=r"target column 'comment' must be numeric; row 1 \(line 2\) holds 'note0'"):
        load_table(table, space="nb201", target="comment")
    with pytest.raises(DataError, match=r"metric column 'comment' must be numeric; row 1"):
        load_table(table, space="nb201", metrics=["acc", "comment"])


def test_bad_architectures_name_the_row(tmp_path):
    rows = [[NB201.format(ARCHS[0]), 1.0], ["|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", 2.0]]
    p = _write_csv(tmp_path / "bad.csv", ["arch", "acc"], rows)
    with pytest.raises(DataError, match=r"row 2 \(line 3\): cannot read architecture .*unknown op 'nor_conv_9x9'"):
        load_table(p, space="nb201")
    p2 = _write_csv(tmp_path / "blank.csv", ["arch", "acc"], [["", 1.0]])
    with pytest.raises(DataError, match=r"row 1 \(line 2\) has no architecture in column 'arch'"):
        load_table(p2, space="nb201")
    p3 = tmp_path / "bad.jsonl"
    p3.write_text('{"arch": [0, 1, 2, 3, 4, 0], "acc": 1}\n{"arch": [9, 9, 9, 9, 9, 9], "acc": 2}\n')
    with pytest.raises(DataError, match=r"row 2 \(line 2\): cannot read architecture"):
        load_table(p3, space="nb201", fmt="sequence")


def test_malformed_files(tmp_path):
    p = tmp_path / "ragged.csv"
    p.write_text("arch,acc\nx,1,2\n")
    with pytest.raises(DataError, match=r"row 1 \(line 2\) has 3 fields; the header has 2"):
        load_table(p, space="nb201")
    p = tmp_path / "dup.csv"
    p.write_text("arch,acc,acc\nx,1,2\n")
    with pytest.raises(DataError, match=r"duplicate column names \['acc'\]"):
        load_table(p, space="nb201")
    p = tmp_path / "broken.jsonl"
    p.write_text('{"arch": "x", "acc": 1}\n{"arch": \n')
    with pytest.raises(DataError, match=r"line 2 is not valid JSON"):
        load_table(p, space="nb201")
    p = tmp_path / "list.jsonl"
    p.write_text('[1, 2]\n')
    with pytest.raises(DataError, match=r"line 1 must be a JSON object; got list"):
        load_table(p, space="nb201")


def test_target_cannot_be_the_arch_column(table):
    with pytest.raises(ParameterError, match=r"target 'arch' is the architecture column"):
        load_table(table, space="nb201", target="arch")


_names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s != "arch")
_values = st.floats(allow_nan=False, allow_infinity=True, width=64)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_names, min_size=1, max_size=5, unique=True),
       data=st.data(), kind=st.sampled_from(["csv", "jsonl"]))
def test_random_tables_round_trip(tmp_path, names, data, kind):
    n = data.draw(st.integers(1, 6))
    archs = NB201.sample(n, rng=data.draw(st.integers(0, 1000)))
    cols = {c: data.draw(st.lists(_values, min_size=n, max_size=n)) for c in names}
    path = tmp_path / f"t.{kind}"
    if kind == "csv":
        _write_csv(path, ["arch"] + names,
                   [[NB201.format(a)] + [repr(cols[c][i]) for c in names] for i, a in enumerate(archs)])
    else:
        path.write_text("\n".join(json.dumps({"arch": NB201.format(a, "naslib"), **{c: cols[c][i] for c in names}})
                                  for i, a in enumerate(archs)))
    target = data.draw(st.sampled_from(names))
    ds = load_table(path, space="nb201", target=target)
    assert list(ds.archs) == archs
    assert ds.metric_names == names and ds.default_target == target
    for c in names:
        np.testing.assert_array_equal(ds.metrics[c], np.array(cols[c], dtype=np.float64))
