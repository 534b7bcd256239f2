"""A transformer described by the fields of its Hugging Face `config.json`, read as transformers reads it.

A real `config.json` loads as-is: fields Tortoise does not use are ignored, other spellings (GPT-2's `n_embd`,
Falcon's `n_head_kv`, OPT's `ffn_dim`, …) are read as the names they stand for, and the family (`model_type`,
simulator/workloads/families.py) decides what the config leaves implicit: its HF config class's defaults for
absent fields, and the structure its HF modeling code hard-codes. An unknown `model_type` is refused; a config
without one is a Llama-style decoder read the way Tortoise reads hand-written models (no HF defaults).

What the model does that Tortoise does not lower is either refused (layer kinds other than full and sliding
attention, MoE layers interleaved with dense ones other than DeepSeek's first k, OPT's embedding projection)
or, where it only changes a few elementwise ops, kept in `Model.notes`, one line each, which the loader
reports. A model's layers fall into groups (`Model.groups`): sliding-window and full-attention layers, a
DeepSeek model's first `first_k_dense_replace` dense layers and its MoE layers; each group is lowered once and
repeated (docs/workloads.md, "Layer groups").
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from simulator.config.validation import validate
from simulator.config.yamlio import read_mapping
from simulator.errors import MISSING, ConfigError
from simulator.workloads import families as traits
from simulator.workloads.families import FALCON_TYPES, FAMILIES, GENERIC, Family

# Every size bounded, so that the lowering's arithmetic stays within 64 bits: no model is near these.
Positive = Annotated[int, Field(strict=True, ge=1, le=2**24)]  # a width, a head or layer count, a vocabulary
Positions = Annotated[int, Field(strict=True, ge=1, le=2**31)]  # a context length or window
NonNegative = Annotated[int, Field(strict=True, ge=0, le=2**24)]
Flag = Annotated[bool, Field(strict=True)]  # JSON true or false, not "yes" or 1
Share = Annotated[float, Field(gt=0, le=1)]
Probability = Annotated[float, Field(ge=0, lt=1)]

# Other spellings → the field they mean (HF's `attribute_map`s and legacy keyword arguments).
ALIASES = {
    "n_embd": "hidden_size", "n_embed": "hidden_size", "n_layer": "num_hidden_layers",
    "n_head": "num_attention_heads", "n_inner": "intermediate_size", "ffn_dim": "intermediate_size",
    "ffn_hidden_size": "intermediate_size", "n_positions": "max_position_embeddings", "n_head_kv": "num_kv_heads",
    "num_local_experts": "num_experts", "n_routed_experts": "num_experts",
    "attn_pdrop": "attention_dropout", "resid_pdrop": "hidden_dropout", "embd_pdrop": "embedding_dropout",
    "emb_pdrop": "embedding_dropout",
}
MLA_FIELDS = {  # field present → what it means; read only by the families that have it (Family.mla)
    "kv_lora_rank": "multi-head latent attention (DeepSeek-V2/V3)",
    "first_k_dense_replace": "dense layers before the MoE layers (DeepSeek)",
}


class ModelSpec(BaseModel):
    """The fields lowering needs; anything else in a config.json is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_type: str | None = None
    hidden_size: Positive
    num_hidden_layers: Positive
    num_attention_heads: Positive
    num_key_value_heads: Positive | None = None  # default: num_attention_heads (MHA)
    head_dim: Positive | None = None  # default: hidden_size / num_attention_heads
    intermediate_size: Positive | None = None
    vocab_size: Positive
    max_position_embeddings: Positions | None = None
    tie_word_embeddings: Flag | None = False
    attention_bias: Flag = False
    mlp_bias: Flag = False
    num_experts: NonNegative = 0  # 0 = dense MLP
    num_experts_per_tok: Positive | None = None
    moe_intermediate_size: Positive | None = None  # default: intermediate_size (Mixtral)
    shared_expert_intermediate_size: NonNegative = 0  # Qwen2-MoE
    n_shared_experts: NonNegative = 0  # DeepSeek-MoE: × moe_intermediate_size
    decoder_sparse_step: Positive = 1
    mlp_only_layers: list[int] | None = None
    # multi-head latent attention and DeepSeek's MoE (DeepseekV2Config, DeepseekV3Config)
    kv_lora_rank: NonNegative | None = None  # the latent c_KV each token caches
    q_lora_rank: NonNegative | None = None  # None or 0: q projected straight from the hidden state (V2-Lite)
    qk_nope_head_dim: Positive | None = None
    qk_rope_head_dim: Positive | None = None  # the decoupled RoPE key, one per token shared by every head
    v_head_dim: Positive | None = None
    first_k_dense_replace: NonNegative = 0
    moe_layer_freq: Positive = 1
    n_group: Positive | None = None  # node-limited routing: experts in n_group groups …
    topk_group: Positive | None = None  # … of which a token may use topk_group
    num_nextn_predict_layers: NonNegative = 0  # multi-token prediction modules (DeepSeek-V3: 1)
    use_mtp: Flag = False  # Tortoise's own: run the MTP modules in every pass (they are not in HF's forward)
    # the MLP's activation, under the name its family reads (families.ACTIVATION_FIELDS)
    hidden_act: str | None = None
    hidden_activation: str | None = None
    activation_function: str | None = None
    activation: str | None = None
    # attention span, soft-capping and positions
    sliding_window: Positions | None = None
    sliding_window_pattern: Positive = 6  # Gemma-3: every pattern-th layer is global
    use_sliding_window: Flag = False
    max_window_layers: NonNegative = 0
    layer_types: list[str] | None = None
    attn_logit_softcapping: Annotated[float, Field(gt=0)] | None = None
    final_logit_softcapping: Annotated[float, Field(gt=0)] | None = None
    rope_scaling: dict | None = None
    partial_rotary_factor: Share | None = None
    rotary_pct: Share | None = None
    rotary_dim: Positive | None = None
    # family-specific structure (Falcon, GPT-BigCode, GPT-NeoX, OPT, Phi)
    num_kv_heads: Positive | None = None
    multi_query: Flag = False
    new_decoder_architecture: Flag = False
    num_ln_in_parallel_attn: Positive | None = None
    parallel_attn: Flag = False
    use_parallel_residual: Flag = False
    alibi: Flag = False
    bias: Flag = False
    enable_bias: Flag = False
    qk_layernorm: Flag = False
    word_embed_proj_dim: Positive | None = None
    # dropout probabilities a training step applies (inference runs without): on the attention probabilities,
    # on each branch's output before its residual add, on the embeddings
    attention_dropout: Probability = 0.0
    hidden_dropout: Probability = 0.0
    embedding_dropout: Probability = 0.0


