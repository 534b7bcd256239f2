"""A collective's kernels hold SMs (`system.library.channels`): ops that start while it runs get the rest."""

from simulator.config.loader import load_chip
from simulator.engine.network import collective_cycles
from simulator.engine.run import collective_cores, run_block, timer_for
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
    step = block.steps[2]
    units = round(g.bandwidth_fraction * chip.cores)  # its HBM share, as the memory level granted it
    assert g.cycles == timer_for(chip).time(step, units, 84).cycles + g.overhead_cycles  # timed at 84 SMs


def test_without_a_channel_count_collectives_take_no_cores():
    chip = Chip(load_chip("dgx_a100", ["system.library.channels=null"]))
    _, result, topology = run(chip)
    assert collective_cores(chip, topology) == 0
    assert result.records[2].cores == chip.cores
    slower = run(Chip(load_chip("dgx_a100")))[1].records[2]
    assert slower.cycles > result.records[2].cycles  # fewer SMs, longer GEMM
