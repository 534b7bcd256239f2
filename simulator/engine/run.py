"""Discrete-event run of one block of a Program on one chip, and of its collectives over the links.

Each compute step waits for its dependencies, then for its cores (CorePool) and a share of memory
bandwidth (the memory level's timing model, engine/units.py). It holds both for its duration: the
fixed per-op overhead (the chip's launch, prologue and tail, and the host's issue time where the runtime
profile makes the device wait: hardware/runtime.py) plus the time the hardware timing model computes from
that share, for the tile and cores mapping chose.

Collectives take no cores from the pool: after the fixed per-op overhead every group of the collective
sends its messages at once (engine/network.py), and the collective ends when the last message lands.
While its kernels run they hold the collective library's SMs and a share of HBM (`collective_cores`,
`collective_hbm_share`): compute steps running then work on the other SMs and the rest of their share, and
one in flight when a collective starts or ends is re-timed for the rest of its work. A collective that no
other collective of the block can overlap (`CommStep.alone`) runs on idle links, so its time is its
idle-link time, computed once per kind, bytes, groups and algorithm and reused. A collective whose groups
are single chips is a no-op and takes no time. Compute steps that do not depend on a collective run during
it: that is overlapped communication.
"""

import weakref
from dataclasses import dataclass
from functools import cached_property

from simulator.engine.network import Network, collective_cycles
from simulator.engine.record import OpRecord
from simulator.engine.units import MEMORY_MODELS, CorePool, UnitSpan
from simulator.hardware.chip import Chip, stand_in
from simulator.hardware.pim import pim_timing
from simulator.hardware.sram_banks import with_bank_stalls
from simulator.hardware.timing import OpTiming, gemm_timing, vector_timing
from simulator.ir.ops import GemmOp
from simulator.ir.program import Block, CommStep, ComputeStep
from simulator.mapping.collectives import transport
from simulator.mapping.program import shape_key


@dataclass(frozen=True)
class BlockRun:
    records: list[OpRecord]
    link_bytes: tuple[float, ...]  # per link of the topology; () without one
    steps: tuple = ()  # the block's steps, in program order
    memory: str = "hbm"  # the name of the memory level the compute steps' bytes moved on

    @cached_property
    def spans(self) -> tuple[UnitSpan, ...]:
        """What each unit did, one copy of the block: a step's spans follow from its record and, for a
        collective, the links its step crosses (built when someone reads them: the trace)."""
        spans = []
        for index, (step, r) in enumerate(zip(self.steps, self.records, strict=True)):
            if isinstance(step, CommStep):
                spans.extend(UnitSpan(f"link {link}", index, r.start, r.end, b) for link, b in step.link_bytes)
            else:
                spans.append(UnitSpan("cores", index, r.start, r.end, 0.0))
                moved = r.hbm_read + r.hbm_write + r.chip_sram_read + r.chip_sram_write  # one is 0: the far level's
                if moved:
                    spans.append(UnitSpan(self.memory, index, r.start, r.end, float(moved)))
        spans.sort(key=lambda s: (s.start, s.op, s.unit))
        return tuple(spans)


class Timer:
    """Times compute steps, reusing the result for steps of identical shape, cores and bandwidth share.
    One per chip, kept as long as the chip: every pass and block of a run shares it."""

    def __init__(self, chip: Chip):
        self.chip = chip
        self._cache: dict = {}
        self.reused = 0

    def time(self, step: ComputeStep, units: int, cores: int | None = None) -> OpTiming:
        """`cores`: fewer than the step planned, where a collective's kernels hold the rest."""
        cores = step.cores if cores is None else cores
        key = (shape_key(step.op), cores, units)
        found = self._cache.get(key)
        if found is not None:
            self.reused += 1
            return found
        fraction = units / self.chip.cores
        if step.unit == "pim":
            found = pim_timing(self.chip, step.op)
        elif isinstance(step.op, GemmOp):
            found = with_bank_stalls(self.chip, step.op, step.tile,
                                     gemm_timing(self.chip, step.op, step.tile, cores, fraction))
        else:
            found = vector_timing(self.chip, step.op, cores, fraction)
        self._cache[key] = found
        return found


