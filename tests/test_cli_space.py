"""The space commands of the CLI."""
from __future__ import annotations

import json

from click.testing import CliRunner

from archmodel.cli.main import cli
from archmodel.spaces import get_space


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and "version" in r.output


def test_space_info_json_counts():
    r = run("space", "info", "nb201", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["size"] == 15625
    assert d["unique"]["unique"] == 6466 and d["unique"]["computed"]
    assert d["unique"]["structural"] == 8765


def test_space_sample_is_reproducible_and_parseable():
    a = run("space", "sample", "darts", "-n", "4", "--seed", "3")
    b = run("space", "sample", "darts", "-n", "4", "--seed", "3")
    assert a.exit_code == 0 and a.output == b.output
    lines = a.output.strip().splitlines()
    assert len(lines) == 4
    sp = get_space("darts")
    assert [sp.parse(l) for l in lines] == sp.sample(4, 3)


def test_space_canonical_in_input_order_and_formats():
    sp = get_space("nb201")
    archs = sp.sample(5, 0)
    texts = [sp.format(archs[0], "arch_str"), sp.format(archs[1], "naslib")]
    r = run("space", "canonical", "nb201", *texts, "--key", "unique", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == [archs[0].key("unique"), archs[1].key("unique")]
    r2 = run("space", "canonical", "nb201", "--input", "-", input="\n".join(texts) + "\n")
    assert r2.output.splitlines() == [archs[0].key(), archs[1].key()]


def test_bad_input_is_one_line_error_no_traceback():
    r = run("space", "canonical", "nb201", "|bogus~0|+|x~0|y~1|+|a~0|b~1|c~2|")
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    assert "unknown op 'bogus'" in r.output
    r = run("space", "canonical", "darts", "--key", "unique", "x")
    assert r.exit_code != 0 and "not available for darts" in r.output
    r = run("space", "canonical", "nb201")
    assert r.exit_code == 2 and "no architectures given" in r.output
    r = run("space", "info", "nb999")
    assert r.exit_code == 2 and "nb999" in r.output
