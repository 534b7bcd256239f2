"""Discrete-event run of an op graph on one chip, and of its collectives over the system's links.

Each op waits for its dependencies, then for cores (one per tile, at most all) and for a share of
memory bandwidth: at least its cores' fair share, more if it is free, never more than its cores'
DMA ports can pull. It holds both for its duration: the chip's fixed per-op overhead (launch,
prologue, tail) plus the time the hardware timing model computes from that share. Reservations keep
bandwidth conserved when independent ops overlap.

Collectives take no cores and no memory bandwidth: after the fixed per-op overhead they launch their
messages on the network (engine/network.py) for every group of their parallel axis at once, since
every chip of a stage runs the same program, and end when the last message lands. Compute ops that do
not depend on a collective run during it: that is overlapped communication.
"""

import math
from dataclasses import dataclass, field

import simpy

from simulator.engine.network import Network, best_algorithm
from simulator.engine.record import OpRecord
from simulator.hardware.bandwidth import bandwidth_demand
from simulator.hardware.chip import Chip
from simulator.hardware.timing import OpTiming, gemm_timing, vector_cores, vector_timing
from simulator.hardware.topology import Topology
from simulator.ir.ops import CollectiveOp, GemmOp, Op, OpGraph
from simulator.mapping.collectives import applicable, collective_messages
from simulator.mapping.gemm import choose_tile, gemm_cores


@dataclass(frozen=True, eq=False)
class Fabric:
    """What collectives need: the links, the chip groups of each parallel axis that run a collective
    together, and the algorithm (`auto`, or one that does not fit every group: the fastest `auto`
    candidate, each simulated alone)."""

    topology: Topology
    groups: dict[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict)
    algorithm: str = "auto"

    def choose(self, op: CollectiveOp) -> str:
        groups = self.groups.get(op.axis, ())
        if not groups:
            return ""
        if all(self.algorithm in applicable(op.kind, self.topology, g) for g in groups):
            return self.algorithm
        return best_algorithm(self.topology, op.kind, groups, op.bytes)[0]


@dataclass(frozen=True)
class GraphRun:
    records: list[OpRecord]
    link_bytes: tuple[float, ...]  # per link of the fabric's topology; () without one


class _Timer:
    """Times ops, reusing the result for ops of identical shape, cores and bandwidth."""

    def __init__(self, chip: Chip):
        self.chip = chip
        self._cache: dict = {}

    def cores(self, op: Op) -> int:
        if isinstance(op, GemmOp):
            return gemm_cores(self.chip, op, choose_tile(self.chip, op))
        return vector_cores(self.chip, op)

    def time(self, op: Op, cores: int, units: int) -> OpTiming:
        key = (_shape_key(op), cores, units)
        if key not in self._cache:
            fraction = units / self.chip.cores
            if isinstance(op, GemmOp):
                self._cache[key] = gemm_timing(self.chip, op, choose_tile(self.chip, op), cores, fraction)
            else:
                self._cache[key] = vector_timing(self.chip, op, cores, fraction)
        return self._cache[key]


def _shape_key(op: Op) -> tuple:
    if isinstance(op, GemmOp):
        return ("gemm", op.m, op.n, op.k, op.dtype, op.out_dtype, op.batch, op.b_dtype, op.a_on_chip, op.c_on_chip)
    return ("vector", op.kind, op.elements, op.dtype, op.inputs, op.outputs, op.ops_per_element)


def simulate(chip: Chip, graph: OpGraph, fabric: Fabric | None = None) -> list[OpRecord]:
    """Run every op of `graph` on `chip`; records come back in workload order."""
    return run_graph(chip, graph, fabric).records


