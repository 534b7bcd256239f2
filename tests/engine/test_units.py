"""Exact-timing harnesses for the engine's units, in the style of Ramulator 2's: a unit, a list of requests,
the exact cycle each is granted ("one cycle earlier is blocked, this cycle is ready")."""

import simpy

from simulator.engine.units import MEMORY_MODELS, CorePool, RateMemory
from simulator.hardware.bandwidth import bandwidth_demand
from tests.conftest import make_chip


def _grants(env, unit, requests):
    """requests: (arrive, amount, hold). Returns {i: (granted cycle, units held)}."""
    got = {}

    def one(i, arrive, amount, hold):
        yield env.timeout(arrive)
        held = yield from unit.acquire(amount)
        got[i] = (env.now, amount if held is None else held)
        yield env.timeout(hold)
        yield from unit.release(amount if held is None else held)

    for i, r in enumerate(requests):
        env.process(one(i, *r))
    return got


def test_core_pool_grants_in_arrival_order_and_blocks_until_cores_return():
    chip = make_chip("cores=4")
    env = simpy.Environment()
    got = _grants(env, CorePool(env, chip), [(0, 3, 100), (0, 2, 50), (10, 1, 5), (120, 4, 1)])
    env.run(until=100)
    assert 1 not in got  # cycle 99: A still holds 3 of 4 cores, B needs 2
    assert 2 not in got  # one core is free, but requests are served in arrival order: C waits behind B
    env.run(until=101)
    assert got[1] == (100, 2) and got[2] == (100, 1)  # the cycle A gives its cores back, B then C have them
    env.run()
    assert got[0] == (0, 3) and got[3] == (150, 4)  # D waits for B (100 + 50), not for its own arrival


def test_rate_memory_gives_a_step_its_dma_limited_share_and_more_while_free():
    """4 cores whose DMA ports can each pull 40 % of HBM: one core gets 2 of 4 units (ceil 0.4 × 4), a second
    arriving while the first holds 2 gets the 2 left, a third waits until a release."""
    chip = make_chip("cores=4", "memory.hbm.bandwidth=100 GB/s", "core.dma.bandwidth=40 GB/s")
    assert abs(bandwidth_demand(chip, 1) - 0.4) < 1e-12
    env = simpy.Environment()
    memory = MEMORY_MODELS["rate"](env, chip)
    assert isinstance(memory, RateMemory)
    got = _grants(env, memory, [(0, 1, 100), (5, 1, 100), (6, 1, 10)])
    env.run(until=100)
    assert got[0] == (0, 2) and got[1] == (5, 2)
    assert 2 not in got  # cycle 99: every unit is held
    env.run(until=101)
    assert got[2] == (100, 2)  # the cycle the first step releases its 2 units


def test_rate_memory_never_gives_less_than_the_cores_fair_share():
    """Cores ask for at least their own units even when their DMA would need less."""
    chip = make_chip("cores=4", "memory.hbm.bandwidth=1000 GB/s", "core.dma.bandwidth=10 GB/s")
    env = simpy.Environment()
    got = _grants(env, RateMemory(env, chip), [(0, 3, 10)])
    env.run()
    assert got[0] == (0, 3)


def test_every_op_appears_on_its_units_and_link_spans_add_up_to_the_link_counters():
    from simulator.engine.network import collective_cycles
    from simulator.engine.run import run_block
    from simulator.hardware.topology import build_topology
    from simulator.ir.ops import CollectiveOp, GemmOp, OpGraph, VectorOp
    from simulator.mapping.program import Fabric, Mapper

    chip = make_chip("system.chips=4", "system.topology=ring", "system.link.bandwidth=10 GB/s")
    topology = build_topology(chip.config.system, chip.clock_hz)
    graph = OpGraph("g", (GemmOp("a", 256, 256, 256), VectorOp("v", "add", 1 << 16, "bf16", 2, 1),
                          CollectiveOp("x", "all_reduce", 1 << 16, "", chips=(0, 1, 2, 3)),
                          CollectiveOp("y", "all_gather", 1 << 16, "", chips=(0, 1, 2, 3), deps=("v",))))
    run = run_block(chip, Mapper(chip, collective_cycles).block(graph, Fabric(topology, {})), topology)
    for i, record in enumerate(run.records):
        mine = [s for s in run.spans if s.op == i]
        if record.type == "collective":
            assert {s.unit.split()[0] for s in mine} == {"link"}
            assert sum(s.bytes for s in mine) == record.link_bytes > 0
            assert all((s.start, s.end) == (record.start, record.end) for s in mine)
        else:
            assert [(s.start, s.end) for s in mine if s.unit == "cores"] == [(record.start, record.end)]
            assert sum(s.bytes for s in mine if s.unit == "hbm") == record.hbm_read + record.hbm_write
    per_link = [0.0] * len(topology.links)
    for s in run.spans:
        if s.unit.startswith("link "):
            per_link[int(s.unit.split()[1])] += s.bytes
    assert per_link == list(run.link_bytes)


