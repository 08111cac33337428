"""PIM (memristor crossbar) kernels: the reference implementation.

Two kernel families live here:

* the **behaviour-level cost model** (:func:`cost_model`), plain loops over layers, tiles and
  output pixels that follow MNSIM 2.0's mapping, placement, pipelined latency, power, energy and
  area formulas (docs/pim.md lists every formula and its source). The loops use only scalars
  and arrays, so the Numba backend compiles *this same code* (it rebuilds the functions with
  jitted helpers, see ``backends/numba/pim.py``); this module runs it as plain Python, which
  is the reference the jitted version is tested against;
* the **bit-sliced analog matrix-vector product** (:func:`bitsliced_mvm`), vectorised NumPy
  here and a separate explicit-loop kernel in the Numba backend.

Array layouts
-------------
``net`` : int64 array, shape (n_layers, NET_FIELDS); one row per layer, columns ``N_*``.
``hw`` : float64 array, shape (HW_FIELDS,); one hardware configuration, entries ``H_*``.
``totals`` : float64 array, shape (TOT_FIELDS,); results ``T_*``.
``layers`` : float64 array, shape (n_layers, LAYER_FIELDS); per-layer results ``L_*``.

Units inside the kernels are MNSIM's: nanoseconds, watts, nanojoules (W x ns), square
micrometres, bytes, kilobytes (1024 bytes) and bits per nanosecond (= Gbit/s).
"""
from __future__ import annotations

import math

import numpy as np

# --------------------------------------------------------------------------------------------
# layer table (int64)
# --------------------------------------------------------------------------------------------
LT_CONV = 0
LT_FC = 1
LT_POOL = 2
LT_ESUM = 3

N_TYPE = 0
N_IN_CH = 1      # conv/pool: input channels; fc: input features
N_OUT_CH = 2     # conv/pool: output channels; fc: output features
N_K = 3
N_S = 4
N_P = 5
N_IN_H = 6
N_IN_W = 7
N_OUT_H = 8
N_OUT_W = 9
N_IN_BITS = 10
N_W_BITS = 11
N_OUT_BITS = 12
N_N_IN = 13      # number of inputs (1 or 2)
N_IN0 = 14       # relative index of input 0 (-1 = previous layer); 0 if unused
N_IN1 = 15       # relative index of input 1
NET_FIELDS = 16

# --------------------------------------------------------------------------------------------
# hardware vector (float64)
# --------------------------------------------------------------------------------------------
H_ROWS = 0
H_COLS = 1
H_CELL_BITS = 2
H_POLARITY = 3          # crossbars per weight slice: 1 (offset encoding) or 2 (pos/neg pair)
H_SUB_DIGITAL = 4       # 1 if the pos/neg subtraction happens after the ADC
H_GROUPS = 5            # crossbar groups per PE
H_DACS = 6              # DACs per group
H_ADCS = 7              # ADCs per group
H_DAC_BITS = 8
H_DAC_LAT = 9           # ns per conversion
H_DAC_POWER = 10        # W
H_DAC_AREA = 11         # um^2
H_ADC_BITS = 12
H_ADC_LAT = 13          # ns per conversion
H_ADC_POWER = 14        # W
H_ADC_AREA = 15         # um^2
H_XBAR_LAT = 16         # ns per crossbar read
H_CELL_POWER = 17       # W per activated cell (behaviour level)
H_XBAR_AREA = 18        # um^2 per crossbar (cells + periphery)
H_PERIOD = 19           # ns, digital clock period
H_DEC_STAGE = 20        # ns per 1:8 decoder stage
H_MUX_STAGE = 21        # ns per 8:1 mux stage
H_TR_POWER = 22         # W per transistor (mux/demux)
H_TR_AREA = 23          # um^2 per transistor (mux/demux)
H_REG_POWER = 24
H_REG_AREA = 25
H_SR_POWER = 26
H_SR_AREA = 27
H_ADDER_POWER = 28
H_ADDER_AREA = 29
H_JM_POWER = 30
H_JM_AREA = 31
H_PE_ROWS = 32
H_PE_COLS = 33
H_TILE_ROWS = 34
H_TILE_COLS = 35
H_PLACEMENT = 36        # 0 hui (square spiral), 1 row-major, 2 snake
H_INTER_BW = 37         # bits/ns between tiles
H_INTRA_BW = 38         # bits/ns inside a tile
H_BUF_WIDTH = 39        # bits per buffer access
H_BUF_CYCLE = 40        # ns per buffer access
H_INBUF_KB = 41         # PE input buffer size; 0 = sized from the mapping
H_OUTBUF_KB = 42        # tile output buffer size; 0 = sized from the mapping
H_POOL_UNITS = 43
H_POOL_WINDOW = 44
H_POOL_POWER = 45
H_POOL_AREA = 46
H_POOL_LAT = 47         # ns per batch of pooling units
H_ESUM_LAT = 48         # ns per element-wise sum
H_BUF_N = 49            # rows used in the buffer table
H_BUF0 = 50             # table rows: (max size KB, area um^2, read nJ, write nJ, leakage W)
BUF_COLS = 5
BUF_MAX_ROWS = 12
HW_FIELDS = H_BUF0 + BUF_COLS * BUF_MAX_ROWS

# --------------------------------------------------------------------------------------------
# totals (float64)
# --------------------------------------------------------------------------------------------
T_CROSSBARS = 0         # MNSIM's count: one per weight slice tile of the matrix (pos/neg pair = 1)
T_PHYS_XBARS = 1        # physical arrays: T_CROSSBARS x polarity
T_PES = 2
T_TILES = 3
T_LATENCY = 4           # ns
T_ENERGY = 5            # nJ
T_AREA = 6              # um^2
T_PEAK_POWER = 7        # W (sum of all layers' power, MNSIM's "hardware power")
T_E_XBAR = 8
T_E_ADC = 9
T_E_DAC = 10
T_E_DIGITAL = 11
T_E_BUFFER = 12
T_E_POOL = 13
T_A_XBAR = 14
T_A_ADC = 15
T_A_DAC = 16
T_A_DIGITAL = 17
T_A_BUFFER = 18
T_A_POOL = 19
T_UTIL = 20             # used cells / cells of the allocated crossbars
T_INBUF_KB = 21
T_OUTBUF_KB = 22
T_ERROR = 23            # 0 ok; 1 chip too small; 2 kernel larger than crossbar rows
T_TILES_AVAIL = 24
TOT_FIELDS = 25

