"""The Program: what mapping decided, once, for every op of a run; the engine and results only read it.

A Program is a list of passes; a pass holds, per pipeline stage, the blocks that stage runs back to back.
A block is a list of steps run `repeat` times: the exactness argument of repeat blocks (every op of a
block feeds its last op, so the engine is idle at the block's boundary and N copies take N × one) is
stated here, over blocks, not over what the blocks mean to a workload. `source` and `label` are the
workload's own objects and names; nothing below results looks inside them.
"""

from dataclasses import dataclass, field

from simulator.ir.ops import CollectiveOp, GemmOp, VectorOp


@dataclass(frozen=True)
class Tile:
    m: int
    n: int
    k: int
    split: int = 1  # split-K: K cut into this many slabs, each its own CTAs, partial sums reduced after

    def __str__(self):
        return f"{self.m}×{self.n}×{self.k}" + (f" split-K {self.split}" if self.split > 1 else "")


@dataclass(frozen=True)
class Message:
    src: int
    dst: int
    bytes: float
    deps: tuple[int, ...] = ()  # indices of earlier messages in the same tuple that must have ARRIVED first


@dataclass(frozen=True)
class Transfer:
    """Data one op moves between two memory levels: `bytes` in all, in `count` requests of one pattern."""

    src: str  # memory level name (hbm, l2, sram, …)
    dst: str
    bytes: int
    count: int
    pattern: str  # tile (2-D blocks of a GEMM operand) | stream (contiguous chunks)


@dataclass(frozen=True)
class ComputeStep:
    """A GEMM or vector op mapped onto a compute unit kind: how many cores, which tile, what it moves."""

    op: GemmOp | VectorOp
    unit: str  # the compute unit kind that runs it: systolic | vector
    cores: int
    tile: Tile | None  # GEMMs: the SRAM tile; vector ops: None (chunks follow from SRAM size)
    transfers: tuple[Transfer, ...]
    note: str = ""  # what the mapping traded, e.g. compute cycles for overlapping the first load


@dataclass(frozen=True)
class CommStep:
    """A collective mapped onto the links: every group of its chips runs it at once, as `messages`.

    `alone`: no other collective of the block can be in flight at the same time (every other one is an
    ancestor or a descendant), so the links are idle when it starts and its timing can be reused."""

    op: CollectiveOp
    algorithm: str  # "" when every group has one chip: a no-op
    groups: tuple[tuple[int, ...], ...]
    messages: tuple[Message, ...]
    link_bytes: tuple[tuple[int, float], ...]  # (link, bytes) over every message's route
    alone: bool = False


Step = ComputeStep | CommStep


@dataclass(frozen=True, eq=False)
class Block:
    """Steps in program order; `deps` of each op name earlier steps of the same block.

    `sequential`: every step depends on the one before it, so they run one at a time, each on an idle
    chip: the engine can time it step after step without simulating contention."""

    label: str
    steps: tuple[Step, ...]
    source: object = None  # the workload's own object (e.g. its segment); opaque below results
    sequential: bool = False


@dataclass(frozen=True)
class Placed:
    """One block as a stage runs it: `repeat` copies back to back. Under a one-forward-one-backward schedule
    `direction` says which half of a micro-batch's work the block is (forward | backward). Under the
    interleaved schedule `chunks` splits the copies over the stage's virtual stages (chunk k: copies
    `chunks[k]`, summing to `repeat`); () puts them all in one."""

    block: Block
    repeat: int
    direction: str = ""
    chunks: tuple[int, ...] = ()


@dataclass(frozen=True)
class PassProgram:
    """One pass: per stage its blocks; then the stages run `microbatches` micro-batches in order, stage
    s sending `send_bytes` to stage s + 1 as `sends[s]` (messages over the links) after each."""

    stages: tuple[tuple[Placed, ...], ...]
    microbatches: int = 1
    sends: tuple[tuple[Message, ...], ...] = ()
    send_bytes: int = 0  # per chip pair
    send_pairs: tuple[tuple[tuple[int, int], ...], ...] = ()  # (from, to) chips of each stage's sends
    pipelined: bool = False  # a system run: the stage schedule runs even for one stage
    source: object = None  # the workload's own pass object
    # in_order: each stage runs all its blocks for micro-batch j, then j + 1; 1f1b: forward blocks then
    # backward blocks per micro-batch, interleaved one forward / one backward after a warm-up (PipeDream-
    # Flush, Megatron's default), the backward's gradients sent back from stage s + 1 to stage s; gpipe: the
    # same blocks and sends, every micro-batch's forward before any backward; independent: every stage runs
    # its blocks at once and nothing is sent (a training step's optimizer: each stage updates its own layers)
    schedule: str = "in_order"
    continues: bool = False  # 1f1b, gpipe: its micro-batches follow the previous pass's in the same pipeline
    # 1f1b: virtual stages (chunks) per stage, the interleaved schedule when > 1; `sends` and `send_pairs` then
    # have one more entry, stage p − 1's to stage 0 between virtual rounds
    virtual: int = 1


@dataclass(frozen=True, eq=False)
class Program:
    """Everything a run needs: the chip, the links (None on one chip) and the passes."""

    chip: object  # hardware.chip.Chip (ir sits below hardware, so it is not named here)
    passes: tuple[PassProgram, ...]
    topology: object = None  # hardware.topology.Topology
    reused: dict = field(default_factory=dict)  # what mapping found identical and mapped once
