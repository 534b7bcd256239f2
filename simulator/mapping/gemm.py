"""Tile selection for GEMMs: enumerate SRAM-fitting tiles aligned to the array, rank them, time the best exactly.

Edges. Along the two spatial dimensions of the dataflow (os: M on rows, N on columns; ws: K on rows, N on
columns; is: K on rows, M on columns) a tile edge is a multiple of the array edge it maps onto (the array
edge × 1, 2, 4, …, also × the MXU count, since a core splits a tile across its MXUs), or the whole
dimension: no fold is partial except at the GEMM's own edge. The streamed (temporal) dimension (K for os,
M for ws, N for is) may be cut into chunks of 16 … 8192; the whole dimension is always a candidate.

Ranking. Like a library's autotuner, the chooser picks the tile the timing model says is fastest on the
whole chip; ties go to fewer compute cycles, fewer HBM bytes, then the larger tile, so the choice is
deterministic. Each chunk of the streamed dimension pays the folds' fill and drain skew again; what a cut
buys is overlap of the first load (and the last store) with compute. A chip whose memory has no latency
at any level is an idealized memory, SCALE-Sim's model: the array's cycles are the figure that counts and
memory time is reported beside them as stalls. There the chooser ranks by compute cycles first and total
cycles second, so it never trades array cycles for that overlap. `tile_note` says when a choice did.
"""

from dataclasses import dataclass
from functools import lru_cache, wraps

import numpy as np

from simulator.errors import CapacityError
from simulator.hardware.chip import Chip, stand_in
from simulator.hardware.sram_banks import gemm_bank_stall_cycles
from simulator.hardware.timing import (
    OpTiming,
    Tile,
    fitting_edges,
    gemm_figures,
    gemm_op_timing,
    gemm_stages,
    gemm_timing,
    split_part,
    split_reduce,
    tile_estimates,
)
from simulator.ir.ops import GemmOp

SIZES = tuple(2**i for i in range(4, 14))  # temporal edges: 16 … 8192 (clipped), and the whole dimension
MULTIPLES = tuple(2**i for i in range(10))  # spatial edges: array edge × 1 … 512, and the whole dimension
EXACT_CANDIDATES = 6  # timed exactly: the best by the quick estimates
SPATIAL = {"os": ("m", "n"), "ws": ("k", "n"), "is": ("k", "m")}  # (on the array's rows, on its columns)
TEMPORAL = {"os": "k", "ws": "m", "is": "n"}


def _temporal_sizes(dim: int) -> list[int]:
    return sorted({min(dim, s) for s in SIZES} | {dim})


def _spatial_sizes(dim: int, edge: int, mxus: int) -> list[int]:
    steps = {edge * j for j in MULTIPLES} | {edge * mxus * j for j in MULTIPLES}
    return sorted({s for s in steps if s < dim} | {dim})


def _axis_sizes(chip: Chip, op: GemmOp) -> dict[str, list[int]]:
    mxu = chip.mxu
    on_rows, on_cols = SPATIAL[mxu.dataflow]
    sizes = {TEMPORAL[mxu.dataflow]: _temporal_sizes(getattr(op, TEMPORAL[mxu.dataflow]))}
    sizes[on_rows] = _spatial_sizes(getattr(op, on_rows), mxu.rows, mxu.count)
    sizes[on_cols] = _spatial_sizes(getattr(op, on_cols), mxu.cols, mxu.count)
    return sizes


def _candidate_arrays(chip: Chip, op: GemmOp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, N, K edges) of every SRAM-fitting tile of the edges above, M outermost, K innermost; on a GPU
    (`core.mxu.gemm`) the library's tiles instead (`_library_arrays`)."""
    if chip.gpu_gemm is not None:
        return _library_arrays(chip, op)
    sizes = _axis_sizes(chip, op)
    return fitting_edges(chip, op, sizes["m"], sizes["n"], sizes["k"])


