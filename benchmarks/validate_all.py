"""Every public measurement the project holds against the simulator: one error table (docs/validation.md § 0).

    python benchmarks/validate_all.py                  # prints the table and the error budget
    python benchmarks/validate_all.py --write-docs     # also regenerates docs/validation.md § 0 and
                                                       # benchmarks/validation/summary.json (the committed budget)
    python benchmarks/validate_all.py --only gemm,kernels --json out.json

Each case runs with the software runtime of its measurement (config/runtime.py): microbenchmark harnesses
that synchronize after every call (LLMCompass's A100 sweeps) as `eager_synchronized`, gpt-fast as
`compiled`, training loops as `eager`, CUDA-event timings (cuBLAS, nccl-tests) as `bare`. The signed error is
positive when Tortoise is faster than the hardware: simulated ÷ measured − 1 for a rate, measured ÷ simulated
− 1 for a time. `subset` says whether a constant was derived from the case (`calibration`) or not
(`held-out`); the budget is reported for each. "dominant" is where the simulated time went (report/bottleneck.py).
"""

import argparse
import csv
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "validation"
DOCS = HERE.parent / "docs" / "validation.md"
SUMMARY = DATA / "summary.json"
BEGIN, END = "<!-- validate_all: begin -->", "<!-- validate_all: end -->"
sys.path.insert(0, str(HERE))  # the per-area scripts beside this one


@dataclass(frozen=True)
class Case:
    group: str
    case: str
    measured: float
    simulated: float
    unit: str
    error: float  # signed: + when Tortoise is faster
    subset: str  # calibration or held-out
    runtime: str
    dominant: str
    source: str


def _rate_case(group, case, measured, simulated, unit, subset, runtime, dominant, source) -> Case:
    return Case(group, case, measured, simulated, unit, simulated / measured - 1, subset, runtime, dominant, source)


def _time_case(group, case, measured, simulated, unit, subset, runtime, dominant, source) -> Case:
    return Case(group, case, measured, simulated, unit, measured / simulated - 1, subset, runtime, dominant, source)


def _dominant(summary: dict) -> str:
    from simulator.report.bottleneck import time_split

    split = time_split(summary)
    ranked = sorted(split.items(), key=lambda kv: -kv[1])[:2]
    return ", ".join(f"{name} {share:.0%}" for name, share in ranked)


def _csv(path: Path):
    with path.open() as f:
        yield from csv.DictReader(f)


# An ablation (--ablate) sets these: every chip of the run gets the overrides, a profile replaces every case's.
ABLATION = {"sets": (), "runtime": None}


def _chip(cache: dict, name: str, runtime: str, sets=()):
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    runtime = ABLATION["runtime"] or runtime
    key = (name, runtime, tuple(sets))
    if key not in cache:
        cache[key] = Chip(load_chip(name, [f"runtime={runtime}", *sets, *ABLATION["sets"]]))
    return cache[key]


def gemm_cases(chips: dict):
    """GEMM throughput (benchmarks/validation/*.csv), as benchmarks/validate.py runs it: one GemmOp on the chip."""
    import validate as vg

    for path in sorted(DATA.glob("*.csv")):
        for r in _csv(path):
            runtime = vg.runtime(r)
            s = vg.summary(_chip(chips, r["chip"], runtime), r)
            yield _rate_case("gemm", f"{r['chip']} {r['m']}×{r['n']}×{r['k']} {r['dtype']}",
                             float(r["measured_tflops"]), s["achieved_tflops"], "TFLOP/s",
                             r.get("subset") or "held-out", runtime, _dominant(s), path.name)


KERNEL_RUNTIME = "eager_synchronized"  # LLMCompass's harness: time.time() around the call and a synchronize


def _kernel_op(r: dict):
    """The row's kernel: one fp16 VectorOp over M×N elements in rows of N (1-D for GeLU: M = 1)."""
    from simulator.ir.ops import VECTOR_KINDS, VectorOp

    m, n, kind = int(r["m"]), int(r["n"]), r["kind"]
    inputs, outputs, per = VECTOR_KINDS[kind]
    return VectorOp(kind, kind, m * n, "fp16", inputs, outputs, per, row=n)


