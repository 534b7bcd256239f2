"""The presets of issue 16 (parts 1 and 3) against their datasheets and first-order physics: H200, B200 and
DGX B200, MI300X and its XGMI full mesh, TPU v5p and v6e with slices, the Xeon 8480+ with AMX and a box of
them on Ethernet. Figures and sources: the presets' own comments and docs/hardware.md."""

import math

import pytest

from simulator.api import run_files
from simulator.config.loader import load_chip
from simulator.config.presets import preset_names
from simulator.errors import TortoiseError
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology

NEW = ("h200", "b200", "dgx_b200", "mi300x", "mi300x_8", "tpu_v6e", "tpu_v6e_8", "tpu_v6e_256", "xeon_8480",
       "xeon_8480_ethernet_16")
ALLREDUCE = "workloads/allreduce_8chips.yaml"  # 1 GiB per chip over chips 0–7
GIB = 2**30


def chip(name: str, *overrides: str) -> Chip:
    return Chip(load_chip(name, list(overrides)))


def test_every_new_preset_is_listed():
    assert set(NEW) <= set(preset_names())  # what `tortoise presets` lists


# (preset, dtype, datasheet dense FLOP/s, tolerance): the datasheet's own rounding
PEAKS = [
    ("h200", "bf16", 989e12, 0.001), ("h200", "fp8", 1979e12, 0.001), ("h200", "int8", 1979e12, 0.001),
    ("h200", "fp32", 494.5e12, 0.001),  # tf32 on the tensor cores
    ("b200", "bf16", 2.25e15, 0.003), ("b200", "fp8", 4.5e15, 0.003), ("b200", "int8", 4.5e15, 0.003),
    ("b200", "fp4", 9e15, 0.003), ("b200", "fp32", 1.1e15, 0.03),  # tf32 "1.1 PF" is 1.125 rounded
    ("mi300x", "bf16", 1307.4e12, 0.0005), ("mi300x", "fp16", 1307.4e12, 0.0005),
    ("mi300x", "fp8", 2614.9e12, 0.0005), ("mi300x", "int8", 2600e12, 0.006),  # stas00 rounds to 2600
    ("mi300x", "fp32", 653.7e12, 0.0005),  # tf32
    ("tpu_v5p", "bf16", 459e12, 0.001), ("tpu_v5p", "fp8", 459e12, 0.001), ("tpu_v5p", "int8", 918e12, 0.001),
    ("tpu_v6e", "bf16", 918e12, 0.001), ("tpu_v6e", "int8", 1836e12, 0.001),
]


@pytest.mark.parametrize(("preset", "dtype", "datasheet", "rel"), PEAKS, ids=lambda v: str(v))
def test_peak_is_units_times_macs_times_two_times_clock_and_equals_the_datasheet(preset, dtype, datasheet, rel):
    c = chip(preset)
    m = c.config.core.mxu
    from_units = c.cores * m.count * m.rows * m.cols * m.macs_per_pe[dtype] * 2 * c.clock_hz
    assert c.peak_flops_per_s(dtype) == pytest.approx(from_units, rel=1e-12)
    assert from_units == pytest.approx(datasheet, rel=rel)


@pytest.mark.parametrize(("preset", "size", "bandwidth"), [
    ("h200", 141e9, 4.8e12), ("b200", 180e9, 8e12), ("mi300x", 192e9, 5.3e12), ("tpu_v5p", 95 * GIB, 2765e9),
    ("tpu_v6e", 32e9, 1638e9),
    ("xeon_8480", 512e9, 8 * 4800e6 * 8),  # 8 channels × 4800 MT/s × 8 B = 307.2 GB/s
])
def test_dram_capacity_and_bandwidth_equal_the_datasheet(preset, size, bandwidth):
    c = chip(preset)
    assert c.hbm.size == size
    assert c.hbm.bytes_per_cycle * c.clock_hz == pytest.approx(bandwidth, rel=1e-12)


