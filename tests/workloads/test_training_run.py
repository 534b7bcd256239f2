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


def test_gradient_reductions_run_on_under_the_next_layer(dgx):
    """A layer's dp reductions (role grad_sync) hold only its barrier: the next layer starts when the data
    path is done, and the reductions queue behind each other, so N layers take E + (N − 1)·max(M, D)
    (one copy E, its data path M, its reductions D), bounded by both streams and by N barriers."""
    from simulator.engine.intervals import length

    t = Training(global_batch=16, micro_batch=1, sequence=256)
    total, passes, runs = step_cycles(dgx, t, Parallel(dp=8))
    sync = next(run for run, p in zip(runs, passes, strict=True) if p.part == "sync")
    seg = next(s for s in sync.segments if s.segment.name == "layer.backward")
    n, e, m = seg.repeat, seg.cycles, seg.data_ready
    d = length([(r.start, r.end) for r in seg.grad_syncs])
    assert n == TINY.layers and seg.grad_syncs and all("grad_allreduce" in r.name for r in seg.grad_syncs)
    assert 0 < m < e  # the barrier (the last op) waits for the last reduction
    assert seg.length(n) == e + (n - 1) * max(m, d)
    assert max(n * m, n * d) <= seg.length(n) < n * e
    assert sync.cycles == sum(s.length(s.repeat) for s in sync.segments)
    accumulate = next(run for run, p in zip(runs, passes, strict=True) if p.part == "accumulate")
    assert all(s.length(s.repeat) == s.repeat * s.cycles for s in accumulate.segments)  # nothing to overlap


@pytest.mark.parametrize("changes", [{}, {"reduce_dtype": "fp32"}, {"zero": 3, "reduce_dtype": "fp32"}])
def test_a_stage_split_still_adds_up_to_the_step_with_overlapped_reductions(dgx, changes):
    """Also with casts to a reduce dtype riding with the reductions under the next layer: their time hidden
    there leaves the busy parts, not the exposed communication, so no part goes below zero."""
    from simulator.results.system import SPLIT, _hidden_under_next_copy, segment_split, stage_rows

    t = Training(global_batch=16, micro_batch=1, sequence=1024, **changes)
    total, passes, runs = step_cycles(dgx, t, Parallel(dp=4, pp=2 if t.zero < 3 else 1))
    rows = stage_rows(dgx, runs, 4)
    for row in rows:
        assert sum(row[f"{k}_s"] for k in SPLIT) == pytest.approx(dgx.seconds(total), rel=1e-9)
        assert min(row[f"{k}_s"] for k in SPLIT) >= 0 and row["exposed_comm_dp_s"] >= 0
    hidden = sum(s.overlapped(s.repeat) for run in runs for s in run.segments)
    assert hidden > 0  # some of the reductions went under the next layer
    for seg in (s for run in runs for s in run.segments if s.grad_syncs):  # each segment's copies on their own
        parts = {k: v * seg.repeat for k, v in segment_split(seg).items()}
        _hidden_under_next_copy(parts, seg, seg.overlapped(seg.repeat))
        assert sum(parts[k] for k in SPLIT) == pytest.approx(seg.length(seg.repeat), rel=1e-9)
        assert min(parts[k] for k in SPLIT) >= -1e-6 * seg.length(seg.repeat), seg.segment.name


def test_a_cast_hidden_under_the_next_layer_leaves_the_busy_parts_and_its_reduction_the_exposed_part():
    """FSDP-like: each bucket's fp32 cast, then its reduce-scatter, ride under the next layer's backward. What
    the next copy hides of a copy is exactly what held its barrier back: the last bucket's cast (work) then its
    reduce-scatter (communication), so the split moves that many cycles, each from its own part."""
    import json

    from simulator.results.system import SPLIT, _hidden_under_next_copy, segment_split
    from simulator.workloads.loader import bundled_dir

    data = json.loads((bundled_dir() / "models" / "llama3_8b.json").read_text()) | {"num_hidden_layers": 3}
    m, chip = model_from_mapping(data, "llama3_8b.json", "llama3_8b"), Chip(load_chip("dgx_a100"))
    t = Training(global_batch=16, micro_batch=2, sequence=2048, zero=3, reduce_dtype="fp32")
    passes = lower_training(m, Scenario(phase="train", fused_attention=True), t, Parallel(dp=8))
    wl = LLMWorkload("train", "", m, TRAIN, "llama3_8b", Parallel(dp=8), t)
    runs = run_program(api.map_llm(chip, passes, api.placement_for(chip, wl)))
    seg = next(s for run in runs for s in run.segments if s.segment.name == "layer.backward")
    assert seg.pitch == seg.data_ready < seg.cycles  # compute-bound: the reductions hide under the next layer
    cast, reduction = (next(r for r in seg.records if r.name == f"qkv_proj.{n}") for n in ("grad_cast",
                                                                                            "grad_reducescatter"))
    final = seg.records[-1]
    assert seg.data_ready - final.cycles == cast.start and cast.end == reduction.start and reduction.end == final.start
    before = {k: v * seg.repeat for k, v in segment_split(seg).items()}
    after = dict(before)
    _hidden_under_next_copy(after, seg, seg.overlapped(seg.repeat))
    copies = seg.repeat - 1
    assert seg.overlapped(seg.repeat) == copies * (final.start - cast.start)
    assert before["exposed_comm"] - after["exposed_comm"] == pytest.approx(copies * reduction.cycles)
    assert sum(before[k] - after[k] for k in SPLIT[:3]) == pytest.approx(copies * cast.cycles)
    assert min(after[k] for k in SPLIT) >= 0


