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
    # only with use_sliding_window)
    softcap: bool = False  # reads attn_logit_softcapping and final_logit_softcapping (Gemma-2)
    head_bias: bool = False  # the LM head carries a bias (GPT-J, Phi)
    shared_expert_gate: bool = False  # a sigmoid gate (hidden → 1) on the shared expert (Qwen2-MoE)
    head_dim_field: bool = True  # reads `head_dim`; else head_dim = hidden / heads, as its HF code computes it
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
    "phi3": Family("Phi3Config", sliding="all",
                   defaults={"tie_word_embeddings": False, "max_position_embeddings": 4096, "sliding_window": None}),
    "phi": Family("PhiConfig", **_GPT, attention_bias=True, mlp_bias=True, layer_norms=1, parallel=True,
                  qk_norm="qk_layernorm", rotary="partial_rotary_factor", head_bias=True,
                  defaults={"tie_word_embeddings": False, "max_position_embeddings": 2048, "qk_layernorm": False,
                            "partial_rotary_factor": 0.5}),
    "gpt2": Family("GPT2Config", **_GPT, positions="learned", attention_bias=True, mlp_bias=True,
                   mlp_width="4x_if_unset", defaults={"tie_word_embeddings": True, "max_position_embeddings": 1024}),
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
                 rotary="partial_rotary_factor",
                 defaults={"tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False})

FALCON_TYPES = ("falcon", "RefinedWeb", "RefinedWebModel")
LAYER_KINDS = ("full_attention", "sliding_attention")
# rope_scaling types whose max_position_embeddings already states the extended length; the others (linear,
# dynamic, yarn) multiply it by `factor`, as vLLM derives a model's longest context (`_get_and_verify_max_len`).
UNSCALED_ROPE = (None, "default", "su", "longrope", "llama3", "mrope")
LOWERED_NORMS = 2  # norm ops simulator/workloads/transformer.py lowers per layer


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


def alibi(spec, family: Family) -> bool:
    return family.positions == "alibi" or (spec.model_type in FALCON_TYPES and spec.alibi)


def attention_span(spec, family: Family, source: str, provenance: dict) -> tuple[int | None, int]:
    """(window, layers that have it): `sliding_window` on every layer (Mistral, Phi-3), every other layer from
    the first (Gemma-2), or, with `use_sliding_window`, the layers from `max_window_layers` on (Qwen2, Qwen3);
    an explicit `layer_types` says it layer by layer. (None, 0) for full attention everywhere."""
    if family.sliding == "none":
        return None, 0
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
        return None, 0
    if kinds is not None:
        count = kinds.count("sliding_attention")
    elif family.sliding == "alternate":
        count = (layers + 1) // 2
    elif family.sliding == "qwen":
        count = max(0, layers - spec.max_window_layers)
    else:
        count = layers
    return (window, count) if count else (None, 0)


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
    if family.softcap and spec.attn_logit_softcapping:
        out.append(f"{said('attn_logit_softcapping')}: the tanh cap on the attention scores is not lowered "
                   "(a few vector ops per score)")
    if family.softcap and spec.final_logit_softcapping:
        out.append(f"{said('final_logit_softcapping')}: the tanh cap on the logits is not lowered "
                   "(a few vector ops per logit)")
    if alibi(spec, family):
        what = said("alibi") if spec.model_type in FALCON_TYPES else f"ALiBi positions ({spec.model_type})"
        out.append(f"{what}: its biases on the attention scores are lowered as RoPE on q and k instead "
                   "(a few vector ops per layer differ)")
    if flag(spec, family.parallel):
        what = said(family.parallel) if isinstance(family.parallel, str) else \
            f"parallel attention and MLP ({spec.model_type} blocks)"
        out.append(f"{what}: attention and MLP read the same input side by side; Tortoise runs them one after "
                   "the other (same FLOPs and weights; with tp > 1, two all-reduces per layer where a fused "
                   "block needs one)")
    norms = layer_norms(spec, family)
    if norms != LOWERED_NORMS or family.embedding_norm:
        what = f"{norms} norm{'s' if norms > 1 else ''} per layer" + (" and one on the embeddings"
                                                                      if family.embedding_norm else "")
        out.append(f"{what}: counted in the parameters; the lowering runs {LOWERED_NORMS} norm ops per layer")
    share = rotary_share(spec, family, head_dim)
    if share < 1:
        out.append(f"{said(family.rotary)}: RoPE rotates {share:.0%} of each head; it is lowered over the whole "
                   "head (a few vector ops per layer)")
    return tuple(out)
