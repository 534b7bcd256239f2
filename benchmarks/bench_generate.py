"""Wall time and peak memory of long generations (a prefill, then one decode pass per output token), warm
numba cache, and where the time goes: lowering, mapping, the engine, the results.

    python benchmarks/bench_generate.py

Each case runs in its own process (bench_llm's harness): one untimed run warms numba's on-disk cache and
the imports, then the median of 5 runs is timed, each on a freshly loaded chip and workload. The split
is of one more run, phase by phase, in the same process.
"""

import sys
import time

from bench_llm import ROOT, run_cases  # the same harness: run as `python benchmarks/bench_generate.py`

CASES = {
    "Llama-3-8B, 512-token prompt + 2,048 tokens, batch 4, h100":
        ("h100", "llama3_8b_generate.yaml", ["scenario.output_tokens=2048"]),
    "Llama-3.1-405B, 2,048-token prompt + 512 tokens, batch 1, TP8 × PP8, tpu_v4_4x4x4":
        ("tpu_v4_4x4x4", "llama3_8b_generate.yaml", ["model=llama3_405b", "scenario.prompt=2048",
                                                     "scenario.output_tokens=512", "scenario.batch=1",
                                                     "parallel.tp=8", "parallel.pp=8"]),
}


def split(hardware: str, workload: str, overrides: list[str]) -> dict:
    """Seconds spent lowering, mapping, in the engine and building the results, for one run."""
    from simulator import api
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip
    from simulator.workloads.loader import load_workload
    from simulator.workloads.transformer import lower

    wl = load_workload(str(ROOT / "workloads" / workload), overrides)
    chip = Chip(load_chip(hardware))
    placement = api.placement_for(chip, wl)
    t0 = time.perf_counter()
    passes = lower(wl.model, wl.scenario, wl.parallel)
    t1 = time.perf_counter()
    program = api.map_llm(chip, passes, placement)
    t2 = time.perf_counter()
    from simulator.engine.program import run_program

    run_program(program)
    t3 = time.perf_counter()
    return {"lower_s": t1 - t0, "map_s": t2 - t1, "engine_s": t3 - t2}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--split":
        print({k: round(v, 3) for k, v in split(*CASES[sys.argv[2]]).items()})
        return 0
    return run_cases(__file__, CASES,
                     "| case | passes | simulated | wall time (s) | peak RSS (MiB) |\n|---|---:|---:|---:|---:|",
                     lambda name, r: f"| {name} | {r['summary']['passes']:,} | "
                                     f"{r['summary']['seconds']:.3f} s | {r['wall_s']:.3f} | "
                                     f"{r['max_rss_mib']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
