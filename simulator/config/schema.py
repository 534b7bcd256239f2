"""Typed, frozen hardware schema. Unknown keys are rejected; readable units become numbers here.

Hardware roles are kinds (docs/configuration.md, "Kinds"): a core's compute units are `systolic`, `vector`
or `simd`; the memory levels beyond the cores are an ordered list of `scratchpad`, `cache` and `dram`, each
with a timing `model`; a System (`SystemConfig`, the top-level object) is chips of one kind in a topology.
A kind is a class here, registered by name in COMPUTE_KINDS or MEMORY_KINDS.
"""

import math
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from simulator.config import units
from simulator.config.cost import AreaConfig, CostConfig
from simulator.config.dtypes import DTYPE_BITS, DTYPES
from simulator.config.fields import Energy, EnergyPerByte, Frequency, Latency, Power, Rate, Size
from simulator.config.presets import preset_dir
from simulator.config.runtime import RuntimeField
from simulator.config.yamlio import read_mapping

DType = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]  # fp4: E2M1 (Blackwell, OCP MX)


Count = Annotated[int, Field(strict=True, ge=1, le=2**24)]  # 16,777,216: beyond any array, core or chip count


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


MIN_RATE, MAX_RATE = 2.0**-10, 2.0**10  # MACs per PE or ops per lane per cycle: 1/1024 … 1024


def _positive_rates(rates: dict) -> dict:
    for dtype, rate in rates.items():
        if not MIN_RATE <= rate <= MAX_RATE:  # also refuses NaN and infinities
            raise PydanticCustomError("rate", "must be a number > 0 for {dtype}, from 1/1024 to 1024 per cycle",
                                      {"dtype": dtype})
    return rates


def _nonzero_bandwidth(rate: units.Rate) -> units.Rate:
    if rate.value <= 0:
        raise PydanticCustomError("rate", "must be a bandwidth > 0 (e.g. 1.2 TB/s or 64 B/cycle)")
    return rate


MIN_FRACTION = 1e-3  # an efficiency below 0.1 % is a typo, and its times overflow the cycle arithmetic


def _fraction(value: float) -> float:
    if not MIN_FRACTION <= value <= 1:  # also rejects NaN
        raise PydanticCustomError("fraction", "must be a number > 0 and ≤ 1, at least 0.001 (e.g. 0.9 for 90 %)")
    return value


def _one_of(names) -> str:
    """'a', 'b' or 'c', as pydantic words a Literal's choices."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _fail(loc: tuple, kind: str, message: str, value, ctx: dict | None = None) -> ValidationError:
    """An error at `loc` inside the model being validated (pydantic puts the outer path in front): for checks
    across fields or list entries that blame one of them. validation.py turns it into one line."""
    return ValidationError.from_exception_data("hardware", [{"type": PydanticCustomError(kind, message, ctx or {}),
                                                             "loc": loc, "input": value}])


def _by_kind(kinds: dict, what: str) -> BeforeValidator:
    """Validate a mapping as the class its `kind` names. A missing or unknown kind is one error on `kind` that
    lists the kinds; an unknown field lists the fields of the kind chosen (validation.py's own listing only
    knows unions tagged by `type`)."""
    choices = _one_of(kinds)

    def choose(value):
        if isinstance(value, tuple(kinds.values())):
            return value
        if not isinstance(value, dict):
            raise PydanticCustomError("dict_type", "must be a group of fields (a mapping)")
        name = value.get("kind")
        cls = kinds.get(name) if isinstance(name, str) else None
        if cls is None:
            raise PydanticCustomError("kind", "must be one of {kinds} ({what})",
                                      {"kinds": choices, "what": what, "field": "kind"})
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
                raise PydanticCustomError("extra_in_kind", "unknown field; allowed here: {fields}",
                                          {"fields": ", ".join(cls.model_fields), "field": first["loc"][0]}) from None
            raise

    return BeforeValidator(choose)


def _union(kinds: dict):
    return Union[tuple(kinds.values())]  # noqa: UP007 — built from the registry, not written out


# ---- compute units of a core, by kind ---------------------------------------------------------------------


class GpuGemmConfig(Strict):
    """`core.mxu.gemm` — how a GPU's GEMM library runs a GEMM on the tensor cores (docs/model.md, "GPU GEMM
    execution"). Opt-in: without it the chooser searches every SRAM-fitting tile (TPU/systolic presets)."""

    # The library's CTA (threadblock) tiles as [M, N, K-step]; the chooser picks among these only. Edges
    # longer than the GEMM are clipped to it (a library pads them; the padded MACs are not counted).
    tiles: tuple[tuple[Count, Count, Count], ...]
    # The MMA issuer's tile [M, N] (a warp's, or a Hopper warpgroup's) and the fewest of them per CTA: each
    # reads its A rows and B columns from shared memory once per K-step (kernels/gemm.py warp_tile).
    warp_tile: tuple[Count, Count] = (64, 64)
    min_warps: Count = 4
    # Shared memory bytes per cycle per SM: what the tile loads and the warps' operand reads share.
    smem_bandwidth: Annotated[float, Field(gt=0, le=1e6)]
    # Persistent kernels (Hopper's warp-specialized ones): a producer warp loads a CTA's next tile during the
    # epilogue, so only the epilogue is exposed between tiles; false: each tile also waits for its first load.
    persistent: bool = False
    # The SM clock the tensor cores sustain under GEMM load (power-limited); default: the chip's clock.
    tensor_clock: Frequency | None = None

    _check_clock = field_validator("tensor_clock")(lambda v: v if v is None else positive_clock(v))

    @field_validator("tiles")
    @classmethod
    def _some_tiles(cls, tiles):
        if not tiles:
            raise PydanticCustomError("tiles", "needs at least one [M, N, K] tile (e.g. [[128, 128, 32]])")
        return tiles


