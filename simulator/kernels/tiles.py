"""The tile chooser's quick estimates for every candidate tile of one GEMM shape, in one call.

- total: steps of the critical core × the slower of compute and load per full-size step, plus one load;
  a load's rate is the core's share of the nearest shared level, with a rough HBM miss share (a wave
  re-reads each block about once per distinct neighbour);
- compute: the critical core's compute cycles, exact on one core or in one wave, otherwise as if all of
  core 0's tiles were full-size (core 0 gets tile 0, which is).

The same arithmetic, in the same order, as the per-tile Python it replaced, which
tests/kernels/test_tiles.py keeps as the oracle (equal bit for bit). Every count stays far below 2**53,
so integer products converted to floats are exact, as Python's are.
"""

import numpy as np

from simulator.kernels.jit import kernel
from simulator.kernels.systolic import core_step_cycles


@kernel
def _output_tile(m, n, k, tk, rows, cols, n_mxu, dataflow, rate, pipelined):
    """Cycles of one m×n output tile over all of K in chunks of tk (full chunks, then the edge)."""
    full, edge = divmod(k, tk)
    busy = 0
    if full > 0:
        busy += full * core_step_cycles(m, n, tk, rows, cols, n_mxu, dataflow, rate, pipelined)[0]
    if edge > 0:
        busy += core_step_cycles(m, n, edge, rows, cols, n_mxu, dataflow, rate, pipelined)[0]
    return busy


@kernel
def tile_estimates(tms, tns, tks, batch, m, n, k, chip_cores, a_bytes, b_bits, rows, cols, n_mxu, dataflow, rate,
                   pipelined, dma_bw, hbm_bw, l2_bw, has_l2):
    """(total estimate, compute estimate) of each candidate tile (tms[i] × tns[i] × tks[i])."""
    count = tms.shape[0]
    totals = np.empty(count)
    computes = np.empty(count, np.int64)
    for i in range(count):
        tm, tn, tk = tms[i], tns[i], tks[i]
        mt, nt, kt = (m + tm - 1) // tm, (n + tn - 1) // tn, (k + tk - 1) // tk
        tiles = batch * mt * nt
        cores = min(chip_cores, tiles)
        waves = (tiles + cores - 1) // cores
        step = core_step_cycles(tm, tn, tk, rows, cols, n_mxu, dataflow, rate, pipelined)[0]
        load_bytes = tm * tk * a_bytes + (tk * tn * b_bits + 7) // 8
        miss = 1.0
        if has_l2:
            miss = min(1.0, (1 / min(nt, cores) + 1 / min(mt, max(1, cores // nt))) / 2)
        active = max(1, cores)
        hbm = hbm_bw * 1.0 / active
        nearest = min(dma_bw, l2_bw * 1.0 / active) if has_l2 else min(dma_bw, hbm)
        effective = nearest if miss <= 0 else 1.0 / max(1.0 / nearest, miss / hbm)
        load = load_bytes / effective
        totals[i] = waves * kt * max(step, load) + load
        if cores == 1:
            busy = 0
            full_m, edge_m = divmod(m, tm)
            full_n, edge_n = divmod(n, tn)
            for mm, cm in ((tm, full_m), (edge_m, 1)):
                if cm == 0 or mm == 0:
                    continue
                for nn, cn in ((tn, full_n), (edge_n, 1)):
                    if cn == 0 or nn == 0:
                        continue
                    busy += cm * cn * _output_tile(mm, nn, k, tk, rows, cols, n_mxu, dataflow, rate, pipelined)
            busy = batch * busy
        else:
            busy = waves * _output_tile(min(tm, m), min(tn, n), k, tk, rows, cols, n_mxu, dataflow, rate, pipelined)
        computes[i] = busy - 1
    return totals, computes
