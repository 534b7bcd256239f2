"""Where each chip's time goes on a system, and what the links carried.

Per stage of the pipeline (its chips are alike), the pass time splits into compute, memory stalls,
fixed per-op overhead, exposed communication (links busy for this chip while none of its compute ops
run) and idle time (the pipeline bubble, and waits inside a stage); these add up to the pass time.
Overlapped communication (links busy while compute runs) is reported beside them: it costs nothing.

Each table has a `*_rows` twin (row dicts, plain Python) that a run uses; the DataFrame is built from those
rows only when someone reads it.
"""

from typing import TYPE_CHECKING

import numpy as np

from simulator.engine.intervals import length, overlap
from simulator.engine.program import PassRun, SegmentRun
from simulator.hardware.chip import Chip
from simulator.hardware.topology import Topology
from simulator.ir.program import CommStep
from simulator.mapping.placement import Placement
from simulator.results.metrics import as_table
from simulator.results.row import column, records

if TYPE_CHECKING:
    import pandas as pd

SPLIT = ("compute", "memory_stall", "overhead", "exposed_comm", "idle")


def segment_split(seg: SegmentRun) -> dict[str, float]:
    """One copy of a segment: SPLIT cycles adding up to its length, plus overlapped_comm, and per parallel
    axis its collectives' exposed and overlapped cycles (`exposed_comm_<axis>`, `overlapped_comm_<axis>`;
    collectives of two axes that run at once count for both)."""
    work = [r for r in seg.records if r.type != "collective"]
    collectives = [r for r in seg.records if r.type == "collective"]
    comm = [(r.start, r.end) for r in collectives]
    busy = [(r.start, r.end) for r in work]
    busy_len, hidden = length(busy), overlap(comm, busy)
    parts = [sum(r.compute_cycles for r in work), sum(r.stall_cycles for r in work),
             sum(r.overhead_cycles for r in work)]
    weight = sum(parts) or 1
    split = {name: busy_len * part / weight for name, part in zip(SPLIT[:3], parts, strict=True)}
    exposed = length(comm) - hidden
    split.update(exposed_comm=exposed, idle=seg.cycles - busy_len - exposed, overlapped_comm=hidden)
    for axis in sorted({r.axis or "chips" for r in collectives}):
        mine = [(r.start, r.end) for r in collectives if (r.axis or "chips") == axis]
        shown = overlap(mine, busy)
        split[f"exposed_comm_{axis}"] = length(mine) - shown
        split[f"overlapped_comm_{axis}"] = shown
    return split


def _hidden_under_next_copy(total: dict, seg: SegmentRun, cycles: int) -> None:
    """Copies whose gradient reductions ran on under the next copy (SegmentRun.pitch) took `cycles` less
    than their barriers. What held each copy's barrier (its last op) back was the reductions' exposed
    communication and any work of theirs (a cast to the reduce dtype); each leaves the split in proportion
    to its cycles there: the communication moves to overlapped, per axis in proportion to the
    reductions' exposed cycles, the work leaves its parts (the next copy's work holds that time)."""
    if cycles <= 0:
        return
    final = seg.records[-1]
    lo, hi = seg.data_ready - final.cycles, final.start  # what held the barrier op back
    held = [(max(r.start, lo), min(r.end, hi), r) for r in seg.records[:-1] if r.end > lo and r.start < hi]
    work = [r for _, _, r in held if r.type != "collective"]
    busy = [(a, b) for a, b, r in held if r.type != "collective"]
    comm = [(a, b) for a, b, r in held if r.type == "collective"]
    shown, worked = length(comm) - overlap(comm, busy), length(busy)
    if worked:
        hidden = cycles * worked / (worked + shown)
        parts = [sum(r.compute_cycles for r in work), sum(r.stall_cycles for r in work),
                 sum(r.overhead_cycles for r in work)]
        for name, part in zip(SPLIT[:3], parts, strict=True):
            total[name] -= hidden * part / (sum(parts) or 1)
        cycles -= hidden
    total["exposed_comm"] -= cycles
    total["overlapped_comm"] += cycles
    axes = {r.axis or "chips" for r in seg.grad_syncs if r.type == "collective"}
    weights = {a: total.get(f"exposed_comm_{a}", 0.0) for a in axes}
    whole = sum(weights.values()) or 1.0
    for axis, weight in weights.items():
        share = cycles * weight / whole
        total[f"exposed_comm_{axis}"] = total.get(f"exposed_comm_{axis}", 0.0) - share
        total[f"overlapped_comm_{axis}"] = total.get(f"overlapped_comm_{axis}", 0.0) + share


