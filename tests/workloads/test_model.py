"""Model specs: real config.json files load as-is and count the parameters their makers publish."""

import json

import pytest

from simulator.errors import ConfigError
from simulator.workloads.loader import bundled_dir
from simulator.workloads.model import load_model, model_from_mapping

MODELS = bundled_dir() / "models"

# Published totals (and active parameters per token for MoEs); sources in workloads/models/README.md.
PUBLISHED = {
    "llama2_7b": (6.74e9, None),
    "llama3_8b": (8.03e9, None),
    "llama3_70b": (70.6e9, None),
    "mixtral_8x7b": (46.7e9, 12.9e9),
    "gpt3_175b": (175.0e9, None),
    "qwen3_30b_a3b": (30.5e9, 3.3e9),
}


def raw(name: str) -> dict:
    return json.loads((MODELS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_the_published_size(name):
    total, active = PUBLISHED[name]
    model = load_model(MODELS / f"{name}.json")
    assert model.params() == pytest.approx(total, rel=0.01)
    if active is None:
        assert model.params(active=True) == model.params()
    else:
        # Qwen publishes "3.3B activated", rounded from the 3.35 B that its shapes give (embeddings included).
        assert model.params(active=True) == pytest.approx(active, rel=0.02)


def independent_llama_count(c: dict) -> int:
    """Parameters of a Llama-style config counted straight from the JSON fields."""
    h, heads = c["hidden_size"], c["num_attention_heads"]
    kv, d = c.get("num_key_value_heads", heads), c.get("head_dim") or h // heads
    experts = c.get("num_local_experts") or c.get("num_experts") or 0
    width = c.get("moe_intermediate_size") or c["intermediate_size"]
    ffn = experts * 3 * h * width + h * experts if experts else 3 * h * c["intermediate_size"]
    qk_norm = 2 * d if c["model_type"] == "qwen3_moe" else 0
    layer = h * heads * d * 2 + 2 * h * kv * d + ffn + 2 * h + qk_norm
    head = 0 if c.get("tie_word_embeddings") else c["vocab_size"] * h
    return c["vocab_size"] * h + head + c["num_hidden_layers"] * layer + h


@pytest.mark.parametrize("name", ["llama2_7b", "llama3_8b", "llama3_70b", "mixtral_8x7b", "qwen3_30b_a3b"])
def test_parameter_count_equals_an_independent_count(name):
    assert load_model(MODELS / f"{name}.json").params() == independent_llama_count(raw(name))


def test_gpt2_style_names_and_family_traits():
    m = load_model(MODELS / "gpt3_175b.json")
    assert (m.hidden, m.layers, m.heads, m.kv_heads, m.head_dim, m.intermediate) == (12288, 96, 96, 96, 128, 4 * 12288)
    assert (m.norm, m.gated_mlp, m.learned_positions, m.tied_embeddings) == ("layernorm", False, True, True)
    llama = load_model(MODELS / "llama3_8b.json")
    assert (llama.norm, llama.gated_mlp, llama.learned_positions, llama.group_size) == ("rmsnorm", True, False, 4)


def test_head_dim_is_read_not_derived():
    m = load_model(MODELS / "qwen3_30b_a3b.json")
    assert m.head_dim == 128 and m.q_size == 4096 != m.hidden  # 32 heads × 128 ≠ hidden 2048
    assert m.qk_norm and m.experts == 128 and m.experts_per_token == 8 and m.expert_intermediate == 768


def test_unknown_hf_fields_are_ignored():
    data = raw("llama3_8b") | {"quantization_config": {"bits": 4}, "some_future_field": [1, 2]}
    assert model_from_mapping(data, "x.json").params() == load_model(MODELS / "llama3_8b.json").params()


def test_missing_field_is_one_line_naming_it():
    data = raw("llama3_8b")
    del data["vocab_size"]
    with pytest.raises(ConfigError) as err:
        model_from_mapping(data, "my/config.json")
    text = str(err.value)
    assert "\n" not in text and text.startswith("my/config.json") and "vocab_size" in text and "missing" in text


@pytest.mark.parametrize("change, field", [
    ({"num_key_value_heads": 5}, "num_key_value_heads"),
    ({"num_experts_per_tok": 9}, "num_experts_per_tok"),
    ({"kv_lora_rank": 512}, "kv_lora_rank"),
    ({"hidden_size": "big"}, "hidden_size"),
    ({"mlp_only_layers": [0, 1]}, "mlp_only_layers"),
])
def test_bad_or_unsupported_fields(change, field):
    data = raw("mixtral_8x7b") | change
    with pytest.raises(ConfigError) as err:
        model_from_mapping(data, "m.json")
    assert f"m.json: {field} = " in str(err.value) and "\n" not in str(err.value)
