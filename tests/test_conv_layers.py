"""Layers of archmodel.conv: parameters, modes, gradient accumulation, validation."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.conv import (
    AvgPool2d,
    BatchNorm2d,
    Context,
    Conv2d,
    GlobalAvgPool,
    Linear,
    MaxPool2d,
    ReLU,
    ReLUConvBN,
    Sequential,
)
from archmodel.errors import ParameterError
from archmodel.testing import check_grad


def ctx_for(backend, train=True):
    return Context(kernels=backend.conv, train=train)


def test_conv2d_layer_with_bias_gradients(backend, rng):
    layer = Conv2d(3, 4, 3, stride=2, padding=1, bias=True, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 3, 7, 7))
    r = rng.standard_normal((2, 4, 4, 4))
    ctx = ctx_for(backend)

    def fn(x, w, b):
        layer.params["weight"][...] = w
        layer.params["bias"][...] = b
        layer.zero_grad()
        y = layer.forward(x, ctx)
        dx = layer.backward(r, ctx)
        return float((y * r).sum()), (dx, layer.grads["weight"].copy(), layer.grads["bias"].copy())

    check_grad(fn, x, layer.params["weight"].copy(), layer.params["bias"].copy())
    assert layer.output_size(7) == 4


def test_gradients_accumulate_until_zero_grad(backend, rng):
    layer = Linear(5, 3, rng=0, dtype=np.float64)
    ctx = ctx_for(backend)
    x = rng.standard_normal((4, 5))
    r = rng.standard_normal((4, 3))
    layer.forward(x, ctx)
    layer.backward(r, ctx)
    g1 = layer.grads["weight"].copy()
    layer.forward(x, ctx)
    layer.backward(r, ctx)
    np.testing.assert_allclose(layer.grads["weight"], 2 * g1)
    layer.zero_grad()
    assert not layer.grads["weight"].any()


def test_backward_before_forward_is_an_error(backend):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        ReLU().backward(np.zeros((1, 1, 2, 2)), ctx_for(backend))


def test_initialisations():
    torch_like = Conv2d(16, 32, 3, rng=0, init="torch")
    bound = 1 / np.sqrt(16 * 9)
    w = torch_like.params["weight"]
    assert w.shape == (32, 16, 3, 3) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    kaiming = Conv2d(16, 32, 3, rng=0, init="kaiming_normal", dtype=np.float64)
    assert kaiming.params["weight"].std() == pytest.approx(np.sqrt(2 / 144), rel=0.05)
    lin = Linear(64, 10, rng=0)
    assert np.abs(lin.params["bias"]).max() <= 1 / 8
    a = Conv2d(3, 4, 3, rng=7).params["weight"]
    b = Conv2d(3, 4, 3, rng=7).params["weight"]
    np.testing.assert_array_equal(a, b)


def test_batchnorm_layer_modes_and_running_stats(backend, rng):
    bn = BatchNorm2d(3, momentum=0.1, dtype=np.float64)
    x = rng.standard_normal((8, 3, 4, 4)) * 2 + 5
    y = bn.forward(x, ctx_for(backend, train=True))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1))
    assert int(bn.buffers["num_batches_tracked"]) == 1
    rm = bn.buffers["running_mean"].copy()
    y_eval = bn.forward(x, ctx_for(backend, train=False))
    np.testing.assert_array_equal(bn.buffers["running_mean"], rm)
    np.testing.assert_allclose(y_eval, (x - rm[None, :, None, None])
                               / np.sqrt(bn.buffers["running_var"][None, :, None, None] + 1e-5))


def test_batchnorm_without_affine_has_no_parameters(backend, rng):
    bn = BatchNorm2d(2, affine=False, dtype=np.float64)
    assert bn.params == {}
    x = rng.standard_normal((3, 2, 2, 2))
    ctx = ctx_for(backend)
    bn.forward(x, ctx)
    dx = bn.backward(np.ones_like(x), ctx)
    np.testing.assert_allclose(dx, 0, atol=1e-12)     # d(sum of normalised x)/dx = 0


def test_batchnorm_needs_two_values_per_channel(backend):
    with pytest.raises(ParameterError, match="more than one value per channel"):
        BatchNorm2d(2).forward(np.zeros((1, 2, 1, 1), np.float32), ctx_for(backend))


def test_relu_conv_bn_block_gradient(backend, rng):
    block = ReLUConvBN(2, 3, 3, 1, 1, rng=0, dtype=np.float64)
    block.set_names("op")
    assert [m.name for m in block.modules()] == ["op", "op.relu", "op.conv", "op.bn"]
    assert sorted(dict(block.named_parameters())) == ["op.bn.bias", "op.bn.weight", "op.conv.weight"]
    x = rng.standard_normal((3, 2, 5, 5))
    r = rng.standard_normal((3, 3, 5, 5))
    ctx = ctx_for(backend)

    def fn(x):
        y = block.forward(x, ctx)
        return float((y * r).sum()), (block.backward(r, ctx),)

    check_grad(fn, x, rtol=1e-5)


def test_pooling_layers_and_sequential(backend, rng):
    seq = Sequential(MaxPool2d(3, 1, 1), AvgPool2d(2), GlobalAvgPool(), names=["max", "avg", "gap"])
    seq.set_names("")
    x = rng.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6).astype(np.float64)
    ctx = ctx_for(backend)
    y = seq.forward(x, ctx)
    assert y.shape == (2, 2)
    r = rng.standard_normal(y.shape)

    def fn(x):
        return float((seq.forward(x, ctx) * r).sum()), (seq.backward(r, ctx),)

    check_grad(fn, x)


@pytest.mark.parametrize("make,match", [
    (lambda: Conv2d(4, 6, 3, groups=4), "must divide in_channels"),
    (lambda: Conv2d(0, 6, 3), "'in_channels' parameter of Conv2d"),
    (lambda: Conv2d(3, 6, 3, init="xavier"), "'init' parameter of Conv2d must be one of"),
    (lambda: AvgPool2d(3, 1, 2), "'padding' parameter of AvgPool2d must be an integer in the range \\[0, 1\\]"),
    (lambda: MaxPool2d(2, 2, 2), "'padding' parameter of MaxPool2d"),
    (lambda: BatchNorm2d(3, momentum=2.0), "'momentum' parameter of BatchNorm2d"),
])
def test_invalid_layer_arguments(make, match):
    with pytest.raises(ParameterError, match=match):
        make()


def test_wrong_input_shapes(backend):
    ctx = ctx_for(backend)
    with pytest.raises(ParameterError, match="expects 3 input channels"):
        Conv2d(3, 4, 3).forward(np.zeros((1, 2, 5, 5), np.float32), ctx)
    with pytest.raises(ParameterError, match=r"Linear expects an \(N, 5\) array"):
        Linear(5, 2).forward(np.zeros((2, 4), np.float32), ctx)


def test_state_dict_round_trip_after_training_forward():
    """num_batches_tracked stays an ndarray after a training step, so load_state_dict works."""
    from archmodel.conv import build_nb201_network

    rng = np.random.default_rng(0)
    ops = ["nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"]
    net = build_nb201_network(ops, C=4, N=1, input_size=8, num_classes=3, rng=rng, backend="numpy")
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    net.forward(x, train=True)
    state = net.state_dict()
    other = build_nb201_network(ops, C=4, N=1, input_size=8, num_classes=3, rng=1, backend="numpy")
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
