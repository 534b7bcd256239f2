"""Cost, perf/$, perf/W and die area (docs/cost.md): closed forms against what runs report."""

from collections import namedtuple
from pathlib import Path

import pytest

from simulator.api import run_files
from simulator.cli import main
from simulator.config.cost import HOURS_PER_YEAR, RETICLE_MM2, CostConfig
from simulator.config.loader import load_chip
from simulator.errors import ConfigError
from simulator.hardware.area import die_area
from simulator.hardware.cost import hourly_cost
from simulator.results.cost import input_share

ROOT = Path(__file__).resolve().parents[2]
DECODE = str(ROOT / "workloads/llama3_8b_decode.yaml")
PREFILL = str(ROOT / "workloads/llama3_8b_prefill.yaml")
OWNED = ("cost.chip_hour=null", "cost.capex.price=25000", "cost.capex.years=4", "cost.pue=1.2",
         "cost.electricity=0.08")


@pytest.fixture(scope="module")
def decode():
    return run_files("h100", DECODE).summary


@pytest.fixture(scope="module")
def tp8():
    return run_files("dgx_h100", str(ROOT / "workloads/llama3_70b_decode.yaml"), (),
                     ("parallel.tp=8", "scenario.batch=8")).summary


# ---- $ per million tokens ------------------------------------------------------------------------------

def test_dollars_per_million_tokens_is_price_per_second_times_seconds_per_token(decode, tp8):
    """h100's cloud price is $2.99 per chip-hour (costs.md, Lambda 8 × H100 SXM5 / 8)."""
    for s, chips in ((decode, 1), (tp8, 8)):
        price_per_second = 2.99 * chips / 3600
        seconds_per_token = 1 / s["tokens_per_s"]
        assert s["cost_per_million_tokens"] == price_per_second * seconds_per_token * 1e6
        # the same from the run's own seconds and token count (batch tokens in one decode step)
        tokens = s["batch"]
        assert s["cost_per_million_tokens"] == pytest.approx(2.99 * chips / 3600 * s["seconds"] / tokens * 1e6,
                                                             rel=1e-12)
        assert s["cost_usd"] == pytest.approx(price_per_second * s["seconds"], rel=1e-15)
        assert s["tokens_per_dollar"] * s["cost_per_million_tokens"] == pytest.approx(1e6, rel=1e-12)
    assert tp8["chips_used"] == 8


def test_perf_per_watt_uses_the_runs_average_power(decode):
    s = decode
    assert s["average_power_w"] == pytest.approx(s["energy_j"] / s["seconds"], rel=1e-12)
    assert s["tokens_per_s_per_w"] == s["tokens_per_s"] / s["average_power_w"]
    # 100 W more leakage per chip moves the run's average power by exactly 100 W, and perf/W with it
    hotter = run_files("h100", DECODE, ("energy.static_power=428 W",)).summary
    assert hotter["seconds"] == s["seconds"]
    assert hotter["average_power_w"] == pytest.approx(s["average_power_w"] + 100, rel=1e-12)
    assert hotter["tokens_per_s_per_w"] == pytest.approx(s["tokens_per_s"] / (s["average_power_w"] + 100), rel=1e-12)


# ---- owned (capex) and cloud ---------------------------------------------------------------------------

def test_capex_amortization_closed_form():
    cost = CostConfig.model_validate({"capex": {"price": 25000, "years": 4}, "power": "700 W", "pue": 1.2,
                                      "electricity": 0.08, "host_overhead": 1.5, "utilization": 0.5})
    hourly = hourly_cost(cost)
    assert HOURS_PER_YEAR == 8760
    assert hourly.capex == 25000 / 35040  # $0.7135 per hour
    assert hourly.energy == pytest.approx(0.7 * 1.5 * 1.2 * 0.08, rel=1e-15)  # $0.1008 per hour
    assert hourly.per_hour == pytest.approx((25000 / 35040 + 0.1008) / 0.5, rel=1e-15)
    # costs.md §3.3's worked example: one H100 at 700 W, PUE 1.2, $0.08/kWh is $0.067 per hour of energy
    example = CostConfig.model_validate({"capex": {"price": 1}, "power": "700 W", "pue": 1.2, "electricity": 0.08})
    assert round(hourly_cost(example).energy, 3) == 0.067


