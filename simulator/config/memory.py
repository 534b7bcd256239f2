"""DRAM device presets (configs/memory/*.yaml): organization, JEDEC timings and controller choices of one
memory device (an HBM stack, a DDR5 DIMM, an LPDDR5 channel), read into a frozen MemorySpec.

Bad fields are one line naming the file, the field, the value and what is allowed. Timings are integer
command-clock cycles (CK) at the preset's `clock`; `at_rate` gives them at another data rate, keeping their
nanoseconds (the burst and the short column-to-column gap stay in cycles), as ../shared/reference/dram.md §4
suggests for HBM2E and HBM3E."""

import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from simulator.config import units
from simulator.config.presets import preset_dir
from simulator.config.yamlio import read_mapping
from simulator.errors import ConfigError

ORGANIZATION = ("channels", "pseudo_channels", "bank_groups", "banks", "rows", "columns", "bus_width",
                "burst_length")
# Required timings, then optional ones with the timing they default to (None: 0, i.e. no constraint).
TIMINGS = ("nBL", "nCL", "nCWL", "nRCD", "nRP", "nRAS", "nRC", "nRTP", "nWR", "nRRD_S", "nRRD_L", "nFAW",
           "nCCD_S", "nCCD_L", "nWTR_S", "nWTR_L", "nRTW", "nRFC", "nREFI")
OPTIONAL_TIMINGS = {"nRCDWR": "nRCD", "nCCD_S_WR": "nCCD_S", "nCCD_L_WR": "nCCD_L", "nRFCpb": None,
                    "nRREFD": None}
FIXED_IN_CYCLES = ("nBL", "nCCD_S", "nCCD_S_WR")  # burst-bound: the same cycle count at any data rate
REFRESH = ("per_bank", "all_bank", "none")
ROW_POLICIES = ("open", "closed")
FIELDS = ("channel", "bank_group", "bank", "column", "row")  # address mapping fields
CONTROLLER = {"refresh": None, "row_policy": None, "read_queue": 64, "write_queue": 64, "dual_command_bus": False,
              "starvation_cap": 1000, "write_high": 48, "write_low": 16, "mapping": None, "channel_hash": False}
TOP = ("name", "standard", "description", "sources", "organization", "data_rate", "clock", "speed", "timing",
       "controller")
_RATE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9_]*)?)\s*(MT/s|GT/s|Mb/s|Gb/s)\s*$")
_RATE_UNITS = {"MT/s": 1.0, "Mb/s": 1.0, "GT/s": 1000.0, "Gb/s": 1000.0}
RATE_HELP = "a per-pin data rate such as 6400 MT/s or 6.4 Gb/s (units: MT/s, GT/s, Mb/s, Gb/s)"


@dataclass(frozen=True)
class MemorySpec:
    """One device preset as read: what docs/memory.md tabulates."""

    name: str
    standard: str
    description: str
    source: str  # the file it came from
    channels: int
    pseudo_channels: int
    bank_groups: int
    banks: int  # per bank group
    rows: int
    columns: int  # per row, counted with the burst (a row holds columns / burst_length bursts)
    bus_width: int  # bits per (pseudo-)channel
    burst_length: int
    data_rate: float  # MT/s per pin the timings are given at
    clock_hz: float  # command clock at data_rate
    speed: float  # MT/s the device runs at when the chip does not say
    timing: dict = field(hash=False)  # name → CK at clock_hz
    refresh: str = "per_bank"
    row_policy: str = "open"
    read_queue: int = 64
    write_queue: int = 64
    dual_command_bus: bool = False
    channel_hash: bool = False  # the channel digit scrambled by the address bits above it
    starvation_cap: int = 1000
    write_high: int = 48
    write_low: int = 16
    mapping: tuple = ()  # (field, values, whole?) least significant first; the whole entry takes what parts leave

    @property
    def burst_bytes(self) -> int:
        """Bytes one column command moves: bus width × burst length."""
        return self.bus_width * self.burst_length // 8

    @property
    def device_bits(self) -> int:
        """Data pins of one device: channels × pseudo-channels × bus width."""
        return self.channels * self.pseudo_channels * self.bus_width

    def peak_bytes_per_s(self, rate_mts: float | None = None) -> float:
        """Peak of one device: its data pins × the per-pin rate (dram.md §1)."""
        return self.device_bits * (rate_mts or self.speed) * 1e6 / 8


def parse_data_rate(value) -> float:
    """MT/s from '6400 MT/s' or '6.4 Gb/s'; ValueError otherwise."""
    match = _RATE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(value)
    rate = float(match.group(1).replace("_", "")) * _RATE_UNITS[match.group(2)]
    if not 1 <= rate <= 1e5:
        raise ValueError(value)
    return rate