def _library_arrays(chip: Chip, op: GemmOp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The library's CTA tiles (`core.mxu.gemm.tiles`) clipped to the GEMM, duplicates dropped, in the
    chooser's M-outermost order, of those that fit the SM's shared memory and registers."""
    tiles = sorted({(min(m, op.m), min(n, op.n), min(k, op.k)) for m, n, k in chip.gpu_gemm.tiles})
    ms, ns, ks = (np.array([t[i] for t in tiles], np.int64) for i in range(3))
    fit = set(zip(*(a.tolist() for a in fitting_edges(chip, op, sorted(set(ms.tolist())), sorted(set(ns.tolist())),
                                                      sorted(set(ks.tolist())))), strict=True))
    keep = [t for t in tiles if t in fit]
    return tuple(np.array([t[i] for t in keep], np.int64) for i in range(3))


def candidate_tiles(chip: Chip, op: GemmOp) -> list[Tile]:
    """Every SRAM-fitting tile of the edges above, in the chooser's order."""
    return [Tile(m, n, k) for m, n, k in zip(*(a.tolist() for a in _candidate_arrays(chip, op)), strict=True)]


def memory_ideal(chip: Chip) -> bool:
    """Zero latency at every level of the load path (DMA, L2, HBM): an idealized memory, as SCALE-Sim's,
    on which tiles are ranked by the array's cycles first (see the module docstring)."""
    return not (chip.dma_latency or chip.hbm.latency or (chip.l2 is not None and chip.l2.latency))


@dataclass(frozen=True)
class _Plan:
    tile: Tile  # the chosen tile
    timings: dict  # Tile → gemm_exact's figures (cycles, compute cycles, cores, waves, loads, HBM read, write)
    fewest_estimated: Tile  # the tile with the fewest estimated compute cycles (timed too)

    def timing(self, chip: Chip, op: GemmOp, tile: Tile) -> OpTiming:
        figures = self.timings.get(tile)
        if figures is None:
            return gemm_timing(chip, op, tile, chip.cores, accesses=False)
        return gemm_op_timing(chip, op, tile, figures, accesses=False)


def choose_tile(chip: Chip, op: GemmOp) -> Tile:
    """The fastest SRAM-fitting tile for this GEMM shape on this chip (cached per shape, not name)."""
    plan = _plan(chip, _shape_only(op))
    if plan is None:
        raise CapacityError(
            f"{chip.name}: no tile of GEMM {op.name} ({op.shape}, {op.dtype}) fits core.sram.size = "
            f"{chip.sram.size} B with {gemm_stages(chip, op)} stages; raise core.sram.size or lower "
            "core.sram.stages"
        )
    return plan.tile


def map_gemm(chip: Chip, op: GemmOp) -> tuple[Tile, int, int, int, int, str]:
    """(tile, cores, bytes loaded into SRAM, HBM read bytes, HBM write bytes, note) of the chosen tile at the
    whole chip's share, as the chooser timed it."""
    tile = choose_tile(chip, op)
    _, _, cores, _, loads, hbm_read, hbm_write = _plan(chip, _shape_only(op)).timings[tile]
    if tile.split > 1:
        _, read, write = split_reduce(chip, op, tile.split)
        hbm_read, hbm_write = hbm_read + read, hbm_write + write
    return tile, cores, loads, hbm_read, hbm_write, tile_note(chip, op, tile)


def _shape_only(op: GemmOp) -> GemmOp:
    """What the choice depends on: the shape, dtypes, on-chip operands, the weights' scales, the pipelining."""
    return GemmOp("", op.m, op.n, op.k, op.dtype, op.out_dtype, op.batch, (), op.b_dtype, op.a_on_chip, op.c_on_chip,
                  b_group=op.b_group, b_scale_bytes=op.b_scale_bytes, dequant=op.dequant, b_block=op.b_block,
                  stages=op.stages)


def _order(tile: Tile) -> tuple:
    return -tile.m * tile.n, -tile.k, tile.m, tile.n


def _per_config(maxsize: int):
    """lru_cache over (chip, op) keyed on the chip's config value, not the Chip object: a freshly loaded chip
    with the same config reuses every choice (the first chip loaded with that config stands for it)."""

    def wrap(fn):
        cached = lru_cache(maxsize=maxsize)(fn)
        return wraps(fn)(lambda chip, op: cached(stand_in(chip), op))

    return wrap


@_per_config(maxsize=4096)
def _plan(chip: Chip, op: GemmOp) -> _Plan | None:
    m, n, k = _candidate_arrays(chip, op)
    if not len(m):
        return None
    total, compute = tile_estimates(chip, op, m, n, k)
    order = (n, m, -k, -m * n)  # _order, last key first (np.lexsort sorts by its last key first)
    by_compute_first = np.lexsort((*order, total, compute))
    ideal = memory_ideal(chip)
    ranking = by_compute_first if ideal else np.lexsort((*order, compute, total))
    # A library's few tiles are all timed exactly, as its heuristic or autotuner ranks every kernel it has.
    picked = ranking[:len(m) if chip.gpu_gemm is not None else EXACT_CANDIDATES].tolist()
    fewest = int(by_compute_first[0])
    timed = picked + [fewest] * (fewest not in picked)
    figures = gemm_figures(chip, op, m[timed], n[timed], k[timed], chip.cores)
    tiles = [Tile(int(m[i]), int(n[i]), int(k[i])) for i in timed]
    timings = dict(zip(tiles, figures, strict=True))
    splits = _split_tiles(chip, op, tiles[:len(picked)]) if chip.gpu_gemm is not None else []
    for split in sorted({t.split for t in splits}):  # one kernel call per split: its part is one GEMM
        mine = [t for t in splits if t.split == split]
        parts = [split_part(op, t) for t in mine]  # the same part GEMM, each tile's K clipped to its slab
        edges = [np.array([getattr(whole, d) for _, whole in parts], np.int64) for d in "mnk"]
        timings.update(zip(mine, gemm_figures(chip, parts[0][0], *edges, chip.cores), strict=True))

    def rank(t: Tile) -> tuple:
        cycles, compute_cycles, cores, _, _, hbm_read, _ = timings[t]
        if t.split > 1:  # the partial sums' reduction
            extra, read, _ = split_reduce(chip, op, t.split)
            cycles, hbm_read = cycles + extra, hbm_read + read
        cycles += gemm_bank_stall_cycles(chip, op, t, cores)  # 0 unless core.sram is banked
        first = (compute_cycles, cycles) if ideal else (cycles, compute_cycles)
        return *first, hbm_read, *_order(t)

    return _Plan(min(tiles[:len(picked)] + splits, key=rank), timings, tiles[-1] if fewest not in picked else
                 tiles[picked.index(fewest)])


SPLITS = (2, 4, 8, 16, 32)  # split-K factors considered


def _split_tiles(chip: Chip, op: GemmOp, tiles: list[Tile]) -> list[Tile]:
    """Split-K variants of library tiles whose CTAs leave SMs idle (a small M·N, as in a decode GEMV): K cut
    into s slabs, each at least one K-step, for every s up to the first that gives at least as many CTAs as
    SMs. Timed exactly beside the unsplit tiles; the fastest wins, reduction included."""
    out = []
    for t in tiles:
        ctas = op.batch * -(-op.m // t.m) * -(-op.n // t.n)
        for split in SPLITS:
            if ctas * split // 2 >= chip.cores or -(-op.k // split) < t.k:
                break
            out.append(Tile(t.m, t.n, t.k, split))
    return out


@_per_config(maxsize=4096)
def _fewest(chip: Chip, op: GemmOp) -> tuple[Tile, OpTiming]:
    """The tile with the fewest compute cycles among those timed exactly (the best by the estimates and the
    one with the fewest estimated compute cycles)."""
    plan = _plan(chip, op)
    timings = plan.timings
    tile = min(timings, key=lambda t: (timings[t][1], timings[t][0], *_order(t)))
    return tile, plan.timing(chip, op, tile)


def tile_note(chip: Chip, op: GemmOp, tile: Tile) -> str:
    """"" when `tile` has the fewest compute cycles the chooser found among SRAM-fitting tiles; else one
    sentence: what the tile did (cut the streamed dimension, left partial folds, spread over cores) and the
    compute cycles that cost against the cycles in all, e.g. "K cut into 4 chunks (not 1) to overlap loads
    with compute: +1,234 compute cycles, -2,345 cycles in all (vs tile 128×128×4096)"."""
    shape = _shape_only(op)
    plan = _plan(chip, shape)
    if plan is None:
        return ""
    timing = plan.timing(chip, op, tile)
    fewest, best = _fewest(chip, shape)
    extra = timing.compute_cycles - best.compute_cycles
    if extra <= 0:
        return ""
    mxu = chip.mxu
    # K chunks are pipeline steps on every dataflow; the streamed dimension's chunks are steps or tiles.
    stepped = {"k", TEMPORAL[mxu.dataflow]}
    cuts = [(d, _chunks(op, tile, d), _chunks(op, fewest, d)) for d in ("m", "n", "k") if d in stepped]
    cuts = [(d, mine, theirs) for d, mine, theirs in cuts if mine > theirs]
    if cuts:
        what = ", ".join(f"{d.upper()} cut into {mine:,} chunks (not {theirs:,})" for d, mine, theirs in cuts)
        what += " to overlap loads with compute"
    elif _partial_folds(chip, op, tile):
        what = f"tile {tile} leaves partial folds on the {mxu.rows}×{mxu.cols} array"
    else:
        what = f"tile {tile} spreads over {timing.cores} cores in {timing.waves} waves"
    return (f"{what}: +{extra:,} compute cycles, {timing.cycles - best.cycles:+,} cycles in all "
            f"(vs tile {fewest})")


def _chunks(op: GemmOp, tile: Tile, dim: str) -> int:
    return -(-getattr(op, dim) // getattr(tile, dim))


def _partial_folds(chip: Chip, op: GemmOp, tile: Tile) -> bool:
    """Some spatial tile edge short of the whole dimension is not a multiple of its array edge."""
    mxu = chip.mxu
    on_rows, on_cols = SPATIAL[mxu.dataflow]
    return any(getattr(tile, d) != getattr(op, d) and getattr(tile, d) % edge
               for d, edge in ((on_rows, mxu.rows), (on_cols, mxu.cols)))
