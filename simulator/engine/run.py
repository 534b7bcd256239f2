"""Discrete-event run of an op graph on one chip.

Each op waits for its dependencies, then for cores (one per tile, at most all) and for a share of
memory bandwidth: at least its cores' fair share, more if it is free, never more than its cores'
DMA ports can pull. It holds both for its duration: the chip's fixed per-op overhead (launch,
prologue, tail) plus the time the hardware timing model computes from that share. Reservations keep
bandwidth conserved when independent ops overlap.
"""

import math

import simpy

from simulator.engine.record import OpRecord
from simulator.hardware.bandwidth import bandwidth_demand
from simulator.hardware.chip import Chip
from simulator.hardware.timing import OpTiming, gemm_timing, vector_cores, vector_timing
from simulator.mapping.gemm import choose_tile, gemm_cores
from simulator.workloads.ops import GemmOp, Op, OpGraph


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


def simulate(chip: Chip, graph: OpGraph) -> list[OpRecord]:
    """Run every op of `graph` on `chip`; records come back in workload order."""
    env = simpy.Environment()
    cores = simpy.Container(env, capacity=chip.cores, init=chip.cores)
    bandwidth = simpy.Container(env, capacity=chip.cores, init=chip.cores)  # units of 1/cores
    done = {op.name: env.event() for op in graph.ops}
    timer = _Timer(chip)
    records: dict[int, OpRecord] = {}

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
        timer.cores(op)  # plan every op first: bad dtypes or tiles that fit nowhere fail before the run
    for index, op in enumerate(graph.ops):
        env.process(run(index, op))
    env.run()
    return [records[i] for i in range(len(graph.ops))]


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
