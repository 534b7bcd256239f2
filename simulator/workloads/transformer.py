"""Lowering a transformer to op graphs, one forward pass at a time (a prefill, or one decode step).

A pass is three segments run back to back: the embedding, one decoder layer repeated `layers`
times, and the head (final norm, LM head, sampling). Every op of a layer is an ancestor of its last
op (the second residual add) and the next layer starts from that add, so layers never overlap: the
engine is idle at each layer boundary and simulating one layer then multiplying by `layers` is
exact, not an approximation (tests check it against the unrolled graph).
"""

import math
from dataclasses import dataclass

from simulator.config.dtypes import nbytes
from simulator.workloads.model import Model
from simulator.workloads.ops import VECTOR_KINDS, GemmOp, OpGraph, VectorOp
from simulator.workloads.scenario import Scenario

VECTOR_DTYPES = ("fp32", "bf16", "fp16")  # elementwise work on narrower activations runs in bf16


@dataclass(frozen=True)
class Segment:
    name: str  # embedding | layer | head
    graph: OpGraph
    repeat: int  # identical copies run back to back


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

    @property
    def tokens(self) -> int:
        return self.batch * self.new_tokens

    @property
    def model_bytes(self) -> int:
        """Bytes that must move between HBM and the chip: the numerator of MBU."""
        return self.weight_bytes + self.kv_read_bytes + self.kv_write_bytes


@dataclass(frozen=True)
class Dtypes:
    weights: str
    act: str
    kv: str
    vector: str  # elementwise ops, embeddings and norms

    @classmethod
    def of(cls, s: Scenario) -> "Dtypes":
        return cls(s.weights, s.activations, s.kv_cache, s.activations if s.activations in VECTOR_DTYPES else "bf16")


class _Builder:
    """Collects ops in program order; each op depends on the previous one unless told otherwise."""

    def __init__(self, dt: Dtypes, prefix: str = ""):
        self.dt = dt
        self.prefix = prefix
        self.ops: list = []
        self.last: tuple[str, ...] = ()
        self.weight_bytes = 0

    def _deps(self, after):
        return self.last if after is None else tuple(after)

    def gemm(self, name, group, m, n, k, batch=1, weight=True, b_dtype=None, after=None, **flags) -> str:
        name = self.prefix + name
        b_dtype = b_dtype or (self.dt.weights if weight else self.dt.act)
        op = GemmOp(name, m, n, k, self.dt.act, self.dt.act, batch, self._deps(after), b_dtype=b_dtype,
                    group=group, **flags)
        if weight:
            self.weight_bytes += batch * nbytes(k * n, b_dtype)
        self.ops.append(op)
        self.last = (name,)
        return name

    def vector(self, name, group, kind, elements, dtype=None, after=None, **counts) -> str:
        name = self.prefix + name
        inputs, outputs, per = VECTOR_KINDS[kind]
        op = VectorOp(name, kind, elements, dtype or self.dt.vector, counts.get("inputs", inputs),
                      counts.get("outputs", outputs), counts.get("ops_per_element", per), self._deps(after),
                      group=group)
        self.ops.append(op)
        self.last = (name,)
        return name


