"""Workload files: a named list of GEMM and vector ops (docs/configuration.md#workload-files), or a
model with a scenario (docs/workloads.md)."""

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from simulator.config.schema import DType, Size
from simulator.config.validation import validate
from simulator.config.yamlio import deep_merge, parse_override, read_mapping, set_path, source_of
from simulator.errors import ConfigError
from simulator.ir.ops import COLLECTIVE_KINDS, PARALLEL_AXES, VECTOR_KINDS, CollectiveOp, GemmOp, OpGraph, VectorOp
from simulator.workloads.model import Model, model_from_mapping
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.serving import Serving
from simulator.workloads.sharding import check_context, check_serving_layout, validate_parallel
from simulator.workloads.training import resolve_step

Positive = Annotated[int, Field(strict=True, ge=1)]
Dimension = Annotated[int, Field(strict=True, ge=1, le=2**31)]  # a GEMM edge or a vector length
MAX_MACS = 2**60  # one op's multiply-accumulates (about 1.2e18): the cycle and byte arithmetic is 64-bit


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GemmSpec(_Strict):
    name: str
    type: Literal["gemm"]
    m: Dimension
    n: Dimension
    k: Dimension
    dtype: DType = "bf16"
    out_dtype: DType | None = None  # defaults to dtype
    repeat: Dimension = 1  # independent instances of the same product (a batched GEMM)
    after: list[str] | None = None  # ops that must finish first; default: the op before

    @model_validator(mode="after")
    def _bounded(self):
        macs = self.m * self.n * self.k * self.repeat
        if macs > MAX_MACS:
            raise PydanticCustomError("macs", f"m·n·k·repeat = {macs:.3g} multiply-accumulates, more than one op may "
                                      "have (2^60 ≈ 1.2e18; Tortoise's arithmetic is 64-bit)")
        return self


class VectorSpec(_Strict):
    name: str
    type: Literal["vector"]
    kind: Literal[tuple(VECTOR_KINDS)]
    elements: Annotated[int, Field(strict=True, ge=1, le=2**50)]
    dtype: DType = "bf16"
    inputs: Annotated[int, Field(strict=True, ge=0, le=1024)] | None = None
    outputs: Annotated[int, Field(strict=True, ge=0, le=1024)] | None = None
    ops_per_element: Annotated[float, Field(ge=0, le=2**20, allow_inf_nan=False)] | None = None
    after: list[str] | None = None

    @model_validator(mode="after")
    def _bounded(self):
        work = self.elements * (self.ops_per_element or 0)
        if work > MAX_MACS:
            raise PydanticCustomError("work", f"elements · ops_per_element = {work:.3g} vector ops, more than one op "
                                      "may have (2^60 ≈ 1.2e18; Tortoise's arithmetic is 64-bit)")
        return self


class CollectiveSpec(_Strict):
    """A collective among chips of the system, as nccl-tests runs one: `bytes` is each chip's buffer."""

    name: str
    type: Literal["collective"]
    kind: Literal[COLLECTIVE_KINDS]
    bytes: Size
    chips: Any  # N (chips 0 … N−1) or a list of chip indices
    axis: Literal[PARALLEL_AXES] | None = None  # a label for reports; the chips are `chips`
    after: list[str] | None = None

    @field_validator("chips")
    @classmethod
    def _chips(cls, v):
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            return v
        if (isinstance(v, list) and v and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in v)):
            return v
        raise PydanticCustomError("chips", "must be a chip count ≥ 1 (chips 0 … N−1) or a non-empty list of "
                                           "chip indices ≥ 0", {})


class WorkloadSpec(_Strict):
    name: str
    description: str = ""
    ops: Annotated[list[Annotated[GemmSpec | VectorSpec | CollectiveSpec, Field(discriminator="type")]],
                   Field(min_length=1)]



class LLMWorkloadSpec(_Strict):
    name: str
    description: str = ""
    model: Any  # a config.json path (relative to this file, or a bundled model name) or its fields inline
    scenario: Scenario = Scenario()
    parallel: Parallel = Parallel()
    training: Training | None = None  # with scenario.phase = train (docs/training.md)
    serving: Serving | None = None  # with scenario.phase = serve (docs/serving.md)


@dataclass(frozen=True)
class LLMWorkload:
    name: str
    description: str
    model: Model
    scenario: Scenario
    source: str  # the workload file, for error messages
    parallel: Parallel = Parallel()
    training: Training | None = None  # phase train: the step (defaults when the file has no `training:`)
    serving: Serving | None = None  # phase serve: the service (defaults when the file has no `serving:`)


def bundled_dir() -> Path:
    """workloads/ of a checkout, shipped as the package data `simulator.bundled_workloads`."""
    return Path(str(resources.files("simulator.bundled_workloads")))


def bundled_models() -> list[str]:
    return sorted(p.stem for p in (bundled_dir() / "models").glob("*.json"))


def resolve_model_path(spec: str, base: Path, source: str) -> Path:
    """A path (as written, or relative to the workload file); a bare name (no folder: `llama3_8b` or
    `llama3_8b.json`) that is neither is a bundled model. A path with a folder that does not exist is an
    error, never a bundled model of the same name."""
    path = Path(spec)
    for candidate in (path, base / path):
        if candidate.is_file():
            return candidate
    if "/" in spec or "\\" in spec or path.is_absolute():
        other = base / path
        shown = f"{path}" + ("" if path.is_absolute() or other.resolve() == path.resolve() else f" or {other}")
        raise ConfigError(source, "model", spec, f"no such file ({shown}); a bundled model is named without a "
                          "folder: " + ", ".join(bundled_models()))
    bundled = bundled_dir() / "models" / f"{path.stem}.json"
    if path.suffix in ("", ".json") and bundled.is_file():
        return bundled
    raise ConfigError(source, "model", spec, "no such file or bundled model; bundled: " + ", ".join(bundled_models()))


