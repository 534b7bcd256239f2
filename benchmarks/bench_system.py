"""Wall time and peak memory of simulating multi-chip LLM passes, warm numba cache.

    python benchmarks/bench_system.py

Each case runs in its own process: one untimed run warms numba's on-disk cache and the imports, then
the median of 5 runs is timed, each on a freshly loaded system and workload (nothing cached between
runs, like a CLI call). Peak memory is the process's maximum resident set size (imports included).
"""

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFILL = ["scenario.phase=prefill", "scenario.prompt=2048"]
CASES = {
    "Llama-3-70B decode step, TP=8, dgx_h100": ("dgx_h100", "llama3_70b_decode.yaml", ["parallel.tp=8"]),
    "Llama-3-70B decode step, TP=8, tpu_v4_2x2x2": ("tpu_v4_2x2x2", "llama3_70b_decode.yaml", ["parallel.tp=8"]),
    "Llama-3-70B prefill 2048 tokens, TP=8, dgx_h100":
        ("dgx_h100", "llama3_70b_decode.yaml", ["parallel.tp=8", *PREFILL]),
    "Llama-3-70B prefill 2048 tokens, TP=8, tpu_v4_2x2x2":
        ("tpu_v4_2x2x2", "llama3_70b_decode.yaml", ["parallel.tp=8", *PREFILL]),
    "Llama-3-70B decode step, TP=2 PP=4, 4 micro-batches of 2, dgx_h100":
        ("dgx_h100", "llama3_70b_decode.yaml", ["parallel.tp=2", "parallel.pp=4", "parallel.microbatches=4",
                                                "scenario.batch=8"]),
    "Mixtral-8x7B prefill 8 × 1024 tokens, EP=8, tpu_v4_2x2x2":
        ("tpu_v4_2x2x2", "mixtral_8x7b_prefill.yaml", ["parallel.ep=8"]),
    "Llama-3-70B decode step, TP=4 DP=16, tpu_v4_4x4x4":
        ("tpu_v4_4x4x4", "llama3_70b_decode.yaml", ["parallel.tp=4", "parallel.dp=16", "scenario.batch=16"]),
}


def one(name: str) -> dict:
    from simulator.api import run_files

    system, workload, overrides = CASES[name]

    def run():
        return run_files(system, str(ROOT / "workloads" / workload), workload_overrides=overrides)

    run()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    s = result.summary
    latency = s.get("tpot_s") if s["phase"] == "decode" else s.get("ttft_s")
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {"wall_s": statistics.median(times), "max_rss_mib": rss_mib, "simulated_ms": latency * 1e3,
            "exposed_comm_share": s["exposed_comm_share"], "ops": s["ops"]}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2])))
        return 0
    print("| case | simulated (TPOT or TTFT) | exposed comm | ops executed | wall time (s) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in CASES:
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['simulated_ms']:.3f} ms | {100 * r['exposed_comm_share']:.1f} % | {r['ops']:,} | "
              f"{r['wall_s']:.3f} | {r['max_rss_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