def stage_table(chip: Chip, runs: list[PassRun], stage_chips: int) -> "pd.DataFrame":
    """`stage_rows` as a DataFrame."""
    return as_table(stage_rows(chip, runs, stage_chips))


def stage_rows(chip: Chip, runs: list[PassRun], stage_chips: int) -> list[dict]:
    """One row per pipeline stage (its `stage_chips` chips over all replicas run alike), over the whole run:
    seconds per SPLIT part and overlapped_comm, and per parallel axis the exposed and overlapped seconds of
    its communication (`exposed_comm_<axis>_s`; the pipeline's sends are axis pp)."""
    stages = max(s.stage for r in runs for s in r.segments) + 1
    totals = [dict.fromkeys((*SPLIT, "overlapped_comm"), 0.0) for _ in range(stages)]
    splits: dict[int, tuple] = {}  # per records list (passes running the same block share it), with the records
    for run in runs:
        m = run.pass_.microbatches
        for seg in run.segments:
            if id(seg.records) not in splits:
                splits[id(seg.records)] = (segment_split(seg), seg.records)
            for key, value in splits[id(seg.records)][0].items():
                totals[seg.stage][key] = totals[seg.stage].get(key, 0.0) + value * seg.repeat * m
            _hidden_under_next_copy(totals[seg.stage], seg, seg.overlapped(seg.repeat) * m)
        for s in range(stages):
            compute = [(x.start, x.end) for x in run.spans if x.stage == s and x.kind == "compute"]
            links = [(x.start, x.end) for x in run.spans if x.kind == "send" and s in (x.stage, x.stage + 1)]
            hidden = overlap(links, compute)
            exposed = length(links) - hidden
            totals[s]["exposed_comm"] += exposed
            totals[s]["overlapped_comm"] += hidden
            totals[s]["idle"] += run.cycles - length(compute) - exposed
            if links:
                totals[s]["exposed_comm_pp"] = totals[s].get("exposed_comm_pp", 0.0) + exposed
                totals[s]["overlapped_comm_pp"] = totals[s].get("overlapped_comm_pp", 0.0) + hidden
    axes = sorted({k for t in totals for k in t if k.startswith(("exposed_comm_", "overlapped_comm_"))})
    rows = []
    for s, t in enumerate(totals):
        total = sum(t[k] for k in SPLIT)
        row = {"stage": s, "chips": stage_chips}
        row |= {f"{k}_s": chip.seconds(t[k]) for k in (*SPLIT, "overlapped_comm")}
        row |= {"total_s": chip.seconds(total)} | {f"{k}_share": (t[k] / total if total else 0.0) for k in SPLIT}
        row |= {f"{k}_s": chip.seconds(t.get(k, 0.0)) for k in axes}
        rows.append(row)
    return rows


TIMELINE_COLUMNS = ["pass", "phase", "stage", "microbatch", "kind", "start", "end", "cycles", "seconds"]
LINK_COLUMNS = ["link", "src", "dst", "bytes", "bandwidth_gb_s", "utilization"]


def timeline_table(chip: Chip, runs: list[PassRun]) -> "pd.DataFrame":
    """`timeline_rows` as a DataFrame."""
    return as_table(timeline_rows(chip, runs), TIMELINE_COLUMNS)


def timeline_rows(chip: Chip, runs: list[PassRun]) -> list[dict]:
    """The pipeline schedule on the run's clock: one row per stage × micro-batch compute span and per
    send between stages. The gaps in a stage's rows are its bubble."""
    rows, start = [], 0
    for i, run in enumerate(runs):
        for x in run.spans:
            rows.append({"pass": i, "phase": run.pass_.phase, "stage": x.stage, "microbatch": x.microbatch,
                         "kind": x.kind, "start": start + x.start, "end": start + x.end, "cycles": x.end - x.start,
                         "seconds": chip.seconds(x.end - x.start)})
        start += run.cycles
    return rows


def link_table(chip: Chip, topology: Topology, runs: list[PassRun]) -> "pd.DataFrame":
    """`link_rows` as a DataFrame."""
    return as_table(link_rows(chip, topology, runs), LINK_COLUMNS)


