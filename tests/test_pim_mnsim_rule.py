"""MNSIM 2.0 fidelity: VGG-8 area and totals, MNSIM's ADC rule and MNSIM's variation model.

Golden VGG-8 figures are MNSIM 2.0's own (HEAD ca39ccb, default ``SimConfig.ini``, its Python
API: ``TCG``, ``Model_latency.calculate_model_latency(mode=1)``, ``Model_area``,
``Model_inference_power``, ``Model_energy``), measured side by side on the project's machine
(2-core AMD EPYC) by ``scripts/validate_pim_mnsim.py`` (issue 18; docs/pim.md gives the run).
The ADC-rule tests compare archmodel's kernels with an independent, element-by-element
transcription of MNSIM's ``set_weights_forward`` arithmetic written here (float32, MNSIM's order
of operations, MNSIM's "scale units" accumulation); MNSIM itself is not needed.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from archmodel.errors import ParameterError
from archmodel.pim import apply_overrides, load_hardware
from archmodel.pim.functional import (
    adc_range,
    build_model,
    crossbar_matmul,
    crossbar_model,
    forward_pim,
    mnsim_adc,
    program_weights,
    sample_cells,
    sample_model_cells,
)
from archmodel.pim.network import Linear

# MNSIM 2.0 on VGG-8, default SimConfig.ini (see module docstring)
MNSIM_VGG8 = {"crossbars": 1272, "latency_ns": 5_151_851.446, "energy_nj": 4_448_843.52,
              "area_mm2": 1_390.33, "peak_power_w": 219.722}


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS = ["numpy"] + (["numba"] if _numba_available() else [])


# ------------------------------------------------------------------ cost model: all five totals
def test_cli_vgg8_mnsim_default_matches_mnsim_including_area():
    from archmodel.cli.pim import pim

    res = CliRunner().invoke(pim, ["simulate", "--network", "vgg8", "--hardware", "mnsim-default", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["crossbars"] == MNSIM_VGG8["crossbars"]
    # MNSIM's totals differ from archmodel's in the 8th digit (5e-8, 2e-8: float summation order)
    assert doc["latency_s"] * 1e9 == pytest.approx(MNSIM_VGG8["latency_ns"], rel=1e-7)
    assert doc["energy_j"] * 1e9 == pytest.approx(MNSIM_VGG8["energy_nj"], rel=1e-7)
    assert doc["area_mm2"] == pytest.approx(MNSIM_VGG8["area_mm2"], abs=0.005)   # MNSIM: 1,390.33 mm^2
    assert doc["peak_power_w"] == pytest.approx(MNSIM_VGG8["peak_power_w"], abs=5e-4)
    # the crossbar area carries MNSIM's analog-PIM driver, 1150 um^2 per row; every used tile is
    # a full tile (322 tiles x 4 PEs x 1 group x 2 polarities)
    assert doc["tiles"] == 322
    assert doc["area_breakdown_mm2"]["crossbar"] == pytest.approx(322 * 4 * 2 * (256 * 256 * 1.44 + 1150 * 256) * 1e-6)


@pytest.mark.parametrize("preset", ["mnsim-default", "isaac-like"])
def test_presets_carry_mnsim_driver_area(preset):
    # MNSIM's Crossbar.calculate_xbar_area, Area_Calculation = 0, analog PIM: 1150 um^2 per row
    assert load_hardware(preset)["crossbar"]["periphery_area_per_row_um2"] == 1150.0


# ------------------------------------------------------------------ spec fields
def test_spec_rule_fields_and_aliases():
    spec = load_hardware("mnsim-default")
    assert spec["adc"]["rule"] == "archmodel" and spec["device"]["variation"]["scope"] == "per_cell"
    s2 = apply_overrides(spec, {"adc_rule": "mnsim", "variation_model": "mnsim"})
    assert s2["adc"]["rule"] == "mnsim" and s2["device"]["variation"]["scope"] == "mnsim"
    xb = crossbar_model(s2)
    assert (xb.adc_rule, xb.variation_scope, xb.dacs) == ("mnsim", "mnsim", 128)
    with pytest.raises(ParameterError, match=r"'adc\.rule'.*Got 'mnism'"):
        apply_overrides(spec, {"adc_rule": "mnism"})
    with pytest.raises(ParameterError, match=r"'device\.variation\.scope'.*Got 'cell'"):
        apply_overrides(spec, {"variation_model": "cell"})
    # a spec without the fields (older JSON files) gets the defaults and accepts the overrides
    old = load_hardware("mnsim-default")
    del old["adc"]["rule"], old["device"]["variation"]["scope"]
    assert crossbar_model(old).adc_rule == "archmodel"
    assert apply_overrides(old, {"adc_rule": "mnsim"})["adc"]["rule"] == "mnsim"


def test_cli_set_adc_rule_leaves_costs_unchanged():
    from archmodel.cli.pim import pim

    runner = CliRunner()
    base = json.loads(runner.invoke(pim, ["simulate", "--json"]).output)
    res = runner.invoke(pim, ["simulate", "--set", "adc_rule=mnsim", "--set", "variation_model=mnsim", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    for key in ("crossbars", "latency_s", "energy_j", "area_mm2", "peak_power_w"):
        assert doc[key] == base[key]
    bad = runner.invoke(pim, ["simulate", "--set", "adc_rule=fixed"])
    assert bad.exit_code != 0 and "adc.rule" in bad.output


# ------------------------------------------------------------------ MNSIM's ADC rule
def _mnsim_reference(x_int, w_int, rows_per_chunk, rows_used, s_w, s_a, out_range, adc_bits=6, dacs=128,
                     a_bits=9, w_bits=9):
    """MNSIM's set_weights_forward (SCALE) transcribed element by element: 1-bit DACs and cells,
    positive/negative pair subtracted before the ADC; returns the output in real units."""
    n_in, n_w = a_bits - 1, w_bits - 1
    k_total = w_int.shape[0]
    bounds = list(range(0, k_total, rows_per_chunk)) + [k_total]
    n_chunks = len(bounds) - 1
    q_bits = adc_bits + max(math.ceil(math.log2(rows_used / dacs)), 0)
    point_shift = math.floor(-2 + 0.5 * math.log2(n_chunks))
    tp = point_shift + q_bits - 1
    top = (n_in - 1) + (n_w - 1)
    f32 = np.float32
    out = np.zeros((x_int.shape[0], w_int.shape[1]), dtype=np.float64)
    sx, mx = np.sign(x_int), np.abs(x_int)
    sw, mw = np.sign(w_int), np.abs(w_int)
    for c in range(n_chunks):
        k0, k1 = bounds[c], bounds[c + 1]
        for i in range(n_in):
            d = (sx * ((mx >> i) & 1))[:, k0:k1].astype(np.float64)
            for j in range(n_w):
                ws = (sw * ((mw >> j) & 1))[k0:k1].astype(np.float64)
                ps = (d @ ws).astype(np.float32)                        # exact integers
                t = ps * f32(s_w) * f32(s_a) / f32(out_range) * f32(2.0 ** top) * f32(2.0 ** tp)
                code = np.clip(np.rint(t), 1 - 2 ** (q_bits - 1), 2 ** (q_bits - 1) - 1)
                out += code.astype(np.float64) / 2.0 ** tp / 2.0 ** ((n_in - 1 - i) + (n_w - 1 - j))
    return out * out_range


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k_total,rows_per_chunk,rows_used", [(252 * 3 + 40, 252, 252), (600, 256, 256), (60, 64, 60)])
def test_mnsim_adc_equals_transcription_of_mnsim(backend, k_total, rows_per_chunk, rows_used):
    rng = np.random.default_rng(k_total)
    xb = crossbar_model("mnsim-default", adc_rule="mnsim")
    w_int = np.clip(np.rint(rng.normal(0, 60, (k_total, 24))), -255, 255).astype(np.int64)
    x_int = np.clip(np.rint(np.abs(rng.normal(0, 80, (9, k_total)))), 0, 255).astype(np.int64)
    x_int[:, ::7] *= -1                                                  # signed inputs too
    s_w, s_a = 0.0021, 0.0037
    y = (x_int @ w_int) * (s_w * s_a)
    out_range = adc_range(y)
    prog = mnsim_adc(program_weights(w_int, xb, rows_per_chunk), xb, rows_used=rows_used, w_scale=s_w,
                     a_scale=s_a, out_range=out_range)
    got = crossbar_matmul(x_int, prog, xb, backend=backend) * (s_a * s_w)
    want = _mnsim_reference(x_int, w_int, rows_per_chunk, rows_used, s_w, s_a, out_range)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * out_range)
    assert np.abs(got - y).max() > 0                                     # the ADC does round


def test_mnsim_adc_bits_and_scale():
    xb = crossbar_model("mnsim-default", adc_rule="mnsim")
    w = np.ones((252 * 5, 4), dtype=np.int64)
    p = mnsim_adc(program_weights(w, xb, 252), xb, rows_used=252, w_scale=1.0, a_scale=1.0, out_range=1.0)
    assert p.adc_max == 63                         # 6 + ceil(log2(252 / 128)) = 7 bits
    # point_shift floor(-2 + log2(5) / 2) = -1, t = -1 + 7 - 1 = 5, E = 7 + 7 = 14
    np.testing.assert_array_equal(p.adc_step, np.full(5, 2.0 ** -19))
    assert p.adc_gain.dtype == np.float32 and p.adc_gain.shape == (5, 4)
    p64 = mnsim_adc(program_weights(w[:64], xb, 256), xb, rows_used=64, w_scale=1.0, a_scale=1.0, out_range=1.0)
    assert p64.adc_max == 31                       # 64 rows over 128 DACs: no extension
    with pytest.raises(ParameterError, match="'out_range' parameter of mnsim_adc must be a positive"):
        mnsim_adc(program_weights(w, xb, 252), xb, rows_used=252, w_scale=1.0, a_scale=1.0, out_range=0.0)


def test_adc_range_is_three_std_plus_abs_mean():
    y = np.array([1.0, 2.0, 4.0, -3.0])
    assert adc_range(y) == pytest.approx(3 * np.std(y, ddof=1) + abs(np.mean(y)))


def _mlp_model(rule: str, scope: str = "per_cell", sigma: float = 0.0, stuck: float = 0.0):
    rng = np.random.default_rng(3)
    layers = [Linear(300, 40), Linear(40, 10)]
    ws = [rng.normal(0, 0.1, (300, 40)), rng.normal(0, 0.3, (40, 10))]
    xb = crossbar_model("mnsim-default", adc_rule=rule, variation_model=scope, variation=sigma,
                        device__stuck_at_hrs_rate=stuck, device__stuck_at_lrs_rate=stuck)
    x = np.abs(rng.normal(0, 1, (12, 300)))
    return build_model(layers, ws, None, xb=xb, calibration=x), x


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs numba")
@pytest.mark.parametrize("scope,sigma,stuck", [("per_cell", 0.0, 0.0), ("mnsim", 0.05, 0.01), ("per_cell", 0.05, 0.0)])
def test_mnsim_rule_numba_equals_numpy(scope, sigma, stuck):
    model, x = _mlp_model("mnsim", scope, sigma, stuck)
    cells = sample_model_cells(model, 5)
    a = forward_pim(model, x, cells, backend="numpy")
    b = forward_pim(model, x, cells, backend="numba")
    np.testing.assert_array_equal(a, b)


def test_build_model_applies_rule_and_calibrated_range():
    mn, x = _mlp_model("mnsim")
    ar, _ = _mlp_model("archmodel")
    y0 = x @ mn.w_float[0]
    assert mn.out_range[0] == pytest.approx(3 * y0.std(ddof=1) + abs(y0.mean()))
    assert mn.programmed[0].adc_gain is not None and mn.programmed[0].adc_max == 63   # 256 rows / 128 DACs
    assert mn.programmed[1].adc_max == 31                                           # 40 rows
    assert ar.programmed[0].adc_gain is None and ar.programmed[0].adc_max is None
    assert not np.array_equal(forward_pim(mn, x, backend="numpy"), forward_pim(ar, x, backend="numpy"))


# ------------------------------------------------------------------ MNSIM's variation model
def test_mnsim_variation_zero_sigma_maps_level_zero_to_hrs_ratio():
    xb = crossbar_model("mnsim-default", variation_model="mnsim", variation=0.0,
                        device__stuck_at_hrs_rate=0.0, device__stuck_at_lrs_rate=0.0)
    levels = np.random.default_rng(0).integers(0, 2, (2, 300, 8, 5)).astype(np.uint8)
    cells = sample_cells(levels, xb, 0, chunk_bounds=np.array([0, 252, 300]))
    np.testing.assert_array_equal(cells, np.where(levels == 1, np.float32(1.0), np.float32(0.01)))
    assert not xb.ideal


def test_mnsim_variation_one_deviation_per_level_per_slice_array():
    sigma = 0.1
    xb = crossbar_model("mnsim-default", variation_model="mnsim", variation=sigma,
                        device__stuck_at_hrs_rate=0.0, device__stuck_at_lrs_rate=0.0)
    bounds = np.array([0, 100, 200])
    levels = np.random.default_rng(1).integers(0, 2, (2, 200, 8, 30)).astype(np.uint8)
    vals = []
    for draw in range(40):
        cells = sample_cells(levels, xb, draw, chunk_bounds=bounds)
        for a in range(2):
            for c in range(2):
                for s in range(8):
                    blk, lev = cells[a, bounds[c]:bounds[c + 1], s], levels[a, bounds[c]:bounds[c + 1], s]
                    for v in (0, 1):
                        u = np.unique(blk[lev == v])
                        assert u.size == 1                    # every cell of the level shifts together
                        vals.append((v, float(u[0])))
    vals = np.array(vals)
    f1 = 1.0 / vals[vals[:, 0] == 1, 1]                      # 1 + sigma z
    f0 = 0.01 / vals[vals[:, 0] == 0, 1]
    n = f1.size                                              # 1,280 deviations per level
    for f in (f0, f1):
        assert abs(f.mean() - 1.0) < 4 * sigma / math.sqrt(n)
        assert abs(f.std() / sigma - 1.0) < 4 / math.sqrt(2 * n)
    # and the per-cell scope draws one deviation per cell
    xc = crossbar_model("mnsim-default", variation=sigma, device__stuck_at_hrs_rate=0.0, device__stuck_at_lrs_rate=0.0)
    cells = sample_cells(levels, xc, 0)
    assert np.unique(cells[0, :100, 0][levels[0, :100, 0] == 1]).size > 100


def test_mnsim_variation_needs_slice_layout():
    xb = crossbar_model("mnsim-default", variation_model="mnsim")
    with pytest.raises(ParameterError, match=r"needs levels of shape \(n_arrays, K, S, N\)"):
        sample_cells(np.zeros((4, 4), dtype=np.uint8), xb, 0)
    with pytest.raises(ParameterError, match="'chunk_bounds' parameter must rise from 0 to 4"):
        sample_cells(np.zeros((1, 4, 2, 3), dtype=np.uint8), xb, 0, chunk_bounds=np.array([0, 3]))
