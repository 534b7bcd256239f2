"""The `tortoise` command. Bad input ends in one line on stderr and exit status 2, never a traceback."""

import argparse
import sys
from pathlib import Path

from simulator import __version__
from simulator.config.presets import preset_names, preset_path
from simulator.config.schema import ChipConfig
from simulator.errors import ConfigError, TortoiseError
from simulator.workloads.loader import LLMWorkloadSpec, WorkloadSpec

HARDWARE_KEYS = set(ChipConfig.model_fields)
WORKLOAD_KEYS = set(WorkloadSpec.model_fields) | set(LLMWorkloadSpec.model_fields)


def split_overrides(items: list[str]) -> tuple[list[str], list[str]]:
    """Route `--set` paths: an explicit `hardware.` or `workload.` prefix decides; otherwise a path whose
    first part is a hardware field (core, memory, clock, …) goes to the hardware, one whose first part is
    a workload field (scenario, model, ops) to the workload, and anything else is a one-line error."""
    hardware, workload = [], []
    for item in items:
        head = item.split("=", 1)[0].split(".", 1)[0].strip()
        key = item.split("=", 1)[0]
        if head in ("hardware", "workload") and "." in key:
            (hardware if head == "hardware" else workload).append(item.split(".", 1)[1])
        elif head in HARDWARE_KEYS or head in WORKLOAD_KEYS:
            (hardware if head in HARDWARE_KEYS else workload).append(item)
        else:
            raise ConfigError(f"--set {item}", head, head, "not a hardware field (" + ", ".join(sorted(HARDWARE_KEYS))
                              + ") nor a workload field (" + ", ".join(sorted(WORKLOAD_KEYS - HARDWARE_KEYS))
                              + ")")
    return hardware, workload


def cmd_run(args) -> int:
    from simulator.api import LLMResult, run_workload
    from simulator.config.loader import load_chip
    from simulator.results.output import llm_summary_text, summary_text, write_outputs

    hw_overrides, wl_overrides = split_overrides(args.set)
    chip = load_chip(args.hardware, hw_overrides)
    workload = _workload(args, wl_overrides)
    with _Progress() as progress:
        result = run_workload(chip, workload, progress)
    if isinstance(result, LLMResult):
        print(llm_summary_text(result.summary, result.breakdown, result.stages, result.links))
        extra = {"breakdown": result.breakdown}
        if result.stages is not None:
            extra |= {"stages": result.stages, "links": result.links, "timeline": result.timeline}
    else:
        print(summary_text(result.summary, result.table))
        extra = {}
    if args.out:
        for path in write_outputs(Path(args.out), result.summary, result.table, args.format, extra):
            print(f"wrote {path}")
    return 0


SCENARIO_FLAGS = ("phase", "batch", "prompt", "context", "output_tokens")


def _workload(args, overrides: list[str]):
    """The workload file, or a model + scenario built from --model and the scenario flags."""
    from simulator.workloads.loader import load_llm, load_workload

    flags = {name: getattr(args, name) for name in SCENARIO_FLAGS if getattr(args, name) is not None}
    if args.model is None:
        if args.workload is None:
            raise TortoiseError("run: give a workload file, or --model CONFIG.json with --phase/--batch/--context")
        if flags:
            given = ", ".join("--" + name.replace("_", "-") for name in flags)
            raise TortoiseError(f"run: {given} go with --model; to change a workload file's scenario use "
                                f"--set scenario.{next(iter(flags))}=…")
        return load_workload(args.workload, overrides)
    if args.workload is not None:
        raise TortoiseError(f"run: give a workload file ({args.workload}) or --model ({args.model}), not both")
    name = f"{Path(args.model).stem}_{flags.get('phase', 'decode')}"
    data = {"name": name, "model": args.model, "scenario": flags}
    return load_llm(data, f"--model {args.model}", Path.cwd(), overrides)


class _Progress:
    """A progress bar on stderr for runs of many passes (generation); silent for one pass."""

    def __enter__(self):
        self._bar = None
        return self

    def __call__(self, done: int, total: int) -> None:
        if total < 8:
            return
        if self._bar is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("simulating passes"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                                 console=_stderr_console(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("passes", total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


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
    system = chip.config.system
    if system.chips > 1:
        link = system.link
        shape = "×".join(map(str, system.dims)) + " " if system.dims else ""
        print(f"  system: {system.chips} chips, {shape}{system.topology}; each link {link.count} × {link.bandwidth} "
              f"per direction (efficiency {link.efficiency:g}), {link.latency} per hop; collectives "
              f"{system.collectives}")
    return 0


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
    llm.add_argument("--phase", choices=["prefill", "decode", "generate"], help="default: decode")
    llm.add_argument("--batch", type=_whole_number(1), help="sequences at once (default 1)")
    llm.add_argument("--prompt", type=_whole_number(1), help="prompt tokens per sequence (default 128)")
    llm.add_argument("--context", type=_whole_number(0),
                     help="decode: tokens already in the KV cache (default: prompt)")
    llm.add_argument("--output-tokens", dest="output_tokens", type=_whole_number(1),
                     help="generate: tokens produced per sequence (default 128)")
    run.add_argument("--out", metavar="DIR", help="write ops.csv (or .parquet), breakdown.csv, summary.json and, "
                     "on a system, stages.csv (per-chip time split), links.csv and timeline.csv (pipeline "
                     "schedule) here")
    run.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table format")
    run.set_defaults(func=cmd_run)

    presets = sub.add_parser("presets", help="list bundled hardware presets")
    presets.set_defaults(func=cmd_presets)

    validate = sub.add_parser("validate", help="check a hardware file and print what it describes")
    validate.add_argument("hardware")
    validate.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    validate.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
