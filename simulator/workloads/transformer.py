"""Lowering a transformer to op graphs, one forward pass at a time (a prefill, or one decode step).

A pass is three segments run back to back: the embedding, one decoder layer repeated `layers`
times, and the head (final norm, LM head, sampling). Every op of a layer is an ancestor of its last
op (the second residual add) and the next layer starts from that add, so layers never overlap: the
engine is idle at each layer boundary and simulating one layer then multiplying by `layers` is
exact, not an approximation (tests check it against the unrolled graph).

Parallelism (`Parallel`): the passes are those of ONE representative chip of a pipeline stage, for ONE
micro-batch of batch/(dp·ep·microbatches) sequences (simulator/workloads/sharding.py says what a chip
holds). Collectives sit in program order; the op after one waits for it.

- Tensor parallel, degree t (Megatron): qkv_proj column-split (the chip's heads/t query heads and
  kv_heads/t KV heads, or one replicated KV head); attention on the local heads; o_proj row-split, then
  `attn_allreduce`; MLP gate/up column-split (intermediate/t), down row-split, then `mlp_allreduce`.
  The embedding is a vocabulary-parallel lookup followed by `embed_allreduce`; the LM head computes
  ceil(vocab/t) logits per sequence, then `logits_allgather` (batch × ceil(vocab/t)·t) before `sample`.
  Norms, RoPE, residual adds and learned positions are replicated. Every all-reduce moves
  tokens × hidden activations.
- Sequence parallel (with t > 1): norms, residual adds and positions run on tokens/t; each all-reduce
  becomes a reduce-scatter (`attn_reducescatter`, `mlp_reducescatter`, `embed_reducescatter`) and an
  all-gather before the next column-split GEMM (`attn_allgather`, `mlp_allgather`); the head gathers
  the last positions (`head_allgather`, batch × hidden).
- MoE: t splits every expert's (and shared expert's) width, the router is replicated, and
  `mlp_allreduce` follows the combine. Expert parallel, degree e: after router and top-k,
  `moe_dispatch` (all-to-all of tokens × top-k × hidden), the chip's experts/e experts on the tokens
  routed to them (`expert_loads` of the busiest chip of the group), `moe_combine` (the same bytes), then
  the shared experts and the weighted sum.
- Pipeline parallel: segments are not split; mapping gives each stage its share of the layer
  repeats (`Segment.place`: the embedding to the first, the head to the last).
  `Pass.activation_bytes` is what one stage sends the next per micro-batch. Data parallel adds nothing to the graph.

`Pass.weight_bytes`, `kv_read_bytes` and `kv_write_bytes` are one chip's, over all layers (as if pp = 1).
"""

import math
from dataclasses import dataclass, replace

from simulator.config.dtypes import nbytes
from simulator.errors import ConfigError
from simulator.ir.ops import DROPOUT_OPS, VECTOR_KINDS, CollectiveOp, GemmOp, OpGraph, VectorOp
from simulator.workloads import kv_cache, layouts
from simulator.workloads.model import Model
from simulator.workloads.parallel import DEFAULT_LAYOUT, ONE_CHIP, Parallel
from simulator.workloads.scenario import Scenario
from simulator.workloads.sharding import (
    attention_sequences,
    local_model,
    sequences_per_pass,
    validate_parallel,
    vocab_per_chip,
)

VECTOR_DTYPES = ("fp32", "bf16", "fp16")  # elementwise work on narrower activations runs in bf16


@dataclass(frozen=True)
class Segment:
    name: str  # embedding | layer | head
    graph: OpGraph
    repeat: int  # identical copies run back to back
    place: str = "spread"  # on a pipeline: first | last stage, or the copies spread over the stages


@dataclass(frozen=True)
class Pass:
    """One forward pass: `new_tokens` per sequence for `batch` sequences, after `context` cached ones."""

    phase: str  # prefill | decode
    batch: int
    new_tokens: int
    context: int
    segments: tuple[Segment, ...]
    weight_bytes: int  # weights (and embedding rows) the pass must read at least once
    kv_read_bytes: int  # KV cache written by earlier passes, read once
    kv_write_bytes: int  # KV cache of the new tokens
    microbatches: int = 1  # micro-batches of this pass that each pipeline stage runs in order
    activation_bytes: int = 0  # residual stream of one micro-batch: what a pipeline stage sends the next

    @property
    def tokens(self) -> int:
        return self.batch * self.new_tokens

    @property
    def model_bytes(self) -> int:
        """Bytes that must move between HBM and the chip: the numerator of MBU."""
        return self.weight_bytes + self.kv_read_bytes + self.kv_write_bytes


QUANTIZED = ("int8", "int4", "fp8", "fp4")  # weight dtypes stored with scales (scenario.weight_group)