class SystolicConfig(Strict):
    """`kind: systolic` — systolic arrays of one core: `count` arrays of rows × cols processing elements (PEs).
    AMX-like matrix tiles of a CPU are systolic units of their own shape."""

    count: Count = 1
    rows: Count
    cols: Count
    dataflow: Literal["os", "ws", "is"] = "os"
    # True: the next fold's stationary load / drain overlaps the current stream (double-buffered
    # weights or accumulators). False: every fold pays fill and drain, exactly as SCALE-Sim counts.
    pipelined: bool = False
    # MACs each PE completes per cycle for a dtype; a dtype missing here cannot run on the MXU.
    macs_per_pe: dict[DType, float] = {"bf16": 1.0, "fp16": 1.0, "fp8": 1.0, "int8": 1.0}
    gemm: GpuGemmConfig | None = None  # GPU-like GEMM execution (library tiles, operand delivery); None: off
    kind: Literal["systolic"] = "systolic"  # last, so the chip layout's core.mxu lists its fields as before

    _check_rates = field_validator("macs_per_pe")(_positive_rates)


MXUConfig = SystolicConfig  # the chip layout's name (core.mxu)


class VectorConfig(Strict):
    """`kind: vector` — the vector unit of one core for elementwise work and reductions: lanes × ops per lane."""

    lanes: Count
    ops_per_lane: dict[DType, float] = {"fp32": 1.0, "bf16": 1.0, "fp16": 1.0}
    # Transcendental results (exp2, reciprocal, rsqrt, tanh) per cycle per core from special-function units
    # beside the lanes (a GPU's SFUs); a kind's share of them is ir/ops.py SPECIAL_OPS. None: the lanes do
    # them at their own rate, as counted in the kind's ops per element.
    special: Count | None = None
    kind: Literal["vector"] = "vector"

    _check_rates = field_validator("ops_per_lane")(_positive_rates)


class SIMDConfig(Strict):
    """`kind: simd` — CPU-style SIMD pipes of one core: `count` pipes `width` bits wide, so a dtype of b bits has
    width / b lanes, each doing `ops_per_lane` ops per cycle (an FMA counts 2). Validated and reported as peak
    rates (Chip.peak_simd_ops_per_cycle); no op is timed on it yet."""

    count: Count = 1  # pipes (issue ports) per core, e.g. 2 FMA units
    width: Count  # bits per register, e.g. 512 for AVX-512
    ops_per_lane: dict[DType, float] = {"fp32": 1.0}
    kind: Literal["simd"] = "simd"

    _check_rates = field_validator("ops_per_lane")(_positive_rates)

    @model_validator(mode="after")
    def _whole_lanes(self):
        for dtype in self.ops_per_lane:
            if self.width % DTYPE_BITS[dtype]:
                raise _fail(("width",), "simd_width", "must be a multiple of {bits} bits, the size of {dtype}",
                            self.width, {"bits": DTYPE_BITS[dtype], "dtype": dtype})
        return self

    def lanes(self, dtype: str) -> int:
        return self.width // DTYPE_BITS[dtype]


# A new compute kind is a class above registered here; the timing that runs ops on it is hardware/'s and engine/'s.
COMPUTE_KINDS = {"systolic": SystolicConfig, "vector": VectorConfig, "simd": SIMDConfig}
ComputeUnitConfig = Annotated[_union(COMPUTE_KINDS), _by_kind(COMPUTE_KINDS, "the compute unit kinds")]


# ---- memory levels, by kind -------------------------------------------------------------------------------

# Memory timing models by name. engine/units.py MEMORY_MODELS implements each one (a test checks that the two
# agree); config cannot import the engine, so a new model is named here and implemented there.
# `rate`: bandwidth × efficiency shared by the cores; `banked`: the same shares, each capped by what the
# cycle-level DRAM model (hardware/dram.py) achieves at the op's requests in flight (docs/memory.md,
# "Memory-level parallelism"); it needs the level's `dram:` devices and `core.dma.outstanding`.
MEMORY_MODELS = ("rate", "banked")


def _positive_size(example: str):
    def check(v):
        if v <= 0:
            raise PydanticCustomError("size", "must be a size > 0 (e.g. {example})", {"example": example})
        return v

    return check


