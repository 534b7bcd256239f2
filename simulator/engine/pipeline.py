"""Pipeline-parallel schedule of one forward pass: stages take micro-batches in order; a stage starts
micro-batch j once it has finished j − 1 and j's activations have arrived from the stage before.

Sending does not hold the sender, so a send overlaps the sender's next micro-batch. With p stages of
equal time t, m micro-batches and free sends, the pass takes (m + p − 1)·t and each stage idles for
the bubble (p − 1)/(m + p − 1) of it.
"""

from dataclasses import dataclass

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
                 sends: tuple[tuple[Message, ...], ...], idle_send_cycles: list[int] | None = None) -> PipelineRun:
    """`sends[s]`: the messages stage s sends stage s + 1 after each micro-batch (mapping builds them);
    `idle_send_cycles[s]`: how long they take on idle links, when the caller knows (see `_in_turn`)."""
    links = [per_link(messages, topology) for messages in sends]
    if idle_send_cycles is not None and _sends_never_meet(links, stage_cycles, idle_send_cycles, microbatches):
        return _in_turn(topology, stage_cycles, microbatches, links, idle_send_cycles)
    import simpy  # here, not at import: a run that needs no events never loads it

    env = simpy.Environment()
    network = Network(env, topology)
    stages = len(stage_cycles)
    arrived = [[env.event() for _ in range(microbatches)] for _ in range(stages)]
    spans: list[Span] = []
    link_spans: list[UnitSpan] = []

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


def _sends_never_meet(links, stage_cycles: list[int], idle: list[int], microbatches: int) -> bool:
    """No two sends can share a link while in flight: with one micro-batch the stages run one after
    another; else each stage's sends use links no other stage's use, and a stage's send ends before its
    next one starts (that one follows at least one more compute)."""
    if not all(c > 0 for c in stage_cycles):
        return False
    if microbatches == 1:
        return True
    seen: set[int] = set()
    for s, mine in enumerate(links):
        used = {link for link, _ in mine}
        if used & seen or idle[s] >= stage_cycles[s]:
            return False
        seen |= used
    return True


def _in_turn(topology: Topology, stage_cycles: list[int], microbatches: int, links, idle: list[int]) -> PipelineRun:
    """The schedule when sends never meet: every send takes its idle-link time, so stage s starts micro-batch
    j at max(its end of j − 1, stage s − 1's end of j + its send time) — the same recurrence the event run
    follows, without the events."""
    stages = len(stage_cycles)
    spans: list[Span] = []
    link_spans: list[UnitSpan] = []
    arrive = [0] * microbatches
    for s in range(stages):
        free, nxt = 0, [0] * microbatches
        for j in range(microbatches):
            start = max(free, arrive[j]) if s else free
            free = start + stage_cycles[s]
            spans.append(Span(s, j, "compute", start, free))
            if s + 1 < stages:
                end = free + idle[s]
                spans.append(Span(s, j, "send", free, end))
                link_spans.extend(UnitSpan(f"link {link}", s, free, end, b) for link, b in links[s])
                nxt[j] = end
        arrive = nxt
    carried = [0.0] * len(topology.links)
    for s in range(stages - 1):
        for link, b in links[s]:
            for _ in range(microbatches):
                carried[link] += b
    spans.sort(key=lambda x: (x.start, x.stage, x.kind))
    link_spans.sort(key=lambda x: (x.start, x.unit))
    return PipelineRun(max(x.end for x in spans), tuple(spans), tuple(carried), tuple(link_spans))
