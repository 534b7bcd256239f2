"""Lowering of a training step: FLOPs against closed forms (backward = 2 × forward per GEMM, recompute adds
exactly one forward or the attention core), conservation over every split, the gradient and parameter
collectives of data parallelism and ZeRO, tensor parallelism mirrored in the backward, and the structure
that makes one simulated layer × layers exact."""

import itertools
import json

import pytest

from simulator.config.dtypes import nbytes
from simulator.errors import ConfigError
from simulator.ir.ops import ROLES, CollectiveOp, GemmOp
from simulator.mapping.placement import Placement
from simulator.mapping.program import stage_segments
from simulator.workloads.loader import bundled_dir
from simulator.workloads.model import model_from_mapping
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.sharding import local_model
from simulator.workloads.training import (
    end_buckets,
    hardware_flops,
    layer_buckets,
    lower_training,
    matmul_params,
    model_flops,
    params_per_chip,
)
from simulator.workloads.transformer import lower

MODELS = bundled_dir() / "models"
ALL = ["llama3_8b", "mixtral_8x7b", "qwen3_30b_a3b", "gpt3_175b"]
TRAIN = Scenario(phase="train")


def model(name, **changes):
    data = json.loads((MODELS / f"{name}.json").read_text()) | changes
    return model_from_mapping(data, f"{name}.json", name)


def step(**fields) -> Training:
    return Training(**({"global_batch": 8, "micro_batch": 2, "sequence": 512} | fields))


def segment(passes, name, part="sync"):
    p = next(p for p in passes if p.part == part or part == "any")
    return next(s for s in p.segments if s.name == name)


def flops(seg, roles=("forward", "backward", "recompute")) -> int:
    return sum(op.flops for op in seg.graph.ops if isinstance(op, GemmOp) and op.role in roles)


def total_flops(passes, roles=ROLES) -> int:
    """One chip's GEMM FLOPs of the whole step, every layer (all pipeline stages' share)."""
    return sum(p.microbatches * s.repeat * op.flops for p in passes for s in p.segments for op in s.graph.ops
               if op.role in roles)


def comm(seg, axis=None, kind=None) -> list[CollectiveOp]:
    return [op for op in seg.graph.ops if isinstance(op, CollectiveOp) and axis in (None, op.axis)
            and kind in (None, op.kind)]


# --- FLOPs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("par", [Parallel(), Parallel(tp=2, sequence_parallel=True)], ids=["1", "tp2sp"])
def test_backward_gemm_flops_are_twice_the_forward_per_layer_and_per_step(name, fused, par):
    m = model(name)
    passes = lower_training(m, TRAIN.model_copy(update={"fused_attention": fused}), step(recompute="full"), par)
    for forward, backward in (("layer", "layer.backward"), ("head", "head.backward")):
        fwd, bwd = segment(passes, forward, "any"), segment(passes, backward, "any")
        assert flops(fwd) > 0 and flops(bwd, ("backward",)) == 2 * flops(fwd)
    assert total_flops(passes, ("forward", "backward")) == 3 * total_flops(passes, ("forward",))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("fused", [True, False])
def test_recompute_adds_exactly_one_forward_or_the_attention_core(name, fused):
    m, s = model(name), TRAIN.model_copy(update={"fused_attention": fused})
    recomputed = {mode: flops(segment(lower_training(m, s, step(recompute=mode)), "layer.backward", "any"),
                              ("recompute",)) for mode in ("none", "selective", "full")}
    layer = segment(lower_training(m, s, step()), "layer", "any")
    core = sum(op.flops for op in layer.graph.ops if op.group == "attention" and isinstance(op, GemmOp))
    scores = sum(op.flops for op in layer.graph.ops if op.name.startswith("scores"))
    # FlashAttention-2's backward recomputes the scores (half the core) inside its kernel; unfused keeps P.
    assert recomputed["none"] == (scores if fused else 0) and 2 * scores == core
    assert recomputed["selective"] - recomputed["none"] == core
    assert recomputed["full"] - recomputed["none"] == flops(layer)


CASES = [("llama3_8b", Parallel()), ("llama3_8b", Parallel(tp=4, dp=2, sequence_parallel=True)),
         ("llama3_8b", Parallel(pp=2, dp=2)), ("gpt3_175b", Parallel(tp=8)),  # 50257 rows: a padded last shard
         ("mixtral_8x7b", Parallel(tp=2, ep=4)), ("qwen3_30b_a3b", Parallel(ep=2, dp=2, pp=2))]


