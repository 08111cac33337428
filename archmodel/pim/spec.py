"""PIM hardware specs: loading, validation, overrides, and the flat vector the kernels read.

A spec is a JSON object (see ``specs/pim/README.md`` for every field and its unit). Presets
ship in ``archmodel.specs`` (folder ``pim/``) and are read with :mod:`importlib.resources`.

Examples
--------
>>> from archmodel.pim.spec import load_hardware, apply_overrides
>>> hw = load_hardware("mnsim-default")
>>> hw["adc"]["bits"]
6
>>> apply_overrides(hw, {"adc_bits": 8})["adc"]["bits"]
8
"""
from __future__ import annotations

import copy
import json
import math
import os
from functools import lru_cache
from typing import Any, Mapping  # noqa: F401  (annotations only; isinstance uses dict: much faster)

import numpy as np

from archmodel.errors import ParameterError, _fmt_allowed, check_choice, check_range

__all__ = [
    "list_presets",
    "load_hardware",
    "validate_hardware",
    "apply_overrides",
    "apply_overrides_many",
    "hardware_vector",
    "interface_entry",
    "OVERRIDE_ALIASES",
]

#: short names accepted by overrides / ``--grid`` (value: dotted paths set together)
OVERRIDE_ALIASES: dict[str, tuple[str, ...]] = {
    "adc_bits": ("adc.bits",),
    "dac_bits": ("dac.bits",),
    "cell_bits": ("device.cell_bits",),
    "xbar_size": ("crossbar.rows", "crossbar.cols"),
    "xbar_rows": ("crossbar.rows",),
    "xbar_cols": ("crossbar.cols",),
    "polarity": ("polarity",),
    "groups": ("pe.crossbar_groups",),
    "dacs_per_group": ("pe.dacs_per_group",),
    "adcs_per_group": ("pe.adcs_per_group",),
    "clock_hz": ("digital.clock_hz",),
    "pe_rows": ("tile.pe_rows",),
    "pe_cols": ("tile.pe_cols",),
    "pe_grid": ("tile.pe_rows", "tile.pe_cols"),
    "weight_bits": ("quantization.weight_bits",),
    "activation_bits": ("quantization.activation_bits",),
    "variation": ("device.variation.sigma",),
    "read_latency_s": ("device.read_latency_s",),
    "adc_rule": ("adc.rule",),
    "variation_model": ("device.variation.scope",),
}

#: file-name prefix of the joint network/hardware search spaces in ``specs/pim/``
SPACE_PREFIX = "space-"

_PLACEMENTS = {"hui": 0, "row-major": 1, "snake": 2}
#: optional fields an override may add
_OPTIONAL_LEAVES = frozenset({f"{c}.{k}" for c in ("adc", "dac") for k in ("power_w", "sample_rate_hz", "area_um2")}
                             | {"adc.rule", "device.variation.scope"})
_VARIATION_MODELS = ("none", "gaussian_resistance", "lognormal")
#: ADC range rules of the functional simulation (docs/pim.md, "ADC range rule"); absent: "archmodel"
ADC_RULES = ("archmodel", "mnsim")
#: granularity of the conductance-variation draws (docs/pim.md, "Devices"); absent: "per_cell"
VARIATION_SCOPES = ("per_cell", "mnsim")


def _owner(spec: Mapping[str, Any]) -> str:
    return f"PIM hardware spec {spec.get('name', '<unnamed>')!r}"


def list_presets() -> list[str]:
    """Names of the shipped hardware presets (``specs/pim/*.json``; the ``space-*`` files there
    are joint search spaces of :mod:`archmodel.coexplore`, not presets)."""
    from archmodel.specs import spec_names

    return [n for n in spec_names("pim") if not n.startswith(SPACE_PREFIX)]


@lru_cache(maxsize=1)
def _preset_names() -> tuple[str, ...]:
    return tuple(list_presets())


@lru_cache(maxsize=32)
def _preset_text(name: str) -> str:
    """The preset's JSON text, validated once (presets are immutable package data)."""
    from archmodel.specs import load_spec

    spec = load_spec("pim", name)
    validate_hardware(spec)
    return json.dumps(spec)


