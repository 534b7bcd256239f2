"""Start-up and a single step: whole-process wall time of `tortoise --help` and of `tortoise run` with the kernels
as the command picks them (interpreted, for these runs) and compiled (TORTOISE_KERNELS=numba, warm numba cache),
for a Llama-3-8B decode step and a 128k-token prefill; the time the interpreted kernels take inside those runs;
and the in-process time of one decode step.

    python benchmarks/bench_startup.py [--runs N]

Each command runs as its own process, the way a user types it (the `tortoise` script installed beside this
Python, else `python -m simulator.cli`): one untimed warm-up, then the median of N (default 5). The bare
interpreter (`python -c pass`, which runs site-packages' .pth files) is the floor under all. Each figure is
given as wall time and as CPU time (user + system), which moves less when others share the machine. The
interpreted kernels' time is `kernels.jit.interpreted_seconds()` after one in-process run in a fresh process
(TORTOISE_KERNELS=auto). The in-process step is `api.run_files` on a freshly loaded chip and workload, the
median of 20 after one warm-up, kernels compiled.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARDWARE = "h100"
DECODE = ["workloads/llama3_8b_decode.yaml"]
PREFILL = ["workloads/llama3_8b_prefill.yaml", "--set", "scenario.prompt=131072", "--set",
           "scenario.check_capacity=false", "--set", "model.max_position_embeddings=131072"]  # past Llama-3-8B's 8k
ENV = "TORTOISE_KERNELS"


def tortoise() -> list[str]:
    script = Path(sys.executable).parent / "tortoise"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "simulator.cli"]


def _env(kernels: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    return env if kernels is None else env | {ENV: kernels}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_s(argv: list[str], runs: int, kernels: str | None = None) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `argv` as a process, after one untimed warm-up.
    `kernels`: TORTOISE_KERNELS for it (None: unset, the command picks)."""
    walls, cpus = [], []
    for i in range(runs + 1):
        start, cpu = time.perf_counter(), _children_cpu_s()
        subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=_env(kernels))
        if i:
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu_s() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def interpreted_s(args: list[str], runs: int) -> float:
    """Median over fresh processes of the time the interpreted kernels take in one run of `args`."""
    code = ("import contextlib, io, sys\nfrom simulator.cli import main\nfrom simulator.kernels import jit\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(sys.argv[1:])\n"
            "print(jit.interpreted_seconds(), jit.mode())")
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code, "run", HARDWARE, *args], cwd=ROOT, check=True,
                             capture_output=True, text=True, env=_env("auto")).stdout.split()
        if out[1] != "auto":
            sys.exit(f"the interpreted kernels of {args} took longer than auto's budget and it switched to numba")
        times.append(float(out[0]))
    return statistics.median(times)


def step_s(runs: int = 20) -> tuple[float, float]:
    """Median wall and CPU time in-process of one decode step (load chip and workload, simulate, summarize)."""
    from simulator.api import run_files

    hardware, workload = str(ROOT / "configs" / f"{HARDWARE}.yaml"), str(ROOT / DECODE[0])
    run_files(hardware, workload)
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        run_files(hardware, workload)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed processes per command (default 5)")
    runs = parser.parse_args().runs
    cli = tortoise()
    shown = "tortoise" if len(cli) == 1 else "python -m simulator.cli"
    decode, prefill = f"`{shown} run {HARDWARE} {DECODE[0]}`", f"`{shown} run {HARDWARE} {' '.join(PREFILL)}`"
    rows = [
        ("`python -c pass` (the interpreter alone)", process_s([sys.executable, "-c", "pass"], runs)),
        (f"`{shown} --help`", process_s([*cli, "--help"], runs)),
        (f"{decode}, kernels interpreted (the command's pick)", process_s([*cli, "run", HARDWARE, *DECODE], runs)),
        (f"{decode}, TORTOISE_KERNELS=numba", process_s([*cli, "run", HARDWARE, *DECODE], runs, "numba")),
        (f"{prefill}, kernels interpreted (the command's pick)", process_s([*cli, "run", HARDWARE, *PREFILL], runs)),
        (f"{prefill}, TORTOISE_KERNELS=numba", process_s([*cli, "run", HARDWARE, *PREFILL], runs, "numba")),
    ]
    print("| what | wall time | CPU time |\n|---|---:|---:|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {wall * 1e3:.1f} ms | {cpu * 1e3:.1f} ms |")
    print(f"| interpreted kernels inside the decode run | {interpreted_s(DECODE, runs) * 1e3:.1f} ms | |")
    print(f"| interpreted kernels inside the 128k prefill run | {interpreted_s(PREFILL, runs) * 1e3:.1f} ms | |")
    wall, cpu = step_s()
    print(f"| Llama-3-8B decode step in-process, `api.run_files` (h100), compiled | {wall * 1e3:.1f} ms | "
          f"{cpu * 1e3:.1f} ms |")
    if sys.flags.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("\nnote: PYTHONDONTWRITEBYTECODE is set, so modules without a cached .pyc are compiled at every start")
    return 0


if __name__ == "__main__":
    sys.exit(main())
