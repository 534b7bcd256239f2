"""LLM figures from simulated passes: TTFT, TPOT, tokens/s, MFU, MBU, and where the time goes.

A run computes its figures from row dicts in plain Python (`llm_rows`, `breakdown_rows`, `llm_summary`);
the pandas tables (`llm_table`, `breakdown`) are built from the same rows when someone reads them, with
the same columns, dtypes, values and order."""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator.config.dtypes import DTYPE_BITS
from simulator.engine.program import PassRun
from simulator.hardware.chip import Chip
from simulator.results.energy import run_energy
from simulator.results.metrics import BYTE_COLUMNS, as_table, chip_figures, mac_shares, op_rows, peak_figures
from simulator.results.row import column, descending, records
from simulator.workloads.capacity import Footprint
from simulator.workloads.loader import LLMWorkload
from simulator.workloads.transformer import VECTOR_DTYPES

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Scale:
    chips: int = 1  # chips used
    copies: int = 1  # chips per stage × micro-batches × replicas: copies of the simulated per-chip work


LAYER_SCALING = ("exact: layers are identical and each starts after the previous one ends, "
                 "so one layer is simulated and its time multiplied by the layer count (one of each group "
                 "of identical layers: sliding and full attention, dense and MoE)")


def llm_table(chip: Chip, runs: list[PassRun]) -> "pd.DataFrame":
    """The op table: `llm_rows` as a DataFrame."""
    return as_table(llm_rows(chip, runs))


def llm_rows(chip: Chip, runs: list[PassRun], cache: dict | None = None) -> list[dict]:
    """One row per op per pass (a layer's ops once, with `repeat` = layers); times are the first copy's,
    shifted to the run's clock, and copy i starts `i × copy_cycles` later (results/timeline.py; the copy's
    pitch, SegmentRun.pitch).
    `total_cycles` = cycles × repeat. `cache` holds op rows per records list (Parts.cache shares its own)."""
    rows, start = [], 0
    cache = {} if cache is None else cache
    for i, run in enumerate(runs):
        p = run.pass_
        stage_start = {x.stage: x.start for x in run.spans if x.kind == "compute" and x.microbatch == 0}
        for seg in run.segments:
            shift, repeat = start + stage_start.get(seg.stage, 0) + seg.offset, seg.repeat
            head = {"pass": i, "phase": p.phase, "context": p.context, "stage": seg.stage,
                    "segment": seg.segment.name, "repeat": repeat, "copy_cycles": seg.pitch}
            for row in _op_rows(chip, seg.records, cache):
                rows.append(head | row | {"start": row["start"] + shift, "end": row["end"] + shift,
                                          "total_cycles": row["cycles"] * repeat})
        start += run.cycles
    return rows


def _op_rows(chip: Chip, records, cache: dict) -> list[dict]:
    """op_rows of a segment's records, once per records list (every pass running the block shares it)."""
    key = id(records)
    if key not in cache:
        cache[key] = (op_rows(chip, records), records)  # the records kept alive: their id stays theirs
    return cache[key][0]


class Parts:
    """The op table's columns without its rows: each segment of each pass (in the table's row order)
    contributes its op rows, computed once per distinct records list, `repeat` times. Sums come out as
    the table's own would, to the last bit: integers exactly, floats through numpy's pairwise sum over the
    same values in the same order (`row.column_sum`)."""

    def __init__(self, chip: Chip, runs: list[PassRun], phase: str | None = None, cache: dict | None = None,
                 times=None):
        """`phase`: only that phase's passes; `times(run)`: how many times the chip runs each pass's blocks
        beyond their repeat (a training step's micro-batches; default once)."""
        self.cache = {} if cache is None else cache
        self.parts = [(_op_rows(chip, seg.records, self.cache), seg.repeat * (times(run) if times else 1))
                      for run in runs if phase is None or run.pass_.phase == phase for seg in run.segments]
        self._arrays: dict = {}

    def __len__(self) -> int:
        return sum(len(rows) for rows, _ in self.parts)

    def rows(self):
        """(row, repeat) of every row, in order."""
        return ((row, repeat) for rows, repeat in self.parts for row in rows)

    def weighted(self, name: str):
        """`(table[name] * table["repeat"]).sum()`."""
        columns = self._columns(name)
        if all(is_int for is_int, _ in columns.values()):
            return sum(sum(columns[id(rows)][1]) * repeat for rows, repeat in self.parts)
        if not self.parts:
            return np.float64(0.0)
        values = np.concatenate([np.asarray(columns[id(rows)][1], dtype=float) for rows, _ in self.parts])
        weights = np.concatenate([np.full(len(rows), repeat) for rows, repeat in self.parts])
        return (values * weights).sum()

    def _columns(self, name: str) -> dict:
        """id(rows) → (whether every value is an int, the column's values) of each distinct segment."""
        if name not in self._arrays:
            columns = {}
            for rows, _ in self.parts:
                if id(rows) not in columns:
                    values = [row[name] for row in rows]
                    columns[id(rows)] = (set(map(type, values)) <= {int}, values)
            self._arrays[name] = columns
        return self._arrays[name]