def test_mi300x_has_the_infinity_cache_as_its_cache_level_and_304_cus():
    c = chip("mi300x")
    assert c.cores == 8 * 38 and c.cores * c.mxu.count == 1216  # CUs and matrix cores (ROCm, stas00)
    assert (c.l2.kind, c.l2.size) == ("cache", 256 * 2**20)
    assert [level.name for level in c.memory_levels] == ["sram", "infinity_cache", "hbm"]


def test_tpu_v6e_resolution_keeps_the_peak_and_matches_google_s_4_7x_over_v5e():
    v6e, v5e = chip("tpu_v6e"), chip("tpu_v5e")
    assert (v6e.mxu.count, v6e.mxu.rows, v6e.mxu.cols, v6e.clock_hz) == (4, 256, 256, 1.75e9)
    # the Cloud docs' 2 MXUs would need twice the clock for the same documented peak
    two = chip("tpu_v6e", "core.mxu.count=2", "clock=3.5 GHz")
    assert two.peak_flops_per_s("bf16") == v6e.peak_flops_per_s("bf16")
    assert v6e.peak_flops_per_s("bf16") / v5e.peak_flops_per_s("bf16") == pytest.approx(4.7, abs=0.05)


@pytest.mark.parametrize(("preset", "dims", "wraparound", "per_chip_gbs"), [
    ("tpu_v6e_8", (2, 4), False, 90e9), ("tpu_v6e_256", (16, 16), True, 90e9),
    ("tpu_v5p_64", (4, 4, 4), True, 90e9), ("tpu_v5p_1024", (8, 8, 16), True, 90e9),
])
def test_tpu_slices_are_tori_of_the_published_shape(preset, dims, wraparound, per_chip_gbs):
    c = chip(preset)
    system = c.config.system
    assert tuple(system.dims) == dims and system.chips == math.prod(dims) and system.wraparound is wraparound
    assert system.link.bandwidth.bytes_per_cycle(c.clock_hz) * c.clock_hz == pytest.approx(per_chip_gbs)
    if preset == "tpu_v6e_256":  # every chip of a wrapped 2D torus has 4 neighbours: the v6e's 4 ICI ports
        topology = build_topology(system, c.clock_hz)
        assert len(topology.links) == 4 * system.chips


def test_dgx_b200_gives_each_gpu_900_gb_s_per_direction():
    c = chip("dgx_b200")
    link = c.config.system.link
    assert c.config.system.chips == 8 and c.config.system.topology == "switch"
    assert link.count * link.bandwidth.bytes_per_cycle(c.clock_hz) * c.clock_hz == pytest.approx(900e9)


def test_amx_gemm_peak_is_cores_times_tile_ops_per_cycle_times_clock():
    c = chip("xeon_8480")
    # TDPBF16PS: C[16×16] += A[16×32] · B[32×16] in 16 cycles; TDPBUSD (int8) has K = 64 (chips.md §5.1)
    bf16_ops_per_cycle = 2 * 16 * 16 * 32 // 16
    int8_ops_per_cycle = 2 * 16 * 16 * 64 // 16
    assert (bf16_ops_per_cycle, int8_ops_per_cycle) == (1024, 2048)  # Intel's figures per core
    assert c.peak_flops_per_s("bf16") == c.cores * bf16_ops_per_cycle * c.clock_hz == 56 * 1024 * 2.0e9
    assert c.peak_flops_per_s("int8") == c.cores * int8_ops_per_cycle * c.clock_hz
    # AVX-512: 2 FMA pipes × 16 fp32 lanes × 2 ops = 64 fp32 FLOPs per cycle per core
    assert c.peak_simd_ops_per_cycle("fp32") == 56 * 64
    assert "fp16" not in c.mxu.macs_per_pe  # Sapphire Rapids AMX has bf16 and int8 only


