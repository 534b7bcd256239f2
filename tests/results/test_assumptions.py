"""Nothing is assumed silently: what a run takes without being told (hardware defaults that move time or
energy, the dtype GEMMs really run in) is in `summary["assumptions"]` and in one `assumed` line of the
text; MFU is taken against the peak of the dtypes the GEMMs ran in, and the text names it; sizes are
decimal in every line, and two different sizes never print alike."""

import re

import pytest

import simulator as ts
from simulator.config.loader import load_chip
from simulator.errors import CapacityError, ConfigError
from simulator.hardware.chip import Chip
from simulator.results.output import (
    format_byte_pair,
    llm_summary_text,
    peak_text,
    summary_text,
    training_summary_text,
)
from simulator.workloads.capacity import Footprint, check_capacity, gb_pair

SMALL = ["model.num_hidden_layers=2", "scenario.context=256"]
FP8 = ["scenario.weights=fp8", "scenario.activations=fp8", "scenario.kv_cache=fp8"]
W8A16 = ["scenario.weights=fp8"]  # fp8 weights, bf16 activations and KV cache
BINARY = re.compile(r"\b[KMGT]iB\b")
DECIMAL = re.compile(r"\b[KMGT]B\b")

# A chip in the chip layout with every timing field it needs and no `energy:` section.
BARE_CHIP = """\
name: bare
clock: 1 GHz
cores: 4
core:
  mxu: {rows: 32, cols: 32, dataflow: ws, pipelined: true, macs_per_pe: {bf16: 1, fp8: 2}}
  vector: {lanes: 64, ops_per_lane: {fp32: 1, bf16: 1}}
  sram: {size: 4 MiB}
  dma: {bandwidth: 500 GB/s, latency: 100 cycles}
memory:
  hbm: {size: 32 GiB, bandwidth: 1 TB/s, latency: 300 ns, efficiency: 0.9}
op_overhead: 1 us
"""


def text_of(result) -> str:
    s = result.summary
    if s["phase"] == "train":
        return training_summary_text(s, result.breakdown, result.stages, result.links)
    return llm_summary_text(s, result.breakdown, result.stages, result.links)


def assumed_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("  assumed ")]
    assert len(lines) == 1, text  # said once
    return lines[0]


def peak(chip: str, dtype: str) -> float:
    """One chip's peak TFLOP/s in `dtype`."""
    return Chip(load_chip(chip)).peak_flops_per_s(dtype) / 1e12


# --- the peak MFU is taken against -------------------------------------------------------------------------


def test_an_fp8_workload_on_h100_is_measured_against_the_fp8_peak():
    r = ts.run("h100", "llama3_8b_decode", set=SMALL + FP8)
    s = r.summary
    assert s["gemm_mac_share"] == {"fp8": 1.0} and s["peak_dtype"] == "fp8"
    assert s["peak_tflops"] == pytest.approx(peak("h100", "fp8")) == pytest.approx(2 * peak("h100", "bf16"))
    assert s["mfu"] == pytest.approx(s["flops"] / (s["seconds"] * s["peak_tflops"] * 1e12))
    mfu = next(line for line in text_of(r).splitlines() if line.startswith("  MFU"))
    assert f"of {s['peak_tflops']:.1f} TFLOP/s fp8 peak" in mfu


def test_fp8_weights_with_bf16_activations_run_at_the_bf16_peak_and_say_so():
    """W8A16: the fp8 weights are widened to bf16 before the MXU, so the GEMMs run (and MFU is taken) at
    the bf16 rate; the note says how to get the fp8 rate on a chip that has one."""
    s = ts.run("h100", "llama3_8b_decode", set=SMALL + W8A16).summary
    assert s["peak_dtype"] == "bf16" and s["peak_tflops"] == pytest.approx(peak("h100", "bf16"))
    note = next(n for n in s["assumptions"] if n.startswith("fp8 weights"))
    assert "widened to bf16" in note and "scenario.activations=fp8" in note


def test_a_chip_without_fp8_runs_fp8_weights_at_its_bf16_peak_and_the_note_says_why():
    r = ts.run("tpu_v4", "llama3_8b_decode", set=SMALL + W8A16)
    s = r.summary
    assert "fp8" not in Chip(load_chip("tpu_v4")).mxu.macs_per_pe
    assert s["peak_dtype"] == "bf16" and s["peak_tflops"] == pytest.approx(peak("tpu_v4", "bf16"))
    assert any("fp8 weights are widened to bf16" in n and "tpu_v4's MXU has no fp8 rate" in n
               for n in s["assumptions"])
    text = text_of(r)
    assert "TFLOP/s bf16 peak" in text and "tpu_v4's MXU has no fp8 rate" in assumed_line(text)


