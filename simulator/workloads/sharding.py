"""What one chip holds when a model is split (Megatron-style), and which splits are refused.

Tensor parallel, degree t: a chip holds heads/t query heads and kv_heads/t KV heads (one, replicated,
when kv_heads < t: t must then be a multiple of kv_heads), 1/t of the width of every MLP and expert,
and ceil(vocab/t) rows of the embedding and of the LM head (the last shard padded). Norms, the router,
the biases of the row-split projections (o_proj, down), QK-norm and learned positions are replicated.
Expert parallel, degree e: a chip holds experts/e experts. Pipeline parallel, degree p: a stage holds
at most ceil(layers/p) layers; the first also holds the embedding, the last the final norm and the LM
head (a tied LM head keeps its own copy of the table there). Data parallel: whole replicas.

Sequences: `batch` is global. A data-parallel replica takes batch/dp; attention runs data-parallel
across the expert group, so one chip's attention sees batch/(dp·ep), and micro-batches split that:
one pass on one chip runs batch/(dp·ep·microbatches) sequences.
"""

from dataclasses import replace

from simulator.config.dtypes import nbytes
from simulator.config.yamlio import source_of
from simulator.errors import ConfigError
from simulator.workloads import kv_cache
from simulator.workloads.layouts import check_layout
from simulator.workloads.model import Model
from simulator.workloads.parallel import DEFAULT_LAYOUT, Parallel
from simulator.workloads.scenario import Scenario, Training


def kv_heads_per_chip(model: Model, tp: int) -> int:
    """KV heads a chip holds: kv_heads/tp, or one (replicated) when there are fewer KV heads than chips."""
    return model.kv_heads // tp if model.kv_heads >= tp else 1


