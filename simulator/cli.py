"""The `tortoise` command. Bad input ends in one line on stderr and exit status 2, never a traceback.

Start-up is kept short: building the parser imports nothing beyond argparse (no schema, numba, pandas,
simpy or matplotlib; tests/cli/test_startup.py checks it), and each command imports what it needs when it
runs. `run` imports pandas (and with it pyarrow) only to write tables with --out.

`run` as the process's own command also picks how the kernels run (`kernel_choice`), unless the user set
TORTOISE_KERNELS: most runs interpret them and never import numba, whose import and cached kernels would cost
a process about 0.85 s (docs/performance.md, "Start-up and a single step")."""

import argparse
import json
import os
import sys
from pathlib import Path

from simulator import __version__
from simulator.errors import ConfigError, TortoiseError


def cmd_run(args) -> int:
    from simulator.api import LLMResult, run_workload
    from simulator.config.loader import load_chip
    from simulator.mapping.program import MappingError
    from simulator.overrides import split_overrides
    from simulator.progress import ProgressBar
    from simulator.results.output import llm_summary_text, summary_text, training_summary_text, write_outputs

    _check_outputs(args)  # before anything runs: a long simulation is never lost to a bad --out or --trace
    hw_overrides, wl_overrides = split_overrides(args.set)
    chip = load_chip(args.hardware, hw_overrides)
    workload = _workload(args, wl_overrides)
    if getattr(getattr(workload, "scenario", None), "phase", "") == "serve":
        spec = args.workload or f"--model {args.model}"
        raise TortoiseError(f"run: {spec} is a serving workload (scenario.phase: serve); serve it with "
                            f"`tortoise serve {args.hardware} {args.workload or '--model ' + str(args.model)}`")
    if getattr(args, "own_process", False) and not os.environ.get(KERNELS_ENV):
        os.environ[KERNELS_ENV] = kernel_choice(workload)  # read at the first kernel call; run starts no process
    with ProgressBar("simulating passes", minimum=8) as progress:
        try:
            result = run_workload(chip, workload, progress)
        except MappingError as exc:  # the op's chips do not fit this system: name the workload file too
            raise MappingError(f"{args.workload or args.model}: {exc}") from None
    llm = isinstance(result, LLMResult)
    if args.json:
        from simulator.results.output import json_safe

        print(json.dumps(json_safe(result.summary), indent=2, sort_keys=True, allow_nan=False))
    elif llm:
        text = training_summary_text if result.summary["phase"] == "train" else llm_summary_text
        print(text(result.summary, result.breakdown_rows, result.stage_rows, result.link_rows))
    else:
        print(summary_text(result.summary, result.rows))
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print  # stdout stays one JSON document
    if args.out:  # the tables (pandas) are built here, on first read
        extra = {"breakdown": result.breakdown} if llm else {}
        if llm and result.stages is not None:
            extra |= {"stages": result.stages, "links": result.links, "timeline": result.timeline}
        for path in write_outputs(Path(args.out), result.summary, result.table, args.format, extra):
            say(f"wrote {path}")
    if args.trace:
        say(f"wrote {_write_trace(result, Path(args.trace))} (open it in https://ui.perfetto.dev)")
    return 0


def _check_outputs(args) -> None:
    """`--out` can become a run folder (not a file, not another command's folder, writable) and `--trace` a
    file in a writable folder; checked before the simulation."""
    from simulator.results.files import check_file, claim_folder

    if args.out:
        claim_folder(Path(args.out), "run", "--out")
    if args.trace:
        check_file(Path(args.trace), "--trace")
        if args.out and os.path.abspath(args.trace) == os.path.abspath(args.out):
            raise TortoiseError(f"--trace {args.trace}: is the --out folder; give a file name, e.g. "
                                f"{Path(args.out) / 'trace.json'}")


def _write_trace(result, path: Path) -> Path:
    """The trace written whole or not at all (a temporary file renamed over `path`)."""
    from simulator.results.files import temp_path, write_atomic
    from simulator.results.trace import write_trace

    try:
        return write_atomic(path, lambda tmp: write_trace(result, tmp))
    except TortoiseError as exc:  # it names the temporary file
        raise TortoiseError(str(exc).replace(str(temp_path(path)), str(path))) from None


