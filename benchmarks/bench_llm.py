"""Wall time and peak memory of simulating LLM passes, warm numba cache.

    python benchmarks/bench_llm.py

Each case runs in its own process: one untimed run warms numba's on-disk cache and the imports, then
the median of 5 runs is timed, each on a freshly loaded chip and workload; what mapping and timing
computed for an equal config carries over from the warm-up (hardware.chip.stand_in), as in a session or a sweep worker.
Peak memory is the process's maximum resident set size (imports included).
"""

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "Llama-3-8B decode step, batch 1, context 4096, h100": ("h100", "llama3_8b_decode.yaml", []),
    "Llama-3-8B decode step, batch 1, context 4096, tpu_v4": ("tpu_v4", "llama3_8b_decode.yaml", []),
    "Llama-3-8B prefill, 2048 tokens, h100": ("h100", "llama3_8b_prefill.yaml", []),
    "Llama-3-8B prefill, 2048 tokens, tpu_v4": ("tpu_v4", "llama3_8b_prefill.yaml", []),
    "Llama-3-70B decode step (fp8 weights), context 4096, h100": ("h100", "llama3_70b_decode.yaml", []),
    "Llama-3-70B decode step (fp8 weights), context 4096, tpu_v4 (capacity check off)":
        ("tpu_v4", "llama3_70b_decode.yaml", ["scenario.check_capacity=false"]),
    "Llama-3-8B generate, batch 4, 512 + 128 tokens (128 passes), h100": ("h100", "llama3_8b_generate.yaml", []),
}


def measure(hardware: str, workload: str, overrides: list[str]) -> dict:
    """Median wall time of 5 fresh runs after one warm-up, peak RSS, and the run's summary."""
    from simulator.api import run_files

    def run():
        return run_files(hardware, str(ROOT / "workloads" / workload), workload_overrides=overrides)

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
            "ops": s["ops"], "summary": {k: v for k, v in s.items() if isinstance(v, int | float | str)}}


def run_cases(script: str, cases: dict, header: str, row) -> int:
    """`script --one NAME` measures one case and prints it as JSON; `script` alone runs each case in its
    own process (so no case inherits another's imports or caches) and prints `header`, then `row(name, r)`."""
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(*cases[sys.argv[2]])))
        return 0
    print(header)
    for name in cases:
        out = subprocess.run([sys.executable, script, "--one", name], capture_output=True, text=True, check=True)
        print(row(name, json.loads(out.stdout.strip().splitlines()[-1])))
    return 0


def main() -> int:
    return run_cases(__file__, CASES,
                     "| case | simulated (TPOT or TTFT) | ops executed | wall time (s) | peak RSS (MiB) |\n"
                     "|---|---:|---:|---:|---:|",
                     lambda name, r: f"| {name} | {r['simulated_ms']:.3f} ms | {r['ops']:,} | {r['wall_s']:.3f} | "
                                     f"{r['max_rss_mib']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