class _Level(Strict):
    """What every memory level has; a kind adds its own fields after these."""

    size: Size
    # The datasheet peak: rooflines and MBU use it; the timing model moves data at bandwidth × efficiency.
    bandwidth: Rate
    latency: Latency = units.Latency(0, True)
    # The fraction of the datasheet bandwidth that streaming kernels reach.
    efficiency: Annotated[float, Field(strict=True)] = 1.0
    model: Literal[MEMORY_MODELS] = "rate"  # the timing model (engine/units.py MEMORY_MODELS)

    _check_size = field_validator("size")(_positive_size("80 GB, 32 GiB"))
    _check_bandwidth = field_validator("bandwidth")(_nonzero_bandwidth)
    _check_efficiency = field_validator("efficiency")(_fraction)


class ScratchpadConfig(_Level):
    """`kind: scratchpad` — software-managed SRAM that tiles are staged in. As a core's `sram` (TPU VMEM, GPU shared
    memory) its size is per core and its bandwidth is not modelled (None): loads are limited by the DMA port."""

    bandwidth: Rate | None = None
    stages: Annotated[int, Field(strict=True, ge=2, le=16)] = 2  # input buffers in flight (2 = double buffering)
    # Banking of a core's SRAM (docs/memory.md § SRAM banking): `banks` banks, each serving one word of
    # `bytes_per_cycle_per_bank` bytes per cycle; accesses to different words of one bank serialize (bank
    # conflicts, counted as stalls). Unset: reads are not bank-limited, today's timing exactly.
    banks: Annotated[int, Field(strict=True, ge=1, le=4096)] | None = None
    bytes_per_cycle_per_bank: Annotated[int, Field(strict=True, ge=1, le=1024)] | None = None
    # Bytes added to the pitch of every tile row in SRAM (the padding kernels add to dodge bank conflicts).
    row_padding: Annotated[int, Field(strict=True, ge=0, le=4096)] = 0
    name: str = "sram"
    kind: Literal["scratchpad"] = "scratchpad"

    _check_size = field_validator("size")(_positive_size("228 KiB"))
    _check_bandwidth = field_validator("bandwidth")(lambda v: v if v is None else _nonzero_bandwidth(v))

    @model_validator(mode="after")
    def _banks_and_width(self):
        if (self.banks is None) != (self.bytes_per_cycle_per_bank is None):
            missing = "bytes_per_cycle_per_bank" if self.bytes_per_cycle_per_bank is None else "banks"
            raise _fail((missing,), "sram_banks", "required with {other}: banking needs both the bank count and "
                        "the bytes per cycle per bank (e.g. banks: 32, bytes_per_cycle_per_bank: 4)", None,
                        {"other": "banks" if missing != "banks" else "bytes_per_cycle_per_bank"})
        if self.row_padding and self.banks is None:
            raise _fail(("row_padding",), "sram_banks", "applies to a banked SRAM only (set banks and "
                        "bytes_per_cycle_per_bank)", self.row_padding)
        return self


SRAMConfig = ScratchpadConfig  # the chip layout's name (core.sram)


class CacheConfig(_Level):
    """`kind: cache` — a hardware-managed level shared by the cores: a GPU's L2, a TPU v4's CMEM."""

    name: str = "l2"
    kind: Literal["cache"] = "cache"


def _device_form(value):
    """`dram: hbm3` is `dram: {type: hbm3}` (the device count then follows from the bandwidth)."""
    return {"type": _memory_preset(value)} if isinstance(value, str) else value


def _memory_preset(name: str) -> str:
    from simulator.config.memory import memory_names

    names = memory_names()
    if name not in names:
        raise PydanticCustomError("memory", "must be a memory preset (configs/memory/): {names}",
                                  {"names": ", ".join(names)})
    return name


class DRAMDeviceConfig(Strict):
    """The DRAM devices behind a dram level, for the cycle-level memory model (docs/memory.md): a preset of
    configs/memory/ and how many of them (HBM stacks, DIMMs); unset, the count is the level's bandwidth over
    one device's peak, rounded. The level's bandwidth sets the per-pin rate the devices run at."""

    type: str
    devices: Count | None = None

    _check_type = field_validator("type")(_memory_preset)


PIM_PLACEMENTS = ("decode_gemv", "none")  # mapping/pim.py: which GEMMs lowering puts in the banks


class PIMConfig(Strict):
    """Compute in a DRAM level's banks, as HBM-PIM (Samsung Aquabolt-XL) and AiM (SK hynix) designs have it
    (docs/memory.md § Processing in memory): `banks` banks, each doing `macs_per_bank` MACs per cycle of the
    PIM `clock` for a dtype, fed from the cell arrays at `internal_bandwidth` (all banks together). A GEMM
    whose weights live in this memory and whose M is at most `max_m` runs there when `place` says so; the
    host writes only its input vectors and reads only its results over the external bus."""

    clock: Frequency
    banks: Count
    macs_per_bank: dict[DType, float]
    internal_bandwidth: Rate
    max_m: Count = 8  # the largest M (tokens of a decode batch) placed in the banks
    place: Literal[PIM_PLACEMENTS] = "decode_gemv"

    _check_clock = field_validator("clock")(lambda v: positive_clock(v))
    _check_rates = field_validator("macs_per_bank")(_positive_rates)
    _check_bandwidth = field_validator("internal_bandwidth")(_nonzero_bandwidth)


