"""Wall time of Tortoise on single-chip GEMM workloads, warm numba cache.

    python benchmarks/bench_core.py

Each figure is the median of 5 runs on a freshly loaded chip; one untimed run first warms numba's on-disk
cache and the imports. A chip loaded with an equal config reuses the tile choices and timings the warm-up
computed (hardware.chip.stand_in), as every run after the first does in one session or sweep worker.
"""

import statistics
import sys
import time
from pathlib import Path

from simulator.api import run_files, run_graph
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.ir.ops import GemmOp, OpGraph

ROOT = Path(__file__).resolve().parents[1]
GEMMS = [("tpu_v4", 4096, 4096, 4096), ("h100", 4096, 4096, 4096), ("h100", 8192, 8192, 8192),
         ("tpu_v4", 1, 8192, 8192), ("h100", 1, 8192, 8192)]


def timed(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    print("| case | simulated cycles | simulated time | wall time (s) |")
    print("|---|---:|---:|---:|")
    for preset, m, n, k in GEMMS:
        def gemm(preset=preset, m=m, n=n, k=k):
            return run_graph(Chip(load_chip(preset)), OpGraph("g", (GemmOp("g", m, n, k),)))
        wall, result = timed(gemm)
        s = result.summary
        print(f"| {m}×{n}×{k} bf16 GEMM on {preset} | {s['cycles']:,} | {s['seconds'] * 1e3:.3f} ms | {wall:.4f} |")
    for preset in ("tpu_v4", "h100"):
        wall, result = timed(lambda preset=preset: run_files(preset, str(ROOT / "workloads" / "gemm_demo.yaml")))
        s = result.summary
        print(f"| workloads/gemm_demo.yaml on {preset} | {s['cycles']:,} | {s['seconds'] * 1e3:.3f} ms | {wall:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
