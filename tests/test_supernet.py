"""The weight-sharing NB201 supernet (archmodel.supernet): equivalence with stand-alone
networks, shared-parameter gradients, backend parity, path-only updates, kill-and-resume,
one-shot evaluation."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.conv import build_nb201_network
from archmodel.conv.nb201 import NB201_EDGES, ops_from_arch_string
from archmodel.errors import FormatError, InvalidArchitectureError, ParameterError
from archmodel.supernet import PARAMETRISED_OPS, Supernet, build_supernet
from archmodel.supernet.evaluate import calibration_batches, one_shot_scores
from archmodel.supernet.train import SupernetTrainer, sample_arch
from archmodel.testing import check_grad
from conftest import check_network_grad

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
SMALL = dict(C=3, N=1, num_classes=3, input_size=8)


def standalone_name_map(net: Supernet) -> dict[str, str]:
    """Stand-alone network parameter/buffer name -> supernet name, for the selected arch."""
    out = {}
    for cell in net.cells:
        for (src, dst), op, b in zip(NB201_EDGES, cell.ops, cell.assignment):
            if op in PARAMETRISED_OPS:
                out[f"{cell.name}.edge_{src}_{dst}"] = f"{cell.name}.glow{b}.{op}"
    return out


def rename(name: str, mapping: dict[str, str]) -> str:
    for a, b in mapping.items():
        if name.startswith(a + "."):
            return b + name[len(a):]
    return name


def copy_into_standalone(net: Supernet, arch: str, dtype=np.float64, backend=None):
    alone = build_nb201_network(ops_from_arch_string(arch), dtype=dtype, rng=9, backend=backend, **SMALL)
    mapping = standalone_name_map(net)
    sup = net.state_dict()
    alone.load_state_dict({k: sup[rename(k, mapping)] for k in alone.state_dict()})
    return alone


def test_a_path_of_the_vanilla_supernet_is_the_standalone_network(backend, rng):
    net = build_supernet(rng=1, dtype=np.float64, backend=backend.name, **SMALL)
    net.set_arch(ARCH)
    alone = copy_into_standalone(net, ARCH, backend=backend.name)
    x = rng.standard_normal((4, 3, 8, 8))
    y = np.array([0, 1, 2, 1])
    l1, z1 = net.loss_and_grad(x, y)
    l2, z2 = alone.loss_and_grad(x, y)
    assert l1 == pytest.approx(l2, abs=1e-12)
    np.testing.assert_allclose(z1, z2, atol=1e-12, rtol=0)
    mapping = standalone_name_map(net)
    g1, g2 = net.gradients(), alone.gradients()
    for k, g in g2.items():
        np.testing.assert_allclose(g1[rename(k, mapping)], g, atol=1e-12, rtol=0, err_msg=k)
    # the parameters the path used are exactly the stand-alone network's
    assert sorted(rename(k, mapping) for k in alone.parameters()) == sorted(net.active_parameter_names())
    assert sum(net.parameters()[k].size for k in net.active_parameter_names()) == alone.num_parameters()
    # and every other parameter got a zero gradient
    active = set(net.active_parameter_names())
    assert all(not np.any(g) for k, g in g1.items() if k not in active)


def test_shared_blocks_add_the_gradients_of_every_edge(backend, rng):
    # one block: the three nor_conv_3x3 edges of each cell run the same parameters
    net = build_supernet(rng=2, n_blocks=1, dtype=np.float64, backend=backend.name, **SMALL)
    net.set_arch(ARCH)
    assert net.cells[0].assignment == (0,) * 6
    assert len(net.active_parameter_names()) < len(
        build_nb201_network(ops_from_arch_string(ARCH), **SMALL).parameters())
    x = rng.standard_normal((3, 3, 8, 8))
    y = np.array([0, 2, 1])
    names = ["cells.0.glow0.nor_conv_3x3.conv.weight", "cells.0.glow0.nor_conv_3x3.bn.weight",
             "cells.0.glow0.nor_conv_1x1.conv.weight", "stem.conv.weight"]
    res = check_network_grad(net, x, y, names, rtol=2e-5, max_probes=40)
    assert min(res.n_probed) > 0


def test_supernet_backend_parity_float64(rng, numba_module):
    x = rng.standard_normal((4, 3, 8, 8))
    y = np.array([0, 1, 2, 1])
    out = {}
    for be in ("numpy", "numba"):
        net = build_supernet(rng=5, n_blocks=2, dtype=np.float64, backend=be, **SMALL)
        net.set_arch(ARCH, [0, 1, 1, 0, 1, 0])
        loss, logits = net.loss_and_grad(x, y)
        out[be] = (loss, logits, net.gradients(), net.buffers())
    a, b = out["numpy"], out["numba"]
    assert abs(a[0] - b[0]) < 1e-9
    np.testing.assert_allclose(a[1], b[1], atol=1e-9, rtol=0)
    for k in a[2]:
        np.testing.assert_allclose(a[2][k], b[2][k], atol=1e-9, rtol=0, err_msg=k)
    for k in a[3]:
        np.testing.assert_allclose(a[3][k], b[3][k], atol=1e-9, rtol=0, err_msg=k)


def test_set_arch_validates_its_arguments():
    net = build_supernet(rng=0, n_blocks=2, **SMALL)
    with pytest.raises(InvalidArchitectureError, match="op 0"):
        net.set_arch(["conv"] * 6)
    with pytest.raises(ParameterError, match=r"blocks must be 6 block indices in \[0, 2\)"):
        net.set_arch(ARCH, [0, 1, 2, 0, 0, 0])
    with pytest.raises(ParameterError, match="n_blocks"):
        build_supernet(n_blocks=0)
    with pytest.raises(ParameterError, match="sampler"):
        sample_arch("greedy", np.random.default_rng(0))


def _digits_like(rng, n=48):
    X = rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, n)
    return X, y


def test_training_updates_only_the_sampled_paths_parameters(rng):
    X, y = _digits_like(rng)
    net = build_supernet(rng=0, **SMALL)
    tr = SupernetTrainer(net, X, y, epochs=1, batch_size=len(X), rng=3)   # one step
    before = {k: v.copy() for k, v in net.parameters().items()}
    tr.run()
    active = set(net.active_parameter_names())
    changed = {k for k, v in net.parameters().items() if not np.array_equal(v, before[k])}
    assert changed and changed <= active
    assert tr.step == 1 and tr.epoch == 1 and len(tr.history) == 1


@pytest.mark.parametrize("sampler", ["uniform", "unique"])
def test_killed_and_resumed_training_ends_with_the_same_weights(rng, tmp_path, sampler):
    X, y = _digits_like(rng)
    kw = dict(epochs=3, batch_size=16, lr=0.05, sampler=sampler)
    whole = SupernetTrainer(build_supernet(rng=0, **SMALL), X, y, rng=7, **kw)
    whole.run()
    ck = tmp_path / "sn.npz"
    first = SupernetTrainer(build_supernet(rng=0, **SMALL), X, y, rng=7, **kw)
    first.run(1, checkpoint=ck)
    del first                              # "killed" after its first checkpoint
    resumed = SupernetTrainer.resume(ck, X, y, expect={"epochs": 3, "sampler": sampler})
    assert resumed.epoch == 1 and resumed.step == 3
    resumed.run(checkpoint=ck)
    a, b = whole.net.state_dict(), resumed.net.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [r["train_loss"] for r in whole.history] == [r["train_loss"] for r in resumed.history]
    again, header, _ = SupernetTrainer.read(ck)
    assert header["epoch"] == 3 and isinstance(again, Supernet)


def test_resume_refuses_other_settings_and_other_files(rng, tmp_path):
    X, y = _digits_like(rng)
    ck = tmp_path / "sn.npz"
    SupernetTrainer(build_supernet(rng=0, **SMALL), X, y, epochs=2, batch_size=16).run(1, checkpoint=ck)
    with pytest.raises(ParameterError, match="other settings"):
        SupernetTrainer.resume(ck, X, y, expect={"epochs": 5})
    with pytest.raises(ParameterError, match="48 images"):
        SupernetTrainer.resume(ck, X[:10], y[:10])
    net = build_nb201_network(ops_from_arch_string(ARCH), **SMALL)
    net.save(tmp_path / "net.npz")
    with pytest.raises(FormatError):
        SupernetTrainer.resume(tmp_path / "net.npz", X, y)
    with pytest.raises(ParameterError, match="Supernet"):
        SupernetTrainer(net, X, y, epochs=1)


def test_one_shot_scores_recalibrate_and_restore_the_statistics(rng):
    X, y = _digits_like(rng, 64)
    net = build_supernet(rng=0, **SMALL)
    SupernetTrainer(net, X, y, epochs=2, batch_size=16, rng=0).run()
    saved = {k: v.copy() for k, v in net.buffers().items()}
    archs = [ARCH, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             "|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|"]
    cal = calibration_batches(X, n_batches=2, batch_size=16, rng=0)
    assert len(cal) == 2 and cal[0].shape == (16, 3, 8, 8)
    s1 = one_shot_scores(net, archs, X[:32], y[:32], calibration=cal)
    s2 = one_shot_scores(net, archs[::-1], X[:32], y[:32], calibration=cal)
    np.testing.assert_array_equal(s1["accuracy"], s2["accuracy"][::-1])    # order-free
    np.testing.assert_array_equal(s1["neg_loss"], s2["neg_loss"][::-1])
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)             # supernet unchanged
    # the all-none cell outputs a constant: its accuracy is one class's share of the labels
    shares = np.bincount(y[:32], minlength=3) / 32
    assert np.isclose(shares, s1["accuracy"][1], rtol=0, atol=1e-12).any()
    # recalibration matters: the statistics of the path differ from the supernet's running ones
    s3 = one_shot_scores(net, archs, X[:32], y[:32], calibration=None)
    assert not np.array_equal(s1["neg_loss"], s3["neg_loss"])


def test_saved_supernet_loads_as_a_network(tmp_path):
    from archmodel.conv import Network

    net = build_supernet(rng=4, n_blocks=3, **SMALL)
    net.save(tmp_path / "w.npz")
    back = Network.load(tmp_path / "w.npz")
    assert isinstance(back, Supernet) and back.n_blocks == 3
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)


# ----------------------------------------------------------------------------- CLI
def _cli(args):
    from click.testing import CliRunner

    from archmodel.cli.main import cli

    return CliRunner().invoke(cli, ["-q", *args])


TINY = ["--channels", "2", "--cells-per-stage", "1", "--batch-size", "128", "--seed", "3"]


def test_cli_supernet_train_resumes_to_the_uninterrupted_weights(tmp_path):
    from conftest import require_module

    require_module("sklearn", "data")
    whole, part = tmp_path / "whole.npz", tmp_path / "part.npz"
    r = _cli(["supernet", "train", "--epochs", "2", *TINY, "-o", str(whole), "--json"])
    assert r.exit_code == 0, r.output
    r = _cli(["supernet", "train", "--epochs", "2", "--until-epoch", "1", *TINY, "-o", str(part)])
    assert r.exit_code == 0, r.output
    assert SupernetTrainer.read(part)[1]["epoch"] == 1
    r = _cli(["supernet", "train", "--epochs", "2", *TINY, "-o", str(part), "--json"])
    assert r.exit_code == 0, r.output
    a, b = SupernetTrainer.read(whole)[0].state_dict(), SupernetTrainer.read(part)[0].state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # another budget or seed on an existing file is refused, with one line naming it
    r = _cli(["supernet", "train", "--epochs", "3", *TINY, "-o", str(part)])
    assert r.exit_code == 1 and "other settings" in r.output and "Traceback" not in r.output
    r = _cli(["supernet", "train", "--epochs", "2", *TINY[:-1], "4", "-o", str(part)])
    assert r.exit_code == 1 and "another supernet" in r.output


def test_cli_supernet_evaluate_against_a_micro_benchmark_table(tmp_path):
    import json

    from conftest import require_module

    from archmodel import microbench

    require_module("sklearn", "data")
    sn = tmp_path / "sn.npz"
    assert _cli(["supernet", "train", "--epochs", "1", *TINY, "-o", str(sn)]).exit_code == 0
    # a table of 12 real cells of the stored micro-benchmark (both of their first two seeds)
    lines = microbench.default_path().read_text().splitlines(True)
    table = microbench.load_table()
    keep = [a for a, d in table.items() if {0, 1} <= set(d)][:12]
    body = [ln for ln in lines[2:] if ln.split(",", 1)[0] in keep and ln.split(",")[3] in ("0", "1")]
    micro = tmp_path / "micro.csv"
    micro.write_text("".join(lines[:2] + body))
    r = _cli(["supernet", "evaluate", str(sn), "--against", str(micro), "--json",
              "--calibration-batches", "1"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    archs, truth = microbench.mean_accuracy(micro)
    assert doc["archs"] == archs and doc["n"] == 12 and len(doc["accuracy"]) == 12
    from archmodel.metrics import kendall_tau

    assert doc["kendall_tau"] == pytest.approx(kendall_tau(truth, np.array(doc["accuracy"])))
    r = _cli(["supernet", "evaluate", str(sn), archs[0], "--json", "--calibration-batches", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["accuracy"] == [doc["accuracy"][0]]


# ----------------------------------------------------------------------------- CLOSENet
def test_gumbel_softmax_gradient_matches_finite_differences(rng):
    from archmodel.supernet.gate import gumbel_softmax, gumbel_softmax_backward

    logits = rng.standard_normal((6, 3))
    noise = rng.gumbel(size=(6, 3))
    r = rng.standard_normal((6, 3))

    def fn(z):
        _, p = gumbel_softmax(z, 5.0, noise)
        return float((r * p).sum()), (gumbel_softmax_backward(p, r, 5.0),)

    check_grad(fn, logits, rtol=1e-6)
    idx, p = gumbel_softmax(logits, 5.0, None)
    np.testing.assert_array_equal(idx, logits.argmax(axis=1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


class _Mix:
    """Test helper: edge output ``O_b(x) + t * O_i(x)`` (``t`` perturbs the gate weight y[k, i])."""

    def __init__(self, own, other, t):
        self.own, self.other, self.t = own, other, t

    def forward(self, x, ctx):
        return self.own.forward(x, ctx) + self.t * self.other.forward(x, ctx)

    def backward(self, dy, ctx):  # pragma: no cover - loss values only
        raise AssertionError("not differentiated")

    def clear_cache(self):
        self.own.clear_cache()
        self.other.clear_cache()


def test_cell_gate_gradient_is_the_derivative_of_the_loss_in_the_gate_weight(rng):
    from archmodel.supernet.cell import share_layer

    net = build_supernet(rng=6, n_blocks=3, dtype=np.float64, backend="numpy", **SMALL)
    blocks = [0, 2, 1, 0, 1, 2]
    net.set_arch(ARCH, blocks)
    cell = net.cells[1]
    x = rng.standard_normal((4, 3, 8, 8))
    y = np.array([0, 1, 2, 1])
    for c in net.cells:
        c.set_gate_level(3)
    net.loss_and_grad(x, y)
    grad = cell.gate_grad
    assert grad.shape == (6, 3)
    ops = ops_from_arch_string(ARCH)
    assert not grad[3].any() and not grad[4].any()         # skip and pool edges: no gate gradient
    saved = {k: v.copy() for k, v in net.buffers().items()}
    eps = 1e-6
    for k in (0, 1, 5):                                     # conv edges of cell 1
        edge = NB201_EDGES[k]
        for i in range(3):
            losses = []
            for t in (eps, -eps):
                net.set_arch(ARCH, blocks)
                for c in net.cells:
                    c.set_gate_level(None)
                net.load_buffers(saved)
                own = cell.edges[edge]
                cell.edges[edge] = _Mix(own, share_layer(cell.blocks[i].ops[ops[k]]), t)
                logits = net.forward(x, train=True)
                losses.append(net.loss(logits, y)[0])
                net.body.clear_cache()
            numeric = (losses[0] - losses[1]) / (2 * eps)
            assert grad[k, i] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (k, i)


def _closenet_trainer(X, y, rng_seed=7, epochs=3, schedule=(1, 2, 3), kind="node"):
    from archmodel.supernet.gate import make_gate

    net = build_supernet(rng=0, n_blocks=3, **SMALL)
    gate = make_gate(kind, n_blocks=3, rng=1, mlp_hidden=(16,), gates_dims=(8, 8))
    return SupernetTrainer(net, X, y, epochs=epochs, batch_size=16, lr=0.05, rng=rng_seed,
                           gate=gate, schedule=list(schedule))


@pytest.mark.parametrize("inherit", ["add", "copy"])
def test_closenet_curriculum_opens_blocks_with_inherited_weights(rng, inherit):
    X, y = _digits_like(rng)
    tr = _closenet_trainer(X, y)
    tr.inherit = inherit
    cell = tr.net.cells[0]
    w = "cells.0.glow{}.nor_conv_3x3.conv.weight"
    params = tr.net.parameters()
    init1 = params[w.format(1)].copy()
    tr.run(1)
    assert tr.level() == 1
    assert all(b == 0 for b in cell.assignment)             # one block: every edge shares it
    assert np.array_equal(params[w.format(1)], init1)       # block 1 not open yet: untouched
    prev = params[w.format(0)].copy()
    col = tr.gate._out_layer()
    g_prev = col[0][:, col[2](0, 0)].copy()
    g_new = col[0][:, col[2](0, 1)].copy()
    tr.open_block(2)
    expect = init1 + prev if inherit == "add" else prev
    np.testing.assert_array_equal(params[w.format(1)], expect)
    np.testing.assert_array_equal(col[0][:, col[2](0, 1)], g_new + g_prev if inherit == "add" else g_prev)
    bn = "cells.0.glow{}.nor_conv_3x3.bn.running_mean"
    np.testing.assert_array_equal(tr.net.buffers()[bn.format(1)], tr.net.buffers()[bn.format(0)])


def test_closenet_training_moves_the_gate_and_opens_blocks_on_schedule(rng):
    X, y = _digits_like(rng)
    tr = _closenet_trainer(X, y)
    before = {k: v.copy() for k, v in tr.gate.params.items()}
    tr.run(2)
    assert tr.level() == 2
    assert any(not np.array_equal(v, before[k]) for k, v in tr.gate.params.items())
    assert tr.blocks_for(ARCH).max() <= 1


@pytest.mark.parametrize("kind", ["node", "arch"])
def test_closenet_killed_and_resumed_matches_uninterrupted(rng, tmp_path, kind):
    X, y = _digits_like(rng)
    whole = _closenet_trainer(X, y, kind=kind)
    whole.run()
    ck = tmp_path / "close.npz"
    part = _closenet_trainer(X, y, kind=kind)
    part.run(2, checkpoint=ck)
    resumed = SupernetTrainer.resume(ck, X, y)
    assert resumed.gate is not None and resumed.level() == 2
    resumed.run()
    for k, v in whole.net.state_dict().items():
        np.testing.assert_array_equal(v, resumed.net.state_dict()[k], err_msg=k)
    for k, v in whole.gate.params.items():
        np.testing.assert_array_equal(v, resumed.gate.params[k], err_msg=k)
    np.testing.assert_array_equal(whole.blocks_for(ARCH), resumed.blocks_for(ARCH))


def test_closenet_settings_are_checked(rng):
    from archmodel.supernet.gate import ArchGate, make_gate

    X, y = _digits_like(rng)
    net = build_supernet(rng=0, n_blocks=3, **SMALL)
    with pytest.raises(ParameterError, match="kind"):
        make_gate("edge", n_blocks=3)
    with pytest.raises(ParameterError, match="schedule must be increasing"):
        SupernetTrainer(net, X, y, epochs=3, gate=ArchGate(3, rng=0), schedule=[2, 3])
    with pytest.raises(ParameterError, match="blocks"):
        SupernetTrainer(net, X, y, epochs=3, gate=ArchGate(2, rng=0))
    with pytest.raises(ParameterError, match="needs a gate"):
        SupernetTrainer(net, X, y, epochs=3, schedule=[1])


def test_cli_closenet_train_resume_and_evaluate(tmp_path):
    import json

    from conftest import require_module

    require_module("sklearn", "data")
    args = ["supernet", "train", "--kind", "closenet", "--blocks", "2", "--epochs", "2", *TINY]
    whole, part = tmp_path / "w.npz", tmp_path / "p.npz"
    assert _cli([*args, "-o", str(whole)]).exit_code == 0
    assert _cli([*args, "--until-epoch", "1", "-o", str(part)]).exit_code == 0
    r = _cli([*args, "-o", str(part), "--json"])
    assert r.exit_code == 0, r.output
    a, ha, oa = SupernetTrainer.read(whole)
    b, hb, ob = SupernetTrainer.read(part)
    assert ha["training"]["schedule"] == [1, 2] and ha["gate"]["n_blocks"] == 2
    for k in a.state_dict():
        np.testing.assert_array_equal(a.state_dict()[k], b.state_dict()[k], err_msg=k)
    for k in oa:
        np.testing.assert_array_equal(oa[k], ob[k], err_msg=k)
    r = _cli(["supernet", "evaluate", str(part), ARCH, "--json", "--calibration-batches", "1"])
    assert r.exit_code == 0, r.output
    assert 0.0 <= json.loads(r.output)["accuracy"][0] <= 1.0
    r = _cli(["supernet", "train", "--schedule", "1,2", "--epochs", "2", *TINY, "-o", str(tmp_path / "x.npz")])
    assert r.exit_code == 2 and "--kind closenet" in r.output


@pytest.mark.parametrize("kind", ["node", "arch"])
def test_gate_gradients_match_finite_differences(kind):
    from archmodel.supernet.gate import make_gate

    gate = make_gate(kind, n_blocks=3, rng=2, mlp_hidden=(7,), gates_dims=(6, 5), dropout=0.0)
    gate.params = {k: v.astype(np.float64) for k, v in gate.params.items()}
    r = np.random.default_rng(4).standard_normal((6, 2))
    names = [n for n in gate.params if n.endswith("op_emb") or n.endswith("out.weight") or "gates1.weight" in n]

    def fn(*ws):
        for n, w in zip(names, ws):
            gate.params[n] = w
        _, state = gate.sample(ARCH, 2, np.random.default_rng(0))     # same noise every call
        grads = gate.gradients(state, r)
        return float((r * state["p"]).sum()), tuple(grads[n] for n in names)

    res = check_grad(fn, *[gate.params[n].copy() for n in names], rtol=1e-5, max_probes=30)
    assert min(res.n_probed) > 0
    assert gate.choose(ARCH, 2).shape == (6,) and gate.choose(ARCH, 2).max() <= 1


def test_one_shot_score_is_a_low_fidelity_signal(tmp_path):
    from conftest import require_module

    from archmodel.signals import signal_column
    from archmodel.spaces import get_space
    from archmodel.supernet.evaluate import score_file

    require_module("sklearn", "data")
    sn = tmp_path / "sn.npz"
    assert _cli(["supernet", "train", "--epochs", "1", *TINY, "-o", str(sn)]).exit_code == 0
    sp = get_space("nb201")
    archs = sp.sample(3, 0)
    col = signal_column(f"oneshot:{sn}", archs, space="nb201")
    direct, header = score_file(sn, [sp.format(a) for a in archs])
    np.testing.assert_array_equal(col, direct["accuracy"])
    assert header["epoch"] == 1
    with pytest.raises(ParameterError, match="NB201"):
        signal_column(f"oneshot:{sn}", get_space("nb101").sample(1, 0), space="nb101")


def test_gate_assignment_argmax_or_a_fixed_draw_per_architecture():
    from archmodel.supernet.gate import make_gate

    gate = make_gate("node", n_blocks=3, rng=0, mlp_hidden=(8,), gates_dims=(6, 6))
    a = gate.choose(ARCH, 3, "sample")
    np.testing.assert_array_equal(a, gate.choose(ARCH, 3, "sample"))     # deterministic
    np.testing.assert_array_equal(gate.choose(ARCH, 3), gate.logits(ARCH, 3).argmax(axis=1))
    assert a.shape == (6,) and a.max() <= 2
    with pytest.raises(ParameterError, match="assignment"):
        gate.choose(ARCH, 3, "random")
