"""How much of each shared level one core gets: an op's reserved fraction of the chip's bandwidth,
split among the op's active cores and capped by each core's DMA port. Shares are of the achievable
bandwidth (datasheet peak × efficiency), since that is what streaming kernels reach."""

from dataclasses import dataclass

from simulator.hardware.chip import Chip
from simulator.kernels.gemm import effective, share


@dataclass(frozen=True)
class CoreShare:
    """Per-core bytes/cycle from the first shared level, and from HBM behind it."""

    nearest: float
    hbm: float
    latency: float  # mean cycles from issuing a request to its data landing in SRAM

    def effective(self, miss_fraction: float) -> float:
        """Bytes/cycle of tile loads when `miss_fraction` of them must also come through HBM."""
        return effective(self.nearest, self.hbm, miss_fraction)


def core_share(chip: Chip, fraction: float, active_cores: int, miss_fraction: float = 1.0) -> CoreShare:
    """Each of `active_cores` gets an equal part of `fraction` of every shared level (kernels.gemm.share)."""
    l2 = chip.l2
    return CoreShare(*share(float(fraction), active_cores, float(miss_fraction), float(chip.dma_bytes_per_cycle),
                            float(chip.dma_latency), float(chip.hbm.achievable_bytes_per_cycle),
                            float(chip.hbm.latency), l2 is not None,
                            float(l2.achievable_bytes_per_cycle) if l2 else 0.0, float(l2.latency) if l2 else 0.0))


def bandwidth_demand(chip: Chip, cores: int) -> float:
    """Fraction of the chip's achievable memory bandwidth that `cores` cores can use at most (their DMA
    ports). One fraction is reserved of every shared level at once, so it is taken against the slowest
    level: cores whose loads miss to HBM can pull that much of it, even when it is less of the L2's."""
    slowest = min((level for level in (chip.l2, chip.hbm) if level is not None),
                  key=lambda level: level.achievable_bytes_per_cycle)
    return min(1.0, cores * chip.dma_bytes_per_cycle / slowest.achievable_bytes_per_cycle)
