"""Typed, frozen hardware schema. Unknown keys are rejected; readable units become numbers here."""

import math
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator
from pydantic_core import PydanticCustomError

from simulator.config import units
from simulator.config.dtypes import DTYPES
from simulator.config.presets import preset_dir
from simulator.config.yamlio import read_mapping

DType = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]


def _unit_field(parser, help_text):
    def parse(value):
        try:
            return parser(value)
        except (ValueError, TypeError):
            raise PydanticCustomError("unit", help_text) from None

    return BeforeValidator(parse)


Size = Annotated[int, _unit_field(units.parse_size, units.SIZE_HELP), PlainSerializer(lambda v: v)]
Frequency = Annotated[float, _unit_field(units.parse_frequency, units.FREQ_HELP)]
Rate = Annotated[units.Rate, _unit_field(units.parse_rate, units.RATE_HELP), PlainSerializer(str)]
Latency = Annotated[units.Latency, _unit_field(units.parse_latency, units.TIME_HELP), PlainSerializer(str)]
Count = Annotated[int, Field(strict=True, ge=1)]
Energy = Annotated[float, _unit_field(units.parse_energy, units.ENERGY_HELP), PlainSerializer(units.format_energy)]
EnergyPerByte = Annotated[float, _unit_field(units.parse_energy_per_byte, units.ENERGY_PER_BYTE_HELP),
                          PlainSerializer(units.format_energy_per_byte)]
