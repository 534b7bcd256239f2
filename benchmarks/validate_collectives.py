"""Simulated vs measured collectives on the DGX presets: the collectives table of docs/validation.md.

    python benchmarks/validate_collectives.py            # the Markdown table, then a busbw curve
    python benchmarks/validate_collectives.py --calibrate  # the hop latency the 32 KiB row gives

Reads benchmarks/validation/collectives/*.csv (system preset, collective, chips, bytes per chip,
algorithm, measured value as nccl-tests reports it, source) and runs the same collective through the
engine: one CollectiveOp on `chips` chips of the system, per-op overhead included, as nccl-tests times
one call. busbw = bytes / time × 2(p − 1)/p for all-reduce (nccl-tests' definition). Nothing is
tuned to the busbw figures; the row marked `fit` is the one the link latency was derived from.
"""

import csv
import sys
from pathlib import Path

from simulator.config.loader import load_chip
from simulator.engine.network import collective_cycles
from simulator.engine.run import run_block
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology
from simulator.ir.ops import CollectiveOp, OpGraph
from simulator.mapping.collectives import transport
from simulator.mapping.program import Fabric, Mapper

DATA = Path(__file__).resolve().parent / "validation" / "collectives"
BUS_FACTOR = {"all_reduce": lambda p: 2 * (p - 1) / p, "all_gather": lambda p: (p - 1) / p,
              "reduce_scatter": lambda p: (p - 1) / p, "all_to_all": lambda p: (p - 1) / p}


def simulate(chip: Chip, kind: str, chips: int, nbytes: int, algorithm: str) -> tuple[float, str]:
    """(seconds, algorithm/protocol used) of one collective over chips 0..chips−1."""
    topology = build_topology(chip.config.system, chip.clock_hz, chip.hbm.achievable_bytes_per_cycle)
    algorithm = chip.config.system.collectives if algorithm == "auto" else algorithm
    groups = (tuple(range(chips)),)
    fabric = Fabric(topology, {"tp": groups}, algorithm)
    graph = OpGraph(kind, (CollectiveOp(kind, kind, nbytes, "tp"),))
    record = run_block(chip, Mapper(chip, collective_cycles).block(graph, fabric), topology).records[0]
    how = transport(topology, kind, record.algorithm, groups, nbytes).protocol
    return chip.seconds(record.cycles), record.algorithm + (f"/{how}" if how else "")


def calibrate_hop(system: str = "dgx_h100") -> float:
    """The NVLink hop latency (seconds, to 0.01 µs) at which the row marked `fit` (8 chips, 32 KiB, Ring/LL)
    takes its measured time, everything else of the model as it is (op_overhead, LL's ceiling): the documented
    calibration behind configs/dgx_h100.yaml's `link.latency`. Bisection: the time grows with the latency."""
    r = next(r for r in rows() if r["fit"] == "yes" and r["system"] == system)
    p, n, measured = int(r["chips"]), int(r["bytes"]), float(r["measured"]) * 1e-6

    def seconds(latency_us: float) -> float:
        chip = Chip(load_chip(system, [f"system.link.latency={latency_us} us"]))
        return simulate(chip, r["kind"], p, n, r["algorithm"])[0]

    low, high = 0.0, 10.0
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if seconds(mid) < measured else (low, mid)
    return round(low, 2) * 1e-6


def busbw(kind: str, chips: int, nbytes: int, seconds: float) -> float:
    return nbytes / seconds * BUS_FACTOR[kind](chips) / 1e9


def rows():
    for path in sorted(DATA.glob("*.csv")):
        with path.open() as f:
            yield from csv.DictReader(f)


def main() -> int:
    if "--calibrate" in sys.argv[1:]:
        print(f"dgx_h100 link.latency: {calibrate_hop() * 1e6:.2f} us (the 32 KiB row's fit)")
        return 0
    chips: dict[str, Chip] = {}
    print("| system | collective | bytes | algorithm | measured | simulated | error | source |")
    print("|---|---|---:|---|---:|---:|---:|---|")
    for r in rows():
        chip = chips.setdefault(r["system"], Chip(load_chip(r["system"])))
        p, n = int(r["chips"]), int(r["bytes"])
        seconds, used = simulate(chip, r["kind"], p, n, r["algorithm"])
        value = busbw(r["kind"], p, n, seconds) if r["unit"] == "busbw_gb_s" else seconds * 1e6
        unit = "GB/s busbw" if r["unit"] == "busbw_gb_s" else "µs"
        measured = float(r["measured"])
        fit = " (fit)" if r["fit"] == "yes" else ""
        print(f"| {r['system']} ×{p} | {r['kind']} | {n:,} | {used} | {measured:g} {unit} | {value:.1f} {unit} | "
              f"{100 * (value / measured - 1):+.1f} %{fit} | {r['source']} |")
    print()
    print("| bytes | dgx_a100 busbw (GB/s) | dgx_h100 busbw, auto (GB/s) | dgx_h100 busbw, switch_reduce (GB/s) |")
    print("|---:|---:|---:|---:|")
    a100, h100 = chips["dgx_a100"], chips["dgx_h100"]
    for n in (2**15, 2**20, 2**24, 2**28, 2**30):
        cells = [busbw("all_reduce", 8, n, simulate(c, "all_reduce", 8, n, alg)[0])
                 for c, alg in ((a100, "auto"), (h100, "auto"), (h100, "switch_reduce"))]
        print(f"| {n:,} | " + " | ".join(f"{x:.1f}" for x in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