# --------------------------------------------------------------------------------------------
# per-layer results (float64)
# --------------------------------------------------------------------------------------------
L_CROSSBARS = 0
L_PES = 1
L_TILES = 2
L_MAX_ROW = 3
L_MAX_COL = 4
L_MAX_PE = 5
L_BEGIN = 6             # ns, first pixel starts
L_FINISH = 7            # ns, last pixel ends
L_E_XBAR = 8
L_E_ADC = 9
L_E_DAC = 10
L_E_DIGITAL = 11
L_E_BUFFER = 12
L_E_POOL = 13
L_ENERGY = 14
L_POWER = 15            # W, all tiles of the layer active
L_AREA = 16
L_D_IN = 17             # in-layer tile distance (hops)
L_D_TRANS = 18          # layer-to-consumer distance (hops)
L_PIXEL_LAT = 19        # ns, latency of one steady-state output pixel
L_PIXELS = 20
L_UTIL = 21
L_BUSY = 22             # ns, sum of per-pixel latencies
LAYER_FIELDS = 23


# ============================================================================================
# small helpers (scalar)
# ============================================================================================
def _ceil_div(a, b):
    """ceil(a / b) for positive integers."""
    return (a + b - 1) // b


def _ceil_log2(n):
    """ceil(log2(n)) for n >= 1 (0 for n == 1)."""
    r = 0
    v = 1
    while v < n:
        v *= 2
        r += 1
    return r


def _stages8(n):
    """MNSIM's 1:8 decoder / 8:1 mux stage count: 2 + floor(log8(n)) for n >= 1."""
    m = 1
    while n > 0:
        n = n // 8
        m += 1
    return m


def _mux_factor(n):
    """Transistor count factor of an n-way (de)multiplexer (MNSIM's table, 8 per 2:1 stage)."""
    if n <= 2:
        return 8.0
    if n <= 4:
        return 24.0
    if n <= 8:
        return 72.0
    if n <= 16:
        return 216.0
    if n <= 32:
        return 648.0
    return 1944.0


def _buf_lat(hw, nbytes):
    """Buffer access latency (ns) for ``nbytes`` bytes: ceil(bits / width) accesses."""
    if nbytes <= 0.0:
        return 0.0
    return math.ceil(nbytes * 8.0 / hw[H_BUF_WIDTH]) * hw[H_BUF_CYCLE]


def _buf_row(hw, size_kb):
    """Index of the buffer-table row for a buffer of ``size_kb`` KB (-1 for size 0)."""
    if size_kb <= 0.0:
        return -1
    n = int(hw[H_BUF_N])
    for r in range(n):
        if size_kb <= hw[H_BUF0 + BUF_COLS * r]:
            return r
    return n - 1


def _buf_read_power(hw, size_kb):
    """Read power (W) of one buffer: access energy / cycle + leakage."""
    r = _buf_row(hw, size_kb)
    if r < 0:
        return 0.0
    return hw[H_BUF0 + BUF_COLS * r + 2] / hw[H_BUF_CYCLE] + hw[H_BUF0 + BUF_COLS * r + 4]


def _buf_write_power(hw, size_kb):
    r = _buf_row(hw, size_kb)
    if r < 0:
        return 0.0
    return hw[H_BUF0 + BUF_COLS * r + 3] / hw[H_BUF_CYCLE] + hw[H_BUF0 + BUF_COLS * r + 4]


def _buf_area(hw, size_kb):
    r = _buf_row(hw, size_kb)
    if r < 0:
        return 0.0
    return hw[H_BUF0 + BUF_COLS * r + 1]


def _pow2_kb(nbytes):
    """MNSIM buffer sizing: next power of two of ``nbytes`` bytes, in KB."""
    if nbytes <= 0.0:
        return 0.0
    return 2.0 ** math.ceil(math.log2(nbytes)) / 1024.0


def _input_demux(hw):
    return _ceil_div(int(hw[H_ROWS]), int(hw[H_DACS]))


def _output_mux(hw):
    return int(math.ceil(hw[H_COLS] / hw[H_ADCS] * (hw[H_SUB_DIGITAL] + 1.0)))


def pe_latency_parts(hw, read_row, read_col, in_bits, out):
    """Latency (ns) of one PE pass without buffers, MNSIM's ``PE_latency_analysis``.

    Parameters
    ----------
    hw : ndarray, shape (HW_FIELDS,)
    read_row, read_col : int
        Activated word lines and bit lines of one crossbar.
    in_bits : int
        Input precision streamed through the DACs.
    out : ndarray, shape (11,)
        Filled with (xbar, dac, adc, iReg, shiftreg, demux, adder, mux, oReg, multiple,
        total) latencies.
    """
    dacs = int(hw[H_DACS])
    adcs = int(hw[H_ADCS])
    row_rounds = _ceil_div(read_row, dacs)
    col_rounds = _ceil_div(read_col, adcs)
    multiple = _ceil_div(in_bits, int(hw[H_DAC_BITS])) * row_rounds * col_rounds
    dec = _stages8(_ceil_div(int(hw[H_ROWS]), dacs)) * hw[H_DEC_STAGE]
    mux = _stages8(_ceil_div(int(hw[H_COLS]), adcs)) * hw[H_MUX_STAGE]
    period = hw[H_PERIOD]
    xbar = multiple * hw[H_XBAR_LAT]
    dac = multiple * hw[H_DAC_LAT]
    adc = multiple * hw[H_ADC_LAT]
    ireg = row_rounds * col_rounds * period + multiple * period
    sreg = multiple * period
    demux = multiple * dec
    adder = col_rounds * _ceil_log2(int(hw[H_GROUPS])) * period
    omux = multiple * mux
    oreg = col_rounds * period
    out[0] = xbar
    out[1] = dac
    out[2] = adc
    out[3] = ireg
    out[4] = sreg
    out[5] = demux
    out[6] = adder
    out[7] = omux
    out[8] = oreg
    out[9] = multiple
    out[10] = xbar + dac + adc + ireg + sreg + demux + adder + omux + oreg


