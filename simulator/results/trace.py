"""A run as a Chrome / Perfetto trace: where every op copy ran, on which resource, with its numbers.

One process per chip group (the chip, or each pipeline stage of a system: its chips run alike, so one is
shown), with tracks for the cores, communication, DMA and each memory level, plus a process for the
system's links. Chrome 'X' slices on one track must nest, so ops that overlap in time go to separate
lanes of a track ("cores · lane 1"), assigned greedily. Times are the simulation's exact cycles (kept in
args) converted with the clock to whole nanoseconds, written in microseconds as the format wants.
See docs/trace.md.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simulator import __version__
from simulator.errors import TortoiseError
from simulator.results.timeline import expand_copies

MAX_OPS = 100_000  # op copies drawn (~1.3 kB each); beyond this the trace is cut at the end of time

LEVELS = (("HBM", ("hbm_read", "hbm_write")), ("L2", ("l2_read",)), ("SRAM", ("sram_read", "sram_write")),
          ("shared SRAM", ("chip_sram_read", "chip_sram_write")))  # an SRAM-only chip's farthest level
# Track kinds in each chip process, in display order; the number is the first thread id of the kind.
TRACKS = {"pipeline": 1, "cores": 100, "communication": 200, "DMA": 300, "HBM": 400, "L2": 500, "SRAM": 600,
          "shared SRAM": 700}
OP_ARGS = ("kind", "type", "group", "shape", "tile", "dtype", "cores", "bandwidth_fraction", "cycles",
           "compute_cycles", "stall_cycles", "overhead_cycles", "macs", "flops", "vector_ops", "hbm_read",
           "hbm_write", "l2_read", "sram_read", "sram_write", "min_bytes", "bound", "roofline_fraction",
           "arithmetic_intensity", "achieved_tflops", "pass", "phase", "stage", "segment", "copy", "microbatch",
           "comm_bytes", "link_bytes", "algorithm", "energy_j")


def write_trace(result, path: Path, max_ops: int = MAX_OPS) -> Path:
    """Write the trace of an api.LLMResult or api.RunResult to `path`; say on stderr if it was cut."""
    trace = build_trace(result, max_ops)
    meta = trace["metadata"]
    if meta["truncated"]:
        print(f"tortoise: trace cut to the first {meta['op_copies_shown']:,} of {meta['op_copies']:,} op copies "
              f"(up to {meta['shown_until_us']:,.3f} µs of {meta['run_us']:,.3f})", file=sys.stderr)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(trace, separators=(",", ":")))
    except OSError as exc:
        raise TortoiseError(f"--trace {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def build_trace(result, max_ops: int = MAX_OPS) -> dict:
    clock = float(result.chip.clock_hz)
    copies = op_copies(result)
    total = len(copies)
    shown = copies.head(max_ops)
    cutoff = int(shown["start"].max()) if total > max_ops else None
    builder = _Builder(clock)
    stages = _stage_chips(result)
    for s, chips in enumerate(stages):
        builder.process(s + 1, f"stage {s} (chips {_ranges(chips)})" if len(stages) > 1 or chips != [0]
                        else f"chip {result.chip.name}")
    for stage, ops in shown.groupby("stage", sort=True) if "stage" in shown else [(0, shown)]:
        _chip_tracks(builder, int(stage) + 1, ops)
    links = _link_tracks(builder, result, shown, cutoff, len(stages) + 1)
    _pipeline_tracks(builder, result, cutoff)
    run_cycles = int(result.summary["cycles"])
    meta = {"chip": result.chip.name, "workload": result.summary["workload"], "clock_hz": clock,
            "tortoise": __version__, "cycles": run_cycles, "run_us": _us(run_cycles, clock),
            "op_copies": total, "op_copies_shown": len(shown), "truncated": total > max_ops,
            "shown_until_us": _us(int(shown["end"].max()) if len(shown) else 0, clock),
            "link_bytes_shown": links,
            "note": ("times: simulated cycles converted with clock_hz to ns; each op's exact cycles are in its args. "
                     + (f"Cut to the first {max_ops} op copies (of {total}) in time order; "
                        "what runs later is not drawn." if total > max_ops else "Every op copy is drawn."))}
    return {"traceEvents": builder.events, "displayTimeUnit": "ns", "metadata": meta}


def op_copies(result) -> pd.DataFrame:
    """Every op copy at its real start: layer copies (expand_copies), and on a pipeline every micro-batch,
    shifted to where its stage ran it. Sorted by start; ties keep table order."""
    table = expand_copies(result.table)
    if "microbatch" not in table:
        table = table.assign(microbatch=0)
    runs = getattr(result, "runs", None)
    if not runs or not any(r.pass_.microbatches > 1 for r in runs):
        return table.sort_values(["start", "index"], kind="stable").reset_index(drop=True)
    parts = [table]
    for i, run in enumerate(runs):
        first = {x.stage: x.start for x in run.spans if x.kind == "compute" and x.microbatch == 0}
        for x in run.spans:
            if x.kind == "compute" and x.microbatch > 0:
                mine = table[(table["pass"] == i) & (table["stage"] == x.stage)]
                shift = x.start - first[x.stage]
                parts.append(mine.assign(microbatch=x.microbatch, start=mine["start"] + shift,
                                         end=mine["end"] + shift))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["start", "index"], kind="stable").reset_index(drop=True)


class _Builder:
    """Trace events, with named, sorted processes and threads, and greedy lanes per track."""

    def __init__(self, clock: float):
        self.clock = clock
        self.events: list[dict] = []
        self._threads: set = set()
        self._lanes: dict = {}  # (pid, track) → end cycle of each lane

    def process(self, pid: int, name: str) -> None:
        self.events.append({"ph": "M", "pid": pid, "tid": 0, "name": "process_name", "args": {"name": name}})
        self.events.append({"ph": "M", "pid": pid, "tid": 0, "name": "process_sort_index",
                            "args": {"sort_index": pid}})

    def _thread(self, pid: int, tid: int, name: str) -> None:
        if (pid, tid) in self._threads:
            return
        self._threads.add((pid, tid))
        self.events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
        self.events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index",
                            "args": {"sort_index": tid}})

    def lane(self, pid: int, track: str, base: int, start: int, end: int) -> int:
        """The first lane of `track` free at `start` (slices come in start order), as a thread id."""
        ends = self._lanes.setdefault((pid, track), [])
        for k, last in enumerate(ends):
            if last <= start:
                ends[k] = end
                break
        else:
            ends.append(end)
            k = len(ends) - 1
        tid = base + k
        self._thread(pid, tid, f"{track} · lane {k}")
        return tid

    def slice(self, pid: int, tid: int, name: str, cat: str, start: int, end: int, args: dict) -> None:
        a, b = _ns(start, self.clock), _ns(end, self.clock)
        self.events.append({"ph": "X", "pid": pid, "tid": tid, "name": name, "cat": cat, "ts": a / 1000,
                            "dur": (b - a) / 1000, "args": args})


def _ns(cycles: int, clock: float) -> int:
    """Whole nanoseconds: rounding is monotone, so slices that touch or nest in cycles still do."""
    return int(round(cycles * 1e9 / clock))


def _us(cycles: int, clock: float) -> float:
    return _ns(cycles, clock) / 1000


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _op_args(row: dict) -> dict:
    args = {k: _plain(row[k]) for k in OP_ARGS if k in row and not (k in ("comm_bytes", "link_bytes", "algorithm")
                                                                     and row["type"] != "collective")}
    args |= {"start_cycle": int(row["start"]), "end_cycle": int(row["end"])}
    return args


def _chip_tracks(builder: _Builder, pid: int, ops: pd.DataFrame) -> None:
    """Cores (or communication), DMA and memory-level slices for one chip's op copies, in start order."""
    for row in ops.to_dict("records"):
        start, end, name = int(row["start"]), int(row["end"]), str(row["name"])
        track = "communication" if row["type"] == "collective" else "cores"
        tid = builder.lane(pid, track, TRACKS[track], start, end)
        builder.slice(pid, tid, name, str(row["group"] or row["type"]), start, end, _op_args(row))
        seconds = (end - start) / builder.clock
        moved = {}
        for level, columns in LEVELS:
            nbytes = {c: int(row[c]) for c in columns}
            total = sum(nbytes.values())
            if total:
                moved[level] = nbytes
                gb_s = total / seconds / 1e9 if seconds else 0.0
                tid = builder.lane(pid, level, TRACKS[level], start, end)
                builder.slice(pid, tid, name, level, start, end, nbytes | {"gb_s": gb_s})
        far = moved.get("HBM") or moved.get("shared SRAM")
        if far:  # the op's DMA traffic: what it brings in from the farthest level (HBM, or the SRAM) and writes back
            tid = builder.lane(pid, "DMA", TRACKS["DMA"], start, end)
            read, write = far.values()
            builder.slice(pid, tid, name, "DMA", start, end, {"bytes_in": read, "bytes_out": write})


