"""Functional (accuracy) simulation on bit-sliced crossbars.

* with ideal devices and an ADC covering the largest partial sum, the bit-sliced forward pass
  equals the quantised digital forward pass exactly (layer and network level);
* NumPy and Numba kernels agree bit for bit (same float32 operations in the same order);
* accuracy of a NumPy-trained classifier on scikit-learn's digits falls as ADC bits fall and
  as conductance variation rises.
"""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.errors import ParameterError
from archmodel.pim.functional import (
    adc_steps,
    build_model,
    crossbar_matmul,
    crossbar_model,
    evaluate_accuracy,
    forward_digital,
    forward_float,
    forward_pim,
    im2col,
    program_weights,
    quantize_symmetric,
    sample_cells,
    sample_model_cells,
    train_mlp,
    with_crossbar,
)
from archmodel.pim.network import Conv, Linear, Pool

IDEAL = dict(variation=0.0, device__stuck_at_hrs_rate=0.0, device__stuck_at_lrs_rate=0.0)


def _ideal(**kw):
    return crossbar_model("mnsim-default", **{**IDEAL, **kw})


@pytest.mark.parametrize("kw", [
    dict(adc_bits=10),                                     # 1-bit cells, 1-bit DAC, pos/neg pair
    dict(adc_bits=10, subtraction="digital"),              # subtract after the ADC
    dict(adc_bits=10, polarity=1),                         # offset encoding, one crossbar
    dict(adc_bits=10, cell_bits=2, dac_bits=2),            # multi-bit cells and DACs
])
def test_ideal_bitsliced_matmul_equals_integer_product(backend, rng, kw):
    xb = _ideal(**kw)
    t_w = (1 << (xb.weight_bits - 1)) - 1
    t_a = (1 << (xb.activation_bits - 1)) - 1
    w = rng.integers(-t_w, t_w + 1, size=(300, 37))
    x = rng.integers(-t_a, t_a + 1, size=(21, 300))
    x[rng.random(x.shape) < 0.3] = 0
    prog = program_weights(w, xb, 50)  # 6 crossbars of 50 rows: full scale <= 50 * 3 * 3 = 450 codes
    # the range rule gives a unit step here, so nothing is rounded or clipped
    assert np.all(prog.adc_step == 1.0)
    out = crossbar_matmul(x, prog, xb, backend=backend.name)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, (x @ w).astype(np.float64))


def test_adc_range_rule():
    xb = _ideal(adc_bits=6)  # codes -31..31
    steps = adc_steps(np.array([0, 252, 256, 276]), xb)
    # full scale = rows * 1 * 1: 252 -> 252/31 = 8.1 -> 16; 4 -> 1; 20 -> 20/31 -> 1
    np.testing.assert_array_equal(steps, [16.0, 1.0, 1.0])
    xb = crossbar_model("mnsim-default", adc_bits=6, **IDEAL, **{"adc.full_scale_fraction": 0.25})
    np.testing.assert_array_equal(adc_steps(np.array([0, 252]), xb), [4.0])


def test_low_resolution_adc_quantises_partial_sums(rng):
    xb_lo, xb_hi = _ideal(adc_bits=4), _ideal(adc_bits=10)
    w = rng.integers(-255, 256, size=(256, 16))
    x = rng.integers(0, 256, size=(32, 256))
    exact = (x @ w).astype(float)
    err = []
    for xb in (xb_hi, _ideal(adc_bits=8), _ideal(adc_bits=6), xb_lo):
        out = crossbar_matmul(x, program_weights(w, xb), xb, backend="numpy")
        err.append(np.abs(out - exact).mean())
    assert err[0] == 0.0
    assert err == sorted(err) and err[-1] > err[1] > 0


@pytest.mark.parametrize("noise", [dict(variation=0.1), dict(variation=0.2, device__variation__model="lognormal",
                                                              device__stuck_at_hrs_rate=0.02, device__stuck_at_lrs_rate=0.01)])
