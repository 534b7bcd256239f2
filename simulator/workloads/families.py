"""What each Hugging Face `model_type` leaves implicit, read from transformers' own sources: the structure its
modeling code hard-codes (gated MLP or not, norms, positions, which projections carry a bias, parallel blocks)
and the defaults its config class gives the fields Tortoise reads (`configuration_<type>.py`).

A config.json written by `save_pretrained` leaves out what equals PretrainedConfig's default, so GPT-2's and
Gemma's files do not say `tie_word_embeddings` (PretrainedConfig's default: true) while Llama's must say
false. A family default fills a field only when the config does not have the key at all; a value written in
the file, null included, is read as written. A field the family's HF code does not read is ignored, as HF
ignores it (a `sliding_window` in a Llama config changes nothing).

Traits that a config field decides name that field (`attention_bias="bias"`: Falcon's `bias`); the
field's default sits in `defaults`.
"""

import json
from dataclasses import dataclass, field

from simulator.errors import MISSING, ConfigError


@dataclass(frozen=True)
class Family:
    config_class: str  # HF's config class, named in messages about its defaults
    gated_mlp: bool = True  # gate, up and down (SwiGLU, GeGLU); else up and down
    norm: str = "rmsnorm"  # rmsnorm | layernorm
    positions: str = "rotary"  # rotary | learned | alibi
    attention_bias: bool | str = False  # q, k, v and o projections: fixed, or the config field that decides
    qkv_bias: bool | None = None  # q, k and v only, where they differ from o (Qwen2: true, o false)
    mlp_bias: bool | str = False
    layer_norms: int = 2  # norms per layer (Gemma-2: 4, sandwiching attention and MLP)
    embedding_norm: bool = False  # a norm right after the token embedding (BLOOM)
    qk_norm: bool | str = False  # a norm on each head of q and k (Qwen3; Phi's qk_layernorm)
    parallel: bool | str = False  # attention and MLP side by side from one input (GPT-J, Falcon's parallel_attn)
    rotary: str | None = None  # the field giving the rotated share of each head (rotary_pct, rotary_dim, …)
    sliding: str = "none"  # where `sliding_window` applies: none | all | alternate | qwen (layers ≥ max_window_layers,
    # only with use_sliding_window) | pattern (Gemma-3: every layer but each `sliding_window_pattern`-th)
    softcap: bool = False  # reads attn_logit_softcapping and final_logit_softcapping (Gemma-2)
    head_bias: bool = False  # the LM head carries a bias (GPT-J, Phi)
    shared_expert_gate: bool = False  # a sigmoid gate (hidden → 1) on the shared expert (Qwen2-MoE)
    head_dim_field: bool = True  # reads `head_dim`; else head_dim = hidden / heads, as its HF code computes it
    mla: bool = False  # multi-head latent attention and first_k_dense_replace (DeepSeek-V2/V3)
    qk_norm_scope: str = "head"  # QK-norm over each head (Qwen3, Gemma-3) or over all of q and of k (OLMoE)
    mlp_width: str = "intermediate_size"  # `intermediate_size` (required), `4x_if_unset` (GPT-2's n_inner =
    # null: 4 × hidden) or `4x` (BLOOM: always 4 × hidden)
    defaults: dict = field(default_factory=dict)