@dataclass(frozen=True)
class Dtypes:
    weights: str
    act: str
    kv: str
    vector: str  # elementwise ops, embeddings and norms
    group: int | str = "channel"  # scenario.weight_group
    scale_bytes: int = 0  # per scale group: the scale and any zero point (0: the weights carry no scales)
    dequant: str = "auto"

    @classmethod
    def of(cls, s: Scenario) -> "Dtypes":
        scale = nbytes(2 if s.weight_zero else 1, s.weight_scale) if s.weights in QUANTIZED else 0
        return cls(s.weights, s.activations, s.kv_cache, s.activations if s.activations in VECTOR_DTYPES else "bf16",
                   s.weight_group, scale, s.dequant)

    def scales(self, k: int) -> dict:
        """GemmOp fields of a weight GEMM of depth `k`: its scales (per group, channel or tensor), its kernel."""
        if not self.scale_bytes:
            return {}
        group = {"channel": k, "tensor": 0}.get(self.group, self.group)
        return {"b_group": min(group, k), "b_scale_bytes": self.scale_bytes, "dequant": self.dequant}


class _Builder:
    """Collects ops in program order; each op depends on the previous one unless told otherwise. `role`
    tags every op it builds (training: forward, backward, recompute, optimizer; "" for inference)."""

    def __init__(self, dt: Dtypes, prefix: str = "", role: str = "", dropout: bool = False):
        self.dt = dt
        self.prefix = prefix
        self.role = role
        self.dropout = dropout  # a training step's passes: the model's dropout applies (inference runs without)
        self.ops: list = []
        self.last: tuple[str, ...] = ()
        self.weight_bytes = 0
        self.waits: dict[str, tuple[str, ...]] = {}  # GEMM name (unprefixed) → more ops it waits for, once

    def _deps(self, after):
        return self.last if after is None else tuple(after)

    def gemm(self, name, group, m, n, k, batch=1, weight=True, b_dtype=None, after=None, out_dtype=None,
             **flags) -> str:
        deps = self._deps(after) + self.waits.pop(name, ())
        name = self.prefix + name
        b_dtype = b_dtype or (self.dt.weights if weight else self.dt.act)
        scales = self.dt.scales(k) if weight and b_dtype == self.dt.weights else {}
        op = GemmOp(name, m, n, k, self.dt.act, out_dtype or self.dt.act, batch, deps, b_dtype=b_dtype,
                    group=group, role=self.role, **scales, **flags)
        if weight:
            self.weight_bytes += batch * (nbytes(k * n, b_dtype) + op.b_scale_total)
        self.ops.append(op)
        self.last = (name,)
        return name

    def vector(self, name, group, kind, elements, dtype=None, after=None, **counts) -> str:
        name = self.prefix + name
        inputs, outputs, per = VECTOR_KINDS[kind]
        op = VectorOp(name, kind, elements, dtype or self.dt.vector, counts.get("inputs", inputs),
                      counts.get("outputs", outputs), counts.get("ops_per_element", per), self._deps(after),
                      group=group, role=self.role, row=counts.get("row", 0),
                      mask_reads=counts.get("mask_reads", 0), mask_writes=counts.get("mask_writes", 0),
                      special_per_element=counts.get("special"))
        self.ops.append(op)
        self.last = (name,)
        return name

    def collective(self, name, kind, elements, axis, after=None, dtype=None) -> str:
        """`elements` values of `dtype` (default: the activations) per chip (see CollectiveOp for what its
        bytes mean per kind)."""
        name = self.prefix + name
        self.ops.append(CollectiveOp(name, kind, nbytes(elements, dtype or self.dt.act), axis, self._deps(after),
                                     role=self.role))
        self.last = (name,)
        return name