def _stage_chips(result) -> list[list[int]]:
    placement = getattr(result, "placement", None)
    if placement is None:
        return [[0]]
    p = placement.parallel
    return [sorted(placement.chip(p.chip_of(t, e, s, d, c)) for d in range(p.dp) for e in range(p.ep)
                   for c in range(p.cp) for t in range(p.tp)) for s in range(p.pp)]


def _ranges(chips: list[int]) -> str:
    """[0, 1, 2, 3, 8] → '0–3, 8'."""
    out, i = [], 0
    while i < len(chips):
        j = i
        while j + 1 < len(chips) and chips[j + 1] == chips[j] + 1:
            j += 1
        out.append(str(chips[i]) if i == j else f"{chips[i]}–{chips[j]}")
        i = j + 1
    return ", ".join(out)


def _link_tracks(builder: _Builder, result, ops: pd.DataFrame, cutoff: int | None, pid: int) -> float:
    """Each collective copy as a slice on every link its messages crossed, with the bytes it put there;
    each pipeline send likewise: the engine's link spans, placed where the copy ran. Returns the bytes
    drawn (all of the run's link bytes when nothing is cut)."""
    placement = getattr(result, "placement", None)
    if placement is None:
        return 0.0
    topology = placement.topology
    name = lambda node: "switch" if node >= topology.chips else str(node)  # noqa: E731
    slices = []  # (start, end, link, name, cat, bytes, args)
    per_op = _collective_link_bytes(result)
    for row in ops[ops["type"] == "collective"].to_dict("records"):
        key = (int(row["pass"]), int(row["stage"]), str(row["segment"]), int(row["index"]))
        for link, nbytes in per_op.get(key, ()):
            slices.append((int(row["start"]), int(row["end"]), link, str(row["name"]), "collective", nbytes,
                           {"kind": row["kind"], "algorithm": row["algorithm"], "copy": int(row["copy"]),
                            "microbatch": int(row["microbatch"]), "pass": int(row["pass"])}))
    offset = 0
    workload = getattr(result, "workload", None)
    stages = workload.parallel.pp if workload is not None else 1
    for i, run in enumerate(result.runs):
        microbatch = {(x.stage, x.start, x.end): x.microbatch for x in run.spans if x.kind == "send"}
        for x in run.send_spans:  # op = the sending stage
            if cutoff is not None and offset + x.start > cutoff:
                continue
            label = f"send stage {x.op}→{(x.op + 1) % stages}"  # interleaved: the last stage sends to the first
            slices.append((offset + x.start, offset + x.end, _link_index(x.unit), label, "send", x.bytes,
                           {"microbatch": microbatch[(x.op, x.start, x.end)], "pass": i}))
        offset += run.cycles
    if not slices:
        return 0.0
    builder.process(pid, f"links ({topology.kind}, {topology.chips} chips)")
    slices.sort(key=lambda s: (s[0], s[2], s[1]))
    for start, end, link, label, cat, nbytes, args in slices:
        lk = topology.links[link]
        tid = builder.lane(pid, f"link {name(lk.src)}→{name(lk.dst)}", 1000 * (link + 1), start, end)
        builder.slice(pid, tid, label, cat, start, end,
                      args | {"link": link, "bytes": nbytes, "start_cycle": start, "end_cycle": end})
    return float(sum(s[5] for s in slices))


