"""A transformer described by the fields of its Hugging Face `config.json`.

A real `config.json` loads as-is: fields Tortoise does not use are ignored, GPT-2-style names
(`n_embd`, `n_layer`, …) are read as their Llama-style equivalents, and the family (`model_type`)
decides what the config leaves implicit — gated MLP or not, RMSNorm or LayerNorm, rotary or learned
positions, biases, QK-norm.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from simulator.config.validation import validate
from simulator.config.yamlio import read_mapping
from simulator.errors import ConfigError

Positive = Annotated[int, Field(strict=True, ge=1)]

# GPT-2 / other spellings → the Llama-style field they mean (HF's own `attribute_map`s).
ALIASES = {
    "n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
    "n_inner": "intermediate_size", "n_positions": "max_position_embeddings",
    "num_local_experts": "num_experts", "n_routed_experts": "num_experts",
}
# Families whose blocks are GPT-style: LayerNorm, plain (non-gated) GELU MLP, biases everywhere.
GPT_STYLE = {"gpt2", "gpt_neox", "gptj", "gpt_bigcode", "opt", "bloom", "falcon", "phi"}
LEARNED_POSITIONS = {"gpt2", "gpt_bigcode", "opt"}
QKV_BIAS = {"qwen2", "qwen2_moe"}  # Qwen2 projections carry a bias without saying so in the config
QK_NORM = {"qwen3", "qwen3_moe"}  # per-head RMSNorm on q and k before RoPE
UNSUPPORTED = {  # field present → what it means; the lowering would be wrong without it
    "kv_lora_rank": "multi-head latent attention (DeepSeek-V2/V3)",
    "first_k_dense_replace": "dense and MoE layers mixed (DeepSeek)",
}


class ModelSpec(BaseModel):
    """The fields lowering needs; anything else in a config.json is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_type: str = "llama"
    hidden_size: Positive
    num_hidden_layers: Positive
    num_attention_heads: Positive
    num_key_value_heads: Positive | None = None  # default: num_attention_heads (MHA)
    head_dim: Positive | None = None  # default: hidden_size / num_attention_heads
    intermediate_size: Positive | None = None  # default: 4 × hidden_size (GPT-2's n_inner = null)
    vocab_size: Positive
    max_position_embeddings: Positive | None = None
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    num_experts: Annotated[int, Field(strict=True, ge=0)] = 0  # 0 = dense MLP
    num_experts_per_tok: Positive | None = None
    moe_intermediate_size: Positive | None = None  # default: intermediate_size (Mixtral)
    shared_expert_intermediate_size: Annotated[int, Field(strict=True, ge=0)] = 0  # Qwen2-MoE
    n_shared_experts: Annotated[int, Field(strict=True, ge=0)] = 0  # DeepSeek-MoE: × moe_intermediate_size
    decoder_sparse_step: Positive = 1
    mlp_only_layers: list[int] = []


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
    max_positions: int | None
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

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def q_size(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads sharing one KV head (1 = MHA, heads = MQA)."""
        return self.heads // self.kv_heads

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
    def attention_weights(self) -> int:
        """Matrix weights of one layer's attention: the q, k, v and output projections."""
        return self.hidden * (self.q_size + 2 * self.kv_size) + self.q_size * self.hidden

    @property
    def linear_params(self) -> int:
        """Parameters held in matrices the MXU multiplies by: what weight quantization applies to."""
        return self.layers * (self.attention_weights + self.ffn_linear_params()) + self.lm_head_params

    @property
    def attention_params(self) -> int:
        biases = (self.q_size + 2 * self.kv_size if self.qkv_bias else 0) + (self.hidden if self.out_bias else 0)
        return self.attention_weights + biases + (2 * self.head_dim if self.qk_norm else 0)

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
                ffn += self.mlp_params(self.shared_intermediate)
        return self.attention_params + ffn + 2 * self.norm_params

    @property
    def embedding_params(self) -> int:
        positions = (self.max_positions or 0) * self.hidden if self.learned_positions else 0
        return self.vocab * self.hidden + positions

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab * self.hidden

    def params(self, active: bool = False) -> int:
        """Total parameters (or those one token touches, for an MoE)."""
        return (self.embedding_params + self.lm_head_params + self.layers * self.layer_params(active)
                + self.norm_params)

    def describe(self) -> str:
        attn = "MHA" if self.kv_heads == self.heads else ("MQA" if self.kv_heads == 1 else "GQA")
        mlp = ("SwiGLU" if self.gated_mlp else "GELU") + " MLP"
        if self.is_moe:
            mlp = f"MoE {self.experts} experts top-{self.experts_per_token} × {self.expert_intermediate}"
            if self.shared_intermediate:
                mlp += f" + shared {self.shared_intermediate}"
        pos = "learned positions" if self.learned_positions else "rotary"
        return (f"{self.layers} layers, hidden {self.hidden}, {attn} {self.heads}/{self.kv_heads} heads × "
                f"{self.head_dim}, {mlp}, {self.norm}, {pos}, vocab {self.vocab}"
                + (", QK-norm" if self.qk_norm else ""))


def normalize(data: dict) -> dict:
    """Map other spellings onto the fields ModelSpec reads; the Llama-style name wins if both exist."""
    out = dict(data)
    for alias, name in ALIASES.items():
        if alias in data and data[alias] is not None and out.get(name) is None:
            out[name] = data[alias]
    return out


def model_from_mapping(data: dict, source: str, name: str = "", provenance: dict | None = None) -> Model:
    """A Model from config.json-style data, or a one-line ConfigError naming the file and the field."""
    data = normalize(data)
    provenance = provenance or {}
    for field, what in UNSUPPORTED.items():
        if data.get(field):
            raise ConfigError(provenance.get((field,), source), field, data[field],
                              f"{what} is not lowered by Tortoise yet")
    spec = validate(ModelSpec, data, source, provenance)
    return resolve(spec, source, name or Path(source).stem)


def resolve(spec: ModelSpec, source: str, name: str) -> Model:
    family = spec.model_type
    gpt = family in GPT_STYLE
    kv_heads = spec.num_key_value_heads or spec.num_attention_heads
    if spec.num_attention_heads % kv_heads:
        raise ConfigError(source, "num_key_value_heads", kv_heads,
                          f"must divide num_attention_heads ({spec.num_attention_heads})")
    head_dim = spec.head_dim
    if head_dim is None:
        if spec.hidden_size % spec.num_attention_heads:
            raise ConfigError(source, "head_dim", None, "required when num_attention_heads does not divide hidden_size")
        head_dim = spec.hidden_size // spec.num_attention_heads
    intermediate = spec.intermediate_size or 4 * spec.hidden_size
    if spec.intermediate_size is None and not gpt:
        raise ConfigError(source, "intermediate_size", None, "required field is missing")
    experts = spec.num_experts
    per_token = spec.num_experts_per_tok or 0
    if experts:
        if not per_token or per_token > experts:
            raise ConfigError(source, "num_experts_per_tok", spec.num_experts_per_tok,
                              f"an MoE needs 1 … num_experts ({experts}) experts per token")
        if spec.decoder_sparse_step != 1 or spec.mlp_only_layers:
            raise ConfigError(source, "decoder_sparse_step" if spec.decoder_sparse_step != 1 else "mlp_only_layers",
                              spec.decoder_sparse_step if spec.decoder_sparse_step != 1 else spec.mlp_only_layers,
                              "dense and MoE layers mixed are not lowered yet; every layer must be MoE "
                              "(decoder_sparse_step 1, mlp_only_layers [])")
    expert_width = spec.moe_intermediate_size or intermediate
    shared = spec.shared_expert_intermediate_size or spec.n_shared_experts * expert_width
    return Model(
        name=name, family=family, hidden=spec.hidden_size, layers=spec.num_hidden_layers,
        heads=spec.num_attention_heads, kv_heads=kv_heads, head_dim=head_dim, intermediate=intermediate,
        vocab=spec.vocab_size, max_positions=spec.max_position_embeddings,
        tied_embeddings=spec.tie_word_embeddings, gated_mlp=not gpt,
        norm="layernorm" if gpt else "rmsnorm", learned_positions=family in LEARNED_POSITIONS,
        qkv_bias=gpt or spec.attention_bias or family in QKV_BIAS, out_bias=gpt or spec.attention_bias,
        mlp_bias=gpt or spec.mlp_bias, qk_norm=family in QK_NORM,
        experts=experts, experts_per_token=per_token if experts else 0,
        expert_intermediate=expert_width if experts else 0, shared_intermediate=shared if experts else 0,
    )


def load_model(path: str | Path) -> Model:
    """A model from a config.json (or YAML) file."""
    return model_from_mapping(read_mapping(Path(path)), str(path), Path(path).stem)
