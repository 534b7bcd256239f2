"""The interleaved one-forward-one-backward schedule (parallel.vp > 1; engine/pipeline.py): its order, its
closed-form time and bubble (p − 1)/(v·m + p − 1) on equal chunks, the chunks in flight against capacity's
count, the sends between virtual rounds, and a training step that runs it."""

from fractions import Fraction
from types import SimpleNamespace

import pytest

from simulator.api import run_files
from simulator.engine.pipeline import interleaved_order, run_forward_backward
from simulator.errors import ConfigError
from simulator.workloads.capacity import chunks_in_flight
from simulator.workloads.parallel import Parallel
from simulator.workloads.training import saved_per_layer

NO_LINKS = SimpleNamespace(links=())  # sends of no messages take the idle times given


def interleaved(stages: int, microbatches: int, virtual: int, forward: int, backward: int, send: int = 0):
    """Equal chunks: every chunk of every rank takes `forward` and `backward` per micro-batch (v = 1: plain 1F1B)."""
    empty = tuple(() for _ in range(stages))
    each = (lambda t: [t] * virtual) if virtual > 1 else (lambda t: t)
    return run_forward_backward(NO_LINKS, [each(forward)] * stages, [each(backward)] * stages, microbatches, empty,
                                empty, [send] * stages, [send] * stages, "1f1b", virtual)


def test_the_order_is_megatrons_groups_of_p_micro_batches_per_chunk():
    f = lambda k, j: ("forward", k, j)  # noqa: E731
    b = lambda k, j: ("backward", k, j)  # noqa: E731
    assert interleaved_order(0, 2, 4, 2) == [f(0, 0), f(0, 1), f(1, 0), f(1, 1),  # warm-up 2(p − 1) + (v − 1)p
                                             f(0, 2), b(1, 0), f(0, 3), b(1, 1), f(1, 2), b(0, 0), f(1, 3), b(0, 1),
                                             b(1, 2), b(1, 3), b(0, 2), b(0, 3)]
    assert interleaved_order(1, 2, 4, 2)[:3] == [f(0, 0), f(0, 1), f(1, 0)]  # warm-up (v − 1)p on the last
    assert interleaved_order(0, 2, 2, 2) == [f(0, 0), f(0, 1), f(1, 0), f(1, 1),  # m = p: all forwards first
                                             b(1, 0), b(1, 1), b(0, 0), b(0, 1)]


@pytest.mark.parametrize("stages, microbatches, virtual", [(2, 2, 2), (2, 4, 2), (2, 6, 3), (3, 6, 2), (4, 4, 2),
                                                           (4, 8, 2), (4, 8, 4), (4, 12, 3), (8, 16, 2)])
@pytest.mark.parametrize("forward, backward", [(1, 1), (1, 2), (2, 3), (3, 1)])
def test_equal_chunks_take_v_m_plus_p_minus_1_slots_and_idle_the_bubble(stages, microbatches, virtual, forward,
                                                                        backward):
    run = interleaved(stages, microbatches, virtual, forward, backward)
    assert run.cycles == (virtual * microbatches + stages - 1) * (forward + backward)
    for s in range(stages):
        busy = sum(x.end - x.start for x in run.spans if x.stage == s and x.kind == "compute")
        assert busy == microbatches * virtual * (forward + backward)
        assert Fraction(run.cycles - busy, run.cycles) == Fraction(stages - 1, virtual * microbatches + stages - 1)


