"""Frontier model features, against published figures and closed forms: DeepSeek-V3's MLA, dense-then-MoE
layers, shared experts and multi-token prediction; sliding-window attention (Mistral) and alternating local and
global layers (Gemma-2, Gemma-3); soft-capping; QK-norm (OLMoE); Falcon's parallel blocks; the activation each
family reads.

Published figures: ../shared/reference/models.md (DeepSeek-V3 README_WEIGHTS.md: 671B main model, 36.7B
activated, MTP module 11.5B; Mistral-7B and Gemma-2 Hub sizes), tests/workloads/hf_configs/README.md (Falcon-40B's
checkpoint index), the OLMoE paper (Muennighoff et al. 2024, Table 1: 6.9B total, 1.3B active), DeepSeek-V2
(DeepSeek-AI 2024: V2-Lite 15.7B total, 2.4B activated)."""

import json
from dataclasses import replace

import pytest

from simulator.api import simulate_passes
from simulator.config.dtypes import nbytes
from simulator.errors import ConfigError
from simulator.ir.ops import GemmOp
from simulator.workloads.iteration import core_pass, dense_pass
from simulator.workloads.loader import bundled_dir, load_workload
from simulator.workloads.model import load_model, model_from_mapping
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.sharding import kv_bytes_per_chip, weight_bytes_per_chip
from simulator.workloads.training import resolve_step
from simulator.workloads.transformer import lower_pass

MODELS = bundled_dir() / "models"


def raw(name: str) -> dict:
    return json.loads((MODELS / f"{name}.json").read_text())


def model(name: str, **changes):
    return model_from_mapping(raw(name) | changes, f"{name}.json", name)


def gemms(p, group=None) -> list[GemmOp]:
    return [op for s in p.segments for op in s.graph.ops * s.repeat
            if isinstance(op, GemmOp) and (group is None or op.group == group)]


def flops(p, group=None) -> int:
    return sum(op.flops for op in gemms(p, group))


def segment(p, name):
    return next(s for s in p.segments if s.name == name)


# ---- parameter counts: published figures and an independent count from the raw config ----------------------

