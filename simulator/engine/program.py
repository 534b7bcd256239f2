"""Running a Program: each block once per stage, its copies by multiplication; then the stage schedule.

Blocks are separated by barriers (every op of a block feeds its last op; see ir/program.py), so a stage
takes the sum over its blocks of copies × one copy's cycles. A block mapping found identical to an
earlier one (the same steps object) is run once. On a system every stage runs its own blocks with its
own chip groups, then the pipeline schedule (engine/pipeline.py) runs the stages over the micro-batches.
A stage's block that is another stage's up to a map of chips (`_signature`: the same ops, mappings and
collective times, its network's messages on chips that sit alike) takes that block's records: the
pipeline's stages are symmetric groups too, simulated once.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from simulator.engine.intervals import length
from simulator.engine.network import collective_cycles
from simulator.engine.pipeline import Span, run_forward_backward, run_pipeline
from simulator.engine.record import OpRecord
from simulator.engine.run import BlockRun, run_block
from simulator.engine.units import UnitSpan
from simulator.ir.program import CommStep, Program
from simulator.mapping.collectives import collective_messages
from simulator.mapping.symmetry import LinkBytes


@dataclass(frozen=True)
class SegmentRun:
    segment: object  # the block's source: the workload's segment
    records: list[OpRecord]
    offset: int  # cycle at which the first copy starts within its stage's first micro-batch
    repeat: int  # copies this stage runs (a stage of a pipeline holds only some of the layers)
    stage: int = 0
    link_bytes: tuple[float, ...] = ()  # one copy's bytes per link
    block_run: BlockRun | None = None  # the engine's run of one copy (its unit spans)

    @property
    def spans(self) -> tuple[UnitSpan, ...]:
        """One copy's unit spans."""
        return self.block_run.spans if self.block_run is not None else ()

    @property
    def cycles(self) -> int:
        """One copy, start to end."""
        return max(r.end for r in self.records)

    @cached_property
    def pitch(self) -> int:
        """Cycles from one copy's start to the next's. Copies follow each other's barriers, except that a
        copy's gradient reductions (role grad_sync: only the barrier waits for them) run on while the next
        copy computes, as a DDP/Megatron bucket's all-reduce overlaps the layers below it: the next copy
        starts when this one's data path is done, and the reductions form a stream of their own, so copies
        follow each other at the slower of the two. (The stream's links are not shared with the next
        copy's collectives in this count: on the bundled systems dp crosses the scale-out network and tp
        stays inside the node.)"""
        if not self.grad_syncs:
            return self.cycles
        return min(self.cycles, max(self.data_ready, length([(r.start, r.end) for r in self.grad_syncs])))

    @cached_property
    def _is_sync(self) -> list[bool]:
        """Per record: is it a gradient reduction (role grad_sync)?"""
        steps = self.block_run.steps if self.block_run is not None else ()
        return [getattr(step.op, "role", "") == "grad_sync" for step in steps]

    @cached_property
    def grad_syncs(self) -> list[OpRecord]:
        return [r for r, sync in zip(self.records, self._is_sync, strict=False) if sync]

    @cached_property
    def data_ready(self) -> int:
        """When one copy's output gradient is ready (for the next copy, or to send): the block's end, less the
        gradient reductions that only its barrier, the last op, waits for; the last op runs as long as it ran."""
        if not self.grad_syncs:
            return self.cycles
        *body, final = self.records
        return max((r.end for r, sync in zip(body, self._is_sync, strict=False) if not sync), default=0) + final.cycles

    def length(self, copies: int) -> int:
        """`copies` copies back to back, start of the first to end of the last. Their data paths end at
        copies × data_ready: a pipeline's gradient send leaves then."""
        return (copies - 1) * self.pitch + self.cycles if copies > 0 else 0

    def overlapped(self, copies: int) -> int:
        """The cycles `copies` copies save against their barriers: gradient reductions hidden under the
        next copy (segment_split counts them as one copy's exposed communication)."""
        return copies * self.cycles - self.length(copies)


@dataclass(frozen=True)
class PassRun:
    pass_: object  # the pass's source: the workload's pass
    segments: list[SegmentRun]
    cycles: int
    spans: tuple[Span, ...] = ()  # the pipeline timeline: compute and sends per stage and micro-batch
    link_bytes: tuple[float, ...] = ()  # the whole pass, per link
    send_spans: tuple[UnitSpan, ...] = ()  # pipeline sends on each link (op = the sending stage)