def resolve_workload_path(spec: str) -> Path:
    """A file path; else, for a bare name (`llama3_8b_decode`, `llama3_8b_decode.yaml`) or a missing
    `workloads/NAME.yaml`, the bundled workload of that name. A path into any other folder never falls back
    to a bundled file (`typo/llama3_8b_decode.yaml` is reported missing, not silently replaced)."""
    path = Path(spec)
    if path.is_file() or path.is_absolute() or path.parent not in (Path("."), Path("workloads")):
        return path  # read_mapping reports it missing
    for name in (path.name, f"{path.name}.yaml") if path.suffix not in (".yaml", ".yml") else (path.name,):
        found = bundled_dir() / name
        if found.is_file():
            return found
    return path


def load_workload(path: str | Path, overrides: list[str] = ()) -> OpGraph | LLMWorkload:
    """A workload file with `--set ops.0.m=4096` or `--set scenario.batch=8`-style overrides applied."""
    path = resolve_workload_path(str(path))
    data = read_mapping(path)
    if "model" in data:
        return load_llm(data, str(path), path.parent, overrides)
    provenance: dict = {}
    for text in overrides:
        keys, value = parse_override(text)
        set_path(data, keys, value, f"--set {text}", provenance)
    spec = validate(WorkloadSpec, data, str(path), provenance)
    _check_names(spec, str(path))
    return to_graph(spec)


def load_llm(data: dict, source: str, base: Path, overrides: list[str] = ()) -> LLMWorkload:
    """A model + scenario workload. Model fields come from its config.json unless given inline; both can
    be overridden (`--set model.num_hidden_layers=2`)."""
    provenance: dict = {}
    data = deep_merge({}, data, source, provenance)
    parsed = [(parse_override(text), f"--set {text}") for text in overrides]
    for (keys, value), by in parsed:  # `--set model=llama2_7b` swaps the model before fields are overridden
        if keys == ["model"]:
            set_path(data, keys, value, by, provenance)
            source, base = (by, Path.cwd()) if isinstance(value, str) else (source, base)
    model_source, model_name = source, data.get("name", Path(source).stem)
    if isinstance(data.get("model"), str):
        model_path = resolve_model_path(data["model"], base, source)
        model_source, model_name = str(model_path), model_path.stem
        data["model"] = deep_merge({}, read_mapping(model_path), model_source, provenance, ("model",))
    for (keys, value), by in parsed:
        if keys != ["model"]:
            set_path(data, keys, value, by, provenance)
    data.setdefault("name", Path(source).stem)
    spec = validate(LLMWorkloadSpec, data, source, provenance)
    if not isinstance(spec.model, dict):
        raise ConfigError(source, "model", spec.model, "a config.json path or a mapping of its fields")
    model_provenance = {key[1:]: src for key, src in provenance.items() if key[:1] == ("model",) and len(key) > 1}
    model = model_from_mapping(spec.model, model_source, model_name, model_provenance)
    training, serving = spec.training, spec.serving
    if spec.scenario.phase != "serve" and serving is not None:
        raise ConfigError(source_of(provenance, ("serving",), source), "serving", "(a section)",
                          f"only with scenario.phase = 'serve' (this is {spec.scenario.phase!r})")
    if spec.scenario.phase == "serve":
        serving = serving or Serving()
    if spec.scenario.phase != "train":
        if training is not None:
            raise ConfigError(source_of(provenance, ("training",), source), "training", "(a section)",
                              f"only with scenario.phase = 'train' (this is {spec.scenario.phase!r})")
        if spec.parallel.vp > 1:
            raise ConfigError(source_of(provenance, ("parallel", "vp"), source), "parallel.vp", spec.parallel.vp,
                              f"1 for {spec.scenario.phase}: interleaved virtual stages are a training schedule")
        scenario = spec.scenario  # a service's batches are the scheduler's: check the split on one per replica
        if scenario.phase == "serve":
            check_serving_layout(spec.parallel, source, provenance)
            scenario = scenario.model_copy(update={"phase": "decode", "batch": spec.parallel.dp * spec.parallel.ep})
        validate_parallel(model, scenario, spec.parallel, source, provenance)
    else:
        training = training or Training()
        resolve_step(model, spec.scenario, training, spec.parallel, source, provenance)
    check_context(model, spec.scenario, training, source, provenance)
    report_notes(model, model_source)
    return LLMWorkload(spec.name, spec.description, model, spec.scenario, source, spec.parallel, training, serving)


NOTES = logging.getLogger("simulator.workloads")
_reported: set[tuple[str, str]] = set()


def report_notes(model: Model, source: str) -> None:
    """Say once per process, one line each on stderr, what the lowering approximates for this model
    (`Model.notes`). Through `logging`: with no logging configured Python prints the bare line; a program
    that configures logging routes or silences it (logger `simulator.workloads`)."""
    for note in model.notes:
        if (source, note) not in _reported:
            _reported.add((source, note))
            NOTES.warning("tortoise: note: %s: %s", source, note)


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
        elif s.type == "collective":
            chips = tuple(range(s.chips)) if isinstance(s.chips, int) else tuple(s.chips)
            ops.append(CollectiveOp(s.name, s.kind, s.bytes, s.axis or "", deps, chips=chips))
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
