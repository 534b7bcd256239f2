"""Lowering one training step: per micro-batch the forward and backward of every layer, then the optimizer.

The step is a list of passes (`TrainPass`) whose segments the mapper and the engine run like inference
segments (docs/training.md has the op table):

- `accumulate`: the micro-batches whose gradients stay on the chip (ZeRO 0/1 reduce only once per step);
- `sync`: the micro-batch(es) whose backward also reduces the gradients over `dp`: the last one, or
  every one under ZeRO-2/3 (each chip keeps only its shard of the gradients);
- `optimizer`: the optimizer step once, over this chip's parameters (its 1/dp shard under ZeRO ≥ 1).

A micro-batch pass has six segments: `embedding`, `layer` (× layers), `head` (final norm, LM head over
every token, the cross-entropy loss), then `head.backward`, `layer.backward` (× layers) and
`embedding.backward`. Each segment is a repeat block as in inference: every op feeds its last op, so one
copy is simulated and multiplied exactly. `TrainSegment.direction` says forward | backward | optimizer,
and every op carries `role` (forward, backward, recompute, optimizer; ir/ops.py), so results can tell
model FLOPs from recomputed ones without parsing names.

The backward of a GEMM C[m×n] = A[m×k]·B[k×n] is a data gradient dA = dC·Bᵀ (`.dgrad`, m×k×n) and a weight
gradient dB = Aᵀ·dC (`.wgrad`, k×n×m) written at the gradient dtype, plus `.grad_acc`, the read of the
gradient buffer it adds into (the write is the GEMM's own output, as cuBLAS with beta = 1 does it).
Attention's two products each have two gradients as well; fused attention recomputes the scores in SRAM
(FlashAttention-2's backward: role `recompute`). Every data gradient is needed: the first layer's input
gradient feeds the embedding's; only the lookup itself has none.

Parallelism: tensor parallel as inference splits it, the backward mirroring each forward collective
(the all-reduce of a column-parallel GEMM's input gradient overlaps its weight gradient, as Megatron
overlaps it); sequence parallel: the all-gathers and reduce-scatters mirrored, plus the all-gather of each
column-parallel GEMM's input again for its weight gradient (Megatron keeps only the shard). Data parallel:
a layer's gradients in one bucket per weight GEMM (`layer_buckets`), each reduced right after its weight
gradient, beside the rest of the layer's backward (a segment's boundary is a barrier, so a bucket cannot
wait for the next layer: smaller buckets leave less exposed); ZeRO: reduce-scatter instead, the optimizer
on 1/dp of the parameters, then (ZeRO-1/2) an all-gather of the updated ones; ZeRO-3 all-gathers each
layer's buckets, one after another, before its forward and its backward. Expert parallel: the all-to-alls
mirrored; the gradients of parameters replicated over the expert group are all-reduced over `ep` before
the `dp` reduction.
Pipeline parallel: each segment's `place` says which stages run it; the schedule is the engine's.
"""

from dataclasses import dataclass, replace

from simulator.config.dtypes import nbytes
from simulator.config.yamlio import source_of
from simulator.errors import ConfigError
from simulator.ir.ops import CollectiveOp, GemmOp, OpGraph, VectorOp
from simulator.workloads.model import Model
from simulator.workloads.parallel import DEFAULT_LAYOUT, ONE_CHIP, Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.sharding import local_model, validate_parallel, vocab_per_chip
from simulator.workloads.transformer import (
    Dtypes,
    Pass,
    Segment,
    _after_core,
    _attention_core,
    _attention_half,
    _attention_kernel,
    _before_core,
    _Builder,
    _embedding,
    _mlp_half,
    _Split,
    attention_blocks,
)

# Backward of the vector ops: kind → (tensors read, tensors written, ops per element).
NORM_BWD = {"rmsnorm": (2, 1, 8.0), "layernorm": (2, 1, 12.0)}  # dy and the saved input → dx (+ dγ, dβ sums)
ACT_BWD = {"swiglu": (3, 2, 10.0), "gelu": (2, 1, 12.0),  # swiglu: dh, gate, up → dgate, dup
           # geglu: gelu's backward and the two products; reglu and relu: a mask (and the products); silu: its
           # sigmoid (exp's 4) and derivative
           "geglu": (3, 2, 14.0), "reglu": (3, 2, 3.0), "relu": (2, 1, 1.0), "silu": (2, 1, 8.0)}
LOSS_OPS = 6.0  # cross-entropy: max, subtract, exp, sum, scale (softmax's 5) + the target's log-probability
ADAMW_OPS = 16.0  # two moment updates, bias corrections, m̂/(√v̂ + ε), decoupled weight decay, the step
SGD_OPS = 5.0  # v = μ·v + g + λ·w; w −= lr·v


@dataclass(frozen=True)
class TrainSegment(Segment):
    direction: str = "forward"  # forward | backward | optimizer


@dataclass(frozen=True)
class TrainPass(Pass):
    """Micro-batches of one training step on one chip (`batch` sequences of `new_tokens` each), or its
    optimizer step (`part`)."""

    part: str = "accumulate"  # accumulate | sync | optimizer
    continues: bool = False  # its micro-batches follow the previous pass's in one pipeline (the last, syncing one)


@dataclass(frozen=True)
class Step:
    """A training step, resolved and checked (`resolve_step`)."""

    global_batch: int  # sequences per step, all replicas
    sequence: int
    micro_batch: int  # sequences per chip per micro-batch
    microbatches: int  # micro-batches per step on each chip
    recompute: str
    optimizer: str
    zero: int
    master: bool  # an fp32 master copy of the weights exists
    grad_dtype: str
    reduce_dtype: str  # the gradients' data-parallel reduction (training.reduce_dtype, else grad_dtype)
    weight_shard: str = "compute"  # training.weight_shard: under ZeRO-3, whether the compute-dtype shard persists

    @property
    def tokens(self) -> int:
        return self.global_batch * self.sequence

    @property
    def moments(self) -> int:
        return 2 if self.optimizer == "adamw" else 1


@dataclass(frozen=True)
class Bucket:
    """Parameters one chip holds for one part of the model: `linear` (matrices, stored at the weights
    dtype), `other` (norms, biases, embeddings: the activation dtype); `experts` of them are experts'
    (not replicated over the expert group)."""

    linear: int
    other: int
    experts: int = 0

    @property
    def params(self) -> int:
        return self.linear + self.other

    def bytes(self, dt: Dtypes) -> int:
        return nbytes(self.linear, dt.weights) + nbytes(self.other, dt.vector)


# --- the plan ---------------------------------------------------------------------------------------------


