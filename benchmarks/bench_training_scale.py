"""Wall time of simulating training steps at cluster scale, warm numba cache (issue #12's speed target).

    python benchmarks/bench_training_scale.py

Each case runs in its own process. An untimed Llama-3-8B step on 16 GPUs first loads the imports and
numba's on-disk cache; then the case's first run is timed (`first`: nothing of its system was routed,
reduced or timed before), then the median of 5 more (`warm`: each on a freshly loaded system and
workload, with what mapping and timing computed for the equal system carried over, as in a session or a
sweep worker). Peak memory is the process's maximum resident set (imports included). The target: ≤ 2 s.
"""

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_70B = str(ROOT / "workloads" / "llama3_70b_train.yaml")
CASES = {  # name: (hardware, hardware overrides, workload, workload overrides)
    "Llama-3-70B, 1,024 H100 (TP8 PP4 DP32), h100_superpod_1024":
        ("h100_superpod_1024", [], TRAIN_70B, ["parallel.tp=8", "parallel.pp=4", "parallel.dp=32"]),
    "Llama-3.1-405B, 16,384 H100 (TP8 PP16 DP128), h100_superpod_1024 at system.chips=16384":
        ("h100_superpod_1024", ["system.chips=16384"], TRAIN_70B,
         ["model=llama3_405b", "parallel.tp=8", "parallel.pp=16", "parallel.dp=128",
          "training.global_batch=2048", "training.recompute=full"]),
}
WARM_UP = ("h100_superpod_1024", ["system.chips=16"], str(ROOT / "workloads" / "llama3_8b_train.yaml"),
           ["parallel.tp=8", "parallel.dp=2", "training.global_batch=16", "model.num_hidden_layers=2"])


def measure(hardware: str, hw_sets: list[str], workload: str, sets: list[str]) -> dict:
    from simulator.api import run_files

    def run():
        return run_files(hardware, workload, hw_sets, sets)

    run_files(WARM_UP[0], WARM_UP[2], WARM_UP[1], WARM_UP[3])
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    s = result.summary
    return {"first_s": first, "warm_s": statistics.median(times),
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux reports KiB
            **{k: s[k] for k in ("step_s", "mfu", "chips_used", "collective_groups", "collective_groups_simulated",
                                 "blocks", "blocks_simulated")}}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(*CASES[sys.argv[2]])))
        return 0
    print("| case | simulated step | MFU | collective groups (simulated) | stage blocks (simulated) "
          "| first run (s) | warm (s) | peak RSS (MiB) |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in CASES:
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['step_s']:.3f} s | {100 * r['mfu']:.1f} % | {r['collective_groups']:,} "
              f"({r['collective_groups_simulated']:,}) | {r['blocks']} ({r['blocks_simulated']}) | "
              f"{r['first_s']:.2f} | {r['warm_s']:.2f} | {r['max_rss_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