@dataclass(frozen=True)
class _Split:
    """How the pass's chip shares its work: tensor degree, sequence parallelism, expert degree, and the
    inference partition layout (simulator/workloads/layouts.py)."""

    tp: int = 1
    sp: bool = False  # 1/tp of the residual per chip: sequence parallel, or a layout other than the default
    ep: int = 1
    layout: str = DEFAULT_LAYOUT
    grid: tuple[int, int, int] = (1, 1, 1)
    batch_attention: bool = False  # attention split by sequences (parallel.attention: batch), with tp > 1

    @classmethod
    def of(cls, parallel: Parallel) -> "_Split":
        t = parallel.tp
        return cls(t, (parallel.sequence_parallel or parallel.layout != DEFAULT_LAYOUT) and t > 1, parallel.ep,
                   parallel.layout if t > 1 else DEFAULT_LAYOUT, parallel.tp_grid,
                   parallel.attention == "batch" and t > 1)

    def rows(self, tokens: int) -> int:
        """Tokens a replicated elementwise op (norm, residual) runs on."""
        return tokens // self.tp if self.sp else tokens

    def resident(self, elements: int) -> int:
        """Of a residual-stream tensor's `elements`, those a replicated elementwise op runs on (1/tp when the
        residual is split: a layout's hidden size divides by tp, sequence parallelism's tokens do)."""
        return elements // self.tp if self.sp else elements

    def reduce(self, b: _Builder, prefix: str, elements: int) -> None:
        """The partial sums of a row-split GEMM: all-reduced, or reduce-scattered under sequence parallelism."""
        if self.sp:
            b.collective(f"{prefix}_reducescatter", "reduce_scatter", elements, "tp")
        elif self.tp > 1:
            b.collective(f"{prefix}_allreduce", "all_reduce", elements, "tp")

    def gather(self, b: _Builder, prefix: str, elements: int) -> None:
        """Sequence parallelism: the whole sequence back before a column-split GEMM."""
        if self.sp:
            b.collective(f"{prefix}_allgather", "all_gather", elements, "tp")


