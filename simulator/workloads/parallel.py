"""How a model is split over chips: tensor, pipeline, expert and data parallelism."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Degree = Annotated[int, Field(strict=True, ge=1)]


class Parallel(BaseModel):
    """Chips used = dp × pp × ep × tp. Ranks are laid out tp fastest, then ep, pp, dp, so a tensor-parallel
    group is the nearest chips (docs/systems.md#placement)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tp: Degree = 1  # tensor parallel: heads, MLP width and vocabulary split (Megatron column/row)
    pp: Degree = 1  # pipeline parallel: consecutive layers per stage
    ep: Degree = 1  # expert parallel: experts split; attention runs data-parallel across the expert group
    dp: Degree = 1  # data parallel: independent replicas, each with batch / dp sequences
    microbatches: Degree = 1  # pipeline micro-batches per replica; each stage takes them in order
    sequence_parallel: bool = False  # tp: norms and residuals on tokens / tp, all-reduce = reduce-scatter + all-gather
    # a training step's pipeline: 1f1b (one forward, one backward after a warm-up) or gpipe (every micro-batch's
    # forward, then every backward)
    schedule: Literal["1f1b", "gpipe"] = "1f1b"
    # virtual pipeline stages per rank (Megatron's interleaved 1F1B): the layers are pp·vp chunks, chunk c on
    # stage c mod pp; needs schedule 1f1b, pp > 1, layers and micro-batches that split (training.resolve_step)
    vp: Degree = 1

    @property
    def chips(self) -> int:
        return self.dp * self.pp * self.ep * self.tp

    @property
    def stage_chips(self) -> int:
        """Chips that run one pipeline stage of one replica."""
        return self.ep * self.tp

    def chip_of(self, tp: int = 0, ep: int = 0, pp: int = 0, dp: int = 0) -> int:
        return tp + self.tp * (ep + self.ep * (pp + self.pp * dp))

    def groups(self, axis: str, pp: int = 0, dp: int = 0) -> list[list[int]]:
        """The chip groups along `axis` within one stage of one replica (for pp: the stage chain)."""
        if axis == "tp":
            return [[self.chip_of(t, e, pp, dp) for t in range(self.tp)] for e in range(self.ep)]
        if axis == "ep":
            return [[self.chip_of(t, e, pp, dp) for e in range(self.ep)] for t in range(self.tp)]
        if axis == "pp":
            return [[self.chip_of(t, e, s, dp) for s in range(self.pp)] for e in range(self.ep) for t in range(self.tp)]
        if axis == "dp":
            return [[self.chip_of(t, e, pp, d) for d in range(self.dp)] for e in range(self.ep) for t in range(self.tp)]
        raise ValueError(axis)


ONE_CHIP = Parallel()  # no parallelism: the default of every function that takes a Parallel
