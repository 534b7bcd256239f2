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


def main() -> int:
    print("| chip | GEMM M×N×K | dtype | runtime | measured TFLOP/s | simulated TFLOP/s | error | subset | source |")
    print("|---|---|---|---|---:|---:|---:|---|---|")
    chips: dict[tuple, Chip] = {}
    for r in rows():
        runtime = r.get("runtime") or "bare"  # the measurement's harness (config/runtime.py)
        chip = chips.setdefault((r["chip"], runtime), Chip(load_chip(r["chip"], [f"runtime={runtime}"])))
        m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
        summary = run_graph(chip, OpGraph("g", (GemmOp("g", m, n, k, r["dtype"]),))).summary
        simulated, measured = summary["achieved_tflops"], float(r["measured_tflops"])
        print(f"| {r['chip']} | {m}×{n}×{k} | {r['dtype']} | {runtime} | {measured:.1f} | {simulated:.1f} "
              f"| {100 * (simulated - measured) / measured:+.1f} % | {r.get('subset') or 'held-out'} | {r['source']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