def kernel_cases(chips: dict):
    """Memory-bound kernels (benchmarks/validation/kernels/*.csv, LLMCompass's A100 sweeps): one VectorOp."""
    from simulator.api import run_graph
    from simulator.ir.ops import OpGraph

    for path in sorted((DATA / "kernels").glob("*.csv")):
        for r in _csv(path):
            chip, op = _chip(chips, r["chip"], KERNEL_RUNTIME), _kernel_op(r)
            s = run_graph(chip, OpGraph(op.kind, (op,))).summary
            m, n = int(r["m"]), int(r["n"])
            shape = f"{n:,}" if m == 1 else f"{m}×{n}"
            yield _rate_case("kernels", f"{r['chip']} {op.kind} {shape}", float(r["measured_gelem_s"]),
                             op.elements / s["seconds"] / 1e9, "Gelem/s", r["subset"], KERNEL_RUNTIME, _dominant(s),
                             path.name)


def llm_cases(chips: dict):
    """gpt-fast decode (benchmarks/validation/llm/*.csv), as benchmarks/validate_llm.py runs it."""
    import validate_llm as vl

    from simulator.api import run_llm

    for path in sorted((DATA / "llm").glob("*.csv")):
        for r in _csv(path):
            s = run_llm(_chip(chips, r["chip"], vl.RUNTIME), vl.workload(r)).summary
            yield _rate_case("llm decode", f"{r['chip']} {r['model']} {r['weights']} batch {r['batch']}",
                             float(r["measured_tokens_per_s"]), s["tokens_per_s_per_user"], "tok/s", "held-out",
                             vl.RUNTIME, _dominant(s), path.name)


def collective_cases(chips: dict):
    """nccl-tests (benchmarks/validation/collectives/*.csv), as benchmarks/validate_collectives.py runs them."""
    import validate_collectives as vc

    for path in sorted((DATA / "collectives").glob("*.csv")):
        for r in _csv(path):
            chip = _chip(chips, r["system"], "bare")
            p, n = int(r["chips"]), int(r["bytes"])
            seconds, used = vc.simulate(chip, r["kind"], p, n, r["algorithm"])
            subset = "calibration" if r["fit"] == "yes" else "held-out"
            name = f"{r['system']} ×{p} {r['kind']} {n:,} B ({r['algorithm']}: {used})"
            if r["unit"] == "busbw_gb_s":
                yield _rate_case("collectives", name, float(r["measured"]), vc.busbw(r["kind"], p, n, seconds),
                                 "GB/s busbw", subset, "bare", "communication 100%", path.name)
            else:
                yield _time_case("collectives", name, float(r["measured"]), seconds * 1e6, "µs", subset, "bare",
                                 "communication 100%", path.name)




def training_cases(chips: dict):
    """llm-foundry and Megatron-LM steps, as benchmarks/validate_training.py runs them."""
    import validate_training as vt

    from simulator.api import run_llm

    for r in vt.rows("llm_foundry.csv"):
        chip = _chip(chips, r["chip"], vt.RUNTIME)
        s = run_llm(chip, vt.foundry_workload(r)).summary
        yield _rate_case("training", f"llm-foundry {r['chip']} {r['model']} seq {r['sequence']}",
                         float(r["measured_tokens_per_s_per_gpu"]), s["tokens_per_s_per_chip"], "tok/s/GPU",
                         "held-out", vt.RUNTIME, _dominant(s), "training/llm_foundry.csv")
    for r in vt.rows("megatron.csv"):
        gpus = int(r["gpus"])
        chip = _chip(chips, vt.MEGATRON_SYSTEM, vt.RUNTIME, [f"system.chips={gpus}"])
        s = run_llm(chip, vt.megatron_workload(r)).summary
        passes = 4 if r["table"] == "4.1" else 3
        flops = vt.megatron_flops(r, passes) / s["step_s"] / gpus
        if r["table"] == "4.1":
            measured, simulated, unit = float(r["measured_tflops_per_gpu"]), flops / 1e12, "TFLOP/s/GPU"
        else:
            measured, simulated, unit = float(r["measured_mfu"]), flops / vt.A100_PEAK, "MFU"
        yield _rate_case("training", f"Megatron § {r['table']} {r['model']} on {gpus:,}", measured, simulated, unit,
                         "held-out", vt.RUNTIME, _dominant(s), "training/megatron.csv")


def serving_cases(chips: dict, requests: int = 5000):
    """vLLM on one H100 (reference serving.md § 5), as benchmarks/validate_serving.py runs it: the host costs
    per scheduler call and per sequence-step come from the two v0.6.0 rows, so those two rows are the
    calibration subset."""
    import validate_serving as vs

    h, step = vs.host_costs(requests)
    for name, _, _, tok, _, _ in vs.MEASURED:
        s = vs._row(requests, name, h, step)
        subset = "calibration" if name.startswith("v0.6.0") else "held-out"
        yield _rate_case("serving", f"vLLM h100 llama3_8b {name}", tok, s["output_tokens_per_s"], "output tok/s",
                         subset, "bare + host cost", "", "serving.md § 5")


