"""Workload files: a named list of GEMM and vector ops (see docs/configuration.md#workload-files)."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.config.schema import DType
from simulator.config.validation import validate
from simulator.config.yamlio import parse_override, read_mapping, set_path
from simulator.errors import ConfigError
from simulator.workloads.ops import VECTOR_KINDS, GemmOp, OpGraph, VectorOp

Positive = Annotated[int, Field(strict=True, ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GemmSpec(_Strict):
    name: str
    type: Literal["gemm"]
    m: Positive
    n: Positive
    k: Positive
    dtype: DType = "bf16"
    out_dtype: DType | None = None  # defaults to dtype
    repeat: Positive = 1  # independent instances of the same product (a batched GEMM)
    after: list[str] | None = None  # ops that must finish first; default: the op before


class VectorSpec(_Strict):
    name: str
    type: Literal["vector"]
    kind: Literal[tuple(VECTOR_KINDS)]
    elements: Positive
    dtype: DType = "bf16"
    inputs: Annotated[int, Field(strict=True, ge=0)] | None = None
    outputs: Annotated[int, Field(strict=True, ge=0)] | None = None
    ops_per_element: Annotated[float, Field(ge=0)] | None = None
    after: list[str] | None = None


class WorkloadSpec(_Strict):
    name: str
    description: str = ""
    ops: Annotated[list[Annotated[GemmSpec | VectorSpec, Field(discriminator="type")]], Field(min_length=1)]



def load_workload(path: str | Path, overrides: list[str] = ()) -> OpGraph:
    """The op graph of a workload file, with `--set ops.0.m=4096`-style overrides applied."""
    data = read_mapping(Path(path))
    provenance: dict = {}
    for text in overrides:
        keys, value = parse_override(text)
        set_path(data, keys, value, f"--set {text}", provenance)
    spec = validate(WorkloadSpec, data, str(path), provenance)
    _check_names(spec, str(path))
    return to_graph(spec)


def _check_names(spec: WorkloadSpec, source: str) -> None:
    seen: list[str] = []
    for i, op in enumerate(spec.ops):
        if op.name in seen:
            raise ConfigError(source, f"ops.{i}.name", op.name, "op names must be unique")
        for dep in op.after or ():
            if dep not in seen:
                raise ConfigError(source, f"ops.{i}.after", dep,
                                  "must name an earlier op" + (": " + ", ".join(seen) if seen else " (there is none)"))
        seen.append(op.name)


def to_graph(spec: WorkloadSpec) -> OpGraph:
    ops = []
    previous: tuple[str, ...] = ()
    for s in spec.ops:
        deps = tuple(s.after) if s.after is not None else previous
        if s.type == "gemm":
            ops.append(GemmOp(s.name, s.m, s.n, s.k, s.dtype, s.out_dtype or s.dtype, s.repeat, deps))
        else:
            inputs, outputs, ops_per = VECTOR_KINDS[s.kind]
            ops.append(VectorOp(
                s.name, s.kind, s.elements, s.dtype,
                inputs if s.inputs is None else s.inputs,
                outputs if s.outputs is None else s.outputs,
                ops_per if s.ops_per_element is None else s.ops_per_element,
                deps,
            ))
        previous = (s.name,)
    return OpGraph(spec.name, tuple(ops))
