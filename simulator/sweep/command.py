"""`tortoise sweep FILE --out DIR`: validate every point, run what is not done yet, keep every finished row."""

import json
import sys
import time
from pathlib import Path

from simulator.progress import ProgressBar
from simulator.sweep.plan import Plan, plan
from simulator.sweep.runner import default_workers, run_dask, run_in_process, run_local, use_plan
from simulator.sweep.spec import HARDWARE, load_sweep
from simulator.sweep.store import Store

TABLE_EVERY_S = 2.0
TABLE_SHARE = 0.02  # and rewriting it while running takes at most this share of the time: a big table less often
SHOWN_POINTS = 5


def sweep_command(args) -> int:
    sweep = load_sweep(args.sweep_file)
    the_plan = plan(sweep)
    if args.dry_run:
        print(dry_run_text(the_plan))
        return 0
    store = Store(Path(args.out))
    done = store.open()
    try:
        return _run(the_plan, store, done, args)
    finally:
        store.close()


def _run(the_plan: Plan, store: Store, done: dict, args) -> int:
    sweep, rows = the_plan.sweep, the_plan.rows
    todo, seen = [], set()
    for row in rows:
        if row.task.key not in done and row.task.key not in seen:
            seen.add(row.task.key)
            todo.append(row.task)
    skipped = sum(row.task.key in done for row in rows)
    store.copy_sweep(sweep.path)
    where = f"on {args.scheduler}" if args.scheduler else None
    workers = 1 if args.scheduler else default_workers(args.workers, todo)
    print(f"{sweep.name}: {len(the_plan.points)} points × {len(sweep.workloads)} workload(s) = {len(rows)} rows; "
          + (f"{skipped} already done in {store.folder}, " if skipped else "")
          + f"{len(todo)} to run " + (where or f"on {workers} local process{'es' if workers > 1 else ''}"),
          flush=True)
    failures: list[str] = []
    last_write = [time.monotonic(), 0.0]  # when the table was last written, and how long that took

    def report(i: int, result: dict) -> None:
        task = todo[i]
        if result.pop("retry", False):
            failures.append(result["error"])
        else:
            line = store.append({"key": task.key} | result)
            done[task.key] = json.loads(line)  # exactly what a resume would read back
        shown[0] += len(by_key.get(task.key, ()))
        progress(shown[0], len(rows))
        now = time.monotonic()
        if now - last_write[0] >= max(TABLE_EVERY_S, last_write[1] / TABLE_SHARE):
            store.write_table(the_plan, done)
            last_write[:] = [time.monotonic(), time.monotonic() - now]

    by_key: dict = {}
    for row in rows:
        by_key.setdefault(row.task.key, []).append(row)
    store.write_meta(the_plan, skipped, _errors(the_plan, done))
    use_plan(the_plan)  # the points run with the configs validation loaded, in this process and forked workers
    shown = [skipped]  # rows finished, for the bar
    progress = ProgressBar(f"sweep {sweep.name}", " rows", rate=True)
    try:
        with progress:
            if todo:
                progress(skipped, len(rows))
            if todo and args.scheduler:
                run_dask(todo, args.scheduler, report)
            elif todo and workers == 1:
                run_in_process(todo, report)
            elif todo:
                run_local(todo, workers, report)
    except KeyboardInterrupt:
        finished = _finish(the_plan, store, done)
        print(f"interrupted: {finished} of {len(rows)} rows done; rerun the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        use_plan(None)  # the plan's configs are not kept past the sweep
    finished = _finish(the_plan, store, done)
    errors = _errors(the_plan, done)
    print(f"{finished} of {len(rows)} rows done" + (f" ({skipped} skipped, already done)" if skipped else "")
          + f", {errors} error{'s' if errors != 1 else ''}; results in {store.folder}/results.csv and .parquet")
    if errors:
        first = next(done[r.task.key]["error"] for r in rows if done.get(r.task.key, {}).get("status") == "error")
        print(f"  first error: {first}")
    if failures:
        print(f"{len(failures)} row(s) failed inside the simulator and were not stored (rerun to retry); first: "
              f"{failures[0]}", file=sys.stderr)
        return 1
    print("next: " + plot_hint(the_plan, store.folder))
    return 0


def _finish(the_plan: Plan, store: Store, done: dict) -> int:
    table = store.write_table(the_plan, done)
    store.write_meta(the_plan, len(table), _errors(the_plan, done))
    return len(table)


def _errors(the_plan: Plan, done: dict) -> int:
    return sum(done[r.task.key].get("status") == "error" for r in the_plan.rows if r.task.key in done)


def plot_hint(the_plan: Plan, folder: Path) -> str:
    sweep = the_plan.sweep
    varied = [a for a in sweep.axes if a.paths[0] != HARDWARE and len(a.values) > 1]  # a one-value axis is a setting
    paths = [a.paths[0] for a in varied]
    numeric = [a.paths[0] for a in varied if not isinstance(a.values[0], str | bool)]
    x = (numeric or paths or ["point"])[0]
    rates = [p for p in numeric if p.startswith("serving.") and p.endswith("rate")]
    if len(rates) == 1:  # a serving workload against its offered load
        return f"tortoise plot {folder} --kind load"
    hue = "workload" if len(sweep.workloads) > 1 else HARDWARE if len(sweep.hardware) > 1 else \
        next((p for p in paths if p != x), None)
    return f"tortoise plot {folder} --x {x} --y tokens_per_s" + (f" --hue {hue}" if hue else "")


def dry_run_text(the_plan: Plan) -> str:
    sweep = the_plan.sweep
    shape = " × ".join(f"{a.label} ({len(a.values)})" for a in sweep.axes) or "no axes"
    how = {"grid": "grid over", "zip": "zip of", "random": f"{sweep.samples} random of the grid over"}[sweep.mode]
    lines = [f"{sweep.source}: valid; {len(the_plan.points)} points × {len(sweep.workloads)} workload(s) = "
             f"{len(the_plan.rows)} rows ({how} {shape})"]
    for point in the_plan.points[:SHOWN_POINTS]:
        lines.append(f"  point {point.index}: {point.describe(sweep) or '(the base configuration)'}")
    if len(the_plan.points) > SHOWN_POINTS:
        lines.append(f"  … and {len(the_plan.points) - SHOWN_POINTS} more")
    return "\n".join(lines)