_TIMERS: "weakref.WeakKeyDictionary[Chip, Timer]" = weakref.WeakKeyDictionary()


def timer_for(chip: Chip) -> Timer:
    """The timer of chips with this chip's config: a freshly loaded equal chip reuses its timings."""
    chip = stand_in(chip)
    timer = _TIMERS.get(chip)
    if timer is None:
        timer = _TIMERS[chip] = Timer(chip)
    return timer


def run_block(chip: Chip, block: Block, topology=None, memory: str = "rate", memo: dict | None = None) -> BlockRun:
    """Run one copy of `block`; records come back in program order. `memo`: see `_run_in_turn`."""
    if block.sequential:
        return _run_in_turn(chip, block, topology, memory, memo)
    import simpy  # here, not at import: a run that needs no events never loads it

    env = simpy.Environment()
    network = Network(env, topology) if topology is not None else None
    links = [0.0] * len(topology.links) if topology is not None else []
    cores = CorePool(env, chip)
    hbm = MEMORY_MODELS[memory](env, chip)
    done = {step.op.name: env.event() for step in block.steps}
    timer = timer_for(chip)
    records: dict[int, OpRecord] = {}
    runtime = chip.runtime
    channels = collective_cores(chip, topology)
    held = [0]  # cores the collective library's kernels hold now (one CTA per channel, per running collective)
    copying = [0.0]  # share of the chip's HBM the running collectives' copies and reductions take now

    def communicate(index: int, step: CommStep):
        op = step.op
        if op.deps:
            yield simpy.AllOf(env, [done[d] for d in op.deps])
        start = env.now
        overhead = runtime.overhead(op, 0)
        if step.algorithm:
            yield env.timeout(overhead)
            held[0] += channels
            memory = collective_hbm_share(topology, op.kind)
            copying[0] += memory
            retime_running()
            if step.alone:
                yield env.timeout(collective_cycles(topology, op.kind, step.algorithm, step.groups, op.bytes))
                for link, nbytes in step.link_bytes:
                    links[link] += nbytes
            else:
                yield network.run(step.messages, transport(topology, op.kind, step.algorithm, step.groups, op.bytes))
            held[0] -= channels
            copying[0] -= memory
            retime_running()
        records[index] = _collective_record(index, step, start, env.now, overhead)
        done[op.name].succeed()

    def conditions(want: int, units: int) -> tuple[int, int]:
        """The cores and memory units an op holding `want` cores and `units` of memory works with now."""
        if want and held[0]:  # a collective's kernels hold SMs: the op runs on the others (one at least)
            want = max(1, min(want, chip.cores - held[0]))
        if copying[0] > 1e-12:  # the collectives' HBM traffic: the op streams at the rest of its share
            units = max(1, round(units * (1.0 - min(copying[0], MAX_COPY_SHARE))))
        return want, units

    running: dict[int, list] = {}  # ops in their device work: [process, want, units, conditions, interrupted]

    def retime_running():
        """A collective started or ended: ops in flight whose cores or memory share it changes are re-timed
        for the rest of their work (a GPU's block scheduler hands the SMs CTAs leave to whichever kernel
        has blocks waiting, so a running GEMM loses SMs to NCCL's CTAs within a CTA's time and gets them
        back when they leave)."""
        for state in running.values():
            if not state[4] and conditions(state[1], state[2]) != state[3]:
                state[4] = True
                state[0].interrupt()

    def compute(index: int, step: ComputeStep):
        op = step.op
        if op.deps:
            yield simpy.AllOf(env, [done[d] for d in op.deps])
        want = step.cores  # 0 for an op in the DRAM banks (pim), which holds the whole memory instead
        if want and held[0]:  # cores the collectives hold now are not the op's to take
            want = max(1, min(want, chip.cores - held[0]))
        if want:
            yield from cores.acquire(want)
        units = yield from hbm.acquire(want or chip.cores)
        now = conditions(want, units)
        timing = planned = timer.time(step, now[1], now[0] or step.cores)
        start = env.now
        overhead = runtime.overhead(op, timing.cycles)
        if overhead:
            yield env.timeout(overhead)
        left, parts = 1.0, []  # the share of the op's work still to do; (share done, timing) per stretch
        while True:
            begun = env.now
            state = running[index] = [env.active_process, want, units, now, False]
            try:
                yield env.timeout(round(left * timing.cycles))
                parts.append((left, timing))
                break
            except simpy.Interrupt:
                did = min(left, (env.now - begun) / timing.cycles) if timing.cycles else left
                parts.append((did, timing))
                left -= did
                now = conditions(state[1], state[2])
                timing = timer.time(step, now[1], now[0] or step.cores)
        del running[index]
        yield from hbm.release(units)
        if want:
            yield from cores.release(want)
        if len(parts) > 1:
            planned = _blend(planned, parts)
        records[index] = _record(index, step, planned, units / chip.cores, start, env.now, overhead,
                                 chip.sram_only)
        done[op.name].succeed()

    for index, step in enumerate(block.steps):
        env.process(communicate(index, step) if isinstance(step, CommStep) else compute(index, step))
    env.run()
    if network is not None:
        links = [a + b for a, b in zip(links, network.link_bytes, strict=True)]
    return BlockRun([records[i] for i in range(len(block.steps))], tuple(links), block.steps, hbm.name)


