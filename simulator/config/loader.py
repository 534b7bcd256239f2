"""Load hardware: read YAML, resolve `preset:` chains, apply --set overrides, validate.

Two layouts are read (docs/configuration.md, "Kinds"), told apart by a top-level `chip:`:
- the System layout: the file is a System (`chip:`, `chips:`, `topology:`, `link:`; the chip's compute units
  and memory levels are lists of kinds), validated as SystemConfig;
- the chip layout, today's presets: one chip (`core.mxu`, `core.vector`, `core.sram`, `memory.l2`,
  `memory.hbm`) with an optional `system:` section. It is validated in its own shape (ChipLayout below), so
  its errors and `--set` paths stay its own, and is then turned into the same objects (chip_layout_system).
"""

import copy
from functools import cached_property
from pathlib import Path

from pydantic import field_validator, model_validator

from simulator.config import units
from simulator.config.cost import AreaConfig, CostConfig
from simulator.config.presets import preset_names, preset_path
from simulator.config.runtime import RuntimeField
from simulator.config.schema import (
    NETWORK_FIELDS,
    CacheConfig,
    ChipConfig,
    CoreConfig,
    Count,
    DMAConfig,
    DRAMConfig,
    EnergyConfig,
    Frequency,
    Latency,
    MemoryLevels,
    NetworkConfig,
    ScratchpadConfig,
    Size,
    Strict,
    SystemConfig,
    SystolicConfig,
    VectorConfig,
    check_banked,
    check_not_banked,
    positive_clock,
)
from simulator.config.validation import validate
from simulator.config.yamlio import (
    deep_merge,
    has_shared,
    parse_override,
    plain_copy,
    read_mapping,
    set_path,
    source_of,
)
from simulator.errors import ConfigError


class ChipLayoutCore(Strict):
    mxu: SystolicConfig
    vector: VectorConfig
    sram: ScratchpadConfig
    accumulators: Size = 0
    dma: DMAConfig


class ChipLayoutMemory(Strict):
    l2: CacheConfig | None = None  # optional shared on-chip level between the cores and HBM
    hbm: DRAMConfig


class ChipLayout(Strict):
    """A file in the chip layout, field for field; the fields mean what ChipConfig's and NetworkConfig's do."""

    name: str
    description: str = ""
    sources: list[str] = []
    clock: Frequency
    cores: Count
    core: ChipLayoutCore
    memory: ChipLayoutMemory
    op_overhead: Latency = units.Latency(0, True)
    runtime: RuntimeField
    system: NetworkConfig = NetworkConfig()
    energy: EnergyConfig = EnergyConfig()
    cost: CostConfig | None = None
    area: AreaConfig | None = None

    _check_clock = field_validator("clock")(positive_clock)

    @model_validator(mode="after")
    def _banked_needs_devices_and_outstanding(self):
        if self.memory.l2 is not None:
            check_not_banked(self.memory.l2, ("memory", "l2", "model"))
        check_banked(self.memory.hbm, self.core.dma, ("memory", "hbm", "model"))
        return self


def chip_layout_system(c: ChipLayout) -> SystemConfig:
    """The System a chip-layout file describes. Built from objects already validated, so nothing is checked
    twice; the chip and the System both carry the file's name, description and sources."""
    network = {field: getattr(c.system, field) for field in NETWORK_FIELDS}
    core = CoreConfig.model_construct(compute=(c.core.mxu, c.core.vector), sram=c.core.sram,
                                      accumulators=c.core.accumulators, dma=c.core.dma)
    memory = MemoryLevels.model_construct(tuple(level for level in (c.memory.l2, c.memory.hbm) if level is not None))
    # The chip's fields set are the file's (model_construct would mark every field given as set): a run reports
    # the ones left to their defaults (Chip.assumptions).
    given = c.model_fields_set & set(ChipConfig.model_fields) | {"core", "memory"}
    chip = ChipConfig.model_construct(_fields_set=given, name=c.name, description=c.description,
                                      sources=c.sources, clock=c.clock, cores=c.cores, core=core, memory=memory,
                                      op_overhead=c.op_overhead, runtime=c.runtime,
                                      system=SystemConfig.model_construct(**network), energy=c.energy, cost=c.cost,
                                      area=c.area)
    return SystemConfig.model_construct(**network, name=c.name, description=c.description, sources=c.sources,
                                        chip=chip)


SHARED_FIELDS = ("name", "description", "sources")
CHIP_LAYOUT_FIELDS = tuple(f for f in ChipLayout.model_fields if f not in SHARED_FIELDS)
SYSTEM_LAYOUT_FIELDS = tuple(f for f in SystemConfig.model_fields if f not in SHARED_FIELDS)