@pytest.mark.parametrize("stages, microbatches", [(2, 4), (4, 8), (8, 16)])
def test_interleaving_shrinks_the_bubble_v_fold_for_the_same_work(stages, microbatches):
    """A stage's F and B split into v chunks of F/v and B/v: the fill and drain shrink by v, the work does not."""
    forward, backward = 120, 240
    plain = interleaved(stages, microbatches, 1, forward, backward)
    for virtual in (2, 3, 4):
        run = interleaved(stages, microbatches, virtual, forward // virtual, backward // virtual)
        assert plain.cycles - run.cycles == (stages - 1) * (forward + backward) * (virtual - 1) // virtual


@pytest.mark.parametrize("stages, microbatches, virtual", [(2, 2, 2), (2, 8, 2), (4, 4, 2), (4, 8, 2), (4, 8, 4),
                                                           (3, 9, 3), (8, 16, 2)])
def test_capacity_counts_the_chunks_the_schedule_keeps_in_flight(stages, microbatches, virtual):
    run = interleaved(stages, microbatches, virtual, 70, 130, send=15)
    parallel = Parallel(pp=stages, vp=virtual)
    for s in range(stages):
        in_flight = peak = 0
        for x in sorted((x for x in run.spans if x.stage == s and x.kind == "compute"), key=lambda x: x.start):
            in_flight += 1 if x.part == "forward" else -1
            peak = max(peak, in_flight)
        assert peak == chunks_in_flight(parallel, microbatches, s)
    if microbatches > stages:  # Megatron: the first rank holds p·(1 + (p − 1)/(p·v)) micro-batches' worth
        assert Fraction(chunks_in_flight(parallel, microbatches, 0), virtual) == \
            stages * (1 + Fraction(stages - 1, stages * virtual))


def test_a_micro_batch_goes_from_the_last_rank_back_to_the_first_between_rounds():
    run = interleaved(2, 2, 2, 100, 200, send=30)
    spans = {(x.stage, x.chunk, x.microbatch, x.part, x.kind): x for x in run.spans}
    last_round0 = spans[1, 0, 0, "forward", "compute"]
    assert spans[1, 0, 0, "forward", "send"].start == last_round0.end  # boundary p − 1: rank 1 → rank 0
    assert spans[0, 1, 0, "forward", "compute"].start == last_round0.end + 30
    back = spans[0, 1, 0, "backward", "compute"]  # rank 0's chunk 1 hands its gradients to rank 1's chunk 0
    assert spans[1, 0, 0, "backward", "compute"].start >= back.end + 30
    sends = [x for x in run.spans if x.kind == "send"]
    assert len(sends) == 2 * 2 * (2 * 2 - 1)  # per micro-batch p·v − 1 boundaries, each way


SETS = ["parallel.dp=1", "parallel.pp=4", "training.global_batch=8", "training.sequence=512", "training.zero=0",
        "scenario.check_capacity=false"]


def test_a_training_step_interleaves_its_chunks_and_keeps_its_work():
    one = run_files("tpu_v4_4x4x4", "workloads/llama3_8b_train.yaml", workload_overrides=SETS)
    two = run_files("tpu_v4_4x4x4", "workloads/llama3_8b_train.yaml", workload_overrides=[*SETS, "parallel.vp=2"])
    step = two.runs[0]
    assert sum(x.kind == "compute" for x in step.spans) == 2 * 8 * 4 * 2  # F and B × m × p × v
    assert {(x.stage, x.chunk) for x in step.spans if x.kind == "send" and x.part == "forward"} == \
        {(s, k) for s in range(4) for k in range(2)} - {(3, 1)}  # every boundary but after the last chunk
    layer = [x for x in step.pass_.segments if x.name == "layer"][0]
    assert layer.repeat == 32
    assert two.summary["flops"] == one.summary["flops"]
    assert two.summary["cycles"] < one.summary["cycles"]  # a smaller bubble
    wl = two.workload
    per_layer = sum(saved_per_layer(wl.model, wl.scenario, wl.training, wl.parallel).values())
    assert two.footprint.activations == 4 * per_layer * 11  # 4 layers a chunk × (2·3 + 4 + 1) chunks on stage 0
    assert one.footprint.activations == 8 * per_layer * 4


@pytest.mark.parametrize("sets, says", [
    (["parallel.pp=1", "parallel.vp=2"], "raise parallel.pp"),
    (["parallel.pp=4", "parallel.vp=2", "parallel.schedule=gpipe"], "interleaving runs the 1f1b schedule"),
    (["parallel.pp=4", "parallel.vp=3"], "the 32 layers must split into pp × vp = 4 × 3 = 12"),
    (["parallel.pp=4", "parallel.vp=2", "training.global_batch=6"], "to be a multiple of pp = 4"),
])
def test_impossible_splits_are_one_line_errors(sets, says):
    with pytest.raises(ConfigError) as e:
        run_files("tpu_v4_4x4x4", "workloads/llama3_8b_train.yaml",
                  workload_overrides=["parallel.dp=1", "training.global_batch=8", "training.sequence=512",
                                      "training.zero=0", "scenario.check_capacity=false", *sets])
    assert says in str(e.value) and "parallel.vp" in str(e.value) and "\n" not in str(e.value)
