"""CLI: ``net train`` and ``zeroshot`` (resume, refusal of other settings, input order)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archmodel.cli.net import net
from archmodel.cli.zeroshot import zeroshot
from archmodel import zeroshot as zs

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
]
SMALL = ["--channels", "2", "--cells-per-stage", "1", "--input-size", "8", "--batch", "4",
         "--data", "random", "--backend", "numpy", "--quiet"]


def read_rows(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# archmodel-zeroshot ")
    return [line.split(",") for line in lines[2:]], lines[1].split(",")


def test_zeroshot_writes_one_row_per_arch_in_input_order(tmp_path):
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(zeroshot, ["--proxies", "params,flops,synflow,nwot", *SMALL,
                                        "--output", str(out), *ARCHS[:3]])
    assert res.exit_code == 0, res.output
    rows, header = read_rows(out)
    assert header == ["arch", "params", "flops", "synflow", "nwot"]
    assert [r[0] for r in rows] == ARCHS[:3]
    want = zs.compute_proxies(ARCHS[2], ["params", "flops", "synflow", "nwot"], C=2, N=1,
                              input_size=8, batch=4, data="random", rng=0, backend="numpy")
    assert [float(v) for v in rows[2][1:]] == list(want.values())


def test_zeroshot_resume_recomputes_nothing_and_loses_nothing(tmp_path, monkeypatch):
    out = tmp_path / "s.csv"
    calls: list[str] = []
    real = zs.compute_proxies

    def counting(arch, *a, **k):
        calls.append(arch)
        return real(arch, *a, **k)

    monkeypatch.setattr(zs, "compute_proxies", counting)
    args = ["--proxies", "params,synflow", *SMALL, "--output", str(out)]
    assert CliRunner().invoke(zeroshot, [*args, *ARCHS[:3]]).exit_code == 0
    assert calls == ARCHS[:3]
    first = out.read_text()
    # simulate a run killed while writing row 3: a partial last line
    cut = first.rstrip("\n").rfind("\n") + 1 + 20
    out.write_text(first[:cut])
    calls.clear()
    res = CliRunner().invoke(zeroshot, [*args, *ARCHS])
    assert res.exit_code == 0, res.output
    assert calls == ARCHS[2:]                       # only the cut row and the new ones
    rows, _ = read_rows(out)
    assert [r[0] for r in rows] == ARCHS
    assert out.read_text().startswith(first[:first.rstrip("\n").rfind("\n") + 1])
    assert "\n".join(out.read_text().splitlines()[:5]) == "\n".join(first.splitlines()[:5])
    # a complete rerun computes nothing
    calls.clear()
    assert CliRunner().invoke(zeroshot, [*args, *ARCHS]).exit_code == 0
    assert calls == []


def test_zeroshot_refuses_other_settings(tmp_path):
    out = tmp_path / "s.csv"
    args = ["--proxies", "params", *SMALL, "--output", str(out), ARCHS[0]]
    assert CliRunner().invoke(zeroshot, args).exit_code == 0
    before = out.read_text()
    res = CliRunner().invoke(zeroshot, [*args, "--seed", "3"])
    assert res.exit_code != 0
    assert "different settings" in res.output and "seed" in res.output
    assert out.read_text() == before


def test_zeroshot_input_file_and_bad_arch(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("\n".join(ARCHS[:2]) + "\n")
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(zeroshot, ["--proxies", "params", *SMALL, "--input", str(f),
                                        "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert [r[0] for r in read_rows(out)[0]] == ARCHS[:2]
    res = CliRunner().invoke(zeroshot, ["--proxies", "params", *SMALL, "--output",
                                        str(tmp_path / "t.csv"), "|bogus~0|"])
    assert res.exit_code != 0 and "arch string" in res.output


def test_net_train_json(tmp_path):
    out = tmp_path / "net.npz"
    res = CliRunner().invoke(net, ["train", "--arch", ARCHS[0], "--channels", "2",
                                   "--cells-per-stage", "1", "--input-size", "8", "--epochs", "1",
                                   "--backend", "numpy", "--output", str(out), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"test_accuracy", "val_accuracy", "train_seconds", "params"}
    assert 0.0 <= doc["test_accuracy"] <= 1.0 and doc["train_seconds"] > 0
    from archmodel.conv import load_network

    loaded = load_network(out)
    assert loaded.num_parameters() == doc["params"]
    assert loaded.metadata["arch"] == ARCHS[0]


def test_net_train_rejects_bad_arch():
    res = CliRunner().invoke(net, ["train", "--arch", "nope", "--epochs", "1", "--quiet"])
    assert res.exit_code != 0
    assert "cannot read 'nope': expected an arch string" in res.output


def test_microbench_sampling_and_resume(tmp_path):
    from archmodel import microbench as mb
    from archmodel.errors import ParameterError
    from archmodel.spaces import get_space

    cells = mb.sample_cells(5, rng=0)
    assert [c[2] for c in cells] == ["best", "worst"] + ["sampled"] * 5
    space = get_space("nb201")
    keys = [space.parse(a).key("unique") for a, _, _ in cells]
    assert keys == [k for _, k, _ in cells] and len(set(keys)) == 7
    proto = dict(mb.PROTOCOL, n_sampled=3, seeds=[0, 1])
    calls = []

    def fake_train(arch, **kw):
        calls.append((arch, kw["seed"]))
        return {"test_accuracy": 0.5 + 0.01 * len(arch) % 1, "val_accuracy": 0.5,
                "train_seconds": 0.1, "params": 10}

    out = tmp_path / "mb.csv"
    assert mb.run(out, protocol=proto, train=fake_train, limit=4) == 4
    assert [s for _, s in calls] == [0, 0, 0, 0]          # seed-major order
    text = out.read_text()
    out.write_text(text + "partial,li")                   # a killed write
    calls.clear()
    assert mb.run(out, protocol=proto, train=fake_train) == 6
    assert len(calls) == 6 and len(set(calls)) == 6
    summary = mb.summarize(out)
    assert summary["rows"] == 10 and summary["cells_with_two_seeds"] == 5
    assert summary["kendall_tau_seed0_seed1"] == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="another protocol"):
        mb.run(out, protocol=dict(proto, epochs=99), train=fake_train)