def attention_blocks(scenario: Scenario, new: int, context: int, window: int | None = None, cp: int = 1
                     ) -> list[tuple[int, int, int]]:
    """(blocks, query rows per block, keys per block) of one head's attention on one chip.

    Fused causal attention skips key blocks above the diagonal: query block j of size b sees
    context + (j+1)·b keys. Full blocks are lowered as one batched product of their mean width,
    context + (nb+1)·b/2, which keeps the MACs exact; a ragged last block is its own product.
    Unfused attention computes the whole rectangle, masked scores included.

    A sliding `window` W (a query sees its W latest keys, itself included) also skips the key blocks behind
    every row's window: a block of r rows spans at most W + r − 1 keys. The blocks still under that cap keep
    their mean width; those at it are a product of their own. Unfused, the rectangle spans the keys any row
    of the chunk sees, min(context + new, W + new − 1); a decode step's one query sees min(context + 1, W).

    Context parallelism (`cp` > 1, a training step's ring attention) stripes the sequence: a chip holds every
    cp-th token (Brandon et al. 2023, striped attention), so each block's rows split evenly over the cp chips
    and every block keeps its keys: each chip does 1/cp of the causal work, with no chip idle on the mask.
    """
    if cp > 1:
        return [(count, -(-rows // cp), keys) for count, rows, keys in attention_blocks(scenario, new, context, window)]
    span = (lambda rows, keys: keys) if window is None else (lambda rows, keys: min(keys, window + rows - 1))
    if new == 1 or not scenario.fused_attention:
        return [(1, new, span(new, context + new))]
    block = min(scenario.attention_block, new)
    full, rest = divmod(new, block)
    under = full if window is None else max(0, min(full, (window + block - 1 - context) // block))
    blocks = [(under, block, context + (under + 1) * block // 2)] if under else []
    blocks += [(full - under, block, window + block - 1)] if full > under else []
    return blocks + ([(1, rest, span(rest, context + new))] if rest else [])


def expert_loads(tokens: int, experts: int, per_token: int, imbalance: float, group: int = 1) -> list[tuple[int, int]]:
    """(experts, tokens each) for one MoE layer on one chip; its assignments always sum to tokens × top-k.

    The experts used are the expected number a uniform router touches, E·(1 − (1 − k/E)^T). The
    busiest gets `imbalance` × the mean of those (at most every token); the rest share what is left.

    Expert parallelism: `group` chips each hold experts/group experts and route `tokens` tokens of
    their own, T = group × tokens in all. The loads are those of the busiest chip: ceil(used/group) of
    the experts used by T tokens, with the chip's tokens × top-k assignments (so the group's add up to
    T × top-k when balanced), its hottest expert at `imbalance` × the chip's mean (at most T).
    """
    total, routed = tokens * per_token, tokens * group
    touched = round(experts * (1 - (1 - per_token / experts) ** routed))
    used = -(-max(per_token, min(experts, routed * per_token, touched)) // group)
    mean = total / used
    hot = min(routed, total, max(math.ceil(mean - 1e-9), math.ceil(imbalance * mean - 1e-9)))
    loads = {hot: 1}
    if used > 1:
        q, rem = divmod(total - hot, used - 1)
        for size, count in ((q + 1, rem), (q, used - 1 - rem)):
            if size and count:
                loads[size] = loads.get(size, 0) + count
    return sorted(((count, size) for size, count in loads.items()), key=lambda cs: -cs[1])


def _attention_in(b: _Builder, model: Model, tokens: int, kv_cache: bool = True, split: _Split = _Split()) -> None:
    """The QKV projection up to the KV-cache write. `kv_cache` false (training): K and V are activations
    of this pass only, never written to a cache."""
    if model.mla:
        _mla_in(b, model, tokens)
        return
    if split.batch_attention:
        _batch_attention_in(b, model, tokens, split.tp)
        return
    d, heads_kv = model.head_dim, model.heads + model.kv_heads
    b.gemm("qkv_proj", "qkv_proj", tokens, model.q_size + 2 * model.kv_size, model.hidden)
    if model.qk_norm:
        b.vector("qk_norm", "norm", "rmsnorm", tokens * heads_kv * d)
    if not model.learned_positions:
        b.vector("rope", "attention", "rope", tokens * heads_kv * d)
    if kv_cache:
        b.vector("kv_write", "attention", "copy", tokens * 2 * model.kv_size, dtype=b.dt.kv)


def _batch_attention_in(b: _Builder, model: Model, tokens: int, tp: int) -> None:
    """Batch-sharded attention's projections (layouts.py): q for the chip's heads/tp query heads over every token,
    K and V (every KV head, the whole projection) for the tokens of the chip's batch/tp sequences; the all-to-all
    then hands each chip the q of its own sequences for every head."""
    d, own, start = model.head_dim, tokens // tp, b.last
    q = b.gemm("q_proj", "qkv_proj", tokens, model.q_size, model.hidden)
    kv = b.gemm("kv_proj", "qkv_proj", own, 2 * model.kv_size, model.hidden, after=start)
    b.last = (q, kv)
    if model.qk_norm:
        b.vector("qk_norm", "norm", "rmsnorm", (tokens * model.heads + own * model.kv_heads) * d)
    if not model.learned_positions:
        b.vector("rope", "attention", "rope", (tokens * model.heads + own * model.kv_heads) * d)
    b.vector("kv_write", "attention", "copy", own * 2 * model.kv_size, dtype=b.dt.kv)
    b.collective("attn_q_alltoall", "all_to_all", tokens * model.q_size, "tp")


def _mla_in(b: _Builder, model: Model, tokens: int) -> None:
    """MLA up to the cache write (DeepSeek-V2 §2.1): the down-projections of q (q_lora_rank) and of k/v (the
    latent c_KV and the shared RoPE key k_pe) as one GEMM, replicated under tp; the latents' RMSNorms; q's
    up-projection to the chip's heads × (qk_nope + qk_rope); RoPE on q_pe and k_pe; the latent written."""
    latent, rope = model.kv_lora_rank, model.rope_head_dim
    if model.q_lora_rank:
        b.gemm("qkv_a", "qkv_proj", tokens, model.q_lora_rank + model.kv_width, model.hidden)
        b.vector("q_a_norm", "norm", "rmsnorm", tokens * model.q_lora_rank)
        b.gemm("q_b", "qkv_proj", tokens, model.q_size, model.q_lora_rank)
    else:
        b.gemm("q_proj", "qkv_proj", tokens, model.q_size, model.hidden)
        b.gemm("kv_a", "qkv_proj", tokens, model.kv_width, model.hidden)
    b.vector("kv_a_norm", "norm", "rmsnorm", tokens * latent)
    b.vector("rope", "attention", "rope", tokens * (model.heads + 1) * rope)
    b.vector("kv_write", "attention", "copy", tokens * model.kv_width, dtype=b.dt.kv)


def _attention_core(b: _Builder, model: Model, scenario: Scenario, batch: int, new: int, context: int,
                    window: int | None = None, cp: int = 1, split: _Split = _Split()) -> list[str]:
    """QKᵀ, (soft-capping,) softmax and P·V after the op before, over the keys `window` leaves; returns the
    last products' names. Batch-sharded (`split.batch_attention`): every head of the chip's batch/tp sequences,
    then the all-to-all that returns each chip its heads of every sequence."""
    if split.batch_attention:
        whole = replace(model, heads=model.heads * split.tp)
        values = _attention_core(b, whole, scenario, batch // split.tp, new, context, window, cp)
        return [b.collective("attn_out_alltoall", "all_to_all", batch * new * model.o_size, "tp", after=values)]
    if model.mla:
        return (_mla_decode_core if new == 1 else _mla_prefill_core)(b, model, scenario, batch, new, context)
    blocks = attention_blocks(scenario, new, context, window, cp)
    # The query heads sharing a KV head are stacked into one product, so K and V are read once per group.
    return _products(b, model, scenario, blocks, batch * model.kv_heads, model.group_size, model.head_dim,
                     model.head_dim, b.dt.kv)


def _attention_kernel(scenario: Scenario) -> dict:
    """GemmOp fields of fused attention's products: the kernel's own load pipelining, where the scenario sets it."""
    return {"stages": scenario.attention_stages} if scenario.fused_attention and scenario.attention_stages else {}


def _products(b: _Builder, model: Model, scenario: Scenario, blocks, copies: int, stacked: int, d_qk: int,
              d_v: int, b_dtype: str, start=None) -> list[str]:
    """Scores (`stacked` query heads per product, `copies` products per block), the logits' soft cap, the
    softmax and P·V."""
    fused = scenario.fused_attention
    start = b.last if start is None else start
    # a paged cache: each block holds kv_block tokens of every KV head of the chip (vLLM's layout), K and V apart
    kv_heads = 1 if model.mla else model.kv_heads  # MLA caches one latent per token
    kernel = _attention_kernel(scenario)
    gather = {"b_block": nbytes(scenario.kv_block * d_qk * kv_heads, b_dtype)} if scenario.kv_block else {}
    scores = [b.gemm(f"scores{i or ''}", "attention", stacked * rows, keys, d_qk, copies * count,
                     weight=False, b_dtype=b_dtype, after=start, c_on_chip=fused, **gather, **kernel)
              for i, (count, rows, keys) in enumerate(blocks)]
    elements = sum(copies * stacked * count * rows * keys for count, rows, keys in blocks)
    moved = 0 if fused else 1
    tile = "fp32" if fused else None  # fused: the scores stay in the products' fp32 accumulators, worked on so
    if model.attn_softcap:
        scores = [b.vector("softcap", "attention", "softcap", elements, dtype=tile, after=scores, inputs=moved,
                           outputs=moved)]
    soft = b.vector("softmax", "attention", "softmax", elements, dtype=tile, after=scores, inputs=moved,
                    outputs=moved, row=max(keys for _, _, keys in blocks))
    if b.dropout and model.attention_dropout:  # fused: the kernel draws the mask in registers and keeps none
        soft = b.vector("attn_dropout", "attention", "dropout", elements, dtype=tile, inputs=moved, outputs=moved,
                        mask_writes=moved)
    gather = {"b_block": nbytes(scenario.kv_block * d_v * kv_heads, b_dtype)} if scenario.kv_block else {}
    return [b.gemm(f"values{i or ''}", "attention", stacked * rows, d_v, keys, copies * count,
                   weight=False, b_dtype=b_dtype, after=(soft,), a_on_chip=fused, **gather, **kernel)
            for i, (count, rows, keys) in enumerate(blocks)]


def _mla_prefill_core(b: _Builder, model: Model, scenario: Scenario, batch: int, new: int, context: int) -> list[str]:
    """MLA's prefill ("naive" path): kv_b expands the latent of every key the chunk sees (cached and new)
    into each head's k_nope and v, then attention runs as MHA with qk_nope + qk_rope dims per head for the
    scores and v_head_dim for the values."""
    keys = batch * (context + new)
    b.gemm("kv_b", "attention", keys, model.latent_width, model.kv_lora_rank)
    blocks = attention_blocks(scenario, new, context)
    return _products(b, model, scenario, blocks, batch * model.heads, 1, model.head_dim, model.v_head_dim,
                     b.dt.act)


def _mla_decode_core(b: _Builder, model: Model, scenario: Scenario, batch: int, new: int, context: int) -> list[str]:
    """MLA's decode with the absorbed projections (DeepSeek-V3 inference/model.py, attn_impl "absorb"): each
    head's q_nope times its k part of kv_b (qk_nope → kv_lora_rank), then one product against the cached latent
    and k_pe for all heads (MQA with a kv_lora_rank + qk_rope key), P·V over the latent, and each head's v part
    of kv_b (kv_lora_rank → v_head_dim) before the output projection."""
    tokens, latent, nope = batch * new, model.kv_lora_rank, model.head_dim - model.rope_head_dim
    b.gemm("q_absorb", "attention", tokens, latent, nope, model.heads)
    blocks = attention_blocks(scenario, new, context)
    values = _products(b, model, scenario, blocks, batch, model.heads, model.kv_width, latent, b.dt.kv)
    return [b.gemm("v_up", "attention", tokens, model.v_head_dim, latent, model.heads, after=values)]


def _mlp(b: _Builder, model: Model, tokens: int, width: int, group: str, prefix: str = "", after=None) -> str:
    gated = model.gated_mlp
    up = b.gemm(f"{prefix}gate_up" if gated else f"{prefix}up", group, tokens, width * (2 if gated else 1),
                model.hidden, after=after)
    act = b.vector(f"{prefix}act", group, model.act_kind, tokens * width, after=(up,))
    return b.gemm(f"{prefix}down", group, tokens, model.hidden, width, after=(act,))


def _moe(b: _Builder, model: Model, scenario: Scenario, tokens: int, split: _Split) -> None:
    """`model` is the chip's shard (`local_model`): expert widths / tp, the router over all experts."""
    k, experts = model.experts_per_token, model.experts
    if experts > 1:
        b.gemm("router", "router", tokens, experts, model.hidden)
        b.vector("topk", "router", "topk", tokens * experts, outputs=0)
    routed = tokens * k * model.hidden
    if split.ep > 1:
        b.collective("moe_dispatch", "all_to_all", routed, "ep")
    start = b.last
    loads = expert_loads(tokens, experts, k, scenario.moe_imbalance, split.ep)
    ups = [b.gemm(f"experts{i or ''}.gate_up" if model.gated_mlp else f"experts{i or ''}.up", "experts", size,
                  model.expert_intermediate * (2 if model.gated_mlp else 1), model.hidden, count, after=start)
           for i, (count, size) in enumerate(loads)]
    act = b.vector("experts.act", "experts", model.act_kind,
                   tokens * k * model.expert_intermediate, after=ups)
    downs = [b.gemm(f"experts{i or ''}.down", "experts", size, model.hidden, model.expert_intermediate, count,
                    after=(act,))
             for i, (count, size) in enumerate(loads)]
    if split.ep > 1:
        downs = [b.collective("moe_combine", "all_to_all", routed, "ep", after=downs)]
    sources = k
    if model.shared_intermediate:
        downs = [_mlp(b, model, tokens, model.shared_intermediate, "shared_expert", "shared.", after=downs)]
        sources += 1
    if experts > 1 or model.shared_intermediate:
        b.vector("combine", "experts", "weighted_sum", tokens * model.hidden, after=downs, inputs=sources,
                 ops_per_element=2.0 * sources)


def _layer(b: _Builder, model: Model, scenario: Scenario, batch: int, new: int, context: int,
           split: _Split = _Split(), kv_cache: bool = True, window: int | None = None) -> None:
    """`model` is the chip's shard (`local_model`) of one layer group, whose queries see `window` keys. A
    parallel block (Falcon, GPT-J) reduces the sum of its two branches once."""
    tokens = batch * new
    _before_core(b, model, tokens, split, kv_cache)
    values = _attention_core(b, model, scenario, batch, new, context, window, split=split)
    _after_core(b, model, tokens, split, after=values, fused_block=model.parallel_block)
    _mlp_half(b, model, scenario, tokens, split, fused_block=model.parallel_block)


def _attention_half(b: _Builder, model: Model, scenario: Scenario, batch: int, new: int, context: int,
                    split: _Split, kv_cache: bool = True) -> None:
    """A layer up to its first residual add (a training step's forward: every branch reduced on its own)."""
    tokens = batch * new
    _before_core(b, model, tokens, split, kv_cache)
    values = _attention_core(b, model, scenario, batch, new, context)
    _after_core(b, model, tokens, split, after=values)


def _before_core(b: _Builder, model: Model, tokens: int, split: _Split, kv_cache: bool = True) -> None:
    """A layer from its first norm to the KV-cache write: everything before the attention core."""
    b.vector("attn_norm", "norm", model.norm, split.resident(tokens * model.hidden), row=model.hidden)
    split.gather(b, "attn", tokens * model.hidden)
    _attention_in(b, model, tokens, kv_cache, split)


def _after_core(b: _Builder, model: Model, tokens: int, split: _Split, after=None, fused_block: bool = False) -> None:
    """A layer from the output projection to its first residual add: everything after the attention core.
    Gemma-2's sandwich norm (4 norms a layer) normalizes the attention output before the add. A parallel
    block (`fused_block`) stops after the projection: its sum with the MLP's is reduced and added once."""
    b.gemm("o_proj", "o_proj", tokens, model.hidden, model.o_size, after=after)
    if fused_block:
        return
    split.reduce(b, "attn", tokens * model.hidden)
    if model.layer_norms == 4:
        b.vector("post_attn_norm", "norm", model.norm, split.resident(tokens * model.hidden), row=model.hidden)
    b.vector("attn_residual", "residual", "add", split.resident(tokens * model.hidden), **_branch_dropout(b, model))


def _branch_dropout(b: _Builder, model: Model) -> dict:
    """A training step's dropout on a branch's output, in its residual add's kernel (Megatron's fused
    bias-dropout-add): the mask's draw and its write on top of the add."""
    if not (b.dropout and model.hidden_dropout):
        return {}
    return {"ops_per_element": VECTOR_KINDS["add"][2] + DROPOUT_OPS, "mask_writes": 1}


def _mlp_half(b: _Builder, model: Model, scenario: Scenario, tokens: int, split: _Split,
              fused_block: bool = False) -> None:
    """A layer from its second norm to its last residual add. A parallel block (`fused_block`) normalizes the
    layer's input for the MLP (unless one norm serves both branches), adds the two branches' outputs and
    reduces that sum once (Falcon-40B's ln_attn and ln_mlp; GPT-J's one ln_1)."""
    hidden = tokens * model.hidden
    resident = split.resident(hidden)
    if not fused_block or model.layer_norms >= 2:
        b.vector("mlp_norm", "norm", model.norm, resident, row=model.hidden)
    if split.layout == "2d_weight_stationary":
        layouts.ffn_2d(b, model, tokens, split.tp, split.grid)
    elif split.layout != DEFAULT_LAYOUT:
        layouts.ffn_gathered(b, model, tokens, split.tp, split.layout, split.grid)
    else:
        split.gather(b, "mlp", hidden)
        if model.is_moe:
            _moe(b, model, scenario, tokens, split)
        else:
            _mlp(b, model, tokens, model.intermediate, "mlp")
        if fused_block:
            b.vector("branch_sum", "residual", "add", hidden)  # attention's output + the MLP's, both partial sums
        split.reduce(b, "mlp", hidden)
    if model.layer_norms == 4:
        b.vector("post_mlp_norm", "norm", model.norm, resident, row=model.hidden)
    b.vector("mlp_residual", "residual", "add", resident, **_branch_dropout(b, model))


def _embedding(b: _Builder, model: Model, tokens: int, split: _Split = _Split()) -> None:
    """A vocabulary-parallel lookup: each chip fills the rows of its own vocabulary shard (tokens/tp of
    them, in expectation), the rest are zeros until the all-reduce."""
    b.vector("embed", "embedding", "lookup", tokens * model.hidden)
    b.weight_bytes += nbytes(-(-tokens // split.tp) * model.hidden, b.dt.vector)
    split.reduce(b, "embed", tokens * model.hidden)
    if model.learned_positions:
        elements = split.resident(tokens * model.hidden)
        b.vector("positions", "embedding", "add", elements)
        b.weight_bytes += nbytes(elements, b.dt.vector)
    if b.dropout and model.embedding_dropout:
        b.vector("embed_dropout", "embedding", "dropout", split.resident(tokens * model.hidden), mask_writes=1)


def _head(b: _Builder, model: Model, batch: int, split: _Split = _Split()) -> None:
    """Logits for each sequence's last position only: that is all sampling needs."""
    if split.sp:
        b.collective("head_allgather", "all_gather", batch * model.hidden, "tp")
    b.vector("final_norm", "norm", model.norm, batch * model.hidden, row=model.hidden)
    vocab = vocab_per_chip(model, split.tp)
    b.gemm("lm_head", "lm_head", batch, vocab, model.hidden, b_dtype=b.dt.vector if model.tied_embeddings else None)
    if model.final_softcap:
        b.vector("logit_softcap", "lm_head", "softcap", batch * vocab)
    if split.tp > 1:
        b.collective("logits_allgather", "all_gather", batch * vocab * split.tp, "tp")
    b.vector("sample", "lm_head", "topk", batch * model.vocab, outputs=0)


def lower_pass(model: Model, scenario: Scenario, phase: str, new: int, context: int,
               unrolled: bool = False, parallel: Parallel = ONE_CHIP) -> Pass:
    """One forward pass of one chip and one micro-batch, for a split `lower` has checked: the embedding, one
    segment per layer group (`Model.groups`: `layer` when every layer is alike) and the head. `unrolled`
    writes every layer out (for checking that scaling one is exact)."""
    dt, batch = Dtypes.of(scenario), sequences_per_pass(scenario, parallel)
    split, shard = _Split.of(parallel), local_model(model, parallel)
    tag = f"{model.name}.{phase}"
    groups = shard.groups()
    ends, layers = [_Builder(dt), _Builder(dt)], [_Builder(dt) for _ in groups]
    _embedding(ends[0], model, batch * new, split)
    for b, g in zip(layers, groups, strict=True):
        _layer(b, g.model, scenario, batch, new, context, split, window=g.window)
    mtp = _mtp(model, shard, scenario, batch, new, context, split, dt) if model.mtp_layers else None
    _head(ends[1], model, batch, split)
    weight_bytes = ends[0].weight_bytes + ends[1].weight_bytes + sum(
        g.count * b.weight_bytes for b, g in zip(layers, groups, strict=True)) + (
        model.mtp_layers * mtp.weight_bytes if mtp else 0)
    if unrolled:
        whole = _Builder(dt)
        _embedding(whole, model, batch * new, split)
        index = {g.name: g for g in groups}
        for i in range(model.layers):
            whole.prefix = f"layers.{i}."
            g = index[shard.group_of(i)]
            _layer(whole, g.model, scenario, batch, new, context, split, window=g.window)
        whole.prefix = ""
        _head(whole, model, batch, split)
        segments = (Segment("all", OpGraph(f"{tag}.unrolled", tuple(whole.ops)), 1),)
    else:
        parts = [Segment("embedding", OpGraph(f"{tag}.embedding", tuple(ends[0].ops)), 1, "first")]
        parts += [Segment(g.name, OpGraph(f"{tag}.{g.name}", tuple(b.ops)), g.count, "spread")
                  for b, g in zip(layers, groups, strict=True)]
        if mtp:
            parts.append(Segment("mtp", OpGraph(f"{tag}.mtp", tuple(mtp.ops)), model.mtp_layers, "last"))
        parts.append(Segment("head", OpGraph(f"{tag}.head", tuple(ends[1].ops)), 1, "last"))
        segments = tuple(parts)
    last = groups[-1]  # the multi-token prediction modules' layer is like the last
    mtp_read, mtp_write = (model.mtp_layers * nbytes(n * last.model.kv_width, dt.kv)
                           for n in (kv_cache.cached_read(last.window, context), new))
    held = attention_sequences(batch, parallel)  # sequences whose KV cache this chip holds
    return Pass(phase, batch, new, context, segments, weight_bytes,
                kv_read_bytes=held * (kv_cache.read_bytes(shard, dt.kv, context) + mtp_read),
                kv_write_bytes=held * (kv_cache.write_bytes(shard, dt.kv, new) + mtp_write),
                microbatches=parallel.microbatches, activation_bytes=nbytes(batch * new * model.hidden, dt.act))


def _mtp_in(b: _Builder, shard: Model, tokens: int, split: _Split) -> None:
    """A multi-token prediction module (DeepSeek-V3 §2.2) up to its attention core: the hidden state and the
    next token's embedding normalized (`hnorm`: both), their concatenation projected (2·hidden → hidden), then
    the first part of one layer like the model's last (with its own KV cache)."""
    b.vector("hnorm", "norm", shard.norm, 2 * split.rows(tokens) * shard.hidden)
    split.gather(b, "mtp", 2 * tokens * shard.hidden)
    b.gemm("eh_proj", "mtp", tokens, shard.hidden, 2 * shard.hidden)
    _before_core(b, shard.groups()[-1].model, tokens, split)


def _mtp_out(b: _Builder, model: Model, shard: Model, scenario: Scenario, tokens: int, sequences: int,
             split: _Split) -> None:
    """The module's layer after its core, then (for `sequences` logits) its head: its own final norm and the
    shared LM head, whose table the main head's read already counts in the pass's weight bytes."""
    last = shard.groups()[-1].model
    if tokens:
        _after_core(b, last, tokens, split, fused_block=last.parallel_block)
        _mlp_half(b, last, scenario, tokens, split, fused_block=last.parallel_block)
    if sequences:
        weights = b.weight_bytes
        _head(b, model, sequences, split)
        b.weight_bytes = weights


def _mtp(model: Model, shard: Model, scenario: Scenario, batch: int, new: int, context: int, split: _Split,
         dt: Dtypes) -> _Builder:
    """One multi-token prediction module on the pass's tokens, after the main layers: its draft of the token
    after next is computed (its cost), not used (a run's tokens are the main head's)."""
    b = _Builder(dt, prefix="mtp.")
    last = shard.groups()[-1]
    _mtp_in(b, shard, batch * new, split)
    values = _attention_core(b, last.model, scenario, batch, new, context, last.window)
    b.last = tuple(values)
    _mtp_out(b, model, shard, scenario, batch * new, batch, split)
    return b


def lower(model: Model, scenario: Scenario, parallel: Parallel = ONE_CHIP) -> list[Pass]:
    """The passes a scenario runs: a prefill, a decode step, or a prefill and the decode steps after it;
    with parallelism, those of one chip of a pipeline stage for one micro-batch. A training step is not a
    pass: simulator/workloads/training.py lowers it (`lower_training`)."""
    if scenario.phase == "train":
        raise ConfigError(model.name, "scenario.phase", scenario.phase,
                          "this lowers inference (prefill, decode, generate); a training step is lowered by "
                          "simulator.workloads.training.lower_training")
    validate_parallel(model, scenario, parallel, model.name)
    if scenario.phase == "prefill":
        return [lower_pass(model, scenario, "prefill", scenario.prompt, 0, parallel=parallel)]
    if scenario.phase == "decode":
        return [lower_pass(model, scenario, "decode", 1, scenario.decode_context, parallel=parallel)]
    passes = [lower_pass(model, scenario, "prefill", scenario.prompt, 0, parallel=parallel)]
    for step in range(1, scenario.output_tokens):
        passes.append(lower_pass(model, scenario, "decode", 1, scenario.prompt + step - 1, parallel=parallel))
    return passes