def test_batch1_decode_of_a_7b_int4_model_on_the_xeon_is_ddr5_bound():
    c = chip("xeon_8480")
    # CPU kernels (llama.cpp-like) dequantize in registers while the out-of-order cores and their prefetchers keep
    # DDR5 busy: `dequant: auto` overlaps the dequant with the stream on a CPU (hardware/quant.py dequant_mode)
    result = run_files("xeon_8480", "workloads/llama2_7b_decode.yaml", workload_overrides=["scenario.weights=int4"])
    s = result.summary
    assert s["mbu"] > 0.9 and s["mfu"] < 0.02
    # it never beats streaming its bytes at the DDR5 bandwidth, and takes little more than that
    ddr5_seconds = s["bytes_hbm_read"] / (c.hbm.bytes_per_cycle * c.clock_hz)
    assert ddr5_seconds <= s["seconds"] < 1.1 * ddr5_seconds
    assert 3.2e9 < s["bytes_hbm_read"] < 3.5e9  # ~6.5 B int4 weights at half a byte each, plus bf16 embeddings


def test_xgmi_all_reduce_uses_every_direct_link_in_closed_form_time():
    c = chip("mi300x_8")
    topology = build_topology(c.config.system, c.clock_hz)
    assert len(topology.links) == 8 * 7  # one link each way between every pair: a full mesh, no switch
    rate, alpha, overhead = topology.links[0].bytes_per_cycle, topology.hop_latency, c.op_overhead_cycles
    auto = run_files("mi300x_8", ALLREDUCE)
    row = auto.table.iloc[0]
    assert row.algorithm == "direct"  # `auto` picks the mesh-wide schedule over the rings
    # reduce-scatter then all-gather: each phase, every GPU sends 1/8 of the buffer to each of its 7 peers at once
    assert auto.summary["cycles"] == overhead + 2 * math.ceil(alpha + GIB / 8 / rate)
    assert row.link_bytes == 56 * 2 * GIB / 8  # every one of the 56 links carried its two pieces
    # a ring drives one link per GPU: 2 × (8 − 1) steps of 1/8 of the buffer
    ring = run_files("mi300x_8", ALLREDUCE, hardware_overrides=["system.collectives=ring"])
    assert ring.summary["cycles"] == overhead + 14 * math.ceil(alpha + GIB / 8 / rate)


def test_xgmi_calibration_on_2_gpus_predicts_the_8_gpu_measurement_within_10_percent():
    c = chip("mi300x_8")
    link = c.config.system.link
    assert link.efficiency == pytest.approx(47.7 / 64, abs=5e-4)  # the 2-GPU busbw over its one link
    seconds = run_files("mi300x_8", ALLREDUCE).summary["seconds"]
    busbw = 2 * 7 / 8 * GIB / seconds  # nccl-tests' bus bandwidth of an all-reduce
    assert busbw == pytest.approx(312.9e9, rel=0.10)  # stas00: 8× MI300X, 4 GiB all-reduce


def test_data_parallel_decode_on_the_ethernet_boxes_scales_and_sends_nothing():
    one = run_files("xeon_8480", "workloads/llama2_7b_decode.yaml").summary
    many = run_files("xeon_8480_ethernet_16", "workloads/llama2_7b_decode.yaml",
                     workload_overrides=["parallel.dp=16", "scenario.batch=16"]).summary
    assert many["cycles"] == one["cycles"]  # each box decodes its own request, as the single box does
    assert many["tokens_per_s"] == pytest.approx(16 * one["tokens_per_s"])
    assert many["link_bytes"] == 0 and many["exposed_comm_s"] == 0  # replicas exchange nothing at inference


@pytest.mark.parametrize("preset", NEW)
@pytest.mark.parametrize("workload", ["llama3_8b_decode", "allreduce_8chips"])
def test_bundled_workloads_run_or_are_refused_in_one_line(preset, workload):
    try:
        result = run_files(preset, f"workloads/{workload}.yaml")
    except TortoiseError as e:
        assert "\n" not in str(e) and preset in str(e)  # one line that names the hardware
        return
    assert result.summary["cycles"] > 0
