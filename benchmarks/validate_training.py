"""Simulated vs measured training throughput: the training tables of docs/validation.md § 5.

    python benchmarks/validate_training.py             # prints the Markdown tables

llm-foundry (benchmarks/validation/training/llm_foundry.csv: system preset, bundled model, sequence length,
GPUs, micro-batch, gradient accumulation, global batch, activation checkpointing, measured tokens/s per GPU
and MFU, source): FSDP FULL_SHARD over the GPUs (ZeRO-3, data parallel, FSDP's fp32-shard layout), bf16
compute with fp32 master weights, AdamW, fused attention, full recomputation where the run checkpointed
activations; each row's footprint is checked against the 80 GB it ran in. Throughput is
compared as measured (tokens/s per GPU), which no FLOP convention changes.

Megatron-LM (benchmarks/validation/training/megatron.csv, ../shared/reference/training.md § 4.1 and § 4.2):
each row's GPT model (benchmarks/validation/training/models/), global batch, micro-batch, TP × PP × DP,
recompute and sequence parallelism on `a100_selene_1024` resized to the row's GPUs (whole DGX nodes),
bf16, unfused attention, dropout 0.1 (Megatron's defaults, in the model files), Megatron's fp32 main gradients,
no distributed optimizer (ZeRO-0), 1F1B. Compared
in each table's own FLOP convention (§ 1.3 of the reference): § 4.1's TFLOP/s/GPU count full recomputation
(96·B·s·L·h²·(1 + s/6h + V/16Lh)), § 4.2's MFU the model FLOPs (72·B·s·L·h²·(1 + s/6h + V/12Lh)), both
over the simulated step; the error is the same as that of the step time. No constant is tuned to these
figures.
"""

import csv
import sys
import time
from pathlib import Path

from simulator.api import run_llm
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.workloads.loader import bundled_dir, load_llm

DATA = Path(__file__).resolve().parent / "validation" / "training"
MEGATRON_SYSTEM = "a100_selene_1024"
A100_PEAK = 312e12  # dense bf16/fp16 FLOP/s: the "% of 312" of reference/training.md § 4.1
SLOW_S = 30.0  # a row that takes longer to simulate says so in its notes


def rows(name: str):
    with (DATA / name).open() as f:
        yield from csv.DictReader(f)


def model_spec(name: str) -> str:
    """A model file of the validation data (benchmarks/validation/training/models/), else a bundled one."""
    local = DATA / "models" / f"{name}.json"
    return str(local) if local.is_file() else f"models/{name}.json"


RUNTIME = "eager"  # both tables' runs: eager PyTorch training loops (configs/runtime/eager.yaml); validate_all's too
FOUNDRY_ATTENTION_STAGES = 1


def foundry_workload(r: dict):
    gpus, batch, sequence = int(r["gpus"]), int(r["global_batch"]), int(r["sequence"])
    data = {"name": f"{r['model']}_train", "model": model_spec(r["model"]),
            # llm-foundry's attn_impl: triton at 061f2c7 (llmfoundry/models/layers/flash_attn_triton.py): its
            # forward and backward kernels run with num_stages=1, no load pipelining
            "scenario": {"phase": "train", "batch": batch, "prompt": sequence, "fused_attention": True,
                         "attention_stages": FOUNDRY_ATTENTION_STAGES},
            # the README's "MP Mode" of every row is DEFAULT (amp_bf16): with composer 0.16 (llm-foundry's pin
            # at 061f2c7, setup.py) bf16 parameters and gradients, reduced by FSDP in fp32 (reduce_dtype unset;
            # composer/trainer/mosaic_fsdp_utils.py get_mixed_precision at v0.16.3)
            "training": {"global_batch": batch, "micro_batch": int(r["micro_batch"]), "sequence": sequence,
                         "recompute": "full" if r["checkpointing"] == "yes" else "none", "zero": 3,
                         "grad_dtype": "bf16", "reduce_dtype": "fp32", "weight_shard": "master"},
            "parallel": {"dp": gpus}}
    # MPT's ALiBi has no trained position limit: llm-foundry sets max_seq_len to the run's sequence
    # FSDP keeps the fp32 shard only (torch/distributed/fsdp/_flat_param.py, post_unshard); with that layout
    # every row's footprint fits the 80 GB it ran in, so the capacity check stays on
    sets = [f"model.max_position_embeddings={sequence}"]
    return load_llm(data, f"{DATA.name}: {r['model']}", bundled_dir(), sets)


