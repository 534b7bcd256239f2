"""The tile chooser's estimates in one numba call equal, bit for bit, the per-tile Python they replaced
(kept here as the oracle), on random shapes, arrays, dtypes and memory systems."""

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.dtypes import nbytes
from simulator.errors import ConfigError
from simulator.hardware.bandwidth import core_share
from simulator.hardware.chip import Chip
from simulator.hardware.timing import tile_estimates
from simulator.ir.ops import GemmOp
from simulator.ir.program import Tile
from simulator.kernels.systolic import DATAFLOWS, core_step_cycles
from simulator.mapping.gemm import candidate_tiles
from tests.conftest import make_chip

# ---- the oracle: mapping/gemm.py's estimates before they moved into kernels/tiles.py, verbatim ----------


def tile_step_cycles(chip: Chip, tile: Tile, dtype: str) -> int:
    """Cycles one core's MXUs take for one full-size tile step (no memory waits)."""
    mxu = chip.mxu
    step, _ = core_step_cycles(tile.m, tile.n, tile.k, mxu.rows, mxu.cols, mxu.count, DATAFLOWS[mxu.dataflow],
                               chip.mxu_rate(dtype), mxu.pipelined)
    return step


def _classes(total: int, size: int) -> list[tuple[int, int]]:
    """(length, count) of the full and the edge block when `total` is cut into blocks of `size`."""
    full, edge = divmod(total, size)
    return [(size, full)] * (full > 0) + [(edge, 1)] * (edge > 0)


class _Steps:
    """Cycles of one core's tile steps, each shape computed once per choice."""

    def __init__(self, chip: Chip, op: GemmOp):
        self.chip, self.op, self._cache = chip, op, {}

    def __call__(self, m: int, n: int, k: int) -> int:
        key = (m, n, k)
        cycles = self._cache.get(key)
        if cycles is None:
            cycles = self._cache[key] = tile_step_cycles(self.chip, Tile(m, n, k), self.op.compute_dtype)
        return cycles

    def output_tile(self, m: int, n: int, tk: int) -> int:
        """Cycles of one m×n output tile over all of K in chunks of `tk`."""
        return sum(count * self(m, n, kk) for kk, count in _classes(self.op.k, tk))


def _grid(chip: Chip, op: GemmOp, tile: Tile) -> tuple[int, int, int, int, int]:
    """(row blocks, column blocks, K chunks, cores, tiles on the critical core)."""
    mt, nt, kt = -(-op.m // tile.m), -(-op.n // tile.n), -(-op.k // tile.k)
    tiles = op.batch * mt * nt
    cores = min(chip.cores, tiles)
    return mt, nt, kt, cores, -(-tiles // cores)


def _compute_estimate(chip: Chip, op: GemmOp, tile: Tile, steps: _Steps) -> int:
    """Compute cycles of the critical core (core 0): exact on one core or in one wave; otherwise as if all
    of core 0's tiles were full-size (core 0 gets tile 0, which is)."""
    _, _, _, cores, mine = _grid(chip, op, tile)
    if cores == 1:
        busy = op.batch * sum(cm * cn * steps.output_tile(mm, nn, tile.k)
                              for mm, cm in _classes(op.m, tile.m) for nn, cn in _classes(op.n, tile.n))
    else:
        busy = mine * steps.output_tile(min(tile.m, op.m), min(tile.n, op.n), tile.k)
    return busy - 1


def _estimate(chip: Chip, op: GemmOp, tile: Tile, steps: _Steps) -> float:
    """Steps of the critical core × the slower of compute and load per full-size step."""
    mt, nt, kt, cores, waves = _grid(chip, op, tile)
    step = steps(tile.m, tile.n, tile.k)
    load_bytes = tile.m * tile.k * op.a_bytes + nbytes(tile.k * tile.n, op.b_dtype)
    # Rough HBM share of loads: a wave re-reads each block about once per distinct neighbour.
    miss = 1.0 if chip.l2 is None else min(1.0, (1 / min(nt, cores) + 1 / min(mt, max(1, cores // nt))) / 2)
    load = load_bytes / core_share(chip, 1.0, cores, miss).effective(miss)
    return waves * kt * max(step, load) + load


# ---- the checks ------------------------------------------------------------------------------------------

PRESETS = ("h100", "a100", "tpu_v4", "tpu_v5e", "systolic_32x32")


@settings(max_examples=60, deadline=None)
@given(preset=st.sampled_from(PRESETS), m=st.integers(1, 5000), n=st.integers(1, 5000), k=st.integers(1, 9000),
       batch=st.integers(1, 64), dtype=st.sampled_from(["bf16", "fp8", "int8", "fp32"]),
       b_dtype=st.sampled_from([None, "int4", "int8"]), a_on_chip=st.booleans(),
       rows=st.sampled_from([None, 7, 24, 33, 128]), sram=st.sampled_from([None, "1 MiB", "64 MiB"]))
def test_estimates_equal_the_per_tile_python(preset, m, n, k, batch, dtype, b_dtype, a_on_chip, rows, sram):
    sets = [f"core.mxu.rows={rows}", f"core.mxu.cols={rows}"] if rows else []
    sets += [f"core.sram.size={sram}"] if sram else []
    chip = make_chip(*sets, base=preset)
    op = GemmOp("g", m, n, k, dtype, dtype, batch, b_dtype=b_dtype, a_on_chip=a_on_chip)
    try:
        chip.mxu_rate(op.compute_dtype)
    except ConfigError:  # the MXU has no rate for this dtype: the chooser never gets here
        return
    tiles = candidate_tiles(chip, op)
    if not tiles:
        return
    totals, computes = tile_estimates(chip, op, tiles)
    steps = _Steps(chip, op)
    assert totals == [_estimate(chip, op, t, steps) for t in tiles]
    assert computes == [_compute_estimate(chip, op, t, steps) for t in tiles]


def test_estimates_of_the_bundled_presets_equal_the_oracle_on_llm_shapes():
    for preset in PRESETS:
        chip: Chip = make_chip(base=preset)
        for m, n, k, batch in ((1, 6144, 4096, 1), (2048, 28672, 4096, 1), (4, 4096, 128, 32), (128, 4097, 128, 8)):
            op = GemmOp("g", m, n, k, batch=batch)
            tiles = candidate_tiles(chip, op)
            totals, computes = tile_estimates(chip, op, tiles)
            steps = _Steps(chip, op)
            assert totals == [_estimate(chip, op, t, steps) for t in tiles]
            assert computes == [_compute_estimate(chip, op, t, steps) for t in tiles]