def cmd_serve(args) -> int:
    from simulator.api import collector_paused
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip
    from simulator.overrides import split_overrides
    from simulator.progress import ProgressBar
    from simulator.serving.command import serve

    hw_overrides, wl_overrides = split_overrides(args.set)
    chip = Chip(load_chip(args.hardware, hw_overrides))
    if args.model is not None:
        if args.workload is not None:
            raise TortoiseError(f"serve: give a workload file ({args.workload}) or --model ({args.model}), not both")
        from simulator.workloads.loader import load_llm

        data = {"name": f"{Path(args.model).stem}_serve", "model": args.model, "scenario": {"phase": "serve"}}
        workload = load_llm(data, f"--model {args.model}", Path.cwd(), wl_overrides)
    elif args.workload is None:
        raise TortoiseError("serve: give a serving workload file (e.g. workloads/llama3_8b_serve.yaml, or its name "
                            "llama3_8b_serve), or --model CONFIG")
    else:
        _check_workload_spec(args.workload)
        from simulator.workloads.loader import load_workload

        workload = load_workload(args.workload, wl_overrides)
    with ProgressBar("capacity probes" if args.capacity else "requests served", minimum=1) as progress, \
            collector_paused():
        return serve(args, chip, workload, progress)


def cmd_sweep(args) -> int:
    from simulator.sweep.command import sweep_command

    return sweep_command(args)


def cmd_compare(args) -> int:
    from simulator.overrides import split_overrides
    from simulator.sweep.compare import compare_command

    for spec in args.workload:
        _check_workload_spec(spec)
    if args.model is None:
        if not args.workload:
            raise TortoiseError("compare: give one or more --workload FILE, or --model CONFIG with the scenario "
                                "flags (--phase, --batch, …)")
        _no_scenario_flags(args, "compare")
        return compare_command(args)
    _, wl_overrides = split_overrides(args.set)
    return compare_command(args, [_model_workload(args, wl_overrides, "compare")])


def cmd_plot(args) -> int:
    _matplotlib_config()
    from simulator.report.command import plot_command

    return plot_command(args)


def cmd_report(args) -> int:
    _matplotlib_config()
    from simulator.report.command import report_command

    return report_command(args)


def _matplotlib_config() -> None:
    """Before matplotlib is imported: where HOME cannot be written, its config and font cache go to a per-user
    folder in the temporary folder (MPLCONFIGDIR), instead of a new temporary folder and two lines of warning
    at every start."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    import tempfile

    from simulator.results.files import first_writable

    home = os.path.expanduser("~")
    default = Path(os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")) / "matplotlib"
    if first_writable([default]):
        return
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    found = first_writable([Path(tempfile.gettempdir()) / f"tortoise-{uid}" / "matplotlib"])
    if found:
        os.environ["MPLCONFIGDIR"] = str(found)


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
    """The workload file (or bundled workload name), or a model + scenario built from --model and the scenario
    flags."""
    from simulator.workloads.loader import load_workload

    if args.model is None:
        if args.workload is None:
            raise TortoiseError("run: give a workload file, or --model CONFIG with --phase/--batch/--context (a "
                                "bundled workload goes by its name, e.g. llama3_8b_decode)")
        _no_scenario_flags(args, "run")
        _check_workload_spec(args.workload)
        return load_workload(args.workload, overrides)
    if args.workload is not None:
        raise TortoiseError(f"run: give a workload file ({args.workload}) or --model ({args.model}), not both")
    return _model_workload(args, overrides, "run")


def _scenario_flags(args) -> dict:
    return {name: getattr(args, name) for name in SCENARIO_FLAGS if getattr(args, name) is not None}


def _no_scenario_flags(args, command: str) -> None:
    """The scenario flags describe --model's scenario; with workload files they are a mistake, said so."""
    if args.seq is not None:
        raise TortoiseError(f"{command}: --seq goes with --model; to change a workload file's sequence use "
                            f"--set training.sequence={args.seq}")
    flags = _scenario_flags(args)
    if flags:
        given = ", ".join("--" + name.replace("_", "-") for name in flags)
        raise TortoiseError(f"{command}: {given} go with --model; to change a workload file's scenario use "
                            f"--set scenario.{next(iter(flags))}=…")


def _model_workload(args, overrides: list[str], command: str):
    """The workload --model and the scenario flags describe (as `run` and `compare` take it)."""
    from simulator.workloads.loader import load_llm

    flags = _scenario_flags(args)
    name = f"{Path(args.model).stem}_{flags.get('phase', 'decode')}"
    data = {"name": name, "model": args.model, "scenario": flags}
    if args.seq is not None:
        if flags.get("phase") != "train":
            raise TortoiseError(f"{command}: --seq {args.seq} is a training step's sequence length; it goes with "
                                "--phase train (an inference prompt is --prompt)")
        data["training"] = {"sequence": args.seq}
    return load_llm(data, f"--model {args.model}", Path.cwd(), overrides)


