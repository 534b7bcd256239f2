"""Bank conflicts of a core's SRAM: how many cycles one vector access takes, and the stall cycles they add to a
GEMM's critical core (docs/memory.md § SRAM banking).

A banked SRAM has `banks` banks of `width`-byte words; word w sits in bank w mod banks, and each bank serves one
word per cycle. A vector access (the elements one array edge reads in a cycle) takes as many cycles as the most
distinct words it touches in any one bank; accesses to the same word are served together (a broadcast). So a
unit-stride read of banks × width bytes takes one cycle, a stride of `banks` words puts every element in one bank
(n-way serialization), and a stride of banks + 1 words spreads them over every bank again. Addresses are counted
in bits, so sub-byte dtypes (int4, fp4) pack as they do in memory.

Tiles sit in SRAM row-major: A as tm × tk, B as tk × tn, each row `pad` bytes longer than its data. Which vectors
the array reads per cycle follows SCALE-Sim's operand mapping (kernels/systolic.py):
  os: every stream cycle a column of A (M along the array's rows: stride = A's row pitch) and a row of B;
  ws: a row of A streams (unit stride); B, stationary, is read row by row when a fold starts;
  is: a column of B streams (stride = B's row pitch); A, stationary, is read a column of A per array row.
A stream of t vectors that each take d cycles needs t·d cycles where the array needs ceil(t / rate): the excess
is a stall; a stationary fill of r rows that each take d cycles stalls r·(d − 1). A core's MXUs split a step along
M or N as `core_step_cycles` chooses; the arrays read in the same cycle, so their vectors (one per active array,
offset by the split) form one access, and an operand the split does not cut is one broadcast access.
"""

import math

import numpy as np

from simulator.kernels.jit import kernel
from simulator.kernels.systolic import IS, OS, core_step_cycles, mapped_dims