def link_rows(chip: Chip, topology: Topology, runs: list[PassRun]) -> list[dict]:
    """One row per directed link that carried anything: bytes, and utilization of its datasheet bandwidth."""
    cycles = sum(r.cycles for r in runs)
    carried = [0.0] * len(topology.links)
    for run in runs:
        for i in _used(run.link_bytes):
            carried[i] += run.link_bytes[i]
    name = topology.node_name
    rows = [{"link": link.index, "src": name(link.src), "dst": name(link.dst), "bytes": carried[link.index],
             "bandwidth_gb_s": link.peak_bytes_per_cycle * chip.clock_hz / 1e9,
             "utilization": carried[link.index] / (link.peak_bytes_per_cycle * cycles) if cycles else 0.0}
            for link in (topology.links[i] for i, b in enumerate(carried) if b > 0)]
    return rows


def _used(link_bytes) -> list[int]:
    """The links a pass put bytes on (a cluster has tens of thousands; a pass uses some)."""
    return np.flatnonzero(np.asarray(link_bytes, dtype=float)).tolist() if len(link_bytes) else []


def reuse_summary(runs: list[PassRun]) -> dict:
    """What symmetric reuse left to simulate (mapping/symmetry.py, engine/program.py): over the distinct
    collective steps, their groups and the groups whose messages ran (one per class of symmetric,
    independent groups; the rest took its result); over the distinct blocks of every stage, those the engine
    ran and those that took another's records (a stage alike to another up to its chips, or a sequential
    block with the same times)."""
    blocks = {id(seg.block_run.steps): seg.block_run for run in runs for seg in run.segments
              if seg.block_run is not None}
    groups = simulated = 0
    for block in blocks.values():
        for step in block.steps:
            if isinstance(step, CommStep) and step.algorithm:
                senders = {m.src for m in step.messages}
                groups += len(step.groups)
                simulated += sum(1 for g in step.groups if senders.intersection(g))
    return {"collective_groups": groups, "collective_groups_simulated": simulated, "blocks": len(blocks),
            "blocks_simulated": len({id(b.records) for b in blocks.values()})}


def topology_name(system) -> str:
    """`switch`, `torus3d`, …; with a scale-out network `switch × 128 nodes, rail_optimized`."""
    out = system.scale_out
    if out is None or system.chips == out.chips_per_node:
        return system.topology
    return f"{system.topology} × {system.chips // out.chips_per_node} nodes, {out.topology}"


def system_summary(chip: Chip, placement: Placement, runs: list[PassRun], stages, links) -> dict:
    """System-level figures for summary.json: who was used, and where communication time went. `stages` and
    `links` are `stage_rows` and `link_rows` (or their tables); the sums round as the tables' would."""
    system, p = chip.config.system, placement.parallel
    stages, links = records(stages), records(links)
    seconds = {k: column(stages, f"{k}_s") for k in (*SPLIT, "overlapped_comm")}
    total = column(stages, "total_s").sum()
    distinct = {id(seg.records): seg.records for run in runs for seg in run.segments}
    comm = [r for records in distinct.values() for r in records if r.type == "collective"]
    return {
        "chips": system.chips, "chips_used": p.chips, "topology": topology_name(system),
        "parallel": {"tp": p.tp, "pp": p.pp, "ep": p.ep, "dp": p.dp, "microbatches": p.microbatches,
                     "sequence_parallel": p.sequence_parallel} | ({"cp": p.cp} if p.cp > 1 else {})
        | {k: getattr(p, k) for k in ("layout", "attention")  # inference partition layouts, when not the default
           if p.tp > 1 and getattr(p, k) != type(p).model_fields[k].default},
        "collective_algorithms": sorted({f"{r.kind}:{r.algorithm}" for r in comm if r.algorithm}),
        **{f"{k}_s": float(v.sum() / float(len(v))) for k, v in seconds.items()},  # a column's mean()
        **{f"{k}_share": float(seconds[k].sum() / total) if total else 0.0 for k in SPLIT},
        **{k: float(column(stages, k).sum() / float(len(stages))) for k in stages[0]
           if k.startswith(("exposed_comm_", "overlapped_comm_")) and k.endswith("_s") and k != "exposed_comm_s"},
        "link_bytes": float(column(links, "bytes").sum()),
        "max_link_utilization": float(column(links, "utilization").max()) if len(links) else 0.0,
        **reuse_summary(runs),
    }
