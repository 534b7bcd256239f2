"""Timing of one op on a group of cores: the numba pipeline of the critical core plus exact totals.

The critical core (core 0) holds the most tiles; its DMA/compute pipeline runs in numba
(`kernels/pipeline.py`), stepping through at most a bounded number of its steps and jumping exactly over
the periodic rest. Totals (bytes per level, SRAM accesses) are closed forms over tile-size classes.
"""

import math
from dataclasses import dataclass

import numpy as np

from simulator.config.dtypes import DTYPE_BITS, nbytes
from simulator.hardware.bandwidth import core_share
from simulator.hardware.chip import Chip
from simulator.ir.ops import GemmOp, VectorOp
from simulator.ir.program import Tile
from simulator.kernels.pipeline import gemm_core_time, gemm_hbm_read_bytes, stream_core_time
from simulator.kernels.systolic import DATAFLOWS, core_step_cycles, sram_accesses
from simulator.kernels.tiles import tile_estimates as estimate_tiles

ACC_BYTES = 4  # partial sums are fp32 / int32


@dataclass(frozen=True)
class OpTiming:
    cycles: int
    compute_cycles: int
    stall_cycles: int
    cores: int
    work_units: int  # tiles (GEMM) or chunks (vector)
    waves: int
    tile: str
    hbm_read: int
    hbm_write: int
    l2_read: int
    sram_read: int
    sram_write: int
    a_reads: int = 0  # operand element reads by the MXUs
    b_reads: int = 0
    acc_reads: int = 0
    acc_writes: int = 0


def tile_estimates(chip: Chip, op: GemmOp, tiles: list[Tile]) -> tuple[list[float], list[int]]:
    """The chooser's quick estimates of every candidate tile: (total cycles, critical-core compute cycles)."""
    mxu, l2 = chip.mxu, chip.l2
    totals, computes = estimate_tiles(
        tms=np.array([t.m for t in tiles], np.int64), tns=np.array([t.n for t in tiles], np.int64),
        tks=np.array([t.k for t in tiles], np.int64), batch=op.batch, m=op.m, n=op.n, k=op.k,
        chip_cores=chip.cores, a_bytes=float(op.a_bytes), b_bits=DTYPE_BITS[op.b_dtype], rows=mxu.rows,
        cols=mxu.cols, n_mxu=mxu.count, dataflow=DATAFLOWS[mxu.dataflow], rate=float(chip.mxu_rate(op.compute_dtype)),
        pipelined=bool(mxu.pipelined), dma_bw=float(chip.dma_bytes_per_cycle),
        hbm_bw=float(chip.hbm.achievable_bytes_per_cycle), l2_bw=float(l2.achievable_bytes_per_cycle) if l2 else 0.0,
        has_l2=l2 is not None)
    return totals.tolist(), computes.tolist()