# ============================================================================================
# tile placement
# ============================================================================================
def _hui_position(n):
    """(row, col) of the n-th tile in MNSIM's 'hui' order (square shells, alternating)."""
    k = int(math.sqrt(n))
    while k * k > n:
        k -= 1
    while (k + 1) * (k + 1) <= n:
        k += 1
    t = n - k * k
    if k % 2 == 1:
        if t <= k:
            return t, k
        return k, 2 * k - t
    if t <= k:
        return k, t
    return 2 * k - t, k


def place_tiles(n_tiles, rows, cols, mode, pos):
    """Grid positions of tiles 0..n_tiles-1 (written into ``pos``, shape (n_tiles, 2)).

    mode 0: MNSIM's 'hui' order (square shells, positions outside a non-square grid
    skipped); 1: row-major; 2: snake (boustrophedon rows).
    """
    if mode == 0:
        n = 0
        i = 0
        while i < n_tiles:
            r, c = _hui_position(n)
            n += 1
            if r < rows and c < cols:
                pos[i, 0] = r
                pos[i, 1] = c
                i += 1
    else:
        for i in range(n_tiles):
            r = i // cols
            c = i % cols
            if mode == 2 and r % 2 == 1:
                c = cols - 1 - c
            pos[i, 0] = r
            pos[i, 1] = c


def _row_major_order(pos, start, count, cols):
    """Indices (relative to ``start``) of tiles [start, start+count) in row-major order."""
    keys = np.empty(count, dtype=np.int64)
    for i in range(count):
        keys[i] = pos[start + i, 0] * cols + pos[start + i, 1]
    return np.argsort(keys)


def _extremes(pos, start, count, ext):
    """Fold tiles [start, start+count) into ext = (max r+c, min r+c, max r-c, min r-c)."""
    for i in range(count):
        r = pos[start + i, 0]
        c = pos[start + i, 1]
        if r + c > ext[0]:
            ext[0] = r + c
        if r + c < ext[1]:
            ext[1] = r + c
        if r - c > ext[2]:
            ext[2] = r - c
        if r - c < ext[3]:
            ext[3] = r - c


def _max_manhattan(r, c, ext):
    """Largest Manhattan distance from (r, c) to a set summarised by :func:`_extremes`.

    max_b |r - rb| + |c - cb| = max(s - min s_b, max s_b - s, d - min d_b, max d_b - d) with
    s = r + c and d = r - c, so the farthest tile is found in O(1).
    """
    s = r + c
    d = r - c
    m = s - ext[1]
    if ext[0] - s > m:
        m = ext[0] - s
    if d - ext[3] > m:
        m = d - ext[3]
    if ext[2] - d > m:
        m = ext[2] - d
    return float(m)


def _reset_ext(ext):
    ext[0] = -(1 << 60)
    ext[1] = 1 << 60
    ext[2] = -(1 << 60)
    ext[3] = 1 << 60


def layer_distances(net, tilenum, startid, pos, grid_rows, grid_cols, d_in, d_trans):
    """MNSIM's ``calculate_transfer_distance``: Manhattan hops inside and out of each layer.

    For a layer with several tiles, the aggregation tile is the one minimising (farthest own
    tile + farthest consumer tile), candidates tried in row-major order (first minimum wins);
    ``d_in``/``d_trans`` receive those two distances. Layers whose consumers are all
    element-wise sums send to the global accumulator at (grid_rows / 2, 0); the last layer's
    ``d_in`` is the smallest farthest-own-tile distance.
    """
    n_layers = net.shape[0]
    half = grid_rows / 2.0
    own = np.zeros(4, dtype=np.int64)
    dst = np.zeros(4, dtype=np.int64)
    for l in range(n_layers):
        d_in[l] = 0.0
        d_trans[l] = 0.0
    for l in range(n_layers):
        t = net[l, N_TYPE]
        is_last = l == n_layers - 1
        if t == LT_ESUM:
            if is_last:
                continue
            best = 0.0
            for c in range(l + 1, n_layers):
                if _consumes(net, c, l) and tilenum[c] > 0:
                    order = _row_major_order(pos, startid[c], tilenum[c], grid_cols)
                    first = startid[c] + order[0]
                    v = abs(pos[first, 0] - half) + pos[first, 1]
                    if v > best:
                        best = v
            d_trans[l] = best
            continue
        ns = tilenum[l]
        if ns == 0:
            continue
        order = _row_major_order(pos, startid[l], ns, grid_cols)
        _reset_ext(own)
        _extremes(pos, startid[l], ns, own)
        if is_last:
            best = 1.0e30
            for a in range(ns):
                ia = startid[l] + order[a]
                mx = _max_manhattan(pos[ia, 0], pos[ia, 1], own)
                if mx < best:
                    best = mx
            d_in[l] = best
            d_trans[l] = 0.0
            continue
        branchout = True
        n_dst = 0
        _reset_ext(dst)
        for c in range(l + 1, n_layers):
            if _consumes(net, c, l):
                if net[c, N_TYPE] != LT_ESUM:
                    branchout = False
                if tilenum[c] > 0:
                    _extremes(pos, startid[c], tilenum[c], dst)
                    n_dst += tilenum[c]
        best = 1000.0
        for a in range(ns):
            ia = startid[l] + order[a]
            ra = pos[ia, 0]
            ca = pos[ia, 1]
            mx_in = _max_manhattan(ra, ca, own) if ns > 1 else 0.0
            if branchout:
                mx_out = abs(ra - half) + ca
            elif n_dst > 0:
                mx_out = _max_manhattan(ra, ca, dst)
            else:
                mx_out = 0.0
            if ns == 1:
                d_in[l] = 0.0
                d_trans[l] = mx_out
                break
            if mx_in + mx_out < best:
                d_in[l] = mx_in
                d_trans[l] = mx_out
                best = mx_in + mx_out


