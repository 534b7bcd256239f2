"""Running lowered forward passes: each segment once, its copies by multiplication.

Segments are separated by barriers (see workloads/transformer.py), so a stage takes the sum over its
segments of repeat × one copy's cycles. Identical segment graphs (the embedding and head of every
decode step, say) are simulated once. On a system, every pipeline stage simulates its own segments
with its own chip groups (its collectives use its links), then the pipeline schedule
(engine/pipeline.py) runs the stages over the micro-batches.
"""

from dataclasses import dataclass

from simulator.engine.pipeline import Span, run_pipeline
from simulator.engine.record import OpRecord
from simulator.engine.run import Fabric, run_graph
from simulator.hardware.chip import Chip
from simulator.mapping.placement import Placement
from simulator.workloads.transformer import Pass, Segment


@dataclass(frozen=True)
class SegmentRun:
    segment: Segment
    records: list[OpRecord]
    offset: int  # cycle at which the first copy starts within its stage's first micro-batch
    repeat: int  # copies this stage runs (a stage of a pipeline holds only some of the layers)
    stage: int = 0
    link_bytes: tuple[float, ...] = ()  # one copy's bytes per link

    @property
    def cycles(self) -> int:
        """One copy, start to end."""
        return max(r.end for r in self.records)


@dataclass(frozen=True)
class PassRun:
    pass_: Pass
    segments: list[SegmentRun]
    cycles: int
    spans: tuple[Span, ...] = ()  # the pipeline timeline: compute and sends per stage and micro-batch
    link_bytes: tuple[float, ...] = ()  # the whole pass, per link


def _stage_segments(p: Pass, stage: int, placement: Placement | None) -> list[tuple[Segment, int]]:
    if placement is None or placement.parallel.pp == 1:
        return [(s, s.repeat) for s in p.segments]
    last = placement.parallel.pp - 1
    out = []
    for s in p.segments:
        if s.name == "embedding" and stage == 0 or s.name == "head" and stage == last:
            out.append((s, s.repeat))
        elif s.name not in ("embedding", "head"):
            out.append((s, placement.stage_layers(s.repeat)[stage]))
    return [(s, n) for s, n in out if n]


def simulate_passes(chip: Chip, passes: list[Pass], progress=None, placement: Placement | None = None) -> list[PassRun]:
    """`progress(done, total)` is called after each pass, for long generations."""
    cache: dict = {}
    stages = placement.parallel.pp if placement else 1
    runs = []
    for i, p in enumerate(passes):
        segments, stage_cycles = [], []
        for stage in range(stages):
            fabric = _fabric(placement, stage)
            offset = 0
            for segment, repeat in _stage_segments(p, stage, placement):
                key = (segment.graph.ops, stage if fabric else None)
                if key not in cache:
                    cache[key] = run_graph(chip, segment.graph, fabric)
                graph_run = cache[key]
                run = SegmentRun(segment, graph_run.records, offset, repeat, stage, graph_run.link_bytes)
                offset += repeat * run.cycles
                segments.append(run)
            stage_cycles.append(offset)
        if placement is None:
            runs.append(PassRun(p, segments, stage_cycles[0]))
        else:
            runs.append(_pipelined(p, segments, stage_cycles, placement))
        if progress:
            progress(i + 1, len(passes))
    return runs


def _fabric(placement: Placement | None, stage: int) -> Fabric | None:
    if placement is None:
        return None
    groups = {axis: placement.groups(axis, stage) for axis in ("tp", "ep")}
    return Fabric(placement.topology, groups, placement.algorithm)


def _pipelined(p: Pass, segments: list[SegmentRun], stage_cycles: list[int], placement: Placement) -> PassRun:
    m = p.microbatches
    sends = [placement.sends(s) for s in range(len(stage_cycles) - 1)]
    pipe = run_pipeline(placement.topology, stage_cycles, m, sends, p.activation_bytes)
    links = list(pipe.link_bytes)
    for seg in segments:
        for i, b in enumerate(seg.link_bytes):
            links[i] += b * seg.repeat * m
    return PassRun(p, segments, pipe.cycles, pipe.spans, tuple(links))
