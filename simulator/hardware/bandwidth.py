"""How much of each shared level one core gets: an op's reserved fraction of the chip's bandwidth,
split among the op's active cores and capped by each core's DMA port. Shares are of the achievable
bandwidth (datasheet peak × efficiency), since that is what streaming kernels reach.

With the `banked` memory model an op's HBM bandwidth is also capped by memory-level parallelism: its
active cores keep at most `core.dma.outstanding` requests in flight each, and Little's law with the
cycle-level DRAM model's loaded latency (hardware/dram.py, the fast path) says what that many achieve
(docs/memory.md, "Memory-level parallelism")."""

from dataclasses import dataclass
from functools import lru_cache

from simulator.hardware.chip import Chip, stand_in
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


@dataclass(frozen=True)
class HBMTerms:
    """The HBM bandwidth (bytes/cycle, before an op's fraction is taken of it) and latency (cycles) the timing
    kernels see for one op: the level's own under `rate`, capped by memory-level parallelism under `banked`."""

    bytes_per_cycle: float
    latency: float


def core_share(chip: Chip, fraction: float, active_cores: int, miss_fraction: float = 1.0,
               hbm: HBMTerms | None = None) -> CoreShare:
    """Each of `active_cores` gets an equal part of `fraction` of every shared level (kernels.gemm.share)."""
    l2 = chip.l2
    hbm = hbm or hbm_terms(chip, fraction, active_cores)
    return CoreShare(*share(float(fraction), active_cores, float(miss_fraction), float(chip.dma_bytes_per_cycle),
                            float(chip.dma_latency), float(hbm.bytes_per_cycle), float(hbm.latency), l2 is not None,
                            float(l2.achievable_bytes_per_cycle) if l2 else 0.0, float(l2.latency) if l2 else 0.0))


def hbm_terms(chip: Chip, fraction: float, active_cores: int, nbytes: int = 0, read_fraction: float = 1.0,
              pattern: str = "stream") -> HBMTerms:
    """What an op of `nbytes` HBM traffic (`read_fraction` of it read, in DRAM `pattern`) on `active_cores`
    cores holding `fraction` of the memory sees of HBM. `rate`: the level's achievable bandwidth and latency.
    `banked`: its share is min(fraction × achievable, what its requests in flight achieve), so the bandwidth
    returned is that over `fraction`, and its latency the loaded one."""
    level = chip.hbm
    if chip.memory_model != "banked" or not nbytes:
        return HBMTerms(level.achievable_bytes_per_cycle, level.latency)
    bandwidth, latency = parallelism_limit(stand_in(chip), max(1, active_cores), int(nbytes),
                                           round(min(1.0, max(0.0, read_fraction)), 1), pattern)
    return HBMTerms(min(level.achievable_bytes_per_cycle, bandwidth / fraction), latency)


@lru_cache(maxsize=4096)
def parallelism_limit(chip: Chip, cores: int, nbytes: int, read_fraction: float, pattern: str) -> tuple[float, float]:
    """(bytes/cycle, HBM latency in cycles) of `nbytes` moved by `cores` cores that keep at most
    `core.dma.outstanding` requests in flight each, memoized per shape (read fraction on the fast path's 0.1
    grid). Every request is in flight for the configured unloaded load-to-use latency (DMA + L2 + HBM
    latency) minus the DRAM's own unloaded latency (the part outside the DRAM), plus the DRAM model's loaded
    latency at the requests that are in the DRAM. With Q requests in flight in all (at most the op's bursts)
    and c of them in the DRAM, Q = c + B(c)·fixed / burst, B(c) the model's bandwidth at concurrency c (the
    fast path): solved for c by bisection, c at most every controller queue full. Then B = B(c), and the
    latency is fixed + L(c), the model's loaded latency at c (below saturation Q·burst / B, Little's law)."""
    from simulator.hardware import dram

    system = _chip_dram(chip)
    kind, _, chunk = pattern.partition(":")  # "kv-gather:4096": the kind and its contiguous bytes per piece
    p = dram.pattern(kind, int(chunk) if chunk else None)
    burst = system.burst_bytes
    value, unit = chip.config.core.dma.outstanding
    per_core = value if unit == "requests" else value / burst
    in_flight = max(1.0, min(cores * per_core, nbytes / burst))  # bursts
    hz = chip.clock_hz
    near = chip.dma_latency + (chip.l2.latency if chip.l2 else 0)
    fixed = max(0.0, near + chip.hbm.latency - _idle_latency_s(system, p) * hz)

    def bandwidth(c: float) -> float:  # bytes per cycle
        return dram.achieved(system, p, nbytes, c, read_fraction).bandwidth / hz

    def short(c: float) -> bool:  # fewer than Q in flight when c are in the DRAM: c must grow
        return bandwidth(c) * fixed / burst + c < in_flight

    top = min(in_flight, float(dram.default_concurrency(system)))
    points = [float(q) for q in dram.concurrency_grid(system) if q < top] + [top]
    if short(top):
        c = top  # every controller queue full: the rest wait in front of them
    elif not short(points[0]):
        c = points[0]
    else:
        # Search the grid (each point's table row simulated once, the first time any shape needs it); between
        # two grid points the fast path's bandwidth is linear in the concurrency, so Q = c + B(c)·fixed/burst
        # is solved there exactly.
        i, j = 0, len(points) - 1  # short(points[i]), not short(points[j])
        while j - i > 1:
            k = (i + j) // 2
            i, j = (k, j) if short(points[k]) else (i, k)
        lo, hi = points[i], points[j]
        at_lo, at_hi = (bandwidth(x) * fixed / burst + x for x in (lo, hi))
        c = lo + (in_flight - at_lo) * (hi - lo) / (at_hi - at_lo)
    found = dram.achieved(system, p, nbytes, c, read_fraction)
    loaded = fixed + found.latency_s * hz  # cycles, issue to data, DMA and L2 included
    return found.bandwidth / hz, max(float(chip.hbm.latency), loaded - near)


@lru_cache(maxsize=64)
def _chip_dram(chip: Chip):
    from simulator.hardware import dram

    return dram.chip_dram(chip.config, chip.name)


@lru_cache(maxsize=64)
def _idle_latency_s(system, p) -> float:
    """The DRAM's own mean read latency with one request in flight: the fast path's at concurrency 1 (its
    longest sample, read from the table like every other figure, so a process with the tables on disk never
    runs the cycle model)."""
    from simulator.hardware import dram

    return dram.achieved(system, p, 1 << 16, 1).latency_s


def bandwidth_demand(chip: Chip, cores: int) -> float:
    """Fraction of the chip's achievable memory bandwidth that `cores` cores can use at most (their DMA
    ports). One fraction is reserved of every shared level at once, so it is taken against the slowest
    level: cores whose loads miss to HBM can pull that much of it, even when it is less of the L2's."""
    slowest = min((level for level in (chip.l2, chip.hbm) if level is not None),
                  key=lambda level: level.achievable_bytes_per_cycle)
    return min(1.0, cores * chip.dma_bytes_per_cycle / slowest.achievable_bytes_per_cycle)
