"""Simulated vs measured GEMM throughput: the error table of docs/validation.md.

    python benchmarks/validate.py                      # prints the Markdown table

Reads benchmarks/validation/*.csv (chip preset, M, N, K, dtype, measured TFLOP/s, source; optionally the
runtime profile of the measurement's harness and its subset) and simulates each GEMM on that preset. The
a100 tensor clock is calibrated on the rows marked `calibration` (configs/a100.yaml); the rest are held out.
"""

import csv
import sys
from pathlib import Path

from simulator.api import run_graph
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.ir.ops import GemmOp, OpGraph

DATA = Path(__file__).resolve().parent / "validation"


def rows():
    for path in sorted(DATA.glob("*.csv")):
        with path.open() as f:
            yield from csv.DictReader(f)


def runtime(r: dict) -> str:
    """The runtime profile of the row's measurement harness (config/runtime.py); `bare` when not stated."""
    return r.get("runtime") or "bare"


def summary(chip: Chip, r: dict) -> dict:
    """The row's GEMM, alone on the chip."""
    m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
    return run_graph(chip, OpGraph("g", (GemmOp("g", m, n, k, r["dtype"]),))).summary


def main() -> int:
    print("| chip | GEMM M×N×K | dtype | runtime | measured TFLOP/s | simulated TFLOP/s | error | subset | source |")
    print("|---|---|---|---|---:|---:|---:|---|---|")
    chips: dict[tuple, Chip] = {}
    for r in rows():
        profile = runtime(r)
        chip = chips.setdefault((r["chip"], profile), Chip(load_chip(r["chip"], [f"runtime={profile}"])))
        simulated, measured = summary(chip, r)["achieved_tflops"], float(r["measured_tflops"])
        print(f"| {r['chip']} | {r['m']}×{r['n']}×{r['k']} | {r['dtype']} | {profile} | {measured:.1f} "
              f"| {simulated:.1f} "
              f"| {100 * (simulated - measured) / measured:+.1f} % | {r.get('subset') or 'held-out'} | {r['source']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
