"""PIM kernels, jitted.

* The cost-model kernels (:func:`cost_model`, :func:`cost_model_batch` and their helpers) are
  the reference code of ``archmodel.backends.numpy.pim`` compiled by Numba: each function is
  rebuilt from the reference function's code object with a private globals dict in which the
  helpers are the jitted versions, so the two backends cannot drift apart (the tests still
  compare them).
* :func:`bitsliced_mvm` is a separate explicit-loop kernel (the reference is vectorised
  NumPy); parallel over output rows.
"""
from __future__ import annotations

import math
import types

import numba
import numpy as np

from archmodel.backends.numba._jit import njit
from archmodel.backends.numpy import pim as _ref

# re-export the layout constants
for _name in dir(_ref):
    if _name.isupper():
        globals()[_name] = getattr(_ref, _name)

_HELPERS = (
    "_ceil_div", "_ceil_log2", "_stages8", "_mux_factor", "_buf_lat", "_buf_row", "_buf_read_power",
    "_buf_write_power", "_buf_area", "_pow2_kb", "_input_demux", "_output_mux", "pe_latency_parts",
    "_hui_position", "place_tiles", "_row_major_order", "_extremes", "_max_manhattan", "_reset_ext", "_consumes", "layer_distances", "_esum_source",
    "_acc_lat", "cost_model", "cost_model_batch",
)

_g: dict = {"math": math, "np": np}
for _name in dir(_ref):
    if _name.isupper():
        _g[_name] = getattr(_ref, _name)
for _name in _HELPERS:
    _fn = getattr(_ref, _name)
    _clone = types.FunctionType(_fn.__code__, _g, _fn.__name__, _fn.__defaults__, _fn.__closure__)
    _clone.__doc__ = _fn.__doc__
    # cache=False: these functions are rebuilt at import time from another module's code
    _g[_name] = njit(cache=False)(_clone)

_ceil_div = _g["_ceil_div"]
pe_latency_parts = _g["pe_latency_parts"]
place_tiles = _g["place_tiles"]
layer_distances = _g["layer_distances"]
cost_model = _g["cost_model"]
cost_model_batch = _g["cost_model_batch"]


_BLOCK = 16  # output rows processed together, so each weight row is reused from cache


@njit(parallel=True)
def _mvm_kernel(x, wf, s_count, n_count, coef, n_in_slices, dac_bits, chunk_bounds, adc_step, adc_max):
    p_count = x.shape[0]
    sn = s_count * n_count
    out = np.zeros((p_count, n_count))
    mask = (1 << dac_bits) - 1
    n_chunks = chunk_bounds.shape[0] - 1
    n_blocks = (p_count + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(n_blocks):
        p0 = blk * _BLOCK
        p1 = min(p0 + _BLOCK, p_count)
        nb = p1 - p0
        acc = np.empty((nb, sn), dtype=np.float32)
        digit = np.empty(nb, dtype=np.float32)
        active = np.empty(nb, dtype=np.bool_)
        for c in range(n_chunks):
            k0 = chunk_bounds[c]
            k1 = chunk_bounds[c + 1]
            step = adc_step[c]
            for i in range(n_in_slices):
                acc[:, :] = 0.0
                any_active = False
                for b in range(nb):
                    active[b] = False
                for k in range(k0, k1):
                    row_used = False
                    for b in range(nb):
                        v = x[p0 + b, k]
                        dg = 0
                        if v > 0:
                            dg = (v >> (i * dac_bits)) & mask
                        elif v < 0:
                            dg = -(((-v) >> (i * dac_bits)) & mask)
                        digit[b] = np.float32(dg)
                        if dg != 0:
                            row_used = True
                    if not row_used:
                        continue
                    any_active = True
                    for b in range(nb):
                        d = digit[b]
                        if d != 0.0:
                            active[b] = True
                            for t in range(sn):
                                acc[b, t] += d * wf[k, t]
                if not any_active:
                    continue
                shift = float(2 ** (i * dac_bits))
                for b in range(nb):
                    if not active[b]:
                        continue
                    for s in range(s_count):
                        cs = coef[s] * shift
                        base = s * n_count
                        for n in range(n_count):
                            q = math.floor(acc[b, base + n] / step + 0.5)
                            if q > adc_max:
                                q = adc_max
                            elif q < -adc_max:
                                q = -adc_max
                            out[p0 + b, n] += cs * (q * step)
    return out


def bitsliced_mvm(x, w, coef, n_in_slices, dac_bits, chunk_bounds, adc_step, adc_max):
    """Bit-sliced crossbar matrix product with an ADC on every partial sum (jitted).

    Same contract as ``archmodel.backends.numpy.pim.bitsliced_mvm``: ``x`` (P, K) int64,
    ``w`` (K, S, N) (used as float32), ``coef`` (S,), ``chunk_bounds`` (C + 1,), ``adc_step`` (C,);
    returns (P, N) float64.
    """
    k_count, s_count, n_count = w.shape
    wf = np.ascontiguousarray(w, dtype=np.float32).reshape(k_count, s_count * n_count)
    return _mvm_kernel(np.ascontiguousarray(x, dtype=np.int64), wf, s_count, n_count,
                       np.ascontiguousarray(coef, dtype=np.float64), int(n_in_slices), int(dac_bits),
                       np.ascontiguousarray(chunk_bounds, dtype=np.int64),
                       np.ascontiguousarray(adc_step, dtype=np.float64), float(adc_max))