def _check_workload_spec(spec: str) -> None:
    """A bare name that is neither a file nor a bundled workload: one line listing the bundled ones."""
    from simulator.workloads.loader import bundled_dir, resolve_workload_path

    path = Path(spec)
    if resolve_workload_path(spec).exists() or path.parent != Path("."):
        return  # a path: read_mapping says if it is missing
    names = ", ".join(sorted(p.stem for p in bundled_dir().glob("*.yaml")))
    raise TortoiseError(f"{spec}: no such file, nor a bundled workload of that name; bundled: {names}")


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


def _path(text: str) -> str:
    """An argparse type: a path that names something (an empty one would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a folder or file name")
    return text


def cmd_presets(args) -> int:
    from simulator.config.loader import load_chip
    from simulator.config.presets import preset_names, preset_path

    for name in preset_names():
        chip = load_chip(name)
        print(f"{name:<16} {chip.description}  [{preset_path(name)}]")
    return 0


def cmd_validate(args) -> int:
    if args.against:
        return _validate_against_measurements(args)
    if not args.hardware:
        raise ConfigError("tortoise validate", "hardware", "", "name a hardware file or preset to check, or give "
                          "--against measurements to run every public measurement (see tortoise validate -h)")
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    chip = Chip(load_chip(args.hardware, args.set))
    print(f"{args.hardware}: valid — {chip.name}, {chip.cores} cores, "
          f"{chip.peak_flops_per_s(next(iter(chip.mxu.macs_per_pe))) / 1e12:.1f} TFLOP/s peak "
          f"({next(iter(chip.mxu.macs_per_pe))}), {'SRAM (no DRAM)' if chip.sram_only else 'HBM'} "
          f"{chip.config.memory.hbm.bandwidth} (efficiency {chip.config.memory.hbm.efficiency:g}), op overhead "
          f"{chip.op_overhead_cycles} cycles, runtime {chip.runtime.name}")
    e = chip.energy
    far = f"shared SRAM {_pj(e.chip_sram_j)}" if chip.sram_only else f"HBM {_pj(e.hbm_j)}"
    print(f"  energy: node {e.node}; MAC {_pj(e.mac_j.get(next(iter(chip.mxu.macs_per_pe))))} "
          f"({next(iter(chip.mxu.macs_per_pe))}); per byte: SRAM {_pj(e.sram_j)}, L2 {_pj(e.l2_j)}, "
          f"{far}, link hop {_pj(e.link_j)}; static {e.static_w:g} W per chip")
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


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `tortoise: error: run: argument --batch: '0' is not a whole number ≥ 1
    (see tortoise run -h)`, exit status 2, instead of a usage block. Subcommands' parsers are of this class
    too (argparse makes them with the parent's class)."""

    commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str):
        command = self.prog.removeprefix("tortoise").strip()
        self.exit(2, f"tortoise: error: {command + ': ' if command else ''}{' '.join(message.split())} "
                     f"(see {self.prog} -h)\n")

    def parse_args(self, args=None, namespace=None):
        args, extras = self.parse_known_args(args, namespace)
        if extras:  # blamed on the subcommand they were given to
            self.commands.get(getattr(args, "command", None), self).error(f"unrecognized arguments: "
                                                                          f"{' '.join(extras)}")
        return args


SET_HELP = ("override a field (repeatable), e.g. core.mxu.rows=256 (hardware), scenario.batch=8 or ops.0.m=4096 "
            "(workload), model.num_hidden_layers=2 (model), parallel.tp=8 (parallelism), system.chips=4 (system); "
            "prefix hardware. or workload. to choose")
HARDWARE_HELP = "hardware YAML file or preset name (see `tortoise presets`)"
WORKLOAD_HELP = ("workload YAML file (an op list, or a model with a scenario), or a bundled workload's name "
                 "(llama3_8b_decode, gemm_demo, …: the files in workloads/)")