def _weighted(parts: Parts, name: str) -> float:
    return float(parts.weighted(name))


def mac_floor_cycles(chip: Chip, parts: Parts) -> float:
    """Cycles the run's MACs take at peak, each GEMM at the peak of its own dtype."""
    return float(sum(row["macs"] * repeat / chip.peak_macs_per_cycle(row["dtype"]) for row, repeat in parts.rows()
                     if row["macs"] > 0))


def gemm_peak_figures(parts: Parts) -> dict:
    """`gemm_mac_share` and `peak_dtype` of the run (results.metrics.peak_figures)."""
    return peak_figures(mac_shares((row["dtype"], row["macs"] * repeat) for row, repeat in parts.rows()
                                   if row["type"] == "gemm"))


def _widened(what: str, dtype: str, into: str, gemms: str, chip: Chip) -> str | None:
    """The note for an operand of `dtype` that the `gemms` multiply in `into`, or None when it is `into`."""
    if dtype == into:
        return None
    narrower = DTYPE_BITS[dtype] < DTYPE_BITS[into]
    why = ["a GEMM runs in its wider operand's dtype" if narrower else "a GEMM of equal widths runs in the "
           "activations' dtype"]
    if dtype not in chip.mxu.macs_per_pe:
        why.append(f"{chip.name}'s MXU has no {dtype} rate")
    elif what == "weights":
        why.append(f"scenario.activations={dtype} runs them at the {dtype} rate")
    return (f"{dtype} {what} {'is' if what == 'KV cache' else 'are'} {'widened' if narrower else 'converted'} to "
            f"{into} for the {gemms}, which run at the {into} rate ({'; '.join(why)})")


def _wider(act: str, other: str) -> str:
    """The dtype a GEMM of activations × `other` runs in (ir.ops.GemmOp.compute_dtype; a tie keeps `act`)."""
    return other if DTYPE_BITS[other] > DTYPE_BITS[act] else act


def workload_assumptions(chip: Chip, wl: LLMWorkload) -> list[str]:
    """What the run assumed beyond the hardware file's defaults (Chip.assumptions): the dtype each kind of
    GEMM runs in where an operand's differs (weights fp8 with bf16 activations run at the bf16 rate), the
    dtype of elementwise work on activations narrower than 16 bits, and the workload defaults that move
    results: an MoE model's load balance, a training step's fp32 master weights."""
    s, m, train = wl.scenario, wl.model, wl.scenario.phase == "train"
    act, notes = s.activations, []
    into = _wider(act, s.weights)
    notes += [_widened("weights", s.weights, into, "GEMMs", chip), _widened("activations", act, into,
                                                                             "weight GEMMs", chip)]
    if not train:
        into = _wider(act, s.kv_cache)
        notes += [_widened("KV cache", s.kv_cache, into, "attention GEMMs", chip),
                  _widened("activations", act, into, "attention GEMMs", chip)]
    if act not in VECTOR_DTYPES:
        notes.append(f"elementwise ops on {act} activations run in bf16")
    if m.is_moe and "moe_imbalance" not in s.model_fields_set:
        notes.append("scenario.moe_imbalance = 1 (every expert gets the mean load)")
    training = wl.training
    if train and (training is None or "master_weights" not in training.model_fields_set) and s.weights != "fp32":
        notes.append("training.master_weights = true (an fp32 copy of the weights among the optimizer states)")
    return [*chip.assumptions, *dict.fromkeys(n for n in notes if n)]


def _utilization(chip: Chip, parts: Parts, runs: list[PassRun], scale: Scale) -> dict:
    """MFU against the peak of the run's mix of GEMM dtypes (the MAC-weighted harmonic mean), and MBU,
    both over every chip used. The table holds one chip of each stage for one micro-batch; `scale.copies`
    is how many such copies the system runs."""
    seconds = chip.seconds(sum(r.cycles for r in runs))
    floor = mac_floor_cycles(chip, parts)  # one copy on one chip
    peak_flops = _weighted(parts, "flops") / floor * chip.clock_hz if floor else 0.0  # 2·MACs / floor cycles
    flops = _weighted(parts, "flops") * scale.copies
    compute_floor = floor * scale.copies / scale.chips  # all chips busy at peak
    model_bytes = sum(r.pass_.model_bytes for r in runs) * scale.copies
    hbm = chip.hbm.bytes_per_cycle * chip.clock_hz * scale.chips
    return {
        "flops": flops,
        "compute_floor": compute_floor,
        "peak_flops": peak_flops,  # one chip's
        "model_bytes": model_bytes,
        "mfu": flops / (seconds * peak_flops * scale.chips) if peak_flops and seconds else 0.0,
        "mbu": model_bytes / (seconds * hbm) if seconds else 0.0,
    }


