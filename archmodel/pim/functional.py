"""Functional (accuracy) simulation of a network on memristor crossbars.

The forward pass of every Conv/Linear layer is computed the way a bit-sliced crossbar
accelerator computes it (docs/pim.md, "Functional simulation"):

1. activations and weights are quantised symmetrically (sign + magnitude) to the spec's
   ``quantization`` bit widths;
2. weights are split into ``cell_bits`` slices stored as cell levels, positive and negative
   weights in a crossbar pair (``polarity: 2``) or offset-encoded in one crossbar
   (``polarity: 1``; the offset is removed digitally);
3. conductance variation and stuck-at faults turn the programmed levels into *effective*
   levels (:func:`sample_cells`, drawn from a NumPy ``Generator`` outside the kernels);
4. inputs stream through the DACs in ``dac_bits`` slices; every crossbar column sum (one per
   row chunk x input slice x weight slice) goes through the ADC (quantise with a power-of-two
   step, clip), and the digital periphery shifts and adds (kernel ``pim.bitsliced_mvm``).

With ideal devices and an ADC whose range covers a chunk's largest partial sum, the result
equals the quantised digital forward pass exactly (tested).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import InvalidArchitectureError, ParameterError, check_choice, check_range
from archmodel.pim.network import Linear, ResolvedLayer, resolve_network
from archmodel.pim.spec import apply_overrides, load_hardware

log = logging.getLogger(__name__)

__all__ = [
    "CrossbarModel",
    "ProgrammedLayer",
    "QuantizedModel",
    "AccuracyResult",
    "crossbar_model",
    "quantize_symmetric",
    "quantize_inputs",
    "im2col",
    "program_weights",
    "sample_cells",
    "crossbar_matmul",
    "kernel_levels",
    "rows_per_chunk",
    "mnsim_adc",
    "adc_range",
    "build_model",
    "forward_float",
    "forward_digital",
    "forward_pim",
    "sample_model_cells",
    "evaluate_accuracy",
    "with_crossbar",
    "train_mlp",
]


@dataclass(frozen=True)
class CrossbarModel:
    """The parts of a hardware spec that matter for the functional simulation."""

    rows: int
    cols: int
    cell_bits: int
    dac_bits: int
    adc_bits: int
    polarity: int
    digital_subtraction: bool
    full_scale_fraction: float
    variation_model: str
    sigma: float
    p_stuck_hrs: float
    p_stuck_lrs: float
    g_min: float
    g_max: float
    weight_bits: int
    activation_bits: int
    #: ADC range rule: 'archmodel' (fixed power-of-two step) or 'mnsim' (calibrated layer range)
    adc_rule: str = "archmodel"
    #: variation draws: 'per_cell' or 'mnsim' (one deviation per level per weight-slice array)
    variation_scope: str = "per_cell"
    #: DACs per crossbar group (rows converted at once; MNSIM's ADC bit extension)
    dacs: int = 128

    @property
    def max_level(self) -> int:
        return (1 << self.cell_bits) - 1

    @property
    def adc_max_code(self) -> int:
        return (1 << (self.adc_bits - 1)) - 1

    @property
    def ideal(self) -> bool:
        return (self.variation_model == "none" or (self.sigma == 0.0 and self.variation_scope == "per_cell")) \
            and self.p_stuck_hrs == 0.0 and self.p_stuck_lrs == 0.0


def crossbar_model(hardware: Any = "mnsim-default", **overrides: Any) -> CrossbarModel:
    """Build a :class:`CrossbarModel` from a spec (preset name, path or dict) plus overrides.

    ``overrides`` take the short names of :data:`archmodel.pim.spec.OVERRIDE_ALIASES` or dotted
    paths with ``__`` for ``.`` (e.g. ``device__variation__model="lognormal"``).
    """
    spec = load_hardware(hardware)
    if overrides:
        spec = apply_overrides(spec, {k.replace("__", "."): v for k, v in overrides.items()})
    d = spec["device"]
    adc_bits = spec["adc"]["bits"]
    if adc_bits < 2:
        raise ParameterError(
            f"The 'adc.bits' parameter must be at least 2 for the functional simulation (a signed "
            f"ADC). Got {adc_bits!r} instead.")
    var = d["variation"]
    return CrossbarModel(
        rows=spec["crossbar"]["rows"], cols=spec["crossbar"]["cols"], cell_bits=d["cell_bits"],
        dac_bits=spec["dac"]["bits"], adc_bits=adc_bits, polarity=spec["polarity"],
        digital_subtraction=spec["subtraction"] == "digital" and spec["polarity"] == 2,
        full_scale_fraction=float(spec["adc"]["full_scale_fraction"]),
        variation_model=var["model"], sigma=float(var["sigma"]),
        p_stuck_hrs=float(d["stuck_at_hrs_rate"]), p_stuck_lrs=float(d["stuck_at_lrs_rate"]),
        g_min=1.0 / d["hrs_ohm"], g_max=1.0 / d["lrs_ohm"],
        weight_bits=spec["quantization"]["weight_bits"],
        activation_bits=spec["quantization"]["activation_bits"],
        adc_rule=spec["adc"].get("rule", "archmodel"), variation_scope=var.get("scope", "per_cell"),
        dacs=int(spec["pe"]["dacs_per_group"]))


# --------------------------------------------------------------------------------------------
# quantisation and im2col
# --------------------------------------------------------------------------------------------
def quantize_symmetric(x: np.ndarray, bits: int, scale: float | None = None, *,
                       precision: str = "float64") -> tuple[np.ndarray, float]:
    """Sign-magnitude quantisation to ``bits`` bits (sign included).

    ``q = clip(round(x / scale), -T, T)`` with ``T = 2**(bits-1) - 1`` and, by default,
    ``scale = max|x| / T``; rounding is half to even.

    Parameters
    ----------
    x : ndarray
    bits : int
    scale : float, optional
    precision : {'float64', 'float32'}
        Arithmetic of the division. ``'float32'`` divides ``float32(x)`` by ``float32(scale)``
        as MNSIM 2.0 does in PyTorch (``quantize.py``, ``get_bit_weights``), which gives its
        integers exactly; float64 differs from it on the few values whose quotient falls within
        a float32 rounding of a half-integer.

    Returns
    -------
    (q, scale) : (ndarray of int64, same shape as x; float)
    """
    check_choice("quantize_symmetric", "precision", precision, ("float64", "float32"))
    t = (1 << (bits - 1)) - 1
    if scale is None:
        m = float(np.max(np.abs(x))) if x.size else 0.0
        scale = m / t if m > 0 else 1.0
    if precision == "float32":
        ratio = np.asarray(x, dtype=np.float32) / np.float32(scale)
    else:
        ratio = np.asarray(x, dtype=np.float64) / scale
    q = np.clip(np.rint(ratio), -t, t).astype(np.int64)
    return q, float(scale)


def quantize_inputs(x: np.ndarray, bits: int, scale: float, *, precision: str = "float64") -> np.ndarray:
    """Crossbar inputs: :func:`quantize_symmetric` with a fixed ``scale`` (and its
    ``precision``), stored in the smallest signed integer dtype that holds ``bits``-bit
    sign-magnitude values (int16 up to 16 bits), which the kernels take as they are."""
    q, _ = quantize_symmetric(x, bits, scale, precision=precision)
    return q.astype(np.int16 if bits <= 16 else np.int64)


def im2col(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """Unfold (N, C, H, W) into (N * OH * OW, C * k * k) rows, columns ordered (c, kh, kw).

    The column order puts each input channel's k*k taps next to each other, as MNSIM maps
    ``floor(rows / k**2)`` whole channels onto one crossbar.
    """
    n, c, h, w = x.shape
    oh = (h + 2 * padding - kernel) // stride + 1
    ow = (w + 2 * padding - kernel) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) if padding else x
    xt = xp.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    cols = np.empty((n, oh, ow, c, kernel, kernel), dtype=x.dtype)  # written once, in row order
    for i in range(kernel):
        for j in range(kernel):
            cols[:, :, :, :, i, j] = xt[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
    return cols.reshape(n * oh * ow, c * kernel * kernel)


# --------------------------------------------------------------------------------------------
# programming crossbars
# --------------------------------------------------------------------------------------------
@dataclass
class ProgrammedLayer:
    """Integer weights of one layer split into crossbar cell levels.

    Attributes
    ----------
    levels : ndarray of uint8, shape (n_arrays, K, S, N)
        Cell levels; ``n_arrays`` is 2 (positive, negative) for polarity 2, else 1.
    coef : ndarray, shape (S,)
        Shift-and-add weight of each slice, ``2**(j * cell_bits)``.
    offset : int
        Offset added to every weight before programming (polarity 1), removed digitally.
    chunk_bounds : ndarray of int64, shape (C + 1,)
        Row chunks (one crossbar's rows each).
    adc_step : ndarray of float64, shape (C,)
        ADC step of each chunk (power of two >= 1; see :func:`adc_steps`; any positive value
        under MNSIM's rule, :func:`mnsim_adc`).
    adc_max : int or None
        Largest ADC code of this layer (None: the crossbar model's ``adc_max_code``).
    adc_gain : ndarray of float32, shape (C, 4), or None
        MNSIM's float32 conversion factors (:func:`mnsim_adc`); None: archmodel's rule.
    """

    levels: np.ndarray
    coef: np.ndarray
    offset: int
    chunk_bounds: np.ndarray
    adc_step: np.ndarray
    adc_max: int | None = None
    adc_gain: np.ndarray | None = None
    #: the kernel's weight array for the last device state seen (see :func:`kernel_levels`)
    _kernel: tuple = field(default=(), repr=False, compare=False)


def adc_steps(chunk_bounds: np.ndarray, xb: CrossbarModel) -> np.ndarray:
    """ADC step per row chunk: the range rule.

    Full scale of a chunk of ``r`` rows is ``FS = r * (2**dac_bits - 1) * (2**cell_bits - 1)``
    (largest column sum of one input slice x one weight slice); the ADC covers
    ``full_scale_fraction * FS`` with codes ``-M..M`` (``M = 2**(adc_bits-1) - 1``), so its step
    is the smallest power of two ``>= full_scale_fraction * FS / M`` (at least 1). Sums beyond
    the range clip.
    """
    rows = np.diff(chunk_bounds).astype(np.float64)
    fs = rows * ((1 << xb.dac_bits) - 1) * xb.max_level * xb.full_scale_fraction
    ratio = fs / xb.adc_max_code
    exp = np.ceil(np.log2(np.maximum(ratio, 1.0)))
    return np.power(2.0, np.maximum(exp, 0.0))


def _chunks(k_total: int, rows_per_chunk: int) -> np.ndarray:
    b = list(range(0, k_total, rows_per_chunk)) + [k_total]
    return np.asarray(b, dtype=np.int64)


#: MNSIM 2.0's ``point_shift`` of every layer (``network.get_net``: ``'point_shift': -2``)
MNSIM_POINT_SHIFT = -2


def adc_range(y: np.ndarray) -> float:
    """MNSIM's calibrated range of a layer output: ``3 std(y) + |mean(y)|`` over all elements
    (``std`` with ``ddof=1``, as ``torch.std``; MNSIM's ``QuantizeFunction`` on one batch)."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        return float(abs(y.mean())) if y.size else 1.0
    r = 3.0 * float(y.std(ddof=1)) + abs(float(y.mean()))
    return r if r > 0 else 1.0


def mnsim_adc(prog: ProgrammedLayer, xb: CrossbarModel, *, rows_used: int, w_scale: float, a_scale: float,
              out_range: float) -> ProgrammedLayer:
    """``prog`` with MNSIM 2.0's ADC rule (``quantize.py``, ``set_weights_forward``, ``SCALE``).

    MNSIM scales each partial sum ``ps`` (one row chunk x input slice ``i`` x weight slice
    ``j``) to the layer's calibrated output range ``R`` (``out_range``, :func:`adc_range`) as if
    it were the most significant slice pair, and converts it with ``Q`` bits:

        code = clip(rint(ps * s_w * s_a / R * 2**(E + t)), -(2**(Q-1) - 1), 2**(Q-1) - 1)

    with ``E = (A - 1) dac_bits + (S - 1) cell_bits`` (``A`` input slices, ``S`` weight slices),
    ``Q = adc_bits + max(ceil(log2(rows_used / dacs)), 0)`` (rows of one crossbar read in
    ``rows_used / dacs`` rounds, MNSIM's ``extend_ADC_bitwidth``; 6 + 1 for 252 or 256 rows over
    128 DACs), ``t = point_shift + Q - 1`` and ``point_shift = floor(-2 + log2(C) / 2)`` for
    ``C`` row chunks. The arithmetic is MNSIM's: float32, in its order of operations, round
    half to even (kernel argument ``adc_gain``). The code stands for ``code * step`` with
    ``step = R / (s_w s_a 2**(E + t))`` in units of ``ps``.

    Parameters
    ----------
    prog : ProgrammedLayer
    xb : CrossbarModel
    rows_used : int
        Rows of one crossbar the layer maps: ``floor(rows / k**2) k**2`` for a conv (even if it
        has fewer channels, as MNSIM), ``min(K, rows)`` for a fully connected layer.
    w_scale, a_scale : float
        Weight and input quantisation scales (real value of one integer step).
    out_range : float
        The layer's calibrated output range ``R`` (> 0).

    Returns
    -------
    ProgrammedLayer
        A copy sharing the levels, with ``adc_step``, ``adc_max`` and ``adc_gain`` set.
    """
    import dataclasses

    for name, v in (("w_scale", w_scale), ("a_scale", a_scale), ("out_range", out_range)):
        if not (math.isfinite(v) and v > 0):
            raise ParameterError(f"The {name!r} parameter of mnsim_adc must be a positive number. Got {v!r} instead.")
    n_chunks = len(prog.chunk_bounds) - 1
    n_in = -(-(xb.activation_bits - 1) // xb.dac_bits)
    n_w = prog.levels.shape[2]
    e = (n_in - 1) * xb.dac_bits + (n_w - 1) * xb.cell_bits
    extend = max(math.ceil(math.log2(rows_used / xb.dacs)), 0)
    q_bits = xb.adc_bits + extend
    point_shift = math.floor(MNSIM_POINT_SHIFT + 0.5 * math.log2(n_chunks))
    t = point_shift + q_bits - 1
    gain = np.empty((n_chunks, 4), dtype=np.float32)
    gain[:] = (w_scale, a_scale, out_range, 2.0 ** (e + t))
    step = np.full(n_chunks, out_range / (w_scale * a_scale * 2.0 ** (e + t)))
    return dataclasses.replace(prog, adc_step=step, adc_max=(1 << (q_bits - 1)) - 1, adc_gain=gain, _kernel=prog._kernel)


def program_weights(w_int: np.ndarray, xb: CrossbarModel, rows_per_chunk: int | None = None) -> ProgrammedLayer:
    """Split integer weights (K, N) into cell levels.

    Polarity 2: magnitudes of positive / negative weights go to two crossbars,
    ``ceil((weight_bits - 1) / cell_bits)`` slices. Polarity 1: ``w + (2**(weight_bits-1) - 1)``
    (non-negative) in one crossbar, ``ceil(weight_bits / cell_bits)`` slices.
    """
    w_int = np.asarray(w_int, dtype=np.int64)
    k_total, n = w_int.shape
    cb = xb.cell_bits
    mask = xb.max_level
    if xb.polarity == 2:
        s_count = -(-(xb.weight_bits - 1) // cb)
        pos = np.where(w_int > 0, w_int, 0)
        neg = np.where(w_int < 0, -w_int, 0)
        levels = np.empty((2, k_total, s_count, n), dtype=np.uint8)
        for j in range(s_count):
            levels[0, :, j, :] = (pos >> (j * cb)) & mask
            levels[1, :, j, :] = (neg >> (j * cb)) & mask
        offset = 0
    else:
        s_count = -(-xb.weight_bits // cb)
        offset = (1 << (xb.weight_bits - 1)) - 1
        u = w_int + offset
        levels = np.empty((1, k_total, s_count, n), dtype=np.uint8)
        for j in range(s_count):
            levels[0, :, j, :] = (u >> (j * cb)) & mask
    coef = np.array([float(1 << (j * cb)) for j in range(s_count)])
    bounds = _chunks(k_total, rows_per_chunk or xb.rows)
    return ProgrammedLayer(levels, coef, offset, bounds, adc_steps(bounds, xb))


_SAMPLE_CHUNK = 1 << 20


def sample_cells(levels: np.ndarray, xb: CrossbarModel, rng: np.random.Generator | int | None, *,
                 chunk_bounds: np.ndarray | None = None) -> np.ndarray:
    """Effective cell levels under conductance variation and stuck-at faults.

    ``xb.variation_scope == 'mnsim'`` draws MNSIM 2.0's model instead (``Weight_update.py``,
    see :func:`_mnsim_variation`); the stuck-at faults are drawn per cell in both scopes.

    A cell programmed to level ``v`` targets ``G(v) = G_min + v * dG`` with
    ``dG = (G_max - G_min) / (2**cell_bits - 1)``. Its resistance ``R = 1 / G(v)`` becomes
    ``R f`` with ``f = max(1 + sigma z, 1e-3)`` ('gaussian_resistance') or ``f = exp(sigma z)``
    ('lognormal'), ``z ~ N(0, 1)``; the level read back after the periphery removes the
    ``G_min`` offset is ``v + (G(v) / dG) (1 / f - 1)``. Stuck-at-HRS cells read 0 and
    stuck-at-LRS cells read the top level (no variation on stuck cells).

    Draw order (reproducible): float32 normals for every cell in C order (in chunks of 2**20),
    then one float32 uniform per cell for the faults (``u < p_hrs``: stuck at HRS,
    ``p_hrs <= u < p_hrs + p_lrs``: stuck at LRS).

    Parameters
    ----------
    levels : ndarray of uint8, any shape; shape (n_arrays, K, S, N) for the 'mnsim' scope
    xb : CrossbarModel
    rng : Generator, int or None
    chunk_bounds : ndarray of int64, shape (C + 1,), optional
        Row chunks of ``levels`` (one crossbar each; 'mnsim' scope only; default one chunk).

    Returns
    -------
    ndarray of float32, same shape as ``levels``
        Read-only (a device state; :func:`kernel_levels` keeps what it derives from it).
    """
    rng = np.random.default_rng(rng)
    lev = np.ascontiguousarray(levels)
    if xb.variation_scope == "mnsim" and xb.variation_model != "none":
        out = _mnsim_variation(lev, xb, rng, chunk_bounds)
    else:
        out = lev.astype(np.float32)
    flat_in = lev.reshape(-1)
    flat = out.reshape(-1)
    n = flat.size
    if xb.variation_scope == "per_cell" and xb.variation_model != "none" and xb.sigma > 0.0:
        dg = (xb.g_max - xb.g_min) / xb.max_level
        a = ((xb.g_min + np.arange(xb.max_level + 1) * dg) / dg).astype(np.float32)
        sig = np.float32(xb.sigma)
        for s0 in range(0, n, _SAMPLE_CHUNK):
            s1 = min(s0 + _SAMPLE_CHUNK, n)
            z = rng.standard_normal(s1 - s0, dtype=np.float32)
            if xb.variation_model == "gaussian_resistance":
                f = np.maximum(np.float32(1.0) + sig * z, np.float32(1e-3))
                f = np.float32(1.0) / f - np.float32(1.0)
            else:
                f = np.exp(-sig * z) - np.float32(1.0)
            flat[s0:s1] += a[flat_in[s0:s1]] * f
    if xb.p_stuck_hrs > 0.0 or xb.p_stuck_lrs > 0.0:
        ph = np.float32(xb.p_stuck_hrs)
        pl = np.float32(xb.p_stuck_hrs + xb.p_stuck_lrs)
        top = np.float32(xb.max_level)
        for s0 in range(0, n, _SAMPLE_CHUNK):
            s1 = min(s0 + _SAMPLE_CHUNK, n)
            u = rng.random(s1 - s0, dtype=np.float32)
            seg = flat[s0:s1]
            seg[u < ph] = 0.0
            seg[(u >= ph) & (u < pl)] = top
    out.flags.writeable = False  # a device state: read-only, so derived kernel arrays can be kept
    return out


def _mnsim_variation(lev: np.ndarray, xb: CrossbarModel, rng: np.random.Generator,
                     chunk_bounds: np.ndarray | None) -> np.ndarray:
    """MNSIM 2.0's variation model (``weight_update`` with ``is_Variation``).

    Every weight-slice array (one sign array x one row chunk x one slice, all its columns) draws
    one deviation per resistance level: the resistance ``R(v) = 1 / G(v)`` of level ``v``
    becomes ``R(v) f_v``, ``f_v = 1 + sigma z_v`` ('gaussian_resistance', floored at 1e-3) or
    ``exp(sigma z_v)`` ('lognormal'), and every cell of that level in the array reads
    ``(G(v) / G_max) (2**cell_bits - 1) / f_v``: level 0 reads the HRS/LRS conductance ratio
    (0.01 for MNSIM's 1 MOhm / 10 kOhm), not 0, as in MNSIM. Draw order: float64 normals of
    shape (n_arrays, C, S, levels) in C order.
    """
    if lev.ndim != 4:
        raise ParameterError(f"The 'mnsim' variation scope needs levels of shape (n_arrays, K, S, N). "
                             f"Got shape {lev.shape} instead.")
    n_arr, k_total, n_s, _ = lev.shape
    bounds = np.asarray([0, k_total] if chunk_bounds is None else chunk_bounds, dtype=np.int64)
    if bounds[0] != 0 or bounds[-1] != k_total or np.any(np.diff(bounds) <= 0):
        raise ParameterError(f"The 'chunk_bounds' parameter must rise from 0 to {k_total}. Got {bounds.tolist()} instead.")
    n_lev = xb.max_level + 1
    dg = (xb.g_max - xb.g_min) / xb.max_level
    g = xb.g_min + np.arange(n_lev) * dg
    base = g / xb.g_max * xb.max_level                            # level read without variation
    z = rng.standard_normal((n_arr, len(bounds) - 1, n_s, n_lev))
    if xb.variation_model == "gaussian_resistance":
        f = np.maximum(1.0 + xb.sigma * z, 1e-3)
    else:
        f = np.exp(xb.sigma * z)
    table = (base / f).astype(np.float32)                         # (n_arrays, C, S, levels)
    out = np.empty(lev.shape, dtype=np.float32)
    s_idx = np.arange(n_s)[:, None]
    for a in range(n_arr):
        for c in range(len(bounds) - 1):
            k0, k1 = bounds[c], bounds[c + 1]
            out[a, k0:k1] = table[a, c][s_idx, lev[a, k0:k1]]
    return out


def kernel_levels(prog: ProgrammedLayer, xb: CrossbarModel, cells: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``(w, coef)`` the ``bitsliced_mvm`` kernel takes for one device state.

    ``w`` (K, S', N): the effective levels, the positive minus the negative crossbar for analog
    subtraction, or both crossbars side by side (``coef`` negated for the negative one) for
    digital subtraction. Integer levels (ideal devices; stuck-at faults without variation) are
    returned as int16, which the Numba backend maps to its exact popcount path; others float32.
    ``w`` is read-only.

    The result is kept on ``prog`` for the device state it was made for: the programmed levels
    (``cells=None``) or the same read-only ``cells`` array (those from :func:`sample_cells`), so
    the images of a batch loop and the batches of an evaluation share one conversion. Writable
    ``cells`` arrays are converted on every call.
    """
    cacheable = cells is None or not np.asarray(cells).flags.writeable
    if cacheable and prog._kernel and prog._kernel[0] is cells:
        return prog._kernel[1], prog._kernel[2]
    if cells is None:
        eff = prog.levels.astype(np.int16)
    else:
        eff = np.asarray(cells, dtype=np.float32)
        if eff.shape != prog.levels.shape:
            raise ParameterError(f"The 'cells' parameter must have the programmed levels' shape "
                                 f"{prog.levels.shape}. Got {eff.shape} instead.")
    if prog.levels.shape[0] == 2 and not xb.digital_subtraction:
        w = eff[0] - eff[1]
        coef = prog.coef
    elif prog.levels.shape[0] == 2:
        w = np.concatenate([eff[0], eff[1]], axis=1)
        coef = np.concatenate([prog.coef, -prog.coef])
    else:
        w = eff[0]
        coef = prog.coef
    w = np.ascontiguousarray(w)
    if w.dtype != np.int16 and np.array_equal(w, np.rint(w)) and np.abs(w).max(initial=0) < 2 ** 15:
        w = w.astype(np.int16)
    w.flags.writeable = False
    if cacheable:
        prog._kernel = (cells, w, coef)
    return w, coef


def crossbar_matmul(x_int: np.ndarray, prog: ProgrammedLayer, xb: CrossbarModel, cells: np.ndarray | None = None,
                    *, backend: str | None = None) -> np.ndarray:
    """``x_int @ w_int`` computed by bit-sliced crossbars.

    Parameters
    ----------
    x_int : ndarray of integers, shape (P, K)
        Quantised inputs (sign + magnitude within ``activation_bits``).
    prog : ProgrammedLayer
    xb : CrossbarModel
    cells : ndarray, shape like ``prog.levels``, optional
        Effective levels from :func:`sample_cells`; default: ideal (the programmed levels).

    Returns
    -------
    ndarray of float64, shape (P, N)
    """
    from archmodel.backends import get_backend

    x_int = np.asarray(x_int)
    if x_int.dtype.kind not in "iu":
        x_int = x_int.astype(np.int64)

    be = get_backend(backend)
    w, coef = kernel_levels(prog, xb, cells)
    n_in = -(-(xb.activation_bits - 1) // xb.dac_bits)
    adc_max = xb.adc_max_code if prog.adc_max is None else prog.adc_max
    if prog.adc_gain is None:
        out = be.pim.bitsliced_mvm(np.ascontiguousarray(x_int), w, coef,
                                   n_in, xb.dac_bits, prog.chunk_bounds, prog.adc_step, adc_max)
    else:
        out = be.pim.bitsliced_mvm(np.ascontiguousarray(x_int), w, coef, n_in, xb.dac_bits, prog.chunk_bounds,
                                   prog.adc_step, adc_max, prog.adc_gain)
    if prog.offset:
        out = out - float(prog.offset) * x_int.sum(axis=1, dtype=np.int64)[:, None].astype(np.float64)
    return out


# --------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------
@dataclass
class QuantizedModel:
    """A trained network prepared for crossbar simulation.

    ``layers`` are the resolved layers; for each Conv/Linear layer ``i``: ``w_int[i]`` (K, N)
    integer weights (K ordered (c, kh, kw) for convs), ``w_scale[i]``, ``bias[i]`` (N,) and the
    input activation scale ``a_scale[i]`` fixed on calibration data; ``programmed[i]`` its
    crossbar levels; ``out_range[i]`` the calibrated range of its product (used by MNSIM's
    ADC rule).
    """

    layers: list[ResolvedLayer]
    xb: CrossbarModel
    w_int: dict[int, np.ndarray] = field(default_factory=dict)
    w_scale: dict[int, float] = field(default_factory=dict)
    bias: dict[int, np.ndarray] = field(default_factory=dict)
    w_float: dict[int, np.ndarray] = field(default_factory=dict)
    a_scale: dict[int, float] = field(default_factory=dict)
    programmed: dict[int, ProgrammedLayer] = field(default_factory=dict)
    relu_last: bool = False
    #: calibrated output range of each Conv/Linear product (MNSIM's ADC rule, :func:`adc_range`)
    out_range: dict[int, float] = field(default_factory=dict)


def _weight_matrix(layer: ResolvedLayer, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if layer.kind == "conv":
        l = layer.layer
        want = (l.out_ch, l.in_ch, l.kernel, l.kernel)
        if w.shape != want:
            raise InvalidArchitectureError(f"Weights of layer {layer.index} must have shape {want} (out, in, kh, kw). Got {w.shape}.")
        return w.reshape(l.out_ch, -1).T.copy()
    l = layer.layer
    want = (l.in_features, l.out_features)
    if w.shape != want:
        raise InvalidArchitectureError(f"Weights of layer {layer.index} must have shape {want} (in, out). Got {w.shape}.")
    return w.copy()


def rows_per_chunk(kind: str, kernel: int, xb: CrossbarModel, what: str) -> int:
    """Rows of a layer's weight matrix one crossbar holds: whole kernels for convs
    (``floor(rows / k^2) k^2``, as MNSIM maps them), ``rows`` for fully connected layers.
    ``what`` names the layer in the error raised when a kernel does not fit."""
    if kind == "conv":
        kk = kernel * kernel
        ch = xb.rows // kk
        if ch < 1:
            raise InvalidArchitectureError(
                f"{what}: a {kernel}x{kernel} kernel does not fit {xb.rows}-row crossbars.")
        return ch * kk
    return xb.rows


def _rows_per_chunk(layer: ResolvedLayer, xb: CrossbarModel) -> int:
    kernel = layer.layer.kernel if layer.kind == "conv" else 1
    return rows_per_chunk(layer.kind, kernel, xb, f"Layer {layer.index}")


def build_model(layers: Sequence[Any], weights: Sequence[np.ndarray | None], biases: Sequence[np.ndarray | None] | None = None,
                *, hardware: Any = "mnsim-default", calibration: np.ndarray | None = None, relu_last: bool = False,
                xb: CrossbarModel | None = None) -> QuantizedModel:
    """Quantise a trained network for the functional simulation.

    Parameters
    ----------
    layers : sequence of Conv / Linear / Pool / ElementSum
        ReLU follows every Conv and Linear except the last layer (unless ``relu_last``).
    weights : sequence
        One entry per layer: Conv (out, in, k, k), Linear (in, out); ``None`` for Pool/Sum.
    biases : sequence, optional
        (N,) per Conv/Linear layer (added digitally), or None.
    hardware : str or dict
        Spec giving crossbar size, cell/DAC/ADC bits, polarity, non-idealities, bit widths.
    calibration : ndarray, optional
        Inputs (N, C, H, W) or (N, F) used to fix each layer's activation scale (max |a|).
    xb : CrossbarModel, optional
        Use this crossbar model instead of building one from ``hardware``.
    """
    xb = xb or crossbar_model(hardware)
    resolved = resolve_network(layers, in_bits=xb.activation_bits, weight_bits=xb.weight_bits)
    if len(weights) != len(resolved):
        raise ParameterError(f"The 'weights' parameter needs one entry per layer ({len(resolved)}). Got {len(weights)}.")
    model = QuantizedModel(resolved, xb, relu_last=relu_last)
    for r, w in zip(resolved, weights):
        if r.kind in ("conv", "fc"):
            if w is None:
                raise ParameterError(f"Layer {r.index} ({r.kind}) needs weights.")
            wm = _weight_matrix(r, w)
            model.w_float[r.index] = wm
            q, s = quantize_symmetric(wm, xb.weight_bits)
            model.w_int[r.index] = q
            model.w_scale[r.index] = s
            b = None if biases is None else biases[r.index]
            model.bias[r.index] = np.zeros(wm.shape[1]) if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
            model.programmed[r.index] = program_weights(q, xb, _rows_per_chunk(r, xb))
    if calibration is None:
        raise ParameterError("build_model needs 'calibration' inputs to fix the activation scales.")
    _calibrate(model, np.asarray(calibration, dtype=np.float64))
    return model


def _layer_input(model: QuantizedModel, acts: list, i: int, r: ResolvedLayer, x: np.ndarray) -> np.ndarray:
    src = i + r.inputs[0]
    return x if src < 0 else acts[src]


def _conv_out(y: np.ndarray, n: int, r: ResolvedLayer) -> np.ndarray:
    c, oh, ow = r.out_shape
    return y.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)


def _maxpool(x: np.ndarray, r: ResolvedLayer) -> np.ndarray:
    l = r.layer
    s = l.kernel if l.stride is None else l.stride
    if l.padding:
        x = np.pad(x, ((0, 0), (0, 0), (l.padding,) * 2, (l.padding,) * 2), constant_values=-np.inf)
    n, c, _, _ = x.shape
    _, oh, ow = r.out_shape
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(l.kernel):
        for j in range(l.kernel):
            out = np.maximum(out, x[:, :, i:i + s * oh:s, j:j + s * ow:s])
    return out


def _run(model: QuantizedModel, x: np.ndarray, mode: str, cells: Mapping[int, np.ndarray] | None = None,
         backend: str | None = None, record: list | None = None,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """Shared forward pass; mode 'float' (no quantisation), 'calibrate' (float, fixing the input
    scales on the way), 'digital' (exact int) or 'pim'."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    acts: list[np.ndarray] = []
    last = len(model.layers) - 1
    for i, r in enumerate(model.layers):
        a = _layer_input(model, acts, i, r, x)
        if r.kind in ("conv", "fc"):
            l = r.layer
            if mode in ("float", "calibrate"):
                a2 = im2col(a, l.kernel, l.stride, l.padding) if r.kind == "conv" else a.reshape(n, -1)
                y = a2 @ model.w_float[i]
                if mode == "calibrate":
                    t = (1 << (model.xb.activation_bits - 1)) - 1
                    m = float(np.max(np.abs(a2))) if a2.size else 0.0
                    model.a_scale[i] = m / t if m > 0 else 1.0
                    model.out_range[i] = adc_range(y)
                y = y + model.bias[i]
            else:
                # quantise the activation map, then unfold it (the same integers as unfolding
                # first: padding is 0 either way; 9x fewer roundings for 3x3 kernels)
                q = quantize_inputs(a, model.xb.activation_bits, model.a_scale[i])
                q = im2col(q, l.kernel, l.stride, l.padding) if r.kind == "conv" else q.reshape(n, -1)
                if mode == "digital":
                    # float64 BLAS is exact here: |products| and sums stay far below 2**53
                    acc = q.astype(np.float64) @ model.w_int[i].astype(np.float64)
                else:
                    if cells is not None:
                        c = cells.get(i)
                    elif rng is not None:
                        c = sample_cells(model.programmed[i].levels, model.xb, rng,
                                         chunk_bounds=model.programmed[i].chunk_bounds)
                    else:
                        c = None
                    acc = crossbar_matmul(q, model.programmed[i], model.xb, c, backend=backend)
                if record is not None:
                    record.append(acc)
                y = acc * (model.a_scale[i] * model.w_scale[i]) + model.bias[i]
            if r.kind == "conv":
                y = _conv_out(y, n, r)
            if i != last or model.relu_last:
                y = np.maximum(y, 0.0)
        elif r.kind == "pool":
            y = _maxpool(a, r)
        else:
            j = i + r.inputs[1]
            y = a + (x if j < 0 else acts[j])
        acts.append(y)
    return acts[-1]


def _calibrate(model: QuantizedModel, x: np.ndarray) -> None:
    """Fix each Conv/Linear input scale, ``max |input| / T``, and output range
    (:func:`adc_range`) with a float pass over ``x``; then apply the spec's ADC rule."""
    _run(model, x, "calibrate")
    _apply_adc_rule(model)


def _rows_used(layer: ResolvedLayer, prog: ProgrammedLayer, xb: CrossbarModel) -> int:
    """Rows of one crossbar a layer maps, as MNSIM counts them for its ADC bit extension."""
    if layer.kind == "conv":
        return _rows_per_chunk(layer, xb)
    return min(int(prog.levels.shape[1]), xb.rows)


def _apply_adc_rule(model: QuantizedModel) -> None:
    """Under ``adc_rule == 'mnsim'`` give every crossbar layer MNSIM's ADC (:func:`mnsim_adc`)."""
    if model.xb.adc_rule != "mnsim":
        return
    for i, prog in model.programmed.items():
        model.programmed[i] = mnsim_adc(prog, model.xb, rows_used=_rows_used(model.layers[i], prog, model.xb),
                                        w_scale=model.w_scale[i], a_scale=model.a_scale[i],
                                        out_range=model.out_range[i])


def forward_float(model: QuantizedModel, x: np.ndarray) -> np.ndarray:
    """Float forward pass (no quantisation), for reference."""
    return _run(model, x, "float")


def forward_digital(model: QuantizedModel, x: np.ndarray) -> np.ndarray:
    """Quantised digital forward pass: exact integer products, same scales as the PIM pass."""
    return _run(model, x, "digital")


def forward_pim(model: QuantizedModel, x: np.ndarray, cells: Mapping[int, np.ndarray] | None = None, *,
                rng: np.random.Generator | int | None = None, backend: str | None = None) -> np.ndarray:
    """Crossbar forward pass.

    Device state: ``cells`` from :func:`sample_model_cells`; or, if ``cells`` is None and
    ``rng`` is given, one draw sampled layer by layer during the pass (same numbers as
    ``sample_model_cells(model, rng)``, without holding every layer's cells at once); if both
    are None, ideal devices.
    """
    gen = None if rng is None else np.random.default_rng(rng)
    return _run(model, x, "pim", cells, backend, rng=gen)


def sample_model_cells(model: QuantizedModel, rng: np.random.Generator | int | None) -> dict[int, np.ndarray]:
    """One draw of effective cell levels for every crossbar layer (see :func:`sample_cells`)."""
    rng = np.random.default_rng(rng)
    return {i: sample_cells(p.levels, model.xb, rng, chunk_bounds=p.chunk_bounds)
            for i, p in sorted(model.programmed.items())}


@dataclass
class AccuracyResult:
    """Accuracy under non-idealities: mean and std over noise draws, plus references."""

    mean: float
    std: float
    draws: np.ndarray
    digital: float
    float_: float

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "draws": self.draws.tolist(),
                "digital": self.digital, "float": self.float_}


def evaluate_accuracy(model: QuantizedModel, x: np.ndarray, y: np.ndarray, *, n_draws: int = 5,
                      rng: np.random.Generator | int | None = None, backend: str | None = None) -> AccuracyResult:
    """Classification accuracy of the crossbar forward pass over ``n_draws`` device draws.

    With an ideal crossbar model every draw is identical, so one draw is computed.
    """
    check_range("evaluate_accuracy", "n_draws", n_draws, 1, None, integer=True)
    rng = np.random.default_rng(rng)
    y = np.asarray(y)
    acc_f = float(np.mean(np.argmax(forward_float(model, x), axis=1) == y))
    acc_d = float(np.mean(np.argmax(forward_digital(model, x), axis=1) == y))
    draws = []
    for k in range(1 if model.xb.ideal else n_draws):
        draw_rng = None if model.xb.ideal else rng
        logits = forward_pim(model, x, rng=draw_rng, backend=backend)
        draws.append(float(np.mean(np.argmax(logits, axis=1) == y)))
    arr = np.asarray(draws)
    return AccuracyResult(float(arr.mean()), float(arr.std()), arr, acc_d, acc_f)


def with_crossbar(model: QuantizedModel, xb: CrossbarModel) -> QuantizedModel:
    """The same trained, calibrated model on another crossbar model (reprogrammed)."""
    new = QuantizedModel(model.layers, xb, relu_last=model.relu_last)
    if xb.weight_bits != model.xb.weight_bits or xb.activation_bits != model.xb.activation_bits:
        raise ParameterError("with_crossbar keeps the bit widths; build a new model to change them.")
    new.w_int, new.w_scale, new.bias, new.w_float, new.a_scale = (model.w_int, model.w_scale, model.bias,
                                                                   model.w_float, model.a_scale)
    new.out_range = model.out_range
    for i, r in enumerate(model.layers):
        if i in model.w_int:
            new.programmed[i] = program_weights(model.w_int[i], xb, _rows_per_chunk(r, xb))
    _apply_adc_rule(new)
    return new


# --------------------------------------------------------------------------------------------
# a tiny trainer (plain NumPy) for examples, tests and benchmarks
# --------------------------------------------------------------------------------------------
def train_mlp(x: np.ndarray, y: np.ndarray, hidden: Sequence[int] = (32,), *, epochs: int = 300, lr: float = 0.01,
              weight_decay: float = 1e-4, rng: np.random.Generator | int | None = 0) -> tuple[list, list, list]:
    """Train a ReLU MLP classifier with full-batch Adam on softmax cross-entropy.

    Returns
    -------
    (layers, weights, biases)
        ``layers`` are :class:`~archmodel.pim.network.Linear` layers ready for
        :func:`build_model`; ``weights[i]`` has shape (in, out).
    """
    rng = np.random.default_rng(rng)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n_cls = int(y.max()) + 1
    sizes = [x.shape[1], *hidden, n_cls]
    ws = [rng.standard_normal((a, b)) * math.sqrt(2.0 / a) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b) for b in sizes[1:]]
    params = ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(n_cls)[y]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        hs = [x]
        for i in range(len(ws)):
            z = hs[-1] @ ws[i] + bs[i]
            hs.append(np.maximum(z, 0.0) if i < len(ws) - 1 else z)
        logits = hs[-1]
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / x.shape[0]
        gws, gbs = [None] * len(ws), [None] * len(ws)
        for i in range(len(ws) - 1, -1, -1):
            gws[i] = hs[i].T @ g + weight_decay * ws[i]
            gbs[i] = g.sum(axis=0)
            if i > 0:
                g = (g @ ws[i].T) * (hs[i] > 0)
        grads = gws + gbs
        for k, (pp, gg) in enumerate(zip(params, grads)):
            m[k] = b1 * m[k] + (1 - b1) * gg
            v[k] = b2 * v[k] + (1 - b2) * gg * gg
            pp -= lr * (m[k] / (1 - b1 ** step)) / (np.sqrt(v[k] / (1 - b2 ** step)) + eps)
    layers = [Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    return layers, ws, bs
