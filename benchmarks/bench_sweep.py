"""Sweep throughput: 512 design points (MXU size × HBM bandwidth × SRAM size) of a Llama-3-8B decode step.

    python benchmarks/bench_sweep.py [--workers N]

The timed run is `tortoise sweep` itself (the CLI in a fresh process, into a temporary folder), after an
untimed warm-up sweep has filled numba's on-disk cache. Wall time covers everything a user waits for:
Python start-up and imports, validating all 512 points, the worker processes, writing points.jsonl and the
tables. Then, in this process, the parts: validation alone, one point in a warm process (the median of 40)
and, of that, what is not the simulation (`api.run_workload`): finding the point's config and building its
row.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = f"""name: bench_sweep
description: 4 MXU sizes × 16 HBM bandwidths × 8 SRAM sizes, Llama-3-8B decode on tpu_v4
hardware: tpu_v4
workloads: [{ROOT / 'workloads/llama3_8b_decode.yaml'}]
axes:
  core.mxu.rows, core.mxu.cols: [32, 64, 128, 256]
  memory.hbm.bandwidth: {{from: 0.8 TB/s, to: 3.2 TB/s, steps: 16}}
  core.sram.size: [4 MiB, 8 MiB, 16 MiB, 24 MiB, 32 MiB, 64 MiB, 96 MiB, 128 MiB]
"""
WARMUP = SWEEP.replace("steps: 16", "steps: 2").replace("[32, 64, 128, 256]", "[64, 128]")


def cli(sweep: Path, out: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "simulator.cli", "sweep", str(sweep), "--out", str(out),
                    "--workers", str(workers)], check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def parts(sweep: Path) -> dict:
    """Validation of every point, one point in a warm process (and how much of it is not the simulation
    itself, api.run_workload), and local worker start-up."""
    from simulator import api
    from simulator.sweep.plan import plan
    from simulator.sweep.runner import run_local, run_task, use_plan
    from simulator.sweep.spec import load_sweep

    start = time.perf_counter()
    the_plan = plan(load_sweep(str(sweep)))
    validate_s = time.perf_counter() - start
    use_plan(the_plan)  # as tortoise sweep does: the points run with the configs validation loaded
    tasks = [row.task for row in the_plan.rows]
    run_task(tasks[0])
    times, simulated = [], []
    run_workload = api.run_workload

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = run_workload(*args, **kwargs)
        simulated.append(time.perf_counter() - start)
        return result

    api.run_workload = timed  # run_task looks it up at every call
    try:
        for task in tasks[1:41]:
            start = time.perf_counter()
            run_task(task)
            times.append(time.perf_counter() - start)
    finally:
        api.run_workload = run_workload
    first: list[float] = []
    start = time.perf_counter()
    run_local(tasks[41:43], 2, lambda i, r: first.append(time.perf_counter() - start))
    return {"points": len(the_plan.points), "validate_s": validate_s, "point_s": statistics.median(times),
            "overhead_s": statistics.median(t - s for t, s in zip(times, simulated, strict=True)),
            "startup_s": max(first) - statistics.median(times)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bench.yaml").write_text(SWEEP)
        (tmp / "warmup.yaml").write_text(WARMUP)
        cli(tmp / "warmup.yaml", tmp / "warmup", args.workers)
        wall = cli(tmp / "bench.yaml", tmp / "out", args.workers)
        rows = sum(1 for _ in open(tmp / "out" / "points.jsonl"))
        p = parts(tmp / "bench.yaml")
    rate = p["points"] / wall
    print("| points | workers | wall time (s) | points/s | points/s per worker | validation of all points (s) | "
          "one point, warm process (s) | of which not simulation (ms) | worker start-up (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {p['points']} ({rows} rows) | {args.workers} | {wall:.1f} | {rate:.1f} | {rate / args.workers:.1f} | "
          f"{p['validate_s']:.2f} | {p['point_s']:.4f} | {p['overhead_s'] * 1e3:.2f} | {p['startup_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