class DRAMConfig(_Level):
    """`kind: dram` — off-chip memory: HBM, GDDR, DDR, LPDDR."""

    name: str = "hbm"
    kind: Literal["dram"] = "dram"
    # The devices for the cycle-level model (`tortoise memory`): `hbm3`, or {type: hbm3, devices: 5}.
    dram: Annotated[DRAMDeviceConfig | None, BeforeValidator(_device_form)] = None
    pim: PIMConfig | None = None  # compute in the DRAM banks (processing in memory); None: plain DRAM


# A new memory kind is a class above registered here (and, if the timing reads it, a place in MemoryLevels).
MEMORY_KINDS = {"scratchpad": ScratchpadConfig, "cache": CacheConfig, "dram": DRAMConfig}
MemoryLevelConfig = Annotated[_union(MEMORY_KINDS), _by_kind(MEMORY_KINDS, "the memory level kinds")]


def _listed(example: str, hint: str = "") -> BeforeValidator:
    """A list in the file (validated into a tuple): anything else is one error that shows the form."""

    def check(value):
        if not isinstance(value, list | tuple):
            raise PydanticCustomError("listed", "must be a list, e.g. {example}{hint}",
                                      {"example": example, "hint": hint})
        return value

    return BeforeValidator(check)


OUTSTANDING_HELP = "must be a count of requests > 0 (e.g. 512 requests) or bytes > 0 (e.g. 16 KiB)"


def _outstanding(value):
    """`512 requests` (or a bare 512) is requests of one DRAM burst each; `16 KiB` is bytes. Kept as a pair."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, "requests")
    text = str(value).strip() if isinstance(value, str) else ""
    count, _, unit = text.partition(" ")
    if unit.strip() in ("requests", "request") and count.isdigit() and int(count) > 0:
        return (int(count), "requests")
    try:
        size = units.parse_size(text) if text and not text.isdigit() else 0
    except (ValueError, TypeError):
        size = 0
    if size <= 0:
        raise PydanticCustomError("outstanding", OUTSTANDING_HELP)
    return (size, "bytes")


Outstanding = Annotated[tuple[int, str], BeforeValidator(_outstanding),
                        PlainSerializer(lambda v: f"{v[0]} {v[1]}")]


def check_banked(far, dma, loc: tuple) -> None:
    """A `banked` farthest level needs its DRAM devices and the cores' outstanding-request limit."""
    if far.model != "banked":
        return
    if far.kind != "dram" or far.dram is None:
        raise _fail(loc, "banked", "banked needs the level's DRAM devices (e.g. memory.{name}.dram: hbm3, presets "
                    "in configs/memory/); or use model: rate", far.model, {"name": far.name})
    if dma.outstanding is None:
        raise _fail(loc, "banked", "banked needs core.dma.outstanding (requests or bytes one core keeps in "
                    "flight, with its source); or use model: rate", far.model)


def check_not_banked(level, loc: tuple) -> None:
    """`banked` times the DRAM the cores stream from; a nearer level has only the `rate` model."""
    if level.model == "banked":
        raise _fail(loc, "banked", "banked applies to the farthest (DRAM) level only; use model: rate here",
                    level.model)


class DMAConfig(Strict):
    """The core's port to the shared memory levels: the most one core can pull, and its request latency."""

    bandwidth: Rate
    latency: Latency = units.Latency(0, True)
    # The most memory requests one core keeps in flight (its miss-status registers): requests of one DRAM
    # burst each, or bytes. Read by the `banked` memory model only (Little's law, docs/memory.md).
    outstanding: Outstanding | None = None

    _check_bandwidth = field_validator("bandwidth")(_nonzero_bandwidth)


class CoreConfig(Strict):
    """One core; every core of the chip is alike. Today's timing runs GEMMs on its one systolic unit and
    elementwise ops on its one vector unit; simd units beside them report peak rates only."""

    compute: Annotated[tuple[ComputeUnitConfig, ...], _listed("[{kind: systolic, …}, {kind: vector, …}]")]
    sram: ScratchpadConfig  # the core's own scratchpad, the nearest memory level
    # Where partial sums of the output tile live (GPU register file, TPU accumulators); 0 = in SRAM.
    accumulators: Size = 0
    dma: DMAConfig

    @model_validator(mode="after")
    def _one_systolic_and_one_vector(self):
        kinds = [unit.kind for unit in self.compute]
        for kind, role in (("systolic", "GEMMs run on it"), ("vector", "elementwise ops and reductions run on it")):
            where = [i for i, k in enumerate(kinds) if k == kind]
            if not where:
                raise _fail(("compute",), "compute", "needs one unit of kind {kind}: {role}", None,
                            {"kind": kind, "role": role})
            if len(where) > 1:
                raise _fail(("compute", where[1], "kind"), "compute",
                            "a second {kind} unit; a core has one today (give the first more count or lanes)",
                            kind, {"kind": kind})
        return self

    def _unit(self, kind: str):
        return next(unit for unit in self.compute if unit.kind == kind)

    @property
    def mxu(self) -> SystolicConfig:
        return self._unit("systolic")

    @property
    def vector(self) -> VectorConfig:
        return self._unit("vector")

    @property
    def simd(self) -> tuple[SIMDConfig, ...]:
        return tuple(unit for unit in self.compute if unit.kind == "simd")


