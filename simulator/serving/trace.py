"""A served load as a Chrome / Perfetto trace: the first N iterations of every instance.

One process per instance, with a track of iterations (each slice names its batch: decodes, prefill chunks
and their tokens; the host's scheduler time is its own slice before the engine's), counters of KV blocks
in use, running and waiting requests, and one async slice per request from arrival to last token (queued,
then served) for requests that arrive before the last iteration shown. Times are whole nanoseconds written
in microseconds, as the format wants; exact cycles are in args."""

import json
from pathlib import Path

from simulator import __version__
from simulator.errors import TortoiseError

ITERATIONS, HOST = 1, 2


def build_serve_trace(result, iterations: int) -> dict:
    hz = float(result.chip.clock_hz)

    def us(cycles: int) -> float:
        return round(cycles * 1e9 / hz) / 1e3

    rows = sorted(result.loop.rows, key=lambda r: (r.start, r.instance))[:iterations]
    until = max((r.end for r in rows), default=0)
    events = []
    for inst in sorted({r.instance for r in rows}):
        events += [{"ph": "M", "pid": inst + 1, "name": "process_name", "args": {"name": f"instance {inst}"}},
                   {"ph": "M", "pid": inst + 1, "tid": ITERATIONS, "name": "thread_name",
                    "args": {"name": "iterations"}},
                   {"ph": "M", "pid": inst + 1, "tid": HOST, "name": "thread_name", "args": {"name": "host"}}]
    for i, r in enumerate(rows):
        pid = r.instance + 1
        kind = "mixed" if r.decodes and r.prefills else "prefill" if r.prefills else "decode"
        engine = r.start + r.host + r.swap
        if r.host:
            events.append({"ph": "X", "pid": pid, "tid": HOST, "name": "scheduler", "ts": us(r.start),
                           "dur": us(r.start + r.host) - us(r.start), "args": {"cycles": r.host}})
        events.append({"ph": "X", "pid": pid, "tid": ITERATIONS, "name": f"{kind} ×{r.decodes + r.prefills}",
                       "ts": us(engine), "dur": us(r.end) - us(engine),
                       "args": {"iteration": i, "decodes": r.decodes, "prefills": r.prefills,
                                "prefill_tokens": r.prefill_tokens, "steps": r.steps, "start_cycle": r.start,
                                "end_cycle": r.end, "swap_cycles": r.swap}})
        for name, value in (("KV blocks", r.kv_blocks), ("running", r.running), ("waiting", r.waiting)):
            events.append({"ph": "C", "pid": pid, "name": name, "ts": us(r.end), "args": {name: value}})
    book = result.loop.book
    arrival, scheduled, finish = book.arrival.tolist(), book.scheduled.tolist(), book.finish.tolist()
    instance = book.instance.tolist()
    for rid in range(len(book)):
        if arrival[rid] > until:
            continue
        pid = instance[rid] + 1
        ident = f"request {result.requests.ids[rid]}"
        start = scheduled[rid] if scheduled[rid] >= 0 else finish[rid]
        for name, a, b in (("queued", arrival[rid], start), ("served", start, finish[rid])):
            if b > a:
                events += [{"ph": "b", "cat": "request", "id": rid, "pid": pid, "name": name, "ts": us(a),
                            "args": {"request": ident}},
                           {"ph": "e", "cat": "request", "id": rid, "pid": pid, "name": name, "ts": us(b)}]
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "metadata": {"tortoise": __version__, "workload": result.summary["workload"],
                         "chip": result.chip.name, "clock_hz": hz, "iterations_shown": len(rows),
                         "iterations": len(result.loop.rows)}}


def write_serve_trace(result, path: Path, iterations: int) -> Path:
    trace = build_serve_trace(result, iterations)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(trace, separators=(",", ":")))
        tmp.replace(path)
    except OSError as exc:
        raise TortoiseError(f"--trace {path}: cannot write there ({exc.strerror or exc})") from None
    return path
