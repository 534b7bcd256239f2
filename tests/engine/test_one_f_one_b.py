"""The one-forward-one-backward pipeline schedule (engine/pipeline.py): its order, its closed-form time and
bubble on equal stages, the micro-batches in flight on each stage, and a training step that runs it."""

from types import SimpleNamespace

import pytest

from simulator.api import run_files
from simulator.engine.pipeline import one_f_one_b_order, run_forward_backward

NO_LINKS = SimpleNamespace(links=())  # sends of no messages take the idle times given


def schedule(stages: int, microbatches: int, forward: int, backward: int, send: int = 0):
    empty = tuple(() for _ in range(stages - 1))
    return run_forward_backward(NO_LINKS, [forward] * stages, [backward] * stages, microbatches, empty, empty,
                           [send] * (stages - 1), [send] * (stages - 1))


def test_the_order_is_warm_up_then_one_forward_one_backward_then_cool_down():
    assert one_f_one_b_order(0, 4, 6) == [("forward", 0), ("forward", 1), ("forward", 2), ("forward", 3),
                                          ("backward", 0), ("forward", 4), ("backward", 1), ("forward", 5),
                                          ("backward", 2), ("backward", 3), ("backward", 4), ("backward", 5)]
    assert one_f_one_b_order(3, 4, 2) == [("forward", 0), ("backward", 0), ("forward", 1), ("backward", 1)]
    assert one_f_one_b_order(0, 4, 2) == [("forward", 0), ("forward", 1), ("backward", 0), ("backward", 1)]


@pytest.mark.parametrize("stages, microbatches", [(2, 1), (2, 8), (4, 4), (4, 16), (8, 3), (8, 32)])
def test_equal_stages_take_m_plus_p_minus_1_slots_and_idle_the_bubble(stages, microbatches):
    forward, backward = 100, 200
    run = schedule(stages, microbatches, forward, backward)
    assert run.cycles == (microbatches + stages - 1) * (forward + backward)
    for s in range(stages):
        busy = sum(x.end - x.start for x in run.spans if x.stage == s and x.kind == "compute")
        assert busy == microbatches * (forward + backward)
        assert (run.cycles - busy) / run.cycles == pytest.approx((stages - 1) / (microbatches + stages - 1))


@pytest.mark.parametrize("stages, microbatches", [(4, 16), (8, 8), (3, 2)])
def test_at_most_p_minus_s_micro_batches_are_in_flight_on_stage_s(stages, microbatches):
    run = schedule(stages, microbatches, 70, 130, send=15)
    for s in range(stages):
        mine = sorted((x.start, x.part) for x in run.spans if x.stage == s and x.kind == "compute")
        in_flight = peak = 0
        for _, part in mine:
            in_flight += 1 if part == "forward" else -1
            peak = max(peak, in_flight)
        assert peak == min(stages - s, microbatches)


def test_a_backward_waits_for_the_next_stage_and_its_gradients():
    run = schedule(2, 1, 100, 200, send=30)
    spans = {(x.stage, x.part, x.kind): x for x in run.spans}
    assert spans[1, "forward", "compute"].start == 100 + 30  # activations arrive
    assert spans[0, "backward", "compute"].start == spans[1, "backward", "compute"].end + 30  # gradients arrive
    assert run.cycles == 2 * (100 + 200) + 2 * 30


def test_a_pipelined_training_step_runs_forward_and_backward_per_micro_batch():
    r = run_files("tpu_v4_4x4x4", "workloads/llama3_8b_train.yaml",
                  workload_overrides=["parallel.dp=1", "parallel.pp=4", "training.global_batch=8",
                                      "training.sequence=512", "training.zero=0",
                                      "scenario.check_capacity=false"])
    step = r.runs[0]
    assert step.pass_.microbatches == 8
    parts = {(x.part, x.kind) for x in step.spans}
    assert {("forward", "compute"), ("backward", "compute"), ("forward", "send"), ("backward", "send")} <= parts
    assert sum(x.kind == "compute" for x in step.spans) == 2 * 8 * 4
    assert 0 < r.summary["idle_share"] < 1


def test_the_gradient_reducing_last_micro_batch_joins_the_others_pipeline():
    """ZeRO-1 with dp > 1: the first m − 1 micro-batches only accumulate, the last also reduces; they are two
    passes of the lowering but one pipeline of m micro-batches (one fill and one drain)."""
    r = run_files("tpu_v4_4x4x4", "workloads/llama3_8b_train.yaml",
                  workload_overrides=["parallel.dp=2", "parallel.pp=4", "training.global_batch=16",
                                      "training.sequence=512", "training.zero=1", "scenario.check_capacity=false"])
    accumulate, sync, optimizer = r.runs
    assert (accumulate.pass_.microbatches, sync.pass_.microbatches) == (7, 1)
    assert sum(x.kind == "compute" for x in accumulate.spans) == 2 * 8 * 4  # all eight micro-batches
    assert sync.cycles == 0 and not sync.spans
    assert r.summary["cycles"] == accumulate.cycles + optimizer.cycles
    forward = {j for x in accumulate.spans if x.kind == "compute" and x.part == "forward" for j in [x.microbatch]}
    assert forward == set(range(8))


@pytest.mark.parametrize("stages, microbatches", [(4, 8), (2, 3)])
def test_gpipe_takes_as_long_on_equal_stages_but_keeps_every_micro_batch_in_flight(stages, microbatches):
    empty = tuple(() for _ in range(stages - 1))
    run = run_forward_backward(NO_LINKS, [100] * stages, [200] * stages, microbatches, empty, empty,
                          [0] * (stages - 1), [0] * (stages - 1), "gpipe")
    assert run.cycles == (microbatches + stages - 1) * 300
    first = sorted((x.start, x.part) for x in run.spans if x.stage == 0 and x.kind == "compute")
    assert [part for _, part in first] == ["forward"] * microbatches + ["backward"] * microbatches


def test_the_schedule_is_a_parallel_setting_and_gpipe_holds_more_activations():
    sets = ["parallel.dp=1", "parallel.pp=4", "training.global_batch=8", "training.sequence=512",
            "training.zero=0", "scenario.check_capacity=false"]
    one_f = run_files("tpu_v4_4x4x4", "workloads/llama3_8b_train.yaml", workload_overrides=sets)
    gpipe = run_files("tpu_v4_4x4x4", "workloads/llama3_8b_train.yaml",
                      workload_overrides=[*sets, "parallel.schedule=gpipe"])
    assert gpipe.footprint.activations > one_f.footprint.activations
    assert [x.part for x in sorted(gpipe.runs[0].spans, key=lambda x: x.start)
            if x.stage == 0 and x.kind == "compute"] == ["forward"] * 8 + ["backward"] * 8