@pytest.mark.parametrize("name, par", CASES)
@pytest.mark.parametrize("recompute", ["none", "selective", "full"])
@pytest.mark.parametrize("fused", [True, False])
def test_lowered_flops_over_all_chips_equal_hardware_flops(name, par, recompute, fused):
    m, s = model(name), TRAIN.model_copy(update={"fused_attention": fused})
    t = step(recompute=recompute, global_batch=16)
    chips_per_copy = par.tp * par.ep * par.dp  # the pass lists every layer: all stages of one replica chip
    assert total_flops(lower_training(m, s, t, par)) * chips_per_copy == hardware_flops(m, s, t, par)


def test_model_flops_are_6N_plus_the_attention_term():
    """N is every matrix a token multiplies by: for Llama-3-8B all parameters but the embedding table and
    the norms; attention is 12·L·H·d·s per token over the whole s × s square, half of it causal."""
    m, t = model("llama3_8b"), step()
    assert matmul_params(m) == m.params() - m.vocab * m.hidden - (2 * m.layers + 1) * m.hidden
    tokens, s = 8 * 512, 512
    full = 6 * matmul_params(m) * tokens + 12 * m.layers * m.heads * m.head_dim * s * tokens
    assert model_flops(m, TRAIN, t, causal=False) == full
    assert model_flops(m, TRAIN, t) == full - 6 * m.layers * m.heads * m.head_dim * s * tokens


@pytest.mark.parametrize("name", ["llama3_8b", "mixtral_8x7b", "gpt3_175b"])
def test_model_flops_are_the_unfused_forward_and_backward_and_never_exceed_the_hardware_flops(name):
    m, t = model(name), step()
    unfused = TRAIN.model_copy(update={"fused_attention": False, "moe_imbalance": 1.0})
    assert total_flops(lower_training(m, unfused, t), ("forward", "backward")) == model_flops(
        m, unfused, t, causal=False)  # one chip: no vocabulary padding
    for mode in ("none", "selective", "full"):  # causal blocks include the diagonal's masked half
        tr = step(recompute=mode)
        assert model_flops(m, TRAIN, tr) <= total_flops(lower_training(m, TRAIN, tr), ("forward", "backward"))
        assert model_flops(m, TRAIN, tr) < hardware_flops(m, TRAIN, tr)


def _stage_flops(passes, par) -> list[int]:
    placement = Placement(None, par)  # stage_segments reads only the plan
    return [sum(p.microbatches * n * op.flops for p in passes for seg, n in stage_segments(p.segments, st, placement)
                for op in seg.graph.ops) for st in range(par.pp)]


@pytest.mark.parametrize("tp, dp, pp, sp", [(tp, dp, pp, sp) for tp, dp, pp, sp in
                                            itertools.product((1, 2, 4, 8), (1, 2, 4), (1, 2, 4), (False, True))
                                            if tp * dp * pp <= 32 and (tp > 1 or not sp)])
def test_total_flops_over_chips_are_the_same_for_every_split(tp, dp, pp, sp):
    m, t = model("llama3_8b"), step(global_batch=16, micro_batch=1)
    one = total_flops(lower_training(m, TRAIN, t))
    par = Parallel(tp=tp, dp=dp, pp=pp, sequence_parallel=sp)
    per_stage = _stage_flops(lower_training(m, TRAIN, t, par), par)
    assert sum(per_stage) * tp * dp == one and all(f > 0 for f in per_stage)


# --- data parallel and ZeRO ------------------------------------------------------------------------------


def _dp_bytes(passes, kind, part=None) -> int:
    return sum(p.microbatches * s.repeat * op.bytes for p in passes if part in (None, p.part) for s in p.segments
               for op in s.graph.ops if isinstance(op, CollectiveOp) and op.axis == "dp" and op.kind == kind)


