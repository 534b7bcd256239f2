"""Wall time and peak memory of simulating multi-chip LLM passes, warm numba cache.

    python benchmarks/bench_system.py

Each case runs in its own process: one untimed run warms numba's on-disk cache and the imports, then
the median of 5 runs is timed, each on a freshly loaded system and workload; what mapping and timing
computed for an equal config carries over from the warm-up (hardware.chip.stand_in), as in a session or a sweep worker.
Peak memory is the process's maximum resident set size (imports included).
"""

import sys

from bench_llm import run_cases  # the same harness: run as `python benchmarks/bench_system.py`

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


def main() -> int:
    return run_cases(__file__, CASES,
                     "| case | simulated (TPOT or TTFT) | exposed comm | ops executed | wall time (s) "
                     "| peak RSS (MiB) |\n"
                     "|---|---:|---:|---:|---:|---:|",
                     lambda name, r: f"| {name} | {r['simulated_ms']:.3f} ms | "
                                     f"{100 * r['summary']['exposed_comm_share']:.1f} % | {r['ops']:,} | "
                                     f"{r['wall_s']:.3f} | {r['max_rss_mib']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
