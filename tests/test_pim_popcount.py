"""The Numba crossbar kernel's exact integer path (bit planes + population counts).

With integer cell levels (ideal devices, or stuck-at faults without conductance variation),
``backends/numba/pim.py::bitsliced_mvm`` packs inputs and levels into 64-row bit planes and
computes every column sum as popcounts, converts it with an integer ADC and shift-adds in int64.
These tests check that it returns exactly what the NumPy reference (float32 sums in row order)
returns, over the cases its code distinguishes: one or several bit planes of inputs (DAC bits)
and of levels (cell bits, level differences), one or several 256-row word groups per chunk,
negative inputs, analog and digital subtraction (negative shift-add coefficients), ADC
clipping, the bound that skips sums known to convert to 0, and the fall-back to the float path
(non-integer levels, non-power-of-two steps).
"""
from __future__ import annotations

import numpy as np
import pytest

__import__("conftest").require_module("numba", "numba")  # skips without numba, fails under CI

from archmodel.backends.numpy import pim as ref_pim  # noqa: E402
from archmodel.pim.functional import (  # noqa: E402
    crossbar_matmul,
    crossbar_model,
    kernel_levels,
    program_weights,
    sample_cells,
)

import archmodel.backends.numba.pim as nb_pim  # noqa: E402  (archmodel's own: a failing import is an error)


def _both(x, w, coef, n_in, dac, bounds, steps, adc_max):
    args = (np.asarray(coef, np.float64), n_in, dac, np.asarray(bounds, np.int64), np.asarray(steps, np.float64),
            adc_max)
    return nb_pim.bitsliced_mvm(x, w, *args), ref_pim.bitsliced_mvm(x, w, *args)


@pytest.fixture
def spy(monkeypatch):
    """Counts calls of the popcount kernel and of the float kernel."""
    calls = {"popcount": 0, "float": 0}
    pop, flt = nb_pim._popcount_kernel, nb_pim._mvm_kernel

    def pop_spy(*a):
        calls["popcount"] += 1
        return pop(*a)

    def flt_spy(*a):
        calls["float"] += 1
        return flt(*a)

    monkeypatch.setattr(nb_pim, "_popcount_kernel", pop_spy)
    monkeypatch.setattr(nb_pim, "_mvm_kernel", flt_spy)
    return calls


