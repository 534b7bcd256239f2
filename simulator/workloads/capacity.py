"""Will it fit? Weights, KV cache and live activations against the chip's HBM.

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
from simulator.workloads.scenario import Scenario
from simulator.workloads.sharding import kv_bytes_per_chip, weight_bytes_per_chip
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


def gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def describe(parallel: Parallel) -> str:
    """The settings that differ from one chip: `tp=4, pp=2, sequence_parallel`."""
    default = ONE_CHIP.model_dump()
    return ", ".join(field if value is True else f"{field}={value}"
                     for field, value in parallel.model_dump().items() if value != default[field])


def check_capacity(fp: Footprint, hbm_bytes: int, model: Model, scenario: Scenario, chip: str, source: str,
                   parallel: Parallel = ONE_CHIP) -> None:
    """A one-line CapacityError saying what is needed (per chip, with parallelism), what there is, and
    how to make it fit."""
    if fp.total <= hbm_bytes:
        return
    where = f"per chip with {describe(parallel)}" if parallel != ONE_CHIP else "of HBM"
    axes = "parallel.tp, parallel.pp or parallel.ep" if model.is_moe else "parallel.tp or parallel.pp"
    raise CapacityError(
        f"{source}: {model.name} {scenario.phase} (batch {scenario.batch}, context up to {scenario.max_context}, "
        f"{scenario.weights} weights, {scenario.kv_cache} KV cache) needs {gb(fp.total)} {where} — weights "
        f"{gb(fp.weights)} + KV cache {gb(fp.kv_cache)} + activations {gb(fp.activations)} — but {chip} has "
        f"memory.hbm.size = {gb(hbm_bytes)}; lower scenario.batch or the context, quantize (scenario.weights="
        f"fp8/int8/int4, scenario.kv_cache=fp8/int8), or split the model over more chips (raise {axes}) "
        f"(scenario.check_capacity=false skips this check)"
    )
