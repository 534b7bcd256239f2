"""Readable units for config files.

Accepted spellings (case-sensitive, a space between number and unit is optional):
  sizes       B, kB or KB, MB, GB, TB (powers of 1000); KiB, MiB, GiB, TiB (powers of 1024); a bare integer is bytes
  bandwidth   B/s, KB/s, MB/s, GB/s, TB/s, KiB/s, MiB/s, GiB/s, TiB/s; or B/cycle (bytes per clock cycle)
  frequency   Hz, kHz, MHz, GHz
  latency     ns, us, µs (or μs), ms, s; or cycles / cycle; a bare integer is cycles
  energy      fJ, pJ, nJ, uJ, µJ (or μJ), mJ, J (per event: one MAC, one vector op)
  energy/byte the energy units over B, byte or bit: pJ/B, pJ/byte, pJ/bit (8 bits to the byte), fJ/bit, …
  power       mW, W, kW
Energies and powers have no bare-number form: a unit is always written.
Numbers may be written 1.2, 1e9 or 1_000.
"""

import math
import re
from dataclasses import dataclass

_NUMBER = r"([0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?)"
_PATTERN = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-zµμ/]+)?\s*$")

SIZE_UNITS = {
    "B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
RATE_UNITS = {f"{u}/s": f for u, f in SIZE_UNITS.items()}
FREQ_UNITS = {"Hz": 1, "kHz": 10**3, "MHz": 10**6, "GHz": 10**9}
TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0}
CYCLE_UNITS = ("cycle", "cycles")
ENERGY_UNITS = {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "µJ": 1e-6, "μJ": 1e-6, "mJ": 1e-3, "J": 1.0}
ENERGY_PER_BYTE_UNITS = {f"{u}/{per}": f * scale for u, f in ENERGY_UNITS.items()
                         for per, scale in (("B", 1), ("byte", 1), ("bit", 8))}
POWER_UNITS = {"mW": 1e-3, "W": 1.0, "kW": 1e3}

# Physical ranges: anything outside is a typo, and would overflow the cycle arithmetic or make a figure
# infinite (docs/configuration.md).
MAX_BYTES = 2**60  # 1 EiB
MAX_BYTES_PER_S, MAX_BYTES_PER_CYCLE = 1e18, 1e12  # 1 EB/s
MIN_BYTES_PER_S, MIN_BYTES_PER_CYCLE = 1.0, 1e-6  # slower is a typo, whose times overflow the cycles
MIN_HZ, MAX_HZ = 1e6, 1e11  # 1 MHz … 100 GHz
MAX_SECONDS, MAX_CYCLES = 1.0, 1e12
MAX_JOULES, MAX_WATTS = 1e3, 1e6  # per event or byte; per chip

SIZE_HELP = ("a size such as 32 MiB, 50 MB or an integer number of bytes, at most 1 EiB (units: "
             + ", ".join(SIZE_UNITS) + ")")
RATE_HELP = ("a bandwidth such as 1.2 TB/s, 900 GB/s or 64 B/cycle, at least 1 B/s (1e-6 B/cycle), "
             "at most 1 EB/s or 1e12 B/cycle (units: "
             + ", ".join(RATE_UNITS) + ", B/cycle)")
FREQ_HELP = "a frequency such as 940 MHz or 1.05 GHz (units: Hz, kHz, MHz, GHz)"
TIME_HELP = ("a latency such as 500 ns, 600 cycles or an integer number of cycles, at most 1 s or 1e12 cycles "
             "(units: ns, us, µs, ms, s, cycles)")
ENERGY_HELP = "an energy per event such as 0.23 pJ or 2 fJ, at most 1 kJ (units: fJ, pJ, nJ, uJ, µJ, mJ, J)"
ENERGY_PER_BYTE_HELP = ("an energy per byte such as 3.9 pJ/bit or 31 pJ/B, at most 1 kJ/B (units: fJ, pJ, nJ, uJ, "
                        "mJ or J over /bit, /B or /byte)")
POWER_HELP = "a power such as 90 W, 500 mW or 0.7 kW, at most 1 MW (units: mW, W, kW)"


def _split(text: str) -> tuple[float, str | None]:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError
    return float(match.group(1).replace("_", "")), match.group(2)


def _positive(x: float) -> float:
    if not math.isfinite(x) or x < 0:
        raise ValueError
    return x


def _at_least(x: float, limit: float) -> float:
    """`x` when it is 0 (a zero rate: refused or meaning "none" by the field) or at least `limit`."""
    if 0 < x < limit:
        raise ValueError
    return x


def _at_most(x: float, limit: float) -> float:
    """`x` (already scaled to the base unit) when it is finite and within its physical range."""
    if not math.isfinite(x) or x > limit:
        raise ValueError
    return x