def _check_virtual(model: Model, parallel: Parallel, microbatches: int, fail) -> None:
    """Virtual pipeline stages (the interleaved schedule) need a pipeline, the 1f1b schedule, layers that split
    into pp·vp equal chunks and, as in Megatron, micro-batches in whole groups of pp."""
    vp, pp = parallel.vp, parallel.pp
    if vp == 1:
        return
    if pp == 1:
        fail("parallel", "vp", vp, "virtual stages split a pipeline's stages; raise parallel.pp or set parallel.vp=1")
    if parallel.schedule != "1f1b":
        fail("parallel", "vp", vp, f"interleaving runs the 1f1b schedule, not {parallel.schedule}; set "
             "parallel.schedule=1f1b or parallel.vp=1")
    if model.layers % (pp * vp):
        fail("parallel", "vp", vp, f"the {model.layers} layers must split into pp × vp = {pp} × {vp} = {pp * vp} "
             "equal chunks; choose pp and vp whose product divides them")
    if microbatches % pp:
        fail("parallel", "vp", vp, f"interleaving needs the micro-batches per chip, global_batch / (dp × ep × "
             f"micro_batch) = {microbatches}, to be a multiple of pp = {pp} (Megatron); change "
             "training.global_batch or set parallel.vp=1")


def resolve_step(model: Model, scenario: Scenario, training: Training, parallel: Parallel = ONE_CHIP,
                 source: str = "", provenance: dict | None = None) -> Step:
    """The step a workload asks for, or a one-line ConfigError naming `training.FIELD` (or `parallel.FIELD`),
    its value and what is allowed."""
    source = source or model.name

    def fail(section: str, field: str, value, allowed: str):
        where = source_of(provenance or {}, (section, field), source)
        raise ConfigError(where, f"{section}.{field}", value, allowed)

    refused = ("multi-head latent attention" if model.mla else "dense layers before MoE layers (first_k_dense_replace)"
               if model.dense_layers else "multi-token prediction (use_mtp)" if model.mtp_layers else None)
    if refused:
        fail("scenario", "phase", "train", f"{model.name} has {refused}, which inference lowers and a training "
             "step does not yet; use phase prefill, decode, generate or serve")

    batch, seq = training.global_batch_of(scenario), training.sequence_of(scenario)
    if training.global_batch is not None and "batch" in scenario.model_fields_set and scenario.batch != batch:
        fail("training", "global_batch", batch, f"scenario.batch = {scenario.batch} says otherwise; set one of them")
    ranks = parallel.dp * parallel.ep
    if batch % (ranks * training.micro_batch):
        fail("training", "global_batch", batch,
             f"must be a multiple of dp × ep × micro_batch = {parallel.dp} × {parallel.ep} × {training.micro_batch} "
             f"= {ranks * training.micro_batch}")
    microbatches = batch // (ranks * training.micro_batch)
    if parallel.microbatches not in (1, microbatches):
        fail("parallel", "microbatches", parallel.microbatches,
             f"a training step has global_batch / (dp × ep × micro_batch) = {microbatches} micro-batches per "
             f"chip; leave it 1 or set {microbatches}")
    if training.weight_shard == "master" and (training.zero != 3 or not training.master_weights
                                              or scenario.weights == "fp32"):
        fail("training", "weight_shard", "master", "needs training.zero: 3 and fp32 master weights of narrower "
             "weights (the fp32 shard is then the master); otherwise leave it compute")
    if not training.overlap_grad_reduce and training.zero >= 2 and parallel.data_ranks > 1:
        fail("training", "overlap_grad_reduce", False, f"needs training.zero ≤ 1 (it is {training.zero}): ZeRO-2 "
             "and 3 reduce the gradients every micro-batch, inside the backward")
    for field, plain in (("layout", DEFAULT_LAYOUT), ("attention", "heads")):
        if getattr(parallel, field) != plain:
            fail("parallel", field, getattr(parallel, field), f"{plain} for a training step: the inference partition "
                 "layouts (docs/workloads.md#partition-layouts) lower forward passes only")
    cp = parallel.cp
    if seq % cp:
        fail("parallel", "cp", cp, f"must divide training.sequence ({seq}): each chip holds sequence / cp tokens")
    if parallel.sequence_parallel and parallel.tp > 1 and training.micro_batch * seq // cp % parallel.tp:
        fail("parallel", "sequence_parallel", True,
             f"needs a micro-batch's tokens on a chip (micro_batch × sequence / cp = "
             f"{training.micro_batch * seq // cp}) to divide by tp = {parallel.tp}; set it false or change "
             "training.micro_batch or training.sequence")
    _check_virtual(model, parallel, microbatches, fail)
    forward = _forward_scenario(scenario, batch, seq)
    validate_parallel(model, forward, parallel.model_copy(update={"microbatches": microbatches, "cp": 1}), source,
                      provenance)
    return Step(batch, seq, training.micro_batch, microbatches, training.recompute, training.optimizer, training.zero,
                training.master_weights and scenario.weights != "fp32", training.grad_dtype,
                training.reduce_dtype or training.grad_dtype, training.weight_shard)


def _forward_scenario(scenario: Scenario, batch: int, sequence: int) -> Scenario:
    """The forward as inference lowers a prefill: `batch` sequences of `sequence` tokens, nothing cached
    before them; K and V are activations (no KV cache), at the activation dtype."""
    return scenario.model_copy(update={"phase": "prefill", "batch": batch, "prompt": sequence, "context": None,
                                       "kv_cache": scenario.activations})


def layer_buckets(model: Model, parallel: Parallel = ONE_CHIP) -> dict[str, Bucket]:
    """One layer's parameters on one chip, one bucket per weight GEMM as their gradients are reduced (and
    ZeRO-3 gathers them): its matrix and bias, a norm with the GEMM after it (QK-norm with qkv_proj). An
    MoE's are `router` (with the norm), `experts` (the chip's experts/ep) and `shared`."""
    m = local_model(model, parallel)
    d, mats = m.hidden, m.mlp_matrices
    qkv = m.q_size + 2 * m.kv_size
    out = {"qkv_proj": Bucket(d * qkv, (qkv if m.qkv_bias else 0) + (2 * m.head_dim if m.qk_norm else 0)
                              + m.norm_params),
           "o_proj": Bucket(m.q_size * d, d if m.out_bias else 0)}
    if not m.is_moe:
        w = m.intermediate
        out["gate_up" if m.gated_mlp else "up"] = Bucket((mats - 1) * d * w, ((mats - 1) * w if m.mlp_bias else 0)
                                                          + m.norm_params)
        out["down"] = Bucket(w * d, d if m.mlp_bias else 0)
        return out
    held, width = m.experts // parallel.ep, m.expert_intermediate
    out["router"] = Bucket(d * m.experts, m.norm_params)
    out["experts"] = Bucket(held * mats * d * width, held * (m.mlp_params(width) - mats * d * width),
                            held * m.mlp_params(width))
    if m.shared_intermediate:
        linear = mats * d * m.shared_intermediate
        out["shared"] = Bucket(linear, m.mlp_params(m.shared_intermediate) - linear)
    return out