def _blend(planned: OpTiming, parts: list[tuple[float, OpTiming]]) -> OpTiming:
    """An op re-timed in flight: its compute and stall cycles are its stretches' in proportion to the work
    each did; what it moves and how it is tiled are the plan's."""
    from dataclasses import replace

    return replace(planned, compute_cycles=round(sum(w * t.compute_cycles for w, t in parts)),
                   stall_cycles=round(sum(w * t.stall_cycles for w, t in parts)),
                   cycles=round(sum(w * t.cycles for w, t in parts)))


MAX_COPY_SHARE = 0.9  # collectives never leave the ops beside them less than a tenth of their HBM share


def collective_hbm_share(topology, kind: str) -> float:
    """Share of a chip's achievable HBM a running collective's kernels take: what arrives at the chip per cycle
    (its links in, at the library's share of them) times the HBM bytes each received byte costs (a reduction's
    `memory_passes`: read the peer's data and the own buffer, write the sum; a gather or send writes what
    arrives once). 0 without a library, or where the builder was not told the HBM rate."""
    library = getattr(topology, "library", None)
    if library is None or not topology.memory_rate:
        return 0.0
    passes = library.memory_passes if kind in ("all_reduce", "reduce_scatter") else 1.0
    return passes * topology.inbound * library.link_scale / topology.memory_rate


def collective_cores(chip: Chip, topology) -> int:
    """Cores a running collective's kernels hold (`system.library.channels`: one CTA, one SM, per channel); 0
    without a library that says, or on a single chip. Ops running beside it get the rest."""
    library = getattr(topology, "library", None)
    return min(library.channels or 0, chip.cores - 1) if library is not None else 0


