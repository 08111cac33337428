"""Memristor (ReRAM) crossbar processing-in-memory simulator.

Behaviour-level cost model (MNSIM 2.0's formulas: mapping, pipelined latency, energy, power,
area; Numba-jitted) and a bit-sliced functional simulation for accuracy under device
non-idealities. Hardware is described by JSON specs (``specs/pim/``); see docs/pim.md.

Examples
--------
>>> from archmodel.pim import simulate
>>> r = simulate("vgg8", "mnsim-default", backend="numpy")
>>> (r.crossbars, round(r.latency_s * 1e3, 2), round(r.energy_j * 1e3, 2))
(1272, 5.15, 4.45)
"""
from __future__ import annotations

from archmodel.pim.model import (
    BatchResult,
    HardwareSet,
    LayerResult,
    SimulationResult,
    prepare_hardware,
    prepare_network,
    simulate,
    simulate_batch,
)
from archmodel.pim.network import (
    BUILTIN_NETWORKS,
    Conv,
    ElementSum,
    Linear,
    Pool,
    builtin_network,
    layers_from_dicts,
    resolve_network,
)
from archmodel.pim.spec import (
    OVERRIDE_ALIASES,
    apply_overrides,
    hardware_vector,
    list_presets,
    load_hardware,
    validate_hardware,
)

__all__ = [
    "simulate",
    "simulate_batch",
    "SimulationResult",
    "LayerResult",
    "BatchResult",
    "prepare_network",
    "prepare_hardware",
    "HardwareSet",
    "Conv",
    "Linear",
    "Pool",
    "ElementSum",
    "BUILTIN_NETWORKS",
    "builtin_network",
    "layers_from_dicts",
    "resolve_network",
    "list_presets",
    "load_hardware",
    "validate_hardware",
    "apply_overrides",
    "hardware_vector",
    "OVERRIDE_ALIASES",
    "unit_costs",
    "layers_from_network",
    "map_network",
    "pim_accuracy",
]

#: archmodel-network support, imported on first use (keeps ``import archmodel.pim`` light)
_CONV_NETWORK = ("layers_from_network", "map_network", "pim_accuracy")


def __getattr__(name):
    if name in _CONV_NETWORK:
        from archmodel.pim import conv_network

        return getattr(conv_network, name)
    raise AttributeError(f"module 'archmodel.pim' has no attribute {name!r}")


def unit_costs(hardware="mnsim-default", *, read_rows=None, read_cols=None, input_bits=8):
    """Unit-level numbers of a configuration (SI units).

    Returns a dict with the crossbar read latency/power/energy (all rows and columns active),
    one ADC and one DAC conversion (latency, energy), and one PE pass of an ``input_bits``
    input over ``read_rows`` x ``read_cols`` cells (default: the full crossbar), without
    buffers: MNSIM's ``PE_latency_analysis``.
    """
    import numpy as np

    from archmodel.backends.numpy import pim as K
    from archmodel.pim.spec import conversion_latency_s, interface_entry

    spec = load_hardware(hardware)
    hw = hardware_vector(spec)
    rows = int(hw[K.H_ROWS]) if read_rows is None else int(read_rows)
    cols = int(hw[K.H_COLS]) if read_cols is None else int(read_cols)
    xbar_power = rows * cols * hw[K.H_CELL_POWER]
    xbar_lat = hw[K.H_XBAR_LAT] * 1e-9
    adc_p, adc_rate, adc_area = interface_entry(spec, "adc")
    dac_p, dac_rate, dac_area = interface_entry(spec, "dac")
    adc_lat = conversion_latency_s(spec, "adc")
    dac_lat = conversion_latency_s(spec, "dac")
    part = np.zeros(11)
    K.pe_latency_parts(hw, rows, cols, int(input_bits), part)
    return {
        "crossbar_read_latency_s": xbar_lat,
        "crossbar_read_power_w": xbar_power,
        "crossbar_read_energy_j": xbar_power * xbar_lat,
        "adc_latency_s": adc_lat, "adc_power_w": adc_p, "adc_energy_j": adc_p * adc_lat, "adc_area_um2": adc_area,
        "dac_latency_s": dac_lat, "dac_power_w": dac_p, "dac_energy_j": dac_p * dac_lat, "dac_area_um2": dac_area,
        "pe_pass_latency_s": part[10] * 1e-9,
        "pe_pass_breakdown_s": {k: part[i] * 1e-9 for i, k in enumerate(
            ("crossbar", "dac", "adc", "input_reg", "shift_reg", "input_demux", "adder", "output_mux", "output_reg"))},
        "pe_pass_rounds": int(part[9]),
    }