@kernel
def access_cycles(count, stride_bits, elem_bits, copies, copy_offset_bits, banks, width_bytes):
    """Cycles one access takes: `copies` vectors (the k-th starting copy_offset_bits · k bits further) of `count`
    elements `stride_bits` apart, each `elem_bits` wide, on `banks` banks of `width_bytes`-byte words: the most
    distinct words of one bank it touches (0 for an empty access)."""
    if count <= 0 or copies <= 0:
        return 0
    word_bits = width_bytes * 8
    per_element = (elem_bits + word_bits - 1) // word_bits + 1  # words one element can straddle, at most
    words = np.empty(count * copies * per_element, np.int64)
    used = 0
    for c in range(copies):
        for i in range(count):
            start = c * copy_offset_bits + i * stride_bits
            for w in range(start // word_bits, (start + elem_bits - 1) // word_bits + 1):
                words[used] = w
                used += 1
    words = np.sort(words[:used])
    per_bank = np.zeros(banks, np.int64)
    worst = 0
    for j in range(used):
        if j > 0 and words[j] == words[j - 1]:
            continue  # the same word again: served by the same read
        bank = words[j] % banks
        per_bank[bank] += 1
        if per_bank[bank] > worst:
            worst = per_bank[bank]
    return worst


@kernel
def _fold_stalls(pm, pn, kk, rows, cols, dataflow, rate, copies, split_m, q, a_bits, b_bits, a_pitch, b_pitch,
                 banks, width):
    """Bank stall cycles of one MXU part (pm × pn × kk) of a step, over all its folds."""
    sr, sc, t = mapped_dims(pm, pn, kk, dataflow)
    stream = int(math.ceil(t / rate - 1e-9))
    total = 0
    for ri in range(2):
        row_folds, row_count = (sr // rows, rows) if ri == 0 else (1 if sr % rows else 0, sr % rows)
        for ci in range(2):
            col_folds, col_count = (sc // cols, cols) if ci == 0 else (1 if sc % cols else 0, sc % cols)
            folds = row_folds * col_folds
            if folds == 0:
                continue
            if dataflow == OS:  # A's column (M on rows) and B's row (N on columns) stream every cycle
                a = access_cycles(row_count, a_pitch, a_bits, copies if split_m else 1, q * a_pitch, banks, width)
                b = access_cycles(col_count, b_bits, b_bits, 1 if split_m else copies, q * b_bits, banks, width)
                d = max(a, b)
                total += folds * max(0, t * d - stream)
            elif dataflow == IS:  # B's column (K on rows) streams; A stationary: a column of A per array row
                s = access_cycles(row_count, b_pitch, b_bits, 1 if split_m else copies, q * b_bits, banks, width)
                f = access_cycles(col_count, a_pitch, a_bits, copies if split_m else 1, q * a_pitch, banks, width)
                total += folds * (max(0, t * s - stream) + row_count * (f - 1))
            else:  # ws: A's row (K on rows) streams; B stationary: a row of B per array row
                s = access_cycles(row_count, a_bits, a_bits, copies if split_m else 1, q * a_pitch, banks, width)
                f = access_cycles(col_count, b_bits, b_bits, 1 if split_m else copies, q * b_bits, banks, width)
                total += folds * (max(0, t * s - stream) + row_count * (f - 1))
    return total


@kernel
def _step_stalls(mm, nn, kk, rows, cols, n_mxu, dataflow, rate, pipelined, a_bits, b_bits, pad_bits, banks, width):
    """Bank stall cycles of one core's mm × nn × kk tile step: those of its largest MXU part."""
    a_pitch = kk * a_bits + pad_bits  # A tile rows: kk elements
    b_pitch = nn * b_bits + pad_bits  # B tile rows: nn elements
    if n_mxu == 1:
        return _fold_stalls(mm, nn, kk, rows, cols, dataflow, rate, 1, False, 0, a_bits, b_bits, a_pitch, b_pitch,
                            banks, width)
    by_m = core_step_cycles(mm, nn, kk, rows, cols, n_mxu, dataflow, rate, pipelined)[1]
    dim = mm if by_m else nn
    q = (dim + n_mxu - 1) // n_mxu
    active = (dim + q - 1) // q
    if by_m:
        return _fold_stalls(q, nn, kk, rows, cols, dataflow, rate, active, True, q, a_bits, b_bits, a_pitch, b_pitch,
                            banks, width)
    return _fold_stalls(mm, q, kk, rows, cols, dataflow, rate, active, False, q, a_bits, b_bits, a_pitch, b_pitch,
                        banks, width)


@kernel
def gemm_bank_stalls(batch, m, n, k, tm, tn, tk, cores, rows, cols, n_mxu, dataflow, rate, pipelined, a_bits,
                     b_bits, pad_bytes, banks, width):
    """Bank stall cycles of the GEMM's critical core (core 0: tiles 0, P, 2P, … of the raster order over batch,
    M blocks and N blocks, P = the cores in use), each tile's K steps full chunks then the edge."""
    mt, nt = (m + tm - 1) // tm, (n + tn - 1) // tn
    tiles = batch * mt * nt
    active = min(cores, tiles)
    if active <= 0:
        return 0
    pad_bits = pad_bytes * 8
    full_k, edge_k = k // tk, k % tk
    cache = np.full(8, -1, np.int64)  # stalls of each (M edge?, N edge?, K edge?) step class
    total = 0
    for w in range(0, tiles, active):
        rem = w % (mt * nt)
        mi, ni = rem // nt, rem % nt
        em = 1 if (mi == mt - 1 and m % tm) else 0
        en = 1 if (ni == nt - 1 and n % tn) else 0
        mm = m % tm if em else tm
        nn = n % tn if en else tn
        for ek in range(2):
            steps, kk = (full_k, tk) if ek == 0 else (1 if edge_k else 0, edge_k)
            if steps == 0:
                continue
            c = em * 4 + en * 2 + ek
            if cache[c] < 0:
                cache[c] = _step_stalls(mm, nn, kk, rows, cols, n_mxu, dataflow, rate, pipelined, a_bits, b_bits,
                                        pad_bits, banks, width)
            total += steps * cache[c]
    return total
