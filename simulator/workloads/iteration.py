"""One serving iteration, lowered in two kinds of parts the serving loop can time once and reuse.

An iteration is a mixed batch: decodes (one new token after their context) and prefill chunks (many new
tokens after the chunk's own context). Every op of a layer but the attention core depends only on the
iteration's total tokens (Orca's "selective batching": linear layers, norms and residuals run on all tokens
at once); the core depends on each sequence's context. So an iteration is

    dense_pass(tokens, 0)  +  dense_pass(0, sequences)  +  Σ over attention groups  core_pass(group)

where the first holds the embedding and each layer's ops before and after its core, the second the head
(logits for the sequences that need one), and a core pass is one group's QKᵀ, softmax and P·V over every
layer. A layer's core sits between two barriers (every op before it feeds the KV write it starts after;
the output projection waits for all of it), so the engine is idle at both ends and the sum is exact: the
split pass of one sequence takes exactly the cycles
of `lower_pass` for the same prefill or decode (tests/workloads/test_iteration.py).

Attention groups: each prefill chunk is its own group (its queries see its own keys); the decodes are one
group, lowered as a batched product whose key width is the group's mean context (ceil), which keeps its
MACs and KV bytes those of the sequences' own widths (exactly when they are all equal). The serving loop
says how it buckets that width (simulator/serving/cost.py).
"""

from simulator.config.dtypes import nbytes
from simulator.ir.ops import OpGraph
from simulator.workloads.model import Model
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario
from simulator.workloads.sharding import local_model
from simulator.workloads.transformer import (
    Dtypes,
    Pass,
    Segment,
    _after_core,
    _attention_core,
    _before_core,
    _Builder,
    _embedding,
    _head,
    _mlp_half,
    _Split,
)


def dense_pass(model: Model, scenario: Scenario, parallel: Parallel, tokens: int, sequences: int) -> Pass:
    """All of an iteration but its attention cores, on one chip of the replica: the embedding of `tokens`
    new tokens and every layer's ops before and after its core on them; then, if `sequences`, the head for
    that many logits (those whose prompt is done this iteration, or that decode). `tokens` = 0: the head
    alone."""
    dt, split, shard = Dtypes.of(scenario), _Split.of(parallel), local_model(model, parallel)
    parts = {name: _Builder(dt) for name in ("embedding", "layer.in", "layer.out", "head")}
    if tokens:
        _embedding(parts["embedding"], model, tokens, split)
        _before_core(parts["layer.in"], shard, tokens, split)
        _after_core(parts["layer.out"], shard, tokens, split)
        _mlp_half(parts["layer.out"], shard, scenario, tokens, split)
    if sequences:
        _head(parts["head"], model, sequences, split)
    places = {"embedding": (1, "first"), "layer.in": (model.layers, "spread"), "layer.out": (model.layers, "spread"),
              "head": (1, "last")}
    tag = f"{model.name}.iteration"
    segments = tuple(Segment(name, OpGraph(f"{tag}.{name}", tuple(b.ops)), *places[name])
                     for name, b in parts.items() if b.ops)
    weights = sum(b.weight_bytes * (model.layers if name.startswith("layer") else 1) for name, b in parts.items())
    kv_per_token = model.layers * 2 * nbytes(shard.kv_size, dt.kv)
    return Pass("iteration", sequences, tokens, 0, segments, weights, 0, tokens * kv_per_token,
                activation_bytes=nbytes(tokens * model.hidden, dt.act))


def core_pass(model: Model, scenario: Scenario, parallel: Parallel, sequences: int, new: int, context: int) -> Pass:
    """One attention group over every layer: `sequences` sequences of `new` query tokens after `context`
    cached ones (a decode group: new = 1 and context = its mean)."""
    dt, shard = Dtypes.of(scenario), local_model(model, parallel)
    b = _Builder(dt)
    _attention_core(b, shard, scenario, sequences, new, context)
    graph = OpGraph(f"{model.name}.attention.{sequences}x{new}+{context}", tuple(b.ops))
    kv_per_token = model.layers * 2 * nbytes(shard.kv_size, dt.kv)
    return Pass("attention", sequences, new, context, (Segment("attention", graph, model.layers),), 0,
                kv_read_bytes=sequences * context * kv_per_token, kv_write_bytes=0)
