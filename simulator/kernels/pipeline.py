"""The multi-stage DMA/compute pipeline of one core, and the per-tile step generators that feed it."""

import numpy as np
from numba import njit

from simulator.kernels.systolic import core_step_cycles


@njit(cache=True)
def run_pipeline(load_cycles, compute_cycles, store_cycles, stages, latency):
    """Time of a core running `n` steps whose inputs arrive by DMA into `stages` rotating buffers.

    The DMA channel moves one transfer at a time (occupancy = bytes / bandwidth) while each
    transfer's latency overlaps the next. Step i+stages may load once step i's buffer is freed
    (its compute ended). A step computes when its data arrived and the previous step finished;
    the wait is a stall. Stores (store_cycles > 0) are queued on the same channel after the step.
    Returns (total cycles, compute cycles, stall cycles) as floats.
    """
    n = load_cycles.shape[0]
    ready = np.zeros(n)
    channel_free = 0.0
    for j in range(min(stages, n)):
        channel_free += load_cycles[j]
        ready[j] = channel_free + latency
    prev_end = 0.0
    stall = 0.0
    busy = 0.0
    last_store = 0.0
    for i in range(n):
        start = max(ready[i], prev_end)
        stall += start - prev_end
        end = start + compute_cycles[i]
        busy += compute_cycles[i]
        prev_end = end
        if i + stages < n:
            issue = max(channel_free, end)
            channel_free = issue + load_cycles[i + stages]
            ready[i + stages] = channel_free + latency
        if store_cycles[i] > 0:
            issue = max(channel_free, end)
            channel_free = issue + store_cycles[i]
            last_store = channel_free + latency
    total = max(prev_end, last_store)
    return total, busy, total - busy


@njit(cache=True)
def gemm_core_steps(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes,
                    rows, cols, n_mxu, dataflow, rate, pipelined, bw_full, bw_last):
    """Per-step (load, compute, store) cycles of core 0, which runs tiles 0, P, 2P, … in raster order.

    Core 0 holds the most tiles. Tiles of the last, partial wave share bandwidth among fewer cores,
    so they move at `bw_last` bytes/cycle instead of `bw_full`.
    """
    mt = (m + tm - 1) // tm
    nt = (n + tn - 1) // tn
    kt = (k + tk - 1) // tk
    tiles = batch * mt * nt
    mine = (tiles + cores - 1) // cores
    full_waves = tiles // cores
    steps = mine * kt
    load = np.empty(steps)
    comp = np.empty(steps)
    store = np.zeros(steps)
    s = 0
    for w in range(mine):
        t = w * cores
        mi = (t // nt) % mt
        ni = t % nt
        mm = min(tm, m - mi * tm)
        nn = min(tn, n - ni * tn)
        bw = bw_full if w < full_waves else bw_last
        for ki in range(kt):
            kk = min(tk, k - ki * tk)
            cyc, _ = core_step_cycles(mm, nn, kk, rows, cols, n_mxu, dataflow, rate, pipelined)
            comp[s] = cyc
            load[s] = (mm * kk * a_bytes + kk * nn * b_bytes) / bw
            s += 1
        store[s - 1] = mm * nn * out_bytes / bw
    return load, comp, store


@njit(cache=True)
def gemm_core_time(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes,
                   rows, cols, n_mxu, dataflow, rate, pipelined, bw_full, bw_last, stages, latency):
    load, comp, store = gemm_core_steps(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes,
                                        rows, cols, n_mxu, dataflow, rate, pipelined, bw_full, bw_last)
    return run_pipeline(load, comp, store, stages, latency)


@njit(cache=True)
def gemm_hbm_read_bytes(batch, m, n, k, tm, tn, cores, a_bytes, b_bytes, a_resident, b_resident):
    """HBM bytes read for A and B when a shared cache serves each wave's common blocks.

    Tiles of one wave run in lockstep, so a row block of A (or column block of B) used by several
    of them is fetched from HBM once per wave. An operand that fits the cache whole (`*_resident`)
    is fetched once for the whole GEMM.
    """
    mt = (m + tm - 1) // tm
    nt = (n + tn - 1) // tn
    tiles = batch * mt * nt
    seen_rows = np.full(batch * mt, -1)
    seen_cols = np.full(batch * nt, -1)
    a = 0.0
    b = 0.0
    for t in range(tiles):
        wave = t // cores
        if a_resident:
            wave = 0
        bi = t // (mt * nt)
        mi = (t // nt) % mt
        ni = t % nt
        r = bi * mt + mi
        if seen_rows[r] != wave:
            seen_rows[r] = wave
            a += min(tm, m - mi * tm) * k * a_bytes
        wave_b = 0 if b_resident else t // cores
        c = bi * nt + ni
        if seen_cols[c] != wave_b:
            seen_cols[c] = wave_b
            b += min(tn, n - ni * tn) * k * b_bytes
    return a, b


@njit(cache=True)
def stream_core_time(elements, chunk, ops_per_element, lanes_rate, in_bytes, out_bytes, bw, stages, latency):
    """A vector op streaming `elements` through one core in SRAM-sized chunks."""
    steps = (elements + chunk - 1) // chunk
    load = np.empty(steps)
    comp = np.empty(steps)
    store = np.empty(steps)
    for s in range(steps):
        e = min(chunk, elements - s * chunk)
        load[s] = e * in_bytes / bw
        comp[s] = np.ceil(e * ops_per_element / lanes_rate - 1e-9)
        store[s] = e * out_bytes / bw
    return run_pipeline(load, comp, store, stages, latency)
