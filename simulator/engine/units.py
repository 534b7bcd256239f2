"""The hardware units the engine runs ops on, as simpy resources: a chip's cores, its memory levels (each
through a timing model chosen by name), and its links (engine/network.py).

A unit knows nothing of workloads: it is asked for capacity by a step of the Program and gives it back
when the step ends. Each unit's work is recorded as spans (unit, op, start, end, bytes), which results
and the trace read as they are.
"""

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from simulator.hardware.bandwidth import bandwidth_demand
from simulator.hardware.chip import Chip

if TYPE_CHECKING:
    import simpy


@dataclass(slots=True)  # read-only by convention; cheap to build, several per op per pass
class UnitSpan:
    unit: str  # cores | hbm | link <index>
    op: int  # the op's index in its block
    start: int
    end: int
    bytes: float = 0.0


class CorePool:
    """The chip's cores: a step holds as many as it has tiles (at most all) for its whole duration."""

    name = "cores"

    def __init__(self, env: "simpy.Environment", chip: Chip):
        import simpy  # here, not at import: a run that needs no events never loads it

        self._pool = simpy.Container(env, capacity=chip.cores, init=chip.cores)

    def acquire(self, cores: int):
        yield self._pool.get(cores)

    def release(self, cores: int):
        yield self._pool.put(cores)


class RateMemory:
    """Timing model `rate`: the level's achievable bandwidth, shared in units of 1/cores of it.

    A step holds at least its cores' fair share and takes more while it is free, never more than its
    cores' DMA ports can pull (hardware/bandwidth.py). Holding a share for the step's whole duration
    keeps bandwidth conserved when independent steps overlap; the step's time is computed by the
    hardware timing functions from the share it got."""

    name = "hbm"

    def __init__(self, env: "simpy.Environment", chip: Chip):
        self.chip = chip
        import simpy  # here, not at import: a run that needs no events never loads it

        self._share = simpy.Container(env, capacity=chip.cores, init=chip.cores)

    def acquire(self, cores: int):
        """Yields until the share is held; the generator's value is the units held (of chip.cores)."""
        yield self._share.get(cores)
        extra = min(_demand(self.chip, cores) - cores, int(self._share.level))
        if extra > 0:
            yield self._share.get(extra)
        return cores + max(extra, 0)

    @staticmethod
    @lru_cache(maxsize=4096)
    def share_when_idle(chip: Chip, cores: int) -> int:
        """The units `acquire` gives `cores` cores when nothing else holds any."""
        return cores + max(min(_demand(chip, cores) - cores, chip.cores - cores), 0)

    def release(self, units: int):
        yield self._share.put(units)


def _demand(chip: Chip, cores: int) -> int:
    """Units of bandwidth `cores` cores' DMA ports can use, at least their own."""
    return max(cores, math.ceil(bandwidth_demand(chip, cores) * chip.cores - 1e-9))


class BankedMemory(RateMemory):
    """Timing model `banked`: shares are reserved as under `rate`; what a step moves in its share is also
    capped by the requests its cores keep in flight and the cycle-level DRAM model's loaded latency, which
    the hardware timing functions apply (hardware/bandwidth.py hbm_terms, docs/memory.md)."""


MEMORY_MODELS = {"rate": RateMemory, "banked": BankedMemory}  # timing models of a shared memory level, by name