def tiles_fit(chip: Chip, op: GemmOp, ms: list[int], ns: list[int], ks: list[int]) -> np.ndarray:
    """Whether each tile of the grid ms × ns × ks fits, as a boolean array [m, n, k]. A tile occupies
    `stages` input buffers, an output staging buffer and, without separate accumulator storage, the partial
    sums; with it, the partial sums must fit there. On-chip operands occupy SRAM like any other."""
    m = np.array(ms, np.int64)[:, None, None]
    n = np.array(ns, np.int64)[None, :, None]
    k = np.array(ks, np.int64)[None, None, :]

    def size(elements, dtype):  # nbytes, elementwise
        return -((-elements * DTYPE_BITS[dtype]) // 8)

    acc = chip.accumulators
    inputs = chip.sram.stages * (size(m * k, op.dtype) + size(k * n, op.b_dtype))
    needed = inputs + size(m * n, op.out_dtype) + (m * n * ACC_BYTES if acc == 0 else 0)
    fits = needed <= chip.sram.size
    if acc:
        fits &= m * n * ACC_BYTES <= acc
    return fits


def _classes(total: int, size: int):
    """(length, count) of full and edge blocks when `total` is cut into blocks of `size`."""
    full, edge = divmod(total, size)
    return [(size, full)] * (full > 0) + [(edge, 1)] * (edge > 0)


def _mxu_parts(mm: int, nn: int, n_mxu: int, by_m: int):
    """Sub-tiles the MXUs of a core get when a tile is split along M (by_m) or N."""
    dim = mm if by_m else nn
    q = -(-dim // n_mxu)
    sizes = [(q, dim // q)] + ([(dim % q, 1)] if dim % q else [])
    return [((s, nn) if by_m else (mm, s), c) for s, c in sizes]


def gemm_sram_accesses(chip: Chip, op: GemmOp, tile: Tile) -> tuple[int, int, int, int]:
    """MXU-side element accesses over every tile step of the op: (A reads, B reads, C reads, C writes)."""
    mxu = chip.mxu
    df, rate = DATAFLOWS[mxu.dataflow], chip.mxu_rate(op.compute_dtype)
    totals = [0, 0, 0, 0]
    for mm, cm in _classes(op.m, tile.m):
        for nn, cn in _classes(op.n, tile.n):
            for kk, ck in _classes(op.k, tile.k):
                _, by_m = core_step_cycles(mm, nn, kk, mxu.rows, mxu.cols, mxu.count, df, rate, mxu.pipelined)
                for (pm, pn), cp in _mxu_parts(mm, nn, mxu.count, by_m):
                    counts = sram_accesses(pm, pn, kk, mxu.rows, mxu.cols, df)
                    for i in range(4):
                        totals[i] += counts[i] * cp * cm * cn * ck * op.batch
    return tuple(totals)


def gemm_traffic(chip: Chip, op: GemmOp, tile: Tile, cores: int) -> tuple[int, int, int]:
    """(bytes loaded into SRAM from the nearest shared level, HBM read bytes, HBM write bytes)."""
    mt, nt = -(-op.m // tile.m), -(-op.n // tile.n)
    a_size, b_size = math.ceil(op.m * op.k * op.a_bytes), nbytes(op.k * op.n, op.b_dtype)
    loads = op.batch * (nt * a_size + mt * b_size)
    writes = op.min_write_bytes
    if chip.l2 is None:
        return loads, loads, writes
    half = chip.l2.size // 2  # the other half holds blocks in flight and outputs
    a, b = gemm_hbm_read_bytes(batch=op.batch, m=op.m, n=op.n, k=op.k, tm=tile.m, tn=tile.n, cores=cores,
                               a_bytes=op.a_bytes, b_bytes=op.b_bytes,
                               a_resident=op.batch * a_size <= half, b_resident=op.batch * b_size <= half)
    return loads, max(op.min_read_bytes, math.ceil(a + b)), writes


def _floor_cycles(chip: Chip, hbm_bytes: int, fraction: float) -> float:
    """No op moves its HBM bytes faster than its reserved fraction of HBM bandwidth."""
    return hbm_bytes / (chip.hbm.achievable_bytes_per_cycle * fraction)


def gemm_timing(chip: Chip, op: GemmOp, tile: Tile, cores: int, fraction: float = 1.0,
                accesses: bool = True) -> OpTiming:
    """The op on `cores` cores holding `fraction` of the chip's memory bandwidth. `accesses=False` leaves out
    the MXUs' SRAM access counts (a_reads … acc_writes are 0, sram_read counts only the write-back): the
    tile chooser ranks tiles by cycles and bytes and needs none of them."""
    mxu = chip.mxu
    mt, nt, kt = -(-op.m // tile.m), -(-op.n // tile.n), -(-op.k // tile.k)
    tiles = op.batch * mt * nt
    cores = min(cores, tiles)
    waves = -(-tiles // cores)
    last = tiles - (waves - 1) * cores
    loads, hbm_read, hbm_write = gemm_traffic(chip, op, tile, cores)
    miss = hbm_read / loads if loads else 0.0
    full_share = core_share(chip, fraction, cores, miss)
    last_share = core_share(chip, fraction, last, miss)
    total, compute, stall, _ = gemm_core_time(
        batch=op.batch, m=op.m, n=op.n, k=op.k, tm=tile.m, tn=tile.n, tk=tile.k, cores=cores,
        a_bytes=op.a_bytes, b_bytes=op.b_bytes, out_bytes=op.c_bytes,
        rows=mxu.rows, cols=mxu.cols, n_mxu=mxu.count, dataflow=DATAFLOWS[mxu.dataflow],
        rate=chip.mxu_rate(op.compute_dtype), pipelined=mxu.pipelined,
        bw_full=full_share.effective(miss), bw_last=last_share.effective(miss),
        stages=chip.sram.stages, latency=full_share.latency,
    )
    # Cycles are counted as SCALE-Sim counts them (the index of the last busy cycle), but never
    # below the time the op's HBM traffic takes at its bandwidth share.
    cycles = max(math.ceil(total - 1e-9) - 1, math.ceil(_floor_cycles(chip, hbm_read + hbm_write, fraction) - 1e-9))
    compute_cycles = int(compute) - 1
    a_reads, b_reads, acc_reads, acc_writes = gemm_sram_accesses(chip, op, tile) if accesses else (0, 0, 0, 0)
    return OpTiming(
        cycles=cycles, compute_cycles=compute_cycles, stall_cycles=cycles - compute_cycles,
        cores=cores, work_units=tiles * kt, waves=waves, tile=str(tile),
        hbm_read=hbm_read, hbm_write=hbm_write, l2_read=loads if chip.l2 else 0,
        sram_read=math.ceil(a_reads * DTYPE_BITS[op.dtype] / 8 + b_reads * op.b_bytes) + hbm_write,
        sram_write=loads + hbm_write,
        a_reads=a_reads, b_reads=b_reads, acc_reads=acc_reads, acc_writes=acc_writes,
    )


def vector_cores(chip: Chip, op: VectorOp) -> int:
    """Cores a vector op spreads over: all of them, unless it has fewer elements than lanes to fill."""
    return max(1, min(chip.cores, -(-op.elements // chip.vector.lanes)))


def vector_timing(chip: Chip, op: VectorOp, cores: int, fraction: float = 1.0) -> OpTiming:
    """Elementwise work streamed through the vector units of `cores` cores in SRAM-sized chunks."""
    bits = DTYPE_BITS[op.dtype]
    # Pure data movement (copy, lookup) computes nothing, so it needs no rate for its dtype.
    lanes_rate = chip.vector.lanes * (chip.vector_rate(op.dtype) if op.ops_per_element else 1.0)
    cores = min(cores, vector_cores(chip, op))
    mine = -(-op.elements // cores)
    in_bytes, out_bytes = op.inputs * bits / 8, op.outputs * bits / 8
    per_element = chip.sram.stages * in_bytes + 2 * out_bytes
    chunk = mine if per_element == 0 else max(1, min(mine, int(chip.sram.size // per_element)))
    share = core_share(chip, fraction, cores)
    total, compute, _, _ = stream_core_time(elements=mine, chunk=chunk, ops_per_element=op.ops_per_element,
                                            lanes_rate=lanes_rate, in_bytes=in_bytes, out_bytes=out_bytes,
                                            bw=share.effective(1.0), stages=chip.sram.stages, latency=share.latency)
    hbm_read, hbm_write = op.min_read_bytes, op.min_write_bytes
    total = max(total, _floor_cycles(chip, hbm_read + hbm_write, fraction))
    cycles = max(1, math.ceil(total - 1e-9))
    compute_cycles = int(compute)
    chunks = -(-mine // chunk)
    return OpTiming(
        cycles=cycles, compute_cycles=compute_cycles, stall_cycles=cycles - compute_cycles,
        cores=cores, work_units=chunks * cores, waves=1, tile=str(chunk),
        hbm_read=hbm_read, hbm_write=hbm_write, l2_read=hbm_read if chip.l2 else 0,
        sram_read=hbm_read + hbm_write, sram_write=hbm_read + hbm_write,
    )