_GPT = {"gated_mlp": False, "norm": "layernorm", "head_dim_field": False}
_QWEN_WINDOW = {"use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 28}
_FALCON = Family("FalconConfig", **_GPT, attention_bias="bias", mlp_bias="bias", parallel="parallel_attn",
                 mlp_width="4x_if_unset",
                 defaults={"tie_word_embeddings": True, "max_position_embeddings": 2048, "bias": False,
                           "parallel_attn": True, "alibi": False, "multi_query": True,
                           "new_decoder_architecture": False})

FAMILIES: dict[str, Family] = {
    "llama": Family("LlamaConfig", attention_bias="attention_bias", mlp_bias="mlp_bias",
                    defaults={"tie_word_embeddings": False, "max_position_embeddings": 2048,
                              "attention_bias": False, "mlp_bias": False}),
    "mistral": Family("MistralConfig", sliding="all",
                      defaults={"tie_word_embeddings": False, "max_position_embeddings": 4096 * 32,
                                "num_key_value_heads": 8, "sliding_window": 4096}),
    "mixtral": Family("MixtralConfig", sliding="all",
                      defaults={"tie_word_embeddings": False, "max_position_embeddings": 4096 * 32,
                                "num_key_value_heads": 8, "sliding_window": None, "num_local_experts": 8,
                                "num_experts_per_tok": 2}),
    "qwen2": Family("Qwen2Config", qkv_bias=True, sliding="qwen",
                    defaults={"tie_word_embeddings": False, "max_position_embeddings": 32768,
                              "num_key_value_heads": 32} | _QWEN_WINDOW),
    "qwen2_moe": Family("Qwen2MoeConfig", qkv_bias=True, sliding="qwen", shared_expert_gate=True,
                        defaults={"tie_word_embeddings": False, "max_position_embeddings": 32768,
                                  "num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408,
                                  "shared_expert_intermediate_size": 5632} | _QWEN_WINDOW),
    "qwen3": Family("Qwen3Config", attention_bias="attention_bias", qk_norm=True, sliding="qwen",
                    defaults={"tie_word_embeddings": False, "max_position_embeddings": 32768,
                              "num_key_value_heads": 32, "head_dim": 128, "attention_bias": False} | _QWEN_WINDOW),
    "qwen3_moe": Family("Qwen3MoeConfig", attention_bias="attention_bias", qk_norm=True, sliding="qwen",
                        defaults={"tie_word_embeddings": False, "max_position_embeddings": 32768,
                                  "num_key_value_heads": 4, "attention_bias": False, "num_experts": 128,
                                  "num_experts_per_tok": 8, "moe_intermediate_size": 768} | _QWEN_WINDOW),
    "gemma": Family("GemmaConfig", attention_bias="attention_bias",
                    defaults={"tie_word_embeddings": True, "max_position_embeddings": 8192,
                              "num_key_value_heads": 16, "head_dim": 256, "attention_bias": False}),
    "gemma2": Family("Gemma2Config", attention_bias="attention_bias", layer_norms=4, sliding="alternate",
                     softcap=True,
                     defaults={"tie_word_embeddings": True, "max_position_embeddings": 8192,
                               "num_key_value_heads": 4, "head_dim": 256, "attention_bias": False,
                               "sliding_window": 4096, "attn_logit_softcapping": 50.0,
                               "final_logit_softcapping": 30.0}),
    # Gemma3TextConfig's defaults as recalled (not read here): the 1B shape's window and 5:1 local:global pattern
    "gemma3_text": Family("Gemma3TextConfig", attention_bias="attention_bias", layer_norms=4, sliding="pattern",
                          softcap=True, qk_norm=True,
                          defaults={"tie_word_embeddings": True, "max_position_embeddings": 131072,
                                    "num_key_value_heads": 4, "head_dim": 256, "attention_bias": False,
                                    "sliding_window": 4096, "sliding_window_pattern": 6,
                                    "attn_logit_softcapping": None, "final_logit_softcapping": None}),
    "olmoe": Family("OlmoeConfig", attention_bias="attention_bias", qk_norm=True, qk_norm_scope="full",
                    defaults={"tie_word_embeddings": False, "max_position_embeddings": 4096, "attention_bias": False,
                              "num_experts": 64, "num_experts_per_tok": 8}),
    # DeepSeek: MLA, first_k_dense_replace dense layers then MoE layers with shared experts. V3's defaults are
    # DeepseekV3Config's (transformers, configuration_deepseek_v3.py); V2's published configs write every field.
    "deepseek_v2": Family("DeepseekV2Config", attention_bias="attention_bias", mla=True,
                          defaults={"tie_word_embeddings": False, "attention_bias": False, "first_k_dense_replace": 0,
                                    "n_group": None, "topk_group": None}),
    "deepseek_v3": Family("DeepseekV3Config", attention_bias="attention_bias", mla=True,
                          defaults={"tie_word_embeddings": False, "max_position_embeddings": 4096,
                                    "attention_bias": False, "n_routed_experts": 256, "num_experts_per_tok": 8,
                                    "n_shared_experts": 1, "moe_intermediate_size": 2048, "kv_lora_rank": 512,
                                    "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
                                    "v_head_dim": 128, "first_k_dense_replace": 3, "n_group": 8, "topk_group": 4}),
    "phi3": Family("Phi3Config", sliding="all",
                   defaults={"tie_word_embeddings": False, "max_position_embeddings": 4096, "sliding_window": None}),
    "phi": Family("PhiConfig", **_GPT, attention_bias=True, mlp_bias=True, layer_norms=1, parallel=True,
                  qk_norm="qk_layernorm", rotary="partial_rotary_factor", head_bias=True,
                  defaults={"tie_word_embeddings": False, "max_position_embeddings": 2048, "qk_layernorm": False,
                            "partial_rotary_factor": 0.5}),
    "gpt2": Family("GPT2Config", **_GPT, positions="learned", attention_bias=True, mlp_bias=True,
                   mlp_width="4x_if_unset", defaults={"tie_word_embeddings": True, "max_position_embeddings": 1024,
                                                      # GPT2Config's resid_pdrop, embd_pdrop, attn_pdrop
                                                      "attn_pdrop": 0.1, "resid_pdrop": 0.1, "embd_pdrop": 0.1}),
    "gpt_bigcode": Family("GPTBigCodeConfig", **_GPT, positions="learned", attention_bias=True, mlp_bias=True,
                          mlp_width="4x_if_unset",
                          defaults={"tie_word_embeddings": True, "max_position_embeddings": 1024,
                                    "multi_query": True}),
    "gptj": Family("GPTJConfig", **_GPT, mlp_bias=True, layer_norms=1, parallel=True, rotary="rotary_dim",
                   head_bias=True, mlp_width="4x_if_unset",
                   defaults={"tie_word_embeddings": False, "max_position_embeddings": 2048, "rotary_dim": 64}),
    "gpt_neox": Family("GPTNeoXConfig", **_GPT, attention_bias="attention_bias", mlp_bias=True,
                       parallel="use_parallel_residual", rotary="rotary_pct",
                       defaults={"tie_word_embeddings": False, "max_position_embeddings": 2048,
                                 "attention_bias": True, "use_parallel_residual": True, "rotary_pct": 0.25}),
    "opt": Family("OPTConfig", **_GPT, positions="learned", attention_bias="enable_bias", mlp_bias="enable_bias",
                  defaults={"tie_word_embeddings": True, "max_position_embeddings": 2048, "enable_bias": True}),
    "bloom": Family("BloomConfig", **_GPT, positions="alibi", attention_bias=True, mlp_bias=True,
                    embedding_norm=True, mlp_width="4x", defaults={"tie_word_embeddings": True}),
    "falcon": _FALCON,
    # Falcon's first releases (trust_remote_code): RefinedWeb is Falcon-40B's layout, RefinedWebModel Falcon-7B's.
    "RefinedWeb": Family(**(vars(_FALCON) | {"defaults": _FALCON.defaults | {"new_decoder_architecture": True}})),
    "RefinedWebModel": _FALCON,
}

# No `model_type` (a config written for Tortoise, not by transformers): a Llama-style decoder that reads every
# field Tortoise knows, with no position limit unless it gives one.
GENERIC = Family("", attention_bias="attention_bias", mlp_bias="mlp_bias", sliding="all", softcap=True,
                 rotary="partial_rotary_factor", mla=True,
                 defaults={"tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False})

FALCON_TYPES = ("falcon", "RefinedWeb", "RefinedWebModel")
# The MLP's activation: the field each family's HF code reads and its config class's default (None: hard-coded,
# BloomGelu); the rest read `hidden_act`, "silu" by default (LlamaConfig and its kin). transformers' ACT2FN
# names, as Tortoise lowers them: the gated MLPs' silu·up, gelu·up, relu·up (swiglu, geglu, reglu).
ACTIVATION_FIELDS = {
    "gemma": ("hidden_activation", "gelu_pytorch_tanh"), "gemma2": ("hidden_activation", "gelu_pytorch_tanh"),
    "gemma3_text": ("hidden_activation", "gelu_pytorch_tanh"), "phi": ("hidden_act", "gelu_new"),
    "gpt_neox": ("hidden_act", "gelu"), "gpt2": ("activation_function", "gelu_new"),
    "gptj": ("activation_function", "gelu_new"), "gpt_bigcode": ("activation_function", "gelu_pytorch_tanh"),
    "opt": ("activation_function", "relu"), "bloom": (None, "gelu"),
    **dict.fromkeys(("falcon", "RefinedWeb", "RefinedWebModel"), ("activation", "gelu")),
}
ACTIVATIONS = {"silu": "silu", "swish": "silu", "relu": "relu",
               **dict.fromkeys(("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_python", "gelu_accurate",
                                "quick_gelu"), "gelu")}
LAYER_KINDS = ("full_attention", "sliding_attention")
# rope_scaling types whose max_position_embeddings already states the extended length; the others (linear,
# dynamic, yarn) multiply it by `factor`, as vLLM derives a model's longest context (`_get_and_verify_max_len`).
UNSCALED_ROPE = (None, "default", "su", "longrope", "llama3", "mrope")


# ---- traits a config decides, read as the family's HF code reads them ----------------------------------------
# `spec` is a validated ModelSpec (simulator/workloads/model.py) with the family's defaults already filled in.

def flag(spec, trait: bool | str) -> bool:
    return trait if isinstance(trait, bool) else bool(getattr(spec, trait))


def kv_heads(spec, family: Family) -> int:
    """Falcon: `num_kv_heads` with the new decoder architecture, else one KV head when `multi_query` (its
    default), else MHA (FalconAttention). GPT-BigCode: one KV head when `multi_query` (its default)."""
    heads = spec.num_attention_heads
    if spec.model_type in FALCON_TYPES:
        if spec.new_decoder_architecture:
            return spec.num_kv_heads or heads
        return 1 if spec.multi_query else heads
    if spec.model_type == "gpt_bigcode":
        return 1 if spec.multi_query else heads
    return spec.num_key_value_heads or heads


def layer_norms(spec, family: Family) -> int:
    """Falcon (FalconDecoderLayer): two with sequential blocks; with parallel_attn, `num_ln_in_parallel_attn`
    (2 by default with the new decoder architecture) of them if it is 2, else one."""
    if spec.model_type not in FALCON_TYPES:
        return family.layer_norms
    if not spec.parallel_attn:
        return 2
    count = spec.num_ln_in_parallel_attn
    if count is None and spec.new_decoder_architecture:
        count = 2
    return 2 if count == 2 else 1


def biases(spec, family: Family) -> tuple[bool, bool, bool]:
    """(q/k/v, output projection, MLP) biases."""
    attention = flag(spec, family.attention_bias)
    return (attention if family.qkv_bias is None else family.qkv_bias), attention, flag(spec, family.mlp_bias)


def mlp_width(spec, family: Family, source: str) -> int:
    if family.mlp_width == "4x":
        return 4 * spec.hidden_size
    if spec.intermediate_size:
        return spec.intermediate_size
    if family.mlp_width == "4x_if_unset":
        return 4 * spec.hidden_size
    raise ConfigError(source, "intermediate_size", MISSING, "required field is missing")


def activation(spec, source: str, provenance: dict) -> str:
    """The MLP's activation as Tortoise lowers it (silu, gelu or relu), from the field the family's HF code
    reads; one line naming the field for a name Tortoise does not lower."""
    field, default = ACTIVATION_FIELDS.get(spec.model_type, ("hidden_act", "silu"))
    value = getattr(spec, field) if field else None
    if value is None:
        return ACTIVATIONS[default]
    if value not in ACTIVATIONS:
        raise ConfigError(provenance.get((field,), source), field, value,
                          "an activation Tortoise lowers: " + ", ".join(ACTIVATIONS))
    return ACTIVATIONS[value]


def alibi(spec, family: Family) -> bool:
    return family.positions == "alibi" or (spec.model_type in FALCON_TYPES and spec.alibi)


def attention_span(spec, family: Family, source: str, provenance: dict) -> tuple[int | None, tuple[int, ...]]:
    """(window, the layers that have it): `sliding_window` on every layer (Mistral, Phi-3), every other layer from
    the first (Gemma-2), all but every `sliding_window_pattern`-th (Gemma-3: 5 local, 1 global), or, with
    `use_sliding_window`, the layers from `max_window_layers` on (Qwen2, Qwen3); an explicit `layer_types` says
    it layer by layer. (None, ()) for full attention everywhere."""
    if family.sliding == "none":
        return None, ()
    layers, kinds = spec.num_hidden_layers, spec.layer_types
    if kinds is not None:
        where = provenance.get(("layer_types",), source)
        bad = [k for k in kinds if k not in LAYER_KINDS]
        if bad:
            raise ConfigError(where, "layer_types", bad[0], "Tortoise lowers full_attention and sliding_attention "
                              "layers only")
        if len(kinds) != layers:
            raise ConfigError(where, "layer_types", f"{len(kinds)} entries",
                              f"needs one per layer (num_hidden_layers = {layers})")
    window = spec.sliding_window
    if family.sliding == "qwen" and not spec.use_sliding_window:
        window = None
    if window is None:
        return None, ()
    if kinds is not None:
        at = [i for i, k in enumerate(kinds) if k == "sliding_attention"]
    elif family.sliding == "alternate":  # transformers' Gemma2: sliding when (i + 1) % 2
        at = list(range(0, layers, 2))
    elif family.sliding == "pattern":  # Gemma3: sliding unless (i + 1) % sliding_window_pattern == 0
        at = [i for i in range(layers) if (i + 1) % spec.sliding_window_pattern]
    elif family.sliding == "qwen":
        at = list(range(min(spec.max_window_layers, layers), layers))
    else:
        at = list(range(layers))
    return (window, tuple(at)) if at else (None, ())


def context_limit(spec, family: Family, spelled: str, defaulted: set[str]) -> tuple[int | None, str]:
    """(positions a sequence may reach, where that comes from): max_position_embeddings (as `spelled` in the
    config), times rope_scaling.factor for linear, dynamic and YaRN scaling (YaRN from its
    original_max_position_embeddings), as vLLM derives it. (None, "") when the model states no limit."""
    limit = spec.max_position_embeddings
    if limit is None:
        return None, ""
    default = f", {family.config_class}'s default" if "max_position_embeddings" in defaulted else ""
    rope = spec.rope_scaling if isinstance(spec.rope_scaling, dict) else {}
    kind, factor = rope.get("rope_type", rope.get("type")), rope.get("factor")
    if kind in UNSCALED_ROPE or isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 1:
        return limit, f"{spelled} = {limit:,}{default}"
    base = rope.get("original_max_position_embeddings") if kind == "yarn" else None
    base = base if isinstance(base, int) and not isinstance(base, bool) and base > 0 else limit
    scaled = int(base * factor)
    return scaled, f"{spelled} = {limit:,}{default}, × {factor:g} by {kind} rope_scaling"


def rotary_share(spec, family: Family, head_dim: int) -> float:
    """The share of each head's dimensions RoPE rotates (1 for all; Phi-2: 0.4, GPT-J: 64 / 256)."""
    if family.rotary is None or family.positions != "rotary" or alibi(spec, family):
        return 1.0
    value = getattr(spec, family.rotary)
    if value is None:
        return 1.0
    return min(1.0, value / head_dim) if family.rotary == "rotary_dim" else float(value)


def notes(spec, family: Family, defaulted: set[str], head_dim: int) -> tuple[str, ...]:
    """What this model does that the lowering approximates, one line each (not a refusal: each changes only
    a few elementwise ops; the weights, GEMMs and KV cache stay exact)."""

    def said(name: str) -> str:
        value = getattr(spec, name)
        shown = json.dumps(value) if isinstance(value, bool | None) else f"{value:g}"
        return f"{name} = {shown}" + (f" ({family.config_class}'s default)" if name in defaulted else "")

    out = []
    if alibi(spec, family):
        what = said("alibi") if spec.model_type in FALCON_TYPES else f"ALiBi positions ({spec.model_type})"
        out.append(f"{what}: its biases on the attention scores are lowered as RoPE on q and k instead "
                   "(a few vector ops per layer differ)")
    if flag(spec, family.parallel):
        what = said(family.parallel) if isinstance(family.parallel, str) else \
            f"parallel attention and MLP ({spec.model_type} blocks)"
        out.append(f"{what}: attention and MLP read the same input side by side; Tortoise runs them one after "
                   "the other (same FLOPs and weights; inference reduces their sum once per layer under tp, "
                   "a training step reduces each branch, two all-reduces per layer)")
    if family.embedding_norm:
        out.append("a norm on the embeddings: counted in the parameters, not lowered (one vector op per pass)")
    share = rotary_share(spec, family, head_dim)
    if share < 1:
        out.append(f"{said(family.rotary)}: RoPE rotates {share:.0%} of each head; it is lowered over the whole "
                   "head (a few vector ops per layer)")
    return tuple(out)
