"""The GEMM tile chooser's kernels: which tiles fit (`fitting_tiles`), and a tile timed exactly (traffic,
each core's bandwidth share, the critical core's pipeline and the integer cycles) one at a time
(`gemm_exact`) or many in one call (`gemm_exact_many`, what the chooser times its best candidates with).

`hardware.timing.gemm_timing` and `hardware.bandwidth.core_share` are the Python faces of the same
arithmetic, which is computed here in the order they always computed it, so the golden figures did not
move (tests/kernels/test_gemm_exact.py compares a tile timed here with one timed tile by tile).
"""

import math

import numpy as np

from simulator.kernels.jit import kernel
from simulator.kernels.pipeline import gemm_core_time, gemm_hbm_read_bytes
from simulator.kernels.systolic import core_step_cycles, sram_accesses


@kernel
def fitting_tiles(ms, ns, ks, stages, a_bits, b_bits, out_bits, sum_bytes, accumulators, sram_size):
    """(M edges, N edges, K edges) of every tile of the grid ms × ns × ks that fits, M outermost and K
    innermost. A tile occupies `stages` input buffers, an output staging buffer and, without separate
    accumulator storage (`accumulators` = 0 bytes), its partial sums (`sum_bytes` each); with it, the
    partial sums must fit there. On-chip operands occupy SRAM like any other."""
    out = np.empty((ms.shape[0] * ns.shape[0] * ks.shape[0], 3), np.int64)
    count = 0
    for i in range(ms.shape[0]):
        for j in range(ns.shape[0]):
            for l in range(ks.shape[0]):
                m, n, k = ms[i], ns[j], ks[l]
                sums = m * n * sum_bytes
                if accumulators and sums > accumulators:
                    continue
                need = stages * ((m * k * a_bits + 7) // 8 + (k * n * b_bits + 7) // 8) + (m * n * out_bits + 7) // 8
                if accumulators == 0:
                    need += sums
                if need <= sram_size:
                    out[count, 0], out[count, 1], out[count, 2] = m, n, k
                    count += 1
    return out[:count, 0], out[:count, 1], out[:count, 2]


@kernel
def share(fraction, active_cores, miss, dma_bw, dma_latency, hbm_bw, hbm_latency, has_l2, l2_bw, l2_latency):
    """(nearest, hbm, latency): each of `active_cores` cores' part of `fraction` of every shared level,
    capped by its DMA port; `latency` is the mean request latency when `miss` of loads go to HBM."""
    active = max(1, active_cores)
    hbm = hbm_bw * fraction / active
    latency = dma_latency + hbm_latency * miss
    if not has_l2:
        return min(dma_bw, hbm), hbm, latency
    latency += l2_latency
    l2 = l2_bw * fraction / active
    return min(dma_bw, l2), hbm, latency


@kernel
def effective(nearest, hbm, miss):
    """Bytes/cycle of tile loads when `miss` of them must also come through HBM."""
    if miss <= 0:
        return nearest
    return 1.0 / max(1.0 / nearest, miss / hbm)


@kernel
def traffic(batch, m, n, k, tm, tn, cores, a_size, b_size, min_read, min_write, a_bytes, b_bytes, has_l2, l2_half):
    """(bytes loaded into SRAM from the nearest shared level, HBM read bytes, HBM write bytes). `a_size`
    and `b_size` are one batch element's operand bytes; half the cache holds resident operands."""
    mt, nt = (m + tm - 1) // tm, (n + tn - 1) // tn
    loads = batch * (nt * a_size + mt * b_size)
    if not has_l2:
        return loads, loads, min_write
    a, b = gemm_hbm_read_bytes(batch, m, n, k, tm, tn, cores, a_bytes, b_bytes, batch * a_size <= l2_half,
                               batch * b_size <= l2_half)
    return loads, max(min_read, math.ceil(a + b)), min_write


ACC_BYTES = 4  # fp32 accumulators


@kernel
def warp_tile(tm, tn, warp_m, warp_n, min_warps):
    """(warp M edge, warp N edge) of a tm×tn CTA tile: warp_m × warp_n (clipped to the tile), halved along the
    edge with fewer warps until the CTA has `min_warps` (the other edge once one is a single row or column).
    With 64×64 and 4 this reproduces CUTLASS's sm80 table: 256×128 → 4×2 warps of 64×64, 128×64 → 2×2 of
    64×32, 64×128 → 2×2 of 32×64, 64×64 → 2×2 of 32×32, 64×256 → 1×4 of 64×64. A Hopper warpgroup MMA is one
    "warp" of 64×256 here."""
    wm, wn = min(warp_m, tm), min(warp_n, tn)
    while ((tm + wm - 1) // wm) * ((tn + wn - 1) // wn) < min_warps and (wm > 1 or wn > 1):
        if wm > 1 and (wn == 1 or (tm + wm - 1) // wm <= (tn + wn - 1) // wn):
            wm = (wm + 1) // 2
        else:
            wn = (wn + 1) // 2
    return wm, wn


@kernel
def smem_step_bytes(tm, tn, tk, a_bytes, b_bytes, warp_m, warp_n, min_warps):
    """Shared-memory bytes one CTA k-step moves: the async copies of the A and B tiles into it, and every
    warp's reads of its A rows and B columns (a warp tile wm×wn reads wm·tk of A and tk·wn of B)."""
    wm, wn = warp_tile(tm, tn, warp_m, warp_n, min_warps)
    warps_m, warps_n = (tm + wm - 1) // wm, (tn + wn - 1) // wn
    fills = tk * (tm * a_bytes + tn * b_bytes)
    reads = tk * (warps_n * tm * a_bytes + warps_m * tn * b_bytes)
    return fills + reads


@kernel
def operand_rate(tm, tn, tk, a_bytes, b_bytes, rows, cols, n_mxu, dataflow, rate, pipelined, smem_bw, clock_scale,
                 warp_m, warp_n, min_warps):
    """MACs per PE per chip cycle a tm×tn×tk CTA step sustains: the tensor clock's share of `rate`, and
    below that the rate at which shared memory delivers the step's operands (smem_bw per SM cycle) against
    the step's MMA cycles (`core_step_cycles`, partial arrays included)."""
    mma = core_step_cycles(tm, tn, tk, rows, cols, n_mxu, dataflow, rate, pipelined)[0]
    smem = smem_step_bytes(tm, tn, tk, a_bytes, b_bytes, warp_m, warp_n, min_warps) / smem_bw
    return rate * clock_scale * min(1.0, mma / smem)


@kernel
def ctas_per_sm(tm, tn, tk, stages, a_bytes, b_bytes, accumulators, sram_size):
    """CTAs of a tm×tn×tk tile resident on one SM at once: as many as the register file holds their fp32
    accumulators and shared memory their `stages` A and B buffers (at least one)."""
    # strictly less than the whole file: a CTA also needs registers for its operand fragments and addresses
    by_regs = (accumulators - 1) // (tm * tn * ACC_BYTES) if accumulators else 1
    by_smem = int(sram_size // (stages * tk * (tm * a_bytes + tn * b_bytes)))
    return max(1, min(by_regs, by_smem))


@kernel
def exposed_tile_cycles(tm, tn, tk, stages, a_bytes, b_bytes, accumulators, sram_size, smem_bw, clock_scale,
                        latency, persistent):
    """Chip cycles each tile after the first adds on its SM when only one CTA fits there: nothing overlaps
    its epilogue (fp32 accumulators written to shared memory and read back to be converted and stored,
    CUTLASS's default epilogue) nor, unless the kernel is `persistent` (a producer warp loads the next tile
    meanwhile), its prologue (the first load's latency). With two or more CTAs resident the other CTAs' main
    loops hide both: 0."""
    if ctas_per_sm(tm, tn, tk, stages, a_bytes, b_bytes, accumulators, sram_size) > 1:
        return 0.0
    epilogue = 2.0 * tm * tn * ACC_BYTES / smem_bw / clock_scale
    return epilogue if persistent else latency + epilogue


@kernel
def gemm_exact(tm, tn, tk, batch, m, n, k, cores, fraction, a_size, b_size, min_read, min_write, a_bytes, b_bytes,
               out_bytes, rows, cols, n_mxu, dataflow, rate, pipelined, stages, dma_bw, dma_latency, hbm_bw,
               hbm_latency, has_l2, l2_bw, l2_latency, l2_half, gpu, smem_bw, clock_scale, accumulators, sram_size,
               warp_m, warp_n, min_warps, persistent):
    """(cycles, compute cycles, cores, waves, loads, HBM read, HBM write) of the GEMM in tm×tn×tk tiles on up to
    `cores` cores holding `fraction` of the memory bandwidth. Cycles are counted as SCALE-Sim counts them
    (the index of the last busy cycle), but never below the time its HBM traffic takes at that share.
    On a GPU (`gpu`) the tensor rate is `operand_rate`'s and every tile after the first on an SM pays
    `exposed_tile_cycles`."""
    if gpu:
        rate = operand_rate(min(tm, m), min(tn, n), min(tk, k), a_bytes, b_bytes, rows, cols, n_mxu, dataflow, rate,
                            pipelined, smem_bw, clock_scale, warp_m, warp_n, min_warps)
    tiles = batch * ((m + tm - 1) // tm) * ((n + tn - 1) // tn)
    cores = min(cores, tiles)
    waves = (tiles + cores - 1) // cores
    last = tiles - (waves - 1) * cores
    loads, hbm_read, hbm_write = traffic(batch, m, n, k, tm, tn, cores, a_size, b_size, min_read, min_write,
                                         a_bytes, b_bytes, has_l2, l2_half)
    miss = hbm_read / loads if loads else 0.0
    near, hbm, latency = share(fraction, cores, miss, dma_bw, dma_latency, hbm_bw, hbm_latency, has_l2, l2_bw,
                               l2_latency)
    near_last, hbm_last, _ = share(fraction, last, miss, dma_bw, dma_latency, hbm_bw, hbm_latency, has_l2, l2_bw,
                                   l2_latency)
    total, compute, _, _ = gemm_core_time(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes, rows, cols,
                                          n_mxu, dataflow, rate, pipelined, effective(near, hbm, miss),
                                          effective(near_last, hbm_last, miss), stages, latency)
    if gpu:
        total += (waves - 1) * exposed_tile_cycles(min(tm, m), min(tn, n), min(tk, k), stages, a_bytes, b_bytes,
                                                   accumulators, sram_size, smem_bw, clock_scale, latency,
                                                   persistent)
    floor = (hbm_read + hbm_write) / (hbm_bw * fraction)
    cycles = max(math.ceil(total - 1e-9) - 1, math.ceil(floor - 1e-9))
    return cycles, int(compute) - 1, cores, waves, loads, hbm_read, hbm_write


@kernel
def gemm_exact_many(tms, tns, tks, batch, m, n, k, cores, fraction, a_size, b_size, min_read, min_write, a_bytes,
                    b_bytes, out_bytes, rows, cols, n_mxu, dataflow, rate, pipelined, stages, dma_bw, dma_latency,
                    hbm_bw, hbm_latency, has_l2, l2_bw, l2_latency, l2_half, gpu, smem_bw, clock_scale, accumulators,
                    sram_size, warp_m, warp_n, min_warps, persistent):
    """`gemm_exact` of each tile tms[i] × tns[i] × tks[i], one row of the seven figures per tile."""
    out = np.empty((tms.shape[0], 7), np.int64)
    for i in range(tms.shape[0]):
        figures = gemm_exact(tms[i], tns[i], tks[i], batch, m, n, k, cores, fraction, a_size, b_size, min_read,
                             min_write, a_bytes, b_bytes, out_bytes, rows, cols, n_mxu, dataflow, rate, pipelined,
                             stages, dma_bw, dma_latency, hbm_bw, hbm_latency, has_l2, l2_bw, l2_latency, l2_half,
                             gpu, smem_bw, clock_scale, accumulators, sram_size, warp_m, warp_n, min_warps,
                             persistent)
        for j in range(7):
            out[i, j] = figures[j]
    return out


@kernel
def _part_accesses(totals, weight, pm, pn, kk, rows, cols, dataflow):
    counts = sram_accesses(pm, pn, kk, rows, cols, dataflow)
    for i in range(4):
        totals[i] += counts[i] * weight


@kernel
def sram_access_totals(batch, m, n, k, tm, tn, tk, rows, cols, n_mxu, dataflow, rate, pipelined):
    """MXU-side element accesses over every tile step of the GEMM: (A reads, B reads, C reads, C writes).
    Tiles come in at most 8 size classes (full or edge along M, N, K); a core's MXUs split each step
    along M or N, whichever `core_step_cycles` finds faster, into equal parts and a remainder."""
    totals = np.zeros(4, np.int64)
    for mi in range(2):
        mm, cm = (tm, m // tm) if mi == 0 else (m % tm, 1)
        for ni in range(2):
            nn, cn = (tn, n // tn) if ni == 0 else (n % tn, 1)
            for ki in range(2):
                kk, ck = (tk, k // tk) if ki == 0 else (k % tk, 1)
                if mm == 0 or cm == 0 or nn == 0 or cn == 0 or kk == 0 or ck == 0:
                    continue
                by_m = core_step_cycles(mm, nn, kk, rows, cols, n_mxu, dataflow, rate, pipelined)[1]
                dim = mm if by_m else nn
                q = (dim + n_mxu - 1) // n_mxu
                weight = cm * cn * ck * batch
                if by_m:
                    _part_accesses(totals, (dim // q) * weight, q, nn, kk, rows, cols, dataflow)
                    if dim % q:
                        _part_accesses(totals, weight, dim % q, nn, kk, rows, cols, dataflow)
                else:
                    _part_accesses(totals, (dim // q) * weight, mm, q, kk, rows, cols, dataflow)
                    if dim % q:
                        _part_accesses(totals, weight, mm, dim % q, kk, rows, cols, dataflow)
    return totals[0], totals[1], totals[2], totals[3]