class MemoryLevels(RootModel[Annotated[tuple[MemoryLevelConfig, ...], _listed(
        "[{kind: cache, …}, {kind: dram, …}], nearest first", "; a mapping of l2 and hbm is the chip layout's")]]):
    """The chip's memory levels beyond its cores, nearest first. Today's timing reads an optional shared cache
    (`l2`) and one farthest level behind it (`hbm`, the timing's name): a DRAM, or on an SRAM-only chip (Groq,
    a wafer) a scratchpad shared by the cores that holds the weights. So the list is `[dram]`, `[cache, dram]`,
    `[scratchpad]` or `[cache, scratchpad]`."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _supported(self):
        levels = self.root
        if not levels:
            raise _fail((), "levels", "needs a dram level or, on an SRAM-only chip, a scratchpad level (the "
                        "farthest, last in the list)", levels)
        for i, level in enumerate(levels):
            last = i == len(levels) - 1
            if level.kind == "dram" and not last:
                problem = "one dram level, the last in the list, today"
            elif level.kind == "cache" and last:
                problem = "the last (farthest) level must be of kind dram today, or scratchpad on an SRAM-only chip"
            elif level.kind == "cache" and i > 0:
                problem = "one cache level today: the timing reads one shared level between the cores and DRAM"
            elif level.kind == "scratchpad" and not last:
                problem = ("a scratchpad shared by the cores in front of DRAM is not modelled yet; as the last "
                           "level it is an SRAM-only chip's memory; each core's own is core.sram")
            elif level.kind == "scratchpad" and level.bandwidth is None:
                raise _fail((i, "bandwidth"), "levels", "required on a shared scratchpad (the chip's SRAM): the "
                            "timing streams every operand from it at this rate (e.g. 80 TB/s)", None)
            else:
                continue
            raise _fail((i, "kind"), "levels", problem, level.kind)
        return self

    def __iter__(self):
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def __getitem__(self, index):
        return self.root[index]

    @property
    def farthest(self) -> "DRAMConfig | ScratchpadConfig":
        """The last level: the one the timing streams from (its `hbm`), DRAM or an SRAM-only chip's SRAM."""
        return self.root[-1]

    @property
    def dram(self) -> DRAMConfig | None:
        """The DRAM level, or None on an SRAM-only chip."""
        return self.root[-1] if self.root[-1].kind == "dram" else None

    @property
    def cache(self) -> CacheConfig | None:
        return self.root[0] if len(self.root) > 1 else None

    hbm = farthest  # the chip layout's names: memory.hbm, memory.l2 (the timing's names for these roles)
    l2 = cache


class LinkConfig(Strict):
    """One chip-to-chip connection (or chip-to-switch port), the same in both directions."""

    bandwidth: Rate  # per link, per direction
    count: Count = 1  # parallel links bundled into one connection (NVLink4: 18 per GPU to the switches)
    latency: Latency = units.Latency(0, True)  # per hop; a route through a switch is one hop
    # The fraction of the datasheet bandwidth that transfers reach; messages move at bandwidth × count × efficiency.
    efficiency: Annotated[float, Field(strict=True)] = 1.0

    _check_bandwidth = field_validator("bandwidth")(_nonzero_bandwidth)
    _check_efficiency = field_validator("efficiency")(_fraction)


# The kinds of hardware/topology.py's TOPOLOGY_KINDS registry, which builds each one's links and routes (a test
# checks that the two agree; config cannot import hardware). A new topology is named here and built there.
TOPOLOGIES = ("ring", "torus2d", "torus3d", "switch", "fully_connected", "explicit", "dragonfly")
# The kinds of hardware/scale_out.py's SCALE_OUT_KINDS registry: how nodes' NICs attach to the leaf switches.
SCALE_OUT_TOPOLOGIES = ("rail_optimized", "fat_tree")
# Parallel axes in the order mapping/placement.py lays ranks onto chips by default, nearest chips first: TP
# inside a node, then CP and EP, then PP, DP across nodes (docs/configuration.md § Placement).
PLACEMENT_AXES = ("tp", "cp", "ep", "pp", "dp")
# The names of mapping/collectives.py's ALGORITHMS, and `auto` (a test checks that the two agree).
COLLECTIVE_ALGORITHMS = ("auto", "ring", "bidir_ring", "torus", "direct", "switch_reduce", "hierarchical",
                         "double_tree")
MAX_OVERSUBSCRIPTION = 64.0  # leaf down : up bandwidth; beyond 64:1 a leaf is a typo (docs/configuration.md)


class NICConfig(Strict):
    """One NIC's port into the scale-out network, the same in both directions."""

    bandwidth: Rate  # per NIC per direction (ConnectX-7: 400 Gb/s, written 50 GB/s)
    # One message's latency from NIC to NIC across the fabric, its switch hops included.
    latency: Latency = units.Latency(0, True)
    efficiency: Annotated[float, Field(strict=True)] = 1.0  # as a link's: messages move at bandwidth × efficiency

    _check_bandwidth = field_validator("bandwidth")(_nonzero_bandwidth)
    _check_efficiency = field_validator("efficiency")(_fraction)