def foundry() -> list[float]:
    print("| system | model | seq | micro × accum | ckpt | measured tok/s/GPU | simulated tok/s/GPU | error "
          "| measured MFU | simulated MFU (same convention) | simulated step | source |")
    print("|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|")
    chips: dict[str, Chip] = {}
    errors = []
    for r in rows("llm_foundry.csv"):
        chip = chips.setdefault(r["chip"], Chip(load_chip(r["chip"], [f"runtime={RUNTIME}"])))
        s = run_llm(chip, foundry_workload(r)).summary
        measured, simulated = float(r["measured_tokens_per_s_per_gpu"]), s["tokens_per_s_per_chip"]
        error = simulated / measured - 1
        errors.append(abs(error))
        mfu = float(r["measured_mfu"]) * simulated / measured  # the run's own MFU convention, at our throughput
        print(f"| {r['chip']} | {r['model']} | {int(r['sequence']):,} | {r['micro_batch']} × {r['accumulation']} "
              f"| {r['checkpointing']} | {measured:,.0f} | {simulated:,.0f} | {error:+.1%} "
              f"| {float(r['measured_mfu']):.1%} | {mfu:.1%} | {s['step_s']:.3f} s | {r['source']} |")
    return errors


SEQUENCE, VOCAB = 2048, 51200  # reference/training.md § 4.1 and § 4.2: every run


def megatron_flops(r: dict, passes: int) -> float:
    """Megatron's count per iteration (reference § 1.3): passes = 4 with full recomputation (§ 4.1's
    TFLOP/s), 3 for model FLOPs (§ 4.2's MFU); the logit layer always 3 passes."""
    b, h, layers, s = int(r["global_batch"]), int(r["hidden"]), int(r["layers"]), SEQUENCE
    return 24 * passes * b * s * layers * h * h * (1 + s / (6 * h) + VOCAB / (4 * passes * layers * h))


def megatron_workload(r: dict):
    batch = int(r["global_batch"])
    data = {"name": f"{r['model']}_train", "model": model_spec(r["model"]),
            "scenario": {"phase": "train", "batch": batch, "prompt": SEQUENCE, "weights": "bf16",
                         "activations": "bf16", "fused_attention": False, "check_capacity": False},
            "training": {"global_batch": batch, "micro_batch": int(r["micro_batch"]), "sequence": SEQUENCE,
                         "recompute": r["recompute"], "zero": 0, "grad_dtype": "fp32",
                         # the 2021-22 code reduces every gradient after the pipeline's flush, before the
                         # optimizer (MegatronOptimizer.reduce_model_grads); overlap came with Megatron-Core
                         "overlap_grad_reduce": False},
            "parallel": {"tp": int(r["tp"]), "pp": int(r["pp"]), "dp": int(r["dp"]),
                         "sequence_parallel": r["sequence_parallel"] == "yes"}}
    return load_llm(data, f"{DATA.name}/megatron.csv: {r['model']}", bundled_dir())


def megatron_run(r: dict, chips: dict) -> tuple[dict, list[str]]:
    """The row's simulated summary, and its notes: what the run could not reproduce or assumed."""
    gpus = int(r["gpus"])
    chip = chips.setdefault(gpus, Chip(load_chip(MEGATRON_SYSTEM, [f"system.chips={gpus}", f"runtime={RUNTIME}"])))
    start = time.perf_counter()
    s = run_llm(chip, megatron_workload(r)).summary
    took = time.perf_counter() - start
    print(f"  {r['table']} {r['model']}: simulated in {took:.1f} s", file=sys.stderr)
    notes = ["micro-batch 1 assumed (not in the source)"]
    if int(r["pp"]) > 1:
        notes.append("1F1B, not interleaved (the source does not say)")
    if s["memory_required"] > chip.hbm.size:
        notes.append(f"does not fit: {s['memory_required'] / 1e9:.0f} GB > {chip.hbm.size / 1e9:.0f} GB")
    if took > SLOW_S:
        notes.append(f"simulated in more than {SLOW_S:.0f} s")
    return s, notes