def _forward_backward(topology, group: list) -> object:
    """Passes sharing one pipeline under one forward, one backward ((pass, its segments), in order): each
    micro-batch runs its pass's forward and backward blocks on each stage (on each chunk of a stage, when
    the pass interleaves virtual stages); activations go on and gradients come back over the reversed chip
    pairs."""
    p = group[0][0]
    stages, virtual = len(p.stages), p.virtual
    forward = [[[] for _ in range(virtual)] for _ in range(stages)]
    backward = [[[] for _ in range(virtual)] for _ in range(stages)]
    early = [[[] for _ in range(virtual)] for _ in range(stages)]
    for q, segments in group:
        f, b = [[0] * virtual for _ in range(stages)], [[0] * virtual for _ in range(stages)]
        last = [[None] * virtual for _ in range(stages)]  # the backward block each stage (chunk) runs last
        for placed, seg in zip((x for stage in q.stages for x in stage), segments, strict=True):
            into = b if placed.direction == "backward" else f
            for k, copies in enumerate(placed.chunks or (seg.repeat,)):
                into[seg.stage][k] += seg.length(copies)
                if placed.direction == "backward" and copies:
                    last[seg.stage][k] = (seg, copies)
        for s in range(stages):
            for k in range(virtual):
                forward[s][k] += [f[s][k]] * q.microbatches
                backward[s][k] += [b[s][k]] * q.microbatches
                seg, copies = last[s][k] or (None, 0)
                early[s][k] += [seg.length(copies) - copies * seg.data_ready if seg else 0] * q.microbatches
    back = [tuple((b, a) for a, b in pairs) for pairs in p.send_pairs]
    idle = [collective_cycles(topology, "send", "direct", pairs, p.send_bytes) for pairs in p.send_pairs]
    idle_back = [collective_cycles(topology, "send", "direct", pairs, p.send_bytes) for pairs in back]
    returns = tuple(collective_messages("send", "direct", [list(pair) for pair in pairs], p.send_bytes, topology)
                    for pairs in back)
    if virtual == 1:
        forward, backward, early = [s[0] for s in forward], [s[0] for s in backward], [s[0] for s in early]
    microbatches = sum(q.microbatches for q, _ in group)
    return run_forward_backward(topology, forward, backward, microbatches, p.sends, returns, idle, idle_back,
                                p.schedule, virtual, early)


def _collective_links(segments: list[SegmentRun], microbatches: int, links: np.ndarray) -> tuple[float, ...]:
    for seg in segments:
        if len(seg.link_bytes):
            links = links + np.asarray(seg.link_bytes) * (seg.repeat * microbatches)
    return tuple(links.tolist())


_ARRAYS: dict[int, tuple] = {}  # id(link_bytes) → (link_bytes, links, bytes, total): steps' link bytes as arrays


def _link_arrays(link_bytes) -> tuple[np.ndarray, np.ndarray, float]:
    """A step's (link, bytes) pairs as arrays, and their total; kept while mapping keeps the step (a cluster's
    collectives cross thousands of links, and the same mapped steps come back run after run)."""
    if isinstance(link_bytes, LinkBytes):
        return link_bytes.links, link_bytes.bytes, link_bytes.total
    found = _ARRAYS.get(id(link_bytes))
    if found is None or found[0] is not link_bytes:
        pairs = np.asarray(link_bytes, dtype=float).reshape(-1, 2)
        found = _ARRAYS[id(link_bytes)] = (link_bytes, pairs[:, 0].astype(np.int64), pairs[:, 1],
                                            sum(b for _, b in link_bytes))
        while len(_ARRAYS) > 16384:
            _ARRAYS.pop(next(iter(_ARRAYS)))
    return found[1:]


def _step_links(block, links: int) -> np.ndarray:
    """One copy's bytes per link, from its collectives' steps: every group's, where the block's network ran
    only the representatives of symmetric groups (mapping/symmetry.py)."""
    out = np.zeros(links)
    for step in block.steps:
        if isinstance(step, CommStep) and step.algorithm:
            where, nbytes, _ = _link_arrays(step.link_bytes)
            out[where] += nbytes  # a step names each link once
    return out


