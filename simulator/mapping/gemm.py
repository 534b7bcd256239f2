"""Tile selection for GEMMs: enumerate SRAM-fitting tiles, rank by a quick estimate, time the best exactly.

Like a library's autotuner, this picks the tile the timing model says is fastest on the whole chip;
ties go to fewer HBM bytes, then to the larger tile, so the choice is deterministic.
"""

from functools import lru_cache

from simulator.config.dtypes import nbytes
from simulator.errors import CapacityError
from simulator.hardware.bandwidth import core_share
from simulator.hardware.chip import Chip
from simulator.hardware.timing import Tile, gemm_timing, tile_fits, tile_step_cycles
from simulator.ir.ops import GemmOp

SIZES = tuple(2**i for i in range(4, 14))  # 16 … 8192
EXACT_CANDIDATES = 6


def _sizes(dim: int) -> list[int]:
    return sorted({min(dim, s) for s in SIZES})


def candidate_tiles(chip: Chip, op: GemmOp) -> list[Tile]:
    tiles = [Tile(m, n, k) for m in _sizes(op.m) for n in _sizes(op.n) for k in _sizes(op.k)]
    return [t for t in tiles if tile_fits(chip, op, t)]


def _estimate(chip: Chip, op: GemmOp, tile: Tile) -> float:
    """Steps of the critical core × the slower of compute and load per full-size step."""
    mt, nt, kt = -(-op.m // tile.m), -(-op.n // tile.n), -(-op.k // tile.k)
    tiles = op.batch * mt * nt
    cores = min(chip.cores, tiles)
    waves = -(-tiles // cores)
    step = tile_step_cycles(chip, tile, op.compute_dtype)
    load_bytes = tile.m * tile.k * op.a_bytes + nbytes(tile.k * tile.n, op.b_dtype)
    # Rough HBM share of loads: a wave re-reads each block about once per distinct neighbour.
    miss = 1.0 if chip.l2 is None else min(1.0, (1 / min(nt, cores) + 1 / min(mt, max(1, cores // nt))) / 2)
    load = load_bytes / core_share(chip, 1.0, cores, miss).effective(miss)
    return waves * kt * max(step, load) + load


def choose_tile(chip: Chip, op: GemmOp) -> Tile:
    """The fastest SRAM-fitting tile for this GEMM shape on this chip (cached per shape, not name)."""
    tile = _choose(chip, _shape_only(op))
    if tile is None:
        raise CapacityError(
            f"{chip.name}: no tile of GEMM {op.name} ({op.shape}, {op.dtype}) fits core.sram.size = "
            f"{chip.sram.size} B with {chip.sram.stages} stages; raise core.sram.size or lower core.sram.stages"
        )
    return tile


def _shape_only(op: GemmOp) -> GemmOp:
    return GemmOp("", op.m, op.n, op.k, op.dtype, op.out_dtype, op.batch, (), op.b_dtype, op.a_on_chip, op.c_on_chip)


@lru_cache(maxsize=4096)
def _choose(chip: Chip, op: GemmOp) -> Tile | None:
    candidates = candidate_tiles(chip, op)
    if not candidates:
        return None
    ranked = sorted(candidates, key=lambda t: (_estimate(chip, op, t), -t.m * t.n, -t.k, t.m, t.n))
    best = None
    for tile in ranked[:EXACT_CANDIDATES]:
        timing = gemm_timing(chip, op, tile, chip.cores)
        key = (timing.cycles, timing.hbm_read, -tile.m * tile.n, -tile.k, tile.m, tile.n)
        if best is None or key < best[0]:
            best = (key, tile)
    return best[1]


def gemm_cores(chip: Chip, op: GemmOp, tile: Tile) -> int:
    """Cores a GEMM occupies: one per tile, at most all of them."""
    return min(chip.cores, op.batch * -(-op.m // tile.m) * -(-op.n // tile.n))