def test_a_sequential_block_timed_in_turn_equals_its_event_run():
    """Steps that each wait for the one before run alone on an idle chip: timing them in turn gives exactly
    the records the simulated units give (a decode layer of every bundled dense model, with a tp collective)."""
    from dataclasses import replace

    from simulator.api import map_llm, placement_for
    from simulator.config.loader import load_chip
    from simulator.engine.run import run_block
    from simulator.hardware.chip import Chip
    from simulator.workloads.loader import load_workload
    from simulator.workloads.transformer import lower

    for preset, workload, sets in (("h100", "llama3_8b_decode", ()), ("tpu_v4", "llama2_7b_decode", ()),
                                   ("dgx_h100", "llama3_70b_decode", ("parallel.tp=8",))):
        chip = Chip(load_chip(preset))
        wl = load_workload(f"workloads/{workload}.yaml", [*sets, "scenario.check_capacity=false"])
        program = map_llm(chip, lower(wl.model, wl.scenario, wl.parallel), placement_for(chip, wl))
        blocks = [placed.block for placed in program.passes[0].stages[0]]
        assert all(b.sequential for b in blocks)
        for block in blocks:
            fast = run_block(chip, block, program.topology)
            slow = run_block(chip, replace(block, sequential=False), program.topology)
            assert fast.records == slow.records
            assert fast.link_bytes == slow.link_bytes and fast.spans == slow.spans


def test_a_new_memory_model_plugs_in(monkeypatch):
    """docs/architecture.md's worked example, verbatim: a model that gives one step at a time the whole
    bandwidth serializes two independent vector ops that `rate` runs side by side."""
    import re
    from pathlib import Path

    from simulator.engine import units
    from simulator.engine.run import run_block
    from simulator.ir.ops import OpGraph, VectorOp
    from simulator.mapping.program import Mapper

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    code = re.search(r"```python\n(import simpy\n\n\nclass WholeLevel.*?)```", doc, re.S).group(1)
    registered: dict = {}
    exec(code, vars(units) | {"MEMORY_MODELS": registered})  # noqa: S102
    monkeypatch.setitem(units.MEMORY_MODELS, "whole", registered["whole"])
    chip = make_chip("cores=4")
    ops = (VectorOp("a", "add", 32, "bf16", 2, 1), VectorOp("b", "add", 32, "bf16", 2, 1))  # one core each
    block = Mapper(chip).block(OpGraph("g", ops), None)
    rate = run_block(chip, block, memory="rate").records
    whole = run_block(chip, block, memory="whole").records
    assert rate[0].start == rate[1].start == 0  # side by side under `rate`
    assert whole[0].start == 0 and whole[1].start == whole[0].end  # one at a time
    assert whole[0].bandwidth_fraction == 1.0


def test_a_link_delivers_a_message_on_its_exact_cycle():
    """The links unit (engine/network.py): 150 B at 100 B/cycle after 1,000 cycles of latency lands on cycle
    1,002 (1.5 cycles of flow, rounded up to a whole cycle); on cycle 1,001 it has not."""
    from simulator.config.schema import SystemConfig
    from simulator.engine.network import Network
    from simulator.hardware.topology import build_topology

    topology = build_topology(SystemConfig(chips=2, topology="ring",
                                           link={"bandwidth": "100 GB/s", "latency": "1 us"}), 1e9)
    env = simpy.Environment()
    landed = []
    Network(env, topology).send(0, 1, 150).callbacks.append(lambda _: landed.append(env.now))
    env.run(until=1002)
    assert landed == []  # cycle 1,001: still in flight
    env.run(until=1003)
    assert landed == [1002]
