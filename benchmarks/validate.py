"""Simulated vs measured GEMM throughput: the error table of docs/validation.md.

    python benchmarks/validate.py                      # prints the Markdown table

Reads benchmarks/validation/*.csv (chip preset, M, N, K, dtype, measured TFLOP/s, source) and simulates
each GEMM on that preset. No constant is tuned to these figures.
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
    print("| chip | GEMM M×N×K | dtype | measured TFLOP/s | simulated TFLOP/s | error | source |")
    print("|---|---|---|---:|---:|---:|---|")
    chips: dict[str, Chip] = {}
    for r in rows():
        chip = chips.setdefault(r["chip"], Chip(load_chip(r["chip"])))
        m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
        summary = run_graph(chip, OpGraph("g", (GemmOp("g", m, n, k, r["dtype"]),))).summary
        simulated, measured = summary["achieved_tflops"], float(r["measured_tflops"])
        print(f"| {r['chip']} | {m}×{n}×{k} | {r['dtype']} | {measured:.1f} | {simulated:.1f} "
              f"| {100 * (simulated - measured) / measured:+.1f} % | {r['source']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
