"""Equivalence of the cycle-level DRAM kernel (kernels/dram.py) with a reference copy of it: every output of
`simulate` (stats, both latency histograms, the command log) compared exactly, case by case, over every
memory preset, pattern, read/write mix, concurrency, refresh and row policy, starvation cap and queue size,
and explicit streams with arrivals and writes. For a rework of the kernel that must not change its figures:

    git show HEAD:simulator/kernels/dram.py > /tmp/dram_ref.py
    python benchmarks/dram_equivalence.py /tmp/dram_ref.py [--quick] [--interpreted]

--interpreted runs both kernels as plain Python (TORTOISE_KERNELS=python), on the cases small enough for it.
Exits 1 at the first difference, naming the case and the output.
"""

import argparse
import importlib.util
import itertools
import sys
import time

import numpy as np

from simulator.config.loader import load_chip
from simulator.config.memory import memory_names
from simulator.hardware import dram as hd
from simulator.kernels import dram as k

PATTERNS = ("stream", "strided", "random", "kv-gather", "rows")
LOG = 1 << 17  # commands kept per case: every command of all but the longest cases


def load_reference(path: str):
    spec = importlib.util.spec_from_file_location("dram_reference_kernel", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def explicit(system, n: int, seed: int, hot: bool) -> tuple:
    """A random explicit stream: addresses over the whole memory (or, `hot`, a few rows of a few banks, where
    queues grow long and the starvation cap binds), a third of them writes, in bursts of arrivals."""
    rng = np.random.default_rng(seed)
    if hot:
        picks = [hd.address_of(system, 0, g, b, r, c) for g in range(min(2, system.spec.bank_groups))
                 for b in range(2) for r in range(3) for c in range(2)]
        addresses = np.array(picks, np.int64)[rng.integers(0, len(picks), n)]
    else:
        addresses = rng.integers(0, system.capacity_bursts, n).astype(np.int64)
    writes = (rng.random(n) < 0.35).astype(np.int64)
    gaps = np.where(rng.random(n) < 0.9, 0, rng.integers(1, 400, n))
    arrivals = np.cumsum(gaps).astype(np.int64)
    return addresses, writes, arrivals


def arguments(system, kind: str, n: int, q: int, read_fraction: float, seed: int = 1, log: int = LOG) -> tuple:
    """The kernel's arguments for one case (as hardware/dram.simulate builds them)."""
    empty = np.zeros(0, np.int64)
    if kind in ("explicit", "hot"):
        no_hash = hd.dram_system(system.spec, system.devices, system.rate, **{
            name: getattr(system, name) for name in hd.CONTROLLER_CHOICES if name != "channel_hash"},
            channel_hash=False)
        addresses, writes, arrivals = explicit(no_hash, n, seed, kind == "hot")
        g = np.zeros(k.N_STREAM, np.int64)
        g[k.G_KIND], g[k.G_COUNT], g[k.G_CHUNK], g[k.G_SPACE] = k.KIND_EXPLICIT, n, 1, system.capacity_bursts
        return (hd.parameters(system, q, log), g, hd.mapping_table(system), addresses, writes,
                arrivals if seed % 2 else empty)
    g = hd.stream_array(system, hd.pattern(kind, seed=seed), n, read_fraction)
    return hd.parameters(system, q, log), g, hd.mapping_table(system), empty, empty, empty


def cases(quick: bool, interpreted: bool):
    """(name, arguments) of every case."""
    scale = 1 if not quick else 4
    presets = memory_names()
    n_main = 2500 if interpreted else 12000 // scale
    concurrencies = (1, 7, 96, None)
    fractions = (1.0, 0.6, 0.0)
    kinds = (*PATTERNS, "explicit", "hot")
    # Every preset × pattern × read mix × concurrency, at the preset's own controller.
    for name, kind, rf, q in itertools.product(presets, kinds, fractions, concurrencies):
        if interpreted and (q == 1 or kind in ("strided", "rows")):
            continue
        if kind in ("explicit", "hot") and rf != 1.0:
            continue
        system = hd.dram_system(name)
        qq = q or hd.default_concurrency(system)
        yield f"{name} {kind} rf={rf} q={qq}", arguments(system, kind, n_main if q != 1 else n_main // 8, qq, rf)
    # Controller variants: refresh, row policy, starvation cap, queue sizes, channel hash.
    variants = [{"refresh": "none"}, {"refresh": "all_bank"}, {"refresh": "per_bank"}, {"row_policy": "closed"},
                {"row_policy": "closed", "refresh": "all_bank"}, {"starvation_cap": 0}, {"starvation_cap": 24},
                {"starvation_cap": 150, "row_policy": "closed"}, {"read_queue": 8, "write_queue": 4},
                {"read_queue": 3, "write_queue": 2, "starvation_cap": 40}, {"channel_hash": False}]
    for name, variant in itertools.product(presets, variants):
        system = hd.dram_system(name, **variant)
        for kind, rf, q in (("random", 0.7, None), ("stream", 0.5, 32), ("hot", 1.0, 64), ("explicit", 1.0, None),
                            ("kv-gather", 0.9, 200), ("strided", 0.3, 5)):
            if interpreted and kind in ("strided", "kv-gather"):
                continue
            qq = q or hd.default_concurrency(system)
            yield (f"{name} {variant} {kind} rf={rf} q={qq}",
                   arguments(system, kind, n_main, qq, rf, seed=len(str(variant))))
    # Several devices, a chip's DRAM at its own rate, long runs (refresh many times over), seeds.
    for label, system in (("hbm2×2", hd.dram_system("hbm2", 2)), ("ddr5@4000", hd.dram_system("ddr5", 1, 4000)),
                          ("h100", hd.chip_dram(load_chip("h100")))):
        for kind, rf in (("random", 1.0), ("random", 0.5), ("stream", 0.8), ("kv-gather", 1.0), ("explicit", 1.0)):
            n = (4000 if interpreted else 200_000 // scale)
            yield f"{label} {kind} rf={rf} long", arguments(system, kind, n, hd.default_concurrency(system), rf,
                                                            seed=3, log=1 << 16)
    if not interpreted:
        for seed in range(2, 2 + 8 // scale):
            system = hd.dram_system(presets[seed % len(presets)], starvation_cap=seed * 30)
            for kind in ("random", "hot", "explicit"):
                yield f"seed {seed} {system.spec.name} {kind}", arguments(system, kind, 30_000 // scale, 64 * seed,
                                                                          0.8, seed=seed)


def same(a, b) -> str | None:
    """What differs between two kernel results, or None."""
    for name, x, y in zip(("stats", "histograms", "log"), a, b, strict=True):
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
            return f"{name}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}, first differences at " \
                   f"{np.argwhere(x != y)[:3].tolist() if x.shape == y.shape else '-'}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="a copy of kernels/dram.py to compare with")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter cases")
    parser.add_argument("--interpreted", action="store_true", help="run both kernels as plain Python")
    args = parser.parse_args()
    ref = load_reference(args.reference)
    if args.interpreted:
        new_f, ref_f = k.simulate.interpret, ref.simulate.interpret
    else:
        new_f, ref_f = k.simulate.compiled, ref.simulate.compiled
    count = bursts = refreshed = written = logged = 0
    t_new = t_ref = 0.0
    for name, case in cases(args.quick, args.interpreted):
        start = time.process_time()
        expected = ref_f(*case)
        t_ref += time.process_time() - start
        start = time.process_time()
        got = new_f(*case)
        t_new += time.process_time() - start
        diff = same(expected, got)
        if diff:
            print(f"DIFFERENT: {name}: {diff}")
            sys.exit(1)
        count += 1
        stats = expected[0]
        bursts += int(stats[k.S_READS] + stats[k.S_WRITES])
        refreshed += stats[k.S_REFS] > 0
        written += stats[k.S_WRITES] > 0
        logged += stats[k.S_LOGGED] > 0
    print(f"{count} cases identical ({bursts} bursts; {refreshed} refresh, {written} write, {logged} log "
          f"commands; reference {t_ref:.1f} s, this kernel {t_new:.1f} s CPU)")


if __name__ == "__main__":
    main()
