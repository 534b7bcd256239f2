"""The `tortoise` command. Bad input ends in one line on stderr and exit status 2, never a traceback.

Start-up is kept short: building the parser imports nothing beyond argparse (no schema, numba, pandas,
simpy or matplotlib; tests/cli/test_startup.py checks it), and each command imports what it needs when it
runs. `run` imports pandas (and with it pyarrow) only to write tables with --out.

`run` as the process's own command also picks how the kernels run (`kernel_choice`), unless the user set
TORTOISE_KERNELS: most runs interpret them and never import numba, whose import and cached kernels would cost
a process about 0.85 s (docs/performance.md, "Start-up and a single step")."""

import argparse
import os
import sys
from pathlib import Path

from simulator import __version__
from simulator.errors import TortoiseError


def cmd_run(args) -> int:
    from simulator.api import LLMResult, run_workload
    from simulator.config.loader import load_chip
    from simulator.mapping.program import MappingError
    from simulator.overrides import split_overrides
    from simulator.progress import ProgressBar
    from simulator.results.output import llm_summary_text, summary_text, training_summary_text, write_outputs

    hw_overrides, wl_overrides = split_overrides(args.set)
    chip = load_chip(args.hardware, hw_overrides)
    workload = _workload(args, wl_overrides)
    if getattr(args, "own_process", False) and not os.environ.get(KERNELS_ENV):
        os.environ[KERNELS_ENV] = kernel_choice(workload)  # read at the first kernel call; run starts no process
    with ProgressBar("simulating passes", minimum=8) as progress:
        try:
            result = run_workload(chip, workload, progress)
        except MappingError as exc:  # the op's chips do not fit this system: name the workload file too
            raise MappingError(f"{args.workload or args.model}: {exc}") from None
    llm = isinstance(result, LLMResult)
    if llm:
        text = training_summary_text if result.summary["phase"] == "train" else llm_summary_text
        print(text(result.summary, result.breakdown_rows, result.stage_rows, result.link_rows))
    else:
        print(summary_text(result.summary, result.rows))
    if args.out:  # the tables (pandas) are built here, on first read
        extra = {"breakdown": result.breakdown} if llm else {}
        if llm and result.stages is not None:
            extra |= {"stages": result.stages, "links": result.links, "timeline": result.timeline}
        for path in write_outputs(Path(args.out), result.summary, result.table, args.format, extra):
            print(f"wrote {path}")
    if args.trace:
        from simulator.results.trace import write_trace

        print(f"wrote {write_trace(result, Path(args.trace))} (open it in https://ui.perfetto.dev)")
    return 0


def cmd_sweep(args) -> int:
    from simulator.sweep.command import sweep_command

    return sweep_command(args)


def cmd_compare(args) -> int:
    from simulator.sweep.compare import compare_command

    return compare_command(args)


def cmd_plot(args) -> int:
    from simulator.report.command import plot_command

    return plot_command(args)


def cmd_report(args) -> int:
    from simulator.report.command import report_command

    return report_command(args)


SCENARIO_FLAGS = ("phase", "batch", "prompt", "context", "output_tokens")
KERNELS_ENV = "TORTOISE_KERNELS"  # numba, python or auto: read by kernels/jit.py at the first kernel call
# A generation of more output tokens than this runs the kernels compiled from the start: interpreted, each
# decode step costs about 10 ms of kernels (its attention shapes are new), so past about 80 steps numba's
# load (about 0.85 s) pays for itself.
INTERPRETED_TOKENS = 32


def kernel_choice(workload) -> str:
    """How `tortoise run`, as its own process, runs the kernels when TORTOISE_KERNELS is unset: `numba` for a
    generation of more than INTERPRETED_TOKENS tokens, else `auto`: interpreted, numba never imported, unless
    the interpreted kernels take more than kernels.jit.AUTO_BUDGET_S (0.6 s) in all (then compiled for the
    rest). A single pass is cheaper interpreted, however long: a 1M-token prefill's kernels take about 0.45 s
    (docs/performance.md)."""
    scenario = getattr(workload, "scenario", None)  # an op list has none: a few ops, a single pass
    if scenario is not None and scenario.phase == "generate" and scenario.output_tokens > INTERPRETED_TOKENS:
        return "numba"
    return "auto"


