"""The report's key-metric tables: a run's figures and its time split; one row per sweep point or compare
design with the bottleneck each row's time split gives; a serve folder's latency percentiles. Columns
that hold one value in every row are named in the caption instead of repeated down the table."""

import math

import pandas as pd

from simulator.report.blocks import Table
from simulator.report.bottleneck import bound, bound_sentence, time_split
from simulator.report.folders import Folder
from simulator.report.style import axis_label
from simulator.results.catalogue import auto_unit, metric, number_text

MAX_TABLE_ROWS = 60
RUN_METRICS = ("seconds", "ttft_s", "tpot_s", "e2e_s", "tokens_per_s", "tokens_per_s_per_user", "mfu", "mbu",
               "achieved_tflops", "roofline_fraction", "memory_required", "energy_j", "energy_per_token_j",
               "average_power_w", "exposed_comm_share", "cost_per_million_tokens", "cost_per_step",
               "tokens_per_dollar", "tokens_per_s_per_w", "die_area_mm2")
ROW_METRICS = ("seconds", "tokens_per_s", "mfu", "mbu", "energy_per_token_j", "average_power_w",
               "cost_per_million_tokens", "die_area_mm2")
SERVE_METRICS = ("requests_per_s", "output_tokens_per_s", "input_tokens_per_s", "ttft_p50_s", "ttft_p99_s",
                 "tpot_p50_s", "tpot_p99_s", "itl_p99_s", "e2e_p50_s", "e2e_p99_s", "queue_p99_s", "slo_attainment",
                 "goodput_requests_per_s", "mean_batch", "kv_peak_share", "preemptions", "capacity_requests_per_s",
                 "cost_per_million_input_tokens", "cost_per_million_output_tokens")
SERVE_ROW_METRICS = ("requests_per_s", "output_tokens_per_s", "ttft_p99_s", "tpot_p99_s", "slo_attainment",
                     "goodput_requests_per_s")