def test_fp8_activations_on_a_chip_without_fp8_are_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        ts.run("tpu_v4", "llama3_8b_decode", set=SMALL + FP8)
    assert "\n" not in str(err.value) and "macs_per_pe" in str(err.value) and "fp8" in str(err.value)


def test_a_mix_of_gemm_dtypes_is_measured_against_their_mac_weighted_peak():
    """fp8 weights and activations over a bf16 KV cache: attention's GEMMs run in bf16, the rest in fp8."""
    r = ts.run("h100", "llama3_8b_decode", set=["model.num_hidden_layers=8"] + FP8[:2])  # 4096 tokens of context
    s = r.summary
    shares = s["gemm_mac_share"]
    assert 0.01 < shares["bf16"] < 0.99
    assert list(shares) == ["fp8", "bf16"] and sum(shares.values()) == pytest.approx(1)
    assert s["peak_dtype"] == "fp8+bf16"
    assert 1 / s["peak_tflops"] == pytest.approx(sum(share / peak("h100", d) for d, share in shares.items()))
    mfu = next(line for line in text_of(r).splitlines() if line.startswith("  MFU"))
    assert f"fp8 {100 * shares['fp8']:.0f} %, bf16 {100 * shares['bf16']:.0f} % of the GEMM MACs" in mfu
    assert "fp8 activations are widened to bf16 for the attention GEMMs" in assumed_line(text_of(r))


def test_a_training_step_in_fp8_is_measured_against_the_fp8_peak_of_every_chip():
    r = ts.run("dgx_h100", "llama3_8b_train", set=["model.num_hidden_layers=2", "training.sequence=256",
                                                   "training.global_batch=8", "scenario.weights=fp8",
                                                   "scenario.activations=fp8"])
    s = r.summary
    assert s["peak_dtype"] == "fp8" and s["peak_tflops"] == pytest.approx(8 * peak("h100", "fp8"))
    assert "TFLOP/s fp8 peak" in text_of(r)


def test_an_op_list_names_its_peak_dtype():
    r = ts.run("h100", "gemm_demo")
    s = r.summary
    assert s["peak_dtype"] == "bf16" and "TFLOP/s bf16 peak" in summary_text(s, r.table)


# --- assumptions ---------------------------------------------------------------------------------------


def test_a_user_chip_without_energy_says_it_got_45nm_and_no_static_power(tmp_path):
    path = tmp_path / "bare.yaml"
    path.write_text(BARE_CHIP)
    r = ts.run(str(path), "gemm_demo")
    s = r.summary
    assert s["assumptions"] == ["energy.node = 45nm and energy.static_power = 0 W (no leakage counted): the "
                                "hardware file has no energy: section"]
    assert s["energy_static_j"] == 0  # the default itself is unchanged
    line = assumed_line(summary_text(s, r.table))
    assert "energy.node = 45nm" in line and "0 W" in line


def test_a_bundled_preset_that_gives_every_field_assumes_nothing():
    r = ts.run("h100", "llama3_8b_decode", set=SMALL)
    assert r.summary["assumptions"] == []
    assert "  assumed " not in text_of(r)


def test_tpu_v4_says_it_has_no_op_overhead_and_full_hbm_efficiency():
    r = ts.run("tpu_v4", "llama3_8b_decode", set=SMALL)
    line = assumed_line(text_of(r))
    assert r.summary["assumptions"] == list(Chip(load_chip("tpu_v4")).assumptions)
    assert "op_overhead = 0" in line and "memory.hbm.efficiency = 1" in line


def test_an_moe_model_says_its_experts_are_balanced_unless_told():
    sets = ["model.num_hidden_layers=2", "scenario.context=256", "scenario.check_capacity=false"]
    told = ts.run("h100", "mixtral_8x7b_decode", set=sets + ["scenario.moe_imbalance=1.3"]).summary
    untold = ts.run("h100", "mixtral_8x7b_decode", set=sets).summary
    assert any(n.startswith("scenario.moe_imbalance = 1") for n in untold["assumptions"])
    assert not any("moe_imbalance" in n for n in told["assumptions"])


def test_a_training_step_says_it_keeps_fp32_master_weights_unless_told():
    sets = ["model.num_hidden_layers=2", "training.sequence=256", "training.global_batch=8"]
    told = ts.run("dgx_h100", "llama3_8b_train", set=sets).summary  # the file sets master_weights
    untold = ts.run("dgx_h100", model="llama3_8b", phase="train", batch=8, seq=256,
                    set=["model.num_hidden_layers=2", "parallel.dp=8"]).summary
    assert any(n.startswith("training.master_weights = true") for n in untold["assumptions"])
    assert not any("master_weights" in n for n in told["assumptions"])