def at_rate(spec: MemorySpec, rate_mts: float) -> tuple[dict, float]:
    """The timings (CK) and the command clock (Hz) at `rate_mts` per pin: each timing keeps its nanoseconds,
    rounded up to whole cycles, except the burst-bound ones (FIXED_IN_CYCLES). At the preset's own rate the
    cycles are the file's."""
    scale = rate_mts / spec.data_rate
    out = {}
    for name, cycles in spec.timing.items():
        out[name] = cycles if name in FIXED_IN_CYCLES else math.ceil(cycles * scale - 1e-9)
    out["nRC"] = max(out["nRC"], out["nRAS"] + out["nRP"])  # rounding must not break the row cycle
    out["nCCD_L"] = max(out["nCCD_L"], out["nCCD_S"])
    out["nCCD_L_WR"] = max(out["nCCD_L_WR"], out["nCCD_S_WR"])
    return out, spec.clock_hz * scale


def memory_names() -> list[str]:
    return sorted(p.stem for p in memory_dir().glob("*.yaml"))


def memory_dir() -> Path:
    return preset_dir() / "memory"


@cache
def load_memory(name: str) -> MemorySpec:
    """The device preset `name` (configs/memory/<name>.yaml) or a file path; a ConfigError otherwise."""
    path = memory_dir() / f"{name}.yaml" if "/" not in name and not name.endswith(".yaml") else Path(name)
    if not path.is_file():
        raise ConfigError("memory", "preset", name, f"no such memory preset; choose one of {', '.join(memory_names())}"
                          " (configs/memory/) or give a file")
    return read_spec(read_mapping(path), str(path))