@dataclass(frozen=True)
class Model:
    """A model's shapes, resolved: every default applied, every family trait decided."""

    name: str
    family: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int | None  # max_position_embeddings: the rows of a learned position table
    tied_embeddings: bool
    gated_mlp: bool
    norm: str  # rmsnorm | layernorm
    learned_positions: bool
    qkv_bias: bool
    out_bias: bool
    mlp_bias: bool
    qk_norm: bool
    experts: int  # 0 = dense
    experts_per_token: int
    expert_intermediate: int
    shared_intermediate: int  # width of the always-on shared expert(s); 0 = none
    layer_norms: int = 2  # norms per layer
    embedding_norm: bool = False  # a norm on the embeddings (BLOOM)
    head_bias: bool = False  # the LM head's bias (GPT-J, Phi)
    shared_expert_gate: bool = False  # hidden → 1 gate on the shared expert (Qwen2-MoE)
    alibi: bool = False  # ALiBi biases on the scores instead of rotary or learned positions
    parallel_block: bool = False  # attention and MLP side by side from one input
    context_limit: int | None = None  # positions a sequence may reach; None = no limit
    context_field: str = "max_position_embeddings"  # where the limit comes from, as the config says it
    sliding_window: int | None = None  # keys a query of a sliding layer sees; None = full attention everywhere
    sliding_layers: int = 0  # layers with the window
    sliding_at: tuple[int, ...] = ()  # their indices (len = sliding_layers)
    attn_softcap: float | None = None  # scores ← cap·tanh(scores / cap) before the softmax (Gemma-2)
    final_softcap: float | None = None  # the same on the logits
    qk_norm_full: bool = False  # QK-norm over all of q and of k (OLMoE), not per head
    # multi-head latent attention (DeepSeek-V2/V3): head_dim is then qk_nope + qk_rope
    kv_lora_rank: int = 0  # 0 = not MLA
    q_lora_rank: int = 0  # 0 = q projected directly from the hidden state
    rope_head_dim: int = 0  # qk_rope_head_dim: the decoupled RoPE part of each q head and the shared k_pe
    v_head_dim: int = 0  # 0 = head_dim
    dense_layers: int = 0  # an MoE model's first layers with a dense MLP of `intermediate` (first_k_dense_replace)
    expert_groups: int = 0  # node-limited routing: n_group groups of experts, …
    groups_per_token: int = 0  # … topk_group of them per token (documented; loads are a uniform router's)
    mtp_layers: int = 0  # multi-token prediction modules run in every pass (0 unless the config asks: use_mtp)
    activation: str = ""  # silu | gelu | relu; "" = silu when gated, gelu when not
    # training's dropout probabilities (0: none), as the config gives them (attn_pdrop, resid_pdrop, embd_pdrop)
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0
    embedding_dropout: float = 0.0
    notes: tuple[str, ...] = ()  # what the lowering approximates, one line each (the loader reports them)

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def q_size(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def o_size(self) -> int:
        """The attention output one token feeds the output projection: heads × the value head width."""
        return self.heads * (self.v_head_dim or self.head_dim)

    @property
    def kv_width(self) -> int:
        """Elements one token caches per layer (on one chip, for a shard): K and V of its KV heads, or MLA's
        latent c_KV and the shared RoPE key (kv_lora_rank + qk_rope_head_dim), which every chip of a
        tensor-parallel group holds whole."""
        return self.kv_lora_rank + self.rope_head_dim if self.mla else 2 * self.kv_size

    @property
    def latent_width(self) -> int:
        """MLA: what the k and v up-projection (kv_b) maps from: per head, qk_nope for k and v_head_dim for v."""
        return self.heads * (self.head_dim - self.rope_head_dim + (self.v_head_dim or self.head_dim))

    def group_of(self, index: int) -> str:
        """The name of the layer group (`groups`) layer `index` belongs to."""
        tags = (["sliding" if index in self.sliding_at else "full"] if self.sliding_at else []) + \
            (["dense" if index < self.dense_layers else "moe"] if self.dense_layers else [])
        uniform = len(self.sliding_at) in (0, self.layers) and not self.dense_layers
        return "layer" if uniform else ".".join(["layer", *tags])

    def group_of_kind(self, index: int) -> tuple[bool, bool]:
        return index in self.sliding_at, self.is_moe and index >= self.dense_layers

    def groups(self) -> tuple["LayerGroup", ...]:
        """The layers in groups that lower alike, in order of their first layer: (sliding | full attention) ×
        (dense | MoE). A model with one kind of layer is one group named `layer`."""
        names = [self.group_of(i) for i in range(self.layers)]
        dense = replace(self, experts=0, experts_per_token=0, expert_intermediate=0, shared_intermediate=0,
                        shared_expert_gate=False, dense_layers=0)
        out = []
        for name in dict.fromkeys(names):
            sliding, moe = self.group_of_kind(names.index(name))
            out.append(LayerGroup(name, names.count(name), self.sliding_window if sliding else None,
                                  dense if self.is_moe and not moe else replace(self, dense_layers=0)
                                  if self.dense_layers else self))
        return tuple(out)

    @property
    def group_size(self) -> int:
        """Query heads sharing one KV head (1 = MHA, heads = MQA)."""
        return self.heads // self.kv_heads

    @property
    def act_kind(self) -> str:
        """The MLP's elementwise op: swiglu, geglu or reglu when gated (the activation of the gate times up);
        silu, gelu or relu when not."""
        act = self.activation or ("silu" if self.gated_mlp else "gelu")
        return {"silu": "swiglu", "gelu": "geglu", "relu": "reglu"}[act] if self.gated_mlp else act

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices of one MLP: gate, up and down when gated; up and down otherwise."""
        return 3 if self.gated_mlp else 2

    def mlp_params(self, width: int) -> int:
        mats = self.mlp_matrices
        return mats * self.hidden * width + (width * (mats - 1) + self.hidden if self.mlp_bias else 0)

    def ffn_linear_params(self, held: int | None = None) -> int:
        """Matrix weights of one layer's MLP or MoE: the router and `held` experts (default: every one)."""
        if not self.is_moe:
            return self.mlp_matrices * self.hidden * self.intermediate
        widths = (self.experts if held is None else held) * self.expert_intermediate + self.shared_intermediate
        return self.hidden * (self.mlp_matrices * widths + self.experts)

    @property
    def q_weights(self) -> int:
        """The query projection: hidden → q, or MLA's hidden → q_lora_rank → q."""
        if self.q_lora_rank:
            return self.hidden * self.q_lora_rank + self.q_lora_rank * self.q_size
        return self.hidden * self.q_size

    @property
    def attention_weights(self) -> int:
        """Matrix weights of one layer's attention: the q, k, v and output projections (MLA: q_a and q_b or
        q_proj, kv_a to the latent and the shared RoPE key, kv_b from the latent to every head's k and v)."""
        if self.mla:
            return (self.q_weights + self.hidden * self.kv_width + self.kv_lora_rank * self.latent_width
                    + self.o_size * self.hidden)
        return self.hidden * (self.q_size + 2 * self.kv_size) + self.o_size * self.hidden

    @property
    def linear_params(self) -> int:
        """Parameters held in matrices the MXU multiplies by: what weight quantization applies to."""
        return sum(g.count * (g.model.attention_weights + g.model.ffn_linear_params()) for g in self.groups()) \
            + self.lm_head_params

    @property
    def attention_params(self) -> int:
        biases = (self.q_size + 2 * self.kv_size if self.qkv_bias else 0) + (self.hidden if self.out_bias else 0)
        width = self.q_size + self.kv_size if self.qk_norm_full else 2 * self.head_dim
        qk_norm = width * (2 if self.norm == "layernorm" else 1) if self.qk_norm else 0
        latent_norms = self.q_lora_rank + self.kv_lora_rank  # MLA: RMSNorm on the q and kv latents
        return self.attention_weights + biases + qk_norm + latent_norms

    @property
    def norm_params(self) -> int:
        """Weights (and LayerNorm biases) of one norm."""
        return self.hidden * (2 if self.norm == "layernorm" else 1)

    def layer_params(self, active: bool = False, held: int | None = None) -> int:
        """Parameters of one layer; `active` counts only the experts one token uses, `held` only the
        experts one chip holds (default: every one)."""
        if not self.is_moe:
            ffn = self.mlp_params(self.intermediate)
        else:
            used = self.experts_per_token if active else (self.experts if held is None else held)
            ffn = used * self.mlp_params(self.expert_intermediate) + self.hidden * self.experts
            if self.shared_intermediate:
                ffn += self.mlp_params(self.shared_intermediate) + (self.hidden if self.shared_expert_gate else 0)
        return self.attention_params + ffn + self.layer_norms * self.norm_params

    @property
    def embedding_params(self) -> int:
        positions = (self.max_positions or 0) * self.hidden if self.learned_positions else 0
        return self.vocab * self.hidden + positions + (self.norm_params if self.embedding_norm else 0)

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab * self.hidden

    def params(self, active: bool = False) -> int:
        """Total parameters (or those one token touches, for an MoE), as HF's `num_parameters()` counts them:
        a tied LM head once."""
        layers = sum(g.count * g.model.layer_params(active) for g in self.groups())
        return (self.embedding_params + self.lm_head_params + (self.vocab if self.head_bias else 0)
                + layers + self.norm_params)

    def mtp_params(self, active: bool = False) -> int:
        """One multi-token prediction module (DeepSeek-V3 §2.2): two RMSNorms (the hidden state and the next
        token's embedding), the projection of their concatenation (2·hidden → hidden), one layer like the
        last, and the final norm; the embedding and the LM head are the main model's."""
        last = self.groups()[-1].model
        return 3 * self.norm_params + 2 * self.hidden * self.hidden + last.layer_params(active)

    def describe(self) -> str:
        attn = "MHA" if self.kv_heads == self.heads else ("MQA" if self.kv_heads == 1 else "GQA")
        mlp = {"swiglu": "SwiGLU", "geglu": "GeGLU", "reglu": "ReGLU", "silu": "SiLU", "gelu": "GELU",
               "relu": "ReLU"}[self.act_kind] + " MLP"
        if self.is_moe:
            mlp = f"MoE {self.experts} experts top-{self.experts_per_token} × {self.expert_intermediate}"
            if self.shared_intermediate:
                mlp += f" + shared {self.shared_intermediate}"
        pos = "learned positions" if self.learned_positions else "ALiBi" if self.alibi else "rotary"
        window = f", sliding window {self.sliding_window} on {self.sliding_layers} layers" \
            if self.sliding_window else ""
        if self.mla:
            attn = f"MLA (latent {self.kv_lora_rank} + rope {self.rope_head_dim})"
        if self.dense_layers:
            mlp = f"{self.dense_layers} dense layers then {mlp}"
        return (f"{self.layers} layers, hidden {self.hidden}, {attn} {self.heads}/{self.kv_heads} heads × "
                f"{self.head_dim}, {mlp}, {self.norm}, {pos}, vocab {self.vocab}"
                + (", QK-norm" if self.qk_norm else "") + window)


@dataclass(frozen=True)
class LayerGroup:
    """Layers that lower alike: `count` of them, each seeing `window` keys (None: every key), with the shapes of
    `model` (a mixed model's dense layers are a dense Model)."""

    name: str  # the segment's name: `layer`, or `layer.sliding`, `layer.full`, `layer.dense`, `layer.moe`, …
    count: int
    window: int | None
    model: "Model"


def _target(key: str) -> str:
    return ALIASES.get(key, key)


def normalize(data: dict) -> dict:
    """Map other spellings onto the fields ModelSpec reads; the Llama-style name wins if both exist."""
    out = dict(data)
    for alias, name in ALIASES.items():
        if alias in data and data[alias] is not None and out.get(name) is None:
            out[name] = data[alias]
    return out


def family_of(data: dict, source: str, provenance: dict) -> Family:
    kind = data.get("model_type")
    if kind is None:
        return GENERIC
    if not isinstance(kind, str) or kind not in FAMILIES:
        raise ConfigError(provenance.get(("model_type",), source), "model_type", kind,
                          "not a family Tortoise reads; known: " + ", ".join(sorted(FAMILIES))
                          + " (or leave it out for a Llama-style decoder described field by field)")
    return FAMILIES[kind]


def with_defaults(data: dict, family: Family) -> tuple[dict, set[str]]:
    """`data` with the family's HF defaults for the fields it lacks (under any spelling), and which those are."""
    present = {_target(key) for key in data}
    added = {key: value for key, value in family.defaults.items() if _target(key) not in present}
    return data | added, {_target(key) for key in added}


def model_from_mapping(data: dict, source: str, name: str = "", provenance: dict | None = None) -> Model:
    """A Model from config.json-style data, or a one-line ConfigError naming the file and the field."""
    provenance = provenance or {}
    family = family_of(data, source, provenance)
    data, defaulted = with_defaults(data, family)
    spelled = "n_positions" if data.get("max_position_embeddings") is None and data.get("n_positions") else \
        "max_position_embeddings"
    data = normalize(data)
    if not family.mla:
        for field, what in MLA_FIELDS.items():
            if data.get(field):
                raise ConfigError(provenance.get((field,), source), field, data[field],
                                  f"{what} is lowered for model_type deepseek_v2 and deepseek_v3 (or a config "
                                  f"without model_type), not {data.get('model_type')}")
    spec = validate(ModelSpec, data, source, provenance)
    return resolve(spec, family, source, name or Path(source).stem, defaulted, spelled, provenance)


def resolve(spec: ModelSpec, family: Family, source: str, name: str, defaulted: set[str] = frozenset(),
            spelled: str = "max_position_embeddings", provenance: dict | None = None) -> Model:
    """The Model a validated spec describes, with its family's traits decided."""
    where = (provenance or {}).get
    heads = spec.num_attention_heads
    kv_heads = traits.kv_heads(spec, family)
    if heads % kv_heads:
        field = "num_kv_heads" if spec.model_type in FALCON_TYPES else "num_key_value_heads"
        raise ConfigError(where((field,), source), field, kv_heads, f"must divide num_attention_heads ({heads})")
    head_dim = spec.head_dim if family.head_dim_field else None
    mla = _mla(spec, source, where)
    if mla:
        kv_heads, head_dim = heads, mla["head_dim"]
    if head_dim is None:
        if spec.hidden_size % heads:
            raise ConfigError(source, "head_dim", None, "required when num_attention_heads does not divide hidden_size")
        head_dim = spec.hidden_size // heads
    intermediate = traits.mlp_width(spec, family, source)
    if spec.word_embed_proj_dim not in (None, spec.hidden_size) and spec.model_type == "opt":
        raise ConfigError(where(("word_embed_proj_dim",), source), "word_embed_proj_dim", spec.word_embed_proj_dim,
                          f"OPT's projections between a narrower embedding and hidden_size ({spec.hidden_size}) "
                          "are not lowered by Tortoise; only word_embed_proj_dim = hidden_size")
    experts, per_token, expert_width, shared = _experts(spec, intermediate, source)
    qkv_bias, out_bias, mlp_bias = traits.biases(spec, family)
    window, sliding_at = traits.attention_span(spec, family, source, provenance or {})
    limit, limit_field = traits.context_limit(spec, family, spelled, defaulted)
    if mla and window is not None:
        raise ConfigError(where(("sliding_window",), source), "sliding_window", window,
                          "null with kv_lora_rank: sliding windows over MLA's latent cache are not lowered")
    dense = _dense_layers(spec, experts, source, where)
    groups = _expert_groups(spec, experts, per_token, source, where)
    if spec.use_mtp and not spec.num_nextn_predict_layers:
        raise ConfigError(where(("use_mtp",), source), "use_mtp", True,
                          "needs num_nextn_predict_layers ≥ 1: the model has no multi-token prediction module")
    return Model(
        name=name, family=spec.model_type or "llama", hidden=spec.hidden_size, layers=spec.num_hidden_layers,
        heads=heads, kv_heads=kv_heads, head_dim=head_dim, intermediate=intermediate, vocab=spec.vocab_size,
        max_positions=spec.max_position_embeddings, tied_embeddings=bool(spec.tie_word_embeddings),
        gated_mlp=family.gated_mlp, norm=family.norm, learned_positions=family.positions == "learned",
        qkv_bias=qkv_bias, out_bias=out_bias, mlp_bias=mlp_bias, qk_norm=traits.flag(spec, family.qk_norm),
        experts=experts, experts_per_token=per_token, expert_intermediate=expert_width, shared_intermediate=shared,
        layer_norms=traits.layer_norms(spec, family), embedding_norm=family.embedding_norm,
        head_bias=family.head_bias, shared_expert_gate=family.shared_expert_gate and shared > 0,
        alibi=traits.alibi(spec, family), parallel_block=traits.flag(spec, family.parallel),
        context_limit=limit, context_field=limit_field, sliding_window=window, sliding_layers=len(sliding_at),
        sliding_at=sliding_at, attn_softcap=spec.attn_logit_softcapping if family.softcap else None,
        final_softcap=spec.final_logit_softcapping if family.softcap else None,
        qk_norm_full=family.qk_norm_scope == "full", kv_lora_rank=mla.get("kv_lora_rank", 0),
        q_lora_rank=mla.get("q_lora_rank", 0), rope_head_dim=mla.get("rope", 0), v_head_dim=mla.get("v", 0),
        dense_layers=dense, expert_groups=groups[0], groups_per_token=groups[1],
        mtp_layers=spec.num_nextn_predict_layers if spec.use_mtp else 0,
        activation=traits.activation(spec, source, provenance or {}),
        attention_dropout=spec.attention_dropout, hidden_dropout=spec.hidden_dropout,
        embedding_dropout=spec.embedding_dropout,
        notes=traits.notes(spec, family, defaulted, head_dim) + _deepseek_notes(spec, experts, groups),
    )


def _mla(spec: ModelSpec, source: str, where) -> dict:
    """MLA's shapes, or {} when the model has none (kv_lora_rank absent or 0)."""
    if not spec.kv_lora_rank:
        return {}
    for field in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
        if getattr(spec, field) is None:
            raise ConfigError(where((field,), source), field, MISSING,
                              "required with kv_lora_rank (multi-head latent attention)")
    return {"kv_lora_rank": spec.kv_lora_rank, "q_lora_rank": spec.q_lora_rank or 0, "rope": spec.qk_rope_head_dim,
            "v": spec.v_head_dim, "head_dim": spec.qk_nope_head_dim + spec.qk_rope_head_dim}


def _dense_layers(spec: ModelSpec, experts: int, source: str, where) -> int:
    """DeepSeek's first_k_dense_replace: that many dense layers, then MoE layers (every one: moe_layer_freq 1)."""
    if spec.moe_layer_freq != 1:
        raise ConfigError(where(("moe_layer_freq",), source), "moe_layer_freq", spec.moe_layer_freq,
                          "1 (an MoE layer after every dense one is not lowered; DeepSeek-V2/V3 use 1)")
    if not experts:
        return 0
    if spec.first_k_dense_replace >= spec.num_hidden_layers:
        raise ConfigError(where(("first_k_dense_replace",), source), "first_k_dense_replace",
                          spec.first_k_dense_replace, f"below num_hidden_layers ({spec.num_hidden_layers}): "
                          "at least one MoE layer (or leave out the experts)")
    return spec.first_k_dense_replace


def _expert_groups(spec: ModelSpec, experts: int, per_token: int, source: str, where) -> tuple[int, int]:
    """(n_group, topk_group) of node-limited routing, checked; (0, 0) without it."""
    if not experts or spec.n_group is None or spec.topk_group is None or spec.n_group == 1:
        return 0, 0
    if experts % spec.n_group:
        raise ConfigError(where(("n_group",), source), "n_group", spec.n_group,
                          f"must divide the routed experts ({experts})")
    if spec.topk_group > spec.n_group or per_token > spec.topk_group * experts // spec.n_group:
        raise ConfigError(where(("topk_group",), source), "topk_group", spec.topk_group,
                          f"at most n_group ({spec.n_group}), with room for num_experts_per_tok ({per_token}) "
                          f"experts in that many groups of {experts // spec.n_group}")
    return spec.n_group, spec.topk_group


def _deepseek_notes(spec: ModelSpec, experts: int, groups: tuple[int, int]) -> tuple[str, ...]:
    out = []
    if groups[0]:
        out.append(f"node-limited routing (n_group = {groups[0]}, topk_group = {groups[1]}): each expert still gets "
                   "k/E of the tokens in expectation, so the experts' loads are a uniform router's; the expert-"
                   "parallel dispatch sends every routed copy (tokens × top-k × hidden), not one per node")
    if spec.num_nextn_predict_layers and not spec.use_mtp:
        out.append(f"num_nextn_predict_layers = {spec.num_nextn_predict_layers}: the multi-token prediction "
                   "module is not in the forward pass (as in transformers); model.use_mtp=true runs it")
    return tuple(out)


def _experts(spec: ModelSpec, intermediate: int, source: str) -> tuple[int, int, int, int]:
    """(experts, experts per token, expert width, shared experts' width); zeros for a dense model."""
    experts = spec.num_experts
    if not experts:
        return 0, 0, 0, 0
    per_token = spec.num_experts_per_tok or 0
    if not per_token or per_token > experts:
        raise ConfigError(source, "num_experts_per_tok", spec.num_experts_per_tok,
                          f"an MoE needs 1 … num_experts ({experts}) experts per token")
    if spec.decoder_sparse_step != 1 or spec.mlp_only_layers:
        raise ConfigError(source, "decoder_sparse_step" if spec.decoder_sparse_step != 1 else "mlp_only_layers",
                          spec.decoder_sparse_step if spec.decoder_sparse_step != 1 else spec.mlp_only_layers,
                          "dense and MoE layers mixed are not lowered yet; every layer must be MoE "
                          "(decoder_sparse_step 1, mlp_only_layers [])")
    width = spec.moe_intermediate_size or intermediate
    return experts, per_token, width, spec.shared_expert_intermediate_size or spec.n_shared_experts * width


def load_model(path: str | Path) -> Model:
    """A model from a config.json (or YAML) file."""
    return model_from_mapping(read_mapping(Path(path)), str(path), Path(path).stem)
