"""Lowering: exact FLOP and byte counts against closed forms, GQA/MoE equivalences, exact layer scaling."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import simulate_passes
from simulator.config.dtypes import DTYPE_BITS
from simulator.ir.ops import GemmOp
from simulator.workloads.loader import bundled_dir
from simulator.workloads.model import model_from_mapping
from simulator.workloads.scenario import Scenario
from simulator.workloads.transformer import expert_loads, lower, lower_pass

MODELS = bundled_dir() / "models"
ALL = ["llama2_7b", "llama3_8b", "llama3_70b", "mixtral_8x7b", "gpt3_175b", "qwen3_30b_a3b"]


def model(name, **changes):
    data = json.loads((MODELS / f"{name}.json").read_text()) | changes
    return model_from_mapping(data, f"{name}.json", name)


def gemm_flops(p, group=None) -> int:
    return sum(s.repeat * op.flops for s in p.segments for op in s.graph.ops
               if isinstance(op, GemmOp) and (group is None or op.group == group))


def queries_times_keys(scenario: Scenario, new: int, context: int) -> int:
    """Σ over query rows of the keys each is scored against, walking the blocks one by one."""
    if new == 1 or not scenario.fused_attention:
        return new * (context + new)
    block, total = min(scenario.attention_block, new), 0
    for start in range(0, new, block):
        rows = min(block, new - start)
        if rows == block:
            total += rows * (context + start + rows)
        else:
            total += rows * (context + new)
    return total


def dense_flops_per_token(m) -> int:
    """2 × the linear weights one token multiplies by, per layer (router and top-k experts for an MoE)."""
    h, mats = m.hidden, 3 if m.gated_mlp else 2
    attention = h * (m.q_size + 2 * m.kv_size) + m.q_size * h
    if m.is_moe:
        ffn = h * m.experts * (m.experts > 1) + m.experts_per_token * mats * h * m.expert_intermediate
        ffn += mats * h * m.shared_intermediate
    else:
        ffn = mats * h * m.intermediate
    return 2 * m.layers * (attention + ffn)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("phase, new, context, fused", [
    ("prefill", 300, 0, True), ("prefill", 256, 0, False), ("prefill", 77, 0, True), ("decode", 1, 1000, True),
])
def test_flops_are_two_times_parameters_times_tokens_plus_attention(name, phase, new, context, fused):
    m = model(name)
    s = Scenario(phase=phase, batch=3, prompt=max(new, 1), context=context, fused_attention=fused)
    p = lower_pass(m, s, phase, new, context)
    tokens = 3 * new
    attention = 2 * 2 * 3 * m.layers * m.heads * m.head_dim * queries_times_keys(s, new, context)  # QKᵀ, P·V
    lm_head = 2 * 3 * m.vocab * m.hidden  # logits of each sequence's last position
    assert gemm_flops(p) == dense_flops_per_token(m) * tokens + attention + lm_head


@pytest.mark.parametrize("name", ["llama2_7b", "llama3_8b", "llama3_70b"])
def test_dense_decode_flops_are_exactly_two_params_per_token(name):
    """For an untied dense model in decode, every parameter but the input embedding and norms is one MAC per token."""
    m = model(name)
    s = Scenario(phase="decode", batch=5, context=0)
    p = lower(m, s)[0]
    non_matmul = m.vocab * m.hidden + (2 * m.layers + 1) * m.hidden
    attention = gemm_flops(p, "attention")
    assert gemm_flops(p) - attention == 2 * (m.params() - non_matmul) * 5


@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8", "int4"])
@pytest.mark.parametrize("name", ["llama2_7b", "llama3_70b", "qwen3_30b_a3b"])
def test_kv_cache_bytes(name, kv_dtype):
    m = model(name)
    s = Scenario(phase="decode", batch=6, context=1234, kv_cache=kv_dtype)
    p = lower(m, s)[0]
    per_element = DTYPE_BITS[kv_dtype] / 8
    assert p.kv_read_bytes == 2 * m.layers * m.kv_heads * m.head_dim * 1234 * 6 * per_element
    assert p.kv_write_bytes == 2 * m.layers * m.kv_heads * m.head_dim * 1 * 6 * per_element


def test_gqa_with_as_many_kv_heads_as_heads_is_mha(h100):
    mha = model("llama2_7b")
    spelled = model("llama2_7b", num_key_value_heads=32)
    implicit_data = json.loads((MODELS / "llama2_7b.json").read_text())
    implicit_data.pop("num_key_value_heads")
    implicit = model_from_mapping(implicit_data, "x.json", "llama2_7b")
    s = Scenario(phase="decode", batch=4, context=512)
    runs = [simulate_passes(h100, lower(m, s))[0].cycles for m in (mha, spelled, implicit)]
    assert runs[0] == runs[1] == runs[2]
    # Grouping 4 heads per KV head keeps attention FLOPs, shrinks K/V traffic and the QKV projection.
    gqa = model("llama2_7b", num_key_value_heads=8)
    p_mha, p_gqa = lower(mha, s)[0], lower(gqa, s)[0]
    assert gemm_flops(p_mha, "attention") == gemm_flops(p_gqa, "attention")
    assert p_gqa.kv_read_bytes * 4 == p_mha.kv_read_bytes
    assert gemm_flops(p_gqa, "qkv_proj") * 3 == gemm_flops(p_mha, "qkv_proj") * 1.5


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_moe_with_one_expert_and_top1_is_the_dense_mlp(h100, tpu_v4, phase):
    dense = model("llama3_8b")
    moe = model("llama3_8b", num_local_experts=1, num_experts_per_tok=1)
    assert moe.is_moe and not dense.is_moe
    s = Scenario(phase=phase, batch=2, prompt=200, context=300)
    for chip in (h100, tpu_v4):
        a, b = simulate_passes(chip, lower(dense, s))[0], simulate_passes(chip, lower(moe, s))[0]
        assert a.cycles == b.cycles
        assert gemm_flops(a.pass_) == gemm_flops(b.pass_)
        assert a.pass_.weight_bytes == b.pass_.weight_bytes


@settings(max_examples=300, deadline=None)
@given(tokens=st.integers(1, 5000), experts=st.integers(1, 256), data=st.data(),
       imbalance=st.floats(1.0, 8.0))
def test_expert_loads_conserve_assignments(tokens, experts, data, imbalance):
    k = data.draw(st.integers(1, experts))
    loads = expert_loads(tokens, experts, k, imbalance)
    assert sum(count * size for count, size in loads) == tokens * k
    assert sum(count for count, _ in loads) <= experts
    assert all(1 <= size <= tokens for _, size in loads)  # a token picks distinct experts
    balanced = expert_loads(tokens, experts, k, 1.0)
    assert max(s for _, s in balanced) - min(s for _, s in balanced) <= 1
    assert max(s for _, s in loads) >= max(s for _, s in balanced)  # imbalance only makes the busiest busier


def test_expert_loads_examples():
    assert expert_loads(1, 8, 2, 1.0) == [(2, 1)]  # one token, top-2: two experts, one token each
    assert expert_loads(4096, 8, 2, 1.0) == [(8, 1024)]  # balanced prefill
    assert expert_loads(4096, 8, 2, 1.5) == [(1, 1536), (6, 951), (1, 950)]  # 1.5 × the mean of 1024
    # Decode at batch 16 with top-8 of 128: a uniform router touches E·(1 − (1 − k/E)^T) ≈ 82 experts.
    assert sum(c for c, _ in expert_loads(16, 128, 8, 1.0)) == 82


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("name", ["llama3_8b", "mixtral_8x7b", "gpt3_175b"])
def test_simulating_one_layer_and_scaling_is_exact(h100, tpu_v4, name, phase):
    small = model(name, num_hidden_layers=3) if name != "gpt3_175b" else model(name, n_layer=3, n_embd=1024, n_head=8)
    s = Scenario(phase=phase, batch=2, prompt=160, context=200, moe_imbalance=1.2)
    new, context = (160, 0) if phase == "prefill" else (1, 200)
    for chip in (h100, tpu_v4):
        scaled = simulate_passes(chip, [lower_pass(small, s, phase, new, context)])[0]
        unrolled = simulate_passes(chip, [lower_pass(small, s, phase, new, context, unrolled=True)])[0]
        assert scaled.cycles == unrolled.cycles
        assert len(unrolled.segments[0].records) == sum(len(x.records) * x.segment.repeat for x in scaled.segments)


def test_quantized_weights_move_fewer_bytes_and_set_the_mxu_dtype(h100):
    m = model("llama3_8b")
    runs = {}
    for w, a in (("bf16", "bf16"), ("int8", "bf16"), ("int4", "bf16"), ("int8", "int8"), ("fp8", "fp8")):
        s = Scenario(phase="decode", batch=1, context=128, weights=w, activations=a)
        p = lower(m, s)[0]
        runs[w, a] = (p, simulate_passes(h100, [p])[0])
    linear = m.linear_params
    bf16 = runs["bf16", "bf16"][0].weight_bytes
    def packed(p):  # the weight bytes without the scales of the quantized ones (tests/workloads/test_quantized.py)
        return p.weight_bytes - sum(sg.repeat * op.batch * op.b_scale_total for sg in p.segments for op in sg.graph.ops
                                    if isinstance(op, GemmOp))
    assert bf16 - packed(runs["int8", "bf16"][0]) == linear * 1
    assert bf16 - packed(runs["int4", "bf16"][0]) == linear * 1.5
    mlp = {key: [r for seg in run.segments for r in seg.records if r.group == "mlp" and r.type == "gemm"]
           for key, (_, run) in runs.items()}
    assert {r.dtype for r in mlp["int8", "bf16"]} == {"bf16"}  # weight-only: widened to bf16 before the MXU
    assert {r.dtype for r in mlp["int8", "int8"]} == {"int8"}
    assert {r.dtype for r in mlp["fp8", "fp8"]} == {"fp8"}
    # Decode is weight-bandwidth-bound: halving the weight bytes halves the stream, and the inline dequant
    # (hardware/quant.py, timed exactly in tests/hardware/test_quant.py) gives back part of the gain.
    t = {key: sum(r.cycles for r in recs) for key, recs in mlp.items()}
    assert 0.45 < t["int8", "bf16"] / t["bf16", "bf16"] < 1.0


def test_w8a8_prefill_runs_at_the_int8_rate(h100):
    m = model("llama3_8b")
    times = {}
    for dtype in ("bf16", "int8"):
        s = Scenario(phase="prefill", batch=4, prompt=1024, weights=dtype, activations=dtype)
        run = simulate_passes(h100, lower(m, s))[0]
        times[dtype] = sum(r.cycles for seg in run.segments for r in seg.records if r.group == "mlp")
    assert times["int8"] < 0.65 * times["bf16"]  # twice the MACs per cycle; compute-bound


def test_unfused_attention_moves_the_score_matrix_through_hbm(h100):
    m = model("llama3_8b")
    fused = simulate_passes(h100, lower(m, Scenario(phase="prefill", batch=1, prompt=2048)))[0]
    unfused = simulate_passes(h100, lower(m, Scenario(phase="prefill", batch=1, prompt=2048,
                                                      fused_attention=False)))[0]

    def attention_hbm(run):
        return sum(r.hbm_read + r.hbm_write for seg in run.segments for r in seg.records if r.group == "attention")

    scores = m.heads * 2048 * 2048 * 2  # bf16 scores of one layer
    # Unfused: scores written, read and written by softmax, read by P·V: four passes over HBM.
    assert attention_hbm(unfused) >= 4 * scores
    assert attention_hbm(fused) < scores  # never materialized; only Q, K, V and the output move
    assert unfused.cycles > fused.cycles


def test_generate_is_a_prefill_then_decode_steps_with_growing_context():
    m = model("llama3_8b")
    passes = lower(m, Scenario(phase="generate", batch=2, prompt=100, output_tokens=5))
    assert [p.phase for p in passes] == ["prefill"] + ["decode"] * 4
    assert [p.context for p in passes] == [0, 100, 101, 102, 103]
    assert sum(p.tokens for p in passes) == 2 * 100 + 2 * 4


@pytest.mark.parametrize("kv_dtype", ["fp8", "int8", "int4"])
def test_narrow_kv_cache_runs_on_a_vector_unit_without_that_dtype(tpu_v4, kv_dtype):
    """The KV write is a copy (no arithmetic), so it needs no vector rate for the cache's dtype."""
    m = model("llama3_8b")
    bf16 = simulate_passes(tpu_v4, lower(m, Scenario(phase="decode", context=4096)))[0]
    narrow = simulate_passes(tpu_v4, lower(m, Scenario(phase="decode", context=4096, kv_cache=kv_dtype)))[0]
    assert narrow.pass_.kv_read_bytes * 16 == bf16.pass_.kv_read_bytes * DTYPE_BITS[kv_dtype]
    assert narrow.cycles < bf16.cycles
