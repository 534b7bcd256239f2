"""How a model is split over chips: tensor, context, pipeline, expert and data parallelism."""

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Degree = Annotated[int, Field(strict=True, ge=1)]
# Inference partition layouts of the FFN over a tensor-parallel group seen as an X×Y×Z grid (Pope et al. 2022,
# "Efficiently Scaling Transformer Inference" §3.2; simulator/workloads/layouts.py lowers them)
Layout = Literal["1d_weight_stationary", "2d_weight_stationary", "weight_gathered_x", "weight_gathered_xy",
                 "weight_gathered_xyz"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
DEFAULT_LAYOUT = "1d_weight_stationary"  # Megatron's split: the lowering of every plan that names no layout
TP_SUBAXES = ("tp_x", "tp_yz", "tp_xy", "tp_z")  # sub-groups of a tp group's grid (`Parallel.grid`)


class Parallel(BaseModel):
    """Chips used = dp × pp × ep × cp × tp. Ranks are laid out tp fastest, then cp, ep, pp, dp, so a
    tensor-parallel group is the nearest chips (docs/systems.md#placement)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tp: Degree = 1  # tensor parallel: heads, MLP width and vocabulary split (Megatron column/row)
    pp: Degree = 1  # pipeline parallel: consecutive layers per stage
    ep: Degree = 1  # expert parallel: experts split; attention runs data-parallel across the expert group
    dp: Degree = 1  # data parallel: independent replicas, each with batch / dp sequences
    # context parallel (training): each sequence's tokens split over cp chips, striped (every cp-th token), the
    # keys and values passed round the cp ring during attention (ring attention); weights replicated like dp's
    cp: Degree = 1
    microbatches: Degree = 1  # pipeline micro-batches per replica; each stage takes them in order
    sequence_parallel: bool = False  # tp: norms and residuals on tokens / tp, all-reduce = reduce-scatter + all-gather
    # a training step's pipeline: 1f1b (one forward, one backward after a warm-up) or gpipe (every micro-batch's
    # forward, then every backward)
    schedule: Literal["1f1b", "gpipe"] = "1f1b"
    # virtual pipeline stages per rank (Megatron's interleaved 1F1B): the layers are pp·vp chunks, chunk c on
    # stage c mod pp; needs schedule 1f1b, pp > 1, layers and micro-batches that split (training.resolve_step)
    vp: Degree = 1
    # inference: how the FFN's weights and activations are split over the tp group (LAYOUTS; docs/workloads.md
    # #partition-layouts); every layout but the default keeps 1/tp of the residual stream on each chip between blocks
    layout: Layout = DEFAULT_LAYOUT
    # inference: attention split by query/KV heads (Megatron) or by sequences (Pope et al. §3.3: each chip holds
    # the KV cache of batch/tp sequences, all KV heads; q moves head-sharded → batch-sharded by an all-to-all)
    attention: Literal["heads", "batch"] = "heads"
    grid: tuple[Degree, Degree, Degree] | None = None  # the tp group's X×Y×Z grid (x fastest); None: tp_grid

    @property
    def chips(self) -> int:
        return self.dp * self.pp * self.ep * self.cp * self.tp

    @property
    def stage_chips(self) -> int:
        """Chips that run one pipeline stage of one replica."""
        return self.ep * self.cp * self.tp

    @property
    def data_ranks(self) -> int:
        """Chips holding the same weights and different tokens: dp × cp (gradients are reduced, and ZeRO
        shards, over both)."""
        return self.dp * self.cp

    @property
    def tp_grid(self) -> tuple[int, int, int]:
        """(X, Y, Z) of the tp group, rank t at x = t mod X, y = t / X mod Y, z = t / XY: `grid`, or else the most
        nearly cubic factorisation of tp, smallest first (64 → 4×4×4, 16 → 2×2×4, 8 → 2×2×2)."""
        if self.grid is not None:
            return self.grid
        n = self.tp
        return min(((x, y, n // (x * y)) for x in range(1, n + 1) if n % x == 0 for y in range(x, n // x + 1)
                    if n // x % y == 0 and n // (x * y) >= y), key=lambda g: (g[2] - g[0], g[2]))

    def _tp_subgroups(self, axis: str, group: list[int]) -> list[list[int]]:
        """One tp group's sub-groups along `axis` (TP_SUBAXES): the ranks differing only in those grid axes."""
        gx, gy, gz = self.tp_grid
        varies = {"tp_x": "x", "tp_yz": "yz", "tp_xy": "xy", "tp_z": "z"}[axis]
        fixed = [(x, y, z) for z in range(gz if "z" not in varies else 1) for y in range(gy if "y" not in varies else 1)
                 for x in range(gx if "x" not in varies else 1)]
        return [[group[(x + dx) + gx * ((y + dy) + gy * (z + dz))]
                 for dz in range(gz if "z" in varies else 1) for dy in range(gy if "y" in varies else 1)
                 for dx in range(gx if "x" in varies else 1)] for x, y, z in fixed]

    def chip_of(self, tp: int = 0, ep: int = 0, pp: int = 0, dp: int = 0, cp: int = 0) -> int:
        return tp + self.tp * (cp + self.cp * (ep + self.ep * (pp + self.pp * dp)))

    def groups(self, axis: str, pp: int = 0, dp: int = 0) -> list[list[int]]:
        """The chip groups along `axis` within one stage of one replica (for pp: the stage chain)."""
        others = [(t, c, e) for e in range(self.ep) for c in range(self.cp) for t in range(self.tp)]
        if axis == "tp":
            return [[self.chip_of(t, e, pp, dp, c) for t in range(self.tp)] for e in range(self.ep)
                    for c in range(self.cp)]
        if axis in TP_SUBAXES:
            return [sub for group in self.groups("tp", pp, dp) for sub in self._tp_subgroups(axis, group)]
        if axis == "cp":
            return [[self.chip_of(t, e, pp, dp, c) for c in range(self.cp)] for e in range(self.ep)
                    for t in range(self.tp)]
        if axis == "ep":
            return [[self.chip_of(t, e, pp, dp, c) for e in range(self.ep)] for c in range(self.cp)
                    for t in range(self.tp)]
        if axis == "pp":
            return [[self.chip_of(t, e, s, dp, c) for s in range(self.pp)] for t, c, e in others]
        if axis == "dp":
            return [[self.chip_of(t, e, pp, d, c) for d in range(self.dp)] for t, c, e in others]
        if axis == "embedding":  # Megatron's embedding group: a tied embedding's two copies, first and last stage
            return [[self.chip_of(t, e, 0, dp, c), self.chip_of(t, e, self.pp - 1, dp, c)] for t, c, e in others
                    if self.pp > 1]
        raise ValueError(axis)


ONE_CHIP = Parallel()  # no parallelism: the default of every function that takes a Parallel
