"""Bundled chips against their published peaks and first-order physics."""

import pytest

from simulator.api import run_graph
from simulator.errors import CapacityError, ConfigError
from simulator.hardware.chip import Chip
from simulator.workloads.ops import GemmOp, OpGraph
from tests.conftest import make_chip


def _gemm(chip: Chip, m: int, n: int, k: int, dtype: str = "bf16"):
    return run_graph(chip, OpGraph("g", (GemmOp("g", m, n, k, dtype),))).table.iloc[0]


def test_published_peaks(h100, tpu_v4):
    assert h100.peak_flops_per_s("bf16") == pytest.approx(989.4e12, rel=0.002)  # NVIDIA, dense bf16
    assert h100.peak_flops_per_s("fp8") == pytest.approx(1979e12, rel=0.002)
    assert tpu_v4.peak_flops_per_s("bf16") == pytest.approx(275e12, rel=0.005)  # Cloud TPU docs
    assert tpu_v4.hbm.bytes_per_cycle * tpu_v4.clock_hz == pytest.approx(1.2e12)
    assert h100.hbm.bytes_per_cycle * h100.clock_hz == pytest.approx(3.35e12)


def test_large_gemm_on_h100_reaches_75_to_95_percent_of_peak(h100):
    row = _gemm(h100, 8192, 8192, 8192)
    assert 0.75 <= row.mxu_utilization <= 0.95
    assert row.bound == "compute"


@pytest.mark.parametrize("preset", ["h100", "tpu_v4"])
def test_batch1_matvec_is_hbm_bound(preset):
    chip = make_chip(base=preset)
    row = _gemm(chip, 1, 8192, 8192)
    weight_bytes = 8192 * 8192 * 2
    assert row.bound == "memory"
    assert row.mxu_utilization < 0.05
    assert row.cycles >= weight_bytes / chip.hbm.bytes_per_cycle
    assert row.roofline_fraction > 0.8  # streams the weights at close to full HBM bandwidth


def test_large_gemm_on_tpu_v4_is_compute_bound(tpu_v4):
    row = _gemm(tpu_v4, 4096, 4096, 4096)
    assert row.bound == "compute" and row.mxu_utilization > 0.8


def test_fp8_doubles_h100_throughput_on_a_compute_bound_gemm(h100):
    bf16, fp8 = _gemm(h100, 4096, 4096, 4096), _gemm(h100, 4096, 4096, 4096, "fp8")
    assert 1.5 < bf16.cycles / fp8.cycles <= 2.0


def test_unsupported_dtype_is_a_clear_error(tpu_v4):
    with pytest.raises(ConfigError, match="core.mxu.macs_per_pe = 'fp8': this MXU has no rate"):
        _gemm(tpu_v4, 128, 128, 128, "fp8")


def test_sram_too_small_for_any_tile():
    chip = make_chip("core.sram.size=1 KiB")
    with pytest.raises(CapacityError, match="core.sram.size"):
        _gemm(chip, 4096, 4096, 4096)


def test_more_hbm_bandwidth_speeds_up_a_memory_bound_op():
    slow = _gemm(make_chip("memory.hbm.bandwidth=1 TB/s", base="h100"), 1, 8192, 8192)
    fast = _gemm(make_chip("memory.hbm.bandwidth=2 TB/s", base="h100"), 1, 8192, 8192)
    assert 1.7 < slow.cycles / fast.cycles <= 2.0
