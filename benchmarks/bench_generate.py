"""Wall time and peak memory of long generations (a prefill, then one decode pass per output token), as a
CLI call sees them, and where the time goes: lowering, mapping, the engine, the results.

    python benchmarks/bench_generate.py [--runs N]

Each run is its own process: it first loads numba's cached kernels and the imports with a small unrelated
run (gemm_demo on systolic_32x32, so no tile choice or timing of the case is cached), then times the whole
call once (what a CLI call waits for) and once more (an equal config: mapping and timings reused). A second
process per run times the phases of a first call. Medians over the runs (default 3); peak memory is the
largest maximum resident set of a process at the end of its first call, imports included.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "Llama-3-8B, 512-token prompt + 2,048 tokens, batch 4, h100":
        ("h100", "llama3_8b_generate.yaml", ["scenario.output_tokens=2048"]),
    "Llama-3.1-405B, 2,048-token prompt + 512 tokens, batch 1, TP8 × PP8, tpu_v4_4x4x4":
        ("tpu_v4_4x4x4", "llama3_8b_generate.yaml", ["model=llama3_405b", "scenario.prompt=2048",
                                                     "scenario.output_tokens=512", "scenario.batch=1",
                                                     "parallel.tp=8", "parallel.pp=8"]),
}


def one(hardware: str, workload: str, overrides: list[str], mode: str) -> dict:
    """One cold run of the case in this process: the whole call (`full`), or its phases (`split`)."""
    from simulator import api
    from simulator.config.loader import load_chip
    from simulator.engine.program import run_program
    from simulator.hardware.chip import Chip
    from simulator.workloads.loader import load_workload
    from simulator.workloads.transformer import lower

    api.run_files(str(ROOT / "configs/systolic_32x32.yaml"), str(ROOT / "workloads/gemm_demo.yaml"))  # numba, imports
    path = str(ROOT / "workloads" / workload)
    t0 = time.perf_counter()
    if mode == "full":
        result = api.run_files(hardware, path, workload_overrides=overrides)
        t1 = time.perf_counter()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the first call's peak, imports included
        summary = result.summary
        del result
        again = api.run_files(hardware, path, workload_overrides=overrides)  # equal config: mapping reused
        t2 = time.perf_counter()
        assert again.summary == summary
        return {"first_s": t1 - t0, "again_s": t2 - t1, "rss_mib": rss, "passes": summary["passes"],
                "simulated_s": summary["seconds"]}
    wl = load_workload(path, overrides)
    chip = Chip(load_chip(hardware))
    passes = lower(wl.model, wl.scenario, wl.parallel)
    t1 = time.perf_counter()
    program = api.map_llm(chip, passes, api.placement_for(chip, wl))
    t2 = time.perf_counter()
    run_program(program)
    t3 = time.perf_counter()
    return {"lower_s": t1 - t0, "map_s": t2 - t1, "engine_s": t3 - t2}


def _run(name: str, mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", name, "--mode", mode], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="full", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*CASES[args.one], args.mode)))
        return 0
    print("| case | passes | simulated | first call (s) | lower / map / engine (s) | same call again (s) "
          "| peak RSS (MiB) |\n|---|---:|---:|---:|---:|---:|---:|")
    for name in CASES:
        full = [_run(name, "full") for _ in range(args.runs)]
        split = [_run(name, "split") for _ in range(args.runs)]
        med = {k: statistics.median(r[k] for r in full) for k in ("first_s", "again_s", "simulated_s")}
        med |= {k: statistics.median(r[k] for r in split) for k in ("lower_s", "map_s", "engine_s")}
        print(f"| {name} | {full[0]['passes']:,} | {med['simulated_s']:.3f} s | {med['first_s']:.2f} | "
              f"{med['lower_s']:.2f} / {med['map_s']:.2f} / {med['engine_s']:.2f} | {med['again_s']:.2f} | "
              f"{max(r['rss_mib'] for r in full):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
