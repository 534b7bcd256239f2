"""Running lowered forward passes: each segment once, its copies by multiplication.

Segments are separated by barriers (see workloads/transformer.py), so a pass takes the sum over
segments of repeat × one copy's cycles. Identical segment graphs (the embedding and head of every
decode step, say) are simulated once.
"""

from dataclasses import dataclass

from simulator.engine.record import OpRecord
from simulator.engine.run import simulate
from simulator.hardware.chip import Chip
from simulator.workloads.transformer import Pass, Segment


@dataclass(frozen=True)
class SegmentRun:
    segment: Segment
    records: list[OpRecord]
    offset: int  # cycle at which the first copy starts within its pass

    @property
    def cycles(self) -> int:
        """One copy, start to end."""
        return max(r.end for r in self.records)


@dataclass(frozen=True)
class PassRun:
    pass_: Pass
    segments: list[SegmentRun]

    @property
    def cycles(self) -> int:
        return sum(s.segment.repeat * s.cycles for s in self.segments)


def simulate_passes(chip: Chip, passes: list[Pass], progress=None) -> list[PassRun]:
    """`progress(done, total)` is called after each pass, for long generations."""
    cache: dict = {}
    runs = []
    for i, p in enumerate(passes):
        segments, offset = [], 0
        for segment in p.segments:
            key = segment.graph.ops
            if key not in cache:
                cache[key] = simulate(chip, segment.graph)
            run = SegmentRun(segment, cache[key], offset)
            offset += segment.repeat * run.cycles
            segments.append(run)
        runs.append(PassRun(p, segments))
        if progress:
            progress(i + 1, len(passes))
    return runs
