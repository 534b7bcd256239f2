"""Simulated vs measured training throughput: the training table of docs/validation.md.

    python benchmarks/validate_training.py             # prints the Markdown table

Reads benchmarks/validation/training/*.csv (system preset, bundled model, sequence length, GPUs, micro-batch,
gradient accumulation, global batch, activation checkpointing, measured tokens/s per GPU and MFU, source)
and simulates the same step: FSDP FULL_SHARD over the GPUs (ZeRO-3, data parallel), bf16 compute with fp32
master weights, AdamW, fused attention, full recomputation where the run checkpointed activations.
Throughput is compared as measured (tokens/s per GPU), which no FLOP convention changes. No constant is
tuned to these figures.
"""

import csv
import sys
from pathlib import Path

from simulator.api import run_llm
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.workloads.loader import bundled_dir, load_llm

DATA = Path(__file__).resolve().parent / "validation" / "training"


def rows():
    for path in sorted(DATA.glob("*.csv")):
        with path.open() as f:
            yield from csv.DictReader(f)


def workload(r: dict):
    gpus, batch, sequence = int(r["gpus"]), int(r["global_batch"]), int(r["sequence"])
    data = {"name": f"{r['model']}_train", "model": f"models/{r['model']}.json",
            "scenario": {"phase": "train", "batch": batch, "prompt": sequence, "fused_attention": True},
            "training": {"global_batch": batch, "micro_batch": int(r["micro_batch"]), "sequence": sequence,
                         "recompute": "full" if r["checkpointing"] == "yes" else "none", "zero": 3},
            "parallel": {"dp": gpus}}
    return load_llm(data, f"{DATA.name}: {r['model']}", bundled_dir(), ["scenario.check_capacity=false"])


def main() -> int:
    print("| system | model | seq | micro × accum | ckpt | measured tok/s/GPU | simulated tok/s/GPU | error "
          "| measured MFU | simulated MFU (same convention) | simulated step | source |")
    print("|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|")
    chips: dict[str, Chip] = {}
    errors = []
    for r in rows():
        chip = chips.setdefault(r["chip"], Chip(load_chip(r["chip"])))
        s = run_llm(chip, workload(r)).summary
        measured, simulated = float(r["measured_tokens_per_s_per_gpu"]), s["tokens_per_s_per_chip"]
        error = simulated / measured - 1
        errors.append(abs(error))
        mfu = float(r["measured_mfu"]) * simulated / measured  # the run's own MFU convention, at our throughput
        print(f"| {r['chip']} | {r['model']} | {int(r['sequence']):,} | {r['micro_batch']} × {r['accumulation']} "
              f"| {r['checkpointing']} | {measured:,.0f} | {simulated:,.0f} | {error:+.1%} "
              f"| {float(r['measured_mfu']):.1%} | {mfu:.1%} | {s['step_s']:.3f} s | {r['source']} |")
    if errors:
        print(f"\nmean |error| {sum(errors) / len(errors):.1%}, worst {max(errors):.1%} over {len(errors)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