def attention_blocks(scenario: Scenario, new: int, context: int) -> list[tuple[int, int, int]]:
    """(blocks, query rows per block, keys per block) of one head's attention.

    Fused causal attention skips key blocks above the diagonal: query block j of size b sees
    context + (j+1)·b keys. Full blocks are lowered as one batched product of their mean width,
    context + (nb+1)·b/2, which keeps the MACs exact; a ragged last block is its own product.
    Unfused attention computes the whole rectangle, masked scores included.
    """
    if new == 1 or not scenario.fused_attention:
        return [(1, new, context + new)]
    block = min(scenario.attention_block, new)
    full, rest = divmod(new, block)
    blocks = [(full, block, context + (full + 1) * block // 2)]
    return blocks + ([(1, rest, context + new)] if rest else [])


def expert_loads(tokens: int, experts: int, per_token: int, imbalance: float) -> list[tuple[int, int]]:
    """(experts, tokens each) for one MoE layer; the token-expert assignments always sum to tokens × top-k.

    The experts used are the expected number a uniform router touches, E·(1 − (1 − k/E)^T). The
    busiest gets `imbalance` × the mean of those (at most every token); the rest share what is left.
    """
    total = tokens * per_token
    touched = round(experts * (1 - (1 - per_token / experts) ** tokens))
    used = max(per_token, min(experts, total, touched))
    mean = total / used
    hot = min(tokens, max(math.ceil(mean - 1e-9), math.ceil(imbalance * mean - 1e-9)))
    loads = {hot: 1}
    if used > 1:
        q, rem = divmod(total - hot, used - 1)
        for size, count in ((q + 1, rem), (q, used - 1 - rem)):
            if size and count:
                loads[size] = loads.get(size, 0) + count
    return sorted(((count, size) for size, count in loads.items()), key=lambda cs: -cs[1])


def _attention(b: _Builder, model: Model, scenario: Scenario, batch: int, new: int, context: int) -> None:
    tokens, d, g = batch * new, model.head_dim, model.group_size
    heads_kv = model.heads + model.kv_heads
    b.gemm("qkv_proj", "qkv_proj", tokens, model.q_size + 2 * model.kv_size, model.hidden)
    if model.qk_norm:
        b.vector("qk_norm", "norm", "rmsnorm", tokens * heads_kv * d)
    if not model.learned_positions:
        b.vector("rope", "attention", "rope", tokens * heads_kv * d)
    write = b.vector("kv_write", "attention", "copy", tokens * 2 * model.kv_size, dtype=b.dt.kv)
    fused = scenario.fused_attention
    blocks = attention_blocks(scenario, new, context)
    # The query heads sharing a KV head are stacked into one product, so K and V are read once per group.
    scores = [b.gemm(f"scores{i or ''}", "attention", g * rows, keys, d, batch * model.kv_heads * count,
                     weight=False, b_dtype=b.dt.kv, after=(write,), c_on_chip=fused)
              for i, (count, rows, keys) in enumerate(blocks)]
    elements = sum(batch * model.heads * count * rows * keys for count, rows, keys in blocks)
    moved = 0 if fused else 1
    soft = b.vector("softmax", "attention", "softmax", elements, dtype=b.dt.vector if fused else None,
                    after=scores, inputs=moved, outputs=moved)
    values = [b.gemm(f"values{i or ''}", "attention", g * rows, d, keys, batch * model.kv_heads * count,
                     weight=False, b_dtype=b.dt.kv, after=(soft,), a_on_chip=fused)
              for i, (count, rows, keys) in enumerate(blocks)]
    b.gemm("o_proj", "o_proj", tokens, model.hidden, model.q_size, after=values)


def _mlp(b: _Builder, model: Model, tokens: int, width: int, group: str, prefix: str = "", after=None) -> str:
    gated = model.gated_mlp
    up = b.gemm(f"{prefix}gate_up" if gated else f"{prefix}up", group, tokens, width * (2 if gated else 1),
                model.hidden, after=after)
    act = b.vector(f"{prefix}act", group, "swiglu" if gated else "gelu", tokens * width, after=(up,))
    return b.gemm(f"{prefix}down", group, tokens, model.hidden, width, after=(act,))


def _moe(b: _Builder, model: Model, scenario: Scenario, tokens: int) -> None:
    k, experts = model.experts_per_token, model.experts
    if experts > 1:
        b.gemm("router", "router", tokens, experts, model.hidden)
        b.vector("topk", "router", "topk", tokens * experts, outputs=0)
    start = b.last
    loads = expert_loads(tokens, experts, k, scenario.moe_imbalance)
    ups = [b.gemm(f"experts{i or ''}.gate_up" if model.gated_mlp else f"experts{i or ''}.up", "experts", size,
                  model.expert_intermediate * (2 if model.gated_mlp else 1), model.hidden, count, after=start)
           for i, (count, size) in enumerate(loads)]
    act = b.vector("experts.act", "experts", "swiglu" if model.gated_mlp else "gelu",
                   tokens * k * model.expert_intermediate, after=ups)
    downs = [b.gemm(f"experts{i or ''}.down", "experts", size, model.hidden, model.expert_intermediate, count,
                    after=(act,))
             for i, (count, size) in enumerate(loads)]
    sources = k
    if model.shared_intermediate:
        downs = [_mlp(b, model, tokens, model.shared_intermediate, "shared_expert", "shared.", after=downs)]
        sources += 1
    if experts > 1 or model.shared_intermediate:
        b.vector("combine", "experts", "weighted_sum", tokens * model.hidden, after=downs, inputs=sources,
                 ops_per_element=2.0 * sources)


def _layer(b: _Builder, model: Model, scenario: Scenario, batch: int, new: int, context: int) -> None:
    tokens = batch * new
    norm = model.norm
    b.vector("attn_norm", "norm", norm, tokens * model.hidden)
    _attention(b, model, scenario, batch, new, context)
    b.vector("attn_residual", "residual", "add", tokens * model.hidden)
    b.vector("mlp_norm", "norm", norm, tokens * model.hidden)
    if model.is_moe:
        _moe(b, model, scenario, tokens)
    else:
        _mlp(b, model, tokens, model.intermediate, "mlp")
    b.vector("mlp_residual", "residual", "add", tokens * model.hidden)


def _embedding(b: _Builder, model: Model, tokens: int) -> None:
    b.vector("embed", "embedding", "lookup", tokens * model.hidden)
    b.weight_bytes += nbytes(tokens * model.hidden, b.dt.vector)
    if model.learned_positions:
        b.vector("positions", "embedding", "add", tokens * model.hidden)
        b.weight_bytes += nbytes(tokens * model.hidden, b.dt.vector)


def _head(b: _Builder, model: Model, batch: int) -> None:
    """Logits for each sequence's last position only: that is all sampling needs."""
    b.vector("final_norm", "norm", model.norm, batch * model.hidden)
    b.gemm("lm_head", "lm_head", batch, model.vocab, model.hidden,
           b_dtype=b.dt.vector if model.tied_embeddings else None)
    b.vector("sample", "lm_head", "topk", batch * model.vocab, outputs=0)


def lower_pass(model: Model, scenario: Scenario, phase: str, new: int, context: int,
               unrolled: bool = False) -> Pass:
    """One forward pass. `unrolled` writes every layer out (for checking that scaling one is exact)."""
    dt, batch = Dtypes.of(scenario), scenario.batch
    tag = f"{model.name}.{phase}"
    parts = [_Builder(dt), _Builder(dt), _Builder(dt)]
    _embedding(parts[0], model, batch * new)
    _layer(parts[1], model, scenario, batch, new, context)
    _head(parts[2], model, batch)
    kv_per_token = model.layers * 2 * nbytes(model.kv_size, dt.kv)
    weight_bytes = parts[0].weight_bytes + model.layers * parts[1].weight_bytes + parts[2].weight_bytes
    if unrolled:
        whole = _Builder(dt)
        _embedding(whole, model, batch * new)
        for i in range(model.layers):
            whole.prefix = f"layers.{i}."
            _layer(whole, model, scenario, batch, new, context)
        whole.prefix = ""
        _head(whole, model, batch)
        segments = (Segment("all", OpGraph(f"{tag}.unrolled", tuple(whole.ops)), 1),)
    else:
        repeats = {"embedding": 1, "layer": model.layers, "head": 1}
        segments = tuple(Segment(name, OpGraph(f"{tag}.{name}", tuple(part.ops)), repeats[name])
                         for name, part in zip(repeats, parts, strict=True))
    return Pass(phase, batch, new, context, segments, weight_bytes,
                kv_read_bytes=batch * context * kv_per_token, kv_write_bytes=batch * new * kv_per_token)


def lower(model: Model, scenario: Scenario) -> list[Pass]:
    """The passes a scenario runs: a prefill, a decode step, or a prefill and the decode steps after it."""
    if scenario.phase == "prefill":
        return [lower_pass(model, scenario, "prefill", scenario.prompt, 0)]
    if scenario.phase == "decode":
        return [lower_pass(model, scenario, "decode", 1, scenario.decode_context)]
    passes = [lower_pass(model, scenario, "prefill", scenario.prompt, 0)]
    for step in range(1, scenario.output_tokens):
        passes.append(lower_pass(model, scenario, "decode", 1, scenario.prompt + step - 1))
    return passes
