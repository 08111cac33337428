"""Behaviour-level cost model of a memristor PIM accelerator (MNSIM 2.0's model).

:func:`simulate` maps a network onto crossbars, PEs and tiles, places the tiles on the chip,
runs the pixel-level layer pipeline, and returns latency, energy, power, area and EDP with
per-layer and per-component breakdowns. :func:`simulate_batch` evaluates many hardware
configurations for one network in a single kernel call.

The formulas and their MNSIM 2.0 sources are listed in docs/pim.md.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from archmodel.errors import InvalidArchitectureError, ParameterError
from archmodel.pim.loading import load_network
from archmodel.pim.network import BUILTIN_NETWORKS, ResolvedLayer, network_array, resolve_network
from archmodel.pim.spec import apply_overrides_many, hardware_vector, load_hardware

log = logging.getLogger(__name__)

__all__ = ["LayerResult", "SimulationResult", "BatchResult", "HardwareSet", "simulate", "simulate_batch",
           "prepare_network", "prepare_hardware"]


@dataclass
class LayerResult:
    """Costs of one layer (SI units)."""

    index: int
    kind: str
    description: str
    crossbars: int
    pes: int
    tiles: int
    utilization: float
    pixels: int
    start_s: float
    finish_s: float
    pixel_latency_s: float
    energy_j: float
    power_w: float
    area_mm2: float
    energy_breakdown_j: dict[str, float]

    @property
    def latency_s(self) -> float:
        """Time from the layer's first pixel start to its last pixel end (s)."""
        return self.finish_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "type": self.kind, "description": self.description,
            "crossbars": self.crossbars, "pes": self.pes, "tiles": self.tiles,
            "utilization": self.utilization, "pixels": self.pixels,
            "start_s": self.start_s, "finish_s": self.finish_s, "latency_s": self.latency_s,
            "pixel_latency_s": self.pixel_latency_s, "energy_j": self.energy_j,
            "power_w": self.power_w, "area_mm2": self.area_mm2,
            "energy_breakdown_j": dict(self.energy_breakdown_j),
        }


