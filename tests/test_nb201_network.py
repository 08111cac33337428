"""NAS-Bench-201 networks: parameter counts against NASLib's data, cell wiring against the
benchmark's accuracies, cell semantics, end-to-end gradients, backend parity, persistence."""
from __future__ import annotations

import json

import numpy as np
import pytest

from archmodel.backends import get_backend
from archmodel.conv import (
    NB201_EDGES,
    NB201_OPS,
    Network,
    NB201Cell,
    ReLU,
    arch_string,
    build_nb201_network,
    ops_from_arch_string,
)
from archmodel.conv.layers import Context
from archmodel.errors import FormatError, InvalidArchitectureError, ParameterError
from archmodel.io import load_npz, save_npz
from archmodel.testing import check_grad
from conftest import check_network_grad, require_data

# NASLib's NB201 tuples "(o0, ..., o5)" list the edges in the order
# [(0,1), (0,2), (0,3), (1,2), (1,3), (2,3)] with op codes 0 skip_connect, 1 none,
# 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3 (shared/data/README.md). archmodel's builder
# takes op names in NB201 arch-string edge order [(0,1), (0,2), (1,2), (0,3), (1,3), (2,3)]:
# position i of the builder's list is NASLib position NASLIB_POSITION[i].
NASLIB_OPS = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
NASLIB_EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
NASLIB_POSITION = [NASLIB_EDGES.index(e) for e in NB201_EDGES]      # [0, 1, 3, 2, 4, 5]


def naslib_key_to_ops(key: str) -> list[str]:
    codes = [int(c) for c in key.strip("()").split(",")]
    return [NASLIB_OPS[codes[NASLIB_POSITION[i]]] for i in range(6)]


@pytest.fixture(scope="module")
def naslib_cifar10() -> dict:
    path = require_data("naslib-zc-suite-zero", "zc_nasbench201.json")
    with open(path) as fh:
        return json.load(fh)["cifar10"]


def test_conversion_table():
    assert NASLIB_POSITION == [0, 1, 3, 2, 4, 5]
    assert naslib_key_to_ops("(0, 1, 2, 3, 4, 0)") == [
        "skip_connect", "none", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "skip_connect"]


def test_parameter_count_equals_naslib_for_all_cifar10_cells(naslib_cifar10):
    # NASLib's 'params' score is the trainable parameter count in millions (6 decimals):
    # conv weights, BN affine weight+bias, classifier weight+bias; no running statistics.
    assert len(naslib_cifar10) == 724
    mismatches = []
    for key, rec in naslib_cifar10.items():
        net = build_nb201_network(naslib_key_to_ops(key), C=16, N=5, num_classes=10,
                                  in_channels=3, input_size=32, rng=0)
        expected = round(rec["params"]["score"] * 1e6)
        if net.num_parameters() != expected:
            mismatches.append((key, net.num_parameters(), expected))
    assert mismatches == []


def test_edge_order_matches_benchmark_accuracy(naslib_cifar10):
    """A cell whose output does not depend on its input (no non-'none' path 0 -> 3) trains to
    chance (10 %); the benchmark's accuracies pin the edge conversion down (swapping the NASLib
    edges (0,3) and (1,2) would misclassify 13 of these 724 cells)."""
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((2, 4, 3, 8, 8))
    wrong = []
    for key, rec in naslib_cifar10.items():
        net = build_nb201_network(naslib_key_to_ops(key), C=2, N=1, input_size=8, rng=1,
                                  dtype=np.float64, backend="numpy")
        # training mode: batch norm re-centres every feature, so no ReLU is dead for the batch
        constant = np.allclose(net.forward(xa), net.forward(xb), rtol=0, atol=1e-12)
        if constant != (rec["val_accuracy"] <= 10.0):
            wrong.append(key)
    assert wrong == []


def test_structure_and_names():
    net = build_nb201_network(["nor_conv_3x3"] * 6, C=4, N=2, num_classes=7, rng=0)
    params = net.parameters()
    assert list(params)[:3] == ["stem.conv.weight", "stem.bn.weight", "stem.bn.bias"]
    assert params["stem.conv.weight"].shape == (4, 3, 3, 3)
    assert params["cells.0.edge_0_1.conv.weight"].shape == (4, 4, 3, 3)
    # cells.2 is the first reduction block, cells.5 the second
    assert params["cells.2.conv_a.conv.weight"].shape == (8, 4, 3, 3)
    assert params["cells.2.conv_b.conv.weight"].shape == (8, 8, 3, 3)
    assert params["cells.2.shortcut.conv.weight"].shape == (8, 4, 1, 1)
    assert "cells.2.shortcut.bn.weight" not in params            # no BN on the shortcut
    assert params["cells.6.edge_2_3.conv.weight"].shape == (16, 16, 3, 3)
    assert params["classifier.weight"].shape == (7, 16)
    assert set(net.gradients()) == set(params)
    assert all(p.dtype == np.float32 for p in params.values())
    assert net.buffers()["lastact.bn.running_var"].shape == (16,)
    assert net.arch_string == arch_string(["nor_conv_3x3"] * 6)