def _link_index(unit: str) -> int:
    return int(unit.removeprefix("link "))


def _collective_link_bytes(result) -> dict[tuple, list[tuple[int, float]]]:
    """(link, bytes) of one copy of each collective, keyed (pass, stage, segment, op index): the engine's
    link spans of that copy."""
    out: dict[tuple, list[tuple[int, float]]] = {}
    for i, run in enumerate(result.runs):
        for seg in run.segments:
            for x in seg.spans:
                if x.unit.startswith("link "):
                    out.setdefault((i, seg.stage, seg.segment.name, x.op), []).append((_link_index(x.unit), x.bytes))
    return out


DIRECTION_LANES = {"forward": 0, "backward": 30, "optimizer": 60}  # a training step's tracks, apart


def _pass_direction(run) -> str:
    """`optimizer` for a training step's optimizer pass (its spans carry no part); else ""."""
    directions = {getattr(seg.segment, "direction", "") for seg in run.segments}
    return "optimizer" if directions == {"optimizer"} else ""


def _pipeline_tracks(builder: _Builder, result, cutoff: int | None) -> None:
    """On a pipeline (pp > 1 or micro-batches), each stage's compute per micro-batch: the bubble is the gap. A
    training step's forwards, backwards and optimizer go on tracks of their own."""
    runs = getattr(result, "runs", None)
    if not runs or getattr(result, "placement", None) is None:
        return
    if result.placement.parallel.pp == 1 and all(r.pass_.microbatches == 1 for r in runs):
        return
    offset = 0
    for i, run in enumerate(runs):
        for x in sorted(run.spans, key=lambda x: (x.start, x.stage)):
            if x.kind != "compute" or cutoff is not None and offset + x.start > cutoff:
                continue
            part = x.part or _pass_direction(run)
            track = f"pipeline {part}" if part else "pipeline"
            tid = builder.lane(x.stage + 1, track, TRACKS["pipeline"] + DIRECTION_LANES.get(part, 0),
                               offset + x.start, offset + x.end)
            builder.slice(x.stage + 1, tid, f"{part} micro-batch {x.microbatch}".lstrip(), "pipeline",
                          offset + x.start, offset + x.end,
                          {"pass": i, "microbatch": x.microbatch, "stage": x.stage, "part": part,
                           "start_cycle": offset + x.start, "end_cycle": offset + x.end})
        offset += run.cycles
