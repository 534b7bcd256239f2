"""A collective's kernels hold SMs (`system.library.channels`) and their copies take HBM: ops that run while
it runs get the other SMs and stream at the rest of their HBM share, from the cycle its kernels start to the
cycle they end (an op in flight is re-timed for the rest of its work at each)."""

import pytest

from simulator.config.loader import load_chip
from simulator.engine.network import collective_cycles
from simulator.engine.run import collective_cores, collective_hbm_share, run_block, timer_for
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology
from simulator.ir.ops import CollectiveOp, GemmOp, OpGraph
from simulator.mapping.program import Fabric, Mapper

BIG = 64 << 20  # bytes: an all-reduce long enough that the GEMM after it starts inside it


def run(chip: Chip):
    topology = build_topology(chip.config.system, chip.clock_hz, chip.hbm.achievable_bytes_per_cycle)
    fabric = Fabric(topology, {"tp": (tuple(range(chip.config.system.chips)),)}, "ring")
    graph = OpGraph("overlap", (
        CollectiveOp("ar", "all_reduce", BIG, "tp"),
        GemmOp("a", 64, 64, 64),  # starts with the all-reduce (before its kernels hold anything)
        GemmOp("g", 8192, 8192, 1024, deps=("a",)),  # independent of the all-reduce: starts inside it
    ))
    block = Mapper(chip, collective_cycles).block(graph, fabric)
    return block, run_block(chip, block, topology), topology


def test_an_op_beside_a_collective_runs_on_the_sms_its_kernels_leave():
    chip = Chip(load_chip("dgx_a100"))
    block, result, topology = run(chip)
    ar, _, g = result.records
    assert collective_cores(chip, topology) == 24  # dgx_a100: NCCL's 24 CTAs for an all-reduce
    assert ar.start < g.start < ar.end  # the GEMM starts inside the all-reduce ...
    assert g.cores == chip.cores - 24 == 84  # ... on the 84 SMs the collective leaves
    step, timer = block.steps[2], timer_for(chip)
    units = round(g.bandwidth_fraction * chip.cores)  # its HBM share, as the memory level granted it, less
    slowed = max(1, round(units * (1 - collective_hbm_share(topology, "all_reduce"))))  # the all-reduce's copies
    inside, after = timer.time(step, slowed, 84).cycles, timer.time(step, units, 84).cycles
    assert g.end > ar.end  # it outlives the all-reduce: until then at 84 SMs and the rest of its share ...
    work = g.start + g.overhead_cycles
    left = 1 - (ar.end - work) / inside  # ... then the rest of its work with the whole share (its 84 SMs stay)
    assert g.end == ar.end + round(left * after)


def test_without_a_channel_count_collectives_take_no_cores():
    chip = Chip(load_chip("dgx_a100", ["system.library.channels=null"]))
    _, result, topology = run(chip)
    assert collective_cores(chip, topology) == 0
    assert result.records[2].cores == chip.cores
    slower = run(Chip(load_chip("dgx_a100")))[1].records[2]
    assert slower.cycles > result.records[2].cycles  # fewer SMs, longer GEMM


def test_a_collectives_copies_take_their_share_of_hbm_from_the_ops_beside_it():
    from simulator.engine.run import MAX_COPY_SHARE
    from simulator.ir.ops import VectorOp

    chip = Chip(load_chip("dgx_a100"))
    topology = build_topology(chip.config.system, chip.clock_hz, chip.hbm.achievable_bytes_per_cycle)
    # what arrives at a chip: its 12 NVLink3 links at NCCL's 0.80 of 25 GB/s; a reduction moves 3 HBM bytes a byte
    inbound = 12 * 25e9 * 0.80 / chip.clock_hz
    share = collective_hbm_share(topology, "all_reduce")
    assert share == pytest.approx(3 * inbound / chip.hbm.achievable_bytes_per_cycle)
    assert collective_hbm_share(topology, "all_gather") == pytest.approx(share / 3)
    assert 0 < share < MAX_COPY_SHARE

    fabric = Fabric(topology, {"tp": (tuple(range(8)),)}, "ring")
    graph = OpGraph("overlap", (
        CollectiveOp("ar", "all_reduce", BIG, "tp"),
        GemmOp("a", 64, 64, 64),
        VectorOp("v", "add", 1 << 24, "bf16", 2, 1, deps=("a",)),  # memory-bound, inside the all-reduce
    ))
    block = Mapper(chip, collective_cycles).block(graph, fabric)
    ar, _, v = run_block(chip, block, topology).records
    assert ar.start < v.start < v.end < ar.end
    units = round(v.bandwidth_fraction * chip.cores)
    slowed = max(1, round(units * (1 - share)))
    assert v.cycles == timer_for(chip).time(block.steps[2], slowed, v.cores).cycles + v.overhead_cycles
    alone = timer_for(chip).time(block.steps[2], units, v.cores).cycles
    assert v.cycles - v.overhead_cycles > alone  # it streams slower than with the whole share


def test_an_op_in_flight_loses_sms_when_a_collective_starts_and_gets_them_back_when_it_ends():
    """A GPU's block scheduler gives the SMs a running GEMM's finishing CTAs leave to NCCL's waiting CTAs
    (docs/model.md § 4e; the contention is in an nsys trace on an H100, NVIDIA developer forum, 2025). Here a
    GEMM on 96 SMs is running when an all-reduce's 24 CTAs start: 84 SMs from that cycle to the cycle they
    leave, exactly, then 96 again."""
    chip = Chip(load_chip("dgx_a100"))
    topology = build_topology(chip.config.system, chip.clock_hz, chip.hbm.achievable_bytes_per_cycle)
    fabric = Fabric(topology, {"tp": (tuple(range(8)),)}, "ring")
    graph = OpGraph("in flight", (
        GemmOp("g", 1024, 3072, 65536),  # 96 tiles: 96 SMs, long enough to outlast the all-reduce
        GemmOp("a", 64, 64, 64),  # beside it on 2 SMs
        CollectiveOp("ar", "all_reduce", BIG, "tp", deps=("a",)),  # starts once g is running
    ))
    block = Mapper(chip, collective_cycles).block(graph, fabric)
    g, a, ar = run_block(chip, block, topology).records
    assert g.cores == 96 and g.start == 0
    kernels = ar.start + ar.overhead_cycles  # the cycle the all-reduce's CTAs take their SMs
    work = g.start + g.overhead_cycles
    assert work < kernels < ar.end < g.end
    timer, units = timer_for(chip), round(g.bandwidth_fraction * chip.cores)
    slowed = max(1, round(units * (1 - collective_hbm_share(topology, "all_reduce"))))
    alone, inside = timer.time(block.steps[0], units, 96).cycles, timer.time(block.steps[0], slowed, 84).cycles
    assert inside > alone
    left = 1 - (kernels - work) / alone - (ar.end - kernels) / inside
    assert g.end == ar.end + round(left * alone)  # one cycle either way would be a different timeline
    assert g.end > work + alone  # the all-reduce cost it time
    # its record splits its cycles as its stretches did: more compute than alone, none of it invented
    assert g.compute_cycles + g.stall_cycles == pytest.approx(g.cycles - g.overhead_cycles, abs=2)