def _workload(args, overrides: list[str]):
    """The workload file, or a model + scenario built from --model and the scenario flags."""
    from simulator.workloads.loader import load_llm, load_workload

    flags = {name: getattr(args, name) for name in SCENARIO_FLAGS if getattr(args, name) is not None}
    if args.model is None:
        if args.workload is None:
            raise TortoiseError("run: give a workload file, or --model CONFIG.json with --phase/--batch/--context")
        if args.seq is not None:
            raise TortoiseError(f"run: --seq goes with --model; to change a workload file's sequence use "
                                f"--set training.sequence={args.seq}")
        if flags:
            given = ", ".join("--" + name.replace("_", "-") for name in flags)
            raise TortoiseError(f"run: {given} go with --model; to change a workload file's scenario use "
                                f"--set scenario.{next(iter(flags))}=…")
        return load_workload(args.workload, overrides)
    if args.workload is not None:
        raise TortoiseError(f"run: give a workload file ({args.workload}) or --model ({args.model}), not both")
    name = f"{Path(args.model).stem}_{flags.get('phase', 'decode')}"
    data = {"name": name, "model": args.model, "scenario": flags}
    if args.seq is not None:
        if flags.get("phase") != "train":
            raise TortoiseError(f"run: --seq {args.seq} is a training step's sequence length; it goes with --phase "
                                "train (an inference prompt is --prompt)")
        data["training"] = {"sequence": args.seq}
    return load_llm(data, f"--model {args.model}", Path.cwd(), overrides)