def read_spec(data: dict, source: str) -> MemorySpec:
    """A MemorySpec from a preset's mapping; `source` names it in errors."""
    def fail(where: str, value, allowed: str):
        raise ConfigError(source, where, value, allowed)

    for key in data:
        if key not in TOP:
            fail(key, data[key], f"unknown field; allowed: {', '.join(TOP)}")
    org = _section(data, "organization", source)
    counts = {}
    for key in ORGANIZATION:
        counts[key] = _whole(org, key, f"organization.{key}", source, 1, 2**24)
    for key in org:
        if key not in ORGANIZATION:
            fail(f"organization.{key}", org[key], f"unknown field; allowed: {', '.join(ORGANIZATION)}")
    rates = {}
    for key in ("data_rate", "speed"):
        if key not in data and key == "speed":
            continue
        try:
            rates[key] = parse_data_rate(data.get(key))
        except ValueError:
            fail(key, data.get(key, _missing()), RATE_HELP)
    try:
        clock = units.parse_frequency(data.get("clock"))
        if not units.MIN_HZ <= clock <= units.MAX_HZ:
            raise ValueError
    except (ValueError, TypeError):
        fail("clock", data.get("clock", _missing()), units.FREQ_HELP)
    timing = _timings(_section(data, "timing", source), source)
    words_per_ck = rates["data_rate"] * 1e6 / clock
    if abs(timing["nBL"] * words_per_ck - counts["burst_length"]) > 1e-6:
        fail("timing.nBL", timing["nBL"], f"must be burst_length / (data_rate / clock) = {counts['burst_length']} / "
             f"{words_per_ck:g} cycles")
    if counts["columns"] % counts["burst_length"]:
        fail("organization.columns", counts["columns"], "must be a multiple of burst_length")
    if timing["nRC"] < timing["nRAS"] + timing["nRP"]:
        fail("timing.nRC", timing["nRC"], f"must be ≥ nRAS + nRP = {timing['nRAS'] + timing['nRP']}")
    if timing["nCCD_S"] < timing["nBL"]:
        fail("timing.nCCD_S", timing["nCCD_S"], f"must be ≥ nBL = {timing['nBL']} (bursts cannot overlap on the bus)")
    ctl = _controller(_section(data, "controller", source), source, counts, timing)
    for key in ("name", "standard", "description"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            fail(key, data.get(key, _missing()), "must be a non-empty text")
    if not isinstance(data.get("sources"), list) or not data["sources"]:
        fail("sources", data.get("sources", _missing()), "must be a list of the sources of the numbers")
    return MemorySpec(name=data["name"], standard=data["standard"], description=data["description"], source=source,
                      **counts, data_rate=rates["data_rate"], clock_hz=clock,
                      speed=rates.get("speed", rates["data_rate"]), timing=timing, **ctl)


def _missing():
    from simulator.errors import MISSING

    return MISSING


def _section(data: dict, key: str, source: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError(source, key, value if key in data else _missing(), "must be a group of fields (a mapping)")
    return value


def _whole(section: dict, key: str, where: str, source: str, low: int, high: int) -> int:
    value = section.get(key, _missing())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(source, where, value, f"must be a whole number from {low} to {high}")
    return value


def _timings(section: dict, source: str) -> dict:
    out = {}
    for key in section:
        if key not in TIMINGS and key not in OPTIONAL_TIMINGS:
            raise ConfigError(source, f"timing.{key}", section[key],
                              f"unknown timing; allowed: {', '.join(TIMINGS + tuple(OPTIONAL_TIMINGS))}")
    for key in TIMINGS:
        out[key] = _whole(section, key, f"timing.{key}", source, 1 if key in ("nBL", "nCCD_S", "nREFI") else 0,
                          10**7)
    for key, default in OPTIONAL_TIMINGS.items():
        if key in section:
            out[key] = _whole(section, key, f"timing.{key}", source, 0, 10**7)
        else:
            out[key] = out[default] if default else 0
    return out


def _controller(section: dict, source: str, counts: dict, timing: dict) -> dict:
    def fail(key, allowed):
        raise ConfigError(source, f"controller.{key}", section.get(key, _missing()), allowed)

    for key in section:
        if key not in CONTROLLER:
            raise ConfigError(source, f"controller.{key}", section[key],
                              f"unknown field; allowed: {', '.join(CONTROLLER)}")
    out = {}
    for key, choices in (("refresh", REFRESH), ("row_policy", ROW_POLICIES)):
        if section.get(key) not in choices:
            fail(key, f"must be one of {', '.join(choices)}")
        out[key] = section[key]
    if out["refresh"] == "per_bank" and not timing["nRFCpb"]:
        raise ConfigError(source, "timing.nRFCpb", _missing(), "per-bank refresh needs nRFCpb (cycles > 0)")
    for key in ("read_queue", "write_queue"):
        out[key] = _whole(section, key, f"controller.{key}", source, 1, 4096) if key in section else CONTROLLER[key]
    for key in ("starvation_cap", "write_high", "write_low"):
        out[key] = _whole(section, key, f"controller.{key}", source, 0, 10**7) if key in section else CONTROLLER[key]
    if not out["write_low"] < out["write_high"] <= out["write_queue"]:
        fail("write_high", f"must be > write_low ({out['write_low']}) and ≤ write_queue ({out['write_queue']})")
    for key in ("dual_command_bus", "channel_hash"):
        flag = section.get(key, False)
        if not isinstance(flag, bool):
            fail(key, "must be true or false")
        out[key] = flag
    out["mapping"] = parse_mapping(section.get("mapping", _missing()), counts, source)
    return out


def field_sizes(counts: dict) -> dict:
    """How many values each address field takes in one device (channel: channels × pseudo-channels; column:
    bursts per row)."""
    return {"channel": counts["channels"] * counts["pseudo_channels"], "bank_group": counts["bank_groups"],
            "bank": counts["banks"], "column": counts["columns"] // counts["burst_length"], "row": counts["rows"]}


def parse_mapping(value, counts: dict, source: str) -> tuple:
    """The address mapping: a list of fields, least significant first, each `name` (all its remaining values)
    or `name:bits` (2**bits of its values); every field once without bits, the bits of a field's parts no more
    than its size allows."""
    where = "controller.mapping"
    if not isinstance(value, list) or not value:
        raise ConfigError(source, where, value, f"must be a list of address fields, least significant first, e.g. "
                          f"[column:2, channel, bank_group, bank, column, row]; fields: {', '.join(FIELDS)}")
    sizes = field_sizes(counts)
    parts, whole = [], set()
    used = dict.fromkeys(FIELDS, 1)
    for item in value:
        name, _, bits = str(item).partition(":")
        if name not in FIELDS or (bits and not bits.isdigit()):
            raise ConfigError(source, where, item, f"each entry is a field or field:bits; fields: {', '.join(FIELDS)}")
        if bits:
            used[name] *= 2 ** int(bits)
            if sizes[name] % used[name]:
                raise ConfigError(source, where, item, f"{name} has {sizes[name]} values: its parts must divide it")
            parts.append((name, 2 ** int(bits)))
        else:
            if name in whole:
                raise ConfigError(source, where, item, f"{name} appears twice without bits")
            whole.add(name)
            parts.append((name, None))
    missing = [name for name in FIELDS if name not in whole]
    if missing:
        raise ConfigError(source, where, value,
                          f"every field needs one entry without bits; missing {', '.join(missing)}")
    return tuple((name, n, False) if n is not None else (name, sizes[name] // used[name], True) for name, n in parts)
