"""A chip resolved into simulation units: every rate in bytes/cycle, every latency in cycles."""

import weakref
from dataclasses import dataclass
from functools import cached_property

from simulator.config.schema import ChipConfig
from simulator.errors import ConfigError
from simulator.hardware.energy import EnergyRates, energy_assumptions, energy_rates
from simulator.hardware.runtime import Runtime


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    size: int  # a scratchpad's per core, a shared level's per chip
    bytes_per_cycle: float | None  # datasheet peak: rooflines and MBU (None: not modelled, a core's scratchpad)
    latency: int
    achievable_bytes_per_cycle: float | None  # peak × efficiency: what the timing model moves data at
    kind: str = "dram"  # scratchpad | cache | dram
    model: str = "rate"  # the timing model (engine/units.py MEMORY_MODELS)


@dataclass(frozen=True, eq=False)  # identity hash: caches key on the chip object
class Chip:
    """Reads its config's kinds: `mxu` is the core's systolic unit, `vector` its vector unit, `sram` its
    scratchpad; `l2` and `hbm` are the cache and DRAM of `memory_levels`."""

    config: ChipConfig

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def clock_hz(self) -> float:
        return self.config.clock

    @property
    def cores(self) -> int:
        return self.config.cores

    @cached_property
    def mxu(self):
        return self.config.core.mxu

    @cached_property
    def vector(self):
        return self.config.core.vector

    @cached_property
    def simd(self) -> tuple:
        """The core's simd units (peak rates only: no op is timed on them yet)."""
        return self.config.core.simd

    @property
    def sram(self):
        return self.config.core.sram

    @property
    def accumulators(self) -> int:
        return self.config.core.accumulators

    @cached_property
    def dma_bytes_per_cycle(self) -> float:
        return self.config.core.dma.bandwidth.bytes_per_cycle(self.clock_hz)

    @cached_property
    def dma_latency(self) -> int:
        return self.config.core.dma.latency.cycles(self.clock_hz)

    @cached_property
    def op_overhead_cycles(self) -> int:
        """Fixed cycles every op pays on top of its data and compute time (launch, prologue, tail)."""
        return self.config.op_overhead.cycles(self.clock_hz)

    @cached_property
    def runtime(self) -> Runtime:
        """The software runtime's fixed cost per op (hardware/runtime.py), at this chip's clock."""
        return Runtime.at(self.config.runtime, self.op_overhead_cycles, self.clock_hz)

    @cached_property
    def energy(self) -> EnergyRates:
        """Joules per MAC, vector op, byte moved per level and per link hop, and static watts."""
        return energy_rates(self.config)

    @cached_property
    def assumptions(self) -> tuple[str, ...]:
        """The fields the hardware file left to a default that moves time or energy, one `field = value` line
        each, named as in the chip layout; a run's summary lists them under `assumptions`
        (docs/configuration.md, "What a run says it assumed")."""
        return (*defaulted_fields(self.config), *energy_assumptions(self.config))

    def _level(self, name: str, level) -> MemoryLevel | None:
        if level is None:
            return None
        peak = None if level.bandwidth is None else level.bandwidth.bytes_per_cycle(self.clock_hz)
        return MemoryLevel(name, level.size, peak, level.latency.cycles(self.clock_hz),
                           None if peak is None else peak * level.efficiency, level.kind, level.model)

    @cached_property
    def memory_levels(self) -> tuple[MemoryLevel, ...]:
        """Every memory level, nearest first: the core's scratchpad, then the chip's levels (named as in the file)."""
        return tuple(self._level(level.name, level) for level in (self.sram, *self.config.memory))

    @cached_property
    def memory_model(self) -> str:
        """The timing model of the farthest level, by its engine/units.py MEMORY_MODELS name."""
        return self.config.memory.farthest.model

    @cached_property
    def hbm(self) -> MemoryLevel:
        """The farthest level, which the timing streams operands from: the DRAM, or an SRAM-only chip's SRAM
        (`kind` says which). The timing code's name, whatever the file calls it."""
        return self._level("hbm", self.config.memory.farthest)

    @property
    def sram_only(self) -> bool:
        """No DRAM: the farthest level is on-chip SRAM (a shared scratchpad), so the bytes the timing moves
        on it are recorded, and charged energy, as SRAM bytes (OpRecord.chip_sram_read / _write)."""
        return self.hbm.kind != "dram"

    @cached_property
    def l2(self) -> MemoryLevel | None:
        return self._level("l2", self.config.memory.cache)

    @cached_property
    def gpu_gemm(self):
        """The MXU's GPU GEMM execution (`core.mxu.gemm`: library tiles, shared-memory bandwidth, sustained
        tensor clock), or None on chips without it."""
        return self.mxu.gemm

    @cached_property
    def tensor_clock_scale(self) -> float:
        """Sustained tensor-core clock under GEMM load ÷ the chip's clock: the share of the peak MAC rate
        (in cycles of the chip's clock) a GEMM gets; 1 without `core.mxu.gemm.tensor_clock`, and at most 1 (a
        chip clocked below it, as a sweep may set, runs its tensor cores at its own clock)."""
        gemm = self.mxu.gemm
        if gemm is None or gemm.tensor_clock is None:
            return 1.0
        return min(1.0, gemm.tensor_clock / self.clock_hz)

    def mxu_rate(self, dtype: str) -> float:
        """MACs per PE per cycle for `dtype`, or a one-line error if the MXU cannot run it."""
        rate = self.mxu.macs_per_pe.get(dtype)
        if rate is None:
            raise ConfigError(self.name, "core.mxu.macs_per_pe", dtype,
                              "this MXU has no rate for that dtype; it supports " + ", ".join(self.mxu.macs_per_pe))
        return rate

    def vector_rate(self, dtype: str) -> float:
        rate = self.vector.ops_per_lane.get(dtype)
        if rate is None:
            raise ConfigError(self.name, "core.vector.ops_per_lane", dtype,
                              "this vector unit has no rate for that dtype; it supports "
                              + ", ".join(self.vector.ops_per_lane))
        return rate

    def peak_macs_per_cycle(self, dtype: str) -> float:
        m = self.mxu
        return self.cores * m.count * m.rows * m.cols * self.mxu_rate(dtype)

    def peak_flops_per_s(self, dtype: str) -> float:
        return 2 * self.peak_macs_per_cycle(dtype) * self.clock_hz

    def peak_vector_ops_per_cycle(self, dtype: str) -> float:
        return self.cores * self.vector.lanes * self.vector_rate(dtype)

    def peak_simd_ops_per_cycle(self, dtype: str) -> float:
        """Ops per cycle of every simd unit of every core for `dtype` (lanes = width / dtype bits)."""
        units = [u for u in self.simd if dtype in u.ops_per_lane]
        if not units:
            have = sorted({d for u in self.simd for d in u.ops_per_lane})
            raise ConfigError(self.name, "core.compute", dtype, "no simd unit has a rate for that dtype"
                              + ("; they support " + ", ".join(have) if have else "; this core has no simd unit"))
        return self.cores * sum(u.count * u.lanes(dtype) * u.ops_per_lane[dtype] for u in units)

    def seconds(self, cycles: float) -> float:
        return cycles / self.clock_hz


