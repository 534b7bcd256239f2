"""The `tortoise` command. Bad input ends in one line on stderr and exit status 2, never a traceback."""

import argparse
import sys
from pathlib import Path

from simulator import __version__
from simulator.config.presets import preset_names, preset_path
from simulator.config.schema import ChipConfig
from simulator.errors import TortoiseError

HARDWARE_KEYS = set(ChipConfig.model_fields)


def split_overrides(items: list[str]) -> tuple[list[str], list[str]]:
    """Route `--set` paths: an explicit `hardware.` or `workload.` prefix decides; otherwise a path whose
    first part is a hardware field (core, memory, clock, …) goes to the hardware, the rest to the workload."""
    hardware, workload = [], []
    for item in items:
        head = item.split("=", 1)[0].split(".", 1)[0].strip()
        key = item.split("=", 1)[0]
        if head in ("hardware", "workload") and "." in key:
            (hardware if head == "hardware" else workload).append(item.split(".", 1)[1])
        else:
            (hardware if head in HARDWARE_KEYS else workload).append(item)
    return hardware, workload


def cmd_run(args) -> int:
    from simulator.api import run_files
    from simulator.results.output import summary_text, write_outputs

    hw_overrides, wl_overrides = split_overrides(args.set)
    result = run_files(args.hardware, args.workload, hw_overrides, wl_overrides)
    print(summary_text(result.summary, result.table))
    if args.out:
        for path in write_outputs(Path(args.out), result.summary, result.table, args.format):
            print(f"wrote {path}")
    return 0


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
          f"({next(iter(chip.mxu.macs_per_pe))}), HBM {chip.config.memory.hbm.bandwidth}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tortoise", description="Cycle-level simulator of AI accelerators.")
    parser.add_argument("--version", action="version", version=f"tortoise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate one workload on one chip")
    run.add_argument("hardware", help="hardware YAML file or preset name (see `tortoise presets`)")
    run.add_argument("workload", help="workload YAML file")
    run.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                     help="override a field, e.g. core.mxu.rows=256 (hardware) or ops.0.m=4096 (workload)")
    run.add_argument("--out", metavar="DIR", help="write ops.csv (or ops.parquet) and summary.json here")
    run.add_argument("--format", choices=["csv", "parquet"], default="csv", help="per-op table format")
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
    except KeyboardInterrupt:
        print("tortoise: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
