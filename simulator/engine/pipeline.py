"""Pipeline-parallel schedules over the stages of a pass.

In order (`run_pipeline`, a forward pass): stages take micro-batches in order; a stage starts micro-batch
j once it has finished j − 1 and j's activations have arrived from the stage before. Sending does not hold
the sender, so a send overlaps the sender's next micro-batch. With p stages of equal time t, m
micro-batches and free sends, the pass takes (m + p − 1)·t and each stage idles for the bubble
(p − 1)/(m + p − 1) of it.

One forward, one backward (`run_forward_backward`, schedule 1f1b, a training step's micro-batches;
PipeDream-Flush, Megatron's default): stage s runs min(p − s − 1, m) forwards, then alternates one
forward and one backward, then the remaining backwards. A forward waits for the stage before's forward of
that micro-batch and its activations; a backward waits for the stage after's backward and its gradients
(the last stage's for its own forward). At most p − s micro-batches are in flight on stage s. Equal stages
of forward F and backward B with free sends take (m + p − 1)·(F + B): the same bubble, (p − 1)/(m + p − 1).
Schedule gpipe runs every forward, then every backward, through the same function.

Interleaved one forward, one backward (1f1b with v > 1 virtual stages per rank, Megatron's interleaved
schedule): the layers are p·v chunks, chunk c on rank c mod p, so a micro-batch goes round the ranks v
times, from rank p − 1 back to rank 0 between rounds. Rank s runs its m·v forwards in groups of p
micro-batches per chunk (chunk 0 for micro-batches 0 … p − 1, then chunk 1 for the same, …), backwards
likewise from the last chunk; its warm-up is 2(p − s − 1) + (v − 1)·p forwards (all of them when m = p),
then it alternates, then drains (`interleaved_order`). Equal chunks of forward f = F/v and backward
b = B/v with free sends take (m·v + p − 1)·(f + b): the bubble is (p − 1)/(v·m + p − 1). Rank s holds at
most min(2(p − s − 1) + (v − 1)·p + 1, m·v) chunks' activations.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.engine.network import Network
from simulator.engine.units import UnitSpan
from simulator.hardware.topology import Topology
from simulator.ir.program import Message
from simulator.mapping.collectives import per_link


@dataclass(frozen=True)
class Span:
    stage: int  # a send's: the lower stage of the two it joins
    microbatch: int
    kind: str  # compute (the stage's segments for one micro-batch) | send (between neighbouring stages)
    start: int
    end: int
    part: str = ""  # under one forward, one backward: forward | backward (of compute and of sends)
    chunk: int = 0  # interleaved: the rank's chunk (virtual stage chunk·p + stage); a send's, the sender's


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


def one_f_one_b_order(stage: int, stages: int, microbatches: int) -> list[tuple[str, int]]:
    """The (forward | backward, micro-batch) a stage runs, in order."""
    warmup = min(stages - stage - 1, microbatches)
    order = [("forward", j) for j in range(warmup)]
    for i in range(microbatches - warmup):
        order += [("forward", warmup + i), ("backward", i)]
    return order + [("backward", j) for j in range(microbatches - warmup, microbatches)]


def gpipe_order(stage: int, stages: int, microbatches: int) -> list[tuple[str, int]]:
    """GPipe: every micro-batch's forward, then every backward."""
    return [("forward", j) for j in range(microbatches)] + [("backward", j) for j in range(microbatches)]