DRAM_MEASURED = (  # chip, measured fraction of peak, what, source
    ("h100", 3240 / 3350, "2^30-element sum, 3,240 GB/s", "measurements.md § 2.1.2"),
)


def dram_cases(chips: dict):
    """The cycle-level DRAM model's streaming bandwidth against a measured streaming kernel."""
    from simulator.config.loader import load_chip
    from simulator.hardware.dram import chip_dram, pattern, simulate

    for name, measured, what, source in DRAM_MEASURED:
        result = simulate(chip_dram(load_chip(name)), pattern("stream"), nbytes=16 << 20)
        yield _rate_case("dram", f"{name} stream ({what})", measured, result.efficiency, "fraction of peak",
                         "held-out", "bare", "memory 100%", source)


def calibrate_harness() -> dict[str, tuple[float, float]]:
    """The `eager_synchronized` profile's host costs per kind from the calibration subset of the kernel sweeps:
    kind → (host cost per call, the part of it after the launch), seconds to a tenth of a microsecond.

    A synchronized call takes h − a + max(a, d): the host's cost before the launch, then the kernel (its device
    time d, the `bare` profile's: the kernel and the chip's op_overhead) beside the host's part after the launch.
    Each kind's pair is the least-squares fit of that form, in log time, to its calibration points (a grid of
    0.1 µs). Softmax's single point gives host_per_kernel, with nothing after the launch (the cost of any
    kernel the sweeps do not single out); the others their kind's host_per_kind and host_after_launch_per_kind.
    tests/test_validation_budget.py checks configs/runtime/eager_synchronized.yaml holds these."""
    import numpy as np
    import validate as vg

    from simulator.api import run_graph
    from simulator.ir.ops import OpGraph

    chips: dict = {}
    points: dict[str, list[tuple[float, float]]] = {}
    for path in sorted((DATA / "kernels").glob("*.csv")):
        for r in _csv(path):
            if r["subset"] != "calibration":
                continue
            op = _kernel_op(r)
            device = run_graph(_chip(chips, r["chip"], "bare"), OpGraph(op.kind, (op,))).summary["seconds"]
            points.setdefault(op.kind, []).append((device, op.elements / (float(r["measured_gelem_s"]) * 1e9)))
    for r in _csv(DATA / "llmcompass_a100_gemm.csv"):  # the GEMM points that calibrate the harness, not the clock
        if r.get("calibrates") == "harness":
            device = vg.summary(_chip(chips, r["chip"], "bare"), r)["seconds"]
            points.setdefault("gemm", []).append((device, _gemm_wall_s(r)))
    out = {}
    step = 1e-7
    for kind, pts in points.items():
        device, measured = (np.array(x) for x in zip(*pts, strict=True))
        if len(pts) == 1:
            out[kind] = (round((measured[0] - device[0]) / step) * step, 0.0)
            continue
        grid = np.arange(0, round(measured.min() / step) + 1) * step  # the host costs no more than a whole call
        best = (np.inf, 0.0, 0.0)
        for a in grid:
            hosts = grid[grid >= a]
            t = hosts[:, None] - a + np.maximum(a, device)[None, :]
            loss = (np.log(t / measured) ** 2).sum(axis=1)
            i = int(loss.argmin())
            if loss[i] < best[0] - 1e-15:
                best = (loss[i], hosts[i], a)
        out[kind] = (round(best[1] / step) * step, round(best[2] / step) * step)
    return out


def _gemm_wall_s(r: dict) -> float:
    """The measured time of a GEMM row (its TFLOP/s over its FLOPs)."""
    return 2 * int(r["m"]) * int(r["n"]) * int(r["k"]) / (float(r["measured_tflops"]) * 1e12)


BOOST_MHZ = {"a100": 1410, "h100": 1830}  # the clocks the datasheet peaks are quoted at (the chips' `clock`)


