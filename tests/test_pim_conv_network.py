"""archmodel networks on the PIM simulator (``archmodel.pim.conv_network``).

* the traced PIM layer list of a tiny NAS-Bench-201 network equals a hand-written one, and its
  layer counts follow from the cell ops (convs = Conv2d leaves, sums = incoming edges - 1);
* ``simulate`` accepts a Network (and a saved ``.npz``): finite costs, the same result as the
  hand-written list, and MNSIM's crossbar count computed by hand;
* the functional pass of a network trained on scikit-learn's digits: float path == the
  network's own forward, ideal crossbars == quantised digital pass exactly, accuracy under
  variation reproducible for a seed;
* clear errors for bad inputs.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from archmodel.conv.layers import AvgPool2d, Conv2d, GlobalAvgPool, Sequential
from archmodel.conv.layers import Linear as ConvLinear
from archmodel.conv.nb201 import NB201_EDGES, build_nb201_network
from archmodel.conv.network import Network
from archmodel.errors import InvalidArchitectureError, ParameterError
from archmodel.pim import simulate, simulate_batch
from archmodel.pim.conv_network import (
    build_network_model,
    forward_digital_network,
    forward_float_network,
    forward_pim_network,
    layers_from_network,
    map_network,
    pim_accuracy,
    sample_network_cells,
)
from archmodel.pim.functional import crossbar_model
from archmodel.pim.loading import load_network
from archmodel.pim.network import Conv, ElementSum, Linear, Pool

OPS = ("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "skip_connect")
IDEAL = {"variation": 0.0, "device__stuck_at_hrs_rate": 0.0, "device__stuck_at_lrs_rate": 0.0}


def _net(ops=OPS, **kw):
    args = {"C": 4, "N": 1, "in_channels": 1, "input_size": 8, "rng": 0, "backend": "numpy"}
    args.update(kw)
    return build_nb201_network(list(ops), **args)


@pytest.fixture(scope="module")
def digits():
    from archmodel.datasets.images import load_digits

    return load_digits()  # real data: scikit-learn's 8x8 digits, fixed split


@pytest.fixture(scope="module")
def trained(digits):
    from archmodel.conv.train import train

    net = _net()
    train(net, digits.X_train, digits.y_train, epochs=3, batch_size=64, lr=0.1, rng=0)
    return net


# --------------------------------------------------------------------------------------------
# mapping
# --------------------------------------------------------------------------------------------
def _hand_written() -> list:
    """OPS cell: node1 = conv3(x); node2 = x (skip; (1,2) none); node3 = avgpool(x) + conv1(node1) + node2."""
    def cell(c, hw_in_layer):
        return [Conv(c, c, 3, padding=1, inputs=(-1,)),          # edge 0->1 reads the cell input
                Pool(3, 1, 1, inputs=(-2,)),                     # edge 0->3
                Conv(c, c, 1, inputs=(-2,)),                     # edge 1->3 reads node 1
                ElementSum((-2, -1)),                            # pool + conv1x1
                ElementSum((-1, -5))]                            # ... + node 2 (= the cell input)

    def block(cin, cout):
        return [Conv(cin, cout, 3, stride=2, padding=1),
                Conv(cout, cout, 3, padding=1),
                Pool(2, 2, 0, inputs=(-3,)),                     # shortcut reads the block input
                Conv(cin, cout, 1),
                ElementSum((-3, -1))]

    return ([Conv(1, 4, 3, padding=1, input_hw=(8, 8))] + cell(4, 0) + block(4, 8) + cell(8, 0)
            + block(8, 16) + cell(16, 0) + [Pool(2, 2, 0), Linear(16, 10)])


def test_mapping_equals_hand_written_layer_list():
    net = _net()
    m = map_network(net)
    assert m.layers == _hand_written()
    assert m.names[:3] == ["stem.conv", "cells.0.edge_0_1.conv", "cells.0.edge_0_3"]
    assert m.names[-2:] == ["gap", "classifier"]
    assert m.shapes[-2:] == [(16, 1, 1), (10,)]
    assert m.input_shape == (1, 8, 8)


@pytest.mark.parametrize("ops", [
    OPS,
    ("nor_conv_3x3",) * 6,
    ("none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "skip_connect", "none"),  # node 1 is zero
    ("avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3", "avg_pool_3x3"),
])
def test_layer_counts_follow_the_network_structure(ops):
    net = _net(ops, N=2)
    layers = layers_from_network(net)
    kinds = [type(l).__name__ for l in layers]
    assert kinds.count("Conv") == len(net.layers(Conv2d))
    assert kinds.count("Linear") == len(net.layers(ConvLinear)) == 1
    assert kinds.count("Pool") == len(net.layers(AvgPool2d)) + len(net.layers(GlobalAvgPool))
    # sums: per cell node, (number of non-'none' incoming edges - 1); one per reduction block
    per_cell = sum(max(sum(op != "none" for op, (s, d) in zip(ops, NB201_EDGES) if d == dst) - 1, 0)
                   for dst in (1, 2, 3))
    assert kinds.count("ElementSum") == 6 * per_cell + 2


def test_zero_node_is_wired_to_the_cell_input():
    ops = ("none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "skip_connect", "none")
    m = map_network(_net(ops))
    # stem conv (0); cell 0: node 1 is zero, edge 1->2 (conv1x1) reads it -> wired to the stem
    assert m.names[1:3] == ["cells.0.edge_0_2.conv", "cells.0.edge_1_2.conv"]
    assert m.layers[2].inputs == (-2,) and m.layers[1].inputs == (-1,)
    # node 2 = conv3x3(x) + conv1x1(0); node 3 = x + 0 (both wired to the stem)
    assert m.layers[3] == ElementSum((-2, -1))
    assert m.layers[4] == ElementSum((-4, -4))


def test_simulate_accepts_a_network_and_counts_crossbars_by_hand(tmp_path):
    net = _net()
    r = simulate(net, "mnsim-default", backend="numpy")
    assert np.isfinite(r.latency_s) and r.latency_s > 0
    assert np.isfinite(r.energy_j) and r.energy_j > 0 and np.isfinite(r.area_mm2)
    # mnsim-default: 9-bit weights, polarity 2, 1-bit cells -> 8 slices; every layer's matrix
    # (at most 16 channels x 9 rows, 16 outputs) fits one 256x256 crossbar per slice
    n_matrix = len(net.layers(Conv2d)) + len(net.layers(ConvLinear))
    assert n_matrix == 14
    assert r.crossbars == 8 * n_matrix
    ref = simulate(_hand_written(), "mnsim-default", backend="numpy")
    assert (r.crossbars, r.latency_s, r.energy_j) == (ref.crossbars, ref.latency_s, ref.energy_j)
    path = tmp_path / "net.npz"
    net.save(path)
    assert load_network(str(path)) == _hand_written()
    assert simulate(str(path), "mnsim-default", backend="numpy").latency_s == r.latency_s
    b = simulate_batch(net, overrides=[{"adc_bits": 6}, {"adc_bits": 8}], backend="numpy")
    assert b.ok.all() and np.all(np.isfinite(b.energy_j))


def test_mapping_errors():
    net = _net()
    with pytest.raises(ParameterError, match="'net' parameter of map_network must be an archmodel"):
        layers_from_network([Conv(1, 2, 3, input_hw=(4, 4))])
    with pytest.raises(ParameterError, match="'input_shape' parameter must have C = 1"):
        layers_from_network(net, input_shape=(3, 8, 8))
    with pytest.raises(ParameterError, match="'input_shape' parameter must be three positive integers"):
        layers_from_network(net, input_shape=(8, 8))
    with pytest.raises(ParameterError, match="'network' parameter must be .* an archmodel Network"):
        simulate(object(), "mnsim-default")
    cfg = {"in_channels": 4, "input_size": 8, "num_classes": 3}
    for kw, msg in (({"groups": 2}, "groups=2"), ({"dilation": 2, "padding": 2}, "dilation=2")):
        body = Sequential(Conv2d(4, 4, 3, **kw), GlobalAvgPool(), ConvLinear(4, 3), names=["c", "gap", "fc"])
        bad = Network(body, kind="custom", config=cfg)
        with pytest.raises(InvalidArchitectureError, match=f"Conv2d 'c' has {msg}"):
            layers_from_network(bad)


# --------------------------------------------------------------------------------------------
# functional simulation
# --------------------------------------------------------------------------------------------
def test_float_path_equals_the_networks_forward(trained, digits):
    x = digits.X_test[:40]
    model = build_network_model(trained, digits.X_train[:64], xb=crossbar_model("mnsim-default", **IDEAL))
    got = forward_float_network(model, x)
    ref = trained.predict(x).astype(np.float64)  # float32 network, own kernels
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("kw", [
    {"adc_bits": 10},
    {"adc_bits": 10, "polarity": 1},
    {"adc_bits": 10, "subtraction": "digital"},
    {"adc_bits": 10, "cell_bits": 2, "dac_bits": 2},
])
def test_ideal_crossbars_equal_quantised_digital_pass(trained, digits, kw):
    xb = crossbar_model("mnsim-default", xbar_size=32, **IDEAL, **kw)  # several row chunks per layer
    assert xb.ideal
    model = build_network_model(trained, digits.X_train[:64], xb=xb)
    for ent in model.layers.values():
        assert np.all(ent.programmed.adc_step == 1.0)  # the ADC covers every partial sum
    x = digits.X_test[:30]
    dig = forward_digital_network(model, x)
    pim = forward_pim_network(model, x)
    np.testing.assert_array_equal(pim, dig)
    # 9-bit quantisation stays close to the float pass
    flt = forward_float_network(model, x)
    assert np.abs(dig - flt).max() < 0.05 * np.abs(flt).max()


def test_accuracy_under_variation_is_reproducible(trained, digits):
    x, y = digits.X_test[:60], digits.y_test[:60]
    cal = digits.X_train[:64]
    hw = {"adc_bits": 8, "variation": 0.1}
    xb = crossbar_model("mnsim-default", **hw)
    a = pim_accuracy(trained, x, y, xb=xb, n_draws=3, rng=7, calibration=cal)
    b = pim_accuracy(trained, x, y, xb=xb, n_draws=3, rng=7, calibration=cal)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert a.draws.shape == (3,) and np.all(np.isfinite(a.draws))
    assert 0.0 <= a.mean <= 1.0 and a.std >= 0.0
    assert a.mean == pytest.approx(a.draws.mean()) and a.std == pytest.approx(a.draws.std())
    assert a.float_ >= 0.5  # the network did learn the digits
    model = build_network_model(trained, cal, xb=xb)
    c1, c2 = sample_network_cells(model, 1), sample_network_cells(model, 2)
    assert list(c1) == list(model.layers)
    assert any(not np.array_equal(c1[k], c2[k]) for k in c1)
    np.testing.assert_array_equal(forward_pim_network(model, x[:10], rng=3),
                                  forward_pim_network(model, x[:10], sample_network_cells(model, 3)))
    # ideal devices: one draw, equal to the quantised digital accuracy
    ideal = pim_accuracy(trained, x, y, xb=crossbar_model("mnsim-default", xbar_size=32, adc_bits=10, **IDEAL),
                         n_draws=4, rng=0, calibration=cal)
    assert ideal.draws.shape == (1,) and ideal.mean == ideal.digital


def test_backend_parity_of_the_crossbar_pass(trained, digits, backend):
    xb = crossbar_model("mnsim-default", adc_bits=6, variation=0.1)
    model = build_network_model(trained, digits.X_train[:32], xb=xb)
    cells = sample_network_cells(model, 5)
    x = digits.X_test[:8]
    ref = forward_pim_network(model, x, cells, backend="numpy")
    got = forward_pim_network(model, x, cells, backend=backend.name)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_functional_errors(trained, digits):
    x, y = digits.X_test[:5], digits.y_test[:5]
    with pytest.raises(ParameterError, match="'X' parameter must be images of shape"):
        pim_accuracy(trained, x[:, :, :4, :4], y)
    with pytest.raises(ParameterError, match="'calibration' parameter must be images of shape"):
        build_network_model(trained, np.zeros((4, 3, 8, 8)))
    with pytest.raises(ParameterError, match="'net' parameter of pim_accuracy must be an archmodel"):
        pim_accuracy("vgg8", x, y)
    with pytest.raises(ParameterError, match="'y' parameter must be integer labels of shape"):
        pim_accuracy(trained, x, y[:3])
    with pytest.raises(ParameterError, match="'model' parameter of forward_pim_network must be a QuantizedNetwork"):
        forward_pim_network(trained, x)
    net = _net()
    model = build_network_model(net, digits.X_train[:8])
    net.parameters()["classifier.weight"][0, 0] += 1.0
    with pytest.raises(ParameterError, match="weights of layer 'classifier' changed"):
        forward_digital_network(model, x)


def test_nb201_architecture_strings_are_networks():
    """An NB201 architecture (arch string or NASLib tuple) maps NAS-Bench-201's CIFAR network."""
    from click.testing import CliRunner

    from archmodel.cli.main import cli
    from archmodel.conv.nb201 import build_nb201_network, ops_from_arch_string
    from archmodel.pim import simulate
    from archmodel.pim.conv_network import layers_from_arch, layers_from_network
    from archmodel.spaces import get_space

    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    net = build_nb201_network(ops_from_arch_string(arch), rng=1)  # C=16, N=5, 32x32x3, 10 classes
    expected = layers_from_network(net)
    assert layers_from_arch(arch) == expected
    sp = get_space("nb201")
    naslib = sp.format(sp.parse(arch), "naslib")  # '(2, 2, 0, 2, 2, 2)'
    assert layers_from_arch(naslib) == expected  # the same cell as a NASLib tuple
    n_conv = sum(isinstance(l, Conv) for l in expected)
    # 15 cells x 5 conv edges, the stem, 2 reduction blocks x (2 convs + 1x1 shortcut)
    assert n_conv == 15 * 5 + 1 + 2 * 3
    res = simulate(arch, "mnsim-default")
    assert res.crossbars == simulate(expected, "mnsim-default").crossbars > 0
    r = CliRunner().invoke(cli, ["pim", "simulate", "--network", arch, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["crossbars"] == res.crossbars
    r = CliRunner().invoke(cli, ["pim", "simulate", "--network", "|bogus~0|+|a~0|b~1|+|c~0|d~1|e~2|"])
    assert r.exit_code != 0 and "unknown op 'bogus'" in r.output


def test_cli_accuracy_of_a_saved_network(trained, digits, tmp_path):
    """'archmodel pim accuracy NET.npz': the same numbers as pim_accuracy on the digits test split."""
    from click.testing import CliRunner

    from archmodel.cli.main import cli

    path = tmp_path / "net.npz"
    trained.save(path, metadata={"data": "digits"})
    args = ["pim", "accuracy", str(path), "--draws", "2", "--set", "adc_bits=10", "--calibration", "32", "--json"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    from archmodel.pim.spec import apply_overrides, load_hardware

    hw = apply_overrides(load_hardware("mnsim-default"), {"adc_bits": 10})
    want = pim_accuracy(trained, digits.X_test, digits.y_test, hardware=hw, n_draws=2, rng=0,
                        calibration=digits.X_train[:32])
    assert doc["n_draws"] == 2 and doc["n_test"] == len(digits.y_test)
    assert doc["draws"] == want.draws.tolist() and doc["mean"] == want.mean and doc["digital"] == want.digital
    assert 0.5 < doc["float"] <= 1.0
    trained.save(tmp_path / "other.npz", metadata={"data": "cifar10"})
    r = CliRunner().invoke(cli, ["pim", "accuracy", str(tmp_path / "other.npz")])
    assert r.exit_code != 0 and "evaluates 'digits' networks" in r.output
