"""What the `banked` memory model (memory-level parallelism over the DRAM model's fast path, docs/memory.md)
adds to a Llama-3-8B decode step: configs/examples/h100_banked.yaml against the same file with
`memory.hbm.model=rate` (both read the same two YAML files, so only the timing model differs).

    python benchmarks/bench_mlp.py

First, each model's first run in a fresh process (imports done before the clock starts; every op mapped and
timed; under `banked` the DRAM kernel loaded from numba's cache, the fast-path tables read from disk — built
first if none are there — and each shape's limit computed once). Then, in one process after an untimed `rate`
run, the first `banked` run and the median of 15 later runs of each, interleaved (fresh chip and workload; what
an equal config computed carries over, hardware.chip.stand_in). Target (issue 15): the memoized fast path
adds ≤ 5 % to a decode step.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

from simulator.api import run_files

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = str(ROOT / "workloads" / "llama3_8b_decode.yaml")
HARDWARE = str(ROOT / "configs/examples/h100_banked.yaml")
RUNS = 15
CASES = {"rate (h100_banked.yaml, model=rate)": ["memory.hbm.model=rate"], "banked (h100_banked.yaml)": []}


def timed(overrides: list[str]) -> float:
    start = time.perf_counter()
    run_files(HARDWARE, WORKLOAD, overrides)
    return time.perf_counter() - start


FIRST = """
import time
from simulator.api import run_files
import simulator.hardware.timing, simulator.mapping.program  # imported before the clock starts
start = time.perf_counter()
run_files({hardware!r}, {workload!r}, {overrides!r})
print(time.perf_counter() - start)
"""


def first_run(overrides: list[str]) -> float:
    """Seconds of the first run in a fresh process (imports done, nothing memoized: every op mapped and timed;
    under `banked` the DRAM kernel loaded from numba's cache and the tables read from disk)."""
    code = FIRST.format(hardware=HARDWARE, workload=WORKLOAD, overrides=overrides)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def main() -> None:
    firsts = {name: statistics.median(first_run(overrides) for _ in range(3)) for name, overrides in CASES.items()}
    print("First run in a fresh process (median of 3, seconds)")
    for name, seconds in firsts.items():
        print(f"  {name:38s} {seconds:8.4f}")
    rate_first, banked_first = firsts.values()
    print(f"  banked adds {100 * (banked_first / rate_first - 1):+.1f} %")
    rate, banked = CASES.values()
    timed(rate)
    first = timed(banked)
    times = {name: [] for name in CASES}
    for _ in range(RUNS):  # interleaved, so both see the same state of the machine and of the heap
        for name, overrides in CASES.items():
            times[name].append(timed(overrides))
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    print(f"Later runs, memoized (median of {RUNS}, interleaved, seconds)")
    for name, seconds in medians.items():
        print(f"  {name:38s} {seconds:8.4f}")
    rate, banked = medians.values()
    print(f"  banked adds {100 * (banked / rate - 1):+.1f} % per run; its first run after a rate run {first:.2f} s")


if __name__ == "__main__":
    main()
