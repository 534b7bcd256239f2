"""Will it fit? Weights, KV cache and live activations against the chip's HBM; for a training step, weights,
gradients, optimizer states, saved activations and buffers (`training_footprint`).

With parallelism, everything is per chip, on the chip of the largest pipeline stage: its shards of
ceil(layers/pp) layers plus the embedding or the head, whichever is larger (simulator/workloads/
sharding.py), its KV heads for its batch/(dp·ep) sequences, and the activations of one micro-batch.
"""

from dataclasses import dataclass

from simulator.config.dtypes import nbytes
from simulator.errors import CapacityError
from simulator.ir.ops import GemmOp
from simulator.workloads.model import Model
from simulator.workloads.parallel import ONE_CHIP, Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.sharding import kv_bytes_per_chip, layers_per_stage, weight_bytes_per_chip
from simulator.workloads.training import (
    Bucket,
    layer_buckets,
    params_per_chip,
    resolve_step,
    saved_head,
    saved_per_layer,
)
from simulator.workloads.transformer import Dtypes, Pass


@dataclass(frozen=True)
class Footprint:
    weights: int
    kv_cache: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations


def _live_bytes(op) -> int:
    """Activation bytes an op holds while it runs: its inputs and outputs that are neither weights nor KV cache."""
    if isinstance(op, GemmOp):  # B is a weight or the KV cache, both counted on their own
        return (0 if op.a_on_chip else nbytes(op.batch * op.m * op.k, op.dtype)) + op.min_write_bytes
    if op.kind in ("copy", "lookup"):
        return op.min_read_bytes  # writes land in the KV cache or replace the residual stream
    return op.min_read_bytes + op.min_write_bytes


def footprint(model: Model, scenario: Scenario, passes: list[Pass], parallel: Parallel = ONE_CHIP) -> Footprint:
    """Per chip: weights (linear layers at the weight dtype, the rest at the activation dtype), the KV
    cache at its largest, and an estimate of live activations: the residual stream plus the biggest
    op's operands in any pass (an unfused attention's score matrix is usually that op). `passes` are
    `lower(model, scenario, parallel)`'s."""
    dt = Dtypes.of(scenario)
    weights = weight_bytes_per_chip(model, parallel, dt.weights, dt.vector)
    kv = kv_bytes_per_chip(model, scenario, parallel, dt.kv)
    live = max(
        nbytes(p.tokens * model.hidden, dt.act) + max(_live_bytes(op) for s in p.segments for op in s.graph.ops)
        for p in passes
    )
    return Footprint(weights, kv, live)


def gb(n: int, digits: int = 1, scale: float | None = None) -> str:
    """`142.5 GB`, `537.0 MB`: decimal units, as every size Tortoise prints (a 32 GiB HBM is 34.4 GB)."""
    scale = scale or (1e9 if n >= 1e8 else 1e6)
    return f"{n / scale:.{digits}f} {'GB' if scale == 1e9 else 'MB'}"


def gb_pair(need: int, have: int) -> tuple[str, str]:
    """`need` and `have` as gb writes them, except that two different sizes never read the same: where they
    would ("needs 0.2 GB … has 0.2 GB"), both are written in the larger's unit with as many more digits as it
    takes to show the difference ("needs 0.24 GB … has 0.20 GB")."""
    scale = 1e9 if max(need, have) >= 1e8 else 1e6
    if need == have or gb(need, 1, scale) != gb(have, 1, scale):
        return gb(need), gb(have)
    digits = next((d for d in range(2, 10) if gb(need, d, scale) != gb(have, d, scale)), 9)
    return gb(need, digits, scale), gb(have, digits, scale)


def describe(parallel: Parallel) -> str:
    """The settings that differ from one chip: `tp=4, pp=2, sequence_parallel`."""
    default = ONE_CHIP.model_dump()
    return ", ".join(field if value is True else f"{field}={value}"
                     for field, value in parallel.model_dump().items() if value != default[field])


