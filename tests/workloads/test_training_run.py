"""A training step end to end: lowered, mapped (`api.map_llm`) and run (`run_program`) on one chip and on a
system, with the engine and results unchanged."""

import pytest

from simulator import api
from simulator.config.loader import load_chip
from simulator.engine.program import run_program
from simulator.hardware.chip import Chip
from simulator.workloads.loader import LLMWorkload
from simulator.workloads.model import model_from_mapping
from simulator.workloads.parallel import ONE_CHIP, Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.training import lower_training

TINY = model_from_mapping({"hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8,
                           "num_key_value_heads": 4, "intermediate_size": 1024, "vocab_size": 4096}, "tiny", "tiny")
TRAIN = Scenario(phase="train")


def step_cycles(chip, training, parallel=ONE_CHIP):
    """Cycles of the step and of its passes (each pass runs all its micro-batches: one after another on one
    chip, through the pipeline schedule on a system)."""
    passes = lower_training(TINY, TRAIN, training, parallel)
    wl = LLMWorkload("tiny_train", "", TINY, TRAIN, "tiny", parallel, training)
    program = api.map_llm(chip, passes, api.placement_for(chip, wl))
    runs = run_program(program)
    return sum(r.cycles for r in runs), passes, runs


@pytest.fixture(scope="module")
def dgx():
    return Chip(load_chip("dgx_h100"))


def test_a_step_on_one_chip_is_its_segments_times_their_repeats(h100):
    t = Training(global_batch=2, micro_batch=1, sequence=256)
    total, passes, runs = step_cycles(h100, t)
    assert [p.part for p in passes] == ["accumulate", "optimizer"] and total > 0
    for p, run in zip(passes, runs, strict=True):
        assert run.cycles == p.microbatches * sum(seg.repeat * seg.cycles for seg in run.segments)
        by = {seg.segment.name: seg for seg in run.segments}
        if p.part == "accumulate":  # the backward does twice the forward's GEMM work
            assert by["layer.backward"].cycles > by["layer"].cycles and by["layer"].repeat == TINY.layers
    optimizer = runs[-1]
    moved = sum(seg.repeat * sum(r.hbm_read + r.hbm_write for r in seg.records) for seg in optimizer.segments)
    assert moved == 32 * TINY.params()  # memory-bound AdamW: 32 bytes per parameter, all through HBM
    assert optimizer.cycles >= moved / h100.hbm.bytes_per_cycle


def test_recompute_costs_time(h100):
    t = Training(global_batch=1, sequence=512)
    none, selective, full = (step_cycles(h100, t.model_copy(update={"recompute": r}))[0]
                             for r in ("none", "selective", "full"))
    assert none < selective < full


@pytest.mark.parametrize("par, zero", [(Parallel(dp=8), 0), (Parallel(dp=4, tp=2, sequence_parallel=True), 3),
                                       (Parallel(dp=2, pp=2, tp=2), 1)])
def test_a_step_runs_on_a_system_and_its_gradients_cross_the_links(dgx, par, zero):
    t = Training(global_batch=2 * par.dp, micro_batch=1, sequence=256, zero=zero)
    total, passes, runs = step_cycles(dgx, t, par)
    assert total > 0 and runs[0].link_bytes and sum(runs[-2].link_bytes) > 0
    records = [r for seg in runs[-2].segments for r in seg.records if r.type == "collective" and "grad_" in r.name]
    assert records and all(r.link_bytes > 0 for r in records)
