"""The GEMM tile chooser: array-aligned edges, SCALE-Sim's compute cycles end to end on the SCALE-Sim-like
preset (any array, any dataflow), and the note that says when a mapping traded compute cycles for overlap."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import run_graph
from simulator.config.dtypes import nbytes
from simulator.hardware.timing import ACC_BYTES, Tile, gemm_timing
from simulator.ir.ops import GemmOp, OpGraph
from simulator.kernels.systolic import DATAFLOWS, scalesim_compute_cycles
from simulator.mapping.gemm import (
    SPATIAL,
    TEMPORAL,
    _axis_sizes,
    candidate_tiles,
    choose_tile,
    memory_ideal,
    tile_note,
)
from tests.conftest import make_chip


def tile_fits(chip, op: GemmOp, tile: Tile) -> bool:
    """The fit rule tile by tile (the chooser checks the whole edge grid at once, kernels.gemm.fitting_tiles):
    `stages` input buffers, an output staging buffer and, without accumulator storage, the partial sums."""
    if chip.accumulators and tile.m * tile.n * ACC_BYTES > chip.accumulators:
        return False
    inputs = chip.sram.stages * (nbytes(tile.m * tile.k, op.dtype) + nbytes(tile.k * tile.n, op.b_dtype))
    partials = tile.m * tile.n * ACC_BYTES if chip.accumulators == 0 else 0
    return inputs + nbytes(tile.m * tile.n, op.out_dtype) + partials <= chip.sram.size

# ../shared/reference/scalesim.md: the 13 cases where `tortoise run` reported more compute cycles than
# SCALE-Sim 3.0.0 (ample SRAM, no stalls): (M, N, K), array rows × cols, dataflow, SCALE-Sim's figure.
SCALESIM_REGRESSIONS = [
    ((32, 2060, 13), (32, 32), "is", 2153),
    ((124, 8, 2979), (128, 128), "os", 3232),
    ((22, 80, 4093), (128, 128), "os", 4346),
    ((2712, 92, 96), (128, 128), "ws", 3093),
    ((2047, 193, 191), (256, 256), "ws", 2812),
    ((384, 384, 1951), (512, 512), "os", 2972),
    ((2061, 31, 2), (31, 33), "ws", 2153),
    ((18, 1280, 98), (31, 33), "os", 6239),
    ((48, 1719, 21), (48, 48), "os", 4139),
    ((2376, 68, 19), (96, 96), "os", 5224),
    ((69, 168, 2047), (100, 100), "os", 4489),
    ((2323, 15, 56), (24, 24), "os", 9893),
    ((1352, 122, 4), (7, 7), "is", 27353),
]


def scalesim_chip(rows: int, cols: int, dataflow: str):
    """systolic_32x32 with its array set as `tortoise run … --set core.mxu.…` would."""
    return make_chip(f"core.mxu.rows={rows}", f"core.mxu.cols={cols}", f"core.mxu.dataflow={dataflow}")


def run_one(chip, op: GemmOp):
    return run_graph(chip, OpGraph("g", (op,)))


@pytest.mark.parametrize("shape, array, dataflow, expected", SCALESIM_REGRESSIONS,
                         ids=[f"{'x'.join(map(str, s))}-{a[0]}x{a[1]}-{df}" for s, a, df, _ in SCALESIM_REGRESSIONS])
def test_scalesim_regression_cases_end_to_end(shape, array, dataflow, expected):
    assert scalesim_compute_cycles(*shape, *array, DATAFLOWS[dataflow]) == expected
    chip = scalesim_chip(*array, dataflow)
    op = GemmOp("g", *shape)
    result = run_one(chip, op)
    assert result.records[0].compute_cycles == expected
    assert result.summary["compute_cycles"] == expected
    assert tile_note(chip, op, choose_tile(chip, op)) == ""


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 3000),
       st.integers(2, 256), st.integers(2, 256), st.sampled_from(sorted(DATAFLOWS)))
def test_scalesim_preset_reports_scalesim_compute_cycles(m, n, k, rows, cols, dataflow):
    chip = scalesim_chip(rows, cols, dataflow)
    op = GemmOp("g", m, n, k)
    record = run_one(chip, op).records[0]
    assert record.compute_cycles == scalesim_compute_cycles(m, n, k, rows, cols, DATAFLOWS[dataflow])
    assert record.cycles >= record.compute_cycles
    assert tile_note(chip, op, choose_tile(chip, op)) == ""


def assert_aligned(chip, op: GemmOp, tile: Tile) -> None:
    mxu = chip.mxu
    for dim, edge in zip(SPATIAL[mxu.dataflow], (mxu.rows, mxu.cols), strict=True):
        size, whole = getattr(tile, dim), getattr(op, dim)
        assert size == whole or size % edge == 0, f"{tile}: {dim} = {size} on a {edge}-wide array edge"


OPEN_GRID = "core.mxu.gemm=null"  # a GPU preset without its GEMM library: the open tile search these tests check
CHIPS = {
    "h100": lambda: make_chip(OPEN_GRID, base="h100"),
    "tpu_v4": lambda: make_chip(base="tpu_v4"),
    "24x24 os": lambda: scalesim_chip(24, 24, "os"),
    "31x33 ws": lambda: scalesim_chip(31, 33, "ws"),
    "100x100 is": lambda: scalesim_chip(100, 100, "is"),
    "3 MXUs of 48x48": lambda: make_chip("core.mxu.count=3", "core.mxu.rows=48", "core.mxu.cols=48"),
}
SHAPES = [(2323, 15, 56), (1, 8192, 8192), (4096, 4096, 4096), (700, 1719, 4093), (18, 1280, 98)]


@pytest.mark.parametrize("name", CHIPS)
@pytest.mark.parametrize("shape", SHAPES)
def test_spatial_edges_are_array_multiples_and_the_whole_streamed_dim_is_a_candidate(name, shape):
    chip, op = CHIPS[name](), GemmOp("g", *shape)
    candidates = candidate_tiles(chip, op)
    assert candidates
    sizes = _axis_sizes(chip, op)  # the walk that stops at the first misfit misses no fitting tile
    every = [Tile(m, n, k) for m in sizes["m"] for n in sizes["n"] for k in sizes["k"]]
    assert candidates == [t for t in every if tile_fits(chip, op, t)]
    for tile in candidates:
        assert_aligned(chip, op, tile)
        assert tile_fits(chip, op, tile)
    assert_aligned(chip, op, choose_tile(chip, op))
    streamed = TEMPORAL[chip.mxu.dataflow]
    smallest = min(candidates, key=lambda t: (t.m * t.n * t.k))
    whole = Tile(**{**vars(smallest), streamed: getattr(op, streamed)})
    if tile_fits(chip, op, whole):
        assert any(getattr(t, streamed) == getattr(op, streamed) for t in candidates)


def test_a_core_of_several_mxus_gets_edges_of_array_times_mxu_count():
    chip = make_chip("core.mxu.count=3")  # os: N is split across the three 32-wide MXUs
    sizes = {t.n for t in candidate_tiles(chip, GemmOp("g", 64, 1000, 64))}
    assert {96, 192, 384, 768} <= sizes
    assert all(n == 1000 or n % 32 == 0 for n in sizes)


def test_only_latency_free_memory_ranks_compute_first(h100, tpu_v4):
    assert memory_ideal(make_chip())
    assert not memory_ideal(make_chip("core.dma.latency=10"))
    assert not memory_ideal(h100) and not memory_ideal(tpu_v4)


def test_with_latency_the_preset_trades_one_fold_skew_for_overlap_and_says_so():
    # The first regression case again, with a DMA latency: the memory is no longer ideal and cutting N
    # (is's streamed dimension) into 2048 + 12 pays the fold's skew 2R + C − 2 once more for overlap.
    chip = make_chip("core.mxu.dataflow=is", "core.dma.latency=100")
    op = GemmOp("g", 32, 2060, 13)
    tile = choose_tile(chip, op)
    note = tile_note(chip, op, tile)
    assert tile == Tile(32, 2048, 13)
    assert note.startswith("N cut into 2 chunks (not 1) to overlap loads with compute")
    assert _extra(note) == 2 * 32 + 32 - 2
    assert gemm_timing(chip, op, tile, 1).cycles < gemm_timing(chip, op, Tile(32, 2060, 13), 1).cycles


def _extra(note: str) -> int:
    return int(re.search(r"\+([\d,]+) compute cycles", note).group(1).replace(",", ""))


@pytest.mark.parametrize("preset, shape, cut", [("h100", (32, 128, 2048), "K"), ("tpu_v4", (2048, 2048, 2048), "K")])
def test_tile_note_states_the_compute_cycles_a_real_chip_traded(preset, shape, cut):
    chip, op = make_chip(*[OPEN_GRID] * (preset == "h100"), base=preset), GemmOp("g", *shape)
    tile = choose_tile(chip, op)
    note = tile_note(chip, op, tile)
    assert note.startswith(f"{cut} cut into"), note
    timings = {t: gemm_timing(chip, op, t, chip.cores) for t in candidate_tiles(chip, op)}
    fewest = min(timing.compute_cycles for timing in timings.values())
    assert _extra(note) == timings[tile].compute_cycles - fewest > 0  # the fewest over every fitting tile
    assert timings[tile].cycles < min(t.cycles for t in timings.values() if t.compute_cycles == fewest)
    best = min(timings, key=lambda t: (timings[t].compute_cycles, timings[t].cycles))
    assert tile_note(chip, op, best) == ""


@settings(max_examples=40, deadline=None)
@given(preset=st.sampled_from(["h100", "tpu_v4", "tpu_v5e", "systolic_32x32", "a100"]),
       m=st.integers(1, 9000), n=st.integers(1, 9000), k=st.integers(1, 9000),
       dtype=st.sampled_from(["bf16", "fp8", "fp32"]), b_dtype=st.sampled_from([None, "int4", "int8"]),
       sram=st.sampled_from([None, "256 KiB", "4 MiB", "128 MiB"]))
def test_the_grid_fit_check_is_tile_fits_on_every_tile(preset, m, n, k, dtype, b_dtype, sram):
    from simulator.mapping.gemm import _axis_sizes, _candidate_arrays

    gpu = [OPEN_GRID] if preset in ("h100", "a100") else []
    chip = make_chip(*([f"core.sram.size={sram}"] if sram else []), *gpu, base=preset)
    op = GemmOp("g", m, n, k, dtype, dtype, b_dtype=b_dtype)
    sizes = _axis_sizes(chip, op)
    every = [Tile(tm, tn, tk) for tm in sizes["m"] for tn in sizes["n"] for tk in sizes["k"]]
    found = [Tile(*edges) for edges in zip(*(a.tolist() for a in _candidate_arrays(chip, op)), strict=True)]
    assert found == [t for t in every if tile_fits(chip, op, t)]