def run_graph(chip: Chip, graph: OpGraph, fabric: Fabric | None = None) -> GraphRun:
    env = simpy.Environment()
    network = Network(env, fabric.topology) if fabric else None
    cores = simpy.Container(env, capacity=chip.cores, init=chip.cores)
    bandwidth = simpy.Container(env, capacity=chip.cores, init=chip.cores)  # units of 1/cores
    done = {op.name: env.event() for op in graph.ops}
    timer = _Timer(chip)
    records: dict[int, OpRecord] = {}

    def communicate(index: int, op: CollectiveOp):
        if op.deps:
            yield simpy.AllOf(env, [done[d] for d in op.deps])
        start = env.now
        yield env.timeout(chip.op_overhead_cycles)
        algorithm = fabric.choose(op) if fabric else ""
        sent = 0.0
        if algorithm:
            messages = collective_messages(op.kind, algorithm, fabric.groups[op.axis], op.bytes, fabric.topology)
            sent = sum(m.bytes * len(fabric.topology.route(m.src, m.dst)) for m in messages)
            yield network.run(messages)
        records[index] = _collective_record(index, op, start, env.now, chip.op_overhead_cycles, algorithm, sent)
        done[op.name].succeed()

    def run(index: int, op: Op):
        if op.deps:
            yield simpy.AllOf(env, [done[d] for d in op.deps])
        want = timer.cores(op)
        yield cores.get(want)
        yield bandwidth.get(want)
        demand = max(want, math.ceil(bandwidth_demand(chip, want) * chip.cores - 1e-9))
        extra = min(demand - want, int(bandwidth.level))
        if extra > 0:
            yield bandwidth.get(extra)
        units = want + max(extra, 0)
        timing = timer.time(op, want, units)
        start = env.now
        yield env.timeout(chip.op_overhead_cycles + timing.cycles)
        yield bandwidth.put(units)
        yield cores.put(want)
        records[index] = _record(index, op, timing, units / chip.cores, start, env.now, chip.op_overhead_cycles)
        done[op.name].succeed()

    for op in graph.ops:
        if not isinstance(op, CollectiveOp):
            timer.cores(op)  # plan every op first: bad dtypes or tiles that fit nowhere fail before the run
    for index, op in enumerate(graph.ops):
        env.process(communicate(index, op) if isinstance(op, CollectiveOp) else run(index, op))
    env.run()
    links = tuple(network.link_bytes) if network else ()
    return GraphRun([records[i] for i in range(len(graph.ops))], links)


def _collective_record(index, op: CollectiveOp, start, end, overhead, algorithm, sent) -> OpRecord:
    return OpRecord(
        index=index, name=op.name, type=op.type, kind=op.kind, group=op.group, dtype="none", shape=op.shape,
        tile="", cores=0, bandwidth_fraction=0.0, work_units=0, waves=0, start=start, end=end, cycles=end - start,
        compute_cycles=0, stall_cycles=0, overhead_cycles=overhead, macs=0, flops=0, vector_ops=0.0, hbm_read=0,
        hbm_write=0, l2_read=0, sram_read=0, sram_write=0, a_reads=0, b_reads=0, acc_reads=0, acc_writes=0,
        min_bytes=0, comm_bytes=op.bytes, link_bytes=sent, algorithm=algorithm,
    )


def _record(index: int, op: Op, t: OpTiming, fraction: float, start: int, end: int, overhead: int) -> OpRecord:
    is_gemm = isinstance(op, GemmOp)
    return OpRecord(
        index=index, name=op.name, type=op.type, kind="gemm" if is_gemm else op.kind, group=op.group,
        dtype=op.compute_dtype,
        shape=op.shape, tile=t.tile, cores=t.cores, bandwidth_fraction=fraction, work_units=t.work_units,
        waves=t.waves, start=start, end=end, cycles=end - start, compute_cycles=t.compute_cycles,
        stall_cycles=t.stall_cycles, overhead_cycles=overhead, macs=op.macs, flops=op.flops,
        vector_ops=0.0 if is_gemm else op.vector_ops, hbm_read=t.hbm_read, hbm_write=t.hbm_write,
        l2_read=t.l2_read, sram_read=t.sram_read, sram_write=t.sram_write, a_reads=t.a_reads,
        b_reads=t.b_reads, acc_reads=t.acc_reads, acc_writes=t.acc_writes,
        min_bytes=op.min_read_bytes + op.min_write_bytes,
    )