def load_hardware(hardware: Any) -> dict[str, Any]:
    """Load and validate a hardware spec.

    Parameters
    ----------
    hardware : str or dict
        A preset name (``list_presets()``), a path to a JSON file, or a spec dict.

    Returns
    -------
    dict
        A validated deep copy.

    Raises
    ------
    ParameterError
        Unknown preset, malformed JSON or a field out of range (the message names the field).
    """
    if isinstance(hardware, dict):
        spec = copy.deepcopy(dict(hardware))
    elif isinstance(hardware, (str, os.PathLike)):
        text = os.fspath(hardware)
        if text in _preset_names():
            return json.loads(_preset_text(text))
        elif text.endswith(".json") or os.path.sep in text or os.path.exists(text):
            from archmodel.io import load_json_object

            spec = load_json_object(text, "hardware spec")
            spec.setdefault("name", os.path.basename(text))
        else:
            raise ParameterError(
                f"The 'hardware' parameter must be one of {_fmt_allowed(list_presets())}, a JSON path "
                f"or a dict. Got {text!r} instead.")
    else:
        raise ParameterError(
            f"The 'hardware' parameter must be a preset name, a JSON path or a dict. "
            f"Got {type(hardware).__name__} instead.")
    validate_hardware(spec)
    return spec


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _get(spec: Mapping[str, Any], path: str) -> Any:
    cur: Any = spec
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise ParameterError(f"{_owner(spec)} is missing the required field {path!r}.")
        cur = cur[part]
    return cur


def _num(spec, path, low=None, high=None, *, integer=False, low_inclusive=True):
    v = _get(spec, path)
    return check_range(_owner(spec), path, v, low, high, integer=integer, low_inclusive=low_inclusive)