def _oversubscription(value: float) -> float:
    if not 1 <= value <= MAX_OVERSUBSCRIPTION:  # also rejects NaN
        raise PydanticCustomError("oversubscription", "must be a number from 1 (non-blocking) to 64 (64:1), the "
                                  "leaf switch's downlink : uplink bandwidth")
    return float(value)


class ScaleOutConfig(Strict):
    """Nodes of `chips_per_node` chips (the System's topology and link describe one node) joined by a scale-out
    network: `nics` NICs per node, each cabled to a leaf switch; the leaves joined through a spine. `topology`
    says which leaf each NIC reaches (hardware/scale_out.py)."""

    chips_per_node: Count
    topology: Literal[SCALE_OUT_TOPOLOGIES] = "rail_optimized"
    nics: Count | None = None  # per node; None: one per chip. A NIC serves chips_per_node / nics chips
    nic: NICConfig
    # Nodes under one leaf switch (rail_optimized: one leaf per rail for each group of this many nodes, a
    # SuperPOD's scalable unit; fat_tree: every NIC of these nodes on one leaf).
    nodes_per_leaf: Count = 32
    oversubscription: Annotated[float, Field(strict=True)] = 1.0

    _check_oversubscription = field_validator("oversubscription")(_oversubscription)

    @model_validator(mode="after")
    def _whole_nics(self):
        if self.nics is not None and self.chips_per_node % self.nics:
            raise _fail(("nics",), "scale_out", "must divide chips_per_node = {k}: every NIC serves as many chips",
                        self.nics, {"k": self.chips_per_node})
        return self

    @property
    def nics_per_node(self) -> int:
        return self.nics or self.chips_per_node


# The protocols mapping/collectives.py's PROTOCOLS knows: NCCL's (src/device/prims_ll.h, prims_ll128.h, prims_simple.h)
# and `dma` for libraries whose engines move the payload as is (TPU ICI DMAs).
COLLECTIVE_PROTOCOLS = ("ll", "ll128", "simple", "dma")


class ProtocolConfig(Strict):
    """One wire protocol of a collective library: what share of the wire carries payload, and what it costs in
    latency over the link's own (the link's latency is the fastest protocol's)."""

    efficiency: Annotated[float, Field(strict=True)] = 1.0  # payload bytes per byte on the wire
    latency: Latency = units.Latency(0, True)  # added to every hop of every step
    base: Latency = units.Latency(0, True)  # added once per collective
    max_rate: Rate | None = None  # payload per chip per direction that the protocol's kernel reaches at most

    _check_efficiency = field_validator("efficiency")(_fraction)


class CollectiveLibraryConfig(Strict):
    """How the collective library's kernels move data over the links (mapping/collectives.py): the protocol
    per message size (the fastest by the closed form, as NCCL's tuner picks), the share of the link its
    kernels reach, the reduction's memory traffic, and whether the switch can reduce (NVLink SHARP)."""

    name: str = "nccl"
    protocols: dict[Literal[COLLECTIVE_PROTOCOLS], ProtocolConfig]
    # The share of the link's datasheet rate the library's own copies reach (SM loads and stores, not copy
    # engines); None: link.efficiency.
    link_efficiency: Annotated[float, Field(strict=True)] | None = None
    # HBM bytes per byte a reduction step receives: read the peer's data and the own buffer, write the sum.
    reduction_memory_passes: Annotated[float, Field(strict=True, ge=0)] = 3.0
    channels: Count | None = None  # SMs (one CTA per channel) the kernels hold while they run; None: not said
    switch_reduce: bool = False  # the switch reduces and multicasts (NVLS): `auto` considers switch_reduce
    switch_efficiency: Annotated[float, Field(strict=True)] = 1.0  # in-switch reduction's share of the link rate

    _check_link_efficiency = field_validator("link_efficiency")(lambda v: v if v is None else _fraction(v))
    _check_switch_efficiency = field_validator("switch_efficiency")(_fraction)

    @model_validator(mode="after")
    def _some_protocol(self):
        if not self.protocols:
            raise _fail(("protocols",), "library", "needs at least one protocol of {allowed}", {},
                        {"allowed": ", ".join(COLLECTIVE_PROTOCOLS)})
        return self


