"""Simulated vs measured LLM decode throughput: the LLM table of docs/validation.md.

    python benchmarks/validate_llm.py                  # prints the Markdown table

Reads benchmarks/validation/llm/*.csv (chip preset, bundled model, weight dtype, batch, prompt and output
tokens, measured tokens/s per user, source) and simulates the same generation: a prefill of the prompt
and decode steps until `output_tokens` tokens exist, timed end to end as gpt-fast times it. No constant
is tuned to these figures.
"""

import csv
import sys
from pathlib import Path

from simulator.api import run_llm
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.workloads.loader import bundled_dir, load_workload

DATA = Path(__file__).resolve().parent / "validation" / "llm"


def rows():
    for path in sorted(DATA.glob("*.csv")):
        with path.open() as f:
            yield from csv.DictReader(f)


RUNTIME = "compiled"  # gpt-fast compiles decode with torch.compile and CUDA graphs (config/runtime.py)


def workload(r: dict):
    """The row's generation: the bundled decode workload with its model, weights, batch and lengths."""
    return load_workload(bundled_dir() / "llama2_7b_decode.yaml", [
        f"model={r['model']}", "scenario.phase=generate", f"scenario.weights={r['weights']}",
        f"scenario.batch={r['batch']}", f"scenario.prompt={r['prompt']}",
        f"scenario.output_tokens={r['output_tokens']}",
    ] + [f"scenario.{c}={r[c]}" for c in ("weight_group", "weight_zero") if r.get(c)])


def main() -> int:
    print("| chip | model | weights | batch | measured tok/s | simulated tok/s | error | simulated TPOT | MBU "
          "| source |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    chips: dict[str, Chip] = {}
    for r in rows():
        chip = chips.setdefault(r["chip"], Chip(load_chip(r["chip"], [f"runtime={RUNTIME}"])))
        s = run_llm(chip, workload(r)).summary
        simulated, measured = s["tokens_per_s_per_user"], float(r["measured_tokens_per_s"])
        print(f"| {r['chip']} | {r['model']} | {r['weights']} | {r['batch']} | {measured:.1f} | {simulated:.1f} "
              f"| {100 * (simulated - measured) / measured:+.1f} % | {s['tpot_s'] * 1e3:.2f} ms "
              f"| {100 * s['mbu']:.1f} % | {r['source']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