def test_a_pipeline_gradient_send_leaves_when_the_data_path_is_done(dgx):
    """The last micro-batch's backward ends with its dp reductions; the gradient for the stage before
    leaves when the stage's data path is done, `copies × data_ready` into its last backward block."""

    t = Training(global_batch=8, micro_batch=1, sequence=256)
    total, passes, runs = step_cycles(dgx, t, Parallel(dp=2, pp=2))
    pipe = next(run for run in runs if run.spans)
    sync = next(run for run, p in zip(runs, passes, strict=True) if p.part == "sync")
    seg = next(s for s in sync.segments if s.segment.name == "layer.backward" and s.stage == 1)
    last = t.global_batch // 2 - 1  # the last of the 4 micro-batches per dp replica
    compute = next(x for x in pipe.spans if x.kind == "compute" and x.stage == 1 and x.part == "backward"
                   and x.microbatch == last)
    send = next(x for x in pipe.spans if x.kind == "send" and x.part == "backward" and x.microbatch == last)
    assert compute.end - send.start == seg.length(seg.repeat) - seg.repeat * seg.data_ready > 0


def test_an_optimizer_step_runs_every_stage_at_once(dgx):
    """Each stage updates its own layers: nothing flows between them, so the optimizer pass takes its
    slowest stage's time, not the stages one after another."""
    t = Training(global_batch=8, micro_batch=1, sequence=256)
    total, passes, runs = step_cycles(dgx, t, Parallel(dp=2, pp=2))
    optimizer = runs[-1]
    per_stage = [sum(s.length(s.repeat) for s in optimizer.segments if s.stage == st) for st in (0, 1)]
    assert optimizer.cycles == max(per_stage) and min(per_stage) > 0
    assert not any(x.kind == "send" for x in optimizer.spans)


def test_without_overlap_the_reductions_wait_for_the_flush_and_move_the_same_bytes(dgx):
    """overlap_grad_reduce false (Megatron's default): no reduction in any micro-batch; the optimizer pass
    reduces every bucket first, one after another, the same bytes as the overlapped step."""
    from tests.workloads.test_training import _dp_bytes

    base = Training(global_batch=16, micro_batch=1, sequence=256)
    late = base.model_copy(update={"overlap_grad_reduce": False})
    par = Parallel(dp=8)
    _, early_passes, early_runs = step_cycles(dgx, base, par)
    total, passes, runs = step_cycles(dgx, late, par)
    assert [p.part for p in passes] == ["accumulate", "optimizer"]
    assert not any(op.role == "grad_sync" for p in passes for s in p.segments for op in s.graph.ops)
    assert _dp_bytes(passes, "all_reduce") == _dp_bytes(early_passes, "all_reduce") > 0
    layer = next(s for s in runs[-1].segments if s.segment.name == "optimizer.layer")
    reductions = [r for r in layer.records if r.type == "collective"]
    first = next(r for r in layer.records if r.type != "collective")
    assert len(reductions) == 4 and all(a.end <= b.start for a, b in zip(reductions, reductions[1:], strict=False))
    assert first.start >= reductions[-1].end and layer.data_ready == layer.cycles  # the optimizer waits
    assert total > sum(r.cycles for r in early_runs)  # nothing hidden under the backward


def test_overlap_off_with_zero_2_is_a_one_line_error():
    from simulator.errors import ConfigError
    from simulator.workloads.training import resolve_step

    with pytest.raises(ConfigError, match=r"training\.overlap_grad_reduce.*needs training\.zero ≤ 1"):
        resolve_step(TINY, TRAIN, Training(global_batch=4, zero=2, overlap_grad_reduce=False), Parallel(dp=2))