@pytest.mark.parametrize("name", ["llama3_8b", "gpt3_175b", "qwen3_30b_a3b"])
@pytest.mark.parametrize("grad", ["bf16", "fp32"])
@pytest.mark.parametrize("tp", [1, 4])
def test_dp_gradient_all_reduce_moves_the_chips_gradient_bytes_once_per_step(name, grad, tp):
    m, par = model(name), Parallel(dp=4, tp=tp)
    passes = lower_training(m, TRAIN, step(global_batch=32, micro_batch=2, grad_dtype=grad), par)
    assert [p.part for p in passes] == ["accumulate", "sync", "optimizer"] and passes[0].microbatches == 3
    assert _dp_bytes(passes, "all_reduce", "accumulate") == 0  # gradients accumulate locally until the last
    assert _dp_bytes(passes, "all_reduce") == nbytes(params_per_chip(m, par), grad) > 0
    assert not _dp_bytes(passes, "reduce_scatter") and not _dp_bytes(passes, "all_gather")


def test_each_stage_reduces_its_own_gradients():
    m, par = model("llama3_8b"), Parallel(dp=2, pp=2)
    passes = lower_training(m, TRAIN, step(), par)
    sync = next(p for p in passes if p.part == "sync")
    placement = Placement(None, par)
    layer = sum(b.params for b in layer_buckets(m, par).values())
    ends = end_buckets(m, par)
    want = [16 * layer + ends["embedding"].params, 16 * layer + ends["head"].params]
    for stage in range(2):
        got = sum(n * op.bytes for s, n in stage_segments(sync.segments, stage, placement)
                  for op in comm(s, "dp", "all_reduce"))
        assert got == nbytes(want[stage], "bf16")


def test_gradient_buckets_hold_every_parameter_once():
    for name, par in [("llama3_8b", Parallel()), ("gpt3_175b", Parallel(tp=8)), ("qwen3_30b_a3b", Parallel(ep=4)),
                      ("mixtral_8x7b", Parallel(tp=2, ep=2))]:
        m = model(name)
        held = m.experts // par.ep if m.is_moe else None
        assert sum(b.params for b in layer_buckets(m, par).values()) == local_model(m, par).layer_params(held=held)
    m = model("llama3_8b")
    assert params_per_chip(m) == m.params()


@pytest.mark.parametrize("zero", [1, 2, 3])
def test_zero_reduce_scatters_gradients_and_gathers_parameters(zero):
    m, par, t = model("llama3_8b"), Parallel(dp=4), step(global_batch=32, micro_batch=2, zero=zero)
    passes = lower_training(m, TRAIN, t, par)
    grads = weights = nbytes(params_per_chip(m, par), "bf16")  # bf16 gradients and weights
    micro = 4  # micro-batches per chip
    assert not _dp_bytes(passes, "all_reduce")
    # ZeRO-1 keeps whole gradients until the last micro-batch; ZeRO-2/3 keep only their shard, so they
    # reduce-scatter every micro-batch.
    assert _dp_bytes(passes, "reduce_scatter") == grads * (1 if zero == 1 else micro)
    gathered = _dp_bytes(passes, "all_gather", "optimizer")
    assert gathered == (weights if zero < 3 else 0)  # ZeRO-3's parameters stay sharded
    if zero == 3:  # every parameter gathered before its forward; all but the embedding before the backward
        embedding = nbytes(end_buckets(m, par)["embedding"].params, "bf16")
        assert _dp_bytes(passes, "all_gather") == micro * (2 * weights - embedding)
        layer = segment(passes, "layer")
        assert [op.name for op in comm(layer, "dp")] == [f"{b}.params_allgather" for b in layer_buckets(m, par)]
        qkv = next(op for op in layer.graph.ops if op.name == "qkv_proj")
        assert "qkv_proj.params_allgather" in qkv.deps
    else:
        assert _dp_bytes(passes, "all_gather") == gathered


