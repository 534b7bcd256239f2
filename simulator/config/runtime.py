"""Software runtime profiles (configs/runtime/*.yaml, docs/model.md § Runtime profile): what the framework
running the kernels adds to each one. The chip's `op_overhead` is the device's own fixed cost per kernel
(launch latency, ramp, tail); a profile adds the host's cost of issuing it, says whether the host waits
for each kernel (a timing harness that synchronizes after every call) and which op kinds a compiler or a
fused engine folds into a neighbouring kernel, so that they pay no launch of their own.

A chip names its profile (`runtime: eager`, a bundled file) or gives one inline; `--set runtime=compiled`
picks another per run. The default, `bare`, adds nothing: the device alone."""

from functools import cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from simulator.config import units
from simulator.config.fields import Latency
from simulator.config.presets import preset_dir
from simulator.config.yamlio import read_mapping

# What a profile may name: the vector op kinds (ir/ops.py VECTOR_KINDS), `gemm` and `collective`. Kept here
# as names so that the config does not import the IR; tests/hardware/test_runtime.py checks the two agree.
OP_KINDS = ("gemm", "collective", "add", "mul", "relu", "silu", "gelu", "swiglu", "geglu", "reglu", "exp",
            "softmax", "softcap", "rmsnorm", "layernorm", "rope", "reduce", "copy", "topk", "lookup",
            "weighted_sum", "dropout")
DEFAULT = "bare"


def runtime_dir():
    return preset_dir() / "runtime"


@cache
def runtime_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in runtime_dir().glob("*.yaml")))


def _known_kind_keys(table):
    _known_kinds(list(table))
    return table


def _known_kinds(kinds):
    bad = [k for k in kinds if k not in OP_KINDS]
    if bad:
        raise PydanticCustomError("op_kind", "{bad} is not an op kind; the kinds are {kinds}",
                                  {"bad": bad[0], "kinds": ", ".join(OP_KINDS)})
    return kinds


def _named_profile(value):
    """`runtime: eager` is the bundled file configs/runtime/eager.yaml; a mapping is a profile inline."""
    if not isinstance(value, str):
        return value
    if value not in runtime_names():
        raise PydanticCustomError("runtime", "unknown runtime profile '{name}'; the bundled ones are {names} "
                                  "(configs/runtime/), or give the fields inline",
                                  {"name": value, "names": ", ".join(runtime_names())})
    return read_mapping(runtime_dir() / f"{value}.yaml")


class RowPasses(BaseModel):
    """Reads of a row-wise kernel's input when its rows are longer than `over` elements."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    over: Annotated[int, Field(strict=True, ge=0, le=1 << 30)]
    reads: Annotated[int, Field(strict=True, ge=1, le=16)]


class RuntimeConfig(BaseModel):
    """One software runtime: host cost per kernel (and per op kind), whether the host synchronizes after every
    kernel, and the op kinds fused into a neighbouring kernel."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = DEFAULT
    description: str = ""
    sources: list[str] = []
    # CPU time to issue one kernel (framework dispatch and the driver's launch call). Asynchronous issue hides it
    # behind the kernel before; a kernel shorter than it leaves the device waiting.
    host_per_kernel: Latency = units.Latency(0, False)
    # Host time per kernel of these op kinds, instead of host_per_kernel (a library's heuristics before a GEMM).
    host_per_kind: Annotated[dict[str, Latency], AfterValidator(_known_kind_keys)] = {}
    # Of a synchronizing harness's host cost, the part spent after the launch call has returned (back through
    # the framework into the caller, then into the synchronize): it runs while the kernel does, so only the
    # rest adds to the kernel's time. Per kind as host_per_kind; no greater than that kind's host cost.
    host_after_launch: Latency = units.Latency(0, False)
    host_after_launch_per_kind: Annotated[dict[str, Latency], AfterValidator(_known_kind_keys)] = {}
    # True for a timing harness that waits for every kernel (torch.cuda.synchronize() after each call): the
    # host's time then adds to the kernel's instead of overlapping the one before.
    synchronize: bool = False
    # Op kinds a compiler or a fused engine folds into a neighbouring kernel: no launch, no host cost.
    fuse: Annotated[list[str], AfterValidator(_known_kinds)] = []
    # Row-wise kinds whose library kernel reads its input more than once when a row is longer than `over`
    # elements (PyTorch's block softmax: max, sum, normalize). Kinds as in `fuse`.
    row_passes: Annotated[dict[str, RowPasses], AfterValidator(_known_kind_keys)] = {}

    def host(self, kind: str):
        return self.host_per_kind.get(kind, self.host_per_kernel)

    def after_launch(self, kind: str):
        return self.host_after_launch_per_kind.get(kind, self.host_after_launch)

    @model_validator(mode="after")
    def _after_launch_within_host(self):
        for kind in ("", *self.host_per_kind, *self.host_after_launch_per_kind):
            after, host = self.after_launch(kind), self.host(kind)
            if after.value == 0:
                continue
            field = f"host_after_launch_per_kind.{kind}" if kind in self.host_after_launch_per_kind \
                else "host_after_launch"
            whose = f"host_per_kind.{kind}" if kind in self.host_per_kind else "host_per_kernel"
            if after.in_cycles != host.in_cycles:
                raise PydanticCustomError("after_launch", "{field} = {after} and {whose} = {host} must be in the "
                                          "same unit (both times or both cycles)",
                                          {"field": field, "after": str(after), "whose": whose, "host": str(host)})
            if after.value > host.value:
                raise PydanticCustomError("after_launch", "{field} = {after} is more than {whose} = {host}, the "
                                          "host cost it is part of", {"field": field, "after": str(after),
                                                                      "whose": whose, "host": str(host)})
        return self


@cache
def _default() -> RuntimeConfig:
    """The `bare` profile, read once: every chip config without a `runtime` gets it (a frozen model, shared)."""
    return RuntimeConfig.model_validate(read_mapping(runtime_dir() / f"{DEFAULT}.yaml"))


# ChipConfig.runtime: a bundled profile's name or a profile inline.
RuntimeField = Annotated[RuntimeConfig, BeforeValidator(_named_profile), Field(default_factory=_default)]