def _run_in_turn(chip: Chip, block: Block, topology, memory: str, memo: dict | None = None) -> BlockRun:
    """A sequential block: each step starts when the one before ends, on an idle chip and idle links, so
    it gets exactly what the simulated units would give it then (all the cores it asks for, the memory
    share `acquire` grants on an idle level, its idle-link time) and no events are needed.

    Records depend only on each step's op, timing and duration, so blocks that differ only in which chips
    their collectives join (the stages of a pipeline, on symmetric links) share one list of records when
    `memo` (one per Program run) has seen the same steps take the same times; link bytes and spans are
    each block's own."""
    links = [0.0] * len(topology.links) if topology is not None else []
    model = MEMORY_MODELS[memory]
    timer = timer_for(chip)
    runtime = chip.runtime
    timed, key, now = [], [model.name], 0
    for step in block.steps:
        start = now
        if isinstance(step, CommStep):
            op = step.op
            overhead = runtime.overhead(op, 0)
            if step.algorithm:
                now += overhead + collective_cycles(topology, op.kind, step.algorithm, step.groups, op.bytes)
                for link, nbytes in step.link_bytes:
                    links[link] += nbytes
            timed.append((step, None, 0.0, start, now, overhead))
            key.append((id(op), step.algorithm, now - start, sum(b for _, b in step.link_bytes)))
            continue
        units = model.share_when_idle(chip, step.cores or chip.cores)  # cores 0: pim, the whole memory
        timing = timer.time(step, units)
        overhead = runtime.overhead(step.op, timing.cycles)
        now += overhead + timing.cycles
        timed.append((step, timing, units / chip.cores, start, now, overhead))
        key.append((id(step.op), id(timing), units, step.unit, step.note))
    key = tuple(key)
    records = memo.get(key) if memo is not None else None
    if records is None:
        records = [_collective_record(i, step, start, end, overhead) if timing is None else
                   _record(i, step, timing, fraction, start, end, overhead, chip.sram_only)
                   for i, (step, timing, fraction, start, end, overhead) in enumerate(timed)]
        if memo is not None:
            memo[key] = records
    return BlockRun(records, tuple(links), block.steps, model.name)


def _collective_record(index: int, step: CommStep, start: int, end: int, overhead: int) -> OpRecord:
    """The collective's record (a no-op takes no time)."""
    op = step.op
    sent = sum(b for _, b in step.link_bytes)
    overhead = overhead if step.algorithm else 0
    return OpRecord(
        index=index, name=op.name, type=op.type, kind=op.kind, group=op.group, dtype="none", shape=op.shape,
        tile="", cores=0, bandwidth_fraction=0.0, work_units=0, waves=0, start=start, end=end, cycles=end - start,
        compute_cycles=0, stall_cycles=0, overhead_cycles=overhead, macs=0, flops=0, vector_ops=0.0, hbm_read=0,
        hbm_write=0, l2_read=0, sram_read=0, sram_write=0, a_reads=0, b_reads=0, acc_reads=0, acc_writes=0,
        min_bytes=0, comm_bytes=op.bytes, link_bytes=sent, algorithm=step.algorithm, unit="links", axis=op.axis,
    )


def _record(index: int, step: ComputeStep, t: OpTiming, fraction: float, start: int, end: int, overhead: int,
            sram_only: bool = False) -> OpRecord:
    """The compute step's record. On an SRAM-only chip the farthest level's bytes are its SRAM's."""
    op = step.op
    is_gemm = isinstance(op, GemmOp)
    far = (0, 0, t.hbm_read, t.hbm_write) if sram_only else (t.hbm_read, t.hbm_write, 0, 0)
    return OpRecord(
        index=index, name=op.name, type=op.type, kind="gemm" if is_gemm else op.kind, group=op.group,
        dtype=op.compute_dtype,
        shape=op.shape, tile=t.tile, cores=t.cores, bandwidth_fraction=fraction, work_units=t.work_units,
        waves=t.waves, start=start, end=end, cycles=end - start, compute_cycles=t.compute_cycles,
        stall_cycles=t.stall_cycles, overhead_cycles=overhead, macs=op.macs, flops=op.flops,
        vector_ops=0.0 if is_gemm else op.vector_ops, hbm_read=far[0], hbm_write=far[1],
        l2_read=t.l2_read, sram_read=t.sram_read, sram_write=t.sram_write, a_reads=t.a_reads,
        b_reads=t.b_reads, acc_reads=t.acc_reads, acc_writes=t.acc_writes,
        min_bytes=op.min_read_bytes + op.min_write_bytes, unit=step.unit, note=step.note,
        chip_sram_read=far[2], chip_sram_write=far[3],
        bank_stall_cycles=getattr(t, "bank_stall_cycles", 0), pim_read=getattr(t, "pim_read", 0),
    )