def test_elementwise_work_on_fp8_activations_is_said_to_run_in_bf16():
    notes = ts.run("h100", "llama3_8b_decode", set=SMALL + FP8).summary["assumptions"]
    assert notes == ["elementwise ops on fp8 activations run in bf16"]


# --- units and digits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("hardware, workload, sets", [
    ("tpu_v4", "llama3_8b_decode", SMALL),  # a 32 GiB chip
    ("tpu_v4", "gemm_demo", []),
    ("dgx_h100", "llama3_8b_train", ["model.num_hidden_layers=2", "training.sequence=256",
                                     "training.global_batch=8"]),
])
def test_every_size_in_the_text_is_decimal(hardware, workload, sets):
    r = ts.run(hardware, workload, set=sets)
    text = summary_text(r.summary, r.table) if r.kind == "ops" else text_of(r)
    assert not BINARY.search(text), text
    assert any(DECIMAL.search(line) for line in text.splitlines())
    if workload == "llama3_8b_decode":
        assert "of 34.36 GB" in text  # 32 GiB, in the GB every other figure of the line uses


def test_a_32_gib_chip_is_34_4_gb_in_the_capacity_error():
    with pytest.raises(CapacityError) as err:
        ts.run("tpu_v4", "llama3_70b_decode")  # 70.6 GB of fp8 weights
    text = str(err.value)
    assert "memory.hbm.size = 34.4 GB" in text and not BINARY.search(text)


def test_shares_that_round_to_0_or_100_say_so():
    text = peak_text({"peak_tflops": 1970.3, "gemm_mac_share": {"fp8": 0.996, "bf16": 0.004}})
    assert text == "1970.3 TFLOP/s peak (fp8 >99 %, bf16 <1 % of the GEMM MACs)"


def test_sizes_that_differ_never_print_alike():
    assert gb_pair(240_000_000, 200_000_000) == ("0.24 GB", "0.20 GB")  # not "0.2 GB … 0.2 GB"
    assert gb_pair(142_500_000_000, 80_000_000_000) == ("142.5 GB", "80.0 GB")  # enough already: unchanged
    assert gb_pair(80_000_000_001, 80_000_000_000) == ("80.000000001 GB", "80.000000000 GB")
    assert gb_pair(100_000_000, 99_900_000) == ("0.1000 GB", "0.0999 GB")  # one unit for both
    assert format_byte_pair(9.09e9, 80e9) == ("9.09 GB", "80.00 GB")
    assert format_byte_pair(260e3, 80e9) == ("260.00 KB", "80.00 GB")  # each in its own unit when they differ
    assert format_byte_pair(1_000_000_000, 999_999_999) == ("1.000000000 GB", "0.999999999 GB")
    assert format_byte_pair(5, 5) == ("5 B", "5 B")


def figures(text: str, pattern: str) -> list[str]:
    return re.findall(pattern, text)


def test_a_capacity_error_where_need_and_have_round_alike_shows_the_difference():
    fp = Footprint(weights=150_000_000, kv_cache=80_000_000, activations=10_000_000)
    m = ts.model("llama3_8b")
    scenario = ts.load("llama3_8b_decode").scenario
    with pytest.raises(CapacityError) as err:
        check_capacity(fp, 200_000_000, m, scenario, "tiny", "w.yaml")
    text = str(err.value)
    assert "needs 0.24 GB of HBM" in text and "memory.hbm.size = 0.20 GB" in text


def test_a_run_one_byte_short_of_hbm_says_so_in_digits():
    """The footprint of a real run, on a chip one byte too small: the error's need and have differ as
    printed, and the run with the check off prints its footprint over the capacity with the digits too."""
    sets = SMALL + ["scenario.check_capacity=false"]
    need = ts.run("h100", "llama3_8b_decode", set=sets).summary["memory_required"]
    hbm = f"memory.hbm.size={need - 1}"
    with pytest.raises(CapacityError) as err:
        ts.run("h100", "llama3_8b_decode", set=SMALL + [hbm])
    text = str(err.value)
    (needs,) = figures(text, r"needs ([\d.]+) GB")
    (has,) = figures(text, r"memory\.hbm\.size = ([\d.]+) GB")
    assert needs != has and float(needs) > float(has)
    r = ts.run("h100", "llama3_8b_decode", set=sets + [hbm])
    line = next(line for line in text_of(r).splitlines() if line.startswith("  HBM footprint"))
    (over, of) = figures(line, r"([\d.]+) GB")[:2]
    assert over != of and float(over) > float(of)
