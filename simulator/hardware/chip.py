"""A chip resolved into simulation units: every rate in bytes/cycle, every latency in cycles."""

from dataclasses import dataclass
from functools import cached_property

from simulator.config.schema import ChipConfig, MemoryLevelConfig
from simulator.errors import ConfigError
from simulator.hardware.energy import EnergyRates, energy_rates


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    size: int
    bytes_per_cycle: float  # datasheet peak: rooflines and MBU
    latency: int
    achievable_bytes_per_cycle: float  # peak × efficiency: what the timing model moves data at


@dataclass(frozen=True, eq=False)  # identity hash: caches key on the chip object
class Chip:
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

    @property
    def mxu(self):
        return self.config.core.mxu

    @property
    def vector(self):
        return self.config.core.vector

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
    def energy(self) -> EnergyRates:
        """Joules per MAC, vector op, byte moved per level and per link hop, and static watts."""
        return energy_rates(self.config)

    def _level(self, name: str, level: MemoryLevelConfig | None) -> MemoryLevel | None:
        if level is None:
            return None
        peak = level.bandwidth.bytes_per_cycle(self.clock_hz)
        return MemoryLevel(name, level.size, peak, level.latency.cycles(self.clock_hz), peak * level.efficiency)

    @cached_property
    def hbm(self) -> MemoryLevel:
        return self._level("hbm", self.config.memory.hbm)

    @cached_property
    def l2(self) -> MemoryLevel | None:
        return self._level("l2", self.config.memory.l2)

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

    def seconds(self, cycles: float) -> float:
        return cycles / self.clock_hz
