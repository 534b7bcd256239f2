"""Processing in memory (issue 15 part 6, docs/memory.md § Processing in memory): a GEMV whose weights live in a
DRAM level with `pim:` runs in its banks at the internal bandwidth (or their MAC rate, if lower), the external
bus carrying only its input vectors and its results; energy charges the in-memory MACs; GEMMs with M above
`pim.max_m` stay on the cores; lowering puts a decode step's weight GEMVs there, and of a prefill only the
last token's lm_head."""

import math

import pytest

from simulator.api import run_graph, run_llm
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.hardware.pim import pim_timing
from simulator.ir.ops import GemmOp, OpGraph
from simulator.results.energy import op_energy
from simulator.workloads.loader import load_workload

EXAMPLE = "configs/examples/h100_pim.yaml"
CLOCK = 1.83e9  # configs/h100.yaml
EXTERNAL = 3.35e12 * 0.937 / CLOCK  # B/cycle: h100's HBM bandwidth × efficiency
INTERNAL = 13.4e12 / CLOCK  # B/cycle: the example's internal bandwidth
MACS = 5120 * 8 * 300e6 / CLOCK  # MACs per chip cycle: banks × MACs per bank per PIM cycle × PIM clock


def chip(*overrides: str) -> Chip:
    return Chip(load_chip(EXAMPLE, list(overrides)))


def run_one(c: Chip, op: GemmOp):
    return run_graph(c, OpGraph("g", (op,))).records[0]


def test_gemv_in_the_banks_takes_weights_over_internal_bandwidth():
    c = chip()
    op = GemmOp("q", 1, 4096, 4096)  # bf16: 32 MiB of weights, 8 KiB in, 8 KiB out
    weights, inputs, outputs = 4096 * 4096 * 2, 4096 * 2, 4096 * 2
    assert weights / INTERNAL > op.macs / MACS  # bandwidth-bound in the banks
    expected = math.ceil((inputs + outputs) / EXTERNAL + weights / INTERNAL) + c.hbm.latency
    r = run_one(c, op)
    assert r.unit == "pim" and r.cores == 0
    assert r.cycles == c.op_overhead_cycles + expected
    assert r.compute_cycles == math.ceil(op.macs / MACS)
    assert r.stall_cycles == expected - r.compute_cycles
    # the external bus: the input vector written in, the results read out; the weights only inside the banks
    assert (r.hbm_write, r.hbm_read, r.pim_read) == (inputs, outputs, weights)
    assert r.l2_read == 0


def test_gemv_in_the_banks_is_mac_bound_when_the_banks_compute_slowly():
    c = chip("memory.hbm.pim.macs_per_bank={bf16: 0.5}")
    op = GemmOp("q", 4, 1024, 2048)
    macs_rate = 5120 * 0.5 * 300e6 / CLOCK
    assert op.macs / macs_rate > 1024 * 2048 * 2 / INTERNAL
    io = 4 * 2048 * 2 + 4 * 1024 * 2
    assert pim_timing(c, op).cycles == math.ceil(io / EXTERNAL + op.macs / macs_rate) + c.hbm.latency


def test_on_the_cores_the_weights_cross_the_bus():
    """The same GEMV on the h100 preset moves its weights over HBM, and takes longer."""
    op = GemmOp("q", 1, 4096, 4096)
    plain, pim = run_one(Chip(load_chip("h100")), op), run_one(chip(), op)
    assert plain.unit == "systolic" and plain.pim_read == 0
    assert plain.hbm_read >= 4096 * 4096 * 2
    assert pim.hbm_read + pim.hbm_write + pim.pim_read == plain.min_bytes == pim.min_bytes
    assert pim.cycles < plain.cycles


def test_energy_charges_the_in_memory_macs_and_bank_reads():
    c = chip()
    op = GemmOp("q", 2, 4096, 4096)
    r = run_one(c, op)
    e = op_energy(c.energy, r)
    assert e["energy_mac_j"] == op.macs * c.energy.mac_j["bf16"] > 0
    assert e["energy_hbm_j"] == (r.hbm_read + r.hbm_write + r.pim_read) * c.energy.hbm_j
    assert e["energy_sram_j"] == (r.sram_read + r.sram_write) * c.energy.sram_j


@pytest.mark.parametrize("m, unit", [(8, "pim"), (9, "systolic")])
def test_gemm_above_the_threshold_stays_on_the_cores(m, unit):
    assert run_one(chip(), GemmOp("q", m, 4096, 4096)).unit == unit
    assert run_one(chip("memory.hbm.pim.max_m=16"), GemmOp("q", m, 4096, 4096)).unit == "pim"
    assert run_one(chip("memory.hbm.pim.place=none"), GemmOp("q", m, 4096, 4096)).unit == "systolic"


def test_only_gemvs_with_their_weights_in_dram_and_a_mac_rate_go_to_the_banks():
    c = chip()
    assert run_one(c, GemmOp("s", 1, 4096, 128, batch=32)).unit == "systolic"  # per-head products (KV cache)
    assert run_one(c, GemmOp("s", 1, 4096, 4096, a_on_chip=True)).unit == "systolic"
    assert run_one(c, GemmOp("s", 1, 4096, 4096, "fp8", "fp8")).unit == "systolic"  # no fp8 rate in the banks


def test_decode_places_its_weight_gemvs_in_the_banks_and_prefill_none():
    decode = run_llm(chip(), load_workload("workloads/llama3_8b_decode.yaml"))
    units = {(r["group"], r["unit"]) for r in decode.rows if r["type"] == "gemm"}
    for group in ("qkv_proj", "o_proj", "mlp", "lm_head"):
        assert (group, "pim") in units and (group, "systolic") not in units
    assert ("attention", "pim") not in units
    # a prefill's layers see every prompt token (M far above max_m); only its lm_head (the last token) is a GEMV
    prefill = run_llm(chip(), load_workload("workloads/llama3_8b_prefill.yaml"))
    assert {r["group"] for r in prefill.rows if r["unit"] == "pim"} == {"lm_head"}
    layers = ("qkv_proj", "o_proj", "mlp")
    assert {r["unit"] for r in prefill.rows if r["group"] in layers and r["type"] == "gemm"} == {"systolic"}


def test_no_bundled_preset_carries_pim_or_banking():
    from simulator.config.presets import preset_names

    for name in preset_names():
        config = load_chip(name)
        assert config.core.sram.banks is None, name
        assert config.memory.dram is None or config.memory.dram.pim is None, name
