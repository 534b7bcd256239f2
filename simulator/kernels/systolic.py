"""Closed-form systolic-array timing and SRAM traffic, matching SCALE-Sim v3 for C[M×N] = A[M×K]·B[K×N].

Operand mapping (array of R rows × C columns), as SCALE-Sim lays it out:
  os: spatial rows Sr = M, spatial cols Sc = N, temporal T = K   (C stays in the PEs)
  ws: Sr = K, Sc = N, T = M                                      (B is stationary)
  is: Sr = K, Sc = M, T = N                                      (A is stationary)
folds = ceil(Sr/R)·ceil(Sc/C). Every fold costs a fixed skew plus T cycles:
  ws/is: 2R + C − 2 + T  (R cycles to load the stationary operand, R + C − 2 to skew in and out)
  os:    R + C − 2 + T   (no separate stationary load)
SCALE-Sim reports folds·(fixed + T) − 1 (it counts the index of the last busy cycle).
R and C are the full array size even when a fold uses part of it, as in SCALE-Sim.
"""

import math

from simulator.kernels.jit import kernel

OS, WS, IS = 0, 1, 2
DATAFLOWS = {"os": OS, "ws": WS, "is": IS}


@kernel
def mapped_dims(m, n, k, dataflow):
    """(spatial rows, spatial cols, temporal) of the GEMM for a dataflow."""
    if dataflow == OS:
        return m, n, k
    if dataflow == WS:
        return k, n, m
    return k, m, n


@kernel
def fixed_cycles(rows, cols, dataflow):
    """Fill and drain skew of one fold."""
    if dataflow == OS:
        return rows + cols - 2
    return 2 * rows + cols - 2


@kernel
def fold_cycles(m, n, k, rows, cols, dataflow, rate, pipelined):
    """Cycles one array needs for an m×n×k GEMM, without SCALE-Sim's final −1.

    `rate` is MACs per PE per cycle for the dtype: the temporal stream shortens to ceil(T/rate).
    Pipelined arrays overlap each fold's stationary load or drain with the previous fold's stream,
    so folds after the first cost max(T', R) instead of fixed + T'.
    """
    if m <= 0 or n <= 0 or k <= 0:
        return 0
    sr, sc, t = mapped_dims(m, n, k, dataflow)
    folds = ((sr + rows - 1) // rows) * ((sc + cols - 1) // cols)
    stream = int(math.ceil(t / rate - 1e-9))
    fixed = fixed_cycles(rows, cols, dataflow)
    if not pipelined:
        return folds * (fixed + stream)
    return fixed + stream + (folds - 1) * max(stream, rows)


@kernel
def scalesim_compute_cycles(m, n, k, rows, cols, dataflow):
    """SCALE-Sim v3's compute cycles (total minus stalls) for one GEMM on one array."""
    return fold_cycles(m, n, k, rows, cols, dataflow, 1.0, False) - 1


@kernel
def sram_accesses(m, n, k, rows, cols, dataflow):
    """Element reads of A and B and reads/writes of C in the array's SRAM for one m×n×k GEMM.

    Each fold reads its slice of the streamed operands; the stationary operand is read once.
    ws/is reduce over K across row folds, so each K-fold writes partial sums (and reads them back
    after the first), as SCALE-Sim counts; os keeps sums in the PEs and writes C once.
    Returns (a_reads, b_reads, c_reads, c_writes).
    """
    if m <= 0 or n <= 0 or k <= 0:
        return 0, 0, 0, 0
    if dataflow == OS:
        a_reads = m * k * ((n + cols - 1) // cols)
        b_reads = k * n * ((m + rows - 1) // rows)
        return a_reads, b_reads, 0, m * n
    k_folds = (k + rows - 1) // rows
    if dataflow == WS:
        a_reads = m * k * ((n + cols - 1) // cols)
        b_reads = k * n
    else:
        a_reads = m * k
        b_reads = k * n * ((m + cols - 1) // cols)
    return a_reads, b_reads, m * n * (k_folds - 1), m * n * k_folds


@kernel
def core_step_cycles(m, n, k, rows, cols, n_mxu, dataflow, rate, pipelined):
    """Cycles for one core to do an m×n×k tile step, its MXUs splitting N (or M, whichever is faster)."""
    if n_mxu == 1:
        return fold_cycles(m, n, k, rows, cols, dataflow, rate, pipelined), 0
    by_n = fold_cycles(m, (n + n_mxu - 1) // n_mxu, k, rows, cols, dataflow, rate, pipelined)
    by_m = fold_cycles((m + n_mxu - 1) // n_mxu, n, k, rows, cols, dataflow, rate, pipelined)
    if by_m < by_n:
        return by_m, 1
    return by_n, 0
