"""Will it fit? Weights, KV cache and live activations against the chip's HBM."""

from dataclasses import dataclass

from simulator.config.dtypes import nbytes
from simulator.errors import CapacityError
from simulator.workloads.model import Model
from simulator.workloads.ops import GemmOp
from simulator.workloads.scenario import Scenario
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


def footprint(model: Model, scenario: Scenario, passes: list[Pass]) -> Footprint:
    """Weights (linear layers at the weight dtype, the rest at the activation dtype), the KV cache at
    its largest, and an estimate of live activations: the residual stream plus the biggest op's
    operands in any pass (an unfused attention's score matrix is usually that op)."""
    dt = Dtypes.of(scenario)
    linear = model.linear_params
    weights = nbytes(linear, dt.weights) + nbytes(model.params() - linear, dt.vector)
    kv = scenario.batch * scenario.max_context * model.layers * 2 * nbytes(model.kv_size, dt.kv)
    live = max(
        nbytes(p.tokens * model.hidden, dt.act) + max(_live_bytes(op) for s in p.segments for op in s.graph.ops)
        for p in passes
    )
    return Footprint(weights, kv, live)


def gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_capacity(fp: Footprint, hbm_bytes: int, model: Model, scenario: Scenario, chip: str, source: str) -> None:
    """A one-line CapacityError saying what is needed, what there is, and how to make it fit."""
    if fp.total <= hbm_bytes:
        return
    raise CapacityError(
        f"{source}: {model.name} {scenario.phase} (batch {scenario.batch}, context up to {scenario.max_context}, "
        f"{scenario.weights} weights, {scenario.kv_cache} KV cache) needs {gb(fp.total)} of HBM — weights "
        f"{gb(fp.weights)} + KV cache {gb(fp.kv_cache)} + activations {gb(fp.activations)} — but {chip} has "
        f"memory.hbm.size = {gb(hbm_bytes)}; lower scenario.batch or the context, quantize (scenario.weights="
        f"fp8/int8/int4, scenario.kv_cache=fp8/int8), or split the model over more chips "
        f"(scenario.check_capacity=false skips this check)"
    )