def test_owned_chip_charges_the_runs_average_power_unless_told(decode):
    owned = run_files("h100", DECODE, OWNED).summary
    watts = decode["average_power_w"]  # one chip
    assert owned["cost_kind"] == "owned"
    assert owned["capex_per_chip_hour"] == 25000 / (4 * 8760)
    assert owned["electricity_per_chip_hour"] == pytest.approx(watts / 1000 * 1.2 * 0.08, rel=1e-12)
    assert owned["cost_per_chip_hour"] == owned["capex_per_chip_hour"] + owned["electricity_per_chip_hour"]
    assert any(n.startswith(f"cost.power = {watts:.0f} W per chip") for n in owned["assumptions"])
    given = run_files("h100", DECODE, (*OWNED, "cost.power=700 W")).summary
    assert given["electricity_per_chip_hour"] == pytest.approx(0.7 * 1.2 * 0.08, rel=1e-12)
    assert not any(n.startswith("cost.power") for n in given["assumptions"])


def test_cloud_price_is_the_chip_hour_over_utilization(decode):
    assert decode["cost_kind"] == "cloud" and decode["cost_per_chip_hour"] == 2.99
    assert "capex_per_chip_hour" not in decode
    half = load_chip("h100", ["cost.utilization=0.5"])
    assert hourly_cost(half.cost).per_hour == 5.98


def test_presets_and_their_systems_carry_the_sourced_prices():
    prices = {"a100": 1.79, "dgx_a100": 1.79, "h100": 2.99, "dgx_h100": 2.99, "h100_superpod_1024": 2.99,
              "tpu_v4": 3.22, "tpu_v4_4x4x4": 3.22, "tpu_v5e": 1.20, "tpu_v5e_8": 1.20, "tpu_v5p": 4.20,
              "tpu_v5p_64": 4.20}
    for name, price in prices.items():
        assert load_chip(name).cost.chip_hour == price, name
    assert load_chip("systolic_32x32").cost is None


def test_a_chip_without_cost_reports_perf_per_watt_only():
    s = run_files("systolic_32x32", str(ROOT / "workloads/gemm_demo.yaml")).summary
    assert "cost_usd" not in s and "cost_per_million_tokens" not in s


# ---- bad fields: one line each ---------------------------------------------------------------------------

