"""Speed of the cycle-level DRAM model (kernels/dram.py, docs/memory.md): bursts simulated per second on one
core, per access pattern, on one HBM3 stack and on the H100's five; and the whole-process time of
`tortoise memory h100 --pattern random --bytes 1GiB` (targets in docs/performance.md: ≥ 1e7 bursts/s, ≤ 10 s).

    python benchmarks/bench_dram.py [--bytes 64MiB] [--skip-command]

Each in-process figure is the best of 3 runs after a warm-up call (numba's cache loaded, the kernel compiled),
timed as CPU time of this process (time.process_time), which moves less than wall time when others share the
machine; the command is timed as a process, wall and CPU (user + system of the child).
"""

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from simulator.config.loader import load_chip
from simulator.config.units import parse_size
from simulator.hardware.dram import chip_dram, dram_system, pattern, simulate

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = ("stream", "strided", "random", "kv-gather")


def bursts_per_s(system, kind: str, nbytes: int) -> tuple[float, float]:
    """(bursts per CPU second, channel visits per burst), best of 3."""
    simulate(system, pattern(kind), 1 << 16)
    best = float("inf")
    result = None
    for _ in range(3):
        start = time.process_time()
        result = simulate(system, pattern(kind), nbytes)
        best = min(best, time.process_time() - start)
    n = result.reads + result.writes
    return n / best, result.visits / n


def command_s(argv: list[str]) -> tuple[float, float]:
    script = Path(sys.executable).parent / "tortoise"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "simulator.cli"]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    subprocess.run(cmd + argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", default="64MiB", help="bytes per in-process run (default 64 MiB)")
    parser.add_argument("--skip-command", action="store_true", help="skip the 1 GiB command")
    args = parser.parse_args()
    nbytes = parse_size(args.bytes)
    systems = {"hbm3 × 1 (32 channels)": dram_system("hbm3"), "h100: hbm3 × 5 (160 channels)": chip_dram(
        load_chip("h100"))}
    print(f"{'memory':<32} {'pattern':<10} {'bursts/s':>10} {'visits/burst':>13}")
    for name, system in systems.items():
        for kind in PATTERNS:
            rate, visits = bursts_per_s(system, kind, nbytes)
            print(f"{name:<32} {kind:<10} {rate:>10.3g} {visits:>13.2f}")
    if not args.skip_command:
        argv = ["memory", "h100", "--pattern", "random", "--bytes", "1GiB"]
        command_s(["memory", "h100", "--bytes", "1MiB"])  # warm: numba's cache read once
        wall, cpu = command_s(argv)
        print(f"tortoise {' '.join(argv)}: {wall:.1f} s wall, {cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