@pytest.mark.parametrize("grad, reduce", [("bf16", "fp32"), ("fp32", "bf16")])
def test_a_reduce_dtype_casts_each_bucket_and_reduces_at_its_width(grad, reduce):
    """FSDP's MixedPrecision reduce_dtype: each bucket's gradients cast from the buffers' dtype (one read at
    grad_dtype, one write at reduce_dtype per parameter), then reduce-scattered at reduce_dtype; the optimizer
    reads the reduced shard at reduce_dtype and zeroes it there."""
    m, par, micro = model("llama3_8b"), Parallel(dp=4), 4
    t = step(global_batch=32, micro_batch=2, zero=3, grad_dtype=grad, reduce_dtype=reduce)
    passes = lower_training(m, TRAIN, t, par)
    params = params_per_chip(m, par)
    assert _dp_bytes(passes, "reduce_scatter") == micro * nbytes(params, reduce)
    casts = [(p.microbatches * s.repeat, op) for p in passes for s in p.segments for op in s.graph.ops
             if op.name.endswith("grad_cast")]
    assert sum(n * op.elements for n, op in casts) == micro * params
    assert sum(n * op.min_read_bytes for n, op in casts) == micro * nbytes(params, grad)
    assert sum(n * op.min_write_bytes for n, op in casts) == micro * nbytes(params, reduce)
    for _, op in casts:  # beside the ops after it, before its reduction
        reduction = next(o for p in passes for s in p.segments for o in s.graph.ops
                         if o.name == op.name.replace("grad_cast", "grad_reducescatter"))
        assert reduction.deps == (op.name,) and op.role == reduction.role == "grad_sync"
    opt = passes[-1]
    norm = sum(s.repeat * op.min_read_bytes for s in opt.segments for op in s.graph.ops if op.name == "grad_norm")
    assert norm == pytest.approx(nbytes(params / 4, reduce), rel=1e-6)
    plain = lower_training(m, TRAIN, step(global_batch=32, micro_batch=2, zero=3, grad_dtype=grad), par)
    assert not any(op.name.endswith("grad_cast") for p in plain for s in p.segments for op in s.graph.ops)


def test_optimizer_moves_what_adamw_reads_and_writes():
    """Per parameter: the gradient twice (its norm, then the update: 2 + 2 B), master weights and two
    moments read and written (12 + 12 B), the bf16 weights written (2 B), the gradient zeroed (2 B)."""
    m = model("llama3_8b")
    for t, per in [(step(), 32), (step(grad_dtype="fp32"), 38), (step(optimizer="sgd"), 24)]:
        opt = lower_training(m, TRAIN, t)[-1]
        moved = sum(s.repeat * (op.min_read_bytes + op.min_write_bytes) for s in opt.segments for op in s.graph.ops)
        assert opt.part == "optimizer" and moved == per * m.params()
    sharded = lower_training(m, TRAIN, step(zero=1, global_batch=16), Parallel(dp=8))[-1]
    update = sum(s.repeat * op.elements for s in sharded.segments for op in s.graph.ops if op.name == "adamw")
    assert m.params() / 8 <= update < m.params() / 8 + 34  # a 1/dp shard, rounded up per segment


# --- tensor, sequence and expert parallel ----------------------------------------------------------------


@pytest.mark.parametrize("sp", [False, True])
def test_tensor_parallel_backward_mirrors_the_forward(sp):
    m, par = model("llama3_8b"), Parallel(tp=4, sequence_parallel=sp)
    passes = lower_training(m, TRAIN, step(), par)
    fwd, bwd = segment(passes, "layer", "any"), segment(passes, "layer.backward", "any")
    hidden = nbytes(2 * 512 * m.hidden, "bf16")
    kinds = lambda seg: sorted((op.kind, op.bytes) for op in comm(seg, "tp"))  # noqa: E731
    if not sp:  # Megatron's f and g: two all-reduces forward, two backward
        assert kinds(fwd) == kinds(bwd) == [("all_reduce", hidden)] * 2
    else:  # the mirror of each all-gather / reduce-scatter, and each column-parallel input gathered again
        assert kinds(fwd) == [("all_gather", hidden)] * 2 + [("reduce_scatter", hidden)] * 2
        assert kinds(bwd) == [("all_gather", hidden)] * 4 + [("reduce_scatter", hidden)] * 2
    dgrad = next(op for op in bwd.graph.ops if op.name == "qkv_proj.dgrad")
    reduce = next(op for op in comm(bwd, "tp") if op.name.startswith("qkv_proj.dgrad_"))
    wgrad = next(op for op in bwd.graph.ops if op.name == "qkv_proj.wgrad")
    assert reduce.deps == (dgrad.name,) and reduce.name not in wgrad.deps  # the reduction overlaps the wgrad


