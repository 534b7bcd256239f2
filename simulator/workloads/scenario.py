"""What an LLM is asked to do: phase, batch, lengths, precisions, attention kernel style."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from simulator.config.schema import DType

Positive = Annotated[int, Field(strict=True, ge=1)]
NonNegative = Annotated[int, Field(strict=True, ge=0)]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # prefill: one forward pass over the prompts; decode: one step that adds a token to each sequence;
    # generate: a prefill, then decode steps until `output_tokens` tokens per sequence exist.
    phase: Literal["prefill", "decode", "generate"] = "decode"
    batch: Positive = 1  # sequences processed together
    prompt: Positive = 128  # prompt tokens per sequence (prefill, generate)
    context: NonNegative | None = None  # decode: tokens already in each sequence's KV cache (default: prompt)
    output_tokens: Positive = 128  # generate: tokens produced per sequence; the first comes from the prefill
    weights: DType = "bf16"  # linear-layer weights (embeddings and norms stay in the activation dtype)
    activations: DType = "bf16"
    kv_cache: DType = "bf16"
    fused_attention: bool = True  # flash-attention style: scores and probabilities never leave SRAM
    # Query rows per block of fused causal attention; key blocks above the diagonal are skipped.
    attention_block: Positive = 128
    moe_imbalance: Annotated[float, Field(ge=1.0)] = 1.0  # tokens of the busiest expert ÷ the mean over experts used
    check_capacity: bool = True  # refuse a scenario whose weights, KV cache and activations overflow HBM

    @field_validator("attention_block")
    @classmethod
    def _even(cls, v):
        if v % 2:
            raise PydanticCustomError("block", "must be an even number of query rows (e.g. 64, 128)")
        return v

    @property
    def decode_context(self) -> int:
        return self.prompt if self.context is None else self.context

    @property
    def max_context(self) -> int:
        """Most tokens any sequence's KV cache holds during the scenario."""
        if self.phase == "prefill":
            return self.prompt
        if self.phase == "decode":
            return self.decode_context + 1
        return self.prompt + self.output_tokens - 1