def _model_flags(parser: argparse.ArgumentParser, title: str) -> None:
    """--model and the scenario flags, the same for `run` and `compare`."""
    llm = parser.add_argument_group(title)
    llm.add_argument("--model", metavar="CONFIG", help="a Hugging Face config.json, or a bundled model name "
                     "(llama2_7b, llama3_8b, llama3_70b, mixtral_8x7b, gpt3_175b, qwen3_30b_a3b, …)")
    llm.add_argument("--phase", choices=["prefill", "decode", "generate", "train"],
                     help="default: decode; train: one training step (docs/training.md)")
    llm.add_argument("--batch", type=_whole_number(1), help="sequences at once (default 1; train: per step)")
    llm.add_argument("--seq", type=_whole_number(1), help="train: tokens per sequence (default: --prompt)")
    llm.add_argument("--prompt", type=_whole_number(1), help="prompt tokens per sequence (default 128)")
    llm.add_argument("--context", type=_whole_number(0),
                     help="decode: tokens already in the KV cache (default: prompt)")
    llm.add_argument("--output-tokens", dest="output_tokens", type=_whole_number(1),
                     help="generate: tokens produced per sequence (default 128)")


def _add_run(sub) -> None:
    run = sub.add_parser("run", help="simulate one workload on one chip or a system of chips",
                         description="Simulate one workload on one chip or a system of chips and print its summary.")
    run.add_argument("hardware", help=HARDWARE_HELP)
    run.add_argument("workload", nargs="?", help=WORKLOAD_HELP)
    run.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help=SET_HELP)
    _model_flags(run, "model instead of a workload file")
    run.add_argument("--out", metavar="DIR", type=_path, help="write ops.csv (or .parquet), breakdown.csv, "
                     "summary.json and, on a system, stages.csv (per-chip time split), links.csv and timeline.csv "
                     "(pipeline schedule) here; the run owns the folder (an earlier run's files there are replaced)")
    run.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table format (default csv)")
    run.add_argument("--trace", metavar="FILE.json", type=_path, help="write a Chrome/Perfetto trace: one track "
                     "per core group, DMA, memory level and link, ops as slices (open in https://ui.perfetto.dev)")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object (the keys of "
                     "summary.json) instead of the text; `wrote …` lines go to stderr")
    run.set_defaults(func=cmd_run, exit_at_once=True)


def _add_serve(sub) -> None:
    serve = sub.add_parser("serve", help="simulate an LLM service under load: requests, batching, KV cache, SLOs",
                           description="Serve a stream of requests (arrivals, lengths, a batching policy, a paged KV "
                                       "cache) on one chip or a system and print throughput and the latency "
                                       "distributions (docs/serving.md).")
    serve.add_argument("hardware", help=HARDWARE_HELP)
    serve.add_argument("workload", nargs="?", help="serving workload file with scenario.phase: serve, or a bundled "
                       "one's name (llama3_8b_serve, llama3_70b_serve, …)")
    serve.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help=SET_HELP)
    serve.add_argument("--model", metavar="CONFIG", help="a Hugging Face config.json or bundled model name, served "
                       "with the default serving section (instead of a workload file)")
    load = serve.add_argument_group("the load (each sets a field of the serving: section)")
    load.add_argument("--rate", type=float, metavar="REQ/S", help="arrival rate in requests per second (an offline "
                      "load becomes Poisson)")
    load.add_argument("--arrival", metavar="SPEC", help="poisson:RATE, gamma:RATE,CV, constant:RATE or offline")
    load.add_argument("--requests", type=_whole_number(1), help="how many requests")
    load.add_argument("--prompt", metavar="SPEC", help="prompt lengths: N, fixed:N, uniform:LOW,HIGH or "
                      "lognormal:MEDIAN,SIGMA")
    load.add_argument("--output", metavar="SPEC", help="output lengths, as --prompt")
    load.add_argument("--seed", type=_whole_number(0), help="seed of the request generator (default 0)")
    load.add_argument("--trace-file", dest="trace_file", metavar="FILE", help="replay requests from a JSONL or CSV "
                      "file (arrival_s, prompt_tokens, output_tokens)")
    load.add_argument("--policy", choices=["static", "continuous", "chunked", "disaggregated"],
                      help="batching policy (serving.scheduler.policy)")
    serve.add_argument("--slo", metavar="LIMITS", help="e.g. ttft_p99=2s,tpot_p99=200ms: the latency limits "
                       "goodput and --capacity judge by")
    serve.add_argument("--capacity", action="store_true", help="find the highest request rate whose latencies meet "
                       "the SLOs (a bisection of whole runs)")
    serve.add_argument("--out", metavar="DIR", help="write summary.json, requests.csv and iterations.csv (or "
                       ".parquet; with --capacity also probes.csv) here")
    serve.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table format (default csv)")
    serve.add_argument("--trace", metavar="FILE.json", help="write a Perfetto trace of the first iterations "
                       "(serving.trace_iterations) and of the requests")
    serve.add_argument("--json", action="store_true", help="print the summary as one JSON object instead of the text")
    serve.set_defaults(func=cmd_serve)