def calibrate_tensor_clocks() -> dict[str, float]:
    """Each GPU's sustained tensor clock (`core.mxu.gemm.tensor_clock`, MHz) from its `calibrates: tensor_clock`
    GEMM rows: the boost clock × the median of simulated ÷ measured kernel time at the boost clock, where the
    kernel time is the wall clock less the row's harness's fixed cost (its runtime profile's host cost per GEMM
    call and the chip's op_overhead; 0 under `bare`). tests/test_validation_budget.py checks the presets hold
    these, to the MHz."""
    import numpy as np
    import validate as vg

    chips: dict = {}
    ratios: dict[str, list[float]] = {}
    for path in sorted(DATA.glob("*.csv")):
        for r in _csv(path):
            if r.get("calibrates") != "tensor_clock":
                continue
            name, runtime = r["chip"], vg.runtime(r)
            boost = _chip(chips, name, "bare", (f"core.mxu.gemm.tensor_clock={BOOST_MHZ[name]} MHz",))
            device = vg.summary(boost, r)["seconds"]
            harness = _chip(chips, name, runtime)
            fixed = 0.0
            if runtime != "bare":
                fixed = harness.config.runtime.host("gemm").value + harness.op_overhead_cycles / harness.clock_hz
            ratios.setdefault(name, []).append(device / (_gemm_wall_s(r) - fixed))
    return {name: BOOST_MHZ[name] * float(np.median(v)) for name, v in ratios.items()}


GROUPS = {"gemm": gemm_cases, "kernels": kernel_cases, "llm": llm_cases, "collectives": collective_cases,
          "training": training_cases, "serving": serving_cases, "dram": dram_cases}


def _group(group: str) -> list[Case]:
    """One group's cases on fresh chips (a worker process's job)."""
    return list(GROUPS[group]({}))


def collect(groups=tuple(GROUPS), progress=None, workers: int = 1) -> list[Case]:
    """Every case of `groups`, in their order. `workers` > 1 runs the groups in that many processes (the cases are
    deterministic, so the table is the same); an ablation (ABLATION, a patched timing) runs in this process."""
    if workers > 1 and ABLATION == {"sets": (), "runtime": None}:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        slow_first = sorted(groups, key=lambda g: g not in ("training", "serving"))
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            found = dict(zip(slow_first, pool.map(_group, slow_first), strict=True))
        return [case for group in groups for case in found[group]]
    chips: dict = {}
    cases = []
    for group in groups:
        start = time.perf_counter()
        for case in GROUPS[group](chips):
            cases.append(case)
        if progress:
            progress(f"{group}: {time.perf_counter() - start:.1f} s")
    return cases


def budget(cases: list[Case]) -> dict:
    """Median and worst |error|, over all cases and per subset."""
    out = {}
    for subset in ("all", "held-out", "calibration"):
        errors = [abs(c.error) for c in cases if subset == "all" or c.subset == subset]
        if errors:
            worst = max(cases, key=lambda c: abs(c.error) if subset == "all" or c.subset == subset else -1)
            out[subset] = {"cases": len(errors), "median": statistics.median(errors), "worst": max(errors),
                           "worst_case": f"{worst.group}: {worst.case}"}
    return out


# Each modelled effect of issue #17, switched off alone: (name, chip overrides, runtime for every case, what).
EFFECTS = (
    ("runtime profiles", (), "bare", "every case on the `bare` profile: no host cost, nothing fused"),
    ("GPU GEMM execution", ("core.mxu.gemm=null",), None, "the open tile search, no library tiles, split-K, "
     "operand delivery or tensor clock"),
    ("quantized kernels", (), None, "no dequantization work (hardware/quant.with_quant returns the GEMM's cycles)"),
    ("collective library", ("system.library=null",), None, "ideal transfers: no protocols, link share or NVLS "
     "efficiency"),
)


def ablate(groups=tuple(GROUPS), progress=None) -> list[tuple[str, str, list[Case]]]:
    """(effect, what, cases) with each effect off in turn; the serving group runs its own chip and is left
    as it is."""
    from simulator.hardware import timing

    out = []
    for name, sets, runtime, what in EFFECTS:
        ABLATION.update(sets=sets, runtime=runtime)
        original = timing.with_quant
        if name == "quantized kernels":
            timing.with_quant = lambda chip, op, tile, cores, cycles, compute: (cycles, compute, 0)
        try:
            _clear_caches()
            out.append((name, what, collect(groups, progress)))
        finally:
            timing.with_quant = original
            ABLATION.update(sets=(), runtime=None)
            _clear_caches()
    return out


def _clear_caches() -> None:
    """Op timings are memoized per chip config, which the quantization switch does not change (the tile
    chooser's figures leave the dequantization out, so they stay valid)."""
    from simulator.engine import run

    run._TIMERS.clear()


