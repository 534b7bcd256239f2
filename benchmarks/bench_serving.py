"""Serving speed: the three figures issue #13 names, each in a fresh process (numba's kernel cache warm).

    python benchmarks/bench_serving.py [--only requests|sweep|capacity] [--requests N]

- `requests`: 10,000 requests of Llama-3-70B on dgx_h100 (TP8), Poisson at 9 req/s (just below its
  saturation of about 9.5 req/s with these lengths), in one process on one core; the wall time of the whole
  `simulate_service` call, and how it splits between timing iteration parts (engine) and the loop.
- `sweep`: `tortoise sweep configs/sweeps/serving_load.yaml` (20 rates × 1,000 requests) on 2 local workers.
- `capacity`: `tortoise serve dgx_h100 llama3_70b_serve --capacity --slo ttft_p99=2s,tpot_p99=200ms`
  (1,000 requests per probe).
Targets (issue #13): ≤ 20 s, ≤ 2 min and ≤ 1 min. Results go in docs/performance.md by hand.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requests_case(n: int) -> dict:
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip
    from simulator.serving import cost as cost_module
    from simulator.serving.service import simulate_service
    from simulator.workloads.loader import load_workload

    chip = Chip(load_chip("dgx_h100", []))
    workload = load_workload(str(ROOT / "workloads/llama3_70b_serve.yaml"),
                             [f"serving.requests={n}", "serving.arrival.rate=9"])
    parts_s = 0.0
    original = cost_module.IterationCost._part

    def timed(self, key, lower):
        nonlocal parts_s
        t = time.perf_counter()
        try:
            return original(self, key, lower)
        finally:
            parts_s += time.perf_counter() - t

    cost_module.IterationCost._part = timed
    t0 = time.perf_counter()
    result = simulate_service(chip, workload)
    wall = time.perf_counter() - t0
    s = result.summary
    return {"wall_s": wall, "parts_s": parts_s, "loop_s": wall - parts_s, "iterations": s["iterations"],
            "parts_timed": s["parts_timed"], "parts_reused": s["parts_reused"], "requests_per_s": s["requests_per_s"],
            "ttft_p99_s": s["ttft_p99_s"], "tpot_p99_s": s["tpot_p99_s"]}


def command(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from simulator.cli import main; sys.exit(main())", *args],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["requests", "sweep", "capacity"])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "requests":
        print(json.dumps(requests_case(args.requests)))
        return
    if args.only in (None, "requests"):
        out = subprocess.run([sys.executable, __file__, "--case", "requests", "--requests", str(args.requests)],
                             check=True, capture_output=True, text=True,
                             env=os.environ | {"TORTOISE_KERNELS": "numba"}).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{args.requests:,} requests, Llama-3-70B TP8 on dgx_h100 at 9 req/s: {r['wall_s']:.1f} s "
              f"(parts {r['parts_s']:.1f} s for {r['parts_timed']:,} timed / {r['parts_reused']:,} reused, loop "
              f"{r['loop_s']:.1f} s over {r['iterations']:,} iterations); served {r['requests_per_s']:.2f} req/s, "
              f"p99 TTFT {r['ttft_p99_s'] * 1e3:.0f} ms, p99 TPOT {r['tpot_p99_s'] * 1e3:.0f} ms  [target ≤ 20 s]")
    if args.only in (None, "sweep"):
        out = Path(tempfile.mkdtemp(prefix="tortoise-bench-"))
        try:
            wall = command(["sweep", "configs/sweeps/serving_load.yaml", "--out", str(out / "load"), "--workers", "2"])
        finally:
            shutil.rmtree(out, ignore_errors=True)
        print(f"20-point latency-vs-load sweep (1,000 requests each), 2 workers: {wall:.1f} s  [target ≤ 120 s]")
    if args.only in (None, "capacity"):
        wall = command(["serve", "dgx_h100", "llama3_70b_serve", "--capacity", "--slo", "ttft_p99=2s,tpot_p99=200ms"])
        print(f"capacity search, Llama-3-70B TP8 on dgx_h100, 1,000 requests per probe: {wall:.1f} s  "
              "[target ≤ 60 s]")


if __name__ == "__main__":
    main()