def _add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", help="run every design point of a sweep file, in parallel and resumably",
                           description="Validate every point of a sweep file, run those not done yet, and keep "
                                       "every finished row (docs/sweeps.md).")
    sweep.add_argument("sweep_file", metavar="SWEEP", help="sweep YAML file (docs/sweeps.md)")
    sweep.add_argument("--out", metavar="DIR", type=_path, required=True, help="results folder; rerunning with the "
                       "same folder resumes, skipping finished points; one sweep at a time writes to it (a lock)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="run on a dask.distributed cluster, e.g. "
                       "tcp://scheduler-host:8786 (default: local processes)")
    sweep.add_argument("--workers", type=_whole_number(1), help="local processes (default: all cores)")
    sweep.add_argument("--dry-run", dest="dry_run", action="store_true",
                       help="validate every point and list them; run nothing")
    sweep.set_defaults(func=cmd_sweep)


def _add_compare(sub) -> None:
    compare = sub.add_parser("compare", help="two or more designs side by side on the same workloads, with ratios",
                             description="Run every design on every workload and print them side by side, with "
                                         "each design's ratio to the first (docs/compare.md).")
    compare.add_argument("hardware", nargs="+", help="hardware YAML files or preset names; the first is the baseline")
    compare.add_argument("--workload", action="append", default=[], metavar="FILE",
                         help="workload YAML file or bundled workload name (repeat for several)")
    compare.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                         help="override applied to every design or workload, as for `run`")
    _model_flags(compare, "a model with a scenario, as for `run` (instead of or besides --workload)")
    compare.add_argument("--out", metavar="DIR", type=_path, help="write compare.csv, ratios.csv and meta.json here "
                         "(`tortoise plot` and `tortoise report` read the folder)")
    compare.set_defaults(func=cmd_compare)


def _add_plot(sub) -> None:
    plot = sub.add_parser("plot", help="draw a picture from a run, serve, sweep or compare folder",
                          description="Draw one picture from a folder that run, serve, sweep or compare wrote "
                                      "(docs/plots.md).")
    plot.add_argument("folder", metavar="DIR", type=_path, help="a folder written by `run --out`, `serve --out`, "
                      "`sweep --out` or `compare --out`")
    plot.add_argument("--kind", choices=["auto", "line", "heatmap", "pareto", "load", "bars", "roofline", "breakdown",
                                         "timeline", "energy", "cdf", "engine"], default="auto",
                      help="auto: line (sweep), bars (compare), roofline (run), cdf (serve); load: latency and "
                      "throughput against the request rate of a serving sweep; cdf: latency distributions; engine: "
                      "KV cache and queues over time")
    plot.add_argument("--x", metavar="COLUMN", help="x axis: a swept path (core.mxu.rows) or a metric")
    plot.add_argument("--y", metavar="COLUMN", help="y axis: a metric (tokens_per_s) or, for heatmap, a second "
                      "swept path")
    plot.add_argument("--z", metavar="COLUMN", help="heatmap colour: a metric")
    plot.add_argument("--hue", metavar="COLUMN", help="one line or colour per value of this column (e.g. workload)")
    plot.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                      help="keep only rows where COLUMN equals VALUE (repeatable)")
    plot.add_argument("--out", metavar="FILE", type=_path,
                      help="image file: .png, .svg or .pdf (default: DIR/plots/<kind>.png)")
    plot.set_defaults(func=cmd_plot)


def _add_report(sub) -> None:
    report = sub.add_parser("report", help="a design-review document (PDF or self-contained HTML) from run, sweep "
                            "or compare folders", description="Put the configurations, key metrics and the "
                            "pictures that apply into one document (docs/plots.md).")
    report.add_argument("folders", nargs="+", metavar="DIR", type=_path, help="folders written by `run --out`, "
                        "`sweep --out` or `compare --out`, one section each")
    report.add_argument("--out", metavar="FILE", type=_path, required=True,
                        help="review.pdf or review.html (by the suffix)")
    report.add_argument("--title", help="document title (default: from the folders)")
    report.set_defaults(func=cmd_report)


