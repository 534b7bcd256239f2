"""The serving loop: requests arrive, instances run iterations, time advances by iterations.

Plain Python over integer cycles, not one simpy process per request: an event heap holds arrivals, the
ends of iterations and (disaggregated) KV hand-overs; each instance is busy from the start of an
iteration to its end, then asks its policy for the next. Ties are broken by event kind (arrivals first)
and then by insertion order, so a run is deterministic.

An iteration's time is the host's scheduler cost (serving.scheduler.overhead + overhead_per_sequence ×
sequences, once per call, + overhead_per_sequence_step × the sequence-steps it runs), the swap traffic of
preemptions, and the engine's cycles for its batch (serving/cost.py), one per step of a multi-step call,
all stretched by 1 / (1 − frontend_share) where an in-process front end shares the host. Its tokens are
streamed at its end."""

import heapq
from dataclasses import dataclass, field

import numpy as np

from simulator.serving.book import Book
from simulator.serving.cost import IterationCost
from simulator.serving.kv import BlockPool
from simulator.serving.plan import Plan, Queues
from simulator.serving.policies import POLICIES
from simulator.workloads.serving import Serving

ARRIVE, HANDOVER, WAKE = 0, 1, 2  # event kinds, in the order they are taken at equal times


@dataclass
class Instance:
    """One replica of the parallel plan (or one pool member of a disaggregated service)."""

    index: int
    role: str  # both | prefill | decode
    cost: IterationCost
    pool: BlockPool
    serving: Serving
    book: Book
    queues: Queues = field(default_factory=Queues)
    draft: IterationCost | None = None  # speculative decoding: the draft model's iterations on the same chips
    busy: bool = False
    iterations: int = 0
    busy_cycles: int = 0


@dataclass(frozen=True)
class IterationRow:
    instance: int
    start: int  # cycles
    end: int
    decodes: int
    prefills: int
    prefill_tokens: int
    steps: int
    kv_blocks: int  # in use at the end
    running: int
    waiting: int
    host: int  # cycles of scheduler overhead
    swap: int  # cycles of swap traffic


@dataclass
class LoopResult:
    book: Book
    rows: list[IterationRow]
    instances: list[Instance]
    end: int  # cycle of the last event