def check_capacity(fp: Footprint, hbm_bytes: int, model: Model, scenario: Scenario, chip: str, source: str,
                   parallel: Parallel = ONE_CHIP, memory: str = "memory.hbm.size") -> None:
    """A one-line CapacityError saying what is needed (per chip, with parallelism), what there is, and
    how to make it fit. `memory` names the level checked (an SRAM-only chip's SRAM)."""
    if fp.total <= hbm_bytes:
        return
    where = f"per chip with {describe(parallel)}" if parallel != ONE_CHIP else "of HBM"
    axes = "parallel.tp, parallel.pp or parallel.ep" if model.is_moe else "parallel.tp or parallel.pp"
    need, have = gb_pair(fp.total, hbm_bytes)
    raise CapacityError(
        f"{source}: {model.name} {scenario.phase} (batch {scenario.batch}, context up to {scenario.max_context}, "
        f"{scenario.weights} weights, {scenario.kv_cache} KV cache) needs {need} {where} — weights "
        f"{gb(fp.weights)} + KV cache {gb(fp.kv_cache)} + activations {gb(fp.activations)} — but {chip} has "
        f"{memory} = {have}; lower scenario.batch or the context, quantize (scenario.weights="
        f"fp8/int8/int4, scenario.kv_cache=fp8/int8), or split the model over more chips (raise {axes}) "
        f"(scenario.check_capacity=false skips this check)"
    )


# --- SRAM-only chips ------------------------------------------------------------------------------------


