"""The disguising policy: masked softmax, hand-written policy gradient (finite differences),
learning from a reward, budget-respecting greedy plans, persistence."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.conv import EXTENDED_OPS, build_nb201_network
from archmodel.disguise import disguise
from archmodel.disguise.cost import overhead
from archmodel.disguise.policy import DisguisePolicy, _masks, load_policy
from archmodel.errors import FormatError, NotFittedError
from archmodel.testing import check_grad

OPS = ["nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "none"]


@pytest.fixture(scope="module")
def victims():
    cells = [OPS, ["skip_connect", "nor_conv_1x1", "none", "avg_pool_3x3", "nor_conv_3x3", "skip_connect"]]
    return [build_nb201_network(c, C=4, N=1, in_channels=3, input_size=8, rng=i) for i, c in enumerate(cells)]


def test_illegal_actions_have_zero_probability(victims):
    pol = DisguisePolicy(rng=0)
    f = pol._features(victims[0])
    pol._init(f.shape[1])
    pol.weight_ = np.random.default_rng(0).standard_normal(pol.weight_.shape)
    m = _masks(OPS)
    p = pol._probs(f, m)
    assert np.allclose(p.sum(axis=1), 1) and np.all(p[~m] == 0) and np.all(p[m] > 0)
    assert m[4].sum() == 1  # avg_pool_3x3 has no legal rewrite: it can only stay


def test_policy_gradient_matches_finite_differences(victims):
    pol = DisguisePolicy(entropy=0.3, rng=0)
    f = pol._features(victims[1])
    pol._init(f.shape[1])
    rng = np.random.default_rng(1)
    pol.weight_ = rng.standard_normal(pol.weight_.shape) * 0.5
    pol.bias_ = rng.standard_normal(pol.bias_.shape) * 0.5
    m = _masks(victims[1].config["ops"])
    p = pol._probs(f, m)
    actions = np.array([rng.choice(p.shape[1], p=row) for row in p])
    w0, b0 = pol.weight_.copy(), pol.bias_.copy()

    def fn(w, b):
        pol.weight_, pol.bias_ = w, b
        val = pol._objective(f, m, actions, 0.7)
        gw, gb = pol._objective_grad(f, m, pol._probs(f, m), actions, 0.7)
        return val, (gw, gb)

    check_grad(fn, w0, b0)


def test_fit_learns_a_rewarded_rewrite_and_plans_within_budget(victims):
    # reward: +1 when the skip_connect edge becomes conv_bn_1x1, else 0
    def reward(v, plan):
        e = list(v.config["ops"]).index("skip_connect")
        return 1.0 if plan.get(e) == "conv_bn_1x1" else 0.0

    pol = DisguisePolicy(budget=0.5, lr=0.5, entropy=0.0, rng=0).fit(victims, reward, steps=15, samples=4)
    assert pol.history_[-1]["mean_reward"] > pol.history_[0]["mean_reward"] + 0.2
    for v in victims:
        plan = pol.plan(v)
        e = list(v.config["ops"]).index("skip_connect")
        assert plan.get(e) == "conv_bn_1x1"
        assert overhead(v, disguise(v, plan)) <= 0.5
    tight = DisguisePolicy(budget=0.0, rng=0)
    tight._init(pol.weight_.shape[1])
    tight.weight_, tight.bias_ = pol.weight_, pol.bias_
    assert all(overhead(v, disguise(v, tight.plan(v))) <= 0.0 for v in victims)


def test_save_load_and_errors(victims, tmp_path):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DisguisePolicy().plan(victims[0])
    pol = DisguisePolicy(budget=0.3, rng=0).fit(victims, lambda v, p: float(len(p)), steps=2, samples=2)
    path = tmp_path / "policy.npz"
    pol.save(path)
    back = load_policy(path)
    np.testing.assert_array_equal(back.weight_, pol.weight_)
    assert back.plan(victims[0]) == pol.plan(victims[0]) and back.budget == 0.3
    with pytest.raises(FormatError, match="trained without a GATES encoder"):
        load_policy(path, encoder=object())
    assert len(EXTENDED_OPS) == pol.weight_.shape[0]


def test_cli_disguise_with_a_saved_policy(victims, tmp_path):
    import json

    from click.testing import CliRunner

    from archmodel.cli.main import cli

    pol = DisguisePolicy(budget=0.5, lr=0.5, entropy=0.0, rng=0).fit(
        victims, lambda v, p: 1.0 if "conv_bn_1x1" in p.values() else 0.0, steps=10, samples=4)
    ppath, npath, out = tmp_path / "pol.npz", tmp_path / "net.npz", tmp_path / "d.npz"
    pol.save(ppath)
    victims[0].save(npath)
    res = CliRunner().invoke(cli, ["disguise", str(npath), "--policy", str(ppath), "--budget", "0.5", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert "conv_bn_1x1" in [p["to"] for p in doc["plan"]] and doc["overhead"] <= 0.5
    res = CliRunner().invoke(cli, ["disguise", str(npath), "--policy", str(ppath), "--plan", "0:nor_conv_3x3", "-o", str(out)])
    assert res.exit_code == 2 and "not both" in res.output


def test_plan_rewrites_at_least_one_edge_when_argmax_keeps_everything(victims):
    """A policy whose every edge prefers "keep" (the start, keep_init large) still disguises:
    plan() adds the legal rewrite of largest margin that fits; min_rewrites=0 keeps the empty
    plan; the first step's advantages are scaled by its own rewards (no collapse)."""
    from archmodel.disguise.cost import plan_overhead

    pol = DisguisePolicy(budget=0.3, keep_init=20.0, rng=0)
    pol._init(pol._features(victims[0]).shape[1])
    for v in victims:
        assert pol.plan(v, min_rewrites=0) == {}
        plan = pol.plan(v)
        assert len(plan) == 1
        (e, op), = plan.items()
        assert op != v.config["ops"][e] and _masks(list(v.config["ops"]))[e, EXTENDED_OPS.index(op)]
        assert plan_overhead(v, plan) <= 0.3
    with pytest.raises(ValueError, match="min_rewrites"):
        pol.plan(victims[0], min_rewrites=-1)
    # small rewards of one sign: the first update is scaled by the spread of the step's own
    # rewards (largest weight change 0.13 here); scaled from empty running statistics, the
    # first samples' advantages were r / 1e-3 (largest change 0.57, and a collapse in
    # benchmarks/bench_disguise_policy.py)
    fitted = DisguisePolicy(budget=0.3, lr=0.5, entropy=0.0, rng=0).fit(
        victims, lambda v, p: -0.01 * len(p), steps=1, samples=4)
    fresh = DisguisePolicy(budget=0.3, rng=0)
    fresh._init(fitted.weight_.shape[1])
    assert np.abs(fitted.weight_ - fresh.weight_).max() < 0.3