def _known(spec: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    obj = spec if not path else _get(spec, path)
    if not isinstance(obj, dict):
        raise ParameterError(f"The {path!r} field of {_owner(spec)} must be an object. Got {obj!r} instead.")
    extra = sorted(set(obj) - allowed)
    if extra:
        where = f"the {path!r} section of " if path else ""
        raise ParameterError(
            f"Unknown field(s) {extra} in {where}{_owner(spec)}; allowed are {_fmt_allowed(sorted(allowed))}.")


def _table(spec, path: str) -> list[dict]:
    rows = _get(spec, path)
    if not isinstance(rows, list) or not rows:
        raise ParameterError(f"The {path!r} field of {_owner(spec)} must be a non-empty list. Got {rows!r} instead.")
    bits_seen = []
    for i, row in enumerate(rows):
        p = f"{path}[{i}]"
        if not isinstance(row, dict):
            raise ParameterError(f"The {p!r} field of {_owner(spec)} must be an object. Got {row!r} instead.")
        extra = sorted(set(row) - {"bits", "power_w", "sample_rate_hz", "area_um2"})
        if extra:
            raise ParameterError(f"Unknown field(s) {extra} in {p!r} of {_owner(spec)}; allowed are "
                                 "{'area_um2', 'bits', 'power_w', 'sample_rate_hz'}.")
        for key, lo, integer in (("bits", 1, True), ("power_w", 0.0, False),
                                 ("sample_rate_hz", 0.0, False), ("area_um2", 0.0, False)):
            if key not in row:
                raise ParameterError(f"{_owner(spec)} is missing the required field '{p}.{key}'.")
            check_range(_owner(spec), f"{p}.{key}", row[key], lo, None, integer=integer,
                        low_inclusive=key in ("bits", "power_w", "area_um2"))
        bits_seen.append(row["bits"])
    if len(set(bits_seen)) != len(bits_seen):
        raise ParameterError(f"The {path!r} table of {_owner(spec)} repeats a 'bits' value: {bits_seen}.")
    return sorted(rows, key=lambda r: r["bits"])


def validate_hardware(spec: Mapping[str, Any]) -> None:
    """Raise :class:`ParameterError` naming the first invalid field of ``spec``."""
    if not isinstance(spec, dict):
        raise ParameterError(f"A PIM hardware spec must be a dict. Got {type(spec).__name__} instead.")
    _known(spec, "", {"name", "description", "source", "device", "crossbar", "polarity", "subtraction",
                      "dac", "adc", "pe", "digital", "tile", "buffer", "chip", "quantization"})
    _known(spec, "device", {"cell_bits", "hrs_ohm", "lrs_ohm", "read_voltage_v", "read_latency_s", "area_um2",
                            "read_power_model", "variation", "stuck_at_hrs_rate", "stuck_at_lrs_rate"})
    _num(spec, "device.cell_bits", 1, 8, integer=True)
    hrs = _num(spec, "device.hrs_ohm", 0.0, None, low_inclusive=False)
    lrs = _num(spec, "device.lrs_ohm", 0.0, None, low_inclusive=False)
    if not hrs > lrs:
        raise ParameterError(
            f"The 'device.hrs_ohm' parameter of {_owner(spec)} must be larger than 'device.lrs_ohm' "
            f"({lrs!r}). Got {hrs!r} instead.")
    _num(spec, "device.read_voltage_v", 0.0, None, low_inclusive=False)
    _num(spec, "device.read_latency_s", 0.0, 1e-3, low_inclusive=False)
    _num(spec, "device.area_um2", 0.0, None, low_inclusive=False)
    _known(spec, "device.read_power_model", {"lrs_fraction", "input_activity"})
    _num(spec, "device.read_power_model.lrs_fraction", 0.0, 1.0)
    _num(spec, "device.read_power_model.input_activity", 0.0, 1.0)
    _known(spec, "device.variation", {"model", "sigma", "scope"})
    check_choice(_owner(spec), "device.variation.model", _get(spec, "device.variation.model"), _VARIATION_MODELS)
    if "scope" in spec["device"]["variation"]:
        check_choice(_owner(spec), "device.variation.scope", spec["device"]["variation"]["scope"], VARIATION_SCOPES)
    _num(spec, "device.variation.sigma", 0.0, 10.0)
    p_h = _num(spec, "device.stuck_at_hrs_rate", 0.0, 1.0)
    p_l = _num(spec, "device.stuck_at_lrs_rate", 0.0, 1.0)
    if p_h + p_l > 1.0:
        raise ParameterError(
            f"The stuck-at rates of {_owner(spec)} must sum to at most 1. Got {p_h!r} + {p_l!r} instead.")

    _known(spec, "crossbar", {"rows", "cols", "cell_type", "periphery_area_per_row_um2"})
    _num(spec, "crossbar.rows", 1, 65536, integer=True)
    _num(spec, "crossbar.cols", 1, 65536, integer=True)
    check_choice(_owner(spec), "crossbar.cell_type", _get(spec, "crossbar.cell_type"), ("1T1R", "0T1R"))
    _num(spec, "crossbar.periphery_area_per_row_um2", 0.0)
    check_choice(_owner(spec), "polarity", _get(spec, "polarity"), (1, 2))
    check_choice(_owner(spec), "subtraction", _get(spec, "subtraction"), ("analog", "digital"))

    for conv in ("dac", "adc"):
        allowed = {"bits", "extra_cycles", "table", "power_w", "sample_rate_hz", "area_um2"}
        if conv == "adc":
            allowed |= {"full_scale_fraction", "rule"}
        _known(spec, conv, allowed)
        _num(spec, f"{conv}.bits", 1, 16, integer=True)
        _num(spec, f"{conv}.extra_cycles", 0, 64, integer=True)
        _table(spec, f"{conv}.table")
        for key in ("power_w", "area_um2"):
            if key in spec[conv]:
                _num(spec, f"{conv}.{key}", 0.0)
        if "sample_rate_hz" in spec[conv]:
            _num(spec, f"{conv}.sample_rate_hz", 0.0, None, low_inclusive=False)
        interface_entry(spec, conv)  # bits inside the table range
    _num(spec, "adc.full_scale_fraction", 0.0, 1.0, low_inclusive=False)
    if "rule" in spec["adc"]:
        check_choice(_owner(spec), "adc.rule", spec["adc"]["rule"], ADC_RULES)

    _known(spec, "pe", {"crossbar_groups", "dacs_per_group", "adcs_per_group"})
    _num(spec, "pe.crossbar_groups", 1, 4096, integer=True)
    _num(spec, "pe.dacs_per_group", 1, 65536, integer=True)
    _num(spec, "pe.adcs_per_group", 1, 65536, integer=True)

    _known(spec, "digital", {"clock_hz", "decoder_stage_latency_s", "mux_stage_latency_s", "mux_transistor_power_w",
                             "mux_transistor_area_um2", "element_sum_latency_s", "register", "shift_register",
                             "adder", "joint_module"})
    _num(spec, "digital.clock_hz", 0.0, None, low_inclusive=False)
    for key in ("decoder_stage_latency_s", "mux_stage_latency_s", "mux_transistor_power_w",
                "mux_transistor_area_um2", "element_sum_latency_s"):
        _num(spec, f"digital.{key}", 0.0)
    for unit in ("register", "shift_register", "adder", "joint_module"):
        _known(spec, f"digital.{unit}", {"power_w", "area_um2", "reference_tech_nm", "tech_nm"})
        _num(spec, f"digital.{unit}.power_w", 0.0)
        _num(spec, f"digital.{unit}.area_um2", 0.0)
        _num(spec, f"digital.{unit}.reference_tech_nm", 1.0)
        _num(spec, f"digital.{unit}.tech_nm", 1.0)

    _known(spec, "tile", {"pe_rows", "pe_cols", "intra_bandwidth_bps", "inter_bandwidth_bps", "pooling"})
    _num(spec, "tile.pe_rows", 1, 1024, integer=True)
    _num(spec, "tile.pe_cols", 1, 1024, integer=True)
    _num(spec, "tile.intra_bandwidth_bps", 0.0, None, low_inclusive=False)
    _num(spec, "tile.inter_bandwidth_bps", 0.0, None, low_inclusive=False)
    _known(spec, "tile.pooling", {"units", "window", "power_w", "area_um2", "latency_s"})
    _num(spec, "tile.pooling.units", 1, None, integer=True)
    _num(spec, "tile.pooling.window", 1, None, integer=True)
    _num(spec, "tile.pooling.power_w", 0.0)
    _num(spec, "tile.pooling.area_um2", 0.0)
    _num(spec, "tile.pooling.latency_s", 0.0)

    _known(spec, "buffer", {"bitwidth_bits", "cycle_s", "pe_input_kb", "tile_output_kb", "technology_nm", "table"})
    _num(spec, "buffer.bitwidth_bits", 1, None, integer=True)
    _num(spec, "buffer.cycle_s", 0.0, None, low_inclusive=False)
    _num(spec, "buffer.pe_input_kb", 0.0)
    _num(spec, "buffer.tile_output_kb", 0.0)
    rows = _get(spec, "buffer.table")
    from archmodel.backends.numpy.pim import BUF_MAX_ROWS

    if not isinstance(rows, list) or not 1 <= len(rows) <= BUF_MAX_ROWS:
        raise ParameterError(
            f"The 'buffer.table' field of {_owner(spec)} must be a list of 1 to {BUF_MAX_ROWS} rows. Got {rows!r} instead.")
    last = 0.0
    for i, row in enumerate(rows):
        p = f"buffer.table[{i}]"
        if not isinstance(row, dict):
            raise ParameterError(f"The {p!r} field of {_owner(spec)} must be an object. Got {row!r} instead.")
        extra = sorted(set(row) - {"max_kb", "area_um2", "read_energy_j", "write_energy_j", "leakage_w"})
        if extra:
            raise ParameterError(f"Unknown field(s) {extra} in {p!r} of {_owner(spec)}.")
        mk = row.get("max_kb")
        if mk is not None:
            check_range(_owner(spec), f"{p}.max_kb", mk, last, None, low_inclusive=False)
            last = mk
        elif i != len(rows) - 1:
            raise ParameterError(f"Only the last row of 'buffer.table' of {_owner(spec)} may have max_kb=null.")
        for key in ("area_um2", "read_energy_j", "write_energy_j", "leakage_w"):
            if key not in row:
                raise ParameterError(f"{_owner(spec)} is missing the required field '{p}.{key}'.")
            check_range(_owner(spec), f"{p}.{key}", row[key], 0.0, None)

    _known(spec, "chip", {"tile_rows", "tile_cols", "placement"})
    _num(spec, "chip.tile_rows", 1, 100000, integer=True)
    _num(spec, "chip.tile_cols", 1, 100000, integer=True)
    check_choice(_owner(spec), "chip.placement", _get(spec, "chip.placement"), tuple(_PLACEMENTS))

    _known(spec, "quantization", {"weight_bits", "activation_bits"})
    _num(spec, "quantization.weight_bits", 2, 32, integer=True)
    _num(spec, "quantization.activation_bits", 2, 32, integer=True)


def interface_entry(spec: Mapping[str, Any], which: str) -> tuple[float, float, float]:
    """(power W, sample rate Hz, area um^2) of the spec's DAC or ADC at its ``bits``.

    Values come from the ``table`` row with that precision; between two rows power and area
    are interpolated geometrically (log-linear in bits) and the sample rate linearly; explicit
    ``power_w`` / ``sample_rate_hz`` / ``area_um2`` fields override the table.

    Raises
    ------
    ParameterError
        If ``bits`` lies outside the table's range and no explicit values are given.
    """
    conv = spec[which]
    bits = conv["bits"]
    rows = sorted(conv["table"], key=lambda r: r["bits"])
    by_bits = {r["bits"]: r for r in rows}
    explicit = all(k in conv for k in ("power_w", "sample_rate_hz", "area_um2"))
    if bits in by_bits:
        r = by_bits[bits]
        vals = [r["power_w"], r["sample_rate_hz"], r["area_um2"]]
    elif explicit:
        vals = [conv["power_w"], conv["sample_rate_hz"], conv["area_um2"]]
    else:
        lo = [r for r in rows if r["bits"] < bits]
        hi = [r for r in rows if r["bits"] > bits]
        if not lo or not hi:
            raise ParameterError(
                f"The '{which}.bits' parameter of {_owner(spec)} must lie within its table's range "
                f"[{rows[0]['bits']}, {rows[-1]['bits']}] (or give {which}.power_w, sample_rate_hz and "
                f"area_um2). Got {bits!r} instead.")
        a, b = lo[-1], hi[0]
        f = (bits - a["bits"]) / (b["bits"] - a["bits"])

        def geo(x: float, y: float) -> float:
            if x <= 0 or y <= 0:
                return x + f * (y - x)
            return math.exp(math.log(x) + f * (math.log(y) - math.log(x)))

        vals = [geo(a["power_w"], b["power_w"]), a["sample_rate_hz"] + f * (b["sample_rate_hz"] - a["sample_rate_hz"]),
                geo(a["area_um2"], b["area_um2"])]
    for i, key in enumerate(("power_w", "sample_rate_hz", "area_um2")):
        if key in conv:
            vals[i] = conv[key]
    return float(vals[0]), float(vals[1]), float(vals[2])


# --------------------------------------------------------------------------------------------
# overrides
# --------------------------------------------------------------------------------------------
def apply_overrides(spec: Mapping[str, Any], overrides: Mapping[str, Any], *, validate: bool = True) -> dict:
    """A copy of ``spec`` with ``overrides`` applied.

    Keys are dotted paths (``"adc.bits"``, ``"pe.adcs_per_group"``) or the short aliases of
    :data:`OVERRIDE_ALIASES` (``adc_bits``, ``xbar_size`` sets rows and cols, ...). Only the
    sections on the paths are copied, so this is cheap enough for sweeps.
    """
    out = dict(spec)
    for key, value in overrides.items():
        paths = OVERRIDE_ALIASES.get(key, (key,))
        for path in paths:
            parts = path.split(".")
            cur = out
            for depth, part in enumerate(parts[:-1]):
                nxt = cur.get(part)
                if not isinstance(nxt, dict):
                    raise ParameterError(
                        f"Cannot override {key!r}: {'.'.join(parts[:depth + 1])!r} is not a section of "
                        f"{_owner(spec)}. Short names: {sorted(OVERRIDE_ALIASES)}.")
                nxt = dict(nxt)
                cur[part] = nxt
                cur = nxt
            if parts[-1] not in cur and path not in _OPTIONAL_LEAVES:
                raise ParameterError(
                    f"Cannot override {key!r}: {_owner(spec)} has no field {path!r}. "
                    f"Short names: {sorted(OVERRIDE_ALIASES)}.")
            if isinstance(cur.get(parts[-1]), (dict, list)):
                raise ParameterError(f"Cannot override {key!r}: {path!r} is a section, not a value.")
            cur[parts[-1]] = value
    if validate:
        validate_hardware(out)
    return out


def cross_check(spec: Mapping[str, Any]) -> None:
    """The checks that involve several fields (cheap; used after per-field validation)."""
    d = spec["device"]
    if not d["hrs_ohm"] > d["lrs_ohm"]:
        raise ParameterError(
            f"The 'device.hrs_ohm' parameter of {_owner(spec)} must be larger than 'device.lrs_ohm' "
            f"({d['lrs_ohm']!r}). Got {d['hrs_ohm']!r} instead.")
    if d["stuck_at_hrs_rate"] + d["stuck_at_lrs_rate"] > 1.0:
        raise ParameterError(f"The stuck-at rates of {_owner(spec)} must sum to at most 1.")
    interface_entry(spec, "dac")
    interface_entry(spec, "adc")


def apply_overrides_many(spec: Mapping[str, Any], overrides: list[Mapping[str, Any]]) -> list[dict]:
    """:func:`apply_overrides` for many override dicts, validating each distinct (key, value)
    once against ``spec`` and only the cross-field rules per combination (fast sweeps)."""
    seen: set = set()
    out = []
    for o in overrides:
        for k, v in o.items():
            key = (k, repr(v))
            if key not in seen:
                apply_overrides(spec, {k: v}, validate=True)
                seen.add(key)
        s = apply_overrides(spec, o, validate=False)
        cross_check(s)
        out.append(s)
    return out


# --------------------------------------------------------------------------------------------
# the flat vector
# --------------------------------------------------------------------------------------------
def _scaled(unit: Mapping[str, Any]) -> tuple[float, float]:
    f = (unit["tech_nm"] / unit["reference_tech_nm"]) ** 2
    return unit["power_w"] * f, unit["area_um2"] * f


def cell_read_power(spec: Mapping[str, Any]) -> float:
    """Behaviour-level read power of one activated cell (W): V^2 x activity x mean conductance."""
    d = spec["device"]
    m = d["read_power_model"]
    g = m["lrs_fraction"] / d["lrs_ohm"] + (1.0 - m["lrs_fraction"]) / d["hrs_ohm"]
    return d["read_voltage_v"] ** 2 * m["input_activity"] * g


def conversion_latency_s(spec: Mapping[str, Any], which: str) -> float:
    """Latency of one DAC or ADC conversion (s): (bits + extra_cycles) / rate; 1/rate for 1-bit ADCs."""
    conv = spec[which]
    _, rate, _ = interface_entry(spec, which)
    if which == "adc" and conv["bits"] == 1:
        return 1.0 / rate
    return (conv["bits"] + conv["extra_cycles"]) / rate


def hardware_vector(spec: Mapping[str, Any]) -> np.ndarray:
    """The float64 vector (``H_*`` fields of ``backends.numpy.pim``) for a validated spec.

    Returns
    -------
    ndarray of float64, shape (HW_FIELDS,)
    """
    from archmodel.backends.numpy import pim as K

    hw = np.zeros(K.HW_FIELDS)
    d, xb = spec["device"], spec["crossbar"]
    hw[K.H_ROWS] = xb["rows"]
    hw[K.H_COLS] = xb["cols"]
    hw[K.H_CELL_BITS] = d["cell_bits"]
    hw[K.H_POLARITY] = spec["polarity"]
    hw[K.H_SUB_DIGITAL] = 1.0 if (spec["subtraction"] == "digital" and spec["polarity"] == 2) else 0.0
    pe = spec["pe"]
    hw[K.H_GROUPS] = pe["crossbar_groups"]
    hw[K.H_DACS] = min(pe["dacs_per_group"], xb["rows"])
    hw[K.H_ADCS] = min(pe["adcs_per_group"], xb["cols"])
    p, _, a = interface_entry(spec, "dac")
    hw[K.H_DAC_BITS] = spec["dac"]["bits"]
    hw[K.H_DAC_LAT] = conversion_latency_s(spec, "dac") * 1e9
    hw[K.H_DAC_POWER] = p
    hw[K.H_DAC_AREA] = a
    p, _, a = interface_entry(spec, "adc")
    hw[K.H_ADC_BITS] = spec["adc"]["bits"]
    hw[K.H_ADC_LAT] = conversion_latency_s(spec, "adc") * 1e9
    hw[K.H_ADC_POWER] = p
    hw[K.H_ADC_AREA] = a
    hw[K.H_XBAR_LAT] = d["read_latency_s"] * 1e9
    hw[K.H_CELL_POWER] = cell_read_power(spec)
    hw[K.H_XBAR_AREA] = (xb["rows"] * xb["cols"] * d["area_um2"]
                         + xb["periphery_area_per_row_um2"] * xb["rows"])
    dig = spec["digital"]
    hw[K.H_PERIOD] = 1e9 / dig["clock_hz"]
    hw[K.H_DEC_STAGE] = dig["decoder_stage_latency_s"] * 1e9
    hw[K.H_MUX_STAGE] = dig["mux_stage_latency_s"] * 1e9
    hw[K.H_TR_POWER] = dig["mux_transistor_power_w"]
    hw[K.H_TR_AREA] = dig["mux_transistor_area_um2"]
    hw[K.H_REG_POWER], hw[K.H_REG_AREA] = _scaled(dig["register"])
    hw[K.H_SR_POWER], hw[K.H_SR_AREA] = _scaled(dig["shift_register"])
    hw[K.H_ADDER_POWER], hw[K.H_ADDER_AREA] = _scaled(dig["adder"])
    hw[K.H_JM_POWER], hw[K.H_JM_AREA] = _scaled(dig["joint_module"])
    hw[K.H_ESUM_LAT] = dig["element_sum_latency_s"] * 1e9
    tile = spec["tile"]
    hw[K.H_PE_ROWS] = tile["pe_rows"]
    hw[K.H_PE_COLS] = tile["pe_cols"]
    hw[K.H_INTER_BW] = tile["inter_bandwidth_bps"] * 1e-9
    hw[K.H_INTRA_BW] = tile["intra_bandwidth_bps"] * 1e-9
    pool = tile["pooling"]
    hw[K.H_POOL_UNITS] = pool["units"]
    hw[K.H_POOL_WINDOW] = pool["window"]
    hw[K.H_POOL_POWER] = pool["power_w"]
    hw[K.H_POOL_AREA] = pool["area_um2"]
    hw[K.H_POOL_LAT] = pool["latency_s"] * 1e9
    chip = spec["chip"]
    hw[K.H_TILE_ROWS] = chip["tile_rows"]
    hw[K.H_TILE_COLS] = chip["tile_cols"]
    hw[K.H_PLACEMENT] = _PLACEMENTS[chip["placement"]]
    buf = spec["buffer"]
    hw[K.H_BUF_WIDTH] = buf["bitwidth_bits"]
    hw[K.H_BUF_CYCLE] = buf["cycle_s"] * 1e9
    hw[K.H_INBUF_KB] = buf["pe_input_kb"]
    hw[K.H_OUTBUF_KB] = buf["tile_output_kb"]
    rows = buf["table"]
    hw[K.H_BUF_N] = len(rows)
    for r, row in enumerate(rows):
        base = K.H_BUF0 + K.BUF_COLS * r
        hw[base] = np.inf if row["max_kb"] is None else row["max_kb"]
        hw[base + 1] = row["area_um2"]
        hw[base + 2] = row["read_energy_j"] * 1e9
        hw[base + 3] = row["write_energy_j"] * 1e9
        hw[base + 4] = row["leakage_w"]
    return hw