def _whole_number(minimum: int):
    """An argparse type: an integer ≥ `minimum`, or argparse's one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ≥ {minimum}")
        return value

    return parse


def cmd_presets(args) -> int:
    from simulator.config.loader import load_chip
    from simulator.config.presets import preset_names, preset_path

    for name in preset_names():
        chip = load_chip(name)
        print(f"{name:<16} {chip.description}  [{preset_path(name)}]")
    return 0


def cmd_validate(args) -> int:
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    chip = Chip(load_chip(args.hardware, args.set))
    print(f"{args.hardware}: valid — {chip.name}, {chip.cores} cores, "
          f"{chip.peak_flops_per_s(next(iter(chip.mxu.macs_per_pe))) / 1e12:.1f} TFLOP/s peak "
          f"({next(iter(chip.mxu.macs_per_pe))}), HBM {chip.config.memory.hbm.bandwidth} "
          f"(efficiency {chip.config.memory.hbm.efficiency:g}), op overhead {chip.op_overhead_cycles} cycles")
    e = chip.energy
    print(f"  energy: node {e.node}; MAC {_pj(e.mac_j.get(next(iter(chip.mxu.macs_per_pe))))} "
          f"({next(iter(chip.mxu.macs_per_pe))}); per byte: SRAM {_pj(e.sram_j)}, L2 {_pj(e.l2_j)}, "
          f"HBM {_pj(e.hbm_j)}, link hop {_pj(e.link_j)}; static {e.static_w:g} W per chip")
    system = chip.config.system
    if system.chips > 1:
        link = system.link
        shape = "×".join(map(str, system.dims)) + " " if system.dims else ""
        print(f"  system: {system.chips} chips, {shape}{system.topology}; each link {link.count} × {link.bandwidth} "
              f"per direction (efficiency {link.efficiency:g}), {link.latency} per hop; collectives "
              f"{system.collectives}")
    return 0


def _pj(joules: float) -> str:
    return f"{joules * 1e12:.3g} pJ"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tortoise", description="Cycle-level simulator of AI accelerators.")
    parser.add_argument("--version", action="version", version=f"tortoise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate one workload on one chip or a system of chips")
    run.add_argument("hardware", help="hardware YAML file or preset name (see `tortoise presets`)")
    run.add_argument("workload", nargs="?", help="workload YAML file (an op list, or a model with a scenario)")
    run.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                     help="override a field, e.g. core.mxu.rows=256 (hardware), scenario.batch=8 or ops.0.m=4096 "
                          "(workload), model.num_hidden_layers=2 (model), parallel.tp=8 (parallelism), "
                          "system.chips=4 (system)")
    llm = run.add_argument_group("model instead of a workload file")
    llm.add_argument("--model", metavar="CONFIG", help="a Hugging Face config.json, or a bundled model name "
                     "(llama2_7b, llama3_8b, llama3_70b, mixtral_8x7b, gpt3_175b, qwen3_30b_a3b)")
    llm.add_argument("--phase", choices=["prefill", "decode", "generate", "train"],
                     help="default: decode; train: one training step (docs/training.md)")
    llm.add_argument("--batch", type=_whole_number(1), help="sequences at once (default 1; train: per step)")
    llm.add_argument("--seq", type=_whole_number(1), help="train: tokens per sequence (default: --prompt)")
    llm.add_argument("--prompt", type=_whole_number(1), help="prompt tokens per sequence (default 128)")
    llm.add_argument("--context", type=_whole_number(0),
                     help="decode: tokens already in the KV cache (default: prompt)")
    llm.add_argument("--output-tokens", dest="output_tokens", type=_whole_number(1),
                     help="generate: tokens produced per sequence (default 128)")
    run.add_argument("--out", metavar="DIR", help="write ops.csv (or .parquet), breakdown.csv, summary.json and, "
                     "on a system, stages.csv (per-chip time split), links.csv and timeline.csv (pipeline "
                     "schedule) here")
    run.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table format")
    run.add_argument("--trace", metavar="FILE.json", help="write a Chrome/Perfetto trace: one track per core group, "
                     "DMA, memory level and link, ops as slices (open in https://ui.perfetto.dev)")
    run.set_defaults(func=cmd_run, exit_at_once=True)

    sweep = sub.add_parser("sweep", help="run every design point of a sweep file, in parallel and resumably")
    sweep.add_argument("sweep_file", metavar="SWEEP", help="sweep YAML file (docs/sweeps.md)")
    sweep.add_argument("--out", metavar="DIR", required=True, help="results folder; rerunning with the same folder "
                       "resumes, skipping finished points")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="run on a dask.distributed cluster, e.g. "
                       "tcp://scheduler-host:8786 (default: local processes)")
    sweep.add_argument("--workers", type=_whole_number(1), help="local processes (default: all cores)")
    sweep.add_argument("--dry-run", dest="dry_run", action="store_true",
                       help="validate every point and list them; run nothing")
    sweep.set_defaults(func=cmd_sweep)

    compare = sub.add_parser("compare", help="two or more designs side by side on the same workloads, with ratios")
    compare.add_argument("hardware", nargs="+", help="hardware YAML files or preset names; the first is the baseline")
    compare.add_argument("--workload", action="append", required=True, metavar="FILE",
                         help="workload YAML file (repeat for several)")
    compare.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                         help="override applied to every design or workload, as for `run`")
    compare.add_argument("--out", metavar="DIR", help="write compare.csv, ratios.csv and meta.json here "
                         "(`tortoise plot` and `tortoise report` read the folder)")
    compare.set_defaults(func=cmd_compare)

    plot = sub.add_parser("plot", help="draw a picture from a run, sweep or compare folder")
    plot.add_argument("folder", metavar="DIR", help="a folder written by `run --out`, `sweep --out` or "
                      "`compare --out`")
    plot.add_argument("--kind", choices=["auto", "line", "heatmap", "pareto", "bars", "roofline", "breakdown",
                                         "timeline", "energy"], default="auto",
                      help="auto: line (sweep), bars (compare), roofline (run)")
    plot.add_argument("--x", metavar="COLUMN", help="x axis: a swept path (core.mxu.rows) or a metric")
    plot.add_argument("--y", metavar="COLUMN", help="y axis: a metric (tokens_per_s) or, for heatmap, a second "
                      "swept path")
    plot.add_argument("--z", metavar="COLUMN", help="heatmap colour: a metric")
    plot.add_argument("--hue", metavar="COLUMN", help="one line or colour per value of this column (e.g. workload)")
    plot.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                      help="keep only rows where COLUMN equals VALUE (repeatable)")
    plot.add_argument("--out", metavar="FILE", help="image file: .png, .svg or .pdf (default: DIR/plots/<kind>.png)")
    plot.set_defaults(func=cmd_plot)

    report = sub.add_parser("report", help="a design-review document (PDF or self-contained HTML) from run, sweep "
                            "or compare folders")
    report.add_argument("folders", nargs="+", metavar="DIR")
    report.add_argument("--out", metavar="FILE", required=True, help="review.pdf or review.html")
    report.add_argument("--title", help="document title (default: from the folders)")
    report.set_defaults(func=cmd_report)

    presets = sub.add_parser("presets", help="list bundled hardware presets")
    presets.set_defaults(func=cmd_presets, exit_at_once=True)

    validate = sub.add_parser("validate", help="check a hardware file and print what it describes")
    validate.add_argument("hardware")
    validate.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    validate.set_defaults(func=cmd_validate, exit_at_once=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command of `argv` (default: the process's arguments) and return its exit status. Called as the
    process's own command (no `argv`), `run`, `presets` and `validate` end the process as soon as their
    output is flushed (see `_exit_at_once`), and `run` picks how the kernels run (see `kernel_choice`)."""
    args = build_parser().parse_args(argv)
    args.own_process = argv is None  # nothing else in this process shares its kernels: `run` may pick their mode
    if args.own_process and getattr(args, "exit_at_once", False):
        # Before numpy is imported: starting OpenBLAS's thread pool costs a start about 50 ms on 2 cores, and
        # nothing here multiplies matrices.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = _run(args)
    if argv is None and getattr(args, "exit_at_once", False):
        _exit_at_once(code)
    return code


def _exit_at_once(code: int) -> None:
    """End the process without the interpreter's teardown (about 0.3 s of freeing numba, pandas and pydantic
    objects). Safe for the commands that ask for it: they start no threads or processes, every file they
    write is closed when they return, and nothing of theirs runs at exit; stdout and stderr are flushed here."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: let the normal exit report it
        return
    os._exit(code if isinstance(code, int) else 0)


def _run(args) -> int:
    try:
        return args.func(args)
    except TortoiseError as exc:
        print(f"tortoise: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:  # e.g. an op of billions of tiles, from an absurd scenario with the capacity check off
        print("tortoise: error: out of memory while simulating; the workload is too large to simulate here "
              "(lower scenario.batch, scenario.prompt or the context)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tortoise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tortoise run … | head`: the reader left; what it read is all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return 0


if __name__ == "__main__":
    sys.exit(main())
