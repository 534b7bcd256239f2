"""Achievable memory bandwidth and the fixed per-op overhead, through the whole engine."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import run_graph
from simulator.ir.ops import GemmOp, OpGraph, VectorOp
from tests.conftest import make_chip


def _matvec(chip):
    return run_graph(chip, OpGraph("mv", (GemmOp("mv", 1, 8192, 8192),))).table.iloc[0]


@pytest.mark.parametrize("preset", ["h100", "a100", "tpu_v4"])
def test_hbm_bound_op_takes_one_over_efficiency_longer(preset):
    full = _matvec(make_chip("memory.hbm.efficiency=1", "op_overhead=0", base=preset))
    half = _matvec(make_chip("memory.hbm.efficiency=0.5", "op_overhead=0", base=preset))
    assert half.bound == full.bound == "memory"
    # Only the streaming part scales; fill, drain and request latency do not, so slightly under 2×.
    assert 1.9 < half.cycles / full.cycles <= 2.0
    assert half.roofline_cycles == full.roofline_cycles  # rooflines use the datasheet figure
    assert 0 < half.roofline_fraction < full.roofline_fraction <= 1


def test_compute_bound_op_ignores_hbm_efficiency():
    graph = OpGraph("g", (GemmOp("g", 4096, 4096, 4096),))
    fast = run_graph(make_chip("memory.hbm.efficiency=1", base="h100"), graph)
    slow = run_graph(make_chip("memory.hbm.efficiency=0.8", base="h100"), graph)
    assert slow.records[0].cycles == pytest.approx(fast.records[0].cycles, rel=0.01)


def _chain(n: int) -> OpGraph:
    ops = []
    for i in range(n):
        deps = (f"op{i - 1}",) if i else ()
        if i % 2:
            ops.append(VectorOp(f"op{i}", "gelu", 4096 * (i + 1), deps=deps))
        else:
            ops.append(GemmOp(f"op{i}", 64 * (i + 1), 512, 256, deps=deps))
    return OpGraph("chain", tuple(ops))


@pytest.mark.parametrize("preset, overhead", [("systolic_32x32", "1 us"), ("h100", "1.3 us"), ("tpu_v4", "777 cycles")])
def test_overhead_adds_exactly_its_cycles_to_every_op_of_a_serial_chain(preset, overhead):
    n = 6
    base = run_graph(make_chip("op_overhead=0", base=preset), _chain(n))
    chip = make_chip(f"op_overhead={overhead}", base=preset)
    more = run_graph(chip, _chain(n))
    x = chip.op_overhead_cycles
    assert x > 0
    assert more.summary["cycles"] == base.summary["cycles"] + n * x  # closed form
    for i, (a, b) in enumerate(zip(base.records, more.records, strict=True)):
        assert b.overhead_cycles == x and a.overhead_cycles == 0
        assert b.cycles == a.cycles + x
        assert (b.compute_cycles, b.stall_cycles) == (a.compute_cycles, a.stall_cycles)
        assert b.start == a.start + i * x


def test_overhead_in_time_units_is_converted_at_the_clock():
    chip = make_chip("op_overhead=1.3 us", base="h100")  # 1.83 GHz
    record = run_graph(chip, OpGraph("v", (VectorOp("v", "add", 1 << 16, "fp32", 2, 1),))).records[0]
    assert record.overhead_cycles == 2379
    assert record.cycles > 2379


def test_overhead_holds_the_cores():
    # Two independent ops that each want the whole chip: the second starts only after the first's overhead too.
    chip = make_chip("op_overhead=5000 cycles")
    ops = (VectorOp("a", "add", 1 << 12), VectorOp("b", "add", 1 << 12))
    a, b = run_graph(chip, OpGraph("p", ops)).records
    assert a.cores == b.cores == chip.cores
    assert b.start == a.end == a.cycles


def test_idle_chip_gives_an_hbm_bound_op_all_of_hbm(a100):
    row = _matvec(a100)
    assert row.cores < a100.cores  # fewer tiles than SMs ...
    assert row.bandwidth_fraction == 1.0  # ... yet their ports can pull more than all of HBM


chips = st.sampled_from(["h100", "a100", "tpu_v4", "systolic_32x32"])


@settings(max_examples=40, deadline=None)
@given(chips, st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 5000),
       st.sampled_from(["0", "1.3 us", "123 cycles"]))
def test_cycles_are_compute_plus_stall_plus_overhead(preset, m, n, k, elements, overhead):
    chip = make_chip(f"op_overhead={overhead}", base=preset)
    graph = OpGraph("g", (GemmOp("g", m, n, k), VectorOp("v", "softmax", elements * 37, deps=("g",))))
    for r in run_graph(chip, graph).records:
        assert r.cycles == r.end - r.start == r.compute_cycles + r.stall_cycles + r.overhead_cycles
        assert r.overhead_cycles == chip.op_overhead_cycles
        assert r.compute_cycles >= 0 and r.stall_cycles >= 0
