"""Pipeline-parallel schedule of one forward pass: stages take micro-batches in order; a stage starts
micro-batch j once it has finished j − 1 and j's activations have arrived from the stage before.

Sending does not hold the sender, so a send overlaps the sender's next micro-batch. With p stages of
equal time t, m micro-batches and free sends, the pass takes (m + p − 1)·t and each stage idles for
the bubble (p − 1)/(m + p − 1) of it.
"""

from dataclasses import dataclass

import simpy

from simulator.engine.network import Network
from simulator.engine.units import UnitSpan
from simulator.hardware.topology import Topology
from simulator.ir.program import Message
from simulator.mapping.collectives import per_link


@dataclass(frozen=True)
class Span:
    stage: int
    microbatch: int
    kind: str  # compute (the stage's segments for one micro-batch) | send (to the next stage)
    start: int
    end: int


@dataclass(frozen=True)
class PipelineRun:
    cycles: int
    spans: tuple[Span, ...]
    link_bytes: tuple[float, ...]
    link_spans: tuple[UnitSpan, ...] = ()  # each send on each link it crosses (op = the sending stage)


def run_pipeline(topology: Topology, stage_cycles: list[int], microbatches: int,
                 sends: tuple[tuple[Message, ...], ...]) -> PipelineRun:
    """`sends[s]`: the messages stage s sends stage s + 1 after each micro-batch (mapping builds them)."""
    env = simpy.Environment()
    network = Network(env, topology)
    stages = len(stage_cycles)
    arrived = [[env.event() for _ in range(microbatches)] for _ in range(stages)]
    spans: list[Span] = []
    link_spans: list[UnitSpan] = []
    links = [per_link(messages, topology) for messages in sends]

    def send(s: int, j: int):
        start = env.now
        yield network.run(sends[s])
        spans.append(Span(s, j, "send", start, env.now))
        link_spans.extend(UnitSpan(f"link {link}", s, start, env.now, b) for link, b in links[s])
        arrived[s + 1][j].succeed()

    def stage(s: int):
        for j in range(microbatches):
            if s:
                yield arrived[s][j]
            start = env.now
            yield env.timeout(stage_cycles[s])
            spans.append(Span(s, j, "compute", start, env.now))
            if s + 1 < stages:
                env.process(send(s, j))

    for s in range(stages):
        env.process(stage(s))
    env.run()
    spans.sort(key=lambda x: (x.start, x.stage, x.kind))
    link_spans.sort(key=lambda x: (x.start, x.unit))
    return PipelineRun(int(env.now), tuple(spans), tuple(network.link_bytes), tuple(link_spans))

