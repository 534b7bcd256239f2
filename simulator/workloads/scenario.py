"""What an LLM is asked to do: phase, batch, lengths, precisions, attention kernel style; for a training
step (`phase: train`), the `training:` section of a workload file (`Training`)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic_core import PydanticCustomError

from simulator.config.schema import DType

Positive = Annotated[int, Field(strict=True, ge=1)]
NonNegative = Annotated[int, Field(strict=True, ge=0)]
# Limits of what one run simulates (docs/workloads.md): beyond them a run would take hours or overflow
# the 64-bit cycle arithmetic, so they are refused before anything runs.
Sequences = Annotated[int, Field(strict=True, ge=1, le=2**20)]  # 1,048,576 sequences
Tokens = Annotated[int, Field(strict=True, ge=1, le=2**24)]  # 16,777,216 tokens per sequence
Steps = Annotated[int, Field(strict=True, ge=1, le=2**17)]  # 131,072 decode passes


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # prefill: one forward pass over the prompts; decode: one step that adds a token to each sequence;
    # generate: a prefill, then decode steps until `output_tokens` tokens per sequence exist;
    # train: one training step (forward, backward, optimizer) as the workload's `training:` section says;
    # serve: a service under load, as the workload's `serving:` section says (`tortoise serve`).
    phase: Literal["prefill", "decode", "generate", "train", "serve"] = "decode"
    batch: Sequences = 1  # sequences processed together
    prompt: Tokens = 128  # prompt tokens per sequence (prefill, generate)
    context: Annotated[int, Field(strict=True, ge=0, le=2**24)] | None = None  # decode: tokens already in
    # each sequence's KV cache (default: prompt)
    output_tokens: Steps = 128  # generate: tokens produced per sequence; the first comes from the prefill
    weights: DType = "bf16"  # linear-layer weights (embeddings and norms stay in the activation dtype)
    # Activations as wide as or wider than the weights: weight-only quantization (the MXU runs at the activation
    # rate, the weights are dequantized in the kernel); as narrow (weights and activations int8, or fp8): W8A8 /
    # FP8, the MXU runs at that rate and the scales apply to the outputs (docs/model.md "Quantized kernels").
    activations: DType = "bf16"
    # Scales of quantized weights (int8, int4, fp8, fp4; wider weights have none): one per `weight_group`
    # consecutive input elements of each output channel (gpt-fast int4: 32), one per output channel
    # ("channel": gpt-fast int8), or one per tensor ("tensor": per-tensor FP8).
    weight_group: Positive | Literal["channel", "tensor"] = "channel"
    weight_scale: DType = "bf16"  # storage of each scale and zero point (gpt-fast: bf16)
    weight_zero: StrictBool = False  # a zero point beside each scale (asymmetric: gpt-fast int4, AWQ, HQQ)
    # Weight-only kernels: "inline" dequantizes each loaded weight fragment before its multiply, in the same
    # loop step (PyTorch tinygemm, Inductor's fused GEMV); "pipelined" overlaps it with the next loads (Marlin);
    # "auto": inline on GPUs, pipelined on chips with decoupled vector, matrix and DMA units (hardware/quant.py).
    dequant: Literal["auto", "inline", "pipelined"] = "auto"
    kv_cache: DType = "bf16"
    # A paged KV cache (vLLM's PagedAttention): tokens per block, whose blocks lie at scattered places in HBM, so
    # attention reads K and V as gathered blocks (the `kv-gather` DRAM pattern under `model: banked`; docs/memory.md).
    # 0: one contiguous cache per sequence, streamed.
    kv_block: Annotated[int, Field(strict=True, ge=0, le=1 << 20)] = 0
    fused_attention: StrictBool = True  # flash-attention style: scores and probabilities never leave SRAM
    # Query rows per block of fused causal attention; key blocks above the diagonal are skipped.
    attention_block: Positive = 128
    # The fused attention kernel's load pipelining: K/V blocks in flight while the products run (a Triton
    # kernel's num_stages, FlashAttention-2's double buffering). 0: the chip's core.sram.stages, as its GEMMs.
    attention_stages: Annotated[int, Field(strict=True, ge=0, le=16)] = 0
    moe_imbalance: Annotated[float, Field(ge=1.0)] = 1.0  # tokens of the busiest expert ÷ the mean over experts used
    check_capacity: StrictBool = True  # refuse a scenario whose weights, KV cache and activations overflow HBM

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
        if self.phase in ("prefill", "train", "serve"):  # serve: per request (simulator/serving)
            return self.prompt
        if self.phase == "decode":
            return self.decode_context + 1
        return self.prompt + self.output_tokens - 1


class Training(BaseModel):
    """One training step: `global_batch` sequences of `sequence` tokens, taken `micro_batch` sequences at a
    time by each data-parallel (× expert-parallel) rank, then one optimizer step (docs/training.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    global_batch: Sequences | None = None  # sequences per optimizer step over all replicas (default: scenario.batch)
    micro_batch: Sequences = 1  # sequences one chip runs per forward/backward (per dp × ep rank)
    sequence: Tokens | None = None  # tokens per sequence (default: scenario.prompt)
    recompute: Literal["none", "selective", "full"] = "none"  # selective: the attention core only
    optimizer: Literal["adamw", "sgd"] = "adamw"  # sgd: SGD with momentum
    # ZeRO stage: 1 shards the optimizer states over dp, 2 also the gradients, 3 also the parameters
    zero: Annotated[int, Field(strict=True, ge=0, le=3)] = 0
    master_weights: StrictBool = True  # an fp32 copy of weights narrower than fp32, updated by the optimizer
    grad_dtype: Literal["fp32", "bf16", "fp16"] = "bf16"  # gradient buffers (and their reduction, by default)
    # The dtype the gradients are reduced in over dp / cp / ep (PyTorch FSDP's MixedPrecision reduce_dtype);
    # unset: grad_dtype. Another width than grad_dtype casts each bucket's gradients first (read at
    # grad_dtype, written at reduce_dtype), and the optimizer reads the reduced gradients at reduce_dtype.
    reduce_dtype: Literal["fp32", "bf16", "fp16"] | None = None
    # What ZeRO-3 keeps of a chip's weight shard between uses: `compute`, the shard at the weights dtype beside
    # the fp32 master in the optimizer states (DeepSpeed); `master`, the fp32 shard only, which is the master
    # (PyTorch FSDP with MixedPrecision: the low-precision shard is made for each all-gather and freed after it)
    weight_shard: Literal["compute", "master"] = "compute"
    # true: each bucket's dp/cp/ep reduction starts as soon as its gradients are done, beside the rest of the
    # backward (PyTorch DDP, FSDP, Megatron --overlap-grad-reduce); false: all of them after the pipeline's
    # flush, one after another, before the optimizer (Megatron-Core's default, and Megatron-LM's 2021 code)
    overlap_grad_reduce: StrictBool = True

    def global_batch_of(self, scenario: Scenario) -> int:
        return self.global_batch if self.global_batch is not None else scenario.batch

    def sequence_of(self, scenario: Scenario) -> int:
        return self.sequence if self.sequence is not None else scenario.prompt