def test_forward_shapes_and_modes(rng):
    net = build_nb201_network(["nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1",
                               "none", "skip_connect"], C=4, N=1, num_classes=5, input_size=16,
                              rng=0, backend="numpy")
    x = rng.standard_normal((3, 3, 16, 16))
    logits = net.forward(x)
    assert logits.shape == (3, 5) and logits.dtype == np.float32
    rm_before = net.buffers()["stem.bn.running_mean"].copy()
    net.forward(x, train=False)
    np.testing.assert_array_equal(net.buffers()["stem.bn.running_mean"], rm_before)
    with pytest.raises(ParameterError, match=r"expects images of shape \(N, 3, 16, 16\)"):
        net.forward(rng.standard_normal((3, 3, 8, 8)))


def test_cell_semantics(rng):
    x = rng.standard_normal((2, 3, 5, 5))
    ctx = Context(kernels=get_backend("numpy").conv)
    gen = np.random.default_rng(0)
    # all skip: node1 = x, node2 = x + node1, node3 = x + node1 + node2 = 4x
    cell = NB201Cell(["skip_connect"] * 6, 3, rng=gen, dtype=np.float64)
    np.testing.assert_allclose(cell.forward(x, ctx), 4 * x)
    np.testing.assert_allclose(cell.backward(np.ones_like(x), ctx), 4 * np.ones_like(x))
    # only the (1,3) edge is a skip: node1 = 0, so the output is 0
    cell = NB201Cell(["none", "none", "none", "none", "skip_connect", "none"], 3, rng=gen)
    np.testing.assert_array_equal(cell.forward(x, ctx), np.zeros_like(x))
    # avg pool on the direct edge: count_include_pad=False (corner = mean of 4 values)
    ops = ["none", "none", "none", "avg_pool_3x3", "none", "none"]
    cell = NB201Cell(ops, 3, rng=gen, dtype=np.float64)
    y = cell.forward(x, ctx)
    assert y[0, 0, 0, 0] == pytest.approx(x[0, 0, :2, :2].mean())


def test_invalid_architectures():
    with pytest.raises(InvalidArchitectureError, match="has 6 ops"):
        build_nb201_network(["none"] * 5)
    with pytest.raises(InvalidArchitectureError, match=r"must be one of \['none', 'skip_connect'"):
        build_nb201_network(["none"] * 5 + ["conv_3x3"])
    with pytest.raises(InvalidArchitectureError, match="sequence of 6 op names"):
        build_nb201_network("|none~0|")
    with pytest.raises(ParameterError, match="'input_size' parameter"):
        build_nb201_network(["none"] * 6, input_size=2)
    with pytest.raises(ParameterError, match="float32 or float64"):
        build_nb201_network(["none"] * 6, dtype=np.int32)


def test_arch_string_round_trip():
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    ops = ops_from_arch_string(s)
    assert ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3",
                   "skip_connect")
    assert arch_string(ops) == s
    for bad in ("|none~0|+|none~0|", "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"):
        with pytest.raises(InvalidArchitectureError, match="arch string|bad edge"):
            ops_from_arch_string(bad)
    assert set(NB201_OPS) == {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}


OPS_MIXED = ["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3",
             "skip_connect"]


def test_network_gradients_match_finite_differences(backend, rng):
    net = build_nb201_network(OPS_MIXED, C=2, N=1, num_classes=3, input_size=8, rng=3,
                              dtype=np.float64, backend=backend.name)
    x = rng.standard_normal((3, 3, 8, 8))
    y = np.array([0, 2, 1])
    names = ["stem.conv.weight", "cells.0.edge_0_1.conv.weight", "cells.1.shortcut.conv.weight",
             "cells.4.edge_1_3.bn.weight", "classifier.bias"]
    res = check_network_grad(net, x, y, names, rtol=2e-5, max_probes=40)
    assert min(res.n_probed) > 0