CASES = [
    # name, rows per chunk list, S, N, input bits (n_in * dac), dac, level range, negative inputs, adc_max, steps
    ("mnsim default shape", [0, 252, 300], 8, 19, 8, 1, (-1, 1), False, 31, [16.0, 4.0]),
    ("negative inputs", [0, 252, 300], 4, 9, 8, 1, (-1, 1), True, 31, [16.0, 4.0]),
    ("2-bit DAC and cells", [0, 100, 300], 3, 11, 8, 2, (-3, 3), True, 7, [1.0, 2.0]),
    ("chunk of 700 rows (3 word groups)", [0, 700], 3, 10, 8, 2, (-3, 3), True, 63, [32.0]),
    ("non-negative levels (polarity 1)", [0, 64, 129], 5, 8, 4, 1, (0, 3), False, 15, [8.0, 8.0]),
    ("clipping ADC", [0, 256], 2, 16, 8, 1, (-1, 1), False, 3, [1.0]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_integer_path_equals_reference(rng, spy, case):
    _, bounds, s, n, n_bits, dac, (lo, hi), neg, adc_max, steps = case
    k = bounds[-1]
    x = rng.integers(0, 1 << n_bits, size=(33, k)) * (rng.random((33, k)) < 0.4)
    if neg:
        x = x * rng.choice([-1, 1], size=x.shape)
    w = rng.integers(lo, hi + 1, size=(k, s, n)).astype(np.float32)
    coef = 2.0 ** np.arange(s)
    if lo < 0 and s > 2:  # digital subtraction shape: negative coefficients on half the slices
        coef[s // 2:] *= -1
    got, ref = _both(x, w, coef, n_bits // dac, dac, bounds, steps, adc_max)
    assert spy["popcount"] == 1 and spy["float"] == 0
    np.testing.assert_array_equal(got, ref)
    assert np.abs(ref).max() > 0


def test_integer_dtypes_and_input_dtypes_agree(rng, spy):
    x = rng.integers(-255, 256, size=(17, 300))
    w = rng.integers(-1, 2, size=(300, 8, 12))
    args = (2.0 ** np.arange(8), 8, 1, np.array([0, 252, 300]), np.array([16.0, 4.0]), 31)
    ref = ref_pim.bitsliced_mvm(x, w.astype(np.float32), *args)
    for xd in (np.int16, np.int32, np.int64):
        for wd in (np.int8, np.int16, np.float32):
            np.testing.assert_array_equal(nb_pim.bitsliced_mvm(x.astype(xd), w.astype(wd), *args), ref)
    assert spy["float"] == 0


def test_skipping_sums_that_convert_to_zero_is_exact(rng, spy):
    """Sparse inputs and sparse columns: most (position, slice) sums stay below half a step."""
    k, s, n = 252, 4, 40
    x = rng.integers(0, 256, size=(64, k)) * (rng.random((64, k)) < 0.02)
    w = rng.integers(-1, 2, size=(k, s, n)) * (rng.random((k, s, n)) < 0.05)
    got, ref = _both(x, w.astype(np.float32), 2.0 ** np.arange(s), 8, 1, [0, k], [16.0], 31)
    np.testing.assert_array_equal(got, ref)
    assert spy["popcount"] == 1


@pytest.mark.parametrize("what", ["noisy levels", "large levels", "non-power-of-two step", "fractional coef"])
def test_float_path_where_the_integer_path_does_not_apply(rng, spy, what):
    k, s, n = 300, 3, 7
    x = rng.integers(-255, 256, size=(9, k))
    w = rng.integers(-1, 2, size=(k, s, n)).astype(np.float32)
    coef, steps = 2.0 ** np.arange(s), [16.0, 4.0]
    if what == "noisy levels":
        w = w + np.float32(0.01) * rng.standard_normal(w.shape).astype(np.float32)
    elif what == "large levels":
        w[0, 0, 0] = 300.0
    elif what == "non-power-of-two step":
        steps = [12.0, 4.0]
    else:
        coef = coef * 1.5
    got, ref = _both(x, w, coef, 8, 1, [0, 252, 300], steps, 31)
    assert spy["float"] == 1 and spy["popcount"] == 0
    np.testing.assert_array_equal(got, ref)


def test_random_configurations_agree(rng):
    """60 random shapes and bit widths, integer levels: numba == numpy exactly."""
    for trial in range(60):
        dac = int(rng.integers(1, 3))
        n_in = int(rng.integers(1, 5))
        k = int(rng.integers(1, 600))
        cuts = np.unique(np.r_[0, np.sort(rng.integers(1, k + 1, size=int(rng.integers(0, 4)))), k])
        s, n = int(rng.integers(1, 5)), int(rng.integers(1, 20))
        top = int(rng.integers(1, 8))
        x = rng.integers(-(1 << (n_in * dac)) + 1, 1 << (n_in * dac), size=(int(rng.integers(1, 12)), k))
        x[rng.random(x.shape) < rng.random()] = 0
        w = rng.integers(-top, top + 1, size=(k, s, n)).astype(np.float32)
        coef = 2.0 ** rng.integers(0, 6, size=s) * rng.choice([-1.0, 1.0], size=s)
        steps = 2.0 ** rng.integers(0, 6, size=len(cuts) - 1)
        adc_max = int(rng.integers(1, 64))
        got, ref = _both(x, w, coef, n_in, dac, cuts, steps, adc_max)
        np.testing.assert_array_equal(got, ref, err_msg=f"trial {trial}")


def test_stuck_at_faults_without_variation_take_the_integer_path(rng, spy):
    xb = crossbar_model("mnsim-default", variation=0.0, device__stuck_at_hrs_rate=0.05,
                        device__stuck_at_lrs_rate=0.05)
    w = rng.integers(-255, 256, size=(400, 20))
    x = rng.integers(0, 256, size=(30, 400))
    prog = program_weights(w, xb, 252)
    cells = sample_cells(prog.levels, xb, 3)
    assert not np.array_equal(cells, prog.levels)  # faults present, levels still integers
    got = crossbar_matmul(x, prog, xb, cells, backend="numba")
    ref = crossbar_matmul(x, prog, xb, cells, backend="numpy")
    np.testing.assert_array_equal(got, ref)
    assert spy["popcount"] == 1 and spy["float"] == 0


def test_device_states_are_read_only_and_their_kernel_arrays_kept(rng):
    xb = crossbar_model("mnsim-default", adc_bits=6)
    prog = program_weights(rng.integers(-255, 256, size=(300, 10)), xb, 252)
    cells = sample_cells(prog.levels, xb, 1)
    assert not cells.flags.writeable
    with pytest.raises(ValueError):
        cells[0, 0, 0, 0] = 1.0
    w1, _ = kernel_levels(prog, xb, cells)
    w2, _ = kernel_levels(prog, xb, cells)
    assert w1 is w2 and not w1.flags.writeable and w1.dtype == np.float32  # noisy: float levels
    ideal, _ = kernel_levels(prog, xb)
    assert ideal.dtype == np.int16 and kernel_levels(prog, xb)[0] is ideal
    # a writable array is converted on every call, so editing it is seen
    mine = np.array(cells)
    a, _ = kernel_levels(prog, xb, mine)
    mine[0, 0, 0, 0] += 1.0
    b, _ = kernel_levels(prog, xb, mine)
    assert a is not b and not np.array_equal(a, b)
    with pytest.raises(Exception, match="programmed levels' shape"):
        kernel_levels(prog, xb, mine[:, :10])