def _rates(table: dict) -> str:
    return "{" + ", ".join(f"{dtype}: {rate:g}" for dtype, rate in table.items()) + "}"


def defaulted_fields(c: ChipConfig) -> list[str]:
    """`field = value (what it means)` for each timing field of the chip that the file did not give and whose
    default changes results: the per-op overhead, the MXU's rates, dataflow and fold pipelining, the vector
    unit's rates, the DMA and DRAM latencies, the DRAM efficiency, and on a system its links' efficiency and
    latency. Which fields were given is pydantic's `model_fields_set` of each part of the config."""

    def unset(part, field: str) -> bool:
        return field not in part.model_fields_set

    out = []
    if unset(c, "op_overhead"):
        out.append("op_overhead = 0 (no fixed launch or dispatch time per op)")
    mxu, vector, dram = c.core.mxu, c.core.vector, c.memory.farthest
    if unset(mxu, "macs_per_pe"):
        out.append(f"core.mxu.macs_per_pe = {_rates(mxu.macs_per_pe)}")
    if unset(mxu, "dataflow"):
        out.append(f"core.mxu.dataflow = {mxu.dataflow}")
    if unset(mxu, "pipelined"):
        out.append(f"core.mxu.pipelined = {str(mxu.pipelined).lower()} (every fold pays its fill and drain)")
    if unset(vector, "ops_per_lane"):
        out.append(f"core.vector.ops_per_lane = {_rates(vector.ops_per_lane)}")
    if unset(c.core.dma, "latency"):
        out.append("core.dma.latency = 0")
    if unset(dram, "efficiency"):
        reach = ("no cap on the DRAM model's bandwidth" if dram.model == "banked"
                 else "transfers reach the datasheet bandwidth")
        out.append(f"memory.{dram.name}.efficiency = {dram.efficiency:g} ({reach})")
    if unset(dram, "latency"):
        out.append(f"memory.{dram.name}.latency = 0")
    system = c.system
    links = [("system.link", system.link)] if system.chips > 1 and system.link is not None else []
    if system.scale_out is not None:
        links.append(("system.scale_out.nic", system.scale_out.nic))
    for path, link in links:
        if unset(link, "efficiency"):
            out.append(f"{path}.efficiency = {link.efficiency:g}")
        if unset(link, "latency"):
            out.append(f"{path}.latency = 0")
    return out


_STAND_INS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # chip → the chip standing for its config
_BY_CONFIG: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # repr(config) → that chip


def stand_in(chip: Chip) -> Chip:
    """The first live chip loaded with an equal config: caches of timing and mapping key on it, so a freshly
    loaded chip (each CLI call, each sweep point) reuses what an equal one already computed."""
    if chip not in _STAND_INS:
        _STAND_INS[chip] = _BY_CONFIG.setdefault(repr(chip.config), chip)
    return _STAND_INS[chip]