def parse_size(value) -> int:
    """Bytes from 32 MiB, 50 MB or a bare integer; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        if not 0 <= value <= MAX_BYTES:
            raise ValueError
        return value
    if isinstance(value, float):  # YAML reads 1.0e9 as a float; accept it when it is a whole number of bytes
        if not value.is_integer():
            raise ValueError
        return int(_at_most(_positive(value), MAX_BYTES))
    if isinstance(value, str):
        number, unit = _split(value)
        factor = SIZE_UNITS.get(unit or "B")
        if factor is None:
            raise ValueError
        result = _at_most(_positive(number) * factor, MAX_BYTES)
        whole = round(result)
        if abs(result - whole) > 1e-9 * max(1.0, result):  # 2.01 KB is 2010 B despite float rounding
            raise ValueError
        return int(whole)
    raise ValueError


def parse_frequency(value) -> float:
    """Hertz from 940 MHz or 1.05 GHz."""
    return _with_unit(value, FREQ_UNITS)  # its range is the clock field's to check (schema.positive_clock)


@dataclass(frozen=True)
class Rate:
    """A bandwidth as written: per second, or per clock cycle (resolved once the clock is known)."""

    value: float
    per_cycle: bool

    def bytes_per_cycle(self, clock_hz: float) -> float:
        return self.value if self.per_cycle else self.value / clock_hz

    def __str__(self):
        return f"{self.value:g} B/cycle" if self.per_cycle else f"{self.value / 1e9:g} GB/s"


def parse_rate(value) -> Rate:
    """A Rate from 1.2 TB/s or 64 B/cycle."""
    if isinstance(value, Rate):
        return value
    if not isinstance(value, str):
        raise ValueError
    number, unit = _split(value)
    if unit == "B/cycle":
        return Rate(_at_least(_at_most(_positive(number), MAX_BYTES_PER_CYCLE), MIN_BYTES_PER_CYCLE), True)
    if unit not in RATE_UNITS:
        raise ValueError
    return Rate(_at_least(_at_most(_positive(number) * RATE_UNITS[unit], MAX_BYTES_PER_S), MIN_BYTES_PER_S), False)


@dataclass(frozen=True)
class Latency:
    """A latency as written: in seconds or in cycles (resolved once the clock is known)."""

    value: float
    in_cycles: bool

    def cycles(self, clock_hz: float) -> int:
        cycles = self.value if self.in_cycles else self.value * clock_hz
        return math.ceil(round(cycles, 6))  # 13 ms at 1.83 GHz is 23,790,000 cycles, not one more

    def __str__(self):
        return f"{self.value:g} cycles" if self.in_cycles else f"{self.value * 1e9:g} ns"


def parse_latency(value) -> Latency:
    """A Latency from 500 ns, 600 cycles or a bare integer (cycles)."""
    if isinstance(value, Latency):
        return value
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return Latency(_at_most(_positive(value), MAX_CYCLES), True)
    if not isinstance(value, str):
        raise ValueError
    number, unit = _split(value)
    if unit is None or unit in CYCLE_UNITS:
        return Latency(_at_most(_positive(number), MAX_CYCLES), True)
    if unit not in TIME_UNITS:
        raise ValueError
    return Latency(_at_most(_positive(number) * TIME_UNITS[unit], MAX_SECONDS), False)


def _with_unit(value, table: dict) -> float:
    if not isinstance(value, str):
        raise ValueError
    number, unit = _split(value)
    if unit not in table:
        raise ValueError
    return _positive(number) * table[unit]


def parse_energy(value) -> float:
    """Joules from 0.23 pJ, 1.1 pJ, 2 fJ or 1 nJ."""
    return _at_most(_with_unit(value, ENERGY_UNITS), MAX_JOULES)


def parse_energy_per_byte(value) -> float:
    """Joules per byte from 3.9 pJ/bit (× 8), 31 pJ/B or 31 pJ/byte."""
    return _at_most(_with_unit(value, ENERGY_PER_BYTE_UNITS), MAX_JOULES)


def parse_power(value) -> float:
    """Watts from 90 W, 500 mW or 0.7 kW."""
    return _at_most(_with_unit(value, POWER_UNITS), MAX_WATTS)


def _exact(value: float, scale: float, unit: str, base: str, parse) -> str:
    """`value` in `unit` when that reads back to the same float, else in the base unit (always exact)."""
    text = f"{value / scale:.15g} {unit}"
    return text if parse(text) == value else f"{value!r} {base}"


def format_energy(joules: float) -> str:
    """A spelling parse_energy reads back to the same number (a resolved config stays loadable)."""
    return _exact(joules, 1e-12, "pJ", "J", parse_energy)


def format_energy_per_byte(joules: float) -> str:
    return _exact(joules, 1e-12, "pJ/B", "J/B", parse_energy_per_byte)


def format_power(watts: float) -> str:
    return _exact(watts, 1.0, "W", "W", parse_power)