def ablation_text(cases: list[Case], rows) -> str:
    """Per effect: the cases it moves (|error| changes by more than 0.05 points), their median and worst |error|
    with the effect and without it, and the whole budget without it."""
    lines = ["| effect switched off | what that means | cases it moves | their median \\|error\\|: with / without "
             "| their worst: with / without | median over all cases without it |", "|---|---|---:|---:|---:|---:|"]
    for name, what, off in rows:
        moved = [(a, b) for a, b in zip(cases, off, strict=True) if abs(abs(a.error) - abs(b.error)) > 5e-4]
        if moved:
            on_, off_ = [abs(a.error) for a, _ in moved], [abs(b.error) for _, b in moved]
            figures = (f"{statistics.median(on_):.1%} / {statistics.median(off_):.1%} | "
                       f"{max(on_):.1%} / {max(off_):.1%}")
        else:
            figures = "— | —"
        lines.append(f"| {name} | {what} | {len(moved)} | {figures} | {budget(off)['all']['median']:.1%} |")
    return "\n".join(lines)


def _figure(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 10 else f"{x:,.1f}"


def table(cases: list[Case]) -> str:
    lines = ["| group | case | measured | simulated | unit | error | subset | runtime | dominant (simulated) |",
             "|---|---|---:|---:|---|---:|---|---|---|"]
    for c in cases:
        lines.append(f"| {c.group} | {c.case} | {_figure(c.measured)} | {_figure(c.simulated)} | {c.unit} | "
                     f"{c.error:+.1%} | {c.subset} | {c.runtime} | {c.dominant} |")
    return "\n".join(lines)


def budget_text(b: dict) -> str:
    lines = ["| subset | cases | median \\|error\\| | worst \\|error\\| | worst case |", "|---|---:|---:|---:|---|"]
    for subset, v in b.items():
        lines.append(f"| {subset} | {v['cases']} | {v['median']:.1%} | {v['worst']:.1%} | {v['worst_case']} |")
    return "\n".join(lines)


def write_docs(cases: list[Case], b: dict, ablation: str = "") -> None:
    text = DOCS.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    effects = f"\nWhat each effect contributes (`--ablate`: the budget with that effect off alone):\n\n{ablation}\n" \
        if ablation else ""
    block = f"\n{budget_text(b)}\n{effects}\n{table(cases)}\n"
    DOCS.write_text(text[:start] + block + text[end:])
    SUMMARY.write_text(json.dumps({"budget": b, "cases": [asdict(c) for c in cases]}, indent=1,
                                  ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated groups: " + ", ".join(GROUPS))
    parser.add_argument("--json", metavar="FILE", help="write the cases and the budget as JSON")
    parser.add_argument("--workers", type=int, default=1, help="processes to run the groups in (default 1)")
    parser.add_argument("--calibrate", action="store_true", help="print the eager_synchronized profile's host "
                        "costs derived from the calibration subset, and stop")
    parser.add_argument("--ablate", action="store_true", help="also run with each modelled effect off in turn "
                        "and print what each contributes (four more runs)")
    parser.add_argument("--write-docs", action="store_true", help="regenerate docs/validation.md § 0 and "
                        "benchmarks/validation/summary.json")
    args = parser.parse_args()
    if args.calibrate:
        for kind, (host, after) in calibrate_harness().items():
            print(f"{kind}: {host * 1e6:.1f} us, of which {after * 1e6:.1f} us after the launch")
        for chip, mhz in calibrate_tensor_clocks().items():
            print(f"{chip} tensor_clock: {mhz:.0f} MHz")
        return 0
    groups = tuple(args.only.split(",")) if args.only else tuple(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        parser.error(f"--only: unknown group {unknown[0]!r}; the groups are {', '.join(GROUPS)}")
    cases = collect(groups, progress=lambda line: print(line, file=sys.stderr, flush=True), workers=args.workers)
    b = budget(cases)
    print(budget_text(b))
    print()
    print(table(cases))
    if args.json:
        Path(args.json).write_text(json.dumps({"budget": b, "cases": [asdict(c) for c in cases]}, indent=1,
                                              ensure_ascii=False) + "\n")
    ablation = ""
    if args.ablate:
        ablation = ablation_text(cases, ablate(groups, progress=lambda line: print(line, file=sys.stderr, flush=True)))
        print()
        print(ablation)
    if args.write_docs:
        if groups != tuple(GROUPS):
            parser.error("--write-docs needs every group (no --only)")
        write_docs(cases, b, ablation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
