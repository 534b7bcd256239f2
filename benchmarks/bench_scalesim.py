"""Tortoise vs SCALE-Sim 3.0.0 on the same GEMMs: compute cycles side by side and the speed ratio.

    python benchmarks/bench_scalesim.py                 # all cases (SCALE-Sim needs minutes for the big ones)
    python benchmarks/bench_scalesim.py --quick         # small cases only
    TORTOISE_SCALESIM_PYTHON=/path/to/venv/bin/python python benchmarks/bench_scalesim.py

SCALE-Sim runs in the interpreter named by TORTOISE_SCALESIM_PYTHON (it pins numpy 2.3.5; see
docs/performance.md for the two-line setup). Tortoise times are the median of repeated runs with a
warm numba cache: the closed form alone, and the whole engine (`run_graph`) on a one-array chip.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scalesim_peer import run_scalesim, scalesim_available  # noqa: E402

from simulator.api import run_graph  # noqa: E402
from simulator.config.loader import load_chip  # noqa: E402
from simulator.hardware.chip import Chip  # noqa: E402
from simulator.ir.ops import GemmOp, OpGraph  # noqa: E402
from simulator.kernels.systolic import DATAFLOWS, scalesim_compute_cycles  # noqa: E402

QUICK = [(128, 128, 128, 32, 32, "os"), (128, 128, 128, 32, 32, "ws"), (100, 300, 77, 128, 128, "is")]
BIG = [(512, 512, 512, 32, 32, "os"), (1024, 1024, 1024, 128, 128, "os")]


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def tortoise_case(m, n, k, rows, cols, dataflow, repeats=5):
    df = DATAFLOWS[dataflow]
    scalesim_compute_cycles(m, n, k, rows, cols, df)  # warm
    closed_s, cycles = _median_time(lambda: scalesim_compute_cycles(m, n, k, rows, cols, df), repeats)

    def engine():
        chip = Chip(load_chip("systolic_32x32", [f"core.mxu.rows={rows}", f"core.mxu.cols={cols}",
                                                 f"core.mxu.dataflow={dataflow}"]))
        return run_graph(chip, OpGraph("g", (GemmOp("g", m, n, k),))).records[0]

    engine()
    engine_s, record = _median_time(engine, repeats)
    return cycles, closed_s, record.compute_cycles, engine_s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--no-scalesim", action="store_true", help="time Tortoise only")
    args = parser.parse_args(argv)
    cases = QUICK + ([] if args.quick else BIG)
    peer = not args.no_scalesim and scalesim_available()
    if not peer and not args.no_scalesim:
        print("SCALE-Sim not importable here; set TORTOISE_SCALESIM_PYTHON (see docs/performance.md)", file=sys.stderr)
    print("| GEMM M×N×K | array | df | Tortoise cycles | engine cycles | SCALE-Sim cycles | Tortoise closed form (s) "
          "| Tortoise engine (s) | SCALE-Sim (s) | speed-up (engine) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for m, n, k, rows, cols, df in cases:
        cycles, closed_s, engine_cycles, engine_s = tortoise_case(m, n, k, rows, cols, df)
        ss_cycles, ss_s, ratio = "—", "—", "—"
        if peer:
            report = run_scalesim(m, n, k, rows, cols, df)
            ss_cycles, ss_s = report["compute_cycles"], report["wall_s"]
            ratio = f"{ss_s / engine_s:,.0f}×"
            ss_s = f"{ss_s:.2f}"
        print(f"| {m}×{n}×{k} | {rows}×{cols} | {df} | {cycles:,} | {engine_cycles:,} | {ss_cycles:,} "
              f"| {closed_s:.2e} | {engine_s:.4f} | {ss_s} | {ratio} |".replace("| —, |", "| — |"))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