class NetworkConfig(Strict):
    """How chips of one kind are joined: how many, in which topology, over which link. One chip needs nothing
    else. The chip layout's `system:` section; a System file has these fields at its top level. With
    `scale_out`, `topology`, `dims`, `links` and `link` describe one node of `scale_out.chips_per_node` chips,
    and `chips` / chips_per_node such nodes sit on the scale-out network."""

    chips: Count = 1
    topology: Literal[TOPOLOGIES] = "switch"
    # torus2d / torus3d: chips along each axis, x first; dragonfly: [chips per group, groups]; product = chips
    # (per node)
    dims: list[Count] | None = None
    wraparound: bool = True  # torus: the last chip of each axis links back to the first
    links: list[tuple[int, int]] | None = None  # explicit: chip pairs, each joined in both directions
    link: LinkConfig | None = None  # required when chips (per node) > 1
    # All-reduce / reduce-scatter / all-gather algorithm; auto: the fastest that applies, each tried alone
    # (hierarchical wherever a group spans nodes).
    collectives: Literal[COLLECTIVE_ALGORITHMS] = "auto"
    library: CollectiveLibraryConfig | None = None  # the collective library's kernels; None: ideal transfers
    scale_out: ScaleOutConfig | None = None  # nodes joined by NICs and switches; None: one node
    # The order parallel ranks are laid onto chips, nearest first (mapping/placement.py); None: PLACEMENT_AXES.
    placement: list[Literal[PLACEMENT_AXES]] | None = None

    @property
    def node_chips(self) -> int:
        """Chips in one node: the topology's own size."""
        return self.scale_out.chips_per_node if self.scale_out is not None else self.chips

    @model_validator(mode="after")
    def _consistent(self):
        per_node = self.node_chips
        if self.scale_out is not None and self.chips % per_node:
            raise PydanticCustomError("system", "must be a multiple of scale_out.chips_per_node = {k} (whole nodes)",
                                      {"k": per_node, "field": "chips"})
        if per_node > 1 and self.link is None:
            need = ("required when a node holds more than one chip (scale_out.chips_per_node > 1)"
                    if self.scale_out is not None else "required when chips > 1 (bandwidth, latency, …)")
            raise PydanticCustomError("system", need, {"field": "link"})
        where = "a node has scale_out.chips_per_node" if self.scale_out is not None else "chips"
        if self.topology in ("torus2d", "torus3d", "dragonfly"):
            want = 3 if self.topology == "torus3d" else 2
            what = "[chips per group, groups]" if self.topology == "dragonfly" else f"a list of {want} axis sizes"
            if self.dims is None or len(self.dims) != want:
                raise PydanticCustomError("system", "{topology} needs {what}",
                                          {"topology": self.topology, "what": what, "field": "dims"})
            if math.prod(self.dims) != per_node:
                raise PydanticCustomError("system", "holds {n} chips but {where} = {chips}",
                                          {"n": math.prod(self.dims), "chips": per_node, "where": where,
                                           "field": "dims"})
        elif self.dims is not None:
            raise PydanticCustomError("system", "applies to torus2d, torus3d and dragonfly only", {"field": "dims"})
        if self.topology == "explicit":
            self._check_explicit(per_node)
        elif self.links is not None:
            raise PydanticCustomError("system", "applies to the explicit topology only", {"field": "links"})
        if self.placement is not None and len(set(self.placement)) != len(self.placement):
            twice = next(a for i, a in enumerate(self.placement) if a in self.placement[:i])
            raise PydanticCustomError("system", "names {axis} twice; each of {axes} at most once, nearest chips "
                                      "first (the rest follow in that order)",
                                      {"axis": twice, "axes": ", ".join(PLACEMENT_AXES), "field": "placement"})
        return self

    def _check_explicit(self, chips: int):
        if not self.links:
            raise PydanticCustomError("system", "the explicit topology needs a list of [chip, chip] pairs",
                                      {"field": "links"})
        for a, b in self.links:
            if not (0 <= a < chips and 0 <= b < chips) or a == b:
                raise PydanticCustomError("system", "[{a}, {b}] must join two different chips in 0..{last}",
                                          {"a": a, "b": b, "last": chips - 1, "field": "links"})
        reached, frontier = {0}, [0]
        while frontier:
            chip = frontier.pop()
            for a, b in self.links:
                for x, y in ((a, b), (b, a)):
                    if x == chip and y not in reached:
                        reached.add(y)
                        frontier.append(y)
        if len(reached) < chips:
            missing = min(set(range(chips)) - reached)
            raise PydanticCustomError("system", "chip {missing} has no path to chip 0; every chip needs one to "
                                      "every other", {"missing": missing, "field": "links"})


NETWORK_FIELDS = tuple(NetworkConfig.model_fields)


class SystemConfig(NetworkConfig):
    """The System, the top-level hardware object: `chips` chips of the one kind `chip` describes, joined by
    `link`s in a `topology`. `chip` is None only where a network is described alone (topology tests, and
    ChipConfig.system, the network a chip sits in)."""

    name: str | None = None  # what runs are called (dgx_h100); None: the chip's name
    description: str = ""
    sources: list[str] = []
    chip: "ChipConfig | None" = None

    @model_validator(mode="after")
    def _chip_knows_its_system(self):
        if self.chip is not None:
            network = self.network()
            if self.chip.system not in (SystemConfig(), network):
                raise _fail(("chip", "system"), "system", "a System's chip has no system of its own: chips, "
                            "topology and link sit at the top level of the file", None)
            # Set once here, while the object is being built: today's readers of chip.config.system find it.
            object.__setattr__(self, "chip", self.chip.model_copy(update={"system": network}))
        return self

    def network(self) -> "SystemConfig":
        """This System without its chip, name and sources: what ChipConfig.system holds."""
        return SystemConfig.model_construct(**{field: getattr(self, field) for field in NETWORK_FIELDS})

    def chip_config(self) -> "ChipConfig":
        """The chip as a run sees it (what load_chip returns): under this System's name, description and sources
        where it gives them, with `system` this System's network."""
        chip = self.chip
        words = {"name": self.name or chip.name, "description": self.description or chip.description,
                 "sources": self.sources or chip.sources}
        same = all(getattr(chip, field) == value for field, value in words.items())
        return chip if same else chip.model_copy(update=words)


