"""Transfer attacks (PGD on a surrogate, measured on the victim) and the disguise/attack CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from archmodel.cli.main import cli
from archmodel.conv import Network
from archmodel.disguise import disguise
from archmodel.disguise.attack import digits_for, pgd_attack, transfer_attack
from archmodel.disguise.cost import network_macs, overhead, plan_overhead, random_plan

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    from archmodel.cli.net import train_arch

    path = tmp_path_factory.mktemp("victim") / "victim.npz"
    train_arch(ARCH, input_size=8, C=4, N=1, epochs=3, seed=0, output=str(path))
    return path


def test_pgd_stays_in_the_budget_and_raises_the_loss(victim):
    net = Network.load(victim)
    data = digits_for(net)
    x, y = data.X_test[:128], data.y_test[:128]
    adv = pgd_attack(net, x, y, mean=data.mean, std=data.std, eps=0.1, steps=10)
    m, s = data.mean.reshape(1, -1, 1, 1), data.std.reshape(1, -1, 1, 1)
    raw, raw_adv = x * s + m, adv * s + m
    assert np.abs(raw_adv - raw).max() <= 0.1 + 1e-5
    assert raw_adv.min() >= -1e-6 and raw_adv.max() <= 1 + 1e-6
    clean_loss, _ = net.loss(net.predict(x), y)
    adv_loss, _ = net.loss(net.predict(adv), y)
    assert adv_loss > clean_loss + 0.1
    acc = lambda z: np.mean(np.argmax(net.predict(z), axis=1) == y)  # noqa: E731
    assert acc(adv) < acc(x) - 0.2


def test_transfer_attack_reports_every_accuracy(victim):
    net = Network.load(victim)
    r = transfer_attack(net, ARCH, eps=0.1, steps=5, epochs=2, seed=3, n_images=128)
    assert r.n_images == 128 and r.surrogate_ops == list(net.config["ops"])
    assert r.victim_clean > 0.5 and r.surrogate_clean > 0.5
    assert r.surrogate_under_attack < r.surrogate_clean - 0.2      # white-box attack is strong
    assert r.victim_under_attack < r.victim_clean                  # and transfers partly


def test_random_plans_meet_the_budget(victim):
    net = Network.load(victim)
    for seed in range(4):
        plan = random_plan(net, 0.1, seed)
        assert plan and overhead(net, disguise(net, plan)) <= 0.1
        assert plan_overhead(net, plan) == overhead(net, disguise(net, plan))
    assert network_macs(disguise(net, {0: "nor_conv_5x5"})) > network_macs(net)
    with pytest.raises(Exception, match="no random legal disguise within an overhead budget of 0"):
        random_plan(net, 0.0, 0, max_tries=5)


def test_cli_disguise_plan_json_and_refusals(victim, tmp_path):
    out = tmp_path / "d.npz"
    res = CliRunner().invoke(cli, ["disguise", str(victim), "--plan", "0:nor_conv_5x5, 2:conv_bn_3x3",
                                   "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["arch"] == ARCH
    assert doc["disguised_arch"] == ARCH.replace("nor_conv_3x3~0", "nor_conv_5x5~0").replace(
        "skip_connect~1", "conv_bn_3x3~1")
    assert doc["max_abs_diff"] <= 1e-5 and doc["overhead"] > 0
    assert [p["to"] for p in doc["plan"]] == ["nor_conv_5x5", "conv_bn_3x3"]
    assert Network.load(out).arch_string == doc["disguised_arch"]

    bad = tmp_path / "bad.npz"
    res = CliRunner().invoke(cli, ["disguise", str(victim), "--plan", "2:nor_conv_3x3", "-o", str(bad)])
    assert res.exit_code == 1 and "starts with a ReLU" in res.output and not bad.exists()
    res = CliRunner().invoke(cli, ["disguise", str(victim), "--plan", "two:nor_conv_3x3", "-o", str(bad)])
    assert res.exit_code == 2 and "EDGE:OP" in res.output


def test_cli_random_disguise_and_attack(victim, tmp_path):
    out = tmp_path / "r.npz"
    res = CliRunner().invoke(cli, ["disguise", str(victim), "--budget", "0.1", "--seed", "1", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["overhead"] <= 0.1 and doc["disguised_arch"] != doc["arch"] and doc["max_abs_diff"] <= 1e-5
    res = CliRunner().invoke(cli, ["attack", str(victim), "--surrogate-arch", doc["disguised_arch"],
                                   "--epochs", "1", "--steps", "3", "--json"])
    assert res.exit_code == 0, res.output
    att = json.loads(res.output)
    assert att["surrogate_ops"] == Network.load(out).config["ops"]
    assert 0 <= att["victim_under_attack"] <= att["victim_clean"] + 0.05 and att["eps"] == 0.1
