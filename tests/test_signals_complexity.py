"""Whole-space NB201 complexity: equal to the built networks, to NASLib's params column, and to
its flops column up to one constant."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.conv import build_nb201_network
from archmodel.errors import ParameterError
from archmodel.signals import naslib_flops, nb201_complexity
from archmodel.spaces import get_space
from archmodel.zeroshot import flops, resolve_ops
from conftest import require_data


@pytest.mark.parametrize("cfg", [{}, dict(C=4, N=1, input_size=8, in_channels=1, num_classes=7)])
def test_equals_the_built_networks(cfg):
    cells = get_space("nb201").sample(12, 5, unique=True)
    got = nb201_complexity(cells, **cfg)
    for i, a in enumerate(cells):
        net = build_nb201_network(resolve_ops(a), rng=0, **cfg)
        assert got["params"][i] == net.num_parameters()
        assert got["macs"][i] == pytest.approx(flops(net) * 1e6, rel=1e-12)


def test_disguise_ops_given_by_name_equal_the_built_networks():
    cells = [["nor_conv_5x5", "conv_bn_3x3", "none", "skip_connect", "conv_bn_1x1", "avg_pool_3x3"],
             ["conv_bn_5x5", "nor_conv_1x1", "nor_conv_3x3", "none", "none", "skip_connect"]]
    cfg = dict(C=4, N=2, input_size=8, in_channels=1, num_classes=5)
    got = nb201_complexity(cells, **cfg)
    for i, ops in enumerate(cells):
        net = build_nb201_network(ops, rng=0, **cfg)
        assert got["params"][i] == net.num_parameters()
        assert got["macs"][i] == pytest.approx(flops(net) * 1e6, rel=1e-12)
    with pytest.raises(ParameterError, match="naslib_flops counts NAS-Bench-201 ops only"):
        naslib_flops(cells)


def test_params_and_flops_match_the_naslib_file():
    from archmodel.data import load_dataset

    ds = load_dataset("zc/nb201", path=require_data("naslib-zc-suite-zero"))
    assert len(ds) == 724
    np.testing.assert_array_equal(nb201_complexity(ds.archs)["params"] / 1e6, ds.low_fidelity["params"])
    offset = ds.low_fidelity["flops"] - naslib_flops(ds.archs)
    assert np.ptp(offset) < 1e-9 and 0 < offset[0] < 1  # one constant (the skeleton's extra ops)
    # plain multiply-accumulates do not: the ReLU/BN/pooling counts vary with the cell
    assert np.ptp(ds.low_fidelity["flops"] - nb201_complexity(ds.archs)["macs"] / 1e6) > 1


def test_params_and_macs_rank_every_cell_identically():
    cells = list(get_space("nb201").enumerate())
    c = nb201_complexity(cells)
    assert len(cells) == 15625
    order = np.lexsort((c["macs"], c["params"]))
    assert np.all(np.diff(c["macs"][order]) >= 0)
    same_p = np.diff(c["params"][order]) == 0
    assert np.array_equal(same_p, np.diff(c["macs"][order]) == 0)


def test_array_input_and_errors():
    ops = np.array([[3, 3, 3, 3, 3, 3], [0, 0, 0, 0, 0, 0]])
    c = nb201_complexity(ops)
    assert c["params"][0] > c["params"][1] and c["macs"].shape == (2,)
    with pytest.raises(ParameterError, match=r"int array \[n, 6\] of op indices in \[0, 4\]"):
        nb201_complexity(np.array([[5, 0, 0, 0, 0, 0]]))
