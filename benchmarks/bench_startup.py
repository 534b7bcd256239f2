"""Start-up and a single step: whole-process wall time of `tortoise --help` and of one `tortoise run`, and the
in-process time of one Llama-3-8B decode step, warm numba cache.

    python benchmarks/bench_startup.py

Each command runs as its own process, the way a user types it (the `tortoise` script installed beside this
Python, else `python -m simulator.cli`): one untimed warm-up, then the median of 5. The bare interpreter
(`python -c pass`, which runs site-packages' .pth files) is the floor under both. The in-process step is
`api.run_files` on a freshly loaded chip and workload, the median of 20 after one warm-up. Each figure is
given as wall time and as CPU time (user + system), which moves less when others share the machine.
"""

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARDWARE, WORKLOAD = "h100", "workloads/llama3_8b_decode.yaml"


def tortoise() -> list[str]:
    script = Path(sys.executable).parent / "tortoise"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "simulator.cli"]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_s(argv: list[str], runs: int = 5) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `argv` as a process, after one untimed warm-up.
    CPU time moves less than wall time when other work shares the cores."""
    walls, cpus = [], []
    for i in range(runs + 1):
        start, cpu = time.perf_counter(), _children_cpu_s()
        subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu_s() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def step_s(runs: int = 20) -> tuple[float, float]:
    """Median wall and CPU time in-process of one decode step (load chip and workload, simulate, summarize)."""
    from simulator.api import run_files

    hardware, workload = str(ROOT / "configs" / f"{HARDWARE}.yaml"), str(ROOT / WORKLOAD)
    run_files(hardware, workload)
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        run_files(hardware, workload)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    cli = tortoise()
    shown = "tortoise" if len(cli) == 1 else "python -m simulator.cli"
    rows = [
        ("`python -c pass` (the interpreter alone)", process_s([sys.executable, "-c", "pass"]), "whole process"),
        (f"`{shown} --help`", process_s([*cli, "--help"]), "whole process"),
        (f"`{shown} run {HARDWARE} {WORKLOAD}`", process_s([*cli, "run", HARDWARE, WORKLOAD]), "whole process"),
        ("Llama-3-8B decode step, `api.run_files` (h100)", step_s(), "in-process"),
    ]
    print("| what | measured | wall time | CPU time |\n|---|---|---:|---:|")
    for name, (wall, cpu), how in rows:
        print(f"| {name} | {how} | {wall * 1e3:.1f} ms | {cpu * 1e3:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
