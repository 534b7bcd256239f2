"""Parallelism in the lowering: one chip's passes conserve the single-chip work, shard weights and KV cache,
and carry the collectives Megatron-style tensor, sequence and expert parallelism need."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.dtypes import DTYPE_BITS
from simulator.ir.ops import CollectiveOp, GemmOp
from simulator.workloads.loader import bundled_dir, bundled_models
from simulator.workloads.model import load_model, model_from_mapping
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario
from simulator.workloads.transformer import expert_loads, lower, lower_pass

MODELS = bundled_dir() / "models"


def model(name, **changes):
    if not changes:
        return load_model(MODELS / f"{name}.json")
    return model_from_mapping(json.loads((MODELS / f"{name}.json").read_text()) | changes, f"{name}.json", name)


def ops(p, segment=None, kind=None):
    return [op for s in p.segments if segment in (None, s.name) for op in s.graph.ops
            if kind is None or isinstance(op, kind)]


def gemm_flops(p, groups=None, exclude=()) -> int:
    return sum(s.repeat * op.flops for s in p.segments for op in s.graph.ops if isinstance(op, GemmOp)
               and (groups is None or op.group in groups) and op.group not in exclude)


def collectives(p, segment):
    return [(op.name, op.kind, op.axis, op.bytes) for op in ops(p, segment, CollectiveOp)]


def scenarios(phase, batch):
    if phase == "prefill":
        return Scenario(phase="prefill", batch=batch, prompt=96)
    return Scenario(phase="decode", batch=batch, context=700)


# --- no parallelism -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", bundled_models())
def test_no_parallelism_is_the_single_chip_lowering(name):
    m = model(name)
    for s in (scenarios("prefill", 3), scenarios("decode", 5),
              Scenario(phase="generate", batch=2, prompt=40, output_tokens=3, fused_attention=False)):
        passes = lower(m, s)
        assert passes == lower(m, s, Parallel())
        for p in passes:
            assert not ops(p, kind=CollectiveOp)
            assert p.microbatches == 1 and p.batch == s.batch
            assert p.activation_bytes == p.tokens * m.hidden * 2
    s = Scenario(phase="prefill", batch=2, prompt=50)
    assert lower_pass(m, s, "prefill", 50, 0, unrolled=True) == lower_pass(m, s, "prefill", 50, 0, True, Parallel())


@pytest.mark.parametrize("name", ["llama3_8b", "mixtral_8x7b"])
def test_data_parallel_replicas_and_micro_batches_lower_like_a_smaller_batch(name):
    """dp adds nothing to the graph, and pipeline stages (pp) are not split into segments: one chip's pass is
    the single-chip pass of its share of the batch."""
    m = model(name)
    for phase in ("prefill", "decode"):
        alone = lower(m, scenarios(phase, 2))[0]
        split = lower(m, scenarios(phase, 16), Parallel(dp=2, pp=4, microbatches=4))[0]
        assert split.segments == alone.segments
        assert (split.weight_bytes, split.kv_read_bytes, split.kv_write_bytes) == (
            alone.weight_bytes, alone.kv_read_bytes, alone.kv_write_bytes)
        assert split.batch == 2 and split.microbatches == 4
        assert split.activation_bytes == split.tokens * m.hidden * 2  # what a stage sends the next


# --- work is conserved ----------------------------------------------------------------------------------

CONSERVED = [(name, tp, ep) for name in ("llama3_8b", "llama3_70b", "mixtral_8x7b", "gpt3_175b")
             for tp in (1, 2, 4, 8) for ep in (1, 2, 4, 8) if ep == 1 or name == "mixtral_8x7b"]


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("dp, microbatches", [(1, 1), (2, 2)])
@pytest.mark.parametrize("name, tp, ep", CONSERVED)
def test_gemm_flops_over_all_chips_equal_the_single_chip_flops(name, tp, ep, dp, microbatches, phase):
    m = model(name)
    s = scenarios(phase, 32).model_copy(update={"moe_imbalance": 1.0})
    single = lower(m, s)[0]
    par = Parallel(tp=tp, ep=ep, dp=dp, microbatches=microbatches)
    chip = lower(m, s, par)[0]
    passes_per_chip = microbatches  # one pass per micro-batch
    chips = tp * ep * dp
    # The LM head splits the vocabulary into tp shards of ceil(V/tp) rows; the last is padded (GPT-3's 50257).
    padded = math.ceil(m.vocab / tp) * tp
    lm_head = gemm_flops(single, {"lm_head"})
    assert gemm_flops(chip, {"lm_head"}) * chips * passes_per_chip == lm_head * padded // m.vocab
    # The router is replicated over the tensor-parallel chips; everything else is split.
    assert gemm_flops(chip, {"router"}) * ep * dp * passes_per_chip == gemm_flops(single, {"router"})
    rest = gemm_flops(single, exclude=("lm_head", "router"))
    assert gemm_flops(chip, exclude=("lm_head", "router")) * chips * passes_per_chip == rest


@pytest.mark.parametrize("weights", ["bf16", "int8"])
@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("name", ["llama3_8b", "llama3_70b", "mixtral_8x7b"])
@pytest.mark.parametrize("tp", [2, 4, 8])
def test_weight_bytes_per_chip_are_a_tp_shard_of_the_single_chip_bytes(name, tp, phase, weights):
    m = model(name)
    s = scenarios(phase, 16).model_copy(update={"weights": weights})
    single, chip = lower(m, s)[0], lower(m, s, Parallel(tp=tp))[0]
    router = m.layers * m.hidden * m.experts * DTYPE_BITS[weights] // 8  # replicated on every chip
    # int8's per-channel scales are left out: a row-split shard keeps a scale for every output channel
    def scales(p):
        return sum(sg.repeat * op.batch * op.b_scale_total for sg in p.segments for op in sg.graph.ops
                   if isinstance(op, GemmOp))
    assert (chip.weight_bytes - scales(chip)) * tp == single.weight_bytes - scales(single) + (tp - 1) * router


@pytest.mark.parametrize("name, tp", [("llama3_8b", 4), ("llama3_70b", 8), ("mixtral_8x7b", 2),
                                      ("gpt3_175b", 8), ("llama2_7b", 4)])
def test_weights_held_per_chip_are_a_shard_plus_what_is_replicated(name, tp):
    """Footprint weights × tp = the model + (tp − 1) × the replicated parameters + the vocabulary padding."""
    from simulator.workloads.capacity import footprint

    m = model(name)
    s = Scenario(phase="decode", batch=8, context=100)
    par = Parallel(tp=tp)
    one = footprint(m, s, lower(m, s)).weights
    per_chip = footprint(m, s, lower(m, s, par), par).weights
    norms = (2 * m.layers + 1) * m.norm_params
    row_biases = m.layers * m.hidden * (m.out_bias + m.mlp_bias)  # o_proj and down biases: added after the reduce
    positions = (m.max_positions or 0) * m.hidden if m.learned_positions else 0
    replicated = 2 * (norms + row_biases + positions) + 2 * m.layers * m.hidden * m.experts  # bf16
    padding = 2 * (math.ceil(m.vocab / tp) * tp - m.vocab) * m.hidden * (1 if m.tied_embeddings else 2)
    assert per_chip * tp == one + (tp - 1) * replicated + padding


@pytest.mark.parametrize("name, tp", [("llama3_70b", 2), ("llama3_70b", 8), ("llama2_7b", 4),
                                      ("qwen3_30b_a3b", 2), ("qwen3_30b_a3b", 4), ("qwen3_30b_a3b", 8),
                                      ("llama3_8b", 16)])
def test_kv_cache_is_split_over_kv_heads_or_replicated(name, tp):
    m = model(name)
    s = Scenario(phase="decode", batch=4, context=1000)
    single, chip = lower(m, s)[0], lower(m, s, Parallel(tp=tp))[0]
    heads = m.kv_heads // tp if m.kv_heads >= tp else 1  # fewer KV heads than chips: one each, replicated
    for field in ("kv_read_bytes", "kv_write_bytes"):
        assert getattr(chip, field) * m.kv_heads == getattr(single, field) * heads
    writes = [op for op in ops(chip, "layer") if op.name == "kv_write"]
    assert writes[0].elements == 4 * 2 * heads * m.head_dim


# --- collectives ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("activations", ["bf16", "fp8"])
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_tensor_parallel_all_reduces_twice_per_layer(phase, activations):
    m = model("llama3_8b")
    s = scenarios(phase, 8).model_copy(update={"activations": activations})
    p = lower(m, s, Parallel(tp=4))[0]
    act = DTYPE_BITS[activations] // 8
    x = p.tokens * m.hidden * act
    assert collectives(p, "layer") == [("attn_allreduce", "all_reduce", "tp", x),
                                       ("mlp_allreduce", "all_reduce", "tp", x)]
    assert collectives(p, "embedding") == [("embed_allreduce", "all_reduce", "tp", x)]
    assert collectives(p, "head") == [("logits_allgather", "all_gather", "tp", 8 * m.vocab * act)]
    names = [op.name for op in ops(p, "layer")]
    assert names.index("attn_allreduce") == names.index("o_proj") + 1
    assert names.index("mlp_allreduce") == names.index("down") + 1


@pytest.mark.parametrize("name", ["llama3_8b", "mixtral_8x7b", "gpt3_175b"])
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_sequence_parallel_swaps_each_all_reduce_for_a_reduce_scatter_and_an_all_gather(name, phase):
    m = model(name)
    s = scenarios(phase, 8)
    plain, sp = lower(m, s, Parallel(tp=4))[0], lower(m, s, Parallel(tp=4, sequence_parallel=True))[0]

    def total(p, kind):
        return sum(seg.repeat * op.bytes for seg in p.segments for op in seg.graph.ops
                   if isinstance(op, CollectiveOp) and op.kind == kind and seg.name != "head")

    assert total(sp, "all_reduce") == 0
    assert total(sp, "reduce_scatter") == total(sp, "all_gather") + sp.tokens * m.hidden * 2  # the embedding's
    assert total(sp, "reduce_scatter") == total(plain, "all_reduce")
    assert [c[:2] for c in collectives(sp, "layer")] == [
        ("attn_allgather", "all_gather"), ("attn_reducescatter", "reduce_scatter"),
        ("mlp_allgather", "all_gather"), ("mlp_reducescatter", "reduce_scatter")]
    names = [op.name for op in ops(sp, "layer")]
    assert names.index("attn_allgather") + 1 == names.index("qkv_proj")
    # Norms and residual adds run on a quarter of the tokens; the GEMMs still see all of them.
    for op in ops(sp, "layer"):
        if op.name in ("attn_norm", "mlp_norm", "attn_residual", "mlp_residual"):
            assert op.elements * 4 == sp.tokens * m.hidden
    assert {op.m for op in ops(sp, "layer", GemmOp) if op.name in ("qkv_proj", "o_proj")} == {sp.tokens}


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("tp, ep", [(1, 2), (1, 8), (2, 4), (4, 2)])
def test_expert_parallel_dispatches_and_combines_the_routed_tokens(tp, ep, phase):
    m = model("mixtral_8x7b")
    s = scenarios(phase, 16)
    p = lower(m, s, Parallel(tp=tp, ep=ep))[0]
    assert p.batch == 16 // ep
    routed = p.tokens * m.experts_per_token * m.hidden * 2
    expected = [("moe_dispatch", "all_to_all", "ep", routed), ("moe_combine", "all_to_all", "ep", routed)]
    if tp > 1:
        x = p.tokens * m.hidden * 2
        expected = [("attn_allreduce", "all_reduce", "tp", x), *expected, ("mlp_allreduce", "all_reduce", "tp", x)]
    assert collectives(p, "layer") == expected
    experts = [op for op in ops(p, "layer", GemmOp) if op.group == "experts"]
    assert sum(op.batch for op in experts) <= 2 * m.experts // ep  # the chip's experts only, gate_up and down
    assert {op.k for op in experts if op.name.endswith("down")} == {m.expert_intermediate // tp}


def test_one_chip_has_no_collectives_and_every_collective_sits_between_its_neighbours():
    m = model("qwen3_30b_a3b")
    for par in (Parallel(), Parallel(dp=2, pp=2), Parallel(tp=4, ep=4, sequence_parallel=True),
                Parallel(tp=2, ep=8, microbatches=2)):
        for p in lower(m, Scenario(phase="generate", batch=32, prompt=64, output_tokens=2), par):
            has = bool(ops(p, kind=CollectiveOp))
            assert has == (par.tp > 1 or par.ep > 1)
            for seg in p.segments:
                seen, graph = set(), seg.graph.ops
                for i, op in enumerate(graph):
                    assert set(op.deps) <= seen  # deps name earlier ops
                    seen.add(op.name)
                    if isinstance(op, CollectiveOp):
                        assert op.group == "communication"
                        assert i == 0 or op.deps
                        if i + 1 < len(graph):
                            assert op.name in graph[i + 1].deps  # the next op waits for it
                if seg.name == "layer":  # still one chain: every op is an ancestor of the last
                    deps = {op.name: op.deps for op in graph}
                    reached, todo = set(), [graph[-1].name]
                    while todo:
                        name = todo.pop()
                        if name not in reached:
                            reached.add(name)
                            todo.extend(deps[name])
                    assert reached == set(deps)


# --- expert loads on an expert-parallel chip ------------------------------------------------------------


def single_chip_expert_loads(tokens, experts, per_token, imbalance):
    """expert_loads as it was before expert parallelism (one chip holds every expert)."""
    total = tokens * per_token
    touched = round(experts * (1 - (1 - per_token / experts) ** tokens))
    used = max(per_token, min(experts, total, touched))
    mean = total / used
    hot = min(tokens, max(math.ceil(mean - 1e-9), math.ceil(imbalance * mean - 1e-9)))
    loads = {hot: 1}
    if used > 1:
        q, rem = divmod(total - hot, used - 1)
        for size, count in ((q + 1, rem), (q, used - 1 - rem)):
            if size and count:
                loads[size] = loads.get(size, 0) + count
    return sorted(((count, size) for size, count in loads.items()), key=lambda cs: -cs[1])


@settings(max_examples=300, deadline=None)
@given(tokens=st.integers(1, 3000), experts_per_chip=st.integers(1, 32), group=st.sampled_from([1, 2, 4, 8]),
       data=st.data(), imbalance=st.floats(1.0, 8.0))
def test_expert_loads_of_the_busiest_chip_of_an_expert_group(tokens, experts_per_chip, group, data, imbalance):
    experts = experts_per_chip * group
    k = data.draw(st.integers(1, experts))
    chip = expert_loads(tokens, experts, k, imbalance, group)
    assert sum(c * s for c, s in chip) == tokens * k  # its own tokens' assignments
    assert sum(c for c, _ in chip) <= experts_per_chip
    assert all(1 <= s <= tokens * group for _, s in chip)  # at most every token of the group
    # Balanced, the group's chips together carry the group's T × k assignments, and the busiest chip
    # has its share (rounded up) of the experts the group's tokens touch.
    group_loads = expert_loads(tokens * group, experts, k, 1.0)
    balanced = expert_loads(tokens, experts, k, 1.0, group)
    assert group * sum(c * s for c, s in balanced) == sum(c * s for c, s in group_loads)
    assert sum(c for c, _ in balanced) == math.ceil(sum(c for c, _ in group_loads) / group)
    assert max(s for _, s in balanced) - min(s for _, s in balanced) <= 1
    hot, mean = max(s for _, s in chip), tokens * k / sum(c for c, _ in balanced)
    assert hot >= min(imbalance * mean - 1e-6, tokens * group, tokens * k)
    if group == 1:
        assert chip == single_chip_expert_loads(tokens, experts, k, imbalance)


def test_expert_loads_examples_with_expert_parallelism():
    # Mixtral prefill, 4096 tokens per chip over 4 chips: each chip's 2 experts take its 8192 assignments.
    assert expert_loads(4096, 8, 2, 1.0, 4) == [(2, 4096)]
    # Qwen3 decode, 2 tokens per chip over 8 chips: the group's 16 tokens touch 82 of 128 experts;
    # the busiest chip has 11 of them for its 16 assignments.
    assert sum(c for c, _ in expert_loads(16, 128, 8, 1.0)) == 82
    assert sum(c for c, _ in expert_loads(2, 128, 8, 1.0, 8)) == 11