def sram_chips_needed(fp: Footprint, model: Model, scenario: Scenario, sram_bytes: int) -> int | None:
    """The fewest chips whose SRAM holds the whole model on chip: the weights and KV cache of every layer
    (no DRAM to stream them from), over each chip's SRAM less the live activations it needs besides (`fp`
    is the plan's per-chip footprint). None: the activations alone fill a chip's SRAM."""
    dt = Dtypes.of(scenario)
    whole = weight_bytes_per_chip(model, ONE_CHIP, dt.weights, dt.vector) + kv_bytes_per_chip(
        model, scenario, ONE_CHIP, dt.kv)
    room = sram_bytes - fp.activations
    return -(-whole // room) if room > 0 else None


def check_sram_capacity(fp: Footprint, sram_bytes: int, model: Model, scenario: Scenario, chip: str, source: str,
                        parallel: Parallel, system_chips: int) -> None:
    """On an SRAM-only chip (docs/hardware.md § SRAM-only and dataflow chips) weights stay resident in SRAM
    for the whole run, layers placed over chips as pipeline stages: a plan over fewer chips than
    `sram_chips_needed` is one CapacityError naming that number; then every chip's share is checked as on
    any chip (check_capacity, against its SRAM)."""
    need = sram_chips_needed(fp, model, scenario, sram_bytes)
    if need is not None and parallel.chips < need:
        dt = Dtypes.of(scenario)
        weights = weight_bytes_per_chip(model, ONE_CHIP, dt.weights, dt.vector)
        kv = kv_bytes_per_chip(model, scenario, ONE_CHIP, dt.kv)
        plan = f"the plan uses {parallel.chips} ({describe(parallel)})" if parallel != ONE_CHIP else \
            "the plan uses 1"
        bigger = f"; {chip} has {system_chips}, so use a bigger system (chips ≥ {need})" if system_chips < need else ""
        raise CapacityError(
            f"{source}: {model.name} {scenario.phase} ({scenario.weights} weights, {scenario.kv_cache} KV cache, "
            f"batch {scenario.batch}, context up to {scenario.max_context}) needs at least {need} chips to keep "
            f"it in SRAM on {chip} — weights {gb(weights)} + KV cache {gb(kv)} over {gb(sram_bytes, 0, 1e6)} of "
            f"SRAM per chip less {gb(fp.activations)} of activations — but {plan}{bigger}; raise parallel.pp "
            f"and parallel.tp until tp×pp ≥ {need} (an SRAM-only chip has no DRAM to stream weights from)"
        )
    check_capacity(fp, sram_bytes, model, scenario, chip, source, parallel, "SRAM size")


# --- training -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingFootprint:
    """Per chip of the fullest pipeline stage, for one training step (docs/training.md#capacity)."""

    weights: int  # the weights the GEMMs read (ZeRO-3: this chip's 1/dp shard)
    gradients: int  # at the gradient dtype (ZeRO-2/3: the shard)
    optimizer_states: int  # fp32 master weights (mixed precision) and moments (ZeRO ≥ 1: the shard)
    activations: int  # what the forward keeps for the backward, over the micro-batches in flight
    buffers: int  # transient: the largest op's operands, the residual stream's gradients, ZeRO's full buckets
    kv_cache: int = 0  # none in training (results read the inference split)

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_states + self.activations + self.buffers


def training_footprint(model: Model, scenario: Scenario, training: Training, passes: list,
                       parallel: Parallel = ONE_CHIP) -> TrainingFootprint:
    """Model states per chip as ZeRO counts them: Ψ parameters (`params_per_chip`) hold 2Ψ bf16 weights,
    2Ψ gradients and 12Ψ optimizer states for mixed-precision AdamW (16 bytes per parameter), the
    optimizer states divided by dp × cp from ZeRO-1, the gradients too from ZeRO-2, and the weights too at
    ZeRO-3 (none with `training.weight_shard: master`, FSDP's layout: the fp32 shard is the master).
    Activations: `saved_per_layer` × the stage's layers × the micro-batches in flight (one with
    one stage; with pp > 1, 1F1B's min(pp, micro-batches) on the first stage (GPipe's: all of them), one on
    the last, which also keeps the head's; interleaved, `chunks_in_flight` chunks of layers / vp on each);
    under full recompute, plus one layer's whole set while its
    backward runs. `passes` are `lower_training`'s."""
    step = resolve_step(model, scenario, training, parallel)
    dt = Dtypes.of(scenario)
    dp = parallel.data_ranks  # ZeRO shards over the chips that hold the same weights: dp × cp
    zero = step.zero if dp > 1 else 0

    def shard(n: int, stage: int) -> int:
        return -(-n // dp) if zero >= stage else n

    params = params_per_chip(model, parallel)
    weights = shard(weight_bytes_per_chip(model, parallel, dt.weights, dt.vector), 3)
    if zero == 3 and step.weight_shard == "master":
        weights = 0  # FSDP: the fp32 shard (in the states) is the master; a layer's bf16 copy lives in the buffers
    # the shard ZeRO-2/3 keeps is the reduction's output, at its dtype
    gradients = shard(nbytes(params, step.reduce_dtype if zero >= 2 else step.grad_dtype), 2)
    states = shard(params * 4 * (step.moments + (1 if step.master else 0)), 1)
    layers = layers_per_stage(model, parallel)
    per_layer = sum(saved_per_layer(model, scenario, training, parallel).values())
    head = saved_head(model, scenario, training, parallel)
    chunk = layers // parallel.vp * per_layer  # one chunk's (with vp = 1: the stage's layers)
    first = chunk * chunks_in_flight(parallel, step.microbatches, 0)
    last = chunk * (1 if parallel.schedule == "gpipe" else chunks_in_flight(parallel, step.microbatches,
                                                                                parallel.pp - 1)) + head
    activations = max(first + (head if parallel.pp == 1 else 0), last)
    if step.recompute == "full":
        whole = training.model_copy(update={"recompute": "none"})
        activations += sum(saved_per_layer(model, scenario, whole, parallel).values())
    buckets = layer_buckets(model, parallel).values()
    layer = Bucket(sum(x.linear for x in buckets), sum(x.other for x in buckets))
    buffers = max(_transient_bytes(op) for p in passes for s in p.segments for op in s.graph.ops)
    buffers += 2 * nbytes(passes[0].tokens * model.hidden, dt.act)  # the residual stream's gradient, in and out
    if zero == 3:
        buffers += layer.bytes(dt)  # one layer's parameters, gathered
    if zero >= 2:
        buffers += nbytes(layer.params, step.grad_dtype)  # one layer's gradients before their reduce-scatter
        if step.reduce_dtype != step.grad_dtype:
            buffers += nbytes(layer.params, step.reduce_dtype)  # and their cast, which the reduce-scatter sends
    return TrainingFootprint(weights, gradients, states, activations, buffers)


def chunks_in_flight(parallel: Parallel, microbatches: int, stage: int) -> int:
    """The most chunks (a stage's layers / vp, for one micro-batch) whose saved activations pipeline stage
    `stage` holds at once: the peak of forwards begun and backwards not yet done along the order the engine
    runs (engine/pipeline.py; tests/engine/test_interleaved.py checks the two agree). GPipe: every
    micro-batch. 1F1B: min(p − s, m). Interleaved (Megatron): a warm-up of 2(p − s − 1) + (v − 1)·p
    forwards and one more before the first backward, at most all m·v (all of them when m = p); on stage 0
    that is p·v + p − 1 chunks, i.e. p·(1 + (p − 1)/(p·v)) micro-batches' worth of the stage's layers."""
    p, v, m = parallel.pp, parallel.vp, microbatches
    if parallel.schedule == "gpipe":
        return m
    if v == 1:
        return min(p - stage, m)
    if m == p:  # Megatron runs every forward first
        return m * v
    return min(2 * (p - stage - 1) + (v - 1) * p + 1, m * v)


def _transient_bytes(op) -> int:
    """Bytes an op of the forward or backward holds beyond the model states: `_live_bytes`, except that a
    weight gradient's B is an activation gradient and its C the gradient buffer; the optimizer's operands
    are the states themselves, and collectives work in place."""
    if op.role not in ("forward", "backward", "recompute") or op.type == "collective" or op.name.endswith(
            ".grad_acc"):
        return 0
    if op.name.endswith(".wgrad"):
        return op.min_read_bytes
    return _live_bytes(op)


def check_training_capacity(fp: TrainingFootprint, hbm_bytes: int, model: Model, training: Training,
                            scenario: Scenario, chip: str, source: str, parallel: Parallel = ONE_CHIP) -> None:
    """A one-line CapacityError: what a chip needs, split, what it has, and what would make it fit."""
    if fp.total <= hbm_bytes:
        return
    step = resolve_step(model, scenario, training, parallel)
    split = describe(parallel) or "one chip"
    fixes = ["raise parallel.tp or parallel.pp" + (" or parallel.ep" if model.is_moe else "")]
    if step.zero < 3:
        fixes.append(f"shard more with training.zero={step.zero + 1}" + (" (and parallel.dp > 1)" if parallel.dp == 1
                                                                          else ""))
    if step.recompute != "full":
        fixes.append(f"recompute (training.recompute={'selective' if step.recompute == 'none' else 'full'})")
    if step.micro_batch > 1:
        fixes.append("lower training.micro_batch")
    need, have = gb_pair(fp.total, hbm_bytes)
    raise CapacityError(
        f"{source}: {model.name} training step (micro-batch {step.micro_batch} × {step.sequence} tokens, {split}, "
        f"ZeRO-{step.zero}, recompute {step.recompute}) needs {need} per chip — weights {gb(fp.weights)} + "
        f"gradients {gb(fp.gradients)} + optimizer states {gb(fp.optimizer_states)} + activations "
        f"{gb(fp.activations)} + buffers {gb(fp.buffers)} — but {chip} has memory.hbm.size = {have}; "
        + ", ".join(fixes) + " (scenario.check_capacity=false skips this check)"
    )