@dataclass
class SimulationResult:
    """Result of :func:`simulate` (SI units: s, J, W, mm^2, J*s).

    ``crossbars`` counts crossbars the way MNSIM 2.0 does (one per weight-slice tile of a layer's
    matrix; a positive/negative pair counts once); ``physical_crossbars`` counts arrays.
    """

    crossbars: int
    physical_crossbars: int
    pes: int
    tiles: int
    latency_s: float
    energy_j: float
    area_mm2: float
    edp_js: float
    power_w: float
    peak_power_w: float
    utilization: float
    energy_breakdown_j: dict[str, float]
    area_breakdown_mm2: dict[str, float]
    layers: list[LayerResult]
    hardware: str = ""
    network: str = ""
    backend: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``crossbars``, ``latency_s``, ``energy_j``, ``area_mm2``, ``edp_js``,
        ``layers`` (list of dicts) and the breakdowns."""
        return {
            "crossbars": self.crossbars, "physical_crossbars": self.physical_crossbars,
            "pes": self.pes, "tiles": self.tiles,
            "latency_s": self.latency_s, "energy_j": self.energy_j, "area_mm2": self.area_mm2,
            "edp_js": self.edp_js, "power_w": self.power_w, "peak_power_w": self.peak_power_w,
            "utilization": self.utilization,
            "energy_breakdown_j": dict(self.energy_breakdown_j),
            "area_breakdown_mm2": dict(self.area_breakdown_mm2),
            "hardware": self.hardware, "network": self.network,
            "layers": [l.to_dict() for l in self.layers],
            "notes": dict(self.notes),
        }


@dataclass
class BatchResult:
    """Result of :func:`simulate_batch`: one entry per configuration (arrays, SI units)."""

    crossbars: np.ndarray
    physical_crossbars: np.ndarray
    tiles: np.ndarray
    latency_s: np.ndarray
    energy_j: np.ndarray
    area_mm2: np.ndarray
    edp_js: np.ndarray
    power_w: np.ndarray
    peak_power_w: np.ndarray
    utilization: np.ndarray
    ok: np.ndarray
    layer_latency_s: np.ndarray
    layer_energy_j: np.ndarray

    def __len__(self) -> int:
        return int(self.latency_s.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {k: v.tolist() for k, v in self.__dict__.items()}


# --------------------------------------------------------------------------------------------
def _backend(backend: str | None):
    from archmodel.backends import get_backend

    return get_backend(backend)


@lru_cache(maxsize=64)
def _builtin_prepared(name: str, in_bits: int, w_bits: int) -> tuple[tuple[ResolvedLayer, ...], np.ndarray]:
    layers = resolve_network(load_network(name), in_bits=in_bits, weight_bits=w_bits)
    arr = network_array(layers)
    arr.setflags(write=False)
    return tuple(layers), arr


def prepare_network(network: Any, spec: Mapping[str, Any]) -> tuple[list[ResolvedLayer], np.ndarray, str]:
    """Resolve ``network`` (built-in name, layer list, JSON layer-list path, archmodel
    :class:`~archmodel.conv.network.Network` or saved ``.npz`` Network) with the spec's bit widths.
    Built-in networks are resolved once per bit widths and kept; files are read on every call.

    Returns
    -------
    (layers, table, label)
        ``table`` is the int64 (n_layers, NET_FIELDS) array of ``backends.numpy.pim``.
    """
    q = spec["quantization"]
    if isinstance(network, str) and network in BUILTIN_NETWORKS:
        layers, arr = _builtin_prepared(network, q["activation_bits"], q["weight_bits"])
        return list(layers), arr, network
    layers = resolve_network(load_network(network), in_bits=q["activation_bits"], weight_bits=q["weight_bits"])
    label = network if isinstance(network, str) else f"{len(layers)}-layer list"
    return layers, network_array(layers), label


def _check_errors(tot: np.ndarray, spec: Mapping[str, Any], K) -> None:
    err = int(tot[K.T_ERROR])
    if err == 1:
        raise InvalidArchitectureError(
            f"The network needs {int(tot[K.T_TILES])} tiles but the chip of {spec.get('name')!r} has "
            f"{int(tot[K.T_TILES_AVAIL])} (chip.tile_rows x chip.tile_cols): enlarge the chip.")
    if err == 2:
        raise InvalidArchitectureError(
            f"A convolution kernel (k*k rows per input channel) does not fit the "
            f"{spec['crossbar']['rows']}-row crossbars of {spec.get('name')!r}.")


def simulate(network: Any, hardware: Any = "mnsim-default", *, backend: str | None = None) -> SimulationResult:
    """Behaviour-level estimate of one network on one PIM configuration.

    Parameters
    ----------
    network : str, sequence or Network
        ``'vgg8'`` (MNSIM's reference), ``'alexnet'``, ``'vgg16'``, ``'resnet18'``, a list of
        :class:`~archmodel.pim.network.Conv` / ``Linear`` / ``Pool`` / ``ElementSum`` layers,
        a list of layer dicts, a path to a JSON layer list, an archmodel
        :class:`~archmodel.conv.network.Network` or a path to one saved as ``.npz``
        (mapped by :func:`archmodel.pim.conv_network.layers_from_network`).
    hardware : str or dict
        Preset name, JSON path or spec dict (see ``specs/pim/README.md``).
    backend : {'numpy', 'numba'}, optional
        Kernel backend (default: resolved by :mod:`archmodel.config`).

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> from archmodel.pim import simulate
    >>> r = simulate("vgg8", "mnsim-default", backend="numpy")
    >>> r.crossbars
    1272
    """
    spec = load_hardware(hardware)
    layers, net, label = prepare_network(network, spec)
    be = _backend(backend)
    from archmodel.backends.numpy import pim as K

    hw = hardware_vector(spec)
    tot = np.zeros(K.TOT_FIELDS)
    lay = np.zeros((len(layers), K.LAYER_FIELDS))
    be.pim.cost_model(net, hw, tot, lay)
    _check_errors(tot, spec, K)
    return _to_result(tot, lay, layers, spec, label, be.name)


def _to_result(tot, lay, layers, spec, label, backend_name) -> SimulationResult:
    from archmodel.backends.numpy import pim as K

    ns, nj, um2 = 1e-9, 1e-9, 1e-6
    out_layers = []
    for i, r in enumerate(layers):
        row = lay[i]
        eb = {"crossbar": row[K.L_E_XBAR] * nj, "adc": row[K.L_E_ADC] * nj, "dac": row[K.L_E_DAC] * nj,
              "digital": row[K.L_E_DIGITAL] * nj, "buffer": row[K.L_E_BUFFER] * nj,
              "pooling": row[K.L_E_POOL] * nj}
        out_layers.append(LayerResult(
            index=i, kind=r.kind, description=r.describe(), crossbars=int(row[K.L_CROSSBARS]),
            pes=int(row[K.L_PES]), tiles=int(row[K.L_TILES]), utilization=float(row[K.L_UTIL]),
            pixels=int(row[K.L_PIXELS]), start_s=float(row[K.L_BEGIN] * ns),
            finish_s=float(row[K.L_FINISH] * ns), pixel_latency_s=float(row[K.L_PIXEL_LAT] * ns),
            energy_j=float(row[K.L_ENERGY] * nj), power_w=float(row[K.L_POWER]),
            area_mm2=float(row[K.L_AREA] * um2), energy_breakdown_j=eb))
    latency = float(tot[K.T_LATENCY] * ns)
    energy = float(tot[K.T_ENERGY] * nj)
    return SimulationResult(
        crossbars=int(tot[K.T_CROSSBARS]), physical_crossbars=int(tot[K.T_PHYS_XBARS]),
        pes=int(tot[K.T_PES]), tiles=int(tot[K.T_TILES]), latency_s=latency, energy_j=energy,
        area_mm2=float(tot[K.T_AREA] * um2), edp_js=energy * latency,
        power_w=energy / latency if latency > 0 else 0.0, peak_power_w=float(tot[K.T_PEAK_POWER]),
        utilization=float(tot[K.T_UTIL]),
        energy_breakdown_j={"crossbar": tot[K.T_E_XBAR] * nj, "adc": tot[K.T_E_ADC] * nj,
                            "dac": tot[K.T_E_DAC] * nj, "digital": tot[K.T_E_DIGITAL] * nj,
                            "buffer": tot[K.T_E_BUFFER] * nj, "pooling": tot[K.T_E_POOL] * nj},
        area_breakdown_mm2={"crossbar": tot[K.T_A_XBAR] * um2, "adc": tot[K.T_A_ADC] * um2,
                            "dac": tot[K.T_A_DAC] * um2, "digital": tot[K.T_A_DIGITAL] * um2,
                            "buffer": tot[K.T_A_BUFFER] * um2, "pooling": tot[K.T_A_POOL] * um2},
        layers=out_layers, hardware=str(spec.get("name", "")), network=label, backend=backend_name,
        notes={"pe_input_buffer_kb": float(tot[K.T_INBUF_KB]), "tile_output_buffer_kb": float(tot[K.T_OUTBUF_KB]),
               "pipeline": "pixel-level inter-layer pipeline (MNSIM calculate_model_latency, mode=1)"})


@dataclass(frozen=True)
class HardwareSet:
    """Hardware configurations prepared once for many :func:`simulate_batch` calls.

    Built by :func:`prepare_hardware`; holds the validated specs and their kernel vectors,
    grouped by bit widths (the network's layer table depends on them). Reusing one set over
    many networks (a design-space sweep, a co-exploration search) skips the spec handling.
    """

    specs: tuple[dict, ...]
    groups: tuple[tuple[tuple[int, int], np.ndarray, np.ndarray], ...]  # ((a_bits, w_bits), indices, hws)

    def __len__(self) -> int:
        return len(self.specs)

    def take(self, indices: Sequence[int] | np.ndarray) -> "HardwareSet":
        """The configurations ``indices`` (in that order) as a set of their own, without
        validating or vectorising anything again."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        groups = []
        for bits, idx, hws in self.groups:
            pos = {int(j): p for p, j in enumerate(idx)}
            take = [(k, pos[int(j)]) for k, j in enumerate(indices) if int(j) in pos]
            if take:
                groups.append((bits, np.array([k for k, _ in take], dtype=np.int64), hws[[p for _, p in take]]))
        return HardwareSet(tuple(self.specs[int(i)] for i in indices), tuple(groups))


def prepare_hardware(hardwares: Iterable[Any] | None = None, *, base: Any = "mnsim-default",
                     overrides: Sequence[Mapping[str, Any]] | None = None) -> HardwareSet:
    """Validate configurations once (arguments as in :func:`simulate_batch`)."""
    if (hardwares is None) == (overrides is None):
        raise ParameterError("simulate_batch / prepare_hardware need exactly one of 'hardwares' or 'overrides'.")
    if overrides is not None:
        base_spec = load_hardware(base)
        specs = apply_overrides_many(base_spec, [dict(o) for o in overrides])
    else:
        specs = [load_hardware(h) for h in hardwares]
    if not specs:
        raise ParameterError("simulate_batch / prepare_hardware need at least one hardware configuration.")
    by_bits: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(specs):
        q = s["quantization"]
        by_bits.setdefault((q["activation_bits"], q["weight_bits"]), []).append(i)
    groups = []
    for bits, idx in by_bits.items():
        hws = np.stack([hardware_vector(specs[i]) for i in idx])
        hws.setflags(write=False)
        groups.append((bits, np.asarray(idx, dtype=np.int64), hws))
    return HardwareSet(tuple(specs), tuple(groups))


def simulate_batch(network: Any, hardwares: Iterable[Any] | HardwareSet | None = None, *,
                   base: Any = "mnsim-default", overrides: Sequence[Mapping[str, Any]] | None = None,
                   backend: str | None = None, raise_on_error: bool = False) -> BatchResult:
    """Evaluate many hardware configurations for one network in one kernel call.

    Parameters
    ----------
    network : str, sequence or Network
        As in :func:`simulate`.
    hardwares : iterable of (str or dict), or HardwareSet, optional
        Full specs (preset names, paths or dicts), or a set from :func:`prepare_hardware`.
    base : str or dict
        With ``overrides``: the spec every configuration starts from.
    overrides : sequence of dict, optional
        One dict per configuration, e.g. ``{"adc_bits": 5, "xbar_size": 128}`` (see
        :data:`archmodel.pim.spec.OVERRIDE_ALIASES`). Give ``hardwares`` or ``overrides``.
    raise_on_error : bool
        If False (default), configurations the network does not fit get NaN results and
        ``ok=False``; if True the first such configuration raises.

    Returns
    -------
    BatchResult
        Arrays of shape (n_configs,) (``layer_*`` arrays: (n_configs, n_layers)).
    """
    from archmodel.backends.numpy import pim as K

    hs = hardwares if isinstance(hardwares, HardwareSet) else prepare_hardware(hardwares, base=base,
                                                                                overrides=overrides)
    specs = hs.specs
    n = len(specs)
    be = _backend(backend)
    n_layers = None
    tot_all = np.zeros((n, K.TOT_FIELDS))
    lay_all = None
    for _bits, idx, hws in hs.groups:
        layers, net, _ = prepare_network(network, specs[idx[0]])
        if lay_all is None:
            n_layers = len(layers)
            lay_all = np.zeros((n, n_layers, K.LAYER_FIELDS))
        tot = np.zeros((len(idx), K.TOT_FIELDS))
        lay = np.zeros((len(idx), n_layers, K.LAYER_FIELDS))
        be.pim.cost_model_batch(net, hws, tot, lay)
        tot_all[idx] = tot
        lay_all[idx] = lay
    ok = tot_all[:, K.T_ERROR] == 0
    if raise_on_error and not ok.all():
        first = int(np.flatnonzero(~ok)[0])
        _check_errors(tot_all[first], specs[first], K)
    lat = tot_all[:, K.T_LATENCY] * 1e-9
    en = tot_all[:, K.T_ENERGY] * 1e-9
    bad = ~ok

    def masked(a: np.ndarray) -> np.ndarray:
        a = a.astype(float).copy()
        a[bad] = np.nan
        return a

    with np.errstate(invalid="ignore", divide="ignore"):
        power = np.where(lat > 0, en / np.where(lat > 0, lat, 1.0), 0.0)
    return BatchResult(
        crossbars=tot_all[:, K.T_CROSSBARS].astype(np.int64),
        physical_crossbars=tot_all[:, K.T_PHYS_XBARS].astype(np.int64),
        tiles=tot_all[:, K.T_TILES].astype(np.int64),
        latency_s=masked(lat), energy_j=masked(en), area_mm2=masked(tot_all[:, K.T_AREA] * 1e-6),
        edp_js=masked(en * lat), power_w=masked(power), peak_power_w=masked(tot_all[:, K.T_PEAK_POWER]),
        utilization=tot_all[:, K.T_UTIL].copy(), ok=ok,
        layer_latency_s=(lay_all[:, :, K.L_FINISH] - lay_all[:, :, K.L_BEGIN]) * 1e-9,
        layer_energy_j=lay_all[:, :, K.L_ENERGY] * 1e-9)