def _signature(block, topology) -> tuple | None:
    """What one copy's records depend on, up to a map of chips: each compute step's op and mapping; each
    collective's op, algorithm and bytes on links, with its idle-link time where it runs alone, else its
    messages, whose chips (all of the block's, in order) must sit alike (Topology.symmetry_key)."""
    parts: list = [block.sequential]
    chips: list[int] = []
    for step in block.steps:
        if not isinstance(step, CommStep):
            parts.append((id(step.op), step.unit, step.cores, step.tile, step.transfers, step.note))
            continue
        op = step.op
        part = (id(op), step.algorithm, step.alone, _link_arrays(step.link_bytes)[2])
        if step.algorithm and step.alone:
            part += (collective_cycles(topology, op.kind, step.algorithm, step.groups, op.bytes),)
        elif step.algorithm:
            if any(m.src >= topology.chips or m.dst >= topology.chips for m in step.messages):
                return None
            part += (tuple((m.bytes, m.deps) for m in step.messages),)
            chips += [c for m in step.messages for c in (m.src, m.dst)]
        parts.append(part)
    return (*parts, topology.symmetry_key(chips) if chips else ())


def run_program(program: Program, progress=None) -> list[PassRun]:
    """`progress(done, total)` is called after each pass, for long generations."""
    chip, topology = program.chip, program.topology
    cache: dict[int, BlockRun] = {}
    links: dict[int, np.ndarray] = {}
    alike: dict[tuple, BlockRun] = {}  # block runs by _signature: stages whose blocks are the same up to chips
    memo: dict = {}  # sequential blocks' records by their steps' ops and times (engine/run.py)
    runs, group = [], []  # group: 1f1b passes waiting for the rest of their pipeline
    for i, p in enumerate(program.passes):
        segments, stage_cycles = [], []
        for stage, placed in enumerate(p.stages):
            offset = 0
            for item in placed:
                key = id(item.block.steps)
                if key not in cache:
                    sig = _signature(item.block, topology) if topology is not None else None
                    found = alike.get(sig) if sig is not None else None
                    if found is None:
                        found = run_block(chip, item.block, topology, chip.memory_model, memo)
                        if sig is not None:
                            alike[sig] = found
                    else:
                        found = BlockRun(found.records, (), item.block.steps, found.memory)
                    cache[key] = found
                    if topology is not None:
                        links[key] = _step_links(item.block, len(topology.links))
                done = cache[key]
                run = SegmentRun(item.block.source, done.records, offset, item.repeat, stage,
                                 links.get(key, done.link_bytes), done)
                offset += run.length(item.repeat)
                segments.append(run)
            stage_cycles.append(offset)
        if not p.pipelined:  # one chip: its micro-batches run one after another
            runs.append(PassRun(p.source, segments, stage_cycles[0] * p.microbatches))
        elif p.schedule in ("1f1b", "gpipe"):
            group.append((p, segments))
            following = program.passes[i + 1] if i + 1 < len(program.passes) else None
            if following is None or not following.continues:  # the pipeline's last pass: run them all
                pipe = _forward_backward(topology, group)
                for k, (q, segs) in enumerate(group):  # the schedule's time and sends go with its first pass
                    sends = np.array(pipe.link_bytes if k == 0 else [0.0] * len(topology.links), dtype=float)
                    runs.append(PassRun(q.source, segs, pipe.cycles if k == 0 else 0, pipe.spans if k == 0 else (),
                                        _collective_links(segs, q.microbatches, sends),
                                        pipe.link_spans if k == 0 else ()))
                group = []
        elif p.schedule == "independent":  # the stages at once, each on its own; the pass ends with the last
            spans = tuple(Span(s, 0, "compute", 0, c) for s, c in enumerate(stage_cycles))
            runs.append(PassRun(p.source, segments, max(stage_cycles), spans,
                                _collective_links(segments, p.microbatches, np.zeros(len(topology.links)))))
        else:
            idle = [collective_cycles(topology, "send", "direct", pairs, p.send_bytes) for pairs in p.send_pairs]
            pipe = run_pipeline(topology, stage_cycles, p.microbatches, p.sends, idle)
            runs.append(PassRun(p.source, segments, pipe.cycles, pipe.spans,
                                _collective_links(segments, p.microbatches, np.array(pipe.link_bytes, dtype=float)),
                                pipe.link_spans))
        if progress:
            progress(i + 1, len(program.passes))
    return runs