def vocab_per_chip(model: Model, tp: int) -> int:
    return -(-model.vocab // tp)


def local_model(model: Model, parallel: Parallel) -> Model:
    """The shapes one chip of a tensor-parallel group multiplies: its query and KV heads, its share of every
    MLP and expert width. Expert and vocabulary counts stay global (the router is replicated; see
    `experts_per_chip` and `vocab_per_chip`). Batch-sharded attention (`parallel.attention`) holds every KV head
    (of batch/tp sequences) and the whole KV projection."""
    t = parallel.tp
    if t == 1:
        return model
    kv_heads = model.kv_heads if parallel.attention == "batch" else kv_heads_per_chip(model, t)
    return replace(model, heads=model.heads // t, kv_heads=kv_heads,
                   intermediate=model.intermediate // t, expert_intermediate=model.expert_intermediate // t,
                   shared_intermediate=model.shared_intermediate // t)


def sequences_per_chip(scenario: Scenario, parallel: Parallel) -> int:
    """Sequences whose attention (and KV cache) one chip holds, all micro-batches together."""
    return scenario.batch // (parallel.dp * parallel.ep)


def sequences_per_pass(scenario: Scenario, parallel: Parallel) -> int:
    """Sequences of one micro-batch on one chip: what one lowered pass runs."""
    return scenario.batch // (parallel.dp * parallel.ep * parallel.microbatches)


def layers_per_stage(model: Model, parallel: Parallel) -> int:
    """Layers of the largest pipeline stage."""
    return -(-model.layers // parallel.pp)


def _layer_params(model: Model, parallel: Parallel) -> tuple[int, int]:
    """(matrix weights, all parameters) of one layer's shard on one chip (a model of one layer group)."""
    m = local_model(model, parallel)
    held = m.experts // parallel.ep
    return m.attention_weights + m.ffn_linear_params(held), m.layer_params(held=held)


def stage_group_layers(model: Model, parallel: Parallel) -> dict[str, int]:
    """Layers of each group (`Model.groups`) on the largest pipeline stage, the first: the mapping spreads each
    group's layers over the stages, earlier stages taking the remainder (mapping/program.stage_segments)."""
    return {g.name: -(-g.count // parallel.pp) for g in model.groups()}


def weight_bytes_per_chip(model: Model, parallel: Parallel, weights: str, other: str) -> int:
    """Parameters one chip of the largest pipeline stage holds: matrices at `weights`, the rest (embeddings,
    norms, biases) at `other`. With no parallelism, every parameter of the model once."""
    counts = stage_group_layers(model, parallel)
    rows = vocab_per_chip(model, parallel.tp) * model.hidden
    positions = (model.max_positions or 0) * model.hidden if model.learned_positions else 0
    positions += model.norm_params if model.embedding_norm else 0  # BLOOM's norm on the embeddings
    embedding = nbytes(rows + positions, other)
    head_linear = 0 if model.tied_embeddings else rows
    head_other = model.norm_params + (rows if model.tied_embeddings and parallel.pp > 1 else 0)
    head_other += vocab_per_chip(model, parallel.tp) if model.head_bias else 0
    body_linear = body_other = 0
    for g in model.groups():
        layer_linear, layer_total = _layer_params(g.model, parallel)
        body_linear += counts[g.name] * layer_linear
        body_other += counts[g.name] * (layer_total - layer_linear)
    if model.mtp_layers:  # on the last stage, with the head: the projection and one layer like the last
        last = model.groups()[-1].model
        mtp_linear, mtp_total = _layer_params(last, parallel)
        head_linear += model.mtp_layers * (mtp_linear + 2 * model.hidden * model.hidden)
        head_other += model.mtp_layers * (mtp_total - mtp_linear + 3 * model.norm_params)
    head = nbytes(head_linear, weights) + nbytes(head_other, other)
    if parallel.pp == 1:  # one stage holds everything
        return nbytes(body_linear + head_linear, weights) + nbytes(body_other + head_other + rows + positions, other)
    return nbytes(body_linear, weights) + nbytes(body_other, other) + max(embedding, head)


def kv_bytes_per_chip(model: Model, scenario: Scenario, parallel: Parallel, kv_dtype: str) -> int:
    """The KV cache at its largest: the chip's KV heads (or MLA's latent), over its stage's layers and its
    sequences (1/tp of them under batch-sharded attention), a sliding layer holding at most its window
    (simulator/workloads/kv_cache.py)."""
    shard = local_model(model, parallel)
    per_sequence = kv_cache.held_bytes(shard, kv_dtype, scenario.max_context, stage_group_layers(model, parallel))
    if model.mtp_layers and parallel.pp == 1:
        per_sequence += model.mtp_layers * nbytes(scenario.max_context * shard.groups()[-1].model.kv_width, kv_dtype)
    return attention_sequences(sequences_per_chip(scenario, parallel), parallel) * per_sequence


def attention_sequences(sequences: int, parallel: Parallel) -> int:
    """Of `sequences` a chip's tp group runs, those whose attention and KV cache the chip holds: all of them
    with head-sharded attention, 1/tp with batch-sharded (simulator/workloads/layouts.py)."""
    return -(-sequences // parallel.tp) if parallel.attention == "batch" else sequences


def pass_tokens(scenario: Scenario, parallel: Parallel) -> dict[str, int]:
    """Tokens one pass of each phase runs on one chip (before sequence parallelism splits them)."""
    seqs = sequences_per_pass(scenario, parallel)
    phases = {"prefill": ["prefill"], "decode": ["decode"], "generate": ["prefill", "decode"]}[scenario.phase]
    return {phase: seqs * (scenario.prompt if phase == "prefill" else 1) for phase in phases}


def validate_parallel(model: Model, scenario: Scenario, parallel: Parallel, source: str,
                      provenance: dict | None = None) -> None:
    """A one-line ConfigError naming `parallel.FIELD`, its value and what is allowed, for a split the
    lowering cannot do evenly."""

    def fail(field: str, allowed: str):
        where = source_of(provenance or {}, ("parallel", field), source)
        raise ConfigError(where, f"parallel.{field}", getattr(parallel, field), allowed)

    t, e, name = parallel.tp, parallel.ep, model.name
    if parallel.cp > 1:  # a training step validates its split with cp = 1 (training.resolve_step checks cp)
        fail("cp", "must be 1 here: context parallelism splits a training step's sequences (scenario.phase: "
                   "train); split an inference pass with tp, pp, ep or dp")
    if model.heads % t:
        fail("tp", f"must divide num_attention_heads ({model.heads}) of {name}")
    if parallel.attention != "batch" and (model.kv_heads % t if model.kv_heads >= t else t % model.kv_heads):
        fail("tp", f"must divide num_key_value_heads ({model.kv_heads}) of {name}, or be a multiple of it "
                   "(each chip then holds one KV head, replicated)")
    widths = ([("moe_intermediate_size", model.expert_intermediate),
               ("the shared experts' width", model.shared_intermediate)] if model.is_moe
              else [("intermediate_size", model.intermediate)])
    if model.dense_layers:  # DeepSeek's first dense layers
        widths.append(("intermediate_size", model.intermediate))
    for what, width in widths:
        if width % t:
            fail("tp", f"must divide {what} ({width}) of {name}")
    if e > 1 and not model.is_moe:
        fail("ep", f"must be 1: {name} is a dense model, with no experts to split")
    if model.is_moe and model.experts % e:
        fail("ep", f"must divide num_experts ({model.experts}) of {name}")
    if parallel.pp > model.layers:
        fail("pp", f"must be at most num_hidden_layers ({model.layers}) of {name}: every stage needs a layer")
    if scenario.batch % parallel.dp:
        fail("dp", f"must divide scenario.batch ({scenario.batch})")
    if scenario.batch // parallel.dp % e:
        fail("ep", f"must divide the sequences of a data-parallel replica, scenario.batch / dp = "
                   f"{scenario.batch // parallel.dp}")
    seqs = sequences_per_chip(scenario, parallel)
    if seqs % parallel.microbatches:
        fail("microbatches", f"must divide the sequences each chip runs, scenario.batch / (dp × ep) = {seqs}")
    if scenario.phase not in ("serve", "train"):
        check_layout(model, parallel, pass_tokens(scenario, parallel), sequences_per_pass(scenario, parallel), fail)
    if parallel.sequence_parallel and t > 1:
        for phase, tokens in pass_tokens(scenario, parallel).items():
            if tokens % t:
                fail("sequence_parallel", f"needs every pass's tokens on a chip to divide by tp = {t}, but a "
                                          f"{phase} pass has {tokens}; set it false or change scenario.batch")


def check_serving_layout(parallel: Parallel, source: str, provenance: dict | None = None) -> None:
    """A one-line ConfigError for a partition layout or batch-sharded attention in a service: the serving loop's
    iterations lower the default layout only."""
    for field, plain in (("layout", DEFAULT_LAYOUT), ("attention", "heads")):
        if getattr(parallel, field) != plain and parallel.tp > 1:
            raise ConfigError(source_of(provenance or {}, ("parallel", field), source), f"parallel.{field}",
                              getattr(parallel, field),
                              f"{plain} for serving (an iteration's tokens and sequences need not divide over tp; "
                              "the partition layouts run with scenario.phase prefill, decode or generate)")


def positions_needed(scenario: Scenario, training: Training | None = None) -> tuple[int, tuple[str, str]]:
    """(positions a sequence reaches, the field that takes it there): a prefill's prompt, a decode step's
    context + 1, a generation's prompt + output_tokens − 1, a training step's sequence."""
    if scenario.phase == "train":
        training = training or Training()
        field = ("training", "sequence") if training.sequence is not None else ("scenario", "prompt")
        return training.sequence_of(scenario), field
    if scenario.phase == "decode":
        return scenario.max_context, ("scenario", "context" if scenario.context is not None else "prompt")
    if scenario.phase == "generate" and scenario.prompt < scenario.max_context:
        return scenario.max_context, ("scenario", "output_tokens")
    return scenario.max_context, ("scenario", "prompt")


def check_context(model: Model, scenario: Scenario, training: Training | None, source: str,
                  provenance: dict | None = None) -> None:
    """A one-line ConfigError for a sequence longer than the model takes (max_position_embeddings), or, for a
    training step, longer than its sliding window (inference lowers the window; a training step's attention
    does not yet: within the window it is full attention, exactly)."""
    if scenario.phase == "serve":  # a service's requests have their own lengths (simulator/serving)
        return
    tokens, path = positions_needed(scenario, training)
    holder = training if path[0] == "training" else scenario
    where = source_of(provenance or {}, path, source)
    field, value = ".".join(path), getattr(holder, path[1])
    if model.context_limit is not None and tokens > model.context_limit:
        raise ConfigError(where, field, value,
                          f"a sequence would reach {tokens:,} positions; {model.name} takes at most "
                          f"{model.context_limit:,} ({model.context_field}); shorten it, or set "
                          "model.max_position_embeddings to simulate past the trained length")
    if scenario.phase == "train" and model.sliding_window is not None and tokens > model.sliding_window:
        raise ConfigError(where, field, value,
                          f"a sequence would reach {tokens:,} positions, past {model.name}'s sliding window of "
                          f"{model.sliding_window:,} keys ({model.sliding_layers} of {model.layers} layers), which "
                          "a training step does not lower (inference does); up to the window it is exact; set "
                          "model.sliding_window=null to simulate full attention instead (more attention work "
                          "than the model does)")