def _consumes(net, c, l):
    """True if layer ``c`` takes layer ``l`` as an input."""
    n = net[c, N_N_IN]
    if n >= 1 and c + net[c, N_IN0] == l:
        return True
    if n >= 2 and c + net[c, N_IN1] == l:
        return True
    return False


# ============================================================================================
# the cost model
# ============================================================================================
def cost_model(net, hw, totals, layers):
    """Mapping, placement, pipelined latency, power, energy and area of one network.

    Parameters
    ----------
    net : ndarray of int64, shape (n_layers, NET_FIELDS)
    hw : ndarray of float64, shape (HW_FIELDS,)
    totals : ndarray of float64, shape (TOT_FIELDS,)
        Output; ``totals[T_ERROR]`` is non-zero if the network does not fit.
    layers : ndarray of float64, shape (n_layers, LAYER_FIELDS)
        Output, per layer.
    """
    n_layers = net.shape[0]
    for i in range(totals.shape[0]):
        totals[i] = 0.0
    for l in range(n_layers):
        for f in range(layers.shape[1]):
            layers[l, f] = 0.0

    rows = int(hw[H_ROWS])
    cols = int(hw[H_COLS])
    groups = int(hw[H_GROUPS])
    pol = int(hw[H_POLARITY])
    cell_bits = int(hw[H_CELL_BITS])
    pe_total = int(hw[H_PE_ROWS]) * int(hw[H_PE_COLS])
    period = hw[H_PERIOD]

    # ---------------------------------------------------------------- mapping (TCG)
    pes = np.zeros(n_layers, dtype=np.int64)
    tilenum = np.zeros(n_layers, dtype=np.int64)
    startid = np.zeros(n_layers, dtype=np.int64)
    max_pe = np.zeros(n_layers, dtype=np.int64)
    max_row = np.zeros(n_layers, dtype=np.int64)
    max_col = np.zeros(n_layers, dtype=np.int64)
    max_group = np.zeros(n_layers, dtype=np.int64)
    inbuf_kb = 0.0
    outbuf_kb = 0.0
    used_cells = 0.0
    alloc_cells = 0.0
    next_tile = 0
    for l in range(n_layers):
        t = net[l, N_TYPE]
        startid[l] = next_tile
        if t == LT_CONV or t == LT_FC:
            wprec = net[l, N_W_BITS] - 1 if pol == 2 else net[l, N_W_BITS]
            slices = _ceil_div(wprec, cell_bits)
            if t == LT_CONV:
                kk = net[l, N_K] * net[l, N_K]
                ch_per_xbar = rows // kk
                if ch_per_xbar < 1:
                    totals[T_ERROR] = 2.0
                    return
                my = _ceil_div(net[l, N_IN_CH], ch_per_xbar)
                mrow = min(ch_per_xbar, net[l, N_IN_CH]) * kk
                data_in = net[l, N_IN_W] * net[l, N_K] * net[l, N_IN_CH] * net[l, N_IN_BITS] / 8.0
                k_rows = net[l, N_IN_CH] * kk
            else:
                my = _ceil_div(net[l, N_IN_CH], rows)
                mrow = min(net[l, N_IN_CH], rows)
                data_in = net[l, N_IN_CH] * net[l, N_IN_BITS] / 8.0
                k_rows = net[l, N_IN_CH]
            mx = _ceil_div(slices, groups) * _ceil_div(net[l, N_OUT_CH], cols)
            pes[l] = mx * my
            tilenum[l] = _ceil_div(pes[l], pe_total)
            max_pe[l] = min(pes[l], pe_total)
            max_row[l] = mrow
            max_col[l] = min(net[l, N_OUT_CH], cols)
            max_group[l] = min(slices, groups)
            xb = pes[l] * groups
            layers[l, L_CROSSBARS] = xb
            layers[l, L_PES] = pes[l]
            used = float(k_rows) * net[l, N_OUT_CH] * slices
            cap = float(xb) * rows * cols
            layers[l, L_UTIL] = used / cap
            used_cells += used
            alloc_cells += cap
            ib = _pow2_kb(data_in / pes[l])
            ob = _pow2_kb(net[l, N_OUT_CH] * net[l, N_OUT_BITS] / 8.0 * 2.0 / tilenum[l])
            if ib > inbuf_kb:
                inbuf_kb = ib
            if ob > outbuf_kb:
                outbuf_kb = ob
        elif t == LT_POOL:
            tilenum[l] = 1
            max_pe[l] = 1
        next_tile += tilenum[l]
        layers[l, L_TILES] = tilenum[l]
        layers[l, L_MAX_ROW] = max_row[l]
        layers[l, L_MAX_COL] = max_col[l]
        layers[l, L_MAX_PE] = max_pe[l]
        totals[T_CROSSBARS] += layers[l, L_CROSSBARS]
        totals[T_PES] += pes[l]
    used_tiles = next_tile
    totals[T_TILES] = used_tiles
    totals[T_PHYS_XBARS] = totals[T_CROSSBARS] * pol
    totals[T_UTIL] = used_cells / alloc_cells if alloc_cells > 0 else 0.0
    grid_r = int(hw[H_TILE_ROWS])
    grid_c = int(hw[H_TILE_COLS])
    totals[T_TILES_AVAIL] = grid_r * grid_c
    if used_tiles > grid_r * grid_c:
        totals[T_ERROR] = 1.0
        return
    if hw[H_INBUF_KB] > 0.0:
        inbuf_kb = hw[H_INBUF_KB]
    if hw[H_OUTBUF_KB] > 0.0:
        outbuf_kb = hw[H_OUTBUF_KB]
    totals[T_INBUF_KB] = inbuf_kb
    totals[T_OUTBUF_KB] = outbuf_kb

    # global accumulator buffer for element-wise sums
    gbuf_kb = 0.0
    for l in range(n_layers):
        if net[l, N_TYPE] == LT_ESUM:
            src_l = _esum_source(net, l)
            nbytes = net[src_l, N_OUT_CH] * net[src_l, N_OUT_BITS] * net[l, N_N_IN] / 8.0
            gbuf_kb += _pow2_kb(nbytes)

    # ---------------------------------------------------------------- placement, distances
    pos = np.zeros((max(used_tiles, 1), 2), dtype=np.int64)
    place_tiles(used_tiles, grid_r, grid_c, int(hw[H_PLACEMENT]), pos)
    d_in = np.zeros(n_layers)
    d_trans = np.zeros(n_layers)
    layer_distances(net, tilenum, startid, pos, grid_r, grid_c, d_in, d_trans)

    # ---------------------------------------------------------------- pipelined latency
    npix = np.zeros(n_layers, dtype=np.int64)
    off = np.zeros(n_layers + 1, dtype=np.int64)
    for l in range(n_layers):
        t = net[l, N_TYPE]
        if t == LT_FC:
            npix[l] = net[l, N_OUT_CH]
        elif t == LT_ESUM:
            s = _esum_source(net, l)
            npix[l] = net[s, N_OUT_H] * net[s, N_OUT_W]
        else:
            npix[l] = net[l, N_OUT_H] * net[l, N_OUT_W]
        off[l + 1] = off[l] + npix[l]
    finish = np.zeros(max(off[n_layers], 1))
    part = np.zeros(11)
    inter_bw = hw[H_INTER_BW]
    # per-layer sums of component latencies (ns) for the energy model
    s_lat = np.zeros((n_layers, 13))
    for l in range(n_layers):
        t = net[l, N_TYPE]
        in_bits = net[l, N_IN_BITS]
        out_bits = net[l, N_OUT_BITS]
        begin_first = -1.0
        prev_finish = 0.0
        busy = 0.0
        if t == LT_CONV or t == LT_FC:
            pe_latency_parts(hw, max_row[l], max_col[l], in_bits, part)
            pe_const = part[10]
            merge_t = _ceil_log2(max_pe[l])
            total_level = _ceil_log2(pe_total)
            joint = merge_t * period
            transfer_lat = ((total_level * (hw[H_ADC_BITS] + merge_t) - merge_t * (merge_t + 1) / 2.0)
                            * max_col[l] / hw[H_INTRA_BW])
            tile_buf_w = _buf_lat(hw, (hw[H_ADC_BITS] + merge_t) * max_col[l] * max_pe[l] / 8.0)
            tile_buf_r = _buf_lat(hw, max_col[l] * out_bits * max_pe[l] / 8.0)
            merge = tile_buf_r + d_in[l] * (period + max_col[l] * max_pe[l] * out_bits / inter_bw)
            transfer = d_trans[l] * (net[l, N_OUT_CH] * out_bits / inter_bw)
            fixed = pe_const + joint + transfer_lat + tile_buf_w + merge + transfer
            if t == LT_FC:
                indata = max_row[l] * in_bits / 8.0
                bw = _buf_lat(hw, indata)
                br = _buf_lat(hw, indata)
                begin = 0.0
                for q in range(net[l, N_N_IN]):
                    src_l = l + (net[l, N_IN0] if q == 0 else net[l, N_IN1])
                    if src_l >= 0 and off[src_l + 1] > off[src_l]:
                        v = finish[off[src_l + 1] - 1]
                        if v > begin:
                            begin = v
                lat = fixed + bw + br
                for o in range(npix[l]):
                    finish[off[l] + o] = begin + lat
                begin_first = begin
                busy = lat
                _acc_lat(s_lat, l, part, joint, tile_buf_r + br, tile_buf_w + bw, 0.0, 1.0)
                layers[l, L_PIXEL_LAT] = lat
            else:
                k = net[l, N_K]
                s = net[l, N_S]
                p = net[l, N_P]
                in_h = net[l, N_IN_H]
                in_w = net[l, N_IN_W]
                out_h = net[l, N_OUT_H]
                out_w = net[l, N_OUT_W]
                icpe = max_row[l] / (k * k)
                kp = max(k - p, 0)
                kp1 = max(k - p, 1)
                sum_bw = 0.0
                sum_br = 0.0
                for i in range(out_h):
                    for j in range(out_w):
                        if i == 0 and j == 0:
                            indata = icpe * kp * kp * in_bits / 8.0
                            rdata = max_row[l] * in_bits / 8.0
                        elif j == 0:
                            indata = icpe * s * kp * in_bits / 8.0
                            rdata = max_row[l] * in_bits / 8.0
                        else:
                            if i == 0:
                                indata = icpe * s * k * in_bits / 8.0
                            else:
                                indata = icpe * s * s * in_bits / 8.0
                            rdata = s * k * icpe * in_bits / 8.0
                        bw = _buf_lat(hw, indata)
                        br = _buf_lat(hw, rdata)
                        sum_bw += bw
                        sum_br += br
                        lat = fixed + bw + br
                        if k > 1:
                            lpos = (min(kp1 + s * i, in_h) - 1) * in_w + min(kp1 + s * j, in_w) - 1
                        else:
                            lpos = i * s * in_w + j * s
                        begin = _inputs_ready(net, l, lpos, npix, off, finish, prev_finish)
                        if begin_first < 0.0:
                            begin_first = begin
                        prev_finish = begin + lat
                        finish[off[l] + i * out_w + j] = prev_finish
                        busy += lat
                n = float(out_h * out_w)
                _acc_lat(s_lat, l, part, joint, tile_buf_r * n + sum_br, tile_buf_w * n + sum_bw, 0.0, n)
                layers[l, L_PIXEL_LAT] = fixed + _buf_lat(hw, icpe * s * s * in_bits / 8.0) + \
                    _buf_lat(hw, s * k * icpe * in_bits / 8.0)
        elif t == LT_POOL:
            k = net[l, N_K]
            s = net[l, N_S]
            p = net[l, N_P]
            c_in = net[l, N_IN_CH]
            in_h = net[l, N_IN_H]
            in_w = net[l, N_IN_W]
            out_h = net[l, N_OUT_H]
            out_w = net[l, N_OUT_W]
            digital = hw[H_POOL_LAT] * _ceil_div(c_in, int(hw[H_POOL_UNITS])) * \
                _ceil_div(k * k, int(hw[H_POOL_WINDOW]))
            outbuf_w = _buf_lat(hw, c_in * out_bits / 8.0)
            outbuf_r = _buf_lat(hw, net[l, N_OUT_CH] * out_bits / 8.0)
            merge = outbuf_r
            transfer = d_trans[l] * (net[l, N_OUT_CH] * out_bits / inter_bw)
            kp = max(k - p, 0)
            kp1 = max(k - p, 1)
            sum_bw = 0.0
            sum_br = 0.0
            for i in range(out_h):
                for j in range(out_w):
                    if i == 0 and j == 0:
                        indata = c_in * kp * kp * in_bits / 8.0
                        rdata = c_in * k * k * in_bits / 8.0
                    elif j == 0:
                        indata = c_in * s * kp * in_bits / 8.0
                        rdata = c_in * k * k * in_bits / 8.0
                    else:
                        indata = c_in * s * s * in_bits / 8.0
                        rdata = s * k * c_in * in_bits / 8.0
                    bw = _buf_lat(hw, indata)
                    br = _buf_lat(hw, rdata)
                    sum_bw += bw + outbuf_w
                    sum_br += br + outbuf_r
                    lat = bw + br + digital + outbuf_r + outbuf_w + merge + transfer
                    lpos = (min(kp1 + s * i, in_h) - 1) * in_w + min(kp1 + s * j, in_w) - 1
                    begin = _inputs_ready(net, l, lpos, npix, off, finish, prev_finish)
                    if begin_first < 0.0:
                        begin_first = begin
                    prev_finish = begin + lat
                    finish[off[l] + i * out_w + j] = prev_finish
                    busy += lat
            s_lat[l, 10] += sum_br
            s_lat[l, 11] += sum_bw
            s_lat[l, 12] += digital * out_h * out_w
            layers[l, L_PIXEL_LAT] = _buf_lat(hw, c_in * s * s * in_bits / 8.0) + \
                _buf_lat(hw, s * k * c_in * in_bits / 8.0) + digital + outbuf_r + outbuf_w + merge + transfer
        else:  # element-wise sum
            src0 = _esum_source(net, l)
            ch = net[src0, N_OUT_CH]
            bits = net[src0, N_OUT_BITS]
            nb = net[l, N_N_IN] * bits * ch / 8.0
            gr = _buf_lat(hw, nb)
            gw = _buf_lat(hw, nb)
            transfer = d_trans[l] * (ch * bits / inter_bw)
            lat = hw[H_ESUM_LAT] + transfer + gr + gw
            for o in range(npix[l]):
                begin = _inputs_ready(net, l, o, npix, off, finish, prev_finish)
                if begin_first < 0.0:
                    begin_first = begin
                prev_finish = begin + lat
                finish[off[l] + o] = prev_finish
                busy += lat
            s_lat[l, 10] += gr * npix[l]
            s_lat[l, 11] += gw * npix[l]
            layers[l, L_PIXEL_LAT] = lat
        last = 0.0
        for o in range(npix[l]):
            if finish[off[l] + o] > last:
                last = finish[off[l] + o]
        layers[l, L_BEGIN] = max(begin_first, 0.0)
        layers[l, L_FINISH] = last
        layers[l, L_PIXELS] = npix[l]
        layers[l, L_BUSY] = busy
        layers[l, L_D_IN] = d_in[l]
        layers[l, L_D_TRANS] = d_trans[l]
        if last > totals[T_LATENCY]:
            totals[T_LATENCY] = last

    # ---------------------------------------------------------------- power and energy
    in_demux = _input_demux(hw)
    out_mux = _output_mux(hw)
    demux_p = _mux_factor(in_demux) * hw[H_TR_POWER]
    mux_p = _mux_factor(out_mux) * hw[H_TR_POWER]
    inbuf_rp = _buf_read_power(hw, inbuf_kb)
    inbuf_wp = _buf_write_power(hw, inbuf_kb)
    outbuf_rp = _buf_read_power(hw, outbuf_kb)
    outbuf_wp = _buf_write_power(hw, outbuf_kb)
    gbuf_rp = _buf_read_power(hw, gbuf_kb)
    gbuf_wp = _buf_write_power(hw, gbuf_kb)
    for l in range(n_layers):
        t = net[l, N_TYPE]
        tn = float(tilenum[l])
        p_xbar = 0.0
        p_dac = 0.0
        p_adc = 0.0
        p_ireg = 0.0
        p_demux = 0.0
        p_mux = 0.0
        p_adder = 0.0
        p_sreg = 0.0
        p_oreg = 0.0
        p_joint = 0.0
        p_pool = 0.0
        p_buf_r = 0.0
        p_buf_w = 0.0
        if t == LT_CONV or t == LT_FC:
            mg = float(max_group[l])
            mp = float(max_pe[l])
            rows_act = float(_ceil_div(max_row[l], in_demux))
            cols_act = float(_ceil_div(max_col[l], out_mux))
            xbar_p = max_row[l] * max_col[l] * hw[H_CELL_POWER]
            p_xbar = tn * mp * pol * mg * xbar_p / in_demux / out_mux
            p_dac = tn * mp * mg * rows_act * hw[H_DAC_POWER]
            p_demux = tn * mp * mg * rows_act * demux_p
            p_ireg = tn * mp * mg * rows_act * hw[H_REG_POWER]
            p_adc = tn * mp * mg * cols_act * hw[H_ADC_POWER]
            p_mux = tn * mp * mg * cols_act * mux_p
            p_adder = tn * mp * (mg - 1.0) * cols_act * hw[H_ADDER_POWER]
            p_sreg = tn * mp * mg * cols_act * hw[H_SR_POWER]
            p_oreg = tn * mp * mg * cols_act * hw[H_REG_POWER]
            p_joint = tn * (mp - 1.0) * cols_act * hw[H_JM_POWER]
            p_buf_r = tn * (mp * inbuf_rp + outbuf_rp)
            p_buf_w = tn * (mp * inbuf_wp + outbuf_wp)
        elif t == LT_POOL:
            p_pool = tn * hw[H_POOL_POWER]
            p_buf_r = tn * outbuf_rp
            p_buf_w = tn * outbuf_wp
        else:
            p_buf_r = gbuf_rp
            p_buf_w = gbuf_wp
        e_xbar = p_xbar * s_lat[l, 0]
        e_dac = p_dac * s_lat[l, 1]
        e_adc = p_adc * s_lat[l, 2]
        e_dig = (p_ireg * s_lat[l, 3] + p_sreg * s_lat[l, 4] + p_demux * s_lat[l, 5]
                 + p_adder * s_lat[l, 6] + p_mux * s_lat[l, 7] + p_oreg * s_lat[l, 8]
                 + p_joint * s_lat[l, 9])
        e_buf = p_buf_r * s_lat[l, 10] + p_buf_w * s_lat[l, 11]
        e_pool = p_pool * s_lat[l, 12]
        layers[l, L_E_XBAR] = e_xbar
        layers[l, L_E_ADC] = e_adc
        layers[l, L_E_DAC] = e_dac
        layers[l, L_E_DIGITAL] = e_dig
        layers[l, L_E_BUFFER] = e_buf
        layers[l, L_E_POOL] = e_pool
        layers[l, L_ENERGY] = e_xbar + e_adc + e_dac + e_dig + e_buf + e_pool
        layers[l, L_POWER] = (p_xbar + p_dac + p_adc + p_ireg + p_demux + p_mux + p_adder + p_sreg
                              + p_oreg + p_joint + p_pool + p_buf_r + p_buf_w)
        totals[T_E_XBAR] += e_xbar
        totals[T_E_ADC] += e_adc
        totals[T_E_DAC] += e_dac
        totals[T_E_DIGITAL] += e_dig
        totals[T_E_BUFFER] += e_buf
        totals[T_E_POOL] += e_pool
        totals[T_ENERGY] += layers[l, L_ENERGY]
        totals[T_PEAK_POWER] += layers[l, L_POWER]

    # ---------------------------------------------------------------- area (per tile)
    adc_total = groups * hw[H_ADCS]
    dac_total = groups * hw[H_DACS]
    pe_adder_num = 0
    tmp = groups
    while tmp // 2 >= 1:
        pe_adder_num += tmp // 2
        tmp = tmp // 2 + tmp % 2
    a_xbar = groups * pol * hw[H_XBAR_AREA]
    a_adc = adc_total * hw[H_ADC_AREA]
    a_dac = dac_total * hw[H_DAC_AREA]
    a_dig = (hw[H_ADCS] * pe_adder_num * hw[H_ADDER_AREA] + adc_total * hw[H_SR_AREA]
             + dac_total * hw[H_REG_AREA] + adc_total * hw[H_REG_AREA]
             + _mux_factor(in_demux) * hw[H_TR_AREA] * dac_total
             + _mux_factor(out_mux) * hw[H_TR_AREA] * adc_total)
    a_inbuf = _buf_area(hw, inbuf_kb)
    idx = pe_total
    jm_nodes = 0
    while idx // 2 >= 1:
        jm_nodes += idx // 2 + idx % 2
        idx = idx // 2
    tile_xbar = pe_total * a_xbar
    tile_adc = pe_total * a_adc
    tile_dac = pe_total * a_dac
    tile_dig = pe_total * a_dig + jm_nodes * adc_total * hw[H_JM_AREA]
    tile_buf = pe_total * a_inbuf + _buf_area(hw, outbuf_kb)
    tile_pool = hw[H_POOL_AREA]
    tile_area = tile_xbar + tile_adc + tile_dac + tile_dig + tile_buf + tile_pool
    for l in range(n_layers):
        layers[l, L_AREA] = tilenum[l] * tile_area
    totals[T_A_XBAR] = used_tiles * tile_xbar
    totals[T_A_ADC] = used_tiles * tile_adc
    totals[T_A_DAC] = used_tiles * tile_dac
    totals[T_A_DIGITAL] = used_tiles * tile_dig
    totals[T_A_BUFFER] = used_tiles * tile_buf + _buf_area(hw, gbuf_kb)
    totals[T_A_POOL] = used_tiles * tile_pool
    totals[T_AREA] = (totals[T_A_XBAR] + totals[T_A_ADC] + totals[T_A_DAC] + totals[T_A_DIGITAL]
                      + totals[T_A_BUFFER] + totals[T_A_POOL])


