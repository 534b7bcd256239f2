"""Mapping to a Program: collectives real on every axis, no-ops for one chip, errors at mapping time, the
transfers of each step equal to what the engine then moves, and identical work mapped once."""

import pytest

from simulator.api import map_llm, run_graph, run_llm
from simulator.config.loader import load_chip
from simulator.engine.network import collective_cycles
from simulator.engine.run import run_block
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology
from simulator.ir.ops import CollectiveOp, GemmOp, OpGraph, VectorOp
from simulator.ir.program import CommStep, ComputeStep
from simulator.mapping.placement import Placement
from simulator.mapping.program import Fabric, Mapper, MappingError, lone_collectives
from simulator.workloads.loader import load_workload
from simulator.workloads.parallel import Parallel
from tests.conftest import make_chip

GIB = 1 << 30


def _ring_system(p: int, algorithm: str = "ring") -> Chip:
    """p chips in a ring at 1 GHz: 100 GB/s = 100 B/cycle per link direction, 1 µs = 1,000 cycles per hop."""
    return make_chip(f"system.chips={p}", "system.topology=ring", "system.link.bandwidth=100 GB/s",
                     "system.link.latency=1 us", f"system.collectives={algorithm}", "op_overhead=0")


@pytest.mark.parametrize("p", [2, 3, 4, 8])
@pytest.mark.parametrize("size", [1 << 20, 10_000_019])
def test_ring_all_reduce_from_an_op_list_takes_the_closed_form(p, size):
    """nccl-tests style: an all-reduce of S bytes on p chips takes 2(p−1)·S/(p·B) + 2(p−1)·α; each of the
    2(p−1) steps rounds up to a whole cycle at most once."""
    chip = _ring_system(p)
    graph = OpGraph("ar", (CollectiveOp("ar", "all_reduce", size, "", chips=tuple(range(p))),))
    record = run_graph(chip, graph).records[0]
    steps = 2 * (p - 1)
    ideal = steps * size / (p * 100) + steps * 1000
    assert record.algorithm == "ring"
    assert ideal <= record.cycles <= ideal + steps
    assert record.link_bytes == pytest.approx(steps * size / p * p)  # every chip sends one piece per step


def _placed_all_reduce(chip: Chip, parallel: Parallel, axis: str, nbytes: int):
    topology = build_topology(chip.config.system, chip.clock_hz)
    placement = Placement(topology, parallel, chip.config.system.collectives)
    graph = OpGraph("ar", (CollectiveOp("ar", "all_reduce", nbytes, axis),))
    block = Mapper(chip, collective_cycles).block(graph, Fabric.of(placement, 0))
    return block.steps[0], run_block(chip, block, topology).records[0]


def test_a_1_gib_all_reduce_costs_the_same_on_every_axis_of_dgx_a100():
    """dp and pp collectives are simulated from their messages like tp's (before the Program they cost only
    the per-op overhead: 2,379 cycles against 7.46 M for tp)."""
    chip = Chip(load_chip("dgx_a100"))
    cycles = {}
    for axis in ("tp", "ep", "dp", "pp"):
        step, record = _placed_all_reduce(chip, Parallel(**{axis: 8}), axis, GIB)
        assert step.groups == (tuple(range(8)),)
        cycles[axis] = record.cycles
    assert len(set(cycles.values())) == 1
    assert cycles["dp"] > 5_000_000


def test_a_collective_over_one_chip_is_a_no_op():
    chip = Chip(load_chip("dgx_a100"))
    step, record = _placed_all_reduce(chip, Parallel(tp=8), "dp", GIB)  # dp = 1: every dp group is one chip
    assert step.algorithm == "" and step.messages == ()
    assert record.cycles == 0 and record.link_bytes == 0


def test_a_collective_over_chips_the_system_lacks_is_a_mapping_error():
    chip = _ring_system(4)
    graph = OpGraph("ar", (CollectiveOp("ar", "all_reduce", 1024, "", chips=(0, 1, 7)),))
    with pytest.raises(MappingError, match=r"op ar: chips = \[0, 1, 7\]: chip 7 is not on .* chips 0–3"):
        run_graph(chip, graph)
    with pytest.raises(MappingError, match="each chip may be named once"):
        run_graph(chip, OpGraph("ar", (CollectiveOp("ar", "all_reduce", 1024, "", chips=(0, 1, 1)),)))
    with pytest.raises(MappingError, match="has 1 chip"):
        run_graph(make_chip(), graph)


def test_lone_collectives_are_those_no_other_can_overlap():
    a = CollectiveOp("a", "all_reduce", 8, "tp")
    b = CollectiveOp("b", "all_reduce", 8, "tp", deps=("a",))
    c = CollectiveOp("c", "all_gather", 8, "tp", deps=("a",))  # b and c both follow a, not each other
    g = GemmOp("g", 8, 8, 8, deps=("b", "c"))
    d = CollectiveOp("d", "all_reduce", 8, "tp", deps=("g",))
    assert lone_collectives(OpGraph("x", (a, b, c, g, d))) == {"a", "d"}