def energy_nodes_path() -> Path:
    """The technology-node energy table, shipped with the presets (configs/energy/nodes.yaml)."""
    return preset_dir() / "energy" / "nodes.yaml"


@cache
def energy_nodes() -> dict:
    """The raw node table, read once: the node names are needed to check `energy.node` at load time, where
    the error can still name the hardware file; hardware/energy.py validates and resolves the values."""
    return _read_shipped(energy_nodes_path())


def _read_shipped(path: Path) -> dict:
    """A file shipped with the presets, read at every start (ChipConfig's default energy checks its node):
    parsed by libyaml where PyYAML has it, ten times faster than its Python parser (12 ms of a run's start
    for nodes.yaml) and the same data. Anything else (no libyaml, a missing, broken or odd file) goes through
    read_mapping, which words the error."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            data = yaml.load(path.read_text(), Loader=loader)  # CSafeLoader: the safe loader, in C
        except (OSError, ValueError, yaml.YAMLError):
            data = None
        if isinstance(data, dict):
            return data
    return read_mapping(path)


class NodeEnergyConfig(Strict):
    """One technology node's default energies (an entry of configs/energy/nodes.yaml); every field required."""

    description: str = ""
    mac: dict[DType, Energy]  # per MAC of that compute dtype
    vector_op: dict[DType, Energy]  # per vector-unit op
    sram: EnergyPerByte  # core-local scratchpad, per byte read or written
    l2: EnergyPerByte  # shared on-chip level, per byte read
    hbm: EnergyPerByte  # off-chip DRAM, per byte read or written
    link: EnergyPerByte  # chip-to-chip link, per byte per hop
    static_power: Power  # per chip, paid for the whole run
    # An SRAM-only chip's shared SRAM (its farthest level), per byte read or written; None: the node's l2,
    # the one large-SRAM figure (hardware/energy.py)
    chip_sram: EnergyPerByte | None = None


class EnergyConfig(Strict):
    """Energy per event: a technology node's defaults (configs/energy/nodes.yaml), each overridable here."""

    node: str = "45nm"  # Horowitz ISSCC 2014: the one node with a published per-op table
    mac: dict[DType, Energy] = {}  # overrides per dtype; other dtypes keep the node's
    vector_op: dict[DType, Energy] = {}
    sram: EnergyPerByte | None = None
    l2: EnergyPerByte | None = None
    hbm: EnergyPerByte | None = None
    link: EnergyPerByte | None = None
    static_power: Power | None = None
    chip_sram: EnergyPerByte | None = None  # an SRAM-only chip's shared SRAM, per byte read or written

    @field_validator("node")
    @classmethod
    def _known_node(cls, v):
        nodes = energy_nodes()
        if v not in nodes:
            raise PydanticCustomError("energy_node", "unknown technology node; the nodes in {file} are {nodes}",
                                      {"file": "configs/energy/nodes.yaml", "nodes": ", ".join(nodes)})
        return v


def positive_clock(v: float) -> float:
    if not units.MIN_HZ <= v <= units.MAX_HZ:
        raise PydanticCustomError("clock", "must be a frequency from 1 MHz to 100 GHz (e.g. 940 MHz, 1.05 GHz)")
    return v


class ChipConfig(Strict):
    """One chip kind: a clock, `cores` alike cores (compute units, a scratchpad, a DMA port each) and the memory
    levels beyond them, nearest first."""

    name: str
    description: str = ""
    sources: list[str] = []
    clock: Frequency
    cores: Count
    core: CoreConfig
    memory: MemoryLevels
    # Fixed time every op pays on top of its data and compute time: kernel launch, prologue and tail
    # on a GPU; dispatch and sync on a TPU.
    op_overhead: Latency = units.Latency(0, True)
    # The software that issues the kernels (config/runtime.py): host cost per kernel, fusion; default `bare`.
    runtime: RuntimeField
    # The network of the System this chip is part of (its `chip` is None), for the code that reads
    # chip.config.system; the System itself is the top-level object (SystemConfig, loader.load_system).
    system: SystemConfig = Field(default_factory=lambda: SystemConfig())
    energy: EnergyConfig = EnergyConfig()  # energy per MAC, per byte moved, and static power
    cost: CostConfig | None = None  # what an hour of the chip costs (config/cost.py, docs/cost.md)
    area: AreaConfig | None = None  # its die area: published, or modelled per technology node

    _check_clock = field_validator("clock")(positive_clock)

    @model_validator(mode="after")
    def _banked_needs_devices_and_outstanding(self):
        for i, level in enumerate(self.memory.root[:-1]):
            check_not_banked(level, ("memory", i, "model"))
        check_banked(self.memory.farthest, self.core.dma, ("memory", len(self.memory.root) - 1, "model"))
        return self

    @model_validator(mode="after")
    def _network_only(self):
        if self.system.chip is not None:
            raise _fail(("system", "chip"), "system", "a chip's system is the network it sits in and holds no chip",
                        None)
        return self


SystemConfig.model_rebuild()
assert set(DTYPES) == set(DType.__args__)