class Loop:
    def __init__(self, instances: list[Instance], book: Book, clock_hz: float, handover_cycles=None,
                 decode_pool: list[Instance] | None = None, swap_bytes_per_cycle: float = 1.0, progress=None):
        self.instances = instances
        self.book = book
        self.clock_hz = clock_hz
        self.heap: list = []
        self.order = 0
        self.rows: list[IterationRow] = []
        self.handover_cycles = handover_cycles  # request → cycles to move its KV (disaggregated)
        self.decode_pool = decode_pool or []
        self.swap_bytes_per_cycle = swap_bytes_per_cycle
        self.now = 0
        self.progress = progress  # progress(finished, requests), every 1 % of the requests
        self._step = max(1, len(book) // 100)
        self._reported = 0
        sched = instances[0].serving.scheduler
        spec = instances[0].serving.speculative
        self.rng = np.random.default_rng([instances[0].serving.seed, 1]) if spec else None  # acceptance draws
        self.host_fixed = round(sched.overhead * clock_hz)
        self.host_per_seq = sched.overhead_per_sequence * clock_hz
        self.host_per_seq_step = sched.overhead_per_sequence_step * clock_hz
        self.stretch = 1.0 / (1.0 - sched.frontend_share)

    def push(self, at: int, kind: int, target, rid: int = -1) -> None:
        self.order += 1
        heapq.heappush(self.heap, (at, kind, self.order, target, rid))

    def run(self, dispatch: list[int]) -> LoopResult:
        """`dispatch[rid]`: the instance each request arrives at."""
        for rid, (at, inst) in enumerate(zip(self.book.arrival.tolist(), dispatch, strict=True)):
            self.push(at, ARRIVE, inst, rid)
        while self.heap:
            at, kind, _, target, rid = heapq.heappop(self.heap)
            self.now = at
            if kind == ARRIVE:
                inst = self.instances[target]
                inst.queues.waiting.append(rid)
                self._wake(inst)
            elif kind == HANDOVER:
                prefill_inst, decode_inst = target
                prefill_inst.pool.release(rid)
                self._wake(prefill_inst)
                decode_inst.queues.incoming.append(rid)
                self.book.instance[rid] = decode_inst.index
                self._wake(decode_inst)
            else:
                target.busy = False
                self._iterate(target)
                if self.progress and self.book.finished - self._reported >= self._step:
                    self._reported = self.book.finished
                    self.progress(self._reported, len(self.book))
        if self.progress:
            self.progress(self.book.finished, len(self.book))
        return LoopResult(self.book, self.rows, self.instances + self.decode_pool, self.now)

    def _wake(self, inst: Instance) -> None:
        """An idle instance looks for work once everything else due at this cycle has happened (all the
        arrivals of an offline load are queued before the first batch forms)."""
        if not inst.busy:
            inst.busy = True
            self.push(self.now, WAKE, inst)

    def _iterate(self, inst: Instance) -> None:
        plan = POLICIES[inst.serving.scheduler.policy](inst)
        if plan is None:
            return
        start = self.now
        host = (self.host_fixed + round(self.host_per_seq * plan.sequences)
                + round(self.host_per_seq_step * self._sequence_steps(plan)))
        swap = round(plan.swapped_blocks * inst.pool.layout.block_bytes / self.swap_bytes_per_cycle)
        compute = self._compute(inst, plan)
        busy = host + swap + compute
        if self.stretch != 1.0:  # the front end's share of the host process, between and around the iterations
            busy = round(busy * self.stretch)
            host = busy - swap - compute
        end = start + busy
        self._apply(inst, plan, start, end)
        inst.busy, inst.iterations, inst.busy_cycles = True, inst.iterations + 1, inst.busy_cycles + end - start
        q = inst.queues
        self.rows.append(IterationRow(inst.index, start, end, len(plan.decodes), len(plan.prefills),
                                      sum(n for _, n in plan.prefills), plan.steps, inst.pool.used,
                                      len(q.running) + len(q.batch), len(q.waiting), host, swap))
        self.push(end, WAKE, inst)

    def _sequence_steps(self, plan: Plan) -> int:
        """Steps each sequence of the call runs, summed: one per prefill, and each decode's steps until its
        output is complete (a multi-step call stops a finished sequence early)."""
        if not self.host_per_seq_step:
            return 0
        if plan.padded is not None:
            return plan.padded[0]
        left = self.book.output[plan.decodes] - self.book.generated[plan.decodes]
        return len(plan.prefills) + int(np.minimum(left, plan.steps).sum())

    def _compute(self, inst: Instance, plan: Plan) -> int:
        cost, book = inst.cost, self.book
        if plan.padded is not None:
            n, new, context = plan.padded
            if new > 1:  # the batch's prefill, padded: one uniform pass
                return cost.body(n * new) + cost.head(n) + cost.core(n, new, context)
            return cost.iteration([context] * n, [])
        prefills = [(new, int(book.computed[rid]), bool(book.computed[rid] + new == book.target[rid]))
                    for rid, new in plan.prefills]
        contexts = book.prompt[plan.decodes] + book.generated[plan.decodes] - 1
        spec = inst.serving.speculative
        if spec is not None:  # the draft proposes k tokens one step at a time, the target checks them at once
            cycles = inst.draft.iteration([], prefills) if prefills else 0
            if len(contexts):
                cycles += sum(inst.draft.iteration(contexts + j, []) for j in range(spec.tokens))
                return cycles + cost.verify(contexts, spec.tokens, prefills)
            return cycles + cost.iteration(contexts, prefills)
        cycles = cost.iteration(contexts, prefills)
        if plan.steps > 1:  # later steps of a multi-step call: sequences that have finished drop out
            left = book.output[plan.decodes] - book.generated[plan.decodes]
            for step in range(1, plan.steps):
                active = contexts[left > step] + step
                if not len(active):
                    break
                cycles += cost.iteration(active, [])
        return cycles

    def _apply(self, inst: Instance, plan: Plan, start: int, end: int) -> None:
        book, q = self.book, inst.queues
        for rid, new in plan.prefills:
            if book.scheduled[rid] < 0:
                book.scheduled[rid] = start
            book.instance[rid] = inst.index
            book.computed[rid] += new
            if book.prefix is not None and book.prefix[rid] >= 0 and book.computed[rid] >= book.prefix_tokens[rid]:
                book.warm.add(int(book.prefix[rid]))  # its group's shared prompt is in the cache from now on
            if book.computed[rid] == book.target[rid]:
                done = book.emit(rid, 1, end)
                if plan.padded is not None:
                    continue
                if done:
                    q.running.remove(rid)
                    inst.pool.release(rid)
                elif inst.role == "prefill":
                    q.running.remove(rid)
                    self._hand_over(inst, rid, end)
        if plan.padded is not None:
            if plan.padded[1] == 1:
                for rid in plan.decodes.tolist():
                    if book.generated[rid] < book.output[rid]:
                        book.emit(rid, 1, end)
            return
        rids = plan.decodes
        if len(rids):
            spec = inst.serving.speculative
            if spec is None:
                made = plan.steps
            else:  # the accepted prefix of the k draft tokens, and the target's own next token
                accepted = np.cumprod(self.rng.random((len(rids), spec.tokens)) < spec.acceptance, axis=1).sum(axis=1)
                made = accepted + 1
            tokens = np.minimum(made, book.output[rids] - book.generated[rids])
            for rid in book.emit_all(rids, tokens, end).tolist():
                q.running.remove(rid)
                inst.pool.release(rid)

    def _hand_over(self, inst: Instance, rid: int, end: int) -> None:
        """Disaggregated: the request's KV cache goes to a decode instance (round robin by request)."""
        target = self.decode_pool[rid % len(self.decode_pool)]
        self.push(end + self.handover_cycles(rid), HANDOVER, (inst, target), rid)
