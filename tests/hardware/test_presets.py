"""Bundled chips against their published peaks and first-order physics."""

import pytest

from simulator.api import run_graph
from simulator.errors import CapacityError, ConfigError
from simulator.hardware.chip import Chip
from simulator.ir.ops import GemmOp, OpGraph
from tests.conftest import make_chip


def _gemm(chip: Chip, m: int, n: int, k: int, dtype: str = "bf16"):
    return run_graph(chip, OpGraph("g", (GemmOp("g", m, n, k, dtype),))).table.iloc[0]


def test_published_peaks(h100, tpu_v4, a100):
    assert h100.peak_flops_per_s("bf16") == pytest.approx(989.4e12, rel=0.002)  # NVIDIA, dense bf16
    assert h100.peak_flops_per_s("fp8") == pytest.approx(1979e12, rel=0.002)
    assert tpu_v4.peak_flops_per_s("bf16") == pytest.approx(275e12, rel=0.005)  # Cloud TPU docs
    assert tpu_v4.hbm.bytes_per_cycle * tpu_v4.clock_hz == pytest.approx(1.2e12)
    assert h100.hbm.bytes_per_cycle * h100.clock_hz == pytest.approx(3.35e12)
    # A100 SXM4: 108 SMs × 1024 dense fp16 FMA/clk × 2 × 1.41 GHz (whitepaper)
    assert a100.peak_flops_per_s("bf16") == pytest.approx(311.9e12, rel=0.005)
    assert a100.peak_flops_per_s("fp16") == a100.peak_flops_per_s("bf16")
    assert a100.peak_flops_per_s("int8") == pytest.approx(624e12, rel=0.005)
    assert a100.peak_flops_per_s("fp32") == pytest.approx(156e12, rel=0.005)  # tf32 on the tensor cores
    assert a100.peak_vector_ops_per_cycle("fp32") * 2 * a100.clock_hz == pytest.approx(19.5e12, rel=0.005)
    assert a100.hbm.bytes_per_cycle * a100.clock_hz == pytest.approx(2039e9)
    assert a100.l2.bytes_per_cycle == 5120  # whitepaper: 5120 Bytes/clk


def test_rooflines_use_datasheet_bandwidth_and_timing_uses_achievable(h100, a100):
    assert h100.hbm.achievable_bytes_per_cycle * h100.clock_hz == pytest.approx(3.35e12 * 3.84 / 4.1, rel=1e-3)
    assert a100.hbm.achievable_bytes_per_cycle * a100.clock_hz == pytest.approx(1700e9, rel=1e-3)  # gpt-fast
    row = _gemm(a100, 1, 8192, 8192)
    assert row.roofline_cycles == pytest.approx(row.min_bytes / a100.hbm.bytes_per_cycle)


def test_large_gemm_on_h100_reaches_75_to_95_percent_of_peak(h100):
    row = _gemm(h100, 8192, 8192, 8192)
    assert 0.75 <= row.mxu_utilization <= 0.95
    assert row.bound == "compute"


@pytest.mark.parametrize("preset", ["h100", "tpu_v4", "a100"])
def test_batch1_matvec_is_hbm_bound(preset):
    chip = make_chip(base=preset)
    row = _gemm(chip, 1, 8192, 8192)
    weight_bytes = 8192 * 8192 * 2
    assert row.bound == "memory"
    assert row.mxu_utilization < 0.05
    assert row.roofline_fraction <= 1  # never beats the datasheet roofline
    # Streams the weights at close to, and never above, the achievable HBM bandwidth (datasheet × efficiency),
    # fixed per-op overhead included.
    achievable = row.min_bytes / chip.hbm.achievable_bytes_per_cycle
    assert row.cycles >= weight_bytes / chip.hbm.achievable_bytes_per_cycle + chip.op_overhead_cycles
    assert 0.9 < achievable / row.cycles <= 1


def test_a100_matvec_stays_below_the_measured_bandwidth_ceiling(a100):
    row = _gemm(a100, 1, 8192, 8192)
    bytes_per_s = row.min_bytes / row.seconds
    assert bytes_per_s < a100.config.memory.hbm.efficiency * 2039e9  # gpt-fast: ~1700 GB/s at best
    assert bytes_per_s > 1397e9  # gpt-fast's Llama-2-7B decode, launch and all the other ops included


def test_large_gemm_on_a100_is_compute_bound_above_75_percent(a100):
    row = _gemm(a100, 8192, 8192, 8192)
    assert row.bound == "compute"
    assert row.mxu_utilization >= 0.75


def test_large_gemm_on_a100_stays_below_95_percent_of_peak(a100):
    # measured: 277.5 TFLOPS = 89 % (LLMCompass, wall clock, held out of the tensor_clock calibration)
    assert _gemm(a100, 8192, 8192, 8192).mxu_utilization <= 0.95


def test_large_gemm_on_a100_tops_out_where_its_sustained_tensor_clock_and_smem_allow(a100):
    """Above: the shared-memory and clock limits. Below: no more than a few % lost to waves and epilogues."""
    u = _gemm(a100, 8192, 8192, 8192).mxu_utilization
    assert 0.9 * a100.tensor_clock_scale < u <= a100.tensor_clock_scale < 1


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


def test_tpu_v5e_published_peaks():
    v5e = make_chip(base="tpu_v5e")
    assert v5e.peak_flops_per_s("bf16") == pytest.approx(197e12, rel=0.01)  # Cloud TPU docs
    assert v5e.peak_flops_per_s("int8") == pytest.approx(394e12, rel=0.01)  # scaling-book 3.94e14
    assert v5e.hbm.bytes_per_cycle * v5e.clock_hz == pytest.approx(819e9)  # Cloud TPU docs


def test_tpu_v5e_large_gemm_is_compute_bound_and_matvec_is_hbm_bound():
    v5e = make_chip(base="tpu_v5e")
    big = _gemm(v5e, 4096, 4096, 4096)
    assert big.bound == "compute" and big.mxu_utilization > 0.8
    matvec = _gemm(v5e, 1, 8192, 8192)
    assert matvec.bound == "memory"
    assert 0.9 < matvec.min_bytes / v5e.hbm.achievable_bytes_per_cycle / matvec.cycles <= 1


@pytest.mark.parametrize("preset", ["dgx_h100", "dgx_a100", "tpu_v4_4x4x4", "tpu_v5e_8"])
def test_multi_chip_presets_run_their_chip_like_the_single_chip_preset(preset):
    single = {"dgx_h100": "h100", "dgx_a100": "a100", "tpu_v4_4x4x4": "tpu_v4", "tpu_v5e_8": "tpu_v5e"}[preset]
    a, b = _gemm(make_chip(base=preset), 2048, 2048, 2048), _gemm(make_chip(base=single), 2048, 2048, 2048)
    assert a.cycles == b.cycles
