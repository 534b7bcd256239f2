"""How much of each shared level one core gets: an op's reserved fraction of the chip's bandwidth,
split among the op's active cores and capped by each core's DMA port."""

from dataclasses import dataclass

from simulator.hardware.chip import Chip


@dataclass(frozen=True)
class CoreShare:
    """Per-core bytes/cycle from the first shared level, and from HBM behind it."""

    nearest: float
    hbm: float
    latency: float  # mean cycles from issuing a request to its data landing in SRAM

    def effective(self, miss_fraction: float) -> float:
        """Bytes/cycle of tile loads when `miss_fraction` of them must also come through HBM."""
        if miss_fraction <= 0:
            return self.nearest
        return 1.0 / max(1.0 / self.nearest, miss_fraction / self.hbm)


def core_share(chip: Chip, fraction: float, active_cores: int, miss_fraction: float = 1.0) -> CoreShare:
    """Each of `active_cores` gets an equal part of `fraction` of every shared level."""
    active = max(1, active_cores)
    hbm = chip.hbm.bytes_per_cycle * fraction / active
    latency = chip.dma_latency + chip.hbm.latency * miss_fraction
    if chip.l2 is None:
        return CoreShare(min(chip.dma_bytes_per_cycle, hbm), hbm, latency)
    latency += chip.l2.latency
    return CoreShare(min(chip.dma_bytes_per_cycle, chip.l2.bytes_per_cycle * fraction / active), hbm, latency)


def bandwidth_demand(chip: Chip, cores: int) -> float:
    """Fraction of the chip's memory bandwidth that `cores` cores can use at most (their DMA ports)."""
    nearest = chip.l2 or chip.hbm
    return min(1.0, cores * chip.dma_bytes_per_cycle / nearest.bytes_per_cycle)