def _esum_source(net, l):
    """First non-element-sum layer feeding element-sum layer ``l`` (follows chains)."""
    src = l + net[l, N_IN0]
    guard = 0
    while src >= 0 and net[src, N_TYPE] == LT_ESUM and guard < 10000:
        src = src + net[src, N_IN0]
        guard += 1
    return max(src, 0)


def _inputs_ready(net, l, pos, npix, off, finish, not_before):
    """When layer ``l`` can start its output pixel that needs input pixel ``pos``: the latest
    finish time of that pixel (clamped to the last one) in each input layer, and
    ``not_before``."""
    begin = not_before
    for q in range(net[l, N_N_IN]):
        src_l = l + (net[l, N_IN0] if q == 0 else net[l, N_IN1])
        if src_l >= 0 and npix[src_l] > 0:
            v = finish[off[src_l] + min(pos, npix[src_l] - 1)]
            if v > begin:
                begin = v
    return begin


def _acc_lat(s_lat, l, part, joint, buf_r, buf_w, pool, n):
    """Accumulate per-pixel component latencies (``part`` from pe_latency_parts) x ``n``."""
    for c in range(9):
        s_lat[l, c] += part[c] * n
    s_lat[l, 9] += joint * n
    s_lat[l, 10] += buf_r
    s_lat[l, 11] += buf_w
    s_lat[l, 12] += pool