def _add_presets(sub) -> None:
    presets = sub.add_parser("presets", help="list bundled hardware presets",
                             description="List the bundled hardware presets: name, description, file.")
    presets.set_defaults(func=cmd_presets, exit_at_once=True)


def _validate_against_measurements(args) -> int:
    """benchmarks/validate_all.py of the checkout this package runs from (the measurements and their scripts
    live beside the package, not in it)."""
    import runpy

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "validate_all.py"
    if not script.is_file():
        raise ConfigError("tortoise validate --against", "measurements", str(script),
                          "the measurements live in a checkout of the project (benchmarks/validation/); run from "
                          "an editable install of one")
    sys.argv = [str(script), *(["--only", args.only] if args.only else [])]
    return runpy.run_path(str(script))["main"]()


def _add_validate(sub) -> None:
    validate = sub.add_parser("validate", help="check a hardware file and print what it describes",
                              description="Load and check a hardware file (or preset) and print its peak, "
                                          "memory, energy and system.")
    validate.add_argument("hardware", nargs="?", help=HARDWARE_HELP)
    validate.add_argument("--against", choices=["measurements"], help="instead: run every public measurement the "
                          "project holds and print one error table with its budget (benchmarks/validate_all.py, "
                          "docs/validation.md § 0)")
    validate.add_argument("--only", metavar="GROUPS", help="with --against: comma-separated groups (gemm, kernels, "
                          "llm, collectives, training, serving, dram)")
    validate.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                          help="override a hardware field (repeatable), e.g. core.mxu.rows=256")
    validate.set_defaults(func=cmd_validate, exit_at_once=True)


def cmd_memory(args) -> int:
    from simulator.results.memory import memory_command

    return memory_command(args)


def _add_memory(sub) -> None:
    memory = sub.add_parser("memory", help="run an access pattern through a chip's DRAM, cycle by cycle",
                            description="Microbenchmark of the cycle-level DRAM model: a chip's memory (the devices "
                                        "its dram level names) or a memory preset (hbm3, ddr5, …) runs one access "
                                        "pattern; prints achieved bandwidth, latency, row hits and refresh share "
                                        "(docs/memory.md).")
    memory.add_argument("hardware", help=HARDWARE_HELP + ", or a memory preset (configs/memory/: hbm3, ddr5, …)")
    memory.add_argument("--pattern", choices=["stream", "strided", "random", "kv-gather", "rows"], default="stream",
                        help="stream: sequential; strided: --chunk bytes every --stride; random, kv-gather, rows: "
                             "--chunk-byte pieces at random places (default stream)")
    memory.add_argument("--bytes", default="64 MiB", metavar="N", help="bytes moved, e.g. 1GiB (default 64 MiB)")
    memory.add_argument("--concurrency", type=_whole_number(1), metavar="Q", help="bursts outstanding at once "
                        "(default: every controller queue full)")
    memory.add_argument("--read-fraction", dest="read_fraction", type=float, default=1.0, metavar="F",
                        help="fraction of the bytes read, the rest written (default 1)")
    memory.add_argument("--chunk", metavar="BYTES", help="contiguous bytes per piece (strided 256 B, random 64 B, "
                        "kv-gather 32 KiB, rows 8 KiB)")
    memory.add_argument("--stride", metavar="BYTES", help="strided: bytes from one piece to the next (default 8 KiB)")
    memory.add_argument("--seed", type=_whole_number(0), default=1, help="seed of the random places (default 1)")
    memory.add_argument("--devices", type=_whole_number(1), help="with a memory preset: how many devices (default 1)")
    memory.add_argument("--refresh", choices=["per_bank", "all_bank", "none"], help="refresh mode instead of the "
                        "preset's")
    memory.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a chip field, "
                        "e.g. memory.hbm.bandwidth=4TB/s or memory.hbm.dram.devices=6")
    memory.add_argument("--out", metavar="DIR", type=_path, help="write memory.json here")
    memory.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    memory.set_defaults(func=cmd_memory, exit_at_once=True)


COMMANDS = (_add_run, _add_serve, _add_sweep, _add_compare, _add_plot, _add_report, _add_presets, _add_validate,
            _add_memory)


def build_parser() -> argparse.ArgumentParser:
    """The `tortoise` parser: one `_add_<command>` per subcommand (COMMANDS), each documenting its arguments."""
    parser = Parser(prog="tortoise", description="Cycle-level simulator of AI accelerators.")
    parser.add_argument("--version", action="version", version=f"tortoise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    parser.commands = dict(sub.choices)
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