def plan(r: dict) -> str:
    return f"{r['tp']} × {r['pp']} × {r['dp']}"


def idle(r: dict, s: dict) -> str:
    """The simulated stages' idle share beside 1F1B's bubble (p − 1)/(m + p − 1) on equal stages."""
    p, m = int(r["pp"]), int(r["global_batch"]) // (int(r["dp"]) * int(r["micro_batch"]))
    return f"{s['idle_share']:.1%} / {(p - 1) / (m + p - 1):.1%}"


def megatron_41(chips: dict) -> list[float]:
    print("| model | h | L | GPUs | TP × PP × DP | batch | measured TFLOP/s/GPU | simulated (same count) | error "
          "| [D] measured s/iter | simulated s/iter | Tortoise executed TFLOP/s/GPU | idle: simulated / 1F1B bubble "
          "| memory/GPU | notes |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    errors = []
    for r in rows("megatron.csv"):
        if r["table"] != "4.1":
            continue
        s, notes = megatron_run(r, chips)
        gpus, measured = int(r["gpus"]), float(r["measured_tflops_per_gpu"])
        flops = megatron_flops(r, 4)
        simulated = flops / (gpus * s["step_s"]) / 1e12
        error = simulated / measured - 1
        errors.append(abs(error))
        print(f"| {r['model']} | {r['hidden']} | {r['layers']} | {gpus:,} | {plan(r)} | {r['global_batch']} "
              f"| {measured:.0f} | {simulated:.0f} | {error:+.1%} | {flops / (gpus * measured * 1e12):.1f} "
              f"| {s['step_s']:.1f} | {s['achieved_tflops']:.0f} | {idle(r, s)} | {s['memory_required'] / 1e9:.0f} GB "
              f"| {'; '.join(notes)} |")
    return errors


def megatron_42(chips: dict) -> list[float]:
    print("| model | h | L | GPUs | TP × PP × DP | batch | measured MFU | simulated MFU (same count) | error "
          "| measured HFU | Tortoise HFU | [D] measured s/iter | simulated s/iter | idle: simulated / 1F1B bubble "
          "| memory/GPU | notes |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    errors = []
    for r in rows("megatron.csv"):
        if r["table"] != "4.2":
            continue
        s, notes = megatron_run(r, chips)
        gpus, measured = int(r["gpus"]), float(r["measured_mfu"])
        flops = megatron_flops(r, 3)
        simulated = flops / (gpus * s["step_s"] * A100_PEAK)
        error = simulated / measured - 1
        errors.append(abs(error))
        print(f"| {r['model']} | {r['hidden']} | {r['layers']} | {gpus:,} | {plan(r)} | {r['global_batch']} "
              f"| {measured:.1%} | {simulated:.1%} | {error:+.1%} | {float(r['measured_hfu']):.1%} "
              f"| {s['hfu']:.1%} | {flops / (gpus * measured * A100_PEAK):.2f} | {s['step_s']:.2f} | {idle(r, s)} "
              f"| {s['memory_required'] / 1e9:.0f} GB | {'; '.join(notes)} |")
    return errors


def summary(errors: list[float]) -> None:
    if errors:
        print(f"\nmean |error| {sum(errors) / len(errors):.1%}, worst {max(errors):.1%} over {len(errors)} rows\n")


def main() -> int:
    print("### llm-foundry MPT (reference/training.md § 4.3)\n")
    summary(foundry())
    chips: dict[int, Chip] = {}
    print(f"### Megatron-LM, Narayanan et al. 2021 (reference/training.md § 4.1), {MEGATRON_SYSTEM}, "
          "full recompute\n")
    summary(megatron_41(chips))
    print(f"### Megatron-LM, Korthikanti et al. 2022 (reference/training.md § 4.2), {MEGATRON_SYSTEM}, "
          "selective recompute, sequence parallel, DP 1\n")
    summary(megatron_42(chips))
    return 0


if __name__ == "__main__":
    sys.exit(main())
