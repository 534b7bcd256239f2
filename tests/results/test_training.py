"""Training figures: the FLOPs the chips executed equal the closed form, MFU ≤ HFU ≤ 1, the step never beats
its roofline, throughput is tokens over step time, work is conserved across parallel splits, and a chip's
micro-batches run one after another."""

from pathlib import Path

import pytest

from simulator.api import run_files
from simulator.workloads.training import hardware_flops, model_flops

ROOT = Path(__file__).resolve().parents[2]
TRAIN = str(ROOT / "workloads/llama3_8b_train.yaml")
SMALL = ["model.num_hidden_layers=2", "training.sequence=1024", "training.global_batch=16"]


def train(hardware: str, *sets: str, workload: str = TRAIN):
    return run_files(hardware, workload, workload_overrides=[*SMALL, *sets])


@pytest.fixture(scope="module")
def dp8():
    return train("dgx_h100")


@pytest.mark.parametrize("sets", [(), ("training.recompute=full",), ("training.recompute=none",),
                                  ("training.zero=3",), ("parallel.dp=4", "parallel.tp=2"),
                                  ("parallel.dp=2", "parallel.tp=2", "parallel.pp=2"),
                                  ("parallel.dp=4", "parallel.tp=2", "parallel.sequence_parallel=true")])
def test_executed_flops_are_the_closed_form_and_utilizations_are_ordered(sets):
    r = train("dgx_h100", *sets)
    s, wl = r.summary, r.workload
    assert s["flops"] == hardware_flops(wl.model, wl.scenario, wl.training, wl.parallel)
    assert s["model_flops"] == model_flops(wl.model, wl.scenario, wl.training)
    assert 0 < s["mfu"] <= s["hfu"] <= 1
    assert s["cycles"] >= s["roofline_cycles"] and s["roofline_fraction"] <= 1
    assert s["forward_share"] + s["backward_share"] + s["optimizer_share"] == pytest.approx(1)


def test_throughput_is_tokens_over_the_step_time(dp8):
    s = dp8.summary
    assert s["tokens_per_step"] == 16 * 1024 == s["global_batch"] * s["sequence"]
    assert s["tokens_per_s"] == pytest.approx(s["tokens_per_step"] / s["step_s"])
    assert s["tokens_per_s_per_chip"] == pytest.approx(s["tokens_per_s"] / 8)
    assert s["samples_per_s"] == pytest.approx(16 / s["step_s"])
    assert s["mfu"] == pytest.approx(s["model_flops"] / (s["step_s"] * s["peak_tflops"] * 1e12))


def test_work_is_conserved_over_parallel_splits(dp8):
    for sets in (("parallel.dp=4", "parallel.tp=2"), ("parallel.dp=1", "parallel.tp=8"),
                 ("parallel.dp=2", "parallel.tp=2", "parallel.pp=2")):
        assert train("dgx_h100", *sets).summary["flops"] == dp8.summary["flops"]


def test_recomputation_costs_hfu_not_mfu():
    none, full = (train("dgx_h100", f"training.recompute={r}").summary for r in ("none", "full"))
    assert none["model_flops"] == full["model_flops"] and full["flops"] > none["flops"]
    assert full["step_s"] > none["step_s"] and full["mfu"] < none["mfu"]
    assert full["hfu"] - full["mfu"] > none["hfu"] - none["mfu"]


def test_a_chips_micro_batches_run_one_after_another():
    """One chip, 4 micro-batches: the step is 3 accumulating passes, 1 more (a chip alone reduces nothing)
    and the optimizer; each micro-batch pass takes its count × one micro-batch."""
    r = train("h100", "parallel.dp=1", "training.global_batch=4", "scenario.check_capacity=false")
    assert r.summary["microbatches"] == 4
    micro, optimizer = r.runs
    one = sum(seg.repeat * seg.cycles for seg in micro.segments)
    assert micro.pass_.microbatches == 4 and micro.cycles == 4 * one
    assert r.summary["cycles"] == micro.cycles + optimizer.cycles


def test_an_inference_pass_of_micro_batches_on_one_chip_takes_each_in_turn():
    prefill = str(ROOT / "workloads/llama3_8b_prefill.yaml")
    two = run_files("h100", prefill, workload_overrides=["scenario.batch=2", "parallel.microbatches=2"]).summary
    one = run_files("h100", prefill, workload_overrides=["scenario.batch=1"]).summary
    assert two["cycles"] == 2 * one["cycles"] and two["mfu"] == pytest.approx(one["mfu"]) and two["mfu"] <= 1


def test_gradients_cross_the_links_on_data_parallel(dp8):
    s = dp8.summary
    assert s["link_bytes"] > 0 and "reduce_scatter:ring" in s["collective_algorithms"]  # ZeRO-2 (the file's)
    assert s["memory_gradients"] < train("dgx_h100", "training.zero=0").summary["memory_gradients"]