def count_from_config(c: dict) -> tuple[int, int]:
    """(total, active) parameters straight from a config.json's fields, written out per family as its HF
    modeling code builds the layers (no Tortoise code involved)."""
    h, L, V, heads = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["num_attention_heads"]
    kind = c["model_type"]
    if kind == "deepseek_v3":
        nope, rope, v, lq, lkv = (c[k] for k in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                                "q_lora_rank", "kv_lora_rank"))
        attn = h * lq + lq + lq * heads * (nope + rope) + h * (lkv + rope) + lkv + lkv * heads * (nope + v) \
            + heads * v * h
        expert = 3 * h * c["moe_intermediate_size"]
        dense = attn + 3 * h * c["intermediate_size"] + 2 * h
        moe = attn + h * c["n_routed_experts"] + c["n_shared_experts"] * expert + 2 * h
        k, E, first = c["num_experts_per_tok"], c["n_routed_experts"], c["first_k_dense_replace"]
        ends = 2 * V * h + h
        return (ends + first * dense + (L - first) * (moe + E * expert),
                ends + first * dense + (L - first) * (moe + k * expert))
    if kind in ("mistral", "gemma2"):
        d, kv = c.get("head_dim", h // heads), c["num_key_value_heads"]
        norms = (4 if kind == "gemma2" else 2) * h
        layer = h * heads * d * 2 + 2 * h * kv * d + 3 * h * c["intermediate_size"] + norms
        head = 0 if kind == "gemma2" else V * h  # Gemma ties its LM head to the embedding
        total = V * h + head + L * layer + h
        return total, total
    if kind == "falcon":  # new decoder architecture: ln_attn and ln_mlp (weights and biases), no linear biases
        d, kv = h // heads, c["num_kv_heads"]
        layer = h * (heads + 2 * kv) * d + h * h + 2 * h * 4 * h + 2 * 2 * h
        total = V * h + L * layer + 2 * h  # tied head; the final LayerNorm
        return total, total
    raise ValueError(kind)


PUBLISHED = {  # total parameters, as HF's num_parameters() counts them
    "deepseek_v3": 671e9,  # DeepSeek-V3 README_WEIGHTS.md: "671B main model" (the MTP module on top)
    "gemma2_9b": 9.24e9,  # Hub safetensors size of google/gemma-2-9b
    "mistral_7b": 7.24e9,  # Hub safetensors size of mistralai/Mistral-7B-v0.1
    # falcon-40b's pytorch_model.bin.index.json: 83,671,941,120 bytes of bf16, lm_head stored beside the tied
    # embedding it equals
    "falcon_40b": 83_671_941_120 // 2 - 65024 * 8192,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_match_the_published_figure_and_a_count_from_the_raw_config(name):
    m = load_model(MODELS / f"{name}.json")
    total, active = count_from_config(raw(name))
    assert (m.params(), m.params(active=True)) == (total, active)
    assert m.params() == pytest.approx(PUBLISHED[name], rel=0.01)


def test_deepseek_v3_is_671b_with_37b_active_and_an_11_5b_mtp_module():
    m = load_model(MODELS / "deepseek_v3.json")
    # README_WEIGHTS.md: 36.7B activated. The shapes give 37.55B with the embedding table, 36.62B without it
    # (a lookup multiplies nothing): DeepSeek's figure leaves the table out, as DeepSeek-V2-Lite's does below
    assert m.params(active=True) == pytest.approx(37.55e9, rel=0.001)
    assert m.params(active=True) - m.vocab * m.hidden == pytest.approx(36.7e9, rel=0.01)
    assert m.mtp_params() == pytest.approx(11.5e9, rel=0.01)  # "The MTP module adds 11.5B unique parameters"
    assert (m.dense_layers, m.experts, m.experts_per_token, m.shared_intermediate) == (3, 256, 8, 2048)
    assert [(g.name, g.count) for g in m.groups()] == [("layer.dense", 3), ("layer.moe", 58)]
    assert (m.expert_groups, m.groups_per_token) == (8, 4) and m.context_limit == 40 * 4096  # YaRN × 40


def test_deepseek_v2_lite_projects_q_directly_and_is_15_7b_with_2_4b_active():
    """DeepSeek-V2-Lite (q_lora_rank null: q_proj from the hidden state; 2 shared experts; 1 dense layer).
    Published (DeepSeek-V2 paper, Lite model card): 15.7B total, 2.4B activated."""
    c = {"model_type": "deepseek_v2", "hidden_size": 2048, "num_hidden_layers": 27, "num_attention_heads": 16,
         "num_key_value_heads": 16, "q_lora_rank": None, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
         "qk_nope_head_dim": 128, "v_head_dim": 128, "intermediate_size": 10944, "moe_intermediate_size": 1408,
         "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
         "vocab_size": 102400, "moe_layer_freq": 1}
    m = model_from_mapping(c, "v2_lite.json")
    assert m.params() == pytest.approx(15.7e9, rel=0.01)
    assert m.params(active=True) - m.vocab * m.hidden == pytest.approx(2.4e9, rel=0.025)  # "2.4B", rounded
    p = lower_pass(m, Scenario(phase="decode", batch=2, context=10), "decode", 1, 10)
    ops = [op.name for op in segment(p, "layer.moe").graph.ops]
    assert ops[1:4] == ["q_proj", "kv_a", "kv_a_norm"] and "q_b" not in ops


def test_olmoe_norms_all_of_q_and_k_and_is_7b_with_1b_active():
    """OLMoE-1B-7B (OlmoeConfig; the config.json's shapes): QK-norm over the whole q and k projections, not
    per head, so each layer carries q_size + kv_size norm weights."""
    c = {"model_type": "olmoe", "hidden_size": 2048, "intermediate_size": 1024, "num_hidden_layers": 16,
         "num_attention_heads": 16, "num_key_value_heads": 16, "num_experts": 64, "num_experts_per_tok": 8,
         "vocab_size": 50304, "max_position_embeddings": 4096, "tie_word_embeddings": False}
    m = model_from_mapping(c, "olmoe.json")
    per_head = model_from_mapping(c | {"model_type": "qwen3_moe", "moe_intermediate_size": 1024}, "q.json")
    assert m.params() - per_head.params() == 16 * (2048 + 2048 - 2 * 128)
    assert m.params() == pytest.approx(6.9e9, rel=0.01) and m.params(active=True) == pytest.approx(1.3e9, rel=0.02)


def test_gemma3_slides_five_layers_in_six_and_norms_each_head():
    c = {"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26,
         "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144,
         "sliding_window": 512}
    m = model_from_mapping(c, "gemma3.json")
    assert m.sliding_at == tuple(i for i in range(26) if (i + 1) % 6) and m.qk_norm and not m.qk_norm_full
    assert [(g.name, g.count, g.window) for g in m.groups()] == [("layer.sliding", 22, 512), ("layer.full", 4, None)]


# ---- MLA: the latent cache and the GEMMs of prefill and decode ------------------------------------------------

@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8"])
def test_mla_caches_the_latent_and_the_rope_key_per_token_and_layer(kv_dtype):
    m = load_model(MODELS / "deepseek_v3.json")
    per_token = m.layers * (512 + 64) * nbytes(1, kv_dtype)
    assert per_token == {"bf16": 70_272, "fp8": 35_136}[kv_dtype]  # models.md §1.2: 70,272 B at 2 bytes
    s = Scenario(phase="decode", batch=3, context=1000, kv_cache=kv_dtype)
    p = lower_pass(m, s, "decode", 1, 1000)
    assert (p.kv_read_bytes, p.kv_write_bytes) == (3 * 1000 * per_token, 3 * per_token)
    assert kv_bytes_per_chip(m, s, Parallel(), kv_dtype) == 3 * 1001 * per_token
    # one latent "KV head" for all heads: every chip of a tensor-parallel group holds it whole
    assert kv_bytes_per_chip(m, s, Parallel(tp=8), kv_dtype) == 3 * 1001 * per_token


def test_mla_decode_runs_the_absorbed_projections_and_prefill_expands_the_latent():
    m = load_model(MODELS / "deepseek_v3.json")
    H, latent, rope, nope, v = 128, 512, 64, 128, 128
    decode = lower_pass(m, Scenario(phase="decode", batch=2, context=100), "decode", 1, 100)
    shapes = {op.name: (op.m, op.n, op.k, op.batch) for op in segment(decode, "layer.moe").graph.ops
              if isinstance(op, GemmOp)}
    assert shapes["qkv_a"] == (2, 1536 + latent + rope, 7168, 1) and shapes["q_b"] == (2, H * (nope + rope), 1536, 1)
    assert shapes["q_absorb"] == (2, latent, nope, H)  # q_nope · W_UKᵀ, per head
    assert shapes["scores"] == (H, 101, latent + rope, 2)  # all heads against one latent: MQA-like
    assert shapes["values"] == (H, latent, 101, 2) and shapes["v_up"] == (2, v, latent, H)
    assert shapes["o_proj"] == (2, 7168, H * v, 1) and "kv_b" not in shapes
    # models.md §1.2: 2·128·576 + 2·128·512 = 278,528 FLOPs per cached token and layer
    assert flops(decode, "attention") - 61 * 2 * 2 * (2 * H * nope * latent) == 2 * 61 * 101 * 278_528
    prefill = lower_pass(m, Scenario(phase="prefill", batch=2, prompt=64), "prefill", 64, 0)
    shapes = {op.name: (op.m, op.n, op.k, op.batch) for op in segment(prefill, "layer.moe").graph.ops
              if isinstance(op, GemmOp)}
    assert shapes["kv_b"] == (128, H * (nope + v), latent, 1)  # every key's latent expanded once
    assert shapes["scores"] == (64, 64, nope + rope, 2 * H) and shapes["values"] == (64, v, 64, 2 * H)
    assert not {"q_absorb", "v_up"} & set(shapes)


def test_mla_decode_flops_are_two_per_active_parameter_plus_attention():
    """Absorbed decode multiplies each token by every matrix it activates once (kv_b as W_UK and W_UV)."""
    m = load_model(MODELS / "deepseek_v3.json")
    batch, context = 4, 300
    p = lower_pass(m, Scenario(phase="decode", batch=batch, context=context, moe_imbalance=1.0), "decode", 1, context)
    matrices = sum(g.count * (g.model.attention_weights + (g.model.hidden * g.model.experts + 3 * g.model.hidden * (
        8 * 2048 + 2048) if g.model.is_moe else 3 * 7168 * 18432)) for g in m.groups()) + m.vocab * m.hidden
    attention = 2 * m.layers * batch * 128 * (context + 1) * (576 + 512)
    assert flops(p) == 2 * batch * matrices + attention


def test_mla_and_shared_experts_split_under_tensor_and_expert_parallelism():
    m = load_model(MODELS / "deepseek_v3.json")
    s = Scenario(phase="decode", batch=8, context=100)
    p = lower_pass(m, s, "decode", 1, 100, parallel=Parallel(tp=8))
    shapes = {op.name: (op.m, op.n, op.k, op.batch) for op in segment(p, "layer.moe").graph.ops
              if isinstance(op, GemmOp)}
    assert shapes["qkv_a"][1] == 1536 + 576  # the down-projections are replicated
    assert shapes["q_b"][1] == 16 * 192 and shapes["q_absorb"][3] == 16 and shapes["o_proj"][2] == 16 * 128
    assert shapes["shared.gate_up"][1] == 2 * 2048 // 8 and shapes["experts.gate_up"][1] == 2 * 2048 // 8
    assert shapes["router"][1] == 256
    assert shapes.get("gate_up") is None and segment(p, "layer.dense").graph.ops  # dense layers: their own MLP
    dense = {op.name: op.n for op in segment(p, "layer.dense").graph.ops if isinstance(op, GemmOp)}
    assert dense["gate_up"] == 2 * 18432 // 8
    # expert parallel: each chip holds 32 of the 256 experts; attention, shared experts and dense layers whole
    ep = weight_bytes_per_chip(m, Parallel(ep=8), "fp8", "bf16")
    expert = 3 * 7168 * 2048
    assert weight_bytes_per_chip(m, Parallel(), "fp8", "bf16") - ep == 58 * (256 - 32) * expert
    with pytest.raises(ConfigError, match="must divide num_experts"):
        load_workload(str(bundled_dir() / "deepseek_v3_decode.yaml"), ["parallel.ep=7", "scenario.batch=7"])


def test_multi_token_prediction_is_an_option():
    plain, mtp = load_model(MODELS / "deepseek_v3.json"), model("deepseek_v3", use_mtp=True)
    s = Scenario(phase="decode", batch=2, context=10)
    p, q = lower_pass(plain, s, "decode", 1, 10), lower_pass(mtp, s, "decode", 1, 10)
    assert "mtp" not in {x.name for x in p.segments} and segment(q, "mtp").repeat == 1
    deeper = lower_pass(model("deepseek_v3", num_hidden_layers=62), s, "decode", 1, 10)  # one more MoE layer
    assert q.weight_bytes - p.weight_bytes == deeper.weight_bytes - p.weight_bytes + nbytes(2 * 7168 * 7168, "bf16")
    assert q.kv_write_bytes - p.kv_write_bytes == 2 * 576 * 2 and mtp.params() == plain.params()
    with pytest.raises(ConfigError, match="use_mtp = True: needs num_nextn_predict_layers"):
        model("deepseek_v3", use_mtp=True, num_nextn_predict_layers=0)


def test_training_refuses_what_it_does_not_lower_in_one_line():
    m = load_model(MODELS / "deepseek_v3.json")
    with pytest.raises(ConfigError) as err:
        resolve_step(m, Scenario(phase="train", batch=8, prompt=128), Training(), Parallel(), "w.yaml")
    text = str(err.value)
    assert "\n" not in text and text.startswith("w.yaml: scenario.phase = 'train': ") and "latent" in text


def test_a_training_step_mirrors_the_soft_caps_and_the_sandwich_norms():
    from simulator.workloads.training import lower_training

    m = model_from_mapping(SMALL | {"model_type": "gemma2", "head_dim": 64}, "g.json")
    names = [op.name for p in lower_training(m, Scenario(phase="train", batch=2, prompt=128), Training())
             for s in p.segments for op in s.graph.ops]
    for forward in ("softcap", "logit_softcap", "post_attn_norm", "post_mlp_norm"):
        assert names.count(forward) == 1 and names.count(f"{forward}.bwd") == 1
    assert names.count("softcap.recompute") == 1  # FlashAttention-2's backward recomputes the capped scores


# ---- sliding windows ----------------------------------------------------------------------------------------

def test_decode_kv_reads_stop_growing_at_the_window():
    m = load_model(MODELS / "mistral_7b.json")  # 4096 keys on every layer
    per_token = 32 * 2 * 8 * 128 * 2  # 131,072 B (models.md §3)
    reads = {}
    for context in (1000, 4094, 4095, 4096, 5000, 20000):
        p = lower_pass(m, Scenario(phase="decode", batch=2, context=context), "decode", 1, context)
        reads[context] = p.kv_read_bytes
        keys = {op.n for op in gemms(p) if op.name == "scores"}
        assert keys == {min(context + 1, 4096)}  # the query sees itself and at most 4095 cached tokens
    assert reads[1000] < reads[4094] < reads[4095] == reads[4096] == reads[5000] == reads[20000]
    assert reads[20000] == 2 * 4095 * per_token
    s = Scenario(phase="decode", batch=2, context=20000)
    assert kv_bytes_per_chip(m, s, Parallel(), "bf16") == 2 * 4096 * per_token  # the rolling buffer: 512 MiB


def test_gemma2_local_layers_read_the_window_and_global_layers_the_context():
    m = load_model(MODELS / "gemma2_9b.json")
    per_layer = 2 * 8 * 256 * 2  # 8,192 B per token and layer
    for context in (3000, 8000):
        p = lower_pass(m, Scenario(phase="decode", batch=3, context=context), "decode", 1, context)
        local, glob = segment(p, "layer.sliding"), segment(p, "layer.full")
        assert local.repeat == glob.repeat == 21
        keys = [{op.n for op in s.graph.ops if op.name == "scores"}.pop() for s in (local, glob)]
        assert keys == [min(context + 1, 4096), context + 1]
        assert p.kv_read_bytes == 3 * 21 * (min(context, 4095) + context) * per_layer
    s = Scenario(phase="decode", batch=1, context=8191)
    # models.md §2: at 8192 tokens the local layers' 4096-token cap cuts the cache from 2.82 to 2.11 GB
    assert kv_bytes_per_chip(m, s, Parallel(), "bf16") == 21 * (4096 + 8192) * per_layer
    assert kv_bytes_per_chip(m, s, Parallel(), "bf16") / (42 * 8192 * per_layer) == 0.75


def windowed_pairs(new: int, context: int, window: int | None, block: int, fused: bool = True) -> int:
    """Σ over query rows of the keys each is scored against, walking the blocks one by one: a fused block of r
    rows starting at query s spans min(context + s + r, window + r − 1) keys."""
    def span(rows, keys):
        return keys if window is None else min(keys, window + rows - 1)
    if new == 1 or not fused:
        return new * span(new, context + new)
    return sum(min(block, new - s) * span(min(block, new - s), context + s + min(block, new - s))
               for s in range(0, new, block))


SMALL = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
         "intermediate_size": 512, "vocab_size": 1000}


@pytest.mark.parametrize("new, context, window, fused", [
    (300, 0, 100, True), (300, 0, 1000, True), (256, 0, 64, False), (77, 500, 128, True), (1, 999, 128, True),
    (128, 0, 1, True), (200, 1000, 300, True),
])
def test_windowed_attention_flops_are_closed_form(new, context, window, fused):
    m = model_from_mapping(SMALL | {"sliding_window": window}, "small.json")
    s = Scenario(phase="prefill", batch=2, prompt=new, fused_attention=fused, attention_block=64)
    p = lower_pass(m, s, "prefill" if new > 1 else "decode", new, context)
    head_dim = 256 // 4
    assert flops(p, "attention") == 2 * 2 * 2 * 4 * 4 * head_dim * windowed_pairs(new, context, window, 64, fused)
    softmax = sum(op.elements for seg in p.segments for op in seg.graph.ops * seg.repeat if op.name == "softmax")
    assert softmax == 2 * 4 * 4 * windowed_pairs(new, context, window, 64, fused)
    full = lower_pass(model_from_mapping(SMALL, "s.json"), s, "prefill" if new > 1 else "decode", new, context)
    assert flops(p) - flops(p, "attention") == flops(full) - flops(full, "attention")  # only attention changes


def test_alternating_layers_lower_as_two_groups_and_scale_exactly(h100):
    m = model_from_mapping(SMALL | {"sliding_window": 64, "attn_logit_softcapping": 50.0,
                                    "final_logit_softcapping": 30.0,
                                    "layer_types": ["sliding_attention", "full_attention"] * 2}, "s.json")
    s = Scenario(phase="prefill", batch=2, prompt=200, context=100, attention_block=64)
    for phase, new, context in (("prefill", 200, 0), ("decode", 1, 100)):
        scaled = simulate_passes(h100, [lower_pass(m, s, phase, new, context)])[0]
        unrolled = simulate_passes(h100, [lower_pass(m, s, phase, new, context, unrolled=True)])[0]
        assert scaled.cycles == unrolled.cycles


def test_soft_capping_is_vector_work_on_every_score_and_logit():
    m = load_model(MODELS / "gemma2_9b.json")
    p = lower_pass(m, Scenario(phase="decode", batch=2, context=5000), "decode", 1, 5000)
    for s, keys in ((segment(p, "layer.sliding"), 4096), (segment(p, "layer.full"), 5001)):
        ops = {op.name: op for op in s.graph.ops}
        assert ops["softcap"].elements == ops["softmax"].elements == 2 * 16 * keys
        assert ops["softcap"].kind == "softcap" and [n for n in ops if n.startswith("post_")] == [
            "post_attn_norm", "post_mlp_norm"]  # the sandwich norms: 4 a layer
    head = {op.name: op for op in segment(p, "head").graph.ops}
    assert head["logit_softcap"].elements == 2 * 256000
    mistral = lower_pass(load_model(MODELS / "mistral_7b.json"), Scenario(phase="decode", batch=2, context=50),
                         "decode", 1, 50)
    assert not [op for s in mistral.segments for op in s.graph.ops if "softcap" in op.name]


def test_the_activation_is_read_from_the_field_each_family_reads():
    gemma = load_model(MODELS / "gemma2_9b.json")  # hidden_activation: gelu_pytorch_tanh → GeGLU
    p = lower_pass(gemma, Scenario(phase="decode", batch=2, context=10), "decode", 1, 10)
    act = next(op for op in segment(p, "layer.full").graph.ops if op.name == "act")
    assert (act.kind, act.ops_per_element, act.elements) == ("geglu", 9.0, 2 * 14336)
    opt = model_from_mapping({"model_type": "opt", "hidden_size": 256, "num_hidden_layers": 2, "ffn_dim": 1024,
                              "num_attention_heads": 4, "vocab_size": 1000}, "opt.json")
    assert opt.act_kind == "relu"  # OPTConfig's activation_function default
    assert load_model(MODELS / "llama3_8b.json").act_kind == "swiglu"
    assert load_model(MODELS / "falcon_40b.json").act_kind == "gelu"
    with pytest.raises(ConfigError) as err:
        model("gemma2_9b", hidden_activation="wiggle")
    assert str(err.value).startswith("gemma2_9b.json: hidden_activation = 'wiggle': an activation Tortoise lowers")


# ---- Falcon: KV heads and parallel blocks ------------------------------------------------------------------

def test_falcon_reduces_its_parallel_block_once_per_layer_under_tp():
    m = load_model(MODELS / "falcon_40b.json")
    assert (m.kv_heads, m.head_dim, m.parallel_block, m.layer_norms) == (8, 64, True, 2)
    p = lower_pass(m, Scenario(phase="decode", batch=8, context=100), "decode", 1, 100, parallel=Parallel(tp=8))
    ops = [op.name for op in segment(p, "layer").graph.ops]
    assert [n for n in ops if n.endswith("allreduce")] == ["mlp_allreduce"]
    assert ops.index("branch_sum") < ops.index("mlp_allreduce") and ops.count("attn_norm") == ops.count("mlp_norm")
    qkv = next(op for op in segment(p, "layer").graph.ops if op.name == "qkv_proj")
    assert qkv.n == (128 + 2 * 8) * 64 // 8  # 16 query heads and one KV head per chip
    seven = load_model(bundled_dir().parent / "tests/workloads/hf_configs/falcon_7b.json")
    one = [op.name for op in segment(lower_pass(seven, Scenario(phase="decode", batch=1, context=9), "decode", 1, 9),
                                     "layer").graph.ops]
    assert "mlp_norm" not in one and seven.layer_norms == 1  # one input_layernorm for both branches


# ---- serving: the window in the paged cache and the iteration's parts ----------------------------------------

def test_the_paged_cache_holds_a_window_per_sliding_layer():
    from simulator.serving.kv import KVLayout, _shares

    gemma, mistral = load_model(MODELS / "gemma2_9b.json"), load_model(MODELS / "mistral_7b.json")
    shares, per_token = _shares(gemma, Parallel(), "bf16", None)
    assert shares == ((1, 4096), (1, None)) and per_token == 21 * 8192  # 21 layers a share
    layout = KVLayout(16, per_token * 16, 1000, 0, 0, shares)
    assert layout.blocks_for(100) == 2 * 7 and layout.blocks_for(8000) == 257 + 500  # ⌈4095/16⌉ + 1 = 257
    shares, per_token = _shares(mistral, Parallel(), "bf16", None)
    layout = KVLayout(16, per_token * 16, 1000, 0, 0, shares)
    assert shares == ((1, 4096),) and [layout.blocks_for(t) for t in (4096, 4112, 50_000)] == [256, 257, 257]
    llama = load_model(MODELS / "llama3_8b.json")
    assert _shares(llama, Parallel(), "bf16", None) == (((1, None),), 32 * 2 * 8 * 128 * 2)


def test_an_iterations_parts_add_up_to_the_pass_with_windows_and_mla(h100):
    """The serving loop's split (body, head, attention core) takes exactly the pass's cycles."""
    gemma = model_from_mapping(SMALL | {"model_type": "gemma2", "sliding_window": 64, "head_dim": 64}, "g.json")
    mla = replace(load_model(MODELS / "deepseek_v3.json"), layers=4, dense_layers=1, hidden=512,
                  intermediate=1024, expert_intermediate=128, shared_intermediate=128, experts=16, vocab=1000,
                  mtp_layers=1)  # with a multi-token prediction module
    for m in (gemma, mla):
        for phase, new, context in (("prefill", 96, 0), ("decode", 1, 300)):
            s = Scenario(phase=phase, batch=1, prompt=max(new, 2), context=context, attention_block=64)
            whole = simulate_passes(h100, [lower_pass(m, s, phase, new, context)])[0].cycles
            parts = [dense_pass(m, s, Parallel(), new, 0), dense_pass(m, s, Parallel(), 0, 1),
                     core_pass(m, s, Parallel(), 1, new, context)]
            assert sum(r.cycles for r in simulate_passes(h100, parts)) == whole, (m.name, phase)


def test_bundled_workloads_run():
    w = load_workload(str(bundled_dir() / "gemma2_9b_decode.yaml"))
    assert w.scenario.context == 8000 and w.model.sliding_layers == 21
    d = load_workload(str(bundled_dir() / "deepseek_v3_decode.yaml"))
    assert d.parallel.ep == 8 and d.model.mla  # each chip caches the fp8 latent of its own 64 / 8 sequences
    assert kv_bytes_per_chip(d.model, d.scenario, d.parallel, "fp8") == 64 // 8 * 4097 * 61 * 576
