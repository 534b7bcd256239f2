"""`tortoise memory`: the cycle-level DRAM model as a microbenchmark. A chip's memory (the devices its dram
level names) or a memory preset runs one access pattern; the command prints what it achieved and `--out`
writes it as memory.json (docs/memory.md)."""

import json
import sys
import time
from pathlib import Path

from simulator.config.memory import memory_names
from simulator.config.units import SIZE_HELP, parse_size
from simulator.errors import ConfigError

SUMMARY = "memory.json"


def memory_command(args) -> int:
    from simulator.hardware.dram import chip_dram, dram_system, pattern, simulate

    if args.out:
        from simulator.results.files import check_folder

        check_folder(Path(args.out), "--out")
    nbytes = _size(args.bytes, "--bytes")
    chunk = _size(args.chunk, "--chunk") if args.chunk else None
    stride = _size(args.stride, "--stride") if args.stride else None
    if not 0 <= args.read_fraction <= 1:
        raise ConfigError("--read-fraction", "", args.read_fraction, "must be a fraction from 0 to 1")
    if args.hardware in memory_names():
        if args.set:
            raise ConfigError("--set", "", args.set[0], f"{args.hardware} is a memory preset; --set changes chip files")
        system = dram_system(args.hardware, args.devices or 1)
        name = f"{system.devices} × {args.hardware}"
    else:
        from simulator.config.loader import load_chip

        chip = load_chip(args.hardware, args.set)
        if args.devices:
            raise ConfigError("--devices", "", args.devices, f"{args.hardware} is a chip: its dram level says how many "
                              "devices (memory.hbm.dram.devices)")
        system = chip_dram(chip, args.hardware)
        name = chip.name
    if args.refresh:
        from simulator.hardware.dram import CONTROLLER_CHOICES

        system = dram_system(system.spec, system.devices, system.rate,
                             **{key: getattr(system, key) for key in CONTROLLER_CHOICES} | {"refresh": args.refresh})
    kind = pattern(args.pattern, chunk, stride, args.seed)
    concurrency = args.concurrency
    start = time.perf_counter()
    result = simulate(system, kind, nbytes, concurrency, args.read_fraction)
    wall = time.perf_counter() - start
    summary = summary_of(name, system, kind, result, concurrency, args.read_fraction, wall)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(summary_text(summary))
    if args.out:
        from simulator.results.files import make_folder, write_text_atomic

        folder = make_folder(Path(args.out), "--out")
        path = write_text_atomic(folder / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")
        print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)  # stdout stays one JSON document
    return 0


def _size(text: str, flag: str) -> int:
    try:
        value = parse_size(text)
    except (ValueError, TypeError):
        raise ConfigError(flag, "", text, SIZE_HELP) from None
    if value <= 0:
        raise ConfigError(flag, "", text, "must be more than 0 bytes")
    return value


def summary_of(name, system, kind, result, concurrency, read_fraction, wall_s) -> dict:
    """The figures the command prints, under their metric names."""
    from simulator.hardware.dram import default_concurrency

    spec = system.spec
    return {
        "hardware": name, "memory": spec.name, "standard": spec.standard, "devices": system.devices,
        "channels": system.units, "data_rate_mts": round(system.rate, 3), "peak_bytes_per_s": system.peak_bytes_per_s,
        "refresh": system.refresh, "row_policy": system.row_policy,
        "pattern": kind.kind, "pattern_description": kind.describe(), "bytes": result.bytes,
        "read_fraction": read_fraction, "concurrency": concurrency or default_concurrency(system),
        "bandwidth_bytes_per_s": result.bandwidth, "efficiency": result.efficiency,
        "read_latency_avg_ns": result.ns(result.read_latency_cycles),
        "read_latency_p99_ns": result.ns(result.read_latency_p99_cycles),
        "write_latency_avg_ns": result.ns(result.write_latency_cycles),
        "row_hit_rate": result.row_hit_rate, "refresh_share": result.refresh_share,
        "cycles": result.cycles, "seconds": result.seconds, "requests": result.reads + result.writes,
        "simulation_wall_s": wall_s,
    }


def summary_text(s: dict) -> str:
    lines = [
        f"{s['hardware']} memory: {s['devices']} × {s['memory']} ({s['standard']}) at {s['data_rate_mts'] / 1000:.3g} "
        f"Gb/s per pin, {s['channels']} channels, peak {s['peak_bytes_per_s'] / 1e9:.1f} GB/s; {s['refresh']} "
        f"refresh, {s['row_policy']} rows",
        f"pattern {s['pattern_description']}, {_bytes(s['bytes'])}, read fraction {s['read_fraction']:g}, "
        f"concurrency {s['concurrency']} bursts",
        f"  achieved bandwidth   {s['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s ({100 * s['efficiency']:.1f} % of peak)",
        f"  read latency         avg {s['read_latency_avg_ns']:.1f} ns, p99 {s['read_latency_p99_ns']:.1f} ns",
        f"  row-buffer hit rate  {100 * s['row_hit_rate']:.1f} %",
        f"  refresh share        {100 * s['refresh_share']:.2f} % of bank time",
        f"  simulated            {s['requests']:,} bursts in {s['cycles']:,} cycles ({s['seconds'] * 1e3:.4g} ms) "
        f"in {s['simulation_wall_s']:.2f} s",
    ]
    return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} B"