@pytest.mark.parametrize("override, field, words", [
    ("cost.chip_hour=-3", "cost.chip_hour", "a price in US dollars"),
    ("cost.chip_hour=free", "cost.chip_hour", "a price in US dollars"),
    ("cost.pue=1.2", "cost.pue", "applies to an owned chip (capex) only"),
    ("cost.capex.price=30000", "cost.capex", "either chip_hour"),
    ("cost.utilization=0", "cost.utilization", "a fraction of the hours paid for"),
    ("cost.price=3", "cost.price", "unknown field; allowed here: chip_hour, capex"),
    ("area.node=3nm", "area.node", "the nodes in configs/area/nodes.yaml are 28nm, 5nm"),
    ("area.die=-5", "area.die", "an area such as 814 mm²"),
])
def test_bad_cost_fields_give_one_clear_line(capsys, override, field, words):
    with pytest.raises(ConfigError) as error:
        load_chip("h100", [override])
    assert error.value.field == field and words in error.value.allowed
    assert main(["run", "h100", DECODE, "--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and field in err and words in err and "Traceback" not in err


def test_years_out_of_range():
    with pytest.raises(ConfigError) as error:
        load_chip("h100", [*OWNED, "cost.capex.years=0"])
    assert error.value.field == "cost.capex.years" and "from 0.25 to 30" in error.value.allowed


# ---- area ----------------------------------------------------------------------------------------------

def test_modelled_area_is_macs_plus_sram_plus_other():
    """28 nm (TPU v1's floor plan): 0.001212 mm² per int8 MAC, 3.814 mm² per MB of SRAM."""
    chip = load_chip("systolic_32x32", ["area.node=28nm", "area.other=20", "core.mxu.macs_per_pe={int8: 1}",
                                        "core.sram.size=8 MB"])
    area = die_area(chip)
    assert area.mxu_mm2 == pytest.approx(32 * 32 * 0.001212, rel=1e-15)
    assert area.sram_mm2 == pytest.approx(8 * 3.814, rel=1e-15)
    assert area.die_mm2 == area.mxu_mm2 + area.sram_mm2 + 20
    assert area.exceeds_reticle is False
    # TPU v4's 2 cores × 4 MXUs of 128 × 128, 2 × 16 MiB VMEM + 128 MiB CMEM, modelled at 28 nm
    v4 = load_chip("tpu_v4", ["area.node=28nm", "core.mxu.macs_per_pe={int8: 2}"])
    a = die_area(v4)
    assert a.mxu_mm2 == pytest.approx(2 * 4 * 128 * 128 * 2 * 0.001212, rel=1e-12)
    assert a.sram_mm2 == pytest.approx((2 * 16 + 128) * 2**20 / 1e6 * 3.814, rel=1e-12)
    assert RETICLE_MM2 == 858 and a.exceeds_reticle == (a.die_mm2 > 858) is True


def test_a_missing_figure_leaves_the_die_unmodelled_and_says_which():
    s = run_files("tpu_v4", DECODE, ("area.node=5nm",)).summary
    assert "die_area_mm2" not in s and s["sram_area_mm2"] == pytest.approx((2 * 16 + 128) * 2**20 / 1e6 * 0.2399)
    assert any("no 5nm.mac.bf16" in n for n in s["assumptions"])
    h100 = run_files("h100", DECODE).summary
    assert h100["die_area_mm2"] == 814 and h100["die_exceeds_reticle"] is False
    assert h100["die_area_source"] == "published"


# ---- serving: input and output -------------------------------------------------------------------------

Row = namedtuple("Row", "instance start end decodes prefills prefill_tokens steps")


def test_input_share_splits_each_iteration_by_its_tokens():
    rows = [Row(0, 0, 10, 0, 1, 100, 1),  # prefill only: 10 cycles to input
            Row(0, 10, 30, 4, 0, 0, 1),  # decode only: 20 cycles to output
            Row(0, 30, 70, 10, 1, 30, 1),  # 30 prefill + 10 decode tokens: 30 of 40 cycles to input
            Row(1, 0, 50, 5, 0, 0, 2)]  # instance 1 only decodes
    assert input_share(rows, 3) == [pytest.approx(40 / 70), 0.0, pytest.approx(20 / 70)]  # an idle one: the mean


def test_serving_cost_splits_input_and_output_and_adds_up():
    result = run_files("h100", str(ROOT / "workloads/llama3_8b_serve.yaml"), (), ("serving.requests=30",))
    s = result.summary
    tokens = s["prompt_tokens"] + s["output_tokens"]
    assert s["cost_usd"] == 2.99 * s["chips_used"] / 3600 * s["duration_s"]
    assert s["cost_per_million_tokens"] == 2.99 * s["chips_used"] / 3600 * (s["duration_s"] / tokens) * 1e6
    on_input = s["cost_per_million_input_tokens"] * s["prompt_tokens"] / 1e6
    on_output = s["cost_per_million_output_tokens"] * s["output_tokens"] / 1e6
    assert on_input + on_output == pytest.approx(s["cost_usd"], rel=1e-12)
    assert on_input == pytest.approx(s["cost_input_share"] * s["cost_usd"], rel=1e-12)
    assert 0 < s["cost_input_share"] < 1
    # per token, decoding (one token per sequence per pass) costs more than prefill (a prompt per pass)
    assert s["cost_per_million_output_tokens"] > s["cost_per_million_input_tokens"]


# ---- training ------------------------------------------------------------------------------------------

def test_training_reports_dollars_per_step_and_per_million_tokens_trained():
    s = run_files("dgx_h100", str(ROOT / "workloads/llama3_8b_train.yaml"), (),
                  ("training.global_batch=8", "training.sequence=1024")).summary
    price_per_second = 2.99 * 8 / 3600
    assert s["cost_per_step"] == price_per_second * s["step_s"]
    assert s["cost_per_million_tokens"] == price_per_second * (1 / s["tokens_per_s"]) * 1e6
    assert s["cost_per_million_tokens"] == pytest.approx(s["cost_per_step"] / (8 * 1024) * 1e6, rel=1e-12)