def test_expert_parallel_backward_mirrors_the_all_to_alls_and_reduces_replicated_gradients_over_ep():
    m, par = model("mixtral_8x7b"), Parallel(ep=4, dp=2)
    passes = lower_training(m, TRAIN, step(global_batch=16, micro_batch=1), par)
    fwd, bwd = segment(passes, "layer"), segment(passes, "layer.backward")
    assert sorted(op.bytes for op in comm(fwd, "ep")) == sorted(op.bytes for op in comm(bwd, "ep", "all_to_all"))
    buckets = layer_buckets(m, par)
    dense = sum(b.params - b.experts for b in buckets.values())
    assert sum(op.bytes for op in comm(bwd, "ep", "all_reduce")) == nbytes(dense, "bf16")
    assert sum(op.bytes for op in comm(bwd, "dp")) == nbytes(sum(b.params for b in buckets.values()), "bf16")


# --- structure ---------------------------------------------------------------------------------------------


SHAPES = [("llama3_8b", Parallel(), step()), ("gpt3_175b", Parallel(tp=2, dp=2, sequence_parallel=True), step()),
          ("mixtral_8x7b", Parallel(tp=2, ep=2, dp=2, sequence_parallel=True), step(global_batch=16, zero=3)),
          ("qwen3_30b_a3b", Parallel(dp=2, pp=2), step(zero=3, recompute="full")),
          ("llama3_8b", Parallel(dp=2, tp=2), step(zero=3, recompute="selective"))]


@pytest.mark.parametrize("name, par, t", SHAPES)
@pytest.mark.parametrize("fused", [True, False])
def test_every_op_of_a_segment_feeds_its_last_op(name, par, t, fused):
    """What makes one simulated copy × repeat exact: the engine is idle at each segment's boundary."""
    s = TRAIN.model_copy(update={"fused_attention": fused})
    for p in lower_training(model(name), s, t, par):
        for seg in p.segments:
            ancestors: dict[str, set] = {}
            for op in seg.graph.ops:
                assert op.name not in ancestors and all(d in ancestors for d in op.deps), (seg.name, op.name)
                ancestors[op.name] = set(op.deps).union(*(ancestors[d] for d in op.deps))
            assert set(ancestors) - {seg.graph.ops[-1].name} <= ancestors[seg.graph.ops[-1].name], seg.name


def test_roles_directions_and_placement():
    m = model("llama3_8b")
    passes = lower_training(m, TRAIN, step(recompute="full"), Parallel(dp=2))
    assert [p.phase for p in passes] == ["train", "train", "optimizer"]
    for p in passes:
        for seg in p.segments:
            roles = {op.role for op in seg.graph.ops}
            allowed = {"forward": {"forward"}, "backward": {"backward", "recompute", "grad_sync"},
                       "optimizer": {"optimizer"}}
            assert roles <= allowed[seg.direction], (seg.name, roles)
            syncs = {op.name for op in seg.graph.ops if op.role == "grad_sync"}
            assert syncs == {op.name for op in seg.graph.ops if ".grad_allreduce" in op.name}, seg.name
            assert not any(set(op.deps) & syncs for op in seg.graph.ops[:-1]), seg.name  # only the barrier waits
            assert seg.place == ("first" if "embedding" in seg.name else "last" if "head" in seg.name else "spread")
            assert seg.repeat == (m.layers if seg.place == "spread" else 1)
    assert not any(op.role for p in lower(m, Scenario(phase="prefill", prompt=64)) for s in p.segments
                   for op in s.graph.ops)  # inference ops carry no role


def test_weight_gradients_accumulate_into_the_gradient_buffer():
    """Each wgrad (k×n×m of its forward GEMM) writes the gradient dtype and reads the buffer it adds into."""
    m = model("llama3_8b")
    bwd = segment(lower_training(m, TRAIN, step(grad_dtype="fp32")), "layer.backward", "any")
    ops = {op.name: op for op in bwd.graph.ops}
    fwd = {op.name: op for op in segment(lower_training(m, TRAIN, step()), "layer", "any").graph.ops}
    for name in ("qkv_proj", "o_proj", "gate_up", "down"):
        f, d, w, acc = fwd[name], ops[f"{name}.dgrad"], ops[f"{name}.wgrad"], ops[f"{name}.grad_acc"]
        assert (d.m, d.n, d.k) == (f.m, f.k, f.n) and (w.m, w.n, w.k) == (f.k, f.n, f.m)
        assert w.out_dtype == "fp32" and acc.dtype == "fp32" and acc.elements == f.k * f.n
        assert acc.min_read_bytes == 4 * f.k * f.n and acc.min_write_bytes == 0


