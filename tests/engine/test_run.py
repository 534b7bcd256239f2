"""The event engine: SCALE-Sim exactness through the whole path, conservation laws, waves, overlap."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import run_graph
from simulator.hardware.timing import Tile, gemm_timing
from simulator.ir.ops import GemmOp, OpGraph, VectorOp
from simulator.kernels.systolic import DATAFLOWS, scalesim_compute_cycles
from tests.conftest import make_chip
from tests.kernels.test_systolic import SCALESIM_CASES


@pytest.mark.parametrize(
    "shape, array, dataflow, expected",
    [(s, a, df, c) for s, a, exp in SCALESIM_CASES for df, c in exp.items()],
)
def test_one_tile_on_one_array_has_scalesim_compute_cycles(shape, array, dataflow, expected):
    chip = make_chip(f"core.mxu.rows={array[0]}", f"core.mxu.cols={array[1]}", f"core.mxu.dataflow={dataflow}")
    m, n, k = shape
    timing = gemm_timing(chip, GemmOp("g", m, n, k), Tile(m, n, k), cores=1)
    assert timing.compute_cycles == expected
    assert timing.cycles >= expected


def test_engine_reports_scalesim_cycles_for_its_chosen_tiles():
    # Whatever array-aligned tiles the mapper picks, os folds are the same 32×32 blocks over full K.
    chip = make_chip()
    record = run_graph(chip, OpGraph("g", (GemmOp("g", 64, 64, 64),))).records[0]
    assert record.compute_cycles == scalesim_compute_cycles(64, 64, 64, 32, 32, DATAFLOWS["os"]) == 503


chips = st.sampled_from(["h100", "tpu_v4", "systolic_32x32"])
shape = st.tuples(st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 4))


@settings(max_examples=40, deadline=None)
@given(chips, shape, st.sampled_from(["bf16", "int8"]))
def test_conservation_and_bounds(preset, dims, dtype):
    m, n, k, batch = dims
    chip = make_chip(base=preset)
    op = GemmOp("g", m, n, k, dtype, "bf16", batch)
    result = run_graph(chip, OpGraph("g", (op,)))
    row = result.table.iloc[0]
    assert row.flops == 2 * m * n * k * batch
    assert row.macs == m * n * k * batch
    # split-K (GPU presets) writes fp32 partial sums and reads them back before writing C once
    split = int(row.tile.split("split-K ")[1]) if "split-K" in row.tile else 1
    partials = batch * m * n * 4 * split if split > 1 else 0
    assert row.hbm_read >= op.min_read_bytes + partials  # every operand at least once
    assert row.hbm_write == op.min_write_bytes + partials
    assert row.a_reads >= m * k * batch and row.b_reads >= k * n * batch
    assert 0 < row.mxu_utilization <= 1
    assert row.cycles >= row.roofline_cycles  # no op beats its roofline
    assert 0 <= row.compute_cycles <= row.cycles and row.stall_cycles >= 0
    assert row.cycles >= op.macs / chip.peak_macs_per_cycle(dtype)


def test_wave_quantization_shows():
    chip = make_chip("cores=4")
    tile = Tile(64, 64, 512)
    four = gemm_timing(chip, GemmOp("g", 4 * 64, 64, 512), tile, cores=4)
    five = gemm_timing(chip, GemmOp("g", 5 * 64, 64, 512), tile, cores=4)
    assert (four.waves, five.waves) == (1, 2)
    assert five.compute_cycles == 2 * four.compute_cycles + 1  # two tiles on core 0 (one "−1")
    assert five.cycles >= 2 * four.compute_cycles  # core 0 computes two whole tiles


def test_dependencies_serialize_and_independent_ops_overlap():
    # 8 cores whose DMA ports each pull a tenth of HBM: a 2-core op reserves 2/8 of the bandwidth.
    chip = make_chip("cores=8", "core.dma.bandwidth=100 GB/s")
    a = VectorOp("a", "softmax", 64)  # 32 lanes per core: 2 cores
    b_dep = VectorOp("b", "softmax", 64, deps=("a",))
    b_free = VectorOp("b", "softmax", 64)
    serial = run_graph(chip, OpGraph("s", (a, b_dep))).records
    parallel = run_graph(chip, OpGraph("p", (a, b_free))).records
    assert serial[1].start >= serial[0].end
    assert parallel[0].cores + parallel[1].cores <= chip.cores
    assert parallel[1].start == 0  # room on the chip: both start at once
    assert max(r.end for r in parallel) < max(r.end for r in serial)


def test_overlapping_ops_never_hold_more_than_all_bandwidth():
    chip = make_chip("cores=8")
    ops = tuple(VectorOp(f"v{i}", "add", 32 * 1024, inputs=2, outputs=1) for i in range(4))
    records = run_graph(chip, OpGraph("v", ops)).records
    for t in sorted({r.start for r in records}):
        running = [r for r in records if r.start <= t < r.end]
        assert sum(r.bandwidth_fraction for r in running) <= 1 + 1e-9
        assert sum(r.cores for r in running) <= chip.cores


def test_deterministic():
    chip = make_chip(base="h100")
    ops = (GemmOp("a", 512, 1024, 768), VectorOp("v", "gelu", 512 * 1024, deps=()), GemmOp("b", 512, 768, 1024))
    first = run_graph(chip, OpGraph("d", ops)).table
    second = run_graph(make_chip(base="h100"), OpGraph("d", ops)).table
    assert first.equals(second)


def test_hbm_bound_vector_op_runs_at_achievable_hbm_bandwidth(h100):
    # Streams at the achievable bandwidth (datasheet × efficiency), after the fixed per-op overhead.
    op = VectorOp("add", "add", 64 * 2**20, "bf16", inputs=2, outputs=1, ops_per_element=1.0)
    record = run_graph(h100, OpGraph("v", (op,))).records[0]
    floor = (op.min_read_bytes + op.min_write_bytes) / h100.hbm.achievable_bytes_per_cycle
    assert floor <= record.cycles - record.overhead_cycles <= 1.05 * floor


def test_memory_bound_gemm_stalls_more_than_it_computes(h100):
    record = run_graph(h100, OpGraph("mv", (GemmOp("mv", 1, 8192, 8192),))).records[0]
    assert record.stall_cycles > record.compute_cycles


def test_vector_op_time_counts_lanes():
    # 1 core, 32 lanes, no memory pressure: 32768 elements × 5 ops (softmax) / 32 lanes = 5120 cycles.
    chip = make_chip("core.dma.bandwidth=1 TB/s", "memory.hbm.bandwidth=100 TB/s")
    record = run_graph(chip, OpGraph("s", (VectorOp("s", "softmax", 32768, "fp32", 1, 1, 5.0),))).records[0]
    assert record.compute_cycles == 5120
    assert record.cycles >= 5120 and math.isclose(record.cycles, 5120, rel_tol=0.1)
