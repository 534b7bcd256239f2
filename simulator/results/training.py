"""Training figures from a simulated step: step time, tokens and samples per second, MFU and HFU, where
each chip's time goes (forward, backward, optimizer), and memory per chip by what holds it.

MFU counts the model's FLOPs (workloads.training.model_flops: 6·N per token plus causal attention, no
recomputation) against the step time and the peak of every chip used; HFU counts the FLOPs the chips
executed as simulated (recomputation, padding and FlashAttention's recomputed scores included), which
`tests/results/test_training.py` holds equal to the closed form `workloads.training.hardware_flops`. See
docs/training.md.
"""

from simulator.engine.program import PassRun
from simulator.hardware.chip import Chip
from simulator.results.energy import run_energy
from simulator.results.llm import LAYER_SCALING, Parts, gemm_peak_figures, mac_floor_cycles, workload_assumptions
from simulator.results.metrics import BYTE_COLUMNS, chip_figures
from simulator.workloads.capacity import TrainingFootprint
from simulator.workloads.loader import LLMWorkload
from simulator.workloads.training import model_flops, resolve_step

DIRECTIONS = ("forward", "backward", "optimizer")


def micro_batches(run: PassRun) -> int:
    """How many times the chip runs a pass's blocks: its micro-batches (a training step's optimizer: once)."""
    return run.pass_.microbatches


def training_parts(chip: Chip, runs: list[PassRun]) -> Parts:
    """The op table's columns with each pass's blocks counted once per micro-batch."""
    return Parts(chip, runs, times=micro_batches)


def direction_cycles(runs: list[PassRun]) -> dict[str, int]:
    """Cycles one chip of each stage spends in forward, backward (recomputation included) and optimizer
    blocks over the step (copies × micro-batches; on a pipeline, without its bubble)."""
    out = dict.fromkeys(DIRECTIONS, 0)
    for run in runs:
        for seg in run.segments:
            out[seg.segment.direction] += seg.length(seg.repeat) * micro_batches(run)
    return out


def training_summary(chip: Chip, wl: LLMWorkload, runs: list[PassRun], parts: Parts, groups,
                     fp: TrainingFootprint, chips: int, copies: int) -> dict:
    """Step figures. `parts` hold one chip of each pipeline stage (`training_parts`); the system runs
    `copies` such chips (stage chips × data-parallel replicas) out of `chips` used."""
    m, s, t = wl.model, wl.scenario, wl.training
    step = resolve_step(m, s, t, wl.parallel)
    cycles = sum(r.cycles for r in runs)
    seconds = chip.seconds(cycles)
    floor = mac_floor_cycles(chip, parts)  # one copy of each stage's chip at peak
    executed = int(parts.weighted("flops")) * copies
    peak = float(parts.weighted("flops")) / floor * chip.clock_hz if floor else 0.0  # one chip's, for this mix
    useful = model_flops(m, s, t)
    by_direction = direction_cycles(runs)
    busy = sum(by_direction.values())
    summary = {
        "workload": wl.name, "chip": chip.name, "runtime": chip.runtime.name, "clock_hz": chip.clock_hz,
        "model": m.name, "model_description": m.describe(), "params": m.params(), "active_params": m.params(True),
        "phase": "train", "global_batch": step.global_batch, "micro_batch": step.micro_batch,
        "sequence": step.sequence, "microbatches": step.microbatches, "recompute": step.recompute,
        "optimizer": step.optimizer, "zero": step.zero, "grad_dtype": step.grad_dtype,
        "reduce_dtype": step.reduce_dtype,
        "weights_dtype": s.weights, "activations_dtype": s.activations, "fused_attention": s.fused_attention,
        "layers": m.layers, "layers_simulated": 1, "layer_scaling": LAYER_SCALING,
        "passes": len(runs), "ops": int(sum(len(rows) * n for rows, n in parts.parts)),
        "cycles": cycles, "seconds": seconds, "step_s": seconds,
        "tokens_per_step": step.tokens, "tokens_per_s": step.tokens / seconds,
        "tokens_per_s_per_chip": step.tokens / seconds / chips, "samples_per_s": step.global_batch / seconds,
        "model_flops": useful, "flops": executed,
        "achieved_tflops": executed / seconds / chips / 1e12, "peak_tflops": peak * chips / 1e12,
        "mfu": useful / (seconds * peak * chips) if peak else 0.0,
        "hfu": executed / (seconds * peak * chips) if peak else 0.0,
        **{f"{d}_share": by_direction[d] / busy if busy else 0.0 for d in DIRECTIONS},
        "hbm_bandwidth_tb_s": chip.hbm.bytes_per_cycle * chip.clock_hz / 1e12, **chip_figures(chip),
        **gemm_peak_figures(parts), "assumptions": workload_assumptions(chip, wl),
    }
    compute_floor = floor * copies / chips
    memory_floor = float(parts.weighted("min_bytes")) * copies / chips / chip.hbm.bytes_per_cycle
    bound = max(compute_floor, memory_floor)
    summary.update(
        compute_cycles=int(parts.weighted("compute_cycles")), stall_cycles=int(parts.weighted("stall_cycles")),
        overhead_cycles=int(parts.weighted("overhead_cycles")),
        roofline_cycles=bound, roofline_bound="compute" if compute_floor >= memory_floor else "memory",
        roofline_fraction=bound / cycles if cycles else 1.0,
        memory_weights=fp.weights, memory_gradients=fp.gradients, memory_optimizer_states=fp.optimizer_states,
        memory_activations=fp.activations, memory_buffers=fp.buffers, memory_required=fp.total,
        hbm_capacity=chip.hbm.size,
    )
    for name in BYTE_COLUMNS:
        summary[f"bytes_{name}"] = int(parts.weighted(name))
    link_bytes = sum(sum(r.link_bytes) for r in runs)
    energy = run_energy(chip.energy, parts, seconds, chips, copies, link_bytes)
    summary.update(energy)
    summary["energy_per_token_j"] = energy["energy_j"] / step.tokens
    summary["time_share"] = {g["group"]: g["share"] for g in groups}
    return summary