def test_backend_parity_with_noisy_devices(backend, rng, noise):
    xb = crossbar_model("mnsim-default", adc_bits=6, **noise)
    w = rng.integers(-255, 256, size=(400, 20))
    x = rng.integers(-255, 256, size=(40, 400))
    x[rng.random(x.shape) < 0.5] = 0
    prog = program_weights(w, xb, 252)
    cells = sample_cells(prog.levels, xb, 7)
    ref = crossbar_matmul(x, prog, xb, cells, backend="numpy")
    got = crossbar_matmul(x, prog, xb, cells, backend=backend.name)
    np.testing.assert_array_equal(got, ref)
    assert not np.array_equal(ref, (x @ w).astype(float))  # the noise is visible


def test_sample_cells_statistics_and_reproducibility():
    xb = crossbar_model("mnsim-default", variation=0.05, device__stuck_at_hrs_rate=0.1, device__stuck_at_lrs_rate=0.05)
    levels = np.zeros((200, 500), dtype=np.uint8)
    levels[:, ::2] = 1
    a = sample_cells(levels, xb, 11)
    b = sample_cells(levels, xb, 11)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    stuck0 = np.mean(a[levels == 1] == 0.0)
    assert stuck0 == pytest.approx(0.1, abs=0.01)
    on = a[(levels == 1) & (a != 0.0) & (a != 1.0)]
    # R' = R (1 + 0.05 z): G' / G = 1 / (1 + 0.05 z) -> mean effective LRS level ~ 1 + sigma^2, std ~ sigma
    assert on.std() == pytest.approx(0.05, rel=0.1)
    off = a[(levels == 0) & (a != 1.0)]
    assert np.abs(off).max() < 0.01  # HRS cells: G_min / dG = 1/99 of a level, times the variation
    ideal = sample_cells(levels, _ideal(), 0)
    np.testing.assert_array_equal(ideal, levels.astype(np.float32))