def resolve_hardware_path(spec: str) -> Path:
    """A file path; else a bundled preset named `spec` or, for a missing `configs/NAME.yaml`, `NAME`.

    The fallback lets the README's `configs/h100.yaml` work after a non-editable install too.
    """
    path = Path(spec)
    if path.is_file():
        return path
    in_configs = path.parent.name == "configs" and path.suffix in (".yaml", ".yml")
    found = preset_path(spec) or (preset_path(path.stem) if in_configs else None)
    if found is None:
        raise ConfigError(spec, "", spec, "no such file or preset; presets: " + ", ".join(preset_names()))
    return found


def raw_hardware(path: Path, provenance: dict, chain: tuple = ()) -> dict:
    """The merged raw mapping of a hardware file with its preset ancestry."""
    data = read_mapping(path)
    name = data.pop("preset", None)
    if name is None:
        return deep_merge({}, data, str(path), provenance)
    base_path = preset_path(str(name))
    if base_path is None:
        raise ConfigError(str(path), "preset", name, "no such preset; presets: " + ", ".join(preset_names()))
    if base_path.resolve() in chain:
        raise ConfigError(str(path), "preset", name, "presets refer to each other in a cycle")
    base = raw_hardware(base_path, provenance, chain + (Path(path).resolve(),))
    # A file over a System preset may leave `chip:` alone and give only chips, link, … (xeon_8480_ethernet_16)
    system_file = "chip" in data or ("chip" in base and any(k in SYSTEM_LAYOUT_FIELDS for k in data))
    if ("chip" in base) != system_file and set(data) - set(SHARED_FIELDS):
        layouts = ("the System layout (chip:, chips:, topology:, …)", "the chip layout (core:, memory:, system:, …)")
        theirs, ours = layouts if "chip" in base else layouts[::-1]
        raise ConfigError(str(path), "preset", name, f"is written in {theirs} and this file in {ours}; a file "
                          "extends a preset of its own layout")
    return deep_merge(base, data, str(path), provenance)


def load_system(spec: str | Path, overrides: list[str] = ()) -> SystemConfig:
    """The validated System for a file or preset name (either layout), with `--set path=value` overrides
    applied; the paths are those of the file's own layout."""
    file = HardwareFile(spec)
    return file.load(file.data, file.provenance, overrides)  # its own data: nothing to copy


def load_chip(spec: str | Path, overrides: list[str] = ()) -> ChipConfig:
    """The validated chip for a file or preset name, with `--set path=value` overrides applied: the System's
    chip under the System's name, its `system` the System's network (SystemConfig.chip_config)."""
    return load_system(spec, overrides).chip_config()


class HardwareFile:
    """A hardware file or preset, found and merged with its preset ancestry once, then loaded with any number of
    override lists: a sweep loads one base for every point. Each load is exactly load_system's (it is
    load_system), from the files as they were when this was made."""

    def __init__(self, spec: str | Path):
        self.path = resolve_hardware_path(str(spec))
        self.provenance: dict = {}  # who wrote each field
        self.data = raw_hardware(self.path, self.provenance)  # the merged raw mapping; load() changes what it gets

    @cached_property
    def _copy(self):
        """How to copy the data for a load: as deepcopy does (plain_copy is that, faster, unless an object sits
        in two places)."""
        return copy.deepcopy if has_shared(self.data) else plain_copy

    def system(self, overrides: list[str] = ()) -> SystemConfig:
        """load_system of this file with `overrides`."""
        return self.load(self._copy(self.data), dict(self.provenance), overrides)

    def chip(self, overrides: list[str] = ()) -> ChipConfig:
        """load_chip of this file with `overrides`."""
        return self.system(overrides).chip_config()

    def load(self, data: dict, provenance: dict, overrides: list[str]) -> SystemConfig:
        """Apply the overrides to `data` and `provenance` (both changed) and validate."""
        path = self.path
        system_layout = "chip" in data  # decided by the file, so an override cannot switch layouts
        for text in overrides:
            keys, value = parse_override(text)
            set_path(data, keys, value, f"--set {text}", provenance)
        _refuse_other_layout(data, system_layout, str(path), provenance)
        if not system_layout:
            return chip_layout_system(validate(ChipLayout, data, str(path), provenance))
        system = validate(SystemConfig, data, str(path), provenance)
        if system.chip is None:
            raise ConfigError(source_of(provenance, ("chip",), str(path)), "chip", None,
                              "a System needs its chip (name, clock, cores, core, memory)")
        return system


def _refuse_other_layout(data: dict, system_layout: bool, source: str, provenance: dict) -> None:
    other = CHIP_LAYOUT_FIELDS if system_layout else SYSTEM_LAYOUT_FIELDS
    key = next((k for k in data if k in other), None)
    if key is None:
        return
    if system_layout:
        allowed = ("a System file has chips, topology and link at its top level, not under system:" if key == "system"
                   else f"a chip field; in a System file (one with chip:) it is chip.{key}")
    else:
        allowed = ("a System file's field; this file is in the chip layout (core:, memory:, system:), where the "
                   "chip's fields sit at the top level" if key == "chip"
                   else f"a System file's field; in the chip layout (this file) it is system.{key}")
    raise ConfigError(source_of(provenance, (key,), source), key, data[key], allowed)