def breakdown_rows(chip: Chip, parts: Parts) -> list[dict]:
    """`breakdown` of the op table in plain Python: the same columns, values and row order."""
    values: dict[str, list[tuple]] = {}  # per group, in order of first appearance (groupby sort=False)
    seen: dict = {}
    for rows, n in parts.parts:
        key = (id(rows), n)
        if key not in seen:
            per: dict[str, list[tuple]] = {}
            for r in rows:
                cycles = r["cycles"] * n
                per.setdefault(r["group"], []).append((
                    cycles, n, r["flops"] * n, (r["hbm_read"] + r["hbm_write"]) * n, r["min_bytes"] * n,
                    r["energy_j"] * n, cycles if r["bound"] == "memory" else 0,
                    cycles if r["bound"] == "network" else 0))
            seen[key] = per
        for group, items in seen[key].items():
            values.setdefault(group, []).extend(items)
    sums = {group: [_group_sum(c) for c in zip(*items, strict=True)] for group, items in values.items()}
    total = sum(v[0] for v in sums.values())
    out = []
    for group, (cycles, ops, flops, hbm_bytes, min_bytes, energy_j, memory, network) in sums.items():
        if network * 2 >= (cycles if cycles > 0 else 1):
            bound = "network"
        else:
            bound = "memory" if memory * 2 >= cycles else "compute"
        out.append({
            "group": group, "cycles": cycles, "ops": ops, "flops": flops, "hbm_bytes": hbm_bytes,
            "min_bytes": min_bytes, "energy_j": energy_j, "seconds": float(cycles) / chip.clock_hz,
            "share": float(cycles) / float(total) if total else 0.0, "bound": bound,
            "arithmetic_intensity": float(flops) / float(min_bytes) if min_bytes > 0 else math.nan,
        })
    return [out[i] for i in descending(column(out, "cycles"))]


def _group_sum(values: tuple):
    """A groupby sum as pandas computes it: exact over integers, Kahan-compensated over floats."""
    if not any(isinstance(v, float) for v in values):
        return sum(values)
    total = compensation = 0.0
    for v in values:
        y = float(v) - compensation
        t = total + y
        compensation = t - total - y
        if compensation != compensation:  # an infinity: pandas drops the compensation
            compensation = 0.0
        total = t
    return total


def breakdown(chip: Chip, table: "pd.DataFrame") -> "pd.DataFrame":
    """Time, work, traffic and energy per op group (attention, mlp, norm, …), largest share first. Work,
    traffic and energy are one chip's of each stage for one micro-batch, as in the op table (a collective's
    link energy covers every group of its stage); the summary scales them to the whole system."""
    t = table.assign(
        total_flops=table["flops"] * table["repeat"],
        total_energy=table["energy_j"] * table["repeat"],
        total_hbm=(table["hbm_read"] + table["hbm_write"]) * table["repeat"],
        total_min_bytes=table["min_bytes"] * table["repeat"],
        memory_cycles=table["total_cycles"].where(table["bound"] == "memory", 0),
        network_cycles=table["total_cycles"].where(table["bound"] == "network", 0),
    )
    g = t.groupby("group", sort=False).agg(
        cycles=("total_cycles", "sum"), ops=("repeat", "sum"), flops=("total_flops", "sum"),
        hbm_bytes=("total_hbm", "sum"), min_bytes=("total_min_bytes", "sum"), memory_cycles=("memory_cycles", "sum"),
        network_cycles=("network_cycles", "sum"), energy_j=("total_energy", "sum"),
    )
    total = g["cycles"].sum()
    g["seconds"] = g["cycles"] / chip.clock_hz
    g["share"] = g["cycles"] / total if total else 0.0
    g["bound"] = (g["memory_cycles"] * 2 >= g["cycles"]).map({True: "memory", False: "compute"})
    g.loc[g["network_cycles"] * 2 >= g["cycles"].where(g["cycles"] > 0, 1), "bound"] = "network"
    g["arithmetic_intensity"] = g["flops"] / g["min_bytes"].where(g["min_bytes"] > 0)
    g = g.drop(columns=["memory_cycles", "network_cycles"]).sort_values("cycles", ascending=False).reset_index()
    return g


