"""A chip's DRAM as the cycle-level model sees it, the request streams of the access patterns, and the two
fidelities: `simulate` (every command timed, kernels/dram.py) and `achieved` (the same model's figures,
computed once per memory and pattern on a grid of concurrencies and read fractions, kept on disk, and
interpolated). docs/memory.md describes both and how far apart they are."""

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from simulator.config.memory import FIELDS, MemorySpec, at_rate, load_memory
from simulator.errors import ConfigError
from simulator.kernels import dram as k

CHANNEL_HASH_SEED = 7  # any nonzero seed: which channel a piece lands on is scrambled by the bits above it
REFRESH_CODES = {"none": k.REFRESH_NONE, "all_bank": k.REFRESH_ALL_BANK, "per_bank": k.REFRESH_PER_BANK}


@dataclass(frozen=True)
class DRAMSystem:
    """`devices` devices of `spec` running at `rate` MT/s per pin, with controller choices that may differ from
    the preset's (tests and sweeps change them)."""

    spec: MemorySpec
    devices: int
    rate: float  # MT/s per pin
    refresh: str
    row_policy: str
    read_queue: int
    write_queue: int
    starvation_cap: int
    channel_hash: bool
    timing: dict = field(hash=False, compare=False)  # CK at `rate`
    clock_hz: float = 0.0

    @property
    def units(self) -> int:
        """Independent channels the controller schedules: devices × channels × pseudo-channels."""
        return self.devices * self.spec.channels * self.spec.pseudo_channels

    @property
    def banks(self) -> int:
        return self.spec.bank_groups * self.spec.banks

    @property
    def burst_bytes(self) -> int:
        return self.spec.burst_bytes

    @property
    def peak_bytes_per_s(self) -> float:
        """channels × bus width × data rate (dram.md §1)."""
        return self.units * self.spec.bus_width * self.rate * 1e6 / 8

    @property
    def capacity_bursts(self) -> int:
        """Bursts the address mapping spans: every channel, bank, row and column."""
        return self.units * self.banks * self.spec.rows * (self.spec.columns // self.spec.burst_length)

    def cycles_to_s(self, cycles: float) -> float:
        return cycles / self.clock_hz

    def key(self) -> str:
        """Names everything the model's results depend on (the fast path's cache key)."""
        fields = (self.spec.name, self.spec.source, sorted(self.timing.items()), self.devices, self.rate,
                  self.refresh, self.row_policy, self.read_queue, self.write_queue, self.starvation_cap,
                  self.spec.mapping, self.channel_hash, self.spec.write_high, self.spec.write_low,
                  self.spec.dual_command_bus)
        return repr(fields)


CONTROLLER_CHOICES = ("refresh", "row_policy", "read_queue", "write_queue", "starvation_cap", "channel_hash")


def dram_system(memory: str | MemorySpec, devices: int = 1, rate: float | None = None, **controller) -> DRAMSystem:
    """`devices` devices of a memory preset (name or spec) at `rate` MT/s (default: the preset's speed);
    `controller` overrides any of CONTROLLER_CHOICES."""
    spec = load_memory(memory) if isinstance(memory, str) else memory
    rate = float(rate or spec.speed)
    timing, clock = at_rate(spec, rate)
    unknown = set(controller) - set(CONTROLLER_CHOICES)
    if unknown:
        raise ValueError(f"unknown controller settings {sorted(unknown)}")
    chosen = {name: controller.get(name, getattr(spec, name)) for name in CONTROLLER_CHOICES}
    return DRAMSystem(spec, devices, rate, timing=timing, clock_hz=clock, **chosen)


def chip_dram(chip_config, source: str = "hardware") -> DRAMSystem:
    """The DRAM behind a chip's dram level (its `dram:` field): the devices it names, at the per-pin rate that
    gives the level's datasheet bandwidth. A ConfigError if the level names none."""
    level = chip_config.memory.dram
    device = level.dram
    if device is None:
        raise ConfigError(source, f"memory.{level.name}.dram", None, "names no DRAM devices; set e.g. "
                          f"memory.{level.name}.dram=hbm3 (presets in configs/memory/)")
    spec = load_memory(device.type)
    bandwidth = level.bandwidth.value if not level.bandwidth.per_cycle else level.bandwidth.value * chip_config.clock
    count = device.devices or max(1, round(bandwidth / spec.peak_bytes_per_s()))
    rate = bandwidth * 8 / (count * spec.device_bits) / 1e6
    return dram_system(spec, count, rate)


def parameters(system: DRAMSystem, concurrency: int, log: int = 0) -> np.ndarray:
    """The kernel's parameter array."""
    t, spec = system.timing, system.spec
    p = np.zeros(k.N_PARAMS, np.int64)
    values = {
        k.P_UNITS: system.units, k.P_GROUPS: spec.bank_groups, k.P_BANKS: spec.banks, k.P_BL: t["nBL"],
        k.P_CL: t["nCL"], k.P_CWL: t["nCWL"], k.P_RCD: t["nRCD"], k.P_RCDWR: t["nRCDWR"], k.P_RP: t["nRP"],
        k.P_RAS: t["nRAS"], k.P_RC: t["nRC"], k.P_RTP: t["nRTP"], k.P_WR: t["nWR"], k.P_RRD_S: t["nRRD_S"],
        k.P_RRD_L: t["nRRD_L"], k.P_FAW: t["nFAW"], k.P_CCD_S: t["nCCD_S"], k.P_CCD_L: t["nCCD_L"],
        k.P_CCD_S_WR: t["nCCD_S_WR"], k.P_CCD_L_WR: t["nCCD_L_WR"], k.P_WTR_S: t["nWTR_S"], k.P_WTR_L: t["nWTR_L"],
        k.P_RTW: t["nRTW"], k.P_RFC: t["nRFC"], k.P_REFI: t["nREFI"], k.P_RFCPB: t["nRFCpb"], k.P_RREFD: t["nRREFD"],
        k.P_REFRESH: REFRESH_CODES[system.refresh], k.P_CLOSED: int(system.row_policy == "closed"),
        k.P_READ_Q: system.read_queue, k.P_WRITE_Q: system.write_queue,
        k.P_WRITE_HIGH: min(spec.write_high, system.write_queue), k.P_WRITE_LOW: min(spec.write_low,
                                                                                     system.write_queue - 1),
        k.P_CAP: system.starvation_cap, k.P_DUAL_BUS: int(spec.dual_command_bus), k.P_CONCURRENCY: concurrency,
        k.P_BURST_BYTES: spec.burst_bytes, k.P_LOG: log,
    }
    for index, value in values.items():
        p[index] = value
    return p


def mapping_table(system: DRAMSystem) -> np.ndarray:
    """Rows (field, size, multiplier) of the address mapping, least significant first, over the whole memory
    (the channel field spans every device's channels)."""
    spec = system.spec
    rows, multiplier = [], dict.fromkeys(FIELDS, 1)
    for name, size, whole in spec.mapping:
        hashed = 0
        if name == "channel" and whole:
            size *= system.devices  # the channel field's whole entry spans every device
            hashed = CHANNEL_HASH_SEED if system.channel_hash else 0
        shift = size.bit_length() - 1 if size & (size - 1) == 0 else -1  # powers of two decode by shifts
        rows.append((FIELDS.index(name), size, multiplier[name], hashed, shift))
        multiplier[name] *= size
    return np.array(rows, np.int64)


def address_of(system: DRAMSystem, channel: int = 0, bank_group: int = 0, bank: int = 0, row: int = 0,
               column: int = 0) -> int:
    """The burst address that the mapping sends to these coordinates (`column` in bursts); the inverse of the
    kernel's decoding, for a mapping without a channel hash."""
    if system.channel_hash:
        raise ValueError("address_of needs a mapping without channel_hash")
    want = dict(zip(FIELDS, (channel, bank_group, bank, column, row), strict=True))
    address, weight = 0, 1
    for field_code, size, multiplier, _, _ in mapping_table(system):
        digit = want[FIELDS[field_code]] // multiplier % size
        address += digit * weight
        weight *= size
    return int(address)


# ---- access patterns ------------------------------------------------------------------------------------

PATTERNS = ("stream", "strided", "random", "kv-gather", "rows")
DEFAULTS = {  # bytes; docs/memory.md, "Access patterns"
    "strided": {"chunk": 256, "stride": 8192},  # 256-B pieces of 8-KiB rows: a column block of a row-major matrix
    "random": {"chunk": 64},  # 64-B accesses anywhere (a GPU's two 32-B sectors)
    "kv-gather": {"chunk": 32768},  # a paged-KV block: 16 tokens × 8 KV heads × 128 × 2 B (Llama-3-8B keys)
    "rows": {"chunk": 8192},  # embedding rows of 4096 bf16 values
}


@dataclass(frozen=True)
class Pattern:
    """An access pattern: `kind` of PATTERNS; `chunk` contiguous bytes per piece (random, kv-gather and rows
    scatter pieces over the whole memory, strided places one every `stride` bytes); `seed` for the scatter."""

    kind: str = "stream"
    chunk: int = 0
    stride: int = 0
    seed: int = 1

    def describe(self) -> str:
        if self.kind == "stream":
            return "stream (sequential)"
        if self.kind == "strided":
            return f"strided ({self.chunk} B every {self.stride} B)"
        return f"{self.kind} ({self.chunk} B pieces at random places)"


def pattern(kind: str, chunk: int | None = None, stride: int | None = None, seed: int = 1) -> Pattern:
    """A Pattern with the kind's defaults for what is not given; a ConfigError for a bad kind or size."""
    if kind not in PATTERNS:
        raise ConfigError("--pattern", "", kind, f"must be one of {', '.join(PATTERNS)}")
    defaults = DEFAULTS.get(kind, {})
    chunk = chunk or defaults.get("chunk", 0)
    stride = stride or defaults.get("stride", 0)
    if kind == "strided" and stride < chunk:
        raise ConfigError("--stride", "", stride, f"must be at least the chunk ({chunk} B)")
    return Pattern(kind, chunk, stride, seed)


def stream_array(system: DRAMSystem, p: Pattern, requests: int, read_fraction: float) -> np.ndarray:
    """The kernel's stream description of `requests` bursts of pattern `p`."""
    burst = system.burst_bytes
    chunk = max(1, math.ceil(p.chunk / burst)) if p.kind != "stream" else 1
    g = np.zeros(k.N_STREAM, np.int64)
    g[k.G_COUNT] = requests
    g[k.G_SPACE] = system.capacity_bursts
    g[k.G_SEED] = p.seed
    g[k.G_WRITE_DEN] = 1_000_000
    g[k.G_WRITE_NUM] = round((1 - read_fraction) * 1_000_000)
    if p.kind in ("stream", "strided"):
        g[k.G_KIND] = k.KIND_STRIDED
        g[k.G_CHUNK] = chunk
        g[k.G_STRIDE] = chunk if p.kind == "stream" else max(chunk, p.stride // burst)
    else:
        g[k.G_KIND] = k.KIND_GATHER
        g[k.G_CHUNK] = chunk
    return g


# ---- the full simulation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryResult:
    """What a request stream achieved on a memory."""

    bytes: int
    cycles: int  # from the first issue to the last data
    seconds: float
    bandwidth: float  # B/s
    peak: float  # B/s, channels × bus width × data rate
    read_latency_cycles: float  # mean, from issue to data back
    read_latency_p99_cycles: int
    write_latency_cycles: float
    row_hit_rate: float  # column commands that found their row open
    refresh_share: float  # fraction of bank time spent refreshing
    reads: int
    writes: int
    acts: int
    refreshes: int
    visits: int  # channel visits the simulation made
    clock_hz: float
    log: np.ndarray = field(repr=False, compare=False, default=None)

    @property
    def efficiency(self) -> float:
        return self.bandwidth / self.peak

    def ns(self, cycles: float) -> float:
        return cycles / self.clock_hz * 1e9


def requests_for(system: DRAMSystem, nbytes: int) -> int:
    return max(1, math.ceil(nbytes / system.burst_bytes))


def simulate(system: DRAMSystem, p: Pattern | None = None, nbytes: int = 1 << 20, concurrency: int | None = None,
             read_fraction: float = 1.0, *, addresses=None, writes=None, arrivals=None, log: int = 0) -> MemoryResult:
    """Run the cycle-level model: `nbytes` of pattern `p` (or the explicit burst `addresses`, with `writes`
    flags), at most `concurrency` bursts outstanding (default: every queue full), issued no earlier than
    `arrivals` (cycles) when given. `log` keeps that many commands."""
    empty = np.zeros(0, np.int64)
    if addresses is not None:
        addresses = np.ascontiguousarray(addresses, np.int64)
        n = addresses.shape[0]
        g = np.zeros(k.N_STREAM, np.int64)
        g[k.G_KIND], g[k.G_COUNT], g[k.G_CHUNK], g[k.G_SPACE] = k.KIND_EXPLICIT, n, 1, system.capacity_bursts
        writes = np.zeros(n, np.int64) if writes is None else np.ascontiguousarray(writes, np.int64)
    else:
        n = requests_for(system, nbytes)
        g = stream_array(system, p or Pattern(), n, read_fraction)
        addresses, writes = empty, empty
    arrivals = empty if arrivals is None else np.ascontiguousarray(arrivals, np.int64)
    q = concurrency or default_concurrency(system)
    _within_kernel_limits(system, n, q)
    stats, hist, commands = k.simulate.compiled(parameters(system, q, log), g, mapping_table(system), addresses,
                                                writes, arrivals)
    return _result(system, stats, hist, commands)


KERNEL_LIMIT = 1 << 31  # kernels/dram.py numbers queue slots, rows and waiting requests in 32 bits


def _within_kernel_limits(system: DRAMSystem, n: int, q: int) -> None:
    """Refuse, in one line, what the kernel's 32-bit numbering cannot hold (its own guards would raise a bare
    ValueError from inside numba)."""
    slots = default_concurrency(system)
    if slots >= KERNEL_LIMIT:
        raise ConfigError(system.spec.source, "controller.read_queue + write_queue", slots,
                          f"devices × channels × pseudo-channels × queue entries must stay below {KERNEL_LIMIT:,}")
    if min(q, n) >= KERNEL_LIMIT:
        raise ConfigError(system.spec.source, "concurrency", q, f"at most {KERNEL_LIMIT - 1:,} requests outstanding")


def default_concurrency(system: DRAMSystem) -> int:
    """Enough bursts outstanding to fill every channel's read and write queues."""
    return system.units * (system.read_queue + system.write_queue)


def _result(system: DRAMSystem, stats, hist, commands) -> MemoryResult:
    cycles = int(stats[k.S_ELAPSED] - max(stats[k.S_FIRST_ISSUE], 0))
    reads, writes = int(stats[k.S_READS]), int(stats[k.S_WRITES])
    columns = reads + writes
    seconds = system.cycles_to_s(cycles)
    nbytes = int(stats[k.S_BYTES])
    refresh_share = stats[k.S_REFRESH_BANK_CYCLES] / max(1, stats[k.S_ELAPSED] * system.units * system.banks)
    return MemoryResult(
        bytes=nbytes, cycles=cycles, seconds=seconds, bandwidth=nbytes / seconds if seconds else 0.0,
        peak=system.peak_bytes_per_s, read_latency_cycles=stats[k.S_LATENCY_SUM] / reads if reads else 0.0,
        read_latency_p99_cycles=_percentile(hist[0], 0.99), write_latency_cycles=(
            stats[k.S_WRITE_LATENCY_SUM] / writes if writes else 0.0),
        row_hit_rate=1 - stats[k.S_ACTS] / columns if columns else 0.0, refresh_share=float(min(1.0, refresh_share)),
        reads=reads, writes=writes, acts=int(stats[k.S_ACTS]), refreshes=int(stats[k.S_REFS]),
        visits=int(stats[k.S_UNIT_VISITS]), clock_hz=system.clock_hz, log=commands)


def _percentile(hist: np.ndarray, q: float) -> int:
    total = int(hist.sum())
    if not total:
        return 0
    return int(np.searchsorted(np.cumsum(hist), math.ceil(q * total)))


# ---- the fast path --------------------------------------------------------------------------------------

READ_FRACTIONS = tuple(i / 10 for i in range(11))  # a query computes only the two rows around its fraction


LONGEST = 1 << 16  # bursts the longest sample has at least: its slope is the steady rate of longer transfers


def sample_sizes(system: DRAMSystem, q: int) -> tuple[int, ...]:
    """Bursts simulated at grid concurrency q: q (all in flight), then doubling up to 16 times every queue full
    (long enough to drain the write queues several times; the doublings follow a stream's rows and banks
    filling, which is not linear in its length). Their cost is about twice the largest."""
    top = max(16 * max(q, default_concurrency(system)), LONGEST)
    sizes = [q]
    while sizes[-1] * 2 < top:
        sizes.append(sizes[-1] * 2)
    return (*sizes, top)


@dataclass(frozen=True)
class Achieved:
    """The fast path's answer for one transfer."""

    seconds: float
    bandwidth: float  # B/s
    latency_s: float  # mean read latency under this load


def concurrency_grid(system: DRAMSystem) -> tuple[int, ...]:
    """Outstanding bursts the table is computed at: from 1 to every queue full, √2 apart."""
    top = default_concurrency(system)
    grid, x = [], 1.0
    while round(x) < top:
        if not grid or round(x) > grid[-1]:
            grid.append(round(x))
        x *= math.sqrt(2)
    return (*grid, top)


def achieved(system: DRAMSystem, p: Pattern, nbytes: int, concurrency: int | None = None,
             read_fraction: float = 1.0) -> Achieved:
    """Time, bandwidth and loaded latency of `nbytes` of pattern `p` from the memoized table of this memory
    (the whole of it: how a pattern spreads over channels depends on their number). Per grid concurrency the
    table holds the model's time for sample_sizes bursts; a transfer's time at a grid point is piecewise linear
    in its bursts through them (one no larger than the concurrency is all in flight: the time of that many
    bursts at that concurrency); between grid points the bandwidth is interpolated linearly in concurrency and
    read fraction, and so is the latency."""
    grid = concurrency_grid(system)
    n = max(1, math.ceil(nbytes / system.burst_bytes))
    q = min(max(concurrency or default_concurrency(system), 1), grid[-1])
    j = min(len(READ_FRACTIONS) - 2, sum(f <= read_fraction for f in READ_FRACTIONS[1:-1]))
    wf = (read_fraction - READ_FRACTIONS[j]) / (READ_FRACTIONS[j + 1] - READ_FRACTIONS[j])
    bandwidth = latency = 0.0
    for jj, weight in ((j, 1 - wf), (j + 1, wf)):
        if weight:
            b, lat = _at(table(system, p, READ_FRACTIONS[jj]), grid, min(q, n), n, system.burst_bytes)
            bandwidth += weight * b
            latency += weight * lat
    seconds = n * system.burst_bytes / bandwidth
    return Achieved(seconds, nbytes / seconds, latency)


def _at(rows: "Table", grid: tuple, q: float, n: int, burst: int) -> tuple[float, float]:
    """(bandwidth, latency) of n bursts at concurrency q ≤ n from one read fraction's table."""
    i = max(0, min(len(grid) - 2, int(np.searchsorted(grid, q, side="right")) - 1))
    w = (q - grid[i]) / (grid[i + 1] - grid[i])
    bandwidth = latency = 0.0
    for ii, weight in ((i, 1 - w), (i + 1, w)):
        if weight:
            seconds = _time(rows, grid, ii, n)
            bandwidth += weight * n * burst / seconds
            latency += weight * rows[ii][2]
    return bandwidth, latency


def _time(rows: "Table", grid: tuple, i: int, n: int) -> float:
    """Seconds for n bursts at grid concurrency i: piecewise linear through the sampled sizes, extrapolated by
    the last slope; fewer bursts than the concurrency are all in flight, timed as that many at that
    concurrency."""
    q = grid[i]
    if n <= q:
        k = max(0, min(len(grid) - 2, int(np.searchsorted(grid, n, side="right")) - 1))
        w = (n - grid[k]) / (grid[k + 1] - grid[k])
        return (1 - w) * rows[k][1][0] * n / grid[k] + w * rows[k + 1][1][0] * n / grid[k + 1]
    sizes, seconds, _ = rows[i]
    for a in range(len(sizes) - 1):
        if n <= sizes[a + 1] or a == len(sizes) - 2:
            slope = (seconds[a + 1] - seconds[a]) / (sizes[a + 1] - sizes[a])
            return seconds[a] + (n - sizes[a]) * slope
    raise AssertionError


_tables: dict = {}


class Table:
    """One pattern's and read fraction's table: row i, for grid concurrency i, is (sample_sizes, their seconds,
    the mean read latency in s of the largest), simulated by the full model the first time it is read, and kept
    in memory and in a file beside numba's cache (a query reads four rows or so, not the whole grid)."""

    def __init__(self, system: DRAMSystem, p: Pattern, read_fraction: float, path: Path | None):
        self.system, self.pattern, self.read_fraction, self.path = system, p, read_fraction, path
        self.rows: dict[int, tuple] = {}
        if path is not None and path.is_file():
            try:
                self.rows = {int(i): (tuple(sizes), tuple(seconds), latency)
                             for i, (sizes, seconds, latency) in json.loads(path.read_text()).items()}
            except (OSError, ValueError, TypeError):
                self.rows = {}

    def __getitem__(self, i: int) -> tuple:
        found = self.rows.get(i)
        if found is None:
            system, q = self.system, concurrency_grid(self.system)[i]
            sizes = sample_sizes(system, q)
            runs = [simulate(system, self.pattern, n * system.burst_bytes, q, self.read_fraction) for n in sizes]
            found = self.rows[i] = (sizes, tuple(r.seconds for r in runs),
                                    system.cycles_to_s(runs[-1].read_latency_cycles))
            if self.path is not None:
                _write_quietly(self.path, json.dumps(self.rows))
        return found


def table(system: DRAMSystem, p: Pattern, read_fraction: float) -> Table:
    """The Table of `p` at `read_fraction` on `system`, one per process and cache file."""
    key = hashlib.sha256(repr((system.key(), p, read_fraction, concurrency_grid(system), sample_sizes(system, 1),
                               _model_version())).encode()).hexdigest()[:24]
    found = _tables.get(key)
    if found is None:
        folder = _cache_dir()
        found = _tables[key] = Table(system, p, read_fraction, folder / f"{key}.json" if folder else None)
    return found


def _write_quietly(path: Path, text: str) -> None:
    """Write the cache file whole (a temporary file renamed) or not at all."""
    try:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        pass


@cache
def _model_version() -> str:
    """The model's source: a change to the kernel or to this module makes new tables."""
    text = Path(k.__file__).read_bytes() + Path(__file__).read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


@cache
def _cache_dir() -> Path | None:
    from simulator.kernels import jit

    base = jit.cache_dir() or Path(os.environ.get(jit.CACHE_ENV) or jit.IN_TREE)
    folder = base / "dram_tables"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder
