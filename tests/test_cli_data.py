"""``archmodel data list`` tells a user where archmodel looks for data."""
from __future__ import annotations

import json

from click.testing import CliRunner

from archmodel.cli.main import cli


def test_data_list_says_how_to_point_at_a_data_folder(monkeypatch):
    monkeypatch.delenv("ARCHMODEL_DATA_DIR", raising=False)
    r = CliRunner().invoke(cli, ["data", "list"])
    assert r.exit_code == 0, r.output
    first = r.output.splitlines()[0]
    assert "ARCHMODEL_DATA_DIR is not set" in first
    assert "export ARCHMODEL_DATA_DIR=" in first and "../shared/data" in first
    # nb201-c10 ships with no pip package: without the variable it is not found, with a hint
    row = next(line for line in r.output.splitlines() if line.startswith("nb201-c10"))
    assert "found: no" in row


def test_data_list_names_the_folder_in_use(monkeypatch, tmp_path):
    (tmp_path / "nb201-landscapes").mkdir()
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(tmp_path))
    r = CliRunner().invoke(cli, ["data", "list"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == f"data folder: $ARCHMODEL_DATA_DIR = {tmp_path}"
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(tmp_path / "missing"))
    r = CliRunner().invoke(cli, ["data", "list"])
    assert r.output.splitlines()[0].endswith("(no such folder)")


def test_data_list_json_is_one_document(monkeypatch):
    monkeypatch.delenv("ARCHMODEL_DATA_DIR", raising=False)
    r = CliRunner().invoke(cli, ["data", "list", "--json"])
    assert r.exit_code == 0
    items = json.loads(r.output)
    assert {d["name"] for d in items} >= {"nb201-analog", "nb201-c10"}