def llm_summary(chip: Chip, wl: LLMWorkload, runs: list[PassRun], table: Parts, groups, fp: Footprint,
                scale: Scale = Scale()) -> dict:
    """Run-level figures from the op table's Parts and `breakdown_rows` (or its table). Memory figures are
    per chip."""
    groups = records(groups)
    s, m = wl.scenario, wl.model
    cycles = sum(r.cycles for r in runs)
    seconds = chip.seconds(cycles)
    prefill = [r for r in runs if r.pass_.phase == "prefill"]
    decode = [r for r in runs if r.pass_.phase == "decode"]
    summary = {
        "workload": wl.name, "chip": chip.name, "runtime": chip.runtime.name, "clock_hz": chip.clock_hz,
        "model": m.name, "model_description": m.describe(), "params": m.params(), "active_params": m.params(True),
        "phase": s.phase, "batch": s.batch, "prompt": s.prompt,
        "context": s.decode_context if s.phase == "decode" else s.prompt,
        "output_tokens": s.output_tokens if s.phase == "generate" else (1 if s.phase == "decode" else 0),
        "weights_dtype": s.weights, "activations_dtype": s.activations, "kv_cache_dtype": s.kv_cache,
        "fused_attention": s.fused_attention, "moe_imbalance": s.moe_imbalance,
        "layers": m.layers, "layers_simulated": len(m.groups()), "layer_scaling": LAYER_SCALING,
        "passes": len(runs), "ops": int(sum(len(rows) * n for rows, n in table.parts)),
        "cycles": cycles, "seconds": seconds,
    }
    if prefill:
        summary["ttft_s"] = chip.seconds(prefill[0].cycles)
    if decode:
        summary["tpot_s"] = chip.seconds(sum(r.cycles for r in decode)) / len(decode)
    if s.phase == "prefill":
        tokens = s.batch * s.prompt
        summary["tokens_per_s"] = tokens / seconds
        summary["tokens_per_s_per_user"] = s.prompt / seconds
    elif s.phase == "decode":
        tokens = s.batch
        summary["tokens_per_s"] = tokens / seconds
        summary["tokens_per_s_per_user"] = 1 / seconds
    else:
        tokens = s.batch * s.output_tokens
        summary["e2e_s"] = seconds
        summary["tokens_per_s"] = tokens / seconds
        summary["tokens_per_s_per_user"] = s.output_tokens / seconds
        if decode:
            summary["decode_tokens_per_s"] = s.batch / summary["tpot_s"]
    overall = _utilization(chip, table, runs, scale)
    summary.update(
        flops=overall["flops"], achieved_tflops=overall["flops"] / seconds / 1e12,
        peak_tflops=overall["peak_flops"] * scale.chips / 1e12, mfu=overall["mfu"],
        model_bytes=overall["model_bytes"], mbu=overall["mbu"],
        hbm_bandwidth_tb_s=chip.hbm.bytes_per_cycle * chip.clock_hz / 1e12, **chip_figures(chip),
        **gemm_peak_figures(table), assumptions=workload_assumptions(chip, wl),
    )
    if prefill and decode:
        for phase, group in (("prefill", prefill), ("decode", decode)):
            u = _utilization(chip, Parts(chip, runs, phase, table.cache), group, scale)
            summary[f"{phase}_mfu"], summary[f"{phase}_mbu"] = u["mfu"], u["mbu"]
    compute_floor = overall["compute_floor"]
    memory_floor = _weighted(table, "min_bytes") * scale.copies / scale.chips / chip.hbm.bytes_per_cycle
    bound = max(compute_floor, memory_floor)
    summary.update(
        compute_cycles=int(_weighted(table, "compute_cycles")), stall_cycles=int(_weighted(table, "stall_cycles")),
        overhead_cycles=int(_weighted(table, "overhead_cycles")),
        roofline_cycles=bound, roofline_bound="compute" if compute_floor >= memory_floor else "memory",
        roofline_fraction=bound / cycles if cycles else 1.0,
        memory_weights=fp.weights, memory_kv_cache=fp.kv_cache, memory_activations=fp.activations,
        memory_required=fp.total, hbm_capacity=chip.hbm.size,
    )
    for name in BYTE_COLUMNS:
        summary[f"bytes_{name}"] = int(_weighted(table, name))
    link_bytes = sum(sum(r.link_bytes) for r in runs)  # whole system: collectives and pipeline sends
    energy = run_energy(chip.energy, table, seconds, scale.chips, scale.copies, link_bytes)
    summary.update(energy)
    summary["energy_per_token_j"] = energy["energy_j"] / tokens
    summary["time_share"] = {g["group"]: g["share"] for g in groups}
    return summary