def test_overlapping_collectives_share_the_links_and_lone_ones_take_their_idle_time():
    """Two independent all-reduces on the same ring run together through the network and each takes longer
    than alone; a lone one takes exactly its idle-link time."""
    chip = _ring_system(4)
    ops = (CollectiveOp("x", "all_reduce", 1 << 20, "", chips=(0, 1, 2, 3)),
           CollectiveOp("y", "all_reduce", 1 << 20, "", chips=(0, 1, 2, 3)))
    together = run_graph(chip, OpGraph("both", ops)).records
    alone = run_graph(chip, OpGraph("one", ops[:1])).records[0]
    topology = build_topology(chip.config.system, chip.clock_hz)
    assert alone.cycles == collective_cycles(topology, "all_reduce", "ring", ((0, 1, 2, 3),), 1 << 20)
    assert all(r.cycles > alone.cycles for r in together)


def test_every_transfer_of_the_program_is_what_the_engine_moves(h100, tpu_v4):
    """Bytes per memory level in each step's transfers equal the bytes in its record."""
    for chip in (h100, tpu_v4):
        wl = load_workload("workloads/llama3_8b_decode.yaml", ["scenario.check_capacity=false"])
        result = run_llm(chip, wl)
        program = map_llm(chip, [r.pass_ for r in result.runs], None)
        for placed, seg in zip(program.passes[0].stages[0], result.runs[0].segments, strict=True):
            for step, record in zip(placed.block.steps, seg.records, strict=True):
                moved = {}
                for t in step.transfers:
                    moved[(t.src, t.dst)] = moved.get((t.src, t.dst), 0) + t.bytes
                hbm_out = sum(b for (src, dst), b in moved.items() if src == "hbm")
                assert hbm_out == record.hbm_read, step.op.name
                assert moved.get(("sram", "hbm"), 0) == record.hbm_write, step.op.name
                if chip.l2 is not None and isinstance(step.op, GemmOp):
                    assert moved[("l2", "sram")] == record.l2_read, step.op.name


def test_steps_carry_their_unit_kind_cores_and_tile(h100):
    mapper = Mapper(h100)
    gemm = mapper.compute_step(GemmOp("g", 4096, 4096, 4096))
    vec = mapper.compute_step(VectorOp("v", "add", 1 << 20, "bf16", 2, 1))
    assert isinstance(gemm, ComputeStep) and gemm.unit == "systolic" and gemm.tile is not None
    assert 1 <= gemm.cores <= h100.cores
    assert vec.unit == "vector" and vec.tile is None and vec.cores == h100.cores


def test_identical_work_is_mapped_once():
    """Decode steps of a generation differ only in their attention shapes: every other step, and the
    embedding and head blocks, are mapped once and reused."""
    chip = Chip(load_chip("h100"))
    wl = load_workload("workloads/llama3_8b_generate.yaml", ["scenario.output_tokens=6"])
    from simulator.workloads.transformer import lower

    passes = lower(wl.model, wl.scenario, wl.parallel)
    program = map_llm(chip, passes, None)
    decode_layers = [p.stages[0][1].block for p in program.passes[1:]]
    first, second = decode_layers[0].steps, decode_layers[1].steps
    same = [a is b or a == b for a, b in zip(first, second, strict=True)]
    assert not all(same)  # attention shapes grow with the context
    heads = {id(p.stages[0][2].block.steps) for p in program.passes[1:]}
    assert len(heads) == 1  # the head block of every decode step is one mapping
    assert program.reused["blocks"] >= 2 * (len(passes) - 2)
    assert program.reused["steps"] > 0


def test_program_steps_of_a_system_name_their_groups():
    chip = Chip(load_chip("dgx_h100"))
    wl = load_workload("workloads/llama3_70b_decode.yaml", ["parallel.tp=8"])
    result = run_llm(chip, wl)
    program = map_llm(chip, [r.pass_ for r in result.runs], result.placement)
    comm = [s for placed in program.passes[0].stages[0] for s in placed.block.steps if isinstance(s, CommStep)]
    assert comm and all(s.groups == (tuple(range(8)),) and s.messages and s.alone for s in comm)


def test_an_op_record_says_when_its_mapping_traded_compute_cycles(h100):
    """The chooser's trade-off note reaches the op record (mapping/gemm.tile_note)."""
    record = run_graph(h100, OpGraph("g", (GemmOp("router", 32, 128, 2048),))).records[0]
    assert "compute cycles" in record.note and record.unit == "systolic"
    exact = run_graph(make_chip(), OpGraph("g", (GemmOp("g", 32, 2060, 13),))).records[0]
    assert exact.note == ""