def _bucket_gemms(layer: dict) -> dict[str, list[str]]:
    """The forward GEMMs of each of `layer_buckets`, from the layer's forward ops by name."""
    out: dict[str, list[str]] = {}
    for name, op in layer.items():
        if isinstance(op, GemmOp) and op.group != "attention":
            key = "experts" if name.startswith("experts") else "shared" if name.startswith("shared.") else name
            out.setdefault(key, []).append(name)
    return out


def end_buckets(model: Model, parallel: Parallel = ONE_CHIP) -> dict[str, Bucket]:
    """The embedding's (first stage) and the head's (last stage: final norm and LM head) parameters on one
    chip. A tied LM head is the embedding table: one copy with one stage, its own copy on the last stage
    of a pipeline."""
    rows = vocab_per_chip(model, parallel.tp) * model.hidden
    positions = (model.max_positions or 0) * model.hidden if model.learned_positions else 0
    tied = model.tied_embeddings
    head = Bucket(0 if tied else rows, model.norm_params + (rows if tied and parallel.pp > 1 else 0))
    return {"embedding": Bucket(0, rows + positions), "head": head}


def params_per_chip(model: Model, parallel: Parallel = ONE_CHIP) -> int:
    """Parameters one chip of the largest pipeline stage holds (its shards of ⌈layers/pp⌉ layers, plus the
    embedding, the head, or both with one stage)."""
    layer = sum(b.params for b in layer_buckets(model, parallel).values())
    ends = end_buckets(model, parallel)
    edge = ends["embedding"].params + ends["head"].params if parallel.pp == 1 else max(
        ends["embedding"].params, ends["head"].params)
    return -(-model.layers // parallel.pp) * layer + edge


# --- building blocks --------------------------------------------------------------------------------------


def _send(b: _Builder, name: str, kind: str, size: int, axis: str, after=None) -> str:
    """A collective of `size` bytes per chip (CollectiveOp says what they mean per kind)."""
    name = b.prefix + name
    b.ops.append(CollectiveOp(name, kind, size, axis, b._deps(after), role=b.role))
    b.last = (name,)
    return name


def _tp_reduce(b: _Builder, split: _Split, name: str, elements: int, after) -> str | None:
    """The input gradient of a column-parallel GEMM is a partial sum: all-reduced over tp, or
    reduce-scattered under sequence parallelism (the mirror of the forward's all-gather)."""
    if split.sp:
        return b.collective(f"{name}_reducescatter", "reduce_scatter", elements, "tp", after=after)
    if split.tp > 1:
        return b.collective(f"{name}_allreduce", "all_reduce", elements, "tp", after=after)
    return None


def _linear_bwd(b: _Builder, f: GemmOp, grad: str, split: _Split | None = None, hidden: int = 0) -> None:
    """dgrad, then wgrad into the gradient buffer. With `split` (a column-parallel GEMM whose input is
    `hidden` = tokens × hidden elements): the tp reduction of the dgrad overlaps the wgrad, and under
    sequence parallelism the input is all-gathered again (beside the dgrad) for the wgrad."""
    start = b.last
    regather = ()
    if split is not None and split.sp:
        regather = (b.collective(f"{f.name}.input_allgather", "all_gather", hidden, "tp", after=start),)
    d = b.gemm(f"{f.name}.dgrad", f.group, f.m, f.k, f.n, f.batch, b_dtype=f.b_dtype, after=start)
    comm = _tp_reduce(b, split, f"{f.name}.dgrad", hidden, (d,)) if split is not None else None
    w = b.gemm(f"{f.name}.wgrad", f.group, f.k, f.n, f.m, f.batch, weight=False, out_dtype=grad, after=(d, *regather))
    acc = b.vector(f"{f.name}.grad_acc", f.group, "add", f.batch * f.k * f.n, dtype=grad, after=(w,), inputs=1,
                   outputs=0)
    b.last = (acc, comm) if comm else (acc,)


def _vector_bwd(b: _Builder, name: str, group: str, kind: str, elements: int, counts: tuple, after=None,
                **flags) -> str:
    inputs, outputs, per = counts
    return b.vector(name, group, kind, elements, after=after, inputs=inputs, outputs=outputs, ops_per_element=per,
                    **flags)


def _grad_sync(b: _Builder, name: str, bucket: Bucket, mode: str | None, parallel: Parallel, step: Step) -> tuple:
    """The bucket's gradients reduced over dp (`mode`: all_reduce, or reduce_scatter under ZeRO) after the
    op before and beside the ops after it, in the step's reduce dtype (cast to it first when the buffers are
    another width, as FSDP's post-backward hook does); those replicated over the expert group are first
    all-reduced over ep. Returns the last collective, for the block's last op to wait for."""
    if mode is None:
        return ()
    start, out, role = b.last, b.last, b.role
    b.role = "grad_sync" if role == "backward" else role  # the optimizer's (overlap_grad_reduce false) wait
    grad = step.reduce_dtype
    if grad != step.grad_dtype:  # read at the buffers' width, written at the reduction's
        narrow, wide = sorted((step.grad_dtype, grad), key=lambda d: nbytes(1, d))
        ratio = nbytes(1, wide) // nbytes(1, narrow)
        inputs, outputs = (1, ratio) if narrow == step.grad_dtype else (ratio, 1)
        out = (b.vector(f"{name}.grad_cast", "optimizer", "copy", bucket.params, dtype=narrow, after=out,
                        inputs=inputs, outputs=outputs),)
    dense = bucket.params - bucket.experts
    if parallel.ep > 1 and dense:
        out = (_send(b, f"{name}.grad_allreduce_ep", "all_reduce", nbytes(dense, grad), "ep", after=out),)
    whole, cp = nbytes(bucket.params, grad), parallel.cp
    if cp > 1:  # over dp × cp in three steps, the bytes of one ring over all of them: 2(n − 1)/n per chip
        out = (_send(b, f"{name}.grad_reducescatter_cp", "reduce_scatter", whole, "cp", after=out),)
    if parallel.dp > 1:
        kind = "grad_allreduce" if mode == "all_reduce" else "grad_reducescatter"
        out = (_send(b, f"{name}.{kind}", mode, -(-whole // cp), "dp", after=out),)
    if cp > 1 and mode == "all_reduce":
        out = (_send(b, f"{name}.grad_allgather_cp", "all_gather", whole, "cp", after=out),)
    b.last, b.role = start, role
    return out if out != start else ()


def _gather_params(b: _Builder, name: str, bucket: Bucket, dt: Dtypes, after=(), cp: int = 1) -> str:
    """ZeRO: parameters all-gathered over dp from every chip's shard (bytes: the gathered whole), then over
    cp when context parallelism shards them over dp × cp too. `name` "" names the ops plainly (the optimizer's)."""
    whole, prefix = bucket.bytes(dt), f"{name}." if name else ""
    out = _send(b, f"{prefix}params_allgather", "all_gather", -(-whole // cp), "dp", after=after)
    if cp > 1:
        out = _send(b, f"{prefix}params_allgather_cp", "all_gather", whole, "cp", after=(out,))
    return out


def _gather_layer(c: "_Ctx", b: _Builder, order: list[str], gemms: dict, suffix: str = "") -> None:
    """ZeRO-3: the layer's buckets gathered one after another in the order its GEMMs need them (the first
    is not slowed by the rest), each GEMM (`name + suffix`) waiting for its own; the other ops start at
    once."""
    buckets, previous = layer_buckets(c.model, c.parallel), ()
    for name in order:
        previous = (_gather_params(b, name, buckets[name], c.dt, after=previous, cp=c.parallel.cp),)
        for gemm in gemms.get(name, ()):
            b.waits[gemm + suffix] = previous
    b.last = ()


# --- forward ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    """What every builder below needs."""

    model: Model  # the whole model
    shard: Model  # the chip's tensor-parallel shard
    scenario: Scenario  # the forward, as a prefill of one micro-batch
    step: Step
    parallel: Parallel
    split: _Split
    dt: Dtypes
    zero: int  # the ZeRO stage in effect (0 with dp = 1: one chip shards nothing)

    @property
    def tokens(self) -> int:
        """A micro-batch's tokens on one chip (1/cp of each sequence's under context parallelism)."""
        return self.step.micro_batch * self.step.sequence // self.parallel.cp

    @property
    def kv_elements(self) -> int:
        """K and V of a micro-batch's whole sequences on one chip (its tp shard of the KV heads)."""
        return 2 * self.step.micro_batch * self.step.sequence * self.shard.kv_heads * self.shard.head_dim


def _attention_train(c: _Ctx, b: _Builder, shard: Model, split: _Split) -> None:
    """The attention half of a layer's forward. Under context parallelism, ring attention (Liu et al. 2023):
    the chip's queries attend to the whole sequence's keys while K and V go round the cp ring, one chunk
    per step overlapping the step's products; the ring is an all-gather of K and V beside the core, and the
    output projection waits for both (exposed: what the ring takes beyond the core)."""
    mb, seq, cp = c.step.micro_batch, c.step.sequence, c.parallel.cp
    if cp == 1:
        _attention_half(b, shard, c.scenario, mb, seq, 0, split, kv_cache=False)
        return
    _before_core(b, shard, c.tokens, split, kv_cache=False)
    start = b.last
    ring = b.collective("kv_ring", "all_gather", c.kv_elements, "cp", after=start, dtype=c.dt.kv)
    b.last = start
    values = _attention_core(b, shard, c.scenario, mb, seq, 0, cp=cp)
    _after_core(b, shard, c.tokens, split, after=(*values, ring))


def _layer_forward(c: _Ctx, b: _Builder, gemms: dict | None = None) -> None:
    """Inference's layer on the micro-batch, without a KV cache; ZeRO-3 first gathers its parameters."""
    if c.zero == 3:
        _gather_layer(c, b, list(layer_buckets(c.model, c.parallel)), gemms or {})
    _attention_train(c, b, c.shard, c.split)
    _mlp_half(b, c.shard, c.scenario, c.tokens, c.split)


def _embedding_forward(c: _Ctx, b: _Builder) -> None:
    if c.zero == 3:
        b.last = (_gather_params(b, "embedding", end_buckets(c.model, c.parallel)["embedding"], c.dt,
                                 cp=c.parallel.cp),)
    _embedding(b, c.model, c.tokens, c.split)


def _head_forward(c: _Ctx, b: _Builder) -> None:
    """Logits of every token (not only the last), then softmax cross-entropy over the vocabulary; under tp
    the loss stays vocabulary-parallel (Megatron): one all-reduce of three fp32 values per token (the
    max, the sum of exponentials, the target's logit) instead of gathering the logits."""
    m, T, split = c.model, c.tokens, c.split
    if c.zero == 3:
        b.last = (_gather_params(b, "head", end_buckets(m, c.parallel)["head"], c.dt, cp=c.parallel.cp),)
    b.vector("final_norm", "norm", m.norm, split.rows(T) * m.hidden, row=m.hidden)
    if split.sp:
        b.collective("head_allgather", "all_gather", T * m.hidden, "tp")
    vocab = vocab_per_chip(m, split.tp)
    b.gemm("lm_head", "lm_head", T, vocab, m.hidden, b_dtype=b.dt.vector if m.tied_embeddings else None)
    if m.final_softcap:  # Gemma-2's cap on the logits
        b.vector("logit_softcap", "lm_head", "softcap", T * vocab)
    b.vector("loss", "loss", "softmax", T * vocab, ops_per_element=LOSS_OPS)  # writes the probabilities
    if split.tp > 1:
        b.collective("loss_allreduce", "all_reduce", 3 * T, "tp", dtype="fp32")


# --- backward ---------------------------------------------------------------------------------------------


def _head_backward(c: _Ctx, b: _Builder, fwd: dict, mode: str | None) -> None:
    """The loss's gradient (p − one-hot) / tokens, the LM head's gradients, the final norm's; then the
    head's gradient reduction, the block's last op."""
    m, T, split = c.model, c.tokens, c.split
    if c.zero == 3:
        b.last = (_gather_params(b, "head", end_buckets(m, c.parallel)["head"], c.dt, cp=c.parallel.cp),)
    _vector_bwd(b, "loss.bwd", "loss", "softmax", fwd["loss"].elements, (1, 1, 2.0))
    if "logit_softcap" in fwd:
        _vector_bwd(b, "logit_softcap.bwd", "lm_head", "softcap", fwd["logit_softcap"].elements, (2, 1, 3.0))
    _linear_bwd(b, fwd["lm_head"], c.step.grad_dtype, split, T * m.hidden)
    _vector_bwd(b, "final_norm.bwd", "norm", m.norm, split.rows(T) * m.hidden, NORM_BWD[m.norm])
    _grad_sync(b, "head", end_buckets(m, c.parallel)["head"], mode, c.parallel, c.step)


def _embedding_backward(c: _Ctx, b: _Builder, mode: str | None) -> None:
    """Scatter-add of the first layer's input gradient into the rows of the tokens' embeddings (read, add,
    write), and into the learned positions; then the embedding's gradient reduction, the last op."""
    m, T, split, grad = c.model, c.tokens, c.split, c.step.grad_dtype
    if m.learned_positions:
        b.vector("positions.bwd", "embedding", "add", split.rows(T) * m.hidden, dtype=grad)
    if m.embedding_dropout:
        b.vector("embed_dropout.bwd", "embedding", "mul", split.resident(T * m.hidden), inputs=1, mask_reads=1)
    if split.sp:  # the mirror of the forward's reduce-scatter
        b.collective("embed_grad_allgather", "all_gather", T * m.hidden, "tp")
    b.vector("embed.bwd", "embedding", "add", T * m.hidden, dtype=grad)
    _grad_sync(b, "embedding", end_buckets(m, c.parallel)["embedding"], mode, c.parallel, c.step)


def _layer_backward(c: _Ctx, b: _Builder, layer: dict, mode: str | None) -> None:
    """The recomputed forward (full recompute), then the MLP half's backward and the attention half's. Each
    bucket's gradients are reduced right after its weight gradient, beside the ops after it; the last op
    (the first residual's gradient add) waits for all of them."""
    shard, T, split, grad = c.shard, c.tokens, c.split, c.step.grad_dtype
    rows, hidden, norm = split.rows(T), T * shard.hidden, shard.norm
    buckets, full = layer_buckets(c.model, c.parallel), c.step.recompute == "full"
    if c.zero == 3:  # in the order the GEMMs need them: the recomputed forward's, else the backward's
        _gather_layer(c, b, list(buckets) if full else list(reversed(buckets)), _bucket_gemms(layer),
                      "" if full else ".dgrad")
    if full:  # the whole forward again; only the layer's input was kept
        b.prefix, b.role = "recompute.", "recompute"
        _attention_train(c, b, shard, split)
        _mlp_half(b, shard, c.scenario, T, split)
        b.prefix, b.role = "", "backward"
    pending: list[str] = []

    def sync(name: str) -> None:
        pending.extend(_grad_sync(b, name, buckets[name], mode, c.parallel, c.step))

    _dropout_bwd(b, "mlp_dropout.bwd", "residual", layer["mlp_residual"])
    if "post_mlp_norm" in layer:  # Gemma-2's sandwich norms
        _vector_bwd(b, "post_mlp_norm.bwd", "norm", norm, rows * shard.hidden, NORM_BWD[norm])
    if split.sp:  # the mirror of the forward's reduce-scatter
        b.collective("mlp_grad_allgather", "all_gather", hidden, "tp")
    if shard.is_moe:
        _moe_backward(c, b, layer, sync)
    else:
        up = "gate_up" if shard.gated_mlp else "up"
        _linear_bwd(b, layer["down"], grad)
        sync("down")
        _vector_bwd(b, "act.bwd", "mlp", layer["act"].kind, layer["act"].elements, ACT_BWD[layer["act"].kind])
        _linear_bwd(b, layer[up], grad, split, hidden)
    _vector_bwd(b, "mlp_norm.bwd", "norm", norm, rows * shard.hidden, NORM_BWD[norm])
    sync("router" if shard.is_moe else up)
    b.vector("mlp_residual.bwd", "residual", "add", rows * shard.hidden)  # dh = dy + the MLP branch's dx
    _dropout_bwd(b, "attn_out_dropout.bwd", "residual", layer["attn_residual"])
    if "post_attn_norm" in layer:
        _vector_bwd(b, "post_attn_norm.bwd", "norm", norm, rows * shard.hidden, NORM_BWD[norm])
    if split.sp:
        b.collective("attn_grad_allgather", "all_gather", hidden, "tp")
    _linear_bwd(b, layer["o_proj"], grad)
    sync("o_proj")
    _core_backward(c, b)
    if "rope" in layer:
        _vector_bwd(b, "rope.bwd", "attention", "rope", layer["rope"].elements, (1, 1, 6.0))
    if "qk_norm" in layer:
        _vector_bwd(b, "qk_norm.bwd", "norm", "rmsnorm", layer["qk_norm"].elements, NORM_BWD["rmsnorm"])
    _linear_bwd(b, layer["qkv_proj"], grad, split, hidden)
    _vector_bwd(b, "attn_norm.bwd", "norm", norm, rows * shard.hidden, NORM_BWD[norm])
    sync("qkv_proj")
    b.vector("attn_residual.bwd", "residual", "add", rows * shard.hidden, after=(*b.last, *pending))


def _dropout_bwd(b: _Builder, name: str, group: str, forward: VectorOp) -> None:
    """The gradient through a dropout the forward op applied (its mask written): dx = dy ∘ mask / (1 − p),
    reading the gradient and the mask, writing dx; nothing for an op without one."""
    if forward.mask_writes:
        b.vector(name, group, "mul", forward.elements, inputs=1, mask_reads=1)


def _moe_backward(c: _Ctx, b: _Builder, layer: dict, sync) -> None:
    """combine → shared experts → (ep: combine's all-to-all) → experts → (ep: dispatch's) → router; then each
    token's input gradients summed (its k expert copies, the router's, the shared expert's) and reduced
    over tp once, as the forward reduces once after the combine."""
    m, T, grad, split = c.shard, c.tokens, c.step.grad_dtype, c.split
    k, hidden = m.experts_per_token, T * m.hidden
    routed = T * k * m.hidden
    sources = k + (1 if m.shared_intermediate else 0)
    if split.sp:  # the experts' and router's weight gradients need the whole sequence's input again
        b.collective("mlp_input_allgather", "all_gather", hidden, "tp")
    if "combine" in layer:  # d(expert output) = weight · dy; d(weight) = ⟨dy, expert output⟩
        _vector_bwd(b, "combine.bwd", "experts", "weighted_sum", hidden, (1 + sources, sources, 2.0 * sources))
    if m.shared_intermediate:
        act = layer["shared.act"]
        _linear_bwd(b, layer["shared.down"], grad)
        _vector_bwd(b, "shared.act.bwd", "shared_expert", act.kind, act.elements, ACT_BWD[act.kind])
        _linear_bwd(b, layer["shared.gate_up" if m.gated_mlp else "shared.up"], grad)
        sync("shared")
    if c.parallel.ep > 1:
        b.collective("moe_combine.bwd", "all_to_all", routed, "ep")
    experts = [op for name, op in layer.items() if name.startswith("experts") and isinstance(op, GemmOp)]
    for op in experts:
        if op.name.endswith(".down"):
            _linear_bwd(b, op, grad)
    act = layer["experts.act"]
    _vector_bwd(b, "experts.act.bwd", "experts", act.kind, act.elements, ACT_BWD[act.kind])
    for op in experts:
        if not op.name.endswith(".down"):
            _linear_bwd(b, op, grad)
    sync("experts")
    if c.parallel.ep > 1:
        b.collective("moe_dispatch.bwd", "all_to_all", routed, "ep")
    inputs = sources
    if "router" in layer:
        _vector_bwd(b, "topk.bwd", "router", "topk", layer["topk"].elements, (2, 1, 3.0))
        _linear_bwd(b, layer["router"], grad)
        inputs += 1
    if inputs > 1:
        _vector_bwd(b, "moe_input.bwd", "experts", "add", hidden, (inputs, 1, inputs - 1.0))
    comm = _tp_reduce(b, split, "moe_input.dgrad", hidden, b.last)
    if comm:
        b.last = (comm,)


def _core_backward(c: _Ctx, b: _Builder) -> None:
    """The gradients of P·V (dP = dO·Vᵀ, dV = Pᵀ·dO) and of QKᵀ (dQ = dS·K, dK = dSᵀ·Q), per causal block as
    the forward's products. Fused (FlashAttention-2): D = rowsum(dO ∘ O) first, then the scores and
    probabilities recomputed in SRAM (role `recompute`); every score-sized tensor stays on chip. Unfused:
    the forward's P is read back; dP and dS go through HBM. Selective recompute runs the attention core's
    forward again first (Korthikanti et al. 2022). Under context parallelism the ring runs again beside the
    core (Megatron's ring attention backward): K and V round the ring for the products, and the partial dK,
    dV of every chip's queries back to the chips that hold those keys (a reduce-scatter); the ops after the
    core wait for both."""
    m, s, cp = c.shard, c.scenario, c.parallel.cp
    mb, seq, fused = c.step.micro_batch, c.step.sequence, s.fused_attention
    blocks = attention_blocks(s, seq, 0, cp=cp)
    g, d = m.group_size, m.head_dim
    ring, start = (), b.last
    if cp > 1:
        ring = (b.collective("kv_ring.bwd", "all_gather", c.kv_elements, "cp", after=start, dtype=c.dt.kv),)
        b.last = start
    if c.step.recompute == "selective":
        b.prefix, b.role = "recompute.", "recompute"
        b.last = tuple(_attention_core(b, m, s, mb, seq, 0, cp=cp))
        b.prefix, b.role = "", "backward"
    elements = sum(mb * m.heads * count * rows * keys for count, rows, keys in blocks)

    kernel = _attention_kernel(s)

    def products(name: str, shape, **flags) -> None:
        """One product per block, all after the ops before; `shape(rows, keys)` is (m, n, k)."""
        (base, part), after = name.split("."), b.last
        flags |= kernel
        b.last = tuple(b.gemm(f"{base}{i or ''}.{part}", "attention", *shape(rows, keys), mb * m.kv_heads * count,
                              weight=False, after=after, **flags)
                       for i, (count, rows, keys) in enumerate(blocks))

    def scores(r, k):
        return g * r, k, d

    def by_keys(r, k):
        return k, d, g * r

    def by_rows(r, k):
        return g * r, d, k

    if fused:
        b.vector("attention.bwd_pre", "attention", "mul", c.tokens * m.q_size, inputs=2, outputs=0,
                 ops_per_element=2.0)  # D = rowsum(dO ∘ O)
        b.role = "recompute"  # the score tile in the products' fp32 accumulators, as in the forward
        products("scores.recompute", scores, c_on_chip=True)
        if m.attn_softcap:
            b.vector("softcap.recompute", "attention", "softcap", elements, dtype="fp32", inputs=0, outputs=0)
        b.vector("softmax.recompute", "attention", "softmax", elements, dtype="fp32", inputs=0, outputs=0)
        if m.attention_dropout:  # FlashAttention draws the same mask again from the saved RNG state
            b.vector("attn_dropout.recompute", "attention", "dropout", elements, dtype="fp32", inputs=0, outputs=0)
        b.role = "backward"
    products("values.dp", scores, c_on_chip=fused)  # dP = dO·Vᵀ
    # fused: dK and dV of a key block add up over the query blocks in the kernel's accumulators (FlashAttention-2's
    # backward loops over key blocks, the query blocks inside) and leave it once, at the end (attention.bwd_post)
    products("values.dv", by_keys, a_on_chip=fused, c_on_chip=fused)  # dV = Pᵀ·dO (P after the dropout)
    if m.attention_dropout and not fused:  # dP through the dropout: its mask read back
        b.vector("attn_dropout.bwd", "attention", "mul", elements, inputs=1, mask_reads=1)
    on_tile = {"dtype": "fp32"} if fused else {}  # fused: dP and dS stay in fp32 accumulators
    if fused:  # dS = P ∘ (dP − D): no exponential (P was recomputed above)
        _vector_bwd(b, "softmax.bwd", "attention", "softmax", elements, (0, 0, 2.0), special=0, **on_tile)
    else:
        _vector_bwd(b, "softmax.bwd", "attention", "softmax", elements, (2, 1, 4.0), special=0)  # through HBM
    if m.attn_softcap:  # through the cap: dS · (1 − tanh²), the tanh recomputed from the capped scores
        _vector_bwd(b, "softcap.bwd", "attention", "softcap", elements, (0, 0, 3.0) if fused else (2, 1, 3.0),
                    **on_tile)
    products("scores.dq", by_rows, a_on_chip=fused)  # dQ = dS·K
    products("scores.dk", by_keys, a_on_chip=fused, c_on_chip=fused)  # dK = dSᵀ·Q
    if fused:
        b.vector("attention.bwd_post", "attention", "copy", c.kv_elements, dtype=c.dt.act, inputs=0, outputs=1)
    if ring:
        dkv = b.collective("kv_grad_ring", "reduce_scatter", c.kv_elements, "cp", after=ring, dtype=c.step.grad_dtype)
        b.last = (*b.last, *ring, dkv)


# --- optimizer --------------------------------------------------------------------------------------------


def _optimizer(c: _Ctx, b: _Builder, bucket: Bucket, syncs: dict | None = None, mode: str | None = None,
               tied: int = 0) -> None:
    """Memory-bound vector work over the chip's parameters of one segment (1/dp of them under ZeRO ≥ 1): the
    gradient norm for clipping, the update of the fp32 states (master weights, moments), the weights the
    GEMMs read written back, the gradient buffers zeroed; ZeRO-1/2: then the updated weights all-gathered.
    With `mode` (overlap_grad_reduce false), first the `syncs` buckets' reductions, one after another. `tied`:
    a tied embedding's gradient bytes, all-reduced between the first and the last stage, which both hold the
    table (Megatron's embedding group, after the data-parallel reduction)."""
    for name, held in (syncs or {}).items() if mode else ():
        b.last = _grad_sync(b, name, held, mode, c.parallel, c.step) or b.last
    if tied:
        b.last = (_send(b, "embedding.grad_allreduce_tied", "all_reduce", tied, "embedding"),)
    step, ranks = c.step, c.parallel.data_ranks
    # the gradients it reads: the reduction's output where there is one, else its own buffers
    grad = step.reduce_dtype if ranks * c.parallel.ep > 1 else step.grad_dtype
    n = -(-bucket.params // ranks) if c.zero else bucket.params  # parameters this chip updates (of dp × cp)
    held = n if c.zero >= 2 else bucket.params  # gradients it holds (ZeRO-1 keeps them whole)
    b.vector("grad_norm", "optimizer", "reduce", n, dtype=grad, ops_per_element=2.0)
    b.vector("optimizer.grads", "optimizer", "copy", n, dtype=grad, inputs=1, outputs=0)
    states = step.moments + (1 if step.master else 0)
    b.vector(step.optimizer, "optimizer", "mul", n, dtype="fp32", inputs=states, outputs=states,
             ops_per_element=ADAMW_OPS if step.optimizer == "adamw" else SGD_OPS)
    b.vector("optimizer.weights", "optimizer", "copy", n, dtype=c.dt.weights, inputs=0 if step.master else 1,
             outputs=1)
    b.vector("zero_grad", "optimizer", "copy", held, dtype=grad if c.zero >= 2 else step.grad_dtype, inputs=0,
             outputs=1)
    if c.zero in (1, 2):  # the updated weights, after the ops before
        _gather_params(b, "", bucket, c.dt, after=None, cp=c.parallel.cp)


# --- the step ---------------------------------------------------------------------------------------------


def lower_training(model: Model, scenario: Scenario, training: Training, parallel: Parallel = ONE_CHIP,
                   source: str = "") -> list[TrainPass]:
    """The passes of one training step on one chip of each pipeline stage: the micro-batches (those that
    only accumulate gradients, then those that also reduce them), then the optimizer step."""
    step = resolve_step(model, scenario, training, parallel, source)
    fs = _forward_scenario(scenario, step.micro_batch, step.sequence)
    zero = step.zero if parallel.data_ranks > 1 else 0
    c = _Ctx(model, local_model(model, parallel), fs, step, parallel, _Split.of(parallel), Dtypes.of(fs), zero)
    tag, layers = f"{model.name}.train", model.layers

    def segment(name, build, repeat, place, direction, *args) -> tuple[TrainSegment, _Builder]:
        b = _Builder(c.dt, role="optimizer" if direction == "optimizer" else direction, dropout=True)
        build(c, b, *args)
        assert not b.waits, f"{name}: no GEMM named {sorted(b.waits)}"
        return TrainSegment(name, OpGraph(f"{tag}.{name}", tuple(b.ops)), repeat, place, direction), b

    probe = _Builder(c.dt, dropout=True)  # the layer's forward ops by name, for their backward and ZeRO-3's gathers
    _layer_forward(replace(c, zero=0), probe)
    layer = {op.name: op for op in probe.ops}
    forward = [segment("embedding", _embedding_forward, 1, "first", "forward"),
               segment("layer", _layer_forward, layers, "spread", "forward", _bucket_gemms(layer)),
               segment("head", _head_forward, 1, "last", "forward")]
    head = {op.name: op for op in forward[2][0].graph.ops}

    def micro_batches(mode: str | None) -> list:
        return forward + [segment("head.backward", _head_backward, 1, "last", "backward", head, mode),
                          segment("layer.backward", _layer_backward, layers, "spread", "backward", layer, mode),
                          segment("embedding.backward", _embedding_backward, 1, "first", "backward", mode)]

    sync = None if parallel.data_ranks * parallel.ep == 1 else ("all_reduce" if zero == 0 else "reduce_scatter")
    late = sync if not training.overlap_grad_reduce else None  # reduced after the flush, by the optimizer
    sync = sync if training.overlap_grad_reduce else None
    m = step.microbatches
    if sync is None or zero >= 2:  # the same backward every micro-batch
        plan = [("sync" if sync else "accumulate", m, micro_batches(sync))]
    else:  # gradients stay local until the last micro-batch
        plan = [("accumulate", m - 1, micro_batches(None))] if m > 1 else []
        plan.append(("sync", 1, micro_batches(sync)))
    ends, buckets = end_buckets(model, parallel), layer_buckets(model, parallel).values()
    whole_layer = Bucket(sum(x.linear for x in buckets), sum(x.other for x in buckets))
    final = ends["head"] if not (model.tied_embeddings and parallel.pp == 1) else Bucket(0, model.norm_params)
    layer_syncs = {name: bucket for name, bucket in reversed(layer_buckets(model, parallel).items())}
    tied = nbytes(ends["embedding"].params, step.grad_dtype) if model.tied_embeddings and parallel.pp > 1 else 0
    optimizer = [segment("optimizer.embedding", _optimizer, 1, "first", "optimizer", ends["embedding"],
                         {"embedding": ends["embedding"]}, late, tied),
                 segment("optimizer.layer", _optimizer, layers, "spread", "optimizer", whole_layer, layer_syncs, late),
                 segment("optimizer.head", _optimizer, 1, "last", "optimizer", final, {"head": final}, late)]
    residual = nbytes(c.tokens * model.hidden, c.dt.act)
    passes = [_pass(part, count, segs, step, residual, continues=i > 0) for i, (part, count, segs) in enumerate(plan)]
    return passes + [_pass("optimizer", 1, optimizer, step, residual)]


def _pass(part: str, microbatches: int, segments: list, step: Step, residual: int,
          continues: bool = False) -> TrainPass:
    weights = sum(s.repeat * b.weight_bytes for s, b in segments)
    return TrainPass("optimizer" if part == "optimizer" else "train", step.micro_batch,
                     step.sequence if part != "optimizer" else 0, 0, tuple(s for s, _ in segments), weights, 0, 0,
                     microbatches, residual, part, continues)


# --- what the backward needs ------------------------------------------------------------------------------


def saved_per_layer(model: Model, scenario: Scenario, training: Training, parallel: Parallel = ONE_CHIP
                    ) -> dict[str, int]:
    """Bytes one layer keeps from its forward for its backward, per micro-batch on one chip, by tensor,
    each sized from the forward op that writes it (so they follow the lowering: tp, sequence parallel,
    GQA, the MoE's loads). recompute none: the two norms' inputs and outputs (under sequence parallelism
    their 1/tp shards: the backward gathers them again), q, k, v, the attention output (and, unfused, the
    probabilities), the MLP's up projection and activation outputs (an MoE's: router logits, the routed
    copies of the tokens, the experts' projections, activations and outputs), and with dropout its masks (one
    byte an element: the two branches', and unfused the probabilities' with the dropped probabilities); selective:
    not the attention output nor the probabilities (the core is recomputed); full: only the layer's input."""
    step = resolve_step(model, scenario, training, parallel)
    fs = _forward_scenario(scenario, step.micro_batch, step.sequence)
    dt, split = Dtypes.of(fs), _Split.of(parallel)
    c = _Ctx(model, local_model(model, parallel), fs, step, parallel, split, dt, 0)
    b = _Builder(dt, dropout=True)
    _layer_forward(c, b)
    ops = {op.name: op for op in b.ops}
    rows = split.rows(c.tokens) * model.hidden

    def out(*names: str) -> int:
        return sum(nbytes(op.batch * op.m * op.n, op.out_dtype) if isinstance(op, GemmOp) else
                   nbytes(op.elements, op.dtype) for name, op in ops.items() if name in names)

    def masks(*names: str) -> int:
        return sum(op.mask_writes * op.elements for name, op in ops.items() if name in names and op.type == "vector")

    saved = {"layer input": nbytes(rows, dt.act)}
    if step.recompute == "full":
        return saved
    values = [n for n in ops if n.startswith("values")]
    probabilities = ("softmax", "attn_dropout") if step.recompute == "none" and not fs.fused_attention else ()
    saved |= {"attn_norm": out("attn_norm"), "qkv": out("qkv_proj"), "qk_norm input": out("qk_norm"),
              "attention output": out(*values) if step.recompute == "none" else 0,
              "probabilities": out(*probabilities) + masks(*probabilities),
              "attn_residual": out("attn_residual"), "mlp_norm": out("mlp_norm"),
              "dropout masks": masks("attn_residual", "mlp_residual")}
    experts = [n for n, op in ops.items() if n.startswith(("experts", "shared.")) and isinstance(op, GemmOp)]
    routed = model.experts_per_token * c.tokens * model.hidden if model.is_moe else 0
    saved |= {"mlp": out("gate_up", "up", "act"), "router": out("router"),
              "routed tokens": nbytes(routed, dt.act),
              "experts": out(*experts, "experts.act", "shared.act")}
    return {name: size for name, size in saved.items() if size}


def saved_head(model: Model, scenario: Scenario, training: Training, parallel: Parallel = ONE_CHIP) -> int:
    """Bytes the head keeps per micro-batch: the final norm's input and output, the probabilities of
    every token over the chip's vocabulary shard (the loss's output)."""
    step = resolve_step(model, scenario, training, parallel)
    fs = _forward_scenario(scenario, step.micro_batch, step.sequence)
    dt, split = Dtypes.of(fs), _Split.of(parallel)
    tokens = step.micro_batch * step.sequence // parallel.cp
    return (2 * nbytes(split.rows(tokens) * model.hidden, dt.act)
            + nbytes(tokens * vocab_per_chip(model, parallel.tp), dt.vector))


# --- FLOPs ------------------------------------------------------------------------------------------------


def _layer_matmul_params(m: Model) -> int:
    """Matrix parameters one token multiplies by in one layer (an MoE: the router, its k experts, the shared)."""
    if not m.is_moe:
        return m.attention_weights + m.mlp_matrices * m.hidden * m.intermediate
    experts = m.experts_per_token * m.expert_intermediate + m.shared_intermediate
    return m.attention_weights + m.hidden * (m.experts * (m.experts > 1) + m.mlp_matrices * experts)


def matmul_params(model: Model) -> int:
    """N of the 6·N rule: parameters one token multiplies by in GEMMs, every layer's (`_layer_matmul_params`)
    and the LM head's (a tied one is the embedding table). The embedding lookup, norms and biases do no
    GEMM work."""
    return model.layers * _layer_matmul_params(model) + model.vocab * model.hidden


def model_flops(model: Model, scenario: Scenario, training: Training, causal: bool = True) -> int:
    """Model FLOPs of one step, all chips: 6·N·tokens (N = `matmul_params`: forward 2N per token, backward
    4N) plus attention, QKᵀ and P·V forward and backward: 3 × 2 × 2·s²·H·d per layer and sequence, halved
    for causal masking (Megatron's current count; `causal=False` gives PaLM's 12·L·H·d·s per token, as
    llm-foundry reports). Recomputation is not counted (MFU)."""
    s, batch = training.sequence_of(scenario), training.global_batch_of(scenario)
    attention = (6 if causal else 12) * model.layers * model.heads * model.head_dim * s * s
    return batch * (6 * matmul_params(model) * s + attention)


def hardware_flops(model: Model, scenario: Scenario, training: Training, parallel: Parallel = ONE_CHIP) -> int:
    """GEMM FLOPs the chips execute in one step, all chips, exactly as lowered (HFU): the forward and the
    backward (3 × forward); the attention blocks fused attention computes (every key block up to the
    diagonal) or the whole rectangle unfused; the vocabulary padded to tp shards; the router replicated on
    every tp chip; and recomputation: FlashAttention-2's scores in the backward, the attention core
    (selective) or the whole layer (full)."""
    s, batch = training.sequence_of(scenario), training.global_batch_of(scenario)
    fs = _forward_scenario(scenario, 1, s)
    cp = parallel.cp  # a chip's striped rows of every block, cp of them per sequence
    keys = cp * sum(count * rows * k for count, rows, k in attention_blocks(fs, s, 0, cp=cp))  # query × key pairs
    core = 2 * 2 * model.heads * model.head_dim * keys  # QKᵀ and P·V of one sequence
    router = model.hidden * model.experts * (model.experts > 1) * (parallel.tp - 1)  # the replicas beyond one
    linear = 2 * s * (_layer_matmul_params(model) + router)
    head = 2 * s * vocab_per_chip(model, parallel.tp) * parallel.tp * model.hidden
    per_layer = 3 * (linear + core) + (core // 2 if scenario.fused_attention else 0)
    per_layer += {"none": 0, "selective": core, "full": linear + core}[training.recompute]
    return batch * (model.layers * per_layer + 3 * head)
