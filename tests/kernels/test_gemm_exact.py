"""kernels/gemm.py against the Python it replaced, kept here as the oracle: a tile timed in one kernel call
(traffic, bandwidth shares, the pipeline, the integer cycles), the MXUs' SRAM accesses, and the chooser's
pick among its best candidates timed in one batched call. Equal bit for bit, on random shapes and chips."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.dtypes import DTYPE_BITS, nbytes
from simulator.hardware.timing import Tile, gemm_sram_accesses, gemm_timing
from simulator.ir.ops import GemmOp
from simulator.kernels.pipeline import gemm_core_time, gemm_hbm_read_bytes
from simulator.kernels.systolic import DATAFLOWS, core_step_cycles, sram_accesses
from simulator.mapping import gemm as chooser
from tests.conftest import make_chip

PRESETS = ["h100", "tpu_v4", "tpu_v5e", "systolic_32x32", "a100"]


class _Share:
    """hardware.bandwidth.core_share as it was, in Python."""

    def __init__(self, chip, fraction, active_cores, miss):
        active = max(1, active_cores)
        self.hbm = chip.hbm.achievable_bytes_per_cycle * fraction / active
        self.latency = chip.dma_latency + chip.hbm.latency * miss
        if chip.l2 is None:
            self.nearest = min(chip.dma_bytes_per_cycle, self.hbm)
            return
        self.latency += chip.l2.latency
        self.nearest = min(chip.dma_bytes_per_cycle, chip.l2.achievable_bytes_per_cycle * fraction / active)

    def effective(self, miss):
        return self.nearest if miss <= 0 else 1.0 / max(1.0 / self.nearest, miss / self.hbm)


def _traffic(chip, op, tile, cores):
    mt, nt = -(-op.m // tile.m), -(-op.n // tile.n)
    a_size, b_size = math.ceil(op.m * op.k * op.a_bytes), nbytes(op.k * op.n, op.b_dtype)
    loads = op.batch * (nt * a_size + mt * b_size)
    if chip.l2 is None:
        return loads, loads, op.min_write_bytes
    half = chip.l2.size // 2
    a, b = gemm_hbm_read_bytes(op.batch, op.m, op.n, op.k, tile.m, tile.n, cores, op.a_bytes, op.b_bytes,
                               op.batch * a_size <= half, op.batch * b_size <= half)
    return loads, max(op.min_read_bytes, math.ceil(a + b)), op.min_write_bytes


def oracle_timing(chip, op, tile, cores, fraction=1.0):
    """(cycles, compute cycles, cores, waves, loads, HBM read, HBM write) as gemm_timing computed them."""
    mxu = chip.mxu
    tiles = op.batch * -(-op.m // tile.m) * -(-op.n // tile.n)
    cores = min(cores, tiles)
    waves = -(-tiles // cores)
    last = tiles - (waves - 1) * cores
    loads, hbm_read, hbm_write = _traffic(chip, op, tile, cores)
    miss = hbm_read / loads if loads else 0.0
    full, part = _Share(chip, fraction, cores, miss), _Share(chip, fraction, last, miss)
    total, compute, _, _ = gemm_core_time(
        op.batch, op.m, op.n, op.k, tile.m, tile.n, tile.k, cores, op.a_bytes, op.b_bytes, op.c_bytes, mxu.rows,
        mxu.cols, mxu.count, DATAFLOWS[mxu.dataflow], chip.mxu_rate(op.compute_dtype), mxu.pipelined,
        full.effective(miss), part.effective(miss), chip.sram.stages, full.latency)
    floor = (hbm_read + hbm_write) / (chip.hbm.achievable_bytes_per_cycle * fraction)
    cycles = max(math.ceil(total - 1e-9) - 1, math.ceil(floor - 1e-9))
    return cycles, int(compute) - 1, cores, waves, loads, hbm_read, hbm_write


def oracle_accesses(chip, op, tile):
    """The MXUs' element accesses, tile class by tile class and MXU part by part."""
    mxu = chip.mxu
    df, rate = DATAFLOWS[mxu.dataflow], chip.mxu_rate(op.compute_dtype)

    def classes(total, size):
        full, edge = divmod(total, size)
        return [(size, full)] * (full > 0) + [(edge, 1)] * (edge > 0)

    totals = [0, 0, 0, 0]
    for mm, cm in classes(op.m, tile.m):
        for nn, cn in classes(op.n, tile.n):
            for kk, ck in classes(op.k, tile.k):
                _, by_m = core_step_cycles(mm, nn, kk, mxu.rows, mxu.cols, mxu.count, df, rate, mxu.pipelined)
                dim = mm if by_m else nn
                q = -(-dim // mxu.count)
                for s, c in [(q, dim // q)] + ([(dim % q, 1)] if dim % q else []):
                    pm, pn = (s, nn) if by_m else (mm, s)
                    counts = sram_accesses(pm, pn, kk, mxu.rows, mxu.cols, df)
                    for i in range(4):
                        totals[i] += counts[i] * c * cm * cn * ck * op.batch
    return tuple(totals)


def oracle_choice(chip, op):
    """The chooser as it was: every candidate estimated, the best six timed one by one, the fastest kept."""
    candidates = chooser.candidate_tiles(chip, op)
    totals, computes = chooser.tile_estimates(chip, op, candidates)
    total, compute = np.array(totals), np.array(computes, np.int64)
    m, n, k = (np.array([getattr(t, d) for t in candidates], np.int64) for d in "mnk")
    order = (n, m, -k, -m * n)
    ideal = chooser.memory_ideal(chip)
    ranking = np.lexsort((*order, total, compute)) if ideal else np.lexsort((*order, compute, total))
    ranked = [candidates[i] for i in ranking[:chooser.EXACT_CANDIDATES].tolist()]
    timings = {t: oracle_timing(chip, op, t, chip.cores) for t in ranked}

    def rank(t):
        cycles, compute_cycles, *_, hbm_read, _ = timings[t]
        first = (compute_cycles, cycles) if ideal else (cycles, compute_cycles)
        return *first, hbm_read, -t.m * t.n, -t.k, t.m, t.n

    return min(ranked, key=rank)


SHAPES = dict(m=st.integers(1, 5000), n=st.integers(1, 5000), k=st.integers(1, 5000), batch=st.integers(1, 40),
              dtype=st.sampled_from(["bf16", "fp8", "fp32"]), b_dtype=st.sampled_from([None, "int4", "int8"]))


def _case(preset, sets, m, n, k, batch, dtype, b_dtype):
    # the oracle is the systolic timing: GPU GEMM execution (tests/kernels/test_gpu_gemm.py) is switched off
    chip = make_chip(*sets, "core.mxu.gemm=null", base=preset)
    op = GemmOp("g", m, n, k, dtype, dtype, batch, b_dtype=b_dtype)
    if op.compute_dtype not in chip.mxu.macs_per_pe:
        return chip, op, None
    candidates = chooser.candidate_tiles(chip, op)
    return chip, op, candidates


@settings(max_examples=60, deadline=None)
@given(preset=st.sampled_from(PRESETS), sram=st.sampled_from([None, "1 MiB", "24 MiB"]),
       fraction=st.sampled_from([1.0, 0.5, 0.3]), pick=st.integers(0, 10**6), **SHAPES)
def test_a_tile_timed_in_one_kernel_call_is_the_python_timing(preset, sram, fraction, pick, m, n, k, batch, dtype,
                                                             b_dtype):
    chip, op, candidates = _case(preset, [f"core.sram.size={sram}"] if sram else [], m, n, k, batch, dtype, b_dtype)
    if not candidates:
        return
    tile = candidates[pick % len(candidates)]
    cores = 1 + pick % chip.cores
    timing = gemm_timing(chip, op, tile, cores, fraction)
    cycles, compute, used, waves, loads, hbm_read, hbm_write = oracle_timing(chip, op, tile, cores, fraction)
    assert (timing.cycles, timing.compute_cycles, timing.cores, timing.waves, timing.hbm_read, timing.hbm_write) == \
        (cycles, compute, used, waves, hbm_read, hbm_write)
    assert timing.sram_write == loads + hbm_write
    assert gemm_sram_accesses(chip, op, tile) == oracle_accesses(chip, op, tile)
    assert timing.sram_read == math.ceil(timing.a_reads * DTYPE_BITS[op.dtype] / 8 + timing.b_reads * op.b_bytes) + \
        hbm_write


@settings(max_examples=40, deadline=None)
@given(preset=st.sampled_from(PRESETS + ["systolic_32x32 24x40 ws", "systolic_32x32 3 MXUs"]), **SHAPES)
def test_the_chooser_picks_what_it_picked_timing_tile_by_tile(preset, m, n, k, batch, dtype, b_dtype):
    sets = {"systolic_32x32 24x40 ws": ["core.mxu.rows=24", "core.mxu.cols=40", "core.mxu.dataflow=ws"],
            "systolic_32x32 3 MXUs": ["core.mxu.count=3", "core.mxu.rows=48", "core.mxu.cols=48"]}.get(preset, [])
    chip, op, candidates = _case(preset.split()[0], sets, m, n, k, batch, dtype, b_dtype)
    if not candidates:
        return
    assert chooser.choose_tile(chip, op) == oracle_choice(chip, op)


def test_tile_classes_cover_every_edge_case_of_the_access_counts():
    chip = make_chip("core.mxu.count=3", "core.mxu.rows=8", "core.mxu.cols=8")
    op = GemmOp("g", 50, 37, 29, batch=3)
    for tile in (Tile(16, 8, 8), Tile(50, 37, 29), Tile(7, 5, 3), Tile(49, 36, 28)):
        assert gemm_sram_accesses(chip, op, tile) == oracle_accesses(chip, op, tile)
