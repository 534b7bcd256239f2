"""Pictures of a served load: latency CDFs and the engine over time (a serve folder), and latency and
throughput against the offered load (a sweep over the request rate), with the SLO limits drawn."""

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from simulator.errors import TortoiseError
from simulator.report.style import PALETTE, figure

LATENCIES = (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "end-to-end latency"))
_plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")  # 2,000 rather than 2×10³
_plain_minor = FuncFormatter(lambda v, _: f"{v:,.0f}" if str(round(v))[0] in "25" else "")


def _ms(values) -> np.ndarray:
    return np.asarray(values, dtype=float) * 1e3


def _title(summary: dict) -> str:
    rate = f" at {summary['request_rate']:g} req/s" if summary.get("request_rate") else ""
    return (f"{summary['model']} on {summary['chip']}, {summary['scheduler']} batching, "
            f"{summary['requests']:,} requests{rate}")


def latency_cdf(summary: dict, requests: pd.DataFrame):
    """One panel per latency: the share of requests at or below each value, with p50/p99 and the SLO."""
    fig, axes = figure(11, 3.6, ncols=3)
    for ax, (column, label) in zip(axes, LATENCIES, strict=True):
        values = np.sort(_ms(requests[column].dropna()))
        if not len(values):
            ax.text(0.5, 0.5, "no request has two tokens", ha="center", transform=ax.transAxes)
            continue
        ax.plot(values, np.arange(1, len(values) + 1) / len(values), color=PALETTE[0])
        for q, style in ((50, ":"), (99, "--")):
            x = np.percentile(values, q)
            ax.axvline(x, color="grey", linestyle=style, linewidth=1)
            ax.annotate(f"p{q} {x:,.1f}", (x, 0.04 if q == 50 else 0.14), fontsize=8, color="grey",
                        xytext=(3, 0), textcoords="offset points")
        limit = summary.get(f"slo_{column}")
        top = values[-1]
        if limit is not None:
            ax.axvline(limit * 1e3, color=PALETTE[3], linewidth=1.2)
            ax.annotate(f"SLO {limit * 1e3:,.0f}", (limit * 1e3, 0.5), color=PALETTE[3], fontsize=8,
                        xytext=(3, 0), textcoords="offset points")
            top = max(top, limit * 1e3)
        if top > 20 * max(values[0], 1e-9):  # a wide range (or a far SLO): log, so the curve keeps its shape
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(_plain)
        ax.set_xlabel(f"{label} (ms)")
        ax.set_ylim(0, 1.02)
    axes[0].set_ylabel("share of requests")
    fig.suptitle(_title(summary), fontsize=10)
    fig.tight_layout()
    return fig


def engine_over_time(summary: dict, iterations: pd.DataFrame):
    """KV-cache occupancy and running/waiting requests against time, per instance (the first one drawn)."""
    fig, (top, bottom) = figure(9, 5.2, nrows=2, sharex=True)
    first = iterations[iterations["instance"] == iterations["instance"].min()]
    t = first["end_s"].to_numpy()
    top.plot(t, 100 * first["kv_share"], color=PALETTE[0], linewidth=1)
    top.set_ylabel("KV cache in use (%)")
    top.set_ylim(0, max(5.0, 100 * float(first["kv_share"].max()) * 1.1))
    bottom.plot(t, first["running"], color=PALETTE[1], linewidth=1, label="running")
    bottom.plot(t, first["waiting"], color=PALETTE[2], linewidth=1, label="waiting")
    bottom.set_ylabel("requests")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper left")
    shown = "" if iterations["instance"].nunique() == 1 else f" (instance {int(first['instance'].iloc[0])} of " \
        f"{iterations['instance'].nunique()})"
    top.set_title(_title(summary) + shown, fontsize=10)
    fig.tight_layout()
    return fig


def latency_vs_load(table: pd.DataFrame, rate: str):
    """A sweep over `rate`: p50 and p99 TTFT and TPOT, and throughput, against the offered load; the SLO
    limits the points were judged against are drawn as lines."""
    needed = [rate, "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "requests_per_s"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise TortoiseError(f"plot --kind load: the sweep has no {', '.join(missing)} column(s); it needs a sweep of "
                            "a serving workload over its request rate (e.g. configs/sweeps/serving_load.yaml)")
    designs = [c for c in ("chip", "workload") if c in table.columns and table[c].nunique() > 1]
    fig, axes = figure(12, 3.8, ncols=3)
    groups = table.groupby(designs, sort=True) if designs else [((), table)]
    for i, (key, rows) in enumerate(groups):
        rows = rows.sort_values(rate)
        name = " · ".join(map(str, key if isinstance(key, tuple) else (key,))) if designs else ""
        colour = PALETTE[i % len(PALETTE)]
        x = rows[rate].to_numpy(dtype=float)
        for ax, metric in zip(axes[:2], ("ttft", "tpot"), strict=True):
            ax.plot(x, _ms(rows[f"{metric}_p50_s"]), color=colour, marker="o", markersize=3, linestyle=":",
                    label=f"{name} p50".strip())
            ax.plot(x, _ms(rows[f"{metric}_p99_s"]), color=colour, marker="o", markersize=3,
                    label=f"{name} p99".strip())
        axes[2].plot(x, rows["requests_per_s"], color=colour, marker="o", markersize=3, label=name or "served")
    for ax, metric, label in ((axes[0], "ttft", "TTFT"), (axes[1], "tpot", "TPOT")):
        column = f"slo_{metric}_s"
        if column in table.columns and table[column].notna().any():
            ax.axhline(float(table[column].dropna().iloc[0]) * 1e3, color=PALETTE[3], linewidth=1.2, label="SLO")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_plain)
        ax.yaxis.set_minor_formatter(_plain_minor)
        ax.set_ylabel(f"{label} (ms)")
        ax.legend(fontsize=8)
    x_all = table[rate].to_numpy(dtype=float)
    axes[2].plot([0, x_all.max()], [0, x_all.max()], color="grey", linewidth=0.8, linestyle="--",
                 label="served = offered")
    axes[2].set_ylabel("throughput (req/s)")
    axes[2].legend(fontsize=8)
    names = [f"{table[c].iloc[0]}" for c in ("workload", "chip") if c in table.columns and table[c].nunique() == 1]
    fig.suptitle(" on ".join(names) + (": " if names else "") + "latency and throughput against the offered load",
                 fontsize=10)
    for ax in axes:
        ax.set_xlabel("offered load (req/s)")
        if len(set(x_all)) <= 12:
            ax.set_xticks(sorted(set(x_all)))
        ax.set_xlim(0, x_all.max() * 1.04)
    fig.tight_layout()
    return fig


def _rate_axis(folder, request) -> str:
    """The swept request rate: --x if given, else the one axis whose path ends in `rate`."""
    if request is not None and request.x:
        return request.x
    rates = [a for a in folder.distinct_axes() if a.endswith("rate")]
    if len(rates) != 1:
        raise TortoiseError(f"plot --kind load: {folder.path} sweeps {', '.join(folder.axes) or 'nothing'}; give the "
                            "request-rate axis with --x (e.g. --x serving.arrival.rate)")
    return rates[0]


def load(folder, request=None):
    """`tortoise plot SWEEP --kind load`."""
    table, _ = folder.ok_rows()
    return latency_vs_load(table, _rate_axis(folder, request))


SERVE_KINDS = {
    "cdf": lambda folder: latency_cdf(folder.meta, folder.tables["requests"]),
    "engine": lambda folder: engine_over_time(folder.meta, folder.tables["iterations"]),
}
