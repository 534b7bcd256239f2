"""Timing of one op on a group of cores: the numba pipeline of the critical core plus exact totals.

The critical core (core 0) holds the most tiles; its DMA/compute pipeline runs in numba
(`kernels/pipeline.py`), stepping through at most a bounded number of its steps and jumping exactly over
the periodic rest. Totals (bytes per level, SRAM accesses) are closed forms over tile-size classes.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from simulator.config.dtypes import DTYPE_BITS, nbytes
from simulator.hardware.bandwidth import HBMTerms, core_share, hbm_terms
from simulator.hardware.chip import Chip
from simulator.hardware.quant import with_quant
from simulator.ir.ops import GemmOp, VectorOp
from simulator.ir.program import Tile
from simulator.kernels.gemm import fitting_tiles, gemm_exact, gemm_exact_many, sram_access_totals
from simulator.kernels.pipeline import stream_core_time
from simulator.kernels.systolic import DATAFLOWS
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
    dequant_cycles: int = 0  # of cycles: vector work dequantizing weights and rescaling outputs (hardware/quant.py)


def tile_estimates(chip: Chip, op: GemmOp, tms, tns=None, tks=None) -> tuple:
    """The chooser's quick estimates of candidate tiles: (total cycles, critical-core compute cycles) of each,
    as arrays for arrays of edges (tms, tns, tks), as lists for a list of Tiles (`tile_estimates(chip, op,
    tiles)`)."""
    if tks is None:
        tiles = tms
        edges = [np.array([getattr(t, d) for t in tiles], np.int64) for d in "mnk"]
        return tuple(a.tolist() for a in tile_estimates(chip, op, *edges))
    mxu, l2 = chip.mxu, chip.l2
    return estimate_tiles(
        tms, tns, tks, op.batch, op.m, op.n, op.k, chip.cores, float(op.a_bytes), DTYPE_BITS[op.b_dtype], mxu.rows,
        mxu.cols, mxu.count, DATAFLOWS[mxu.dataflow], float(chip.mxu_rate(op.compute_dtype)), bool(mxu.pipelined),
        float(chip.dma_bytes_per_cycle), float(chip.hbm.achievable_bytes_per_cycle),
        float(l2.achievable_bytes_per_cycle) if l2 else 0.0, l2 is not None)


def gemm_stages(chip: Chip, op: GemmOp) -> int:
    """The input buffers a GEMM's loads pipeline over: its kernel's own (`op.stages`), else the core's."""
    return op.stages or chip.sram.stages


def fitting_edges(chip: Chip, op: GemmOp, ms: list[int], ns: list[int], ks: list[int]) -> tuple:
    """(M, N, K edges) of every tile of the grid ms × ns × ks that fits the core's SRAM (kernels.gemm
    `fitting_tiles`: `stages` input buffers, an output staging buffer, the partial sums). On a GPU the epilogue
    reuses the main loop's shared memory (CUTLASS's kernel SharedStorage is a union of the two), so no
    output buffer is added."""
    out_bits = 0 if chip.gpu_gemm is not None else DTYPE_BITS[op.out_dtype]
    return fitting_tiles(np.array(ms, np.int64), np.array(ns, np.int64), np.array(ks, np.int64), gemm_stages(chip, op),
                         DTYPE_BITS[op.dtype], DTYPE_BITS[op.b_dtype], out_bits, ACC_BYTES,
                         chip.accumulators, chip.sram.size)


def gemm_figures(chip: Chip, op: GemmOp, tms, tns, tks, cores: int) -> list[list[int]]:
    """`gemm_exact`'s seven figures (cycles, compute cycles, cores, waves, loads, HBM read, HBM write) of each
    tile tms[i] × tns[i] × tks[i] at the whole chip's share, in one kernel call."""
    return gemm_exact_many(tms, tns, tks, *gemm_args(chip, op, cores)).tolist()


def gemm_sram_accesses(chip: Chip, op: GemmOp, tile: Tile) -> tuple[int, int, int, int]:
    """MXU-side element accesses over every tile step of the op: (A reads, B reads, C reads, C writes)."""
    mxu = chip.mxu
    return tuple(int(x) for x in sram_access_totals(
        op.batch, op.m, op.n, op.k, tile.m, tile.n, tile.k, mxu.rows, mxu.cols, mxu.count, DATAFLOWS[mxu.dataflow],
        float(chip.mxu_rate(op.compute_dtype)), bool(mxu.pipelined)))


