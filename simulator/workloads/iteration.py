"""One serving iteration, lowered in two kinds of parts the serving loop can time once and reuse.

An iteration is a mixed batch: decodes (one new token after their context) and prefill chunks (many new
tokens after the chunk's own context). Every op of a layer but the attention core depends only on the
iteration's total tokens (Orca's "selective batching": linear layers, norms and residuals run on all tokens
at once); the core depends on each sequence's context. So an iteration is

    dense_pass(tokens, 0)  +  dense_pass(0, sequences)  +  Σ over attention groups  core_pass(group)

where the first holds the embedding and each layer's ops before and after its core, the second the head
(logits for the sequences that need one), and a core pass is one group's QKᵀ, softmax and P·V over every
layer (per layer group, over the keys its window leaves; MLA's core also holds its kv_b expansion or absorbed
projections, which differ between a decode group and a prefill chunk). A layer's core sits between two
barriers (every op before it feeds the KV write it starts after; the output projection waits for all of it),
so the engine is idle at both ends and the sum is exact: the split pass of one sequence takes exactly the
cycles of `lower_pass` for the same prefill or decode (tests/workloads/test_iteration.py).

Attention groups: each prefill chunk is its own group (its queries see its own keys); the decodes are one
group, lowered as a batched product whose key width is the group's mean context (ceil), which keeps its
MACs and KV bytes those of the sequences' own widths (exactly when they are all equal). The serving loop
says how it buckets that width (simulator/serving/cost.py).
"""

from simulator.config.dtypes import nbytes
from simulator.ir.ops import OpGraph
from simulator.workloads import kv_cache
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
    _mtp_in,
    _mtp_out,
    _Split,
)


def dense_pass(model: Model, scenario: Scenario, parallel: Parallel, tokens: int, sequences: int) -> Pass:
    """All of an iteration but its attention cores, on one chip of the replica: the embedding of `tokens`
    new tokens and every layer's ops before and after its core on them (per layer group, `Model.groups`);
    then, if `sequences`, the head for that many logits (those whose prompt is done this iteration, or that
    decode). `tokens` = 0: the head alone."""
    dt, split, shard = Dtypes.of(scenario), _Split.of(parallel), local_model(model, parallel)
    groups = shard.groups()
    parts = {"embedding": (_Builder(dt), 1, "first")}
    for g in groups:
        parts[f"{g.name}.in"] = (_Builder(dt), g.count, "spread")
        parts[f"{g.name}.out"] = (_Builder(dt), g.count, "spread")
    parts["head"] = (_Builder(dt), 1, "last")
    if model.mtp_layers:  # multi-token prediction modules, after the head on the last stage
        parts["mtp.in"] = (_Builder(dt, prefix="mtp."), model.mtp_layers, "last")
        parts["mtp.out"] = (_Builder(dt, prefix="mtp."), model.mtp_layers, "last")
        if tokens:
            _mtp_in(parts["mtp.in"][0], shard, tokens, split)
        _mtp_out(parts["mtp.out"][0], model, shard, scenario, tokens, sequences, split)
    if tokens:
        _embedding(parts["embedding"][0], model, tokens, split)
        for g in groups:
            _before_core(parts[f"{g.name}.in"][0], g.model, tokens, split)
            out = parts[f"{g.name}.out"][0]
            _after_core(out, g.model, tokens, split, fused_block=g.model.parallel_block)
            _mlp_half(out, g.model, scenario, tokens, split, fused_block=g.model.parallel_block)
    if sequences:
        _head(parts["head"][0], model, sequences, split)
    tag = f"{model.name}.iteration"
    segments = tuple(Segment(name, OpGraph(f"{tag}.{name}", tuple(b.ops)), repeat, place)
                     for name, (b, repeat, place) in parts.items() if b.ops)
    weights = sum(b.weight_bytes * repeat for b, repeat, _ in parts.values())
    mtp_kv = model.mtp_layers * nbytes(tokens * shard.groups()[-1].model.kv_width, dt.kv)
    return Pass("iteration", sequences, tokens, 0, segments, weights, 0, kv_cache.write_bytes(shard, dt.kv, tokens)
                + mtp_kv, activation_bytes=nbytes(tokens * model.hidden, dt.act))


def core_pass(model: Model, scenario: Scenario, parallel: Parallel, sequences: int, new: int, context: int) -> Pass:
    """One attention group over every layer: `sequences` sequences of `new` query tokens after `context`
    cached ones (a decode group: new = 1 and context = its mean), each layer group's core over the keys its
    window leaves."""
    dt, shard = Dtypes.of(scenario), local_model(model, parallel)
    groups = shard.groups()
    cores = [("attention" if g.name == "layer" else f"attention{g.name[len('layer'):]}", g, g.count, "spread")
             for g in groups]
    if model.mtp_layers:  # the multi-token prediction modules' layer, like the last
        cores.append(("attention.mtp", groups[-1], model.mtp_layers, "last"))
    segments, weights = [], 0
    for name, g, repeat, place in cores:
        b = _Builder(dt)
        _attention_core(b, g.model, scenario, sequences, new, context, g.window)
        segments.append(Segment(name, OpGraph(f"{model.name}.{name}.{sequences}x{new}+{context}", tuple(b.ops)),
                                repeat, place))
        weights += repeat * b.weight_bytes  # MLA's kv_b expansion or absorbed projections
    mtp_kv = model.mtp_layers * nbytes(kv_cache.cached_read(groups[-1].window, context) * groups[-1].model.kv_width,
                                       dt.kv)
    return Pass("attention", sequences, new, context, tuple(segments), weights,
                kv_read_bytes=sequences * (kv_cache.read_bytes(shard, dt.kv, context) + mtp_kv), kv_write_bytes=0)
