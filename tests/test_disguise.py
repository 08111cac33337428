"""Weight-equivalent disguises (issue 13): every legal rewrite leaves a trained network's
evaluation-mode outputs unchanged (<= 1e-5 in float32, <= 1e-10 in float64, batch-norm running
statistics included); refused rewrites say why; a disguised network is an ordinary network."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.conv import EXTENDED_OPS, Network, build_nb201_network, train
from archmodel.conv.nb201 import NB201Cell
from archmodel.disguise import REWRITES, check_rewrite, disguise, legal_targets, max_abs_diff
from archmodel.errors import InvalidArchitectureError, ParameterError
from conftest import require_module

#: one edge per source op that has legal targets, so one trained network covers every rewrite
SOURCES = ["nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3", "conv_bn_1x1", "conv_bn_3x3"]
LEGAL = sorted((s, t) for (s, t), r in REWRITES.items() if r.legal)


@pytest.fixture(scope="module")
def digits():
    from archmodel.datasets.images import load_digits

    return load_digits()


@pytest.fixture(scope="module")
def trained(digits):
    """A network trained on digits (float32) and its float64 copy."""
    net = build_nb201_network(SOURCES, C=4, N=1, in_channels=1, input_size=8, rng=0)
    train(net, digits.X_train[:600], digits.y_train[:600], epochs=2, batch_size=64, rng=0)
    f64 = build_nb201_network(SOURCES, C=4, N=1, in_channels=1, input_size=8, rng=0)
    f64.load_state_dict(net.state_dict())
    f64.astype(np.float64)
    return {"float32": net, "float64": f64}


def test_the_registry_covers_every_ordered_pair_and_says_why():
    ops = list(EXTENDED_OPS)
    assert set(REWRITES) == {(s, t) for s in ops for t in ops if s != t}
    assert all(r.reason for r in REWRITES.values())
    assert legal_targets("none") == ["nor_conv_1x1", "nor_conv_3x3", "nor_conv_5x5", "conv_bn_1x1",
                                     "conv_bn_3x3", "conv_bn_5x5"]
    assert legal_targets("skip_connect") == ["conv_bn_1x1", "conv_bn_3x3", "conv_bn_5x5"]
    assert legal_targets("nor_conv_1x1") == ["nor_conv_3x3", "nor_conv_5x5"]
    assert legal_targets("avg_pool_3x3") == [] and legal_targets("nor_conv_5x5") == []
    assert {s for s, _ in LEGAL} <= set(SOURCES)


def test_training_left_nontrivial_batch_norm_statistics(trained):
    buf = trained["float32"].buffers()
    rv = [v for k, v in buf.items() if k.endswith("running_var")]
    rm = [v for k, v in buf.items() if k.endswith("running_mean")]
    assert len(rv) == 18 and all(np.abs(v - 1).max() > 1e-2 for v in rv)
    assert sum(np.abs(v).max() > 1e-3 for v in rm) >= 16


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float64", 1e-10)])
@pytest.mark.parametrize("source, target", LEGAL)
def test_every_legal_rewrite_is_exact_on_a_trained_network(trained, digits, dtype, tol, source, target):
    net = trained[dtype]
    edge = SOURCES.index(source)
    d = disguise(net, {edge: target})
    assert d.config["ops"][edge] == target and d.dtype == net.dtype
    x = digits.X_test.astype(dtype)
    diff = max_abs_diff(net, d, x)
    assert diff <= tol, (source, target, diff)
    # the disguise really changed the network (not a copy of it)
    cell = next(m for m in d.modules() if isinstance(m, NB201Cell))
    assert type(cell.edges[list(cell.edges)[edge]]).__name__ in ("ReLUConvBN", "ConvBN")


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_a_plan_rewriting_every_edge_is_exact(trained, digits, dtype, tol):
    net = trained[dtype]
    before = net.state_dict()
    d = disguise(net, ["nor_conv_5x5", "conv_bn_3x3", "conv_bn_5x5", "nor_conv_5x5", "conv_bn_5x5",
                       "conv_bn_5x5"])
    assert max_abs_diff(net, d, digits.X_test.astype(dtype)) <= tol
    assert d.num_parameters() > net.num_parameters()
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # the victim is untouched


@pytest.mark.parametrize("source, target, message", [
    ("skip_connect", "nor_conv_3x3", "starts with a ReLU, which clips the negative values"),
    ("nor_conv_3x3", "nor_conv_1x1", "cannot shrink"),
    ("nor_conv_3x3", "none", "computes a learned function"),
    ("nor_conv_1x1", "conv_bn_1x1", "adds or removes the leading ReLU"),
    ("none", "skip_connect", "cannot output zero"),
])
def test_refused_rewrites_say_why_and_list_the_legal_targets(trained, source, target, message):
    with pytest.raises(InvalidArchitectureError, match=message + ".*Legal targets of " + source):
        disguise(trained["float32"], {SOURCES.index(source): target})


def test_average_pooling_is_not_offered_and_bad_plans_are_refused(trained):
    with pytest.raises(InvalidArchitectureError, match=r"count_include_pad=False.*Legal targets of avg_pool_3x3: none"):
        check_rewrite("avg_pool_3x3", "conv_bn_3x3")
    with pytest.raises(ParameterError, match="keys are edge indices 0..5; got 6"):
        disguise(trained["float32"], {6: "nor_conv_3x3"})
    with pytest.raises(InvalidArchitectureError, match="op 0 .* must be one of"):
        disguise(trained["float32"], {0: "conv_7x7"})
    with pytest.raises(ParameterError, match="needs an NB201 network"):
        disguise(object(), {0: "nor_conv_3x3"})


def test_a_disguised_network_saves_loads_trains_and_maps_to_crossbars(trained, digits, tmp_path):
    net = trained["float32"]
    d = disguise(net, {0: "nor_conv_3x3", 2: "conv_bn_3x3", 1: "nor_conv_1x1"})
    path = tmp_path / "d.npz"
    d.save(path)
    back = Network.load(path)
    assert back.arch_string == d.arch_string
    np.testing.assert_array_equal(back.predict(digits.X_test), d.predict(digits.X_test))
    loss, _ = back.loss_and_grad(digits.X_train[:32], digits.y_train[:32])
    assert np.isfinite(loss) and any(np.abs(g).max() > 0 for g in back.gradients().values())
    from archmodel.pim.conv_network import layers_from_network

    n_orig, n_dis = len(layers_from_network(net)), len(layers_from_network(d))
    assert n_dis > n_orig  # the disguise's extra convolutions are real crossbar layers


def test_numpy_and_numba_backends_agree_on_the_equivalence(trained, digits):
    require_module("numba", "numba")
    net = trained["float64"]
    d = disguise(net, {0: "nor_conv_5x5", 2: "conv_bn_3x3"})
    x = digits.X_test[:64].astype(np.float64)
    for backend in ("numpy", "numba"):
        net.backend = d.backend = backend
        assert max_abs_diff(net, d, x) <= 1e-10
    net.backend = d.backend = None
