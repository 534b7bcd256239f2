"""Wall time and peak memory of simulating long Llama-3-8B prefills on h100, warm numba cache.

    python benchmarks/bench_prefill.py

Every timed run is the first one at its prompt length in a fresh process: the process first runs a
2048-token prefill (untimed: it loads numba's on-disk cache and the imports), then times one run at the
long prompt, so no tile choice or timing of that run's shapes is reused. The figure is the median of 5
such processes; peak memory is the largest maximum resident set size among them (imports included). The
HBM capacity check is off: a 1M-token KV cache does not fit one H100, but its timing is still defined.
"""

import json
import resource
import statistics
import subprocess
import sys
import time

RUNS = 5
PROMPTS = {"32k": 32768, "128k": 131072, "256k": 262144, "1M": 1048576}
HARDWARE, WORKLOAD = "h100", "workloads/llama3_8b_prefill.yaml"


def measure(tokens: int) -> dict:
    """One fresh run at `tokens` after an untimed short one."""
    from simulator.api import run_files

    run_files(HARDWARE, WORKLOAD, workload_overrides=["scenario.prompt=2048"])
    start = time.perf_counter()
    result = run_files(HARDWARE, WORKLOAD,
                       workload_overrides=[f"scenario.prompt={tokens}", "scenario.check_capacity=false"])
    wall = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {"wall_s": wall, "max_rss_mib": rss_mib, "cycles": result.summary["cycles"],
            "ttft_s": result.summary["ttft_s"], "ops": result.summary["ops"]}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]))))
        return 0
    print("| prompt | simulated cycles | TTFT | ops executed | wall time (s) | peak RSS (MiB) |\n"
          "|---|---:|---:|---:|---:|---:|")
    for label, tokens in PROMPTS.items():
        runs = []
        for _ in range(RUNS):
            out = subprocess.run([sys.executable, __file__, "--one", str(tokens)], capture_output=True, text=True,
                                 check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        assert len({r["cycles"] for r in runs}) == 1, "a deterministic run gave different cycles"
        r = runs[0]
        print(f"| {label} ({tokens:,} tokens) | {r['cycles']:,} | {r['ttft_s']:.3f} s | {r['ops']:,} | "
              f"{statistics.median(x['wall_s'] for x in runs):.3f} | {max(x['max_rss_mib'] for x in runs):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