def fmt(value, column: str | None = None) -> str:
    """A cell: the value in the column's shown unit (the heading names the unit), 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if column is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return metric(column).text(value, unit=False)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e3 else f"{value:,.0f}"
    return str(value)


def with_unit(column: str, value) -> str:
    """`14.22 ms`, `70.3 tokens/s`, `26.05 J`: a value in a sentence; times and energies in the prefix that
    keeps them between 1 and 1000."""
    m = metric(column)
    if m.unit in ("s", "J") and isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        unit, factor = auto_unit(m.unit, float(value))
        return f"{number_text(value * factor)} {unit}"
    return m.text(value)


def run_metrics(folder: Folder) -> list:
    s = folder.meta
    rows = [[axis_label(k), fmt(s[k], k)] for k in RUN_METRICS if s.get(k) is not None]
    split = time_split(s)
    rows.append(["bottleneck (from the time split)", bound(split) or "—"])
    if s.get("roofline_bound"):  # the ops' FLOP and compulsory-byte floors, communication not counted
        rows.append(["bound by the ops' roofline floors", str(s["roofline_bound"])])
    blocks: list = [Table(["metric", "value"], rows, numeric=[False, True])]
    if split:
        seconds = float(s.get("seconds") or 0)
        parts = [[name, fmt(share * seconds, "seconds"), f"{100 * share:.1f}"]
                 for name, share in sorted(split.items(), key=lambda kv: -kv[1])]
        blocks += [Table(["where the time goes", "time (ms)", "share (%)"], parts,
                         "The run's time split (per chip): the largest part is the bottleneck."),
                   f"Bottleneck: {bound_sentence(split)}."]
    return blocks


def serve_metrics(folder: Folder) -> list:
    s = folder.meta
    return [Table(["metric", "value"], [[axis_label(k), fmt(s[k], k)] for k in SERVE_METRICS
                                        if s.get(k) is not None], numeric=[False, True])]


def row_table(folder: Folder, table: pd.DataFrame, names: dict | None = None) -> Table:
    """Sweep or compare rows, best first by the first metric with a direction: the columns that tell rows
    apart, the key metrics, and each row's bottleneck."""
    keys = ["design", "workload"] if folder.kind == "compare" else \
        list(dict.fromkeys([*folder.distinct_axes(), "hardware", "workload"]))
    keys = [k for k in keys if k in table.columns]
    serving = "ttft_p99_s" in table.columns
    metrics = [k for k in (SERVE_ROW_METRICS if serving else ROW_METRICS) if k in table.columns]
    fixed = [k for k in keys if table[k].nunique(dropna=False) == 1 and not (folder.kind == "compare"
                                                                                and k == "design")]
    keys = [k for k in keys if k not in fixed]
    order = table
    first = next((k for k in ("tokens_per_s", "requests_per_s") if k in metrics), None)
    if first is not None:  # best first within each workload, workloads in the folder's order
        rank = {w: i for i, w in enumerate(dict.fromkeys(table["workload"]))} if "workload" in table.columns else {}
        order = table.assign(_w=table["workload"].map(rank) if rank else 0, _y=-table[first].astype(float))
        order = order.sort_values(["_w", "_y"], kind="stable").drop(columns=["_w", "_y"])
    shown = order.head(MAX_TABLE_ROWS)
    bounds = [bound(time_split(r)) or "—" for r in shown.to_dict("records")] if not serving else None
    labels = [axis_label(k, folder.units) for k in keys] + [axis_label(k) for k in metrics]
    cells = []
    for i, (_, r) in enumerate(shown.iterrows()):
        row = [(names or {}).get(r[k], fmt(r[k])) if k == "design" else fmt(r[k]) for k in keys]
        row += [fmt(r[k], k) for k in metrics]
        cells.append(row + ([bounds[i]] if bounds else []))
    if bounds:
        labels.append("bottleneck")
    caption = f"{len(table)} rows that ran" + (f", best {metric(first).label} first (per workload)" if first else "")
    if len(table) > MAX_TABLE_ROWS:
        caption += f"; the first {MAX_TABLE_ROWS} shown (all rows are in the folder's table)"
    if fixed:
        caption += "; the same in every row: " + ", ".join(f"{k} = {fmt(table[k].iloc[0])}" for k in fixed)
    numeric = [pd.api.types.is_numeric_dtype(table[k]) for k in keys] + [True] * len(metrics) + [False] * bool(bounds)
    return Table(labels, cells, caption + ".", numeric=numeric)


def ratio_table(folder: Folder, table: pd.DataFrame, names: dict) -> Table | None:
    """A compare folder: latency and tokens/s of each design as ratios to the baseline, per workload."""
    baseline = folder.meta.get("baseline")
    ratios = [k for k in ("seconds", "tokens_per_s", "energy_per_token_j") if k in table.columns]
    if not ratios or baseline not in set(table["design"]):
        return None
    base = table[table["design"] == baseline].set_index("workload")
    rows = []
    for _, r in table.iterrows():
        if r["design"] == baseline:
            continue
        row = [names.get(r["design"], r["design"]), str(r["workload"])]
        for k in ratios:
            b = base[k].get(r["workload"]) if r["workload"] in base.index else None
            row.append(f"{r[k] / b:.2f}×" if b else "—")
        rows.append(row)
    labels = ["design", "workload"] + [f"{metric(k).label} (× {names.get(baseline, baseline)})" for k in ratios]
    return Table(labels, rows, f"Ratios to the baseline design, {names.get(baseline, baseline)}, on the same "
                 "workload.", numeric=[False, False] + [True] * len(ratios)) if rows else None


def errors_note(folder: Folder, errors: int) -> str:
    bad = folder.table[folder.table["status"].astype(str) != "ok"]
    first = str(bad.iloc[0].get("error", "")) if len(bad) else ""
    return f"{errors} row(s) failed and are left out of every table and plot; the first: {first}"