def test_quantize_and_im2col(rng):
    x = rng.standard_normal((3, 4))
    q, s = quantize_symmetric(x, 5)
    assert np.abs(q).max() == 15 and s == pytest.approx(np.abs(x).max() / 15)
    img = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    cols = im2col(img, 3, 2, 1)
    out = (cols @ w.reshape(4, -1).T).reshape(2, 3, 3, 4).transpose(0, 3, 1, 2)
    pad = np.pad(img, ((0, 0), (0, 0), (1, 1), (1, 1)))
    direct = np.zeros((2, 4, 3, 3))
    for i in range(3):
        for j in range(3):
            patch = pad[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            direct[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    np.testing.assert_allclose(out, direct, rtol=1e-12, atol=1e-12)


def test_quantize_symmetric_float32_precision_is_mnsim_arithmetic(rng):
    """precision='float32' rounds float32(x) / float32(scale), the quotient PyTorch forms in
    MNSIM's get_bit_weights; float64 differs on quotients within a float32 ulp of k + 1/2."""
    w = rng.uniform(-1.0, 1.0, 2_000_000).astype(np.float32)
    s = float(np.float32(np.abs(w).max() / 255))
    q32, s32 = quantize_symmetric(w, 9, s, precision="float32")
    q64, _ = quantize_symmetric(w, 9, s)
    assert s32 == s
    r32 = w / np.float32(s)
    assert r32.dtype == np.float32
    np.testing.assert_array_equal(q32, np.clip(np.rint(r32), -255, 255))
    differ = np.flatnonzero(q32 != q64)
    assert differ.size > 0  # expected ~10 among 2e6 uniform quotients; the two precisions split them
    r64 = w[differ].astype(np.float64) / s
    assert np.all(np.abs(np.abs(r64 - np.trunc(r64)) - 0.5) < 1e-4)
    with pytest.raises(ValueError, match="'precision' parameter of quantize_symmetric must be one of \\{'float64', 'float32'\\}"):
        quantize_symmetric(w, 9, s, precision="half")


def test_network_level_ideal_pim_equals_quantised_digital(backend, rng):
    layers = [Conv(2, 6, 3, padding=1, input_hw=(6, 6)), Pool(2), Conv(6, 5, 3, padding=1), Linear(45, 4)]
    ws = [rng.standard_normal((6, 2, 3, 3)), None, rng.standard_normal((5, 6, 3, 3)), rng.standard_normal((45, 4))]
    bs = [rng.standard_normal(6), None, rng.standard_normal(5), rng.standard_normal(4)]
    x = rng.random((7, 2, 6, 6))
    xb = _ideal(adc_bits=9, xbar_size=32)  # 3 channels per crossbar: several row chunks per conv
    m = build_model(layers, ws, bs, xb=xb, calibration=x)
    assert len(m.programmed[2].chunk_bounds) == 3
    d = forward_digital(m, x)
    p = forward_pim(m, x, backend=backend.name)
    np.testing.assert_array_equal(p, d)
    # quantisation is close to (but not the same as) the float network
    f = forward_float(m, x)
    assert np.abs(d - f).max() < 0.05 * np.abs(f).max() and not np.array_equal(d, f)


def test_noise_draws_and_rng_paths_agree(rng):
    layers = [Linear(10, 8), Linear(8, 3)]
    ws = [rng.standard_normal((10, 8)), rng.standard_normal((8, 3))]
    x = rng.random((5, 10))
    m = build_model(layers, ws, None, hardware="mnsim-default", calibration=x)
    cells = sample_model_cells(m, 3)
    a = forward_pim(m, x, cells, backend="numpy")
    b = forward_pim(m, x, rng=3, backend="numpy")
    np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def digits_model():
    datasets = __import__("conftest").require_module("sklearn.datasets", "data")  # the digits data
    d = datasets.load_digits()
    x, y = d.data / 16.0, d.target
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[:1200], idx[1200:]
    layers, ws, bs = train_mlp(x[tr], y[tr], hidden=(32,), epochs=300, rng=0)
    m = build_model(layers, ws, bs, hardware="mnsim-default", calibration=x[tr])
    return m, x[te], y[te]


def test_digits_accuracy_falls_with_adc_bits_and_variation(digits_model):
    m, x, y = digits_model
    acc = {}
    for adc in (4, 6, 10):
        for sigma in (0.0, 0.1, 0.5):
            r = evaluate_accuracy(with_crossbar(m, crossbar_model("mnsim-default", adc_bits=adc, variation=sigma)),
                                  x, y, n_draws=4, rng=1, backend="numpy")
            acc[adc, sigma] = r.mean
            assert 0.0 <= r.std <= 0.5
    digital = evaluate_accuracy(with_crossbar(m, _ideal(adc_bits=10)), x, y, backend="numpy")
    assert digital.mean == pytest.approx(digital.digital) and digital.digital > 0.9
    tol = 0.03  # noise of a 4-draw mean
    for sigma in (0.0, 0.1):
        assert acc[4, sigma] < acc[6, sigma] + tol < acc[10, sigma] + 2 * tol
        assert acc[4, sigma] < acc[10, sigma] - 0.2
    for adc in (6, 10):
        assert acc[adc, 0.5] < acc[adc, 0.1] + tol <= acc[adc, 0.0] + 2 * tol
        assert acc[adc, 0.5] < acc[adc, 0.0] - 0.2


def test_functional_parameter_errors(rng):
    with pytest.raises(ParameterError, match=r"'adc.bits' parameter must be at least 2"):
        crossbar_model("mnsim-default", adc_bits=1, **{"adc.power_w": 1e-4, "adc.sample_rate_hz": 1e9,
                                                       "adc.area_um2": 1.0})
    with pytest.raises(ParameterError, match=r"needs 'calibration'"):
        build_model([Linear(3, 2)], [rng.standard_normal((3, 2))], None)
    with pytest.raises(ParameterError, match=r"'n_draws' parameter .* integer in the range \[1, inf\]"):
        m = build_model([Linear(3, 2)], [rng.standard_normal((3, 2))], None, calibration=rng.random((4, 3)))
        evaluate_accuracy(m, rng.random((4, 3)), np.zeros(4, dtype=int), n_draws=0)