def test_backend_parity_whole_network(rng, numba_module):
    x = rng.standard_normal((4, 3, 8, 8))
    y = np.array([0, 1, 2, 1])
    out = {}
    for be in ("numpy", "numba"):
        net = build_nb201_network(OPS_MIXED, C=3, N=2, num_classes=3, input_size=8, rng=5,
                                  dtype=np.float64, backend=be)
        loss, logits = net.loss_and_grad(x, y)
        out[be] = (loss, logits, net.gradients(), net.input_gradient, net.buffers())
    a, b = out["numpy"], out["numba"]
    assert abs(a[0] - b[0]) < 1e-9
    np.testing.assert_allclose(a[1], b[1], atol=1e-9, rtol=0)
    for k in a[2]:
        np.testing.assert_allclose(a[2][k], b[2][k], atol=1e-9, rtol=0, err_msg=k)
    np.testing.assert_allclose(a[3], b[3], atol=1e-9, rtol=0)
    for k in a[4]:
        np.testing.assert_allclose(a[4][k], b[4][k], atol=1e-9, rtol=0, err_msg=k)


def test_activations_and_hooks(rng):
    net = build_nb201_network(OPS_MIXED, C=2, N=1, input_size=8, rng=0, backend="numpy")
    x = rng.standard_normal((2, 3, 8, 8))
    acts = net.activations(x)
    relus = net.layers(ReLU)
    assert list(acts) == list(relus)
    # per cell: 3 conv edges (0->1, 1->3, ... ) each start with a ReLU
    assert "cells.0.edge_0_1.relu" in acts and "lastact.relu" in acts
    assert all((a >= 0).all() for a in acts.values())
    codes = net.activations(x, inputs=True)
    for k in acts:
        np.testing.assert_array_equal(codes[k] > 0, acts[k] > 0)
    seen = []
    net.forward(x, hook=lambda name, layer, xin, yout: seen.append(name))
    assert seen[0] == "stem.conv" and seen[-1] == "classifier"


def test_save_load_round_trip(tmp_path, rng):
    net = build_nb201_network(OPS_MIXED, C=2, N=1, num_classes=4, input_size=8, rng=0,
                              backend="numpy")
    x = rng.standard_normal((5, 3, 8, 8))
    net.loss_and_grad(x, np.array([0, 1, 2, 3, 0]))        # move the running statistics
    path = tmp_path / "net.npz"
    net.save(path, metadata={"note": "test"})
    arrays, header = load_npz(path, expected_format="archmodel.network", supported_versions=(1,))
    assert header["format_version"] == 1 and header["kind"] == "nb201"
    assert header["config"]["ops"] == OPS_MIXED and header["metadata"] == {"note": "test"}
    assert set(header["parameters"]) == set(net.parameters())
    net2 = Network.load(path, backend="numpy")
    np.testing.assert_array_equal(net2.forward(x, train=False), net.forward(x, train=False))
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(net2.buffers()[k], v)
    assert net2.num_parameters() == net.num_parameters()


def test_load_errors(tmp_path):
    net = build_nb201_network(OPS_MIXED, C=2, N=1, input_size=8, rng=0)
    path = tmp_path / "net.npz"
    net.save(path)
    arrays, header = load_npz(path, expected_format="archmodel.network", supported_versions=(1,))
    future = dict(header, format_version=2)
    save_npz(tmp_path / "future.npz", arrays, future)
    with pytest.raises(FormatError, match="format_version 2 is not supported.*upgrade"):
        Network.load(tmp_path / "future.npz")
    save_npz(tmp_path / "other.npz", arrays, dict(header, format="archmodel.predictor"))
    with pytest.raises(FormatError, match="expected 'archmodel.network'"):
        Network.load(tmp_path / "other.npz")
    short = {k: v for k, v in arrays.items() if k != "classifier.bias"}
    save_npz(tmp_path / "short.npz", short, header)
    with pytest.raises(FormatError, match=r"missing \['classifier.bias'\]"):
        Network.load(tmp_path / "short.npz")
    bad = dict(arrays, **{"classifier.bias": np.zeros(3, np.float32)})
    save_npz(tmp_path / "bad.npz", bad, header)
    with pytest.raises(FormatError, match="'classifier.bias' has shape"):
        Network.load(tmp_path / "bad.npz")
    save_npz(tmp_path / "kind.npz", arrays, dict(header, kind="resnet"))
    with pytest.raises(FormatError, match="unknown network kind 'resnet'"):
        Network.load(tmp_path / "kind.npz")
    (tmp_path / "trunc.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(FormatError, match="truncated or corrupt"):
        Network.load(tmp_path / "trunc.npz")


def test_float64_conversion(rng):
    net = build_nb201_network(OPS_MIXED, C=2, N=1, input_size=8, rng=0, backend="numpy")
    x = rng.standard_normal((2, 3, 8, 8))
    y32 = net.forward(x, train=False)
    net.astype(np.float64)
    assert all(p.dtype == np.float64 for p in net.parameters().values())
    y64 = net.forward(x, train=False)
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64, y32, rtol=1e-4, atol=1e-5)