def gemm_args(chip: Chip, op: GemmOp, cores: int, fraction: float = 1.0, hbm: HBMTerms | None = None) -> tuple:
    """The scalar arguments of `kernels.gemm.gemm_exact` after the tile: the op, the chip, the share; `hbm` the
    HBM bandwidth and latency the op sees (default: the level's, as `rate` has them)."""
    mxu, l2 = chip.mxu, chip.l2
    hbm = hbm or HBMTerms(chip.hbm.achievable_bytes_per_cycle, chip.hbm.latency)
    return (op.batch, op.m, op.n, op.k, cores, float(fraction), math.ceil(op.m * op.k * op.a_bytes),
            nbytes(op.k * op.n, op.b_dtype), op.min_read_bytes, op.min_write_bytes, op.a_bytes, op.b_bytes, op.c_bytes,
            mxu.rows, mxu.cols, mxu.count, DATAFLOWS[mxu.dataflow], float(chip.mxu_rate(op.compute_dtype)),
            bool(mxu.pipelined), gemm_stages(chip, op), float(chip.dma_bytes_per_cycle), float(chip.dma_latency),
            float(hbm.bytes_per_cycle), float(hbm.latency), l2 is not None,
            float(l2.achievable_bytes_per_cycle) if l2 else 0.0, float(l2.latency) if l2 else 0.0,
            l2.size // 2 if l2 else 0, *_gpu_args(chip))


def _gpu_args(chip: Chip) -> tuple:
    """gemm_exact's GPU terms (kernels/gemm.py): on, shared-memory bytes per SM cycle, tensor clock share,
    register-file and shared-memory bytes per SM (how many CTAs fit), the warp tile and the fewest warps,
    whether the kernels are persistent."""
    gemm = chip.gpu_gemm
    if gemm is None:
        return False, 1.0, 1.0, 0, 0, 1, 1, 1, False
    return (True, float(gemm.smem_bandwidth), float(chip.tensor_clock_scale), int(chip.accumulators),
            int(chip.sram.size), *gemm.warp_tile, gemm.min_warps, gemm.persistent)


def split_part(op: GemmOp, tile: Tile) -> tuple[GemmOp, Tile]:
    """The GEMM a split-K tile's kernel runs, and its tile: each of `tile.split` slabs of K a product of its
    own (the batch grows), writing fp32 partial sums that a reduction then adds (`split_reduce`)."""
    k = -(-op.k // tile.split)
    part = replace(op, batch=op.batch * tile.split, k=k, out_dtype="fp32", c_on_chip=False,
                   b_group=min(op.b_group, k) if op.b_group else 0)
    return part, Tile(tile.m, tile.n, min(tile.k, k))


def split_reduce(chip: Chip, op: GemmOp, split: int, fraction: float = 1.0) -> tuple[int, int, int]:
    """(cycles, HBM bytes read, written) of adding `split` fp32 partials per output into C: CUTLASS's
    split-K reduction reads every partial once and writes C once, at the op's share of HBM bandwidth."""
    read = op.batch * op.m * op.n * ACC_BYTES * split
    write = 0 if op.c_on_chip else op.batch * nbytes(op.m * op.n, op.out_dtype)
    return math.ceil(_floor_cycles(chip, read + write, fraction)), read, write


def _with_split(chip: Chip, op: GemmOp, tile: Tile, timing: OpTiming, fraction: float = 1.0) -> OpTiming:
    """The part's timing (split_part) plus the reduction: its cycles are memory stall, its bytes HBM traffic
    (the partials were written by the part, so they are read back here)."""
    cycles, read, write = split_reduce(chip, op, tile.split, fraction)
    return replace(timing, cycles=timing.cycles + cycles, stall_cycles=timing.stall_cycles + cycles,
                   hbm_read=timing.hbm_read + read, hbm_write=timing.hbm_write + write, tile=str(tile))


def gemm_timing(chip: Chip, op: GemmOp, tile: Tile, cores: int, fraction: float = 1.0,
                accesses: bool = True) -> OpTiming:
    """The op on `cores` cores holding `fraction` of the chip's memory bandwidth (kernels/gemm.py).
    `accesses=False` leaves out the MXUs' SRAM access counts (a_reads … acc_writes are 0, sram_read counts
    only the write-back), which only reports need. Under the `banked` memory model the op's HBM share is also
    capped by the requests its active cores keep in flight (hardware/bandwidth.py hbm_terms)."""
    if tile.split > 1:
        part, whole = split_part(op, tile)
        return _with_split(chip, op, tile, gemm_timing(chip, part, whole, cores, fraction, accesses), fraction)
    hbm = None
    if chip.memory_model == "banked":
        active = min(cores, op.batch * -(-op.m // tile.m) * -(-op.n // tile.n))
        hbm = _op_hbm_terms(chip, op, active, fraction)
    cycles, compute_cycles, cores, waves, loads, hbm_read, hbm_write = gemm_exact(
        tile.m, tile.n, tile.k, *gemm_args(chip, op, cores, fraction, hbm))
    return gemm_op_timing(chip, op, tile, (cycles, compute_cycles, cores, waves, loads, hbm_read, hbm_write),
                          accesses)


def gemm_op_timing(chip: Chip, op: GemmOp, tile: Tile, figures, accesses: bool = True) -> OpTiming:
    """An OpTiming from `gemm_exact`'s seven figures (of the split part, for a split-K tile)."""
    if tile.split > 1:
        part, whole = split_part(op, tile)
        return _with_split(chip, op, tile, gemm_op_timing(chip, part, whole, figures, accesses))
    cycles, compute_cycles, cores, waves, loads, hbm_read, hbm_write = (int(x) for x in figures)
    cycles, compute_cycles, dequant = with_quant(chip, op, tile, cores, cycles, compute_cycles)  # hardware/quant.py
    tiles = op.batch * -(-op.m // tile.m) * -(-op.n // tile.n)
    a_reads, b_reads, acc_reads, acc_writes = gemm_sram_accesses(chip, op, tile) if accesses else (0, 0, 0, 0)
    return OpTiming(
        cycles=cycles, compute_cycles=compute_cycles, stall_cycles=cycles - compute_cycles,
        cores=cores, work_units=tiles * -(-op.k // tile.k), waves=waves, tile=str(tile),
        hbm_read=hbm_read, hbm_write=hbm_write, l2_read=loads if chip.l2 else 0,
        sram_read=math.ceil(a_reads * DTYPE_BITS[op.dtype] / 8 + b_reads * op.b_bytes) + hbm_write,
        sram_write=loads + hbm_write,
        a_reads=a_reads, b_reads=b_reads, acc_reads=acc_reads, acc_writes=acc_writes, dequant_cycles=dequant,
    )


def _floor_cycles(chip: Chip, hbm_bytes: int, fraction: float, hbm: HBMTerms | None = None) -> float:
    """No op moves its HBM bytes faster than its reserved fraction of HBM bandwidth."""
    return hbm_bytes / ((hbm.bytes_per_cycle if hbm else chip.hbm.achievable_bytes_per_cycle) * fraction)


def _op_hbm_terms(chip: Chip, op, active_cores: int, fraction: float) -> HBMTerms:
    """hbm_terms of an op from its shape: its least HBM traffic and the read share of it (memoized there)."""
    read, write = op.min_read_bytes, op.min_write_bytes
    total = read + write
    block = getattr(op, "b_block", 0)  # a GEMM whose B is gathered in blocks (a paged KV cache)
    return hbm_terms(chip, fraction, active_cores, total, read / total if total else 1.0,
                     f"kv-gather:{block}" if block else "stream")


def vector_cores(chip: Chip, op: VectorOp) -> int:
    """Cores a vector op spreads over: all of them, unless it has fewer elements than lanes to fill."""
    return max(1, min(chip.cores, -(-op.elements // chip.vector.lanes)))


def lane_ops(chip: Chip, op: VectorOp, lanes_rate: float) -> float:
    """Ops per element in lane-cycles: the kind's ops, or its transcendentals where the special-function units
    (`core.vector.special` results per cycle, beside the lanes) take longer."""
    special = op.special
    if not special or chip.vector.special is None:
        return op.ops_per_element
    return max(op.ops_per_element, special * lanes_rate / chip.vector.special)


def vector_timing(chip: Chip, op: VectorOp, cores: int, fraction: float = 1.0) -> OpTiming:
    """Elementwise work streamed through the vector units of `cores` cores in SRAM-sized chunks."""
    bits = DTYPE_BITS[op.dtype]
    # Pure data movement (copy, lookup) computes nothing, so it needs no rate for its dtype.
    lanes_rate = chip.vector.lanes * (chip.vector_rate(op.dtype) if op.ops_per_element else 1.0)
    cores = min(cores, vector_cores(chip, op))
    mine = -(-op.elements // cores)
    reads = chip.runtime.input_reads(op)  # a multi-pass library kernel reads its rows again (hardware/runtime.py)
    in_bytes = reads * op.inputs * bits / 8 + op.mask_reads  # per element: the tensors, then any mask
    out_bytes = op.outputs * bits / 8 + op.mask_writes
    per_element = chip.sram.stages * in_bytes + 2 * out_bytes
    chunk = mine if per_element == 0 else max(1, min(mine, int(chip.sram.size // per_element)))
    hbm = _op_hbm_terms(chip, op, cores, fraction) if chip.memory_model == "banked" else None
    share = core_share(chip, fraction, cores, hbm=hbm)
    total, compute, _, _ = stream_core_time(elements=mine, chunk=chunk, ops_per_element=lane_ops(chip, op, lanes_rate),
                                            lanes_rate=lanes_rate, in_bytes=in_bytes, out_bytes=out_bytes,
                                            bw=share.effective(1.0), stages=chip.sram.stages, latency=share.latency)
    hbm_read = reads * nbytes(op.elements, op.dtype) * op.inputs + op.mask_reads * op.elements
    hbm_write = op.min_write_bytes
    total = max(total, _floor_cycles(chip, hbm_read + hbm_write, fraction, hbm))
    cycles = max(1, math.ceil(total - 1e-9))
    compute_cycles = int(compute)
    chunks = -(-mine // chunk)
    return OpTiming(
        cycles=cycles, compute_cycles=compute_cycles, stall_cycles=cycles - compute_cycles,
        cores=cores, work_units=chunks * cores, waves=1, tile=str(chunk),
        hbm_read=hbm_read, hbm_write=hbm_write, l2_read=hbm_read if chip.l2 else 0,
        sram_read=hbm_read + hbm_write, sram_write=hbm_read + hbm_write,
    )