def interleaved_order(stage: int, stages: int, microbatches: int, virtual: int) -> list[tuple[str, int, int]]:
    """Megatron's interleaved 1F1B: the (forward | backward, chunk, micro-batch) rank `stage` runs, in order.
    Needs microbatches to be a multiple of stages (groups of p micro-batches go through each chunk)."""
    total = microbatches * virtual

    def which(k: int, forward: bool) -> tuple[int, int]:
        within = k % (stages * virtual)
        chunk = within // stages
        return (chunk if forward else virtual - 1 - chunk), (k // (stages * virtual)) * stages + within % stages

    warmup = total if microbatches == stages else min(2 * (stages - stage - 1) + (virtual - 1) * stages, total)
    order = [("forward", *which(k, True)) for k in range(warmup)]
    for i in range(total - warmup):
        order += [("forward", *which(warmup + i, True)), ("backward", *which(i, False))]
    return order + [("backward", *which(k, False)) for k in range(total - warmup, total)]


ORDERS = {"1f1b": one_f_one_b_order, "gpipe": gpipe_order}


def _chunked(times: list, stages: int, microbatches: int, virtual: int) -> list[list[list[int]]]:
    """times[s] (v = 1: a number or one per micro-batch; v > 1: one such per chunk) as [s][chunk][j]."""
    def per_mb(t):
        return list(t) if isinstance(t, list | tuple) else [t] * microbatches
    if virtual == 1:
        return [[per_mb(t)] for t in times]
    return [[per_mb(t) for t in chunks] for chunks in times]


def run_forward_backward(topology: Topology, forward: list, backward: list, microbatches: int,
                         sends: tuple[tuple[Message, ...], ...], returns: tuple[tuple[Message, ...], ...],
                         idle_sends: list[int], idle_returns: list[int], schedule: str = "1f1b",
                         virtual: int = 1, early: list | None = None) -> PipelineRun:
    """`forward[s]`, `backward[s]`: stage s's cycles for one micro-batch (a number, or one per micro-batch:
    passes that share the pipeline run different blocks; with `virtual` > 1 chunks per rank, one such per
    chunk); `sends[s]`: stage s's activations to stage s + 1 and `returns[s]`: stage s + 1's gradients back
    to stage s, with their idle-link times; with virtual > 1, entry p − 1 is rank p − 1's to rank 0 (and
    back) between virtual rounds. Every send takes its idle-link time (sends of neighbouring stages in the
    two directions do not share links on the bundled topologies); the stages follow their fixed order
    (`schedule`: 1f1b, interleaved when virtual > 1, or gpipe's all forwards then all backwards, which takes
    the same time on equal stages but keeps every micro-batch in flight), so no events are needed.
    `early[s]` (shaped like `backward[s]`): how long before the end of its backward a stage's gradient
    send leaves (the gradient reductions that finish the block do not hold it)."""
    stages = len(forward)
    chunks = stages * virtual  # virtual stages: chunk k of rank s is virtual stage k·p + s
    forward = _chunked(forward, stages, microbatches, virtual)
    backward = _chunked(backward, stages, microbatches, virtual)
    if early is None:
        early = [0 if virtual == 1 else [0] * virtual for _ in range(stages)]
    early = _chunked(early, stages, microbatches, virtual)
    if virtual > 1:
        orders = [interleaved_order(s, stages, microbatches, virtual) for s in range(stages)]
    else:
        orders = [[(part, 0, j) for part, j in ORDERS[schedule](s, stages, microbatches)] for s in range(stages)]
    ends = {"forward": [[None] * microbatches for _ in range(chunks)],
            "backward": [[None] * microbatches for _ in range(chunks)]}
    links = {"forward": [per_link(m, topology) for m in sends], "backward": [per_link(m, topology) for m in returns]}
    spans: list[Span] = []
    sent: list[tuple[str, int, int, int]] = []  # (part, boundary, start, end) of every send
    position, free = [0] * stages, [0] * stages
    moved = True
    while moved:
        moved = False
        for s in range(stages):
            while position[s] < len(orders[s]):
                part, k, j = orders[s][position[s]]
                at = k * stages + s
                if part == "forward":
                    before = ends["forward"][at - 1][j] if at else 0
                    ready = None if before is None else before + (idle_sends[(at - 1) % stages] if at else 0)
                elif at == chunks - 1:
                    ready = ends["forward"][at][j]
                else:
                    after = ends["backward"][at + 1][j]
                    ready = None if after is None else after + idle_returns[at % stages]
                if ready is None:
                    break
                start = max(free[s], ready)
                free[s] = end = start + (forward if part == "forward" else backward)[s][k][j]
                ends[part][at][j] = end
                spans.append(Span(s, j, "compute", start, end, part, k))
                pair = at if part == "forward" else at - 1  # the virtual boundary this micro-batch's send crosses
                if 0 <= pair < chunks - 1:
                    pair %= stages  # rank p − 1 → rank 0 between virtual rounds: boundary p − 1
                    took = idle_sends[pair] if part == "forward" else idle_returns[pair]
                    leave = end - (early[s][k][j] if part == "backward" else 0)
                    if part == "backward":
                        ends["backward"][at][j] = leave  # what the stage before waits for: the gradient
                    spans.append(Span(pair, j, "send", leave, leave + took, part, k))
                    sent.append((part, pair, leave, leave + took))
                position[s] += 1
                moved = True
    if any(position[s] < len(orders[s]) for s in range(stages)):
        raise RuntimeError("one-forward-one-backward schedule did not finish: a dependency was never met")
    spans.sort(key=lambda x: (x.start, x.stage, x.kind))
    carried = [0.0] * len(topology.links)
    for (part, pair), times in Counter((part, pair) for part, pair, _, _ in sent).items():
        for link, b in links[part][pair]:
            carried[link] += b * times
    return PipelineRun(max(x.end for x in spans), tuple(spans), tuple(carried), SendSpans(sent, links))


class SendSpans(Sequence):
    """Each send on each link it crosses (UnitSpan, op = the boundary), sorted by start and unit: built when
    first read (the trace), since a cluster's sends cross thousands of links."""

    def __init__(self, sent, links):
        self._sent, self._links, self._spans = sent, links, None

    @property
    def spans(self) -> tuple[UnitSpan, ...]:
        if self._spans is None:
            out = [UnitSpan(f"link {link}", pair, start, end, b) for part, pair, start, end in self._sent
                   for link, b in self._links[part][pair]]
            out.sort(key=lambda x: (x.start, x.unit))
            self._spans = tuple(out)
        return self._spans

    def __getitem__(self, i):
        return self.spans[i]

    def __len__(self) -> int:
        return len(self.spans)

    def __eq__(self, other) -> bool:
        return tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(self.spans)