def test_micro_batches_and_sequence_come_from_the_training_section():
    m = model("llama3_8b")
    passes = lower_training(m, TRAIN, step(global_batch=64, micro_batch=2, sequence=1024), Parallel(dp=4))
    assert (passes[0].batch, passes[0].new_tokens, passes[0].microbatches) == (2, 1024, 7)
    assert passes[1].microbatches == 1 and passes[0].activation_bytes == nbytes(2 * 1024 * m.hidden, "bf16")
    defaults = lower_training(m, Scenario(phase="train", batch=4, prompt=256), Training())
    assert (defaults[0].batch, defaults[0].new_tokens, defaults[0].microbatches) == (1, 256, 4)


def test_inference_lowering_refuses_a_training_step():
    with pytest.raises(ConfigError) as err:
        lower(model("llama3_8b"), TRAIN)
    assert "\n" not in str(err.value) and "lower_training" in str(err.value)


def test_a_tied_embedding_split_over_the_pipeline_reduces_its_two_copies_before_the_optimizer():
    """GPT-3's table is the first stage's embedding and the last stage's head: their gradients are
    all-reduced over the pair (Megatron's embedding group) before the optimizer; with one stage, or untied
    weights, there is nothing to do."""
    from simulator.workloads.training import end_buckets

    m = model("gpt3_175b")
    assert m.tied_embeddings
    par = Parallel(pp=4, tp=2, dp=2)
    t = step(global_batch=16, micro_batch=1)
    opt = segment(lower_training(m, TRAIN, t, par), "optimizer.embedding", "optimizer")
    tied = [op for op in opt.graph.ops if isinstance(op, CollectiveOp) and op.axis == "embedding"]
    assert [(op.kind, op.bytes) for op in tied] == [("all_reduce", nbytes(end_buckets(m, par)["embedding"].params,
                                                                          t.grad_dtype))]
    assert opt.graph.ops[0] is tied[0] and tied[0].name in opt.graph.ops[1].deps  # the optimizer waits for it
    assert Parallel(pp=4, tp=2).groups("embedding", dp=0) == [[0, 6], [1, 7]]  # stage 0's chip, stage 3's
    for other, plan in ((m, Parallel(pp=1, tp=2, dp=2)), (model("llama3_8b"), par)):
        opt = segment(lower_training(other, TRAIN, t, plan), "optimizer.embedding", "optimizer")
        assert not any(getattr(op, "axis", "") == "embedding" for op in opt.graph.ops)


@pytest.mark.parametrize("block", [64, 128, 512])
def test_fused_backward_writes_dk_and_dv_once_whatever_the_query_blocks(block):
    """FlashAttention-2's backward adds each key block's dK and dV over the query blocks in its accumulators
    and writes them once: per layer exactly K and V's elements (2 · micro-batch · sequence · kv heads · head
    dim) at the activation dtype, however finely the lowering splits the causal triangle."""
    m, t = model("llama3_8b"), step(sequence=4096, recompute="full")
    s = TRAIN.model_copy(update={"fused_attention": True, "attention_block": block})
    passes = lower_training(m, s, t, Parallel())
    ops = [op for p in passes for g in p.segments if g.name == "layer.backward" for op in g.graph.ops
           if op.role == "backward"]
    products = [op for op in ops if op.name.split(".")[-1] in ("dk", "dv")]
    assert len(products) >= 2 and all(op.min_write_bytes == 0 for op in products)
    post = next(op for op in ops if op.name == "attention.bwd_post")
    kv = 2 * t.micro_batch * t.sequence * m.kv_heads * m.head_dim
    assert post.min_write_bytes == nbytes(kv, s.activations) and post.min_read_bytes == 0


def test_a_fused_steps_transient_buffers_grow_with_the_tokens_not_the_causal_triangle():
    """Fused, nothing score-sized leaves the kernel: the largest transient op at 16k tokens holds exactly
    twice what it holds at 8k (it was the dK/dV partials of every query block, ~sequence/256 times K and V)."""
    from simulator.workloads.capacity import _transient_bytes

    m, s = model("llama3_8b"), TRAIN.model_copy(update={"fused_attention": True})
    biggest = {}
    for seq in (8192, 16384):
        passes = lower_training(m, s, step(micro_batch=1, global_batch=1, sequence=seq, recompute="full"), Parallel())
        biggest[seq] = max(_transient_bytes(op) for p in passes for g in p.segments for op in g.graph.ops)
    assert biggest[16384] == 2 * biggest[8192]
