"""How much of each shared level one core gets: an op's reserved fraction of the chip's bandwidth,
split among the op's active cores and capped by each core's DMA port. Shares are of the achievable
bandwidth (datasheet peak × efficiency), since that is what streaming kernels reach."""

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
    hbm = chip.hbm.achievable_bytes_per_cycle * fraction / active
    latency = chip.dma_latency + chip.hbm.latency * miss_fraction
    if chip.l2 is None:
        return CoreShare(min(chip.dma_bytes_per_cycle, hbm), hbm, latency)
    latency += chip.l2.latency
    l2 = chip.l2.achievable_bytes_per_cycle * fraction / active
    return CoreShare(min(chip.dma_bytes_per_cycle, l2), hbm, latency)


def bandwidth_demand(chip: Chip, cores: int) -> float:
    """Fraction of the chip's achievable memory bandwidth that `cores` cores can use at most (their DMA
    ports). One fraction is reserved of every shared level at once, so it is taken against the slowest
    level: cores whose loads miss to HBM can pull that much of it, even when it is less of the L2's."""
    slowest = min((level for level in (chip.l2, chip.hbm) if level is not None),
                  key=lambda level: level.achievable_bytes_per_cycle)
    return min(1.0, cores * chip.dma_bytes_per_cycle / slowest.achievable_bytes_per_cycle)