Power = Annotated[float, _unit_field(units.parse_power, units.POWER_HELP), PlainSerializer(units.format_power)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _positive_rates(rates: dict) -> dict:
    for dtype, rate in rates.items():
        if not rate > 0:
            raise PydanticCustomError("rate", "must be a number > 0 for {dtype}", {"dtype": dtype})
    return rates


def _nonzero_bandwidth(rate: units.Rate) -> units.Rate:
    if rate.value <= 0:
        raise PydanticCustomError("rate", "must be a bandwidth > 0 (e.g. 1.2 TB/s or 64 B/cycle)")
    return rate


def _fraction(value: float) -> float:
    if not 0 < value <= 1:  # also rejects NaN
        raise PydanticCustomError("fraction", "must be a number > 0 and ≤ 1 (e.g. 0.9 for 90 %)")
    return value


class MXUConfig(Strict):
    """Systolic arrays of one core: `count` arrays of rows × cols processing elements (PEs)."""

    count: Count = 1
    rows: Count
    cols: Count
    dataflow: Literal["os", "ws", "is"] = "os"
    # True: the next fold's stationary load / drain overlaps the current stream (double-buffered
    # weights or accumulators). False: every fold pays fill and drain, exactly as SCALE-Sim counts.
    pipelined: bool = False
    # MACs each PE completes per cycle for a dtype; a dtype missing here cannot run on the MXU.
    macs_per_pe: dict[DType, float] = {"bf16": 1.0, "fp16": 1.0, "fp8": 1.0, "int8": 1.0}

    _check_rates = field_validator("macs_per_pe")(_positive_rates)


class VectorConfig(Strict):
    """SIMD unit of one core for elementwise work and reductions."""

    lanes: Count
    ops_per_lane: dict[DType, float] = {"fp32": 1.0, "bf16": 1.0, "fp16": 1.0}

    _check_rates = field_validator("ops_per_lane")(_positive_rates)


class SRAMConfig(Strict):
    """The core's local scratchpad (TPU VMEM, GPU shared memory) that tiles are staged in."""

    size: Size
    stages: Annotated[int, Field(strict=True, ge=2, le=16)] = 2  # input buffers in flight (2 = double buffering)

    @field_validator("size")
    @classmethod
    def _nonzero(cls, v):
        if v <= 0:
            raise PydanticCustomError("size", "must be a size > 0 (e.g. 228 KiB)")
        return v


class DMAConfig(Strict):
    """The core's port to the shared memory levels: the most one core can pull, and its request latency."""

    bandwidth: Rate
    latency: Latency = units.Latency(0, True)

    _check_bandwidth = field_validator("bandwidth")(_nonzero_bandwidth)


class CoreConfig(Strict):
    mxu: MXUConfig
    vector: VectorConfig
    sram: SRAMConfig
    # Where partial sums of the output tile live (GPU register file, TPU accumulators); 0 = in SRAM.
    accumulators: Size = 0
    dma: DMAConfig


class MemoryLevelConfig(Strict):
    size: Size
    bandwidth: Rate  # the datasheet peak; rooflines and MBU use it
    latency: Latency = units.Latency(0, True)
    # The fraction of the datasheet bandwidth that streaming kernels reach; the timing model uses
    # bandwidth × efficiency.
    efficiency: Annotated[float, Field(strict=True)] = 1.0

    _check_bandwidth = field_validator("bandwidth")(_nonzero_bandwidth)
    _check_efficiency = field_validator("efficiency")(_fraction)

    @field_validator("size")
    @classmethod
    def _nonzero(cls, v):
        if v <= 0:
            raise PydanticCustomError("size", "must be a size > 0 (e.g. 80 GB, 32 GiB)")
        return v


class MemoryConfig(Strict):
    # Optional shared on-chip level between the cores and HBM: a GPU's L2, a TPU v4's CMEM.
    l2: MemoryLevelConfig | None = None
    hbm: MemoryLevelConfig


class LinkConfig(Strict):
    """One chip-to-chip connection (or chip-to-switch port), the same in both directions."""

    bandwidth: Rate  # per link, per direction
    count: Count = 1  # parallel links bundled into one connection (NVLink4: 18 per GPU to the switches)
    latency: Latency = units.Latency(0, True)  # per hop; a route through a switch is one hop
    # The fraction of the datasheet bandwidth that transfers reach; messages move at bandwidth × count × efficiency.
    efficiency: Annotated[float, Field(strict=True)] = 1.0

    _check_bandwidth = field_validator("bandwidth")(_nonzero_bandwidth)
    _check_efficiency = field_validator("efficiency")(_fraction)


TOPOLOGIES = ("ring", "torus2d", "torus3d", "switch", "fully_connected", "explicit")


class SystemConfig(Strict):
    """Chips of the same kind joined by links. One chip needs nothing else."""

    chips: Count = 1
    topology: Literal[TOPOLOGIES] = "switch"
    dims: list[Count] | None = None  # torus2d / torus3d: chips along each axis, x first; product = chips
    wraparound: bool = True  # torus: the last chip of each axis links back to the first
    links: list[tuple[int, int]] | None = None  # explicit: chip pairs, each joined in both directions
    link: LinkConfig | None = None  # required when chips > 1
    # All-reduce / reduce-scatter / all-gather algorithm; auto: the fastest that applies, each tried alone.
    collectives: Literal["auto", "ring", "bidir_ring", "torus", "direct", "switch_reduce"] = "auto"

    @model_validator(mode="after")
    def _consistent(self):
        if self.chips > 1 and self.link is None:
            raise PydanticCustomError("system", "required when chips > 1 (bandwidth, latency, …)", {"field": "link"})
        if self.topology in ("torus2d", "torus3d"):
            want = 2 if self.topology == "torus2d" else 3
            if self.dims is None or len(self.dims) != want:
                raise PydanticCustomError("system", "{topology} needs a list of {want} axis sizes",
                                          {"topology": self.topology, "want": want, "field": "dims"})
            if math.prod(self.dims) != self.chips:
                raise PydanticCustomError("system", "holds {n} chips but chips = {chips}",
                                          {"n": math.prod(self.dims), "chips": self.chips, "field": "dims"})
        elif self.dims is not None:
            raise PydanticCustomError("system", "applies to torus2d and torus3d only", {"field": "dims"})
        if self.topology == "explicit":
            if not self.links:
                raise PydanticCustomError("system", "the explicit topology needs a list of [chip, chip] pairs",
                                          {"field": "links"})
            for a, b in self.links:
                if not (0 <= a < self.chips and 0 <= b < self.chips) or a == b:
                    raise PydanticCustomError("system", "[{a}, {b}] must join two different chips in 0..{last}",
                                              {"a": a, "b": b, "last": self.chips - 1, "field": "links"})
            reached, frontier = {0}, [0]
            while frontier:
                chip = frontier.pop()
                for a, b in self.links:
                    for x, y in ((a, b), (b, a)):
                        if x == chip and y not in reached:
                            reached.add(y)
                            frontier.append(y)
            if len(reached) < self.chips:
                missing = min(set(range(self.chips)) - reached)
                raise PydanticCustomError("system", "chip {missing} has no path to chip 0; every chip needs one to "
                                          "every other", {"missing": missing, "field": "links"})
        elif self.links is not None:
            raise PydanticCustomError("system", "applies to the explicit topology only", {"field": "links"})
        return self


def energy_nodes_path() -> Path:
    """The technology-node energy table, shipped with the presets (configs/energy/nodes.yaml)."""
    return preset_dir() / "energy" / "nodes.yaml"


@cache
def energy_nodes() -> dict:
    """The raw node table, read once: the node names are needed to check `energy.node` at load time, where
    the error can still name the hardware file; hardware/energy.py validates and resolves the values."""
    return read_mapping(energy_nodes_path())


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

    @field_validator("node")
    @classmethod
    def _known_node(cls, v):
        nodes = energy_nodes()
        if v not in nodes:
            raise PydanticCustomError("energy_node", "unknown technology node; the nodes in {file} are {nodes}",
                                      {"file": "configs/energy/nodes.yaml", "nodes": ", ".join(nodes)})
        return v


class ChipConfig(Strict):
    name: str
    description: str = ""
    sources: list[str] = []
    clock: Frequency
    cores: Count
    core: CoreConfig
    memory: MemoryConfig
    # Fixed time every op pays on top of its data and compute time: kernel launch, prologue and tail
    # on a GPU; dispatch and sync on a TPU.
    op_overhead: Latency = units.Latency(0, True)
    system: SystemConfig = SystemConfig()  # how many such chips, and how they are linked
    energy: EnergyConfig = EnergyConfig()  # energy per MAC, per byte moved, and static power

    @field_validator("clock")
    @classmethod
    def _nonzero_clock(cls, v):
        if v <= 0:
            raise PydanticCustomError("clock", "must be a frequency > 0 (e.g. 940 MHz, 1.05 GHz)")
        return v


assert set(DTYPES) == set(DType.__args__)