def cost_model_batch(net, hws, totals, layers):
    """:func:`cost_model` for many hardware vectors.

    Parameters
    ----------
    net : ndarray of int64, shape (n_layers, NET_FIELDS)
    hws : ndarray of float64, shape (n_configs, HW_FIELDS)
    totals : ndarray of float64, shape (n_configs, TOT_FIELDS)
    layers : ndarray of float64, shape (n_configs, n_layers, LAYER_FIELDS)
    """
    for c in range(hws.shape[0]):
        cost_model(net, hws[c], totals[c], layers[c])


# ============================================================================================
# bit-sliced analog MVM (functional simulation)
# ============================================================================================
def bitsliced_mvm(x, w, coef, n_in_slices, dac_bits, chunk_bounds, adc_step, adc_max, adc_gain=None):
    """Bit-sliced crossbar matrix product with an ADC on every partial sum.

    Every input ``x[p, k]`` (signed integer) is split into ``n_in_slices`` magnitude slices of
    ``dac_bits`` bits that keep the sign of ``x``; every weight slice ``w[k, s, :]`` holds the
    (effective, possibly noisy) cell levels of slice ``s``. For each row chunk ``c`` (the rows
    one crossbar holds), input slice ``i`` and weight slice ``s`` the column sums

        ps[p, s, n] = sum_{k in chunk c} d_i(x[p, k]) * w[k, s, n]

    go through a signed ADC: ``q = clip(floor(ps / step_c + 1/2), -adc_max, adc_max) * step_c``,
    and are shifted and added: ``out[p, n] += coef[s] * 2**(i * dac_bits) * q``.

    With ``adc_gain`` (MNSIM's ADC rule, docs/pim.md) the code is computed as MNSIM 2.0 computes
    it, in float32 and in its order of operations,
    ``code = rint(((ps * g0) * g1) / g2 * g3)`` (round half to even, every step rounded to
    float32; ``g = adc_gain[c]``), then ``q = clip(code, -adc_max, adc_max) * step_c``.

    Parameters
    ----------
    x : ndarray of signed integers, shape (P, K)
    w : ndarray, shape (K, S, N)
        Effective cell levels (slice differences for analog subtraction); stored and
        accumulated in float32 (exact for integer levels; sums of up to 2**24 per chunk).
    coef : ndarray of float64, shape (S,)
        Shift-and-add weight of each slice (e.g. +-2**(j*cell_bits)).
    n_in_slices, dac_bits : int
    chunk_bounds : ndarray of int64, shape (C + 1,)
        Row chunk boundaries, 0 = chunk_bounds[0] < ... < chunk_bounds[C] = K.
    adc_step : ndarray of float64, shape (C,)
        ADC step (LSB) of each chunk, in units of one cell level x one input level.
    adc_max : int
        Largest ADC code magnitude (2**(adc_bits - 1) - 1).
    adc_gain : ndarray of float32, shape (C, 4), optional
        Per chunk the factors of MNSIM's conversion (weight scale, input scale, layer range,
        power of two); ``adc_step`` then holds the matching step ``g2 / (g0 g1 g3)``.

    Returns
    -------
    ndarray of float64, shape (P, N)
    """
    p_count, k_count = x.shape
    s_count = w.shape[1]
    n_count = w.shape[2]
    sn = s_count * n_count
    wf = np.ascontiguousarray(w, dtype=np.float32).reshape(k_count, sn)
    mask = (1 << dac_bits) - 1
    sign = np.sign(x).astype(np.float32)
    mag = np.abs(x)
    out = np.zeros((p_count, n_count))
    for c in range(chunk_bounds.shape[0] - 1):
        k0 = chunk_bounds[c]
        k1 = chunk_bounds[c + 1]
        step = adc_step[c]
        for i in range(n_in_slices):
            digits = ((mag[:, k0:k1] >> (i * dac_bits)) & mask).astype(np.float32) * sign[:, k0:k1]
            acc = np.zeros((p_count, sn), dtype=np.float32)
            for kk in range(k1 - k0):
                d = digits[:, kk]
                nz = d != 0.0
                if nz.any():
                    acc[nz] += d[nz, None] * wf[k0 + kk][None, :]
            if adc_gain is None:
                q = np.clip(np.floor(acc.astype(np.float64) / step + 0.5), -adc_max, adc_max) * step
            else:
                g = np.asarray(adc_gain[c], dtype=np.float32)
                t = ((acc * g[0]) * g[1]) / g[2] * g[3]          # float32 throughout
                q = np.clip(np.rint(t).astype(np.float64), -adc_max, adc_max) * step
            q = q.reshape(p_count, s_count, n_count)
            shift = float(2 ** (i * dac_bits))
            for s in range(s_count):
                out += (coef[s] * shift) * q[:, s, :]
    return out
