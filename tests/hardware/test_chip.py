"""The chip as simulation units: datasheet and achievable bandwidth per level, fixed per-op overhead."""

import pytest

from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from tests.conftest import make_chip


def test_achievable_bandwidth_is_peak_times_efficiency():
    chip = make_chip("memory.hbm.efficiency=0.8", "memory.l2.size=1 MiB", "memory.l2.bandwidth=4 TB/s",
                     "memory.l2.efficiency=0.5")  # 1 GHz clock
    assert chip.hbm.bytes_per_cycle == pytest.approx(1000)  # 1 TB/s datasheet, unchanged
    assert chip.hbm.achievable_bytes_per_cycle == pytest.approx(800)
    assert chip.l2.bytes_per_cycle == pytest.approx(4000)
    assert chip.l2.achievable_bytes_per_cycle == pytest.approx(2000)


def test_efficiency_defaults_to_the_datasheet():
    chip = make_chip()
    assert chip.hbm.achievable_bytes_per_cycle == chip.hbm.bytes_per_cycle


@pytest.mark.parametrize("text, cycles", [("0", 0), ("250 cycles", 250), ("1.3 us", 1300), ("2.5 ns", 3)])
def test_op_overhead_in_cycles(text, cycles):
    assert make_chip(f"op_overhead={text}").op_overhead_cycles == cycles  # 1 GHz; partial cycles round up


def test_op_overhead_defaults_to_zero():
    assert make_chip().op_overhead_cycles == 0
    assert make_chip(base="tpu_v4").op_overhead_cycles == 0


def test_memory_levels_are_ordered_nearest_first_with_their_kinds_and_models():
    chip = make_chip("memory.l2.size=1 MiB", "memory.l2.bandwidth=4 TB/s")
    assert [(level.kind, level.name) for level in chip.memory_levels] == [("scratchpad", "sram"), ("cache", "l2"),
                                                                         ("dram", "hbm")]
    sram, l2, hbm = chip.memory_levels
    assert sram.size == chip.sram.size and sram.bytes_per_cycle is None  # the core's scratchpad: per core, no rate
    assert (l2, hbm) == (chip.l2, chip.hbm)
    assert [level.model for level in chip.memory_levels] == ["rate"] * 3
    assert chip.memory_model == "rate"
    assert [level.kind for level in make_chip().memory_levels] == ["scratchpad", "dram"]


def test_the_timing_views_are_the_cores_units():
    chip = make_chip(base="h100")
    assert chip.mxu is chip.config.core.compute[0] and chip.mxu.kind == "systolic"
    assert chip.vector is chip.config.core.compute[1] and chip.vector.kind == "vector"
    assert chip.sram is chip.config.core.sram and chip.simd == ()
    assert (chip.mxu.rows, chip.mxu.cols, chip.mxu.count) == (16, 32, 4)


def test_chip_is_frozen_and_hashed_by_identity():
    a, b = make_chip(), make_chip()
    assert a == a and a != b and len({a, b}) == 2  # same config, two chips: caches keep them apart
    with pytest.raises(AttributeError):
        a.config = b.config
    with pytest.raises(ValueError):  # pydantic: frozen instance
        a.config.core.mxu.rows = 4
    assert isinstance(a.memory_levels, tuple) and isinstance(a.config.core.compute, tuple)


# --- defaults a run reports as assumed (Chip.assumptions) ------------------------------------------------


def test_presets_that_give_every_timing_and_energy_field_assume_nothing():
    for name in ("h100", "a100", "dgx_h100", "dgx_a100", "h100_superpod_1024"):
        assert make_chip(base=name).assumptions == (), name


def test_tpu_v4_keeps_the_zero_overhead_and_full_efficiency_defaults_and_says_so():
    assert make_chip(base="tpu_v4").assumptions == (
        "op_overhead = 0 (no fixed launch or dispatch time per op)",
        "memory.hbm.efficiency = 1 (transfers reach the datasheet bandwidth)")


def test_giving_a_field_removes_its_assumption_even_at_the_default_value():
    chip = make_chip("op_overhead=0", "memory.hbm.efficiency=1", base="tpu_v4")
    assert chip.assumptions == () and chip.op_overhead_cycles == 0


def test_every_defaulted_timing_field_is_named(tmp_path):
    path = tmp_path / "bare.yaml"
    path.write_text("name: bare\nclock: 1 GHz\ncores: 1\ncore:\n  mxu: {rows: 8, cols: 8}\n  vector: {lanes: 8}\n"
                    "  sram: {size: 1 MiB}\n  dma: {bandwidth: 1 TB/s}\n"
                    "memory:\n  hbm: {size: 1 GB, bandwidth: 1 TB/s}\nenergy: {node: 7nm, static_power: 10 W}\n")
    assert Chip(load_chip(str(path))).assumptions == (
        "op_overhead = 0 (no fixed launch or dispatch time per op)",
        "core.mxu.macs_per_pe = {bf16: 1, fp16: 1, fp8: 1, int8: 1}",
        "core.mxu.dataflow = os",
        "core.mxu.pipelined = false (every fold pays its fill and drain)",
        "core.vector.ops_per_lane = {fp32: 1, bf16: 1, fp16: 1}",
        "core.dma.latency = 0",
        "memory.hbm.efficiency = 1 (transfers reach the datasheet bandwidth)",
        "memory.hbm.latency = 0",
    )


def test_a_systems_links_report_their_defaults_and_the_system_layout_reads_the_same():
    chip = make_chip("system.link.efficiency=0.9", base="tpu_v4_2x2x2")
    assert chip.assumptions == make_chip(base="tpu_v4").assumptions  # the slice gives latency and efficiency
    bare = make_chip("system.chips=2", "system.topology=switch", "system.link.bandwidth=50 GB/s",
                     base="systolic_32x32")
    assert {"system.link.efficiency = 1", "system.link.latency = 0"} <= set(bare.assumptions)
    system_layout = Chip(load_chip("configs/examples/tpu_v4_2x2x2_system.yaml"))
    assert system_layout.assumptions == make_chip(base="tpu_v4_2x2x2").assumptions
