"""The chip as simulation units: datasheet and achievable bandwidth per level, fixed per-op overhead."""

import pytest

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
