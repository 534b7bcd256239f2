"""Pictures of one run (a `run --out` folder): where each op sits on the roofline, where the time and the
energy go per op group, and how busy each unit is over time."""

import numpy as np
import pandas as pd

from simulator.errors import TortoiseError
from simulator.report.folders import Folder
from simulator.report.style import PALETTE, figure, human_energy_unit, human_time_unit
from simulator.results.catalogue import ENERGY_PARTS, metric
from simulator.results.timeline import expand_copies

TIME_PARTS = {"compute": "#1f77b4", "memory stall": "#ff7f0e", "overhead": "#9e9e9e", "communication": "#2ca02c"}
ENERGY_COLOURS = dict(zip(ENERGY_PARTS, PALETTE, strict=False))


def _on(folder: Folder) -> str:
    s = folder.meta
    chips = s.get("chips_used", 1)
    return f"{s.get('workload', '?')} on {s.get('chip', '?')}" + (f" ({chips} chips, per chip)" if chips > 1 else "")


def _ops(folder: Folder) -> pd.DataFrame:
    ops = folder.tables["ops"].copy()
    if "repeat" not in ops.columns:  # hand-written op lists run each op once
        ops["repeat"] = 1
    ops["group"] = ops["group"].astype(object).fillna("") if "group" in ops.columns else ops.get("type", "op")
    ops.loc[ops["group"] == "", "group"] = ops.get("type", "op")
    return ops


def _chip(folder: Folder, key: str):
    """A figure of the chip itself from the run's summary (results/metrics.chip_figures)."""
    if key not in folder.meta:
        raise TortoiseError(f"{folder.path}: summary.json has no {key}: the run was written by an older "
                            "Tortoise; run it again")
    return folder.meta[key]


def dtype_peaks(folder: Folder, ops: pd.DataFrame) -> dict[str, float]:
    """Per-chip peak TFLOP/s of each dtype the run's GEMMs computed in."""
    used = set(ops.loc[ops["flops"] > 0, "dtype"]) if "dtype" in ops.columns else set()
    peaks = _chip(folder, "peak_tflops_by_dtype")
    return {d: float(p) for d, p in peaks.items() if d in used}


def hbm_roof(folder: Folder) -> tuple[float | None, str]:
    """Peak HBM bandwidth of one chip (TB/s) and where it came from: the summary; for a summary that does
    not record it (an op-list run), the chip preset the summary names, at the run's clock."""
    s = folder.meta
    if s.get("hbm_bandwidth_tb_s"):
        return float(s["hbm_bandwidth_tb_s"]), ""
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    try:
        chip = Chip(load_chip(str(s.get("chip"))))
    except (TortoiseError, OSError):
        return None, f"no HBM roof: summary.json has no hbm_bandwidth_tb_s and {s.get('chip')} is not a preset"
    return chip.hbm.bytes_per_cycle * float(s["clock_hz"]) / 1e12, f"HBM roof of the {s.get('chip')} preset"


def roofline(folder: Folder):
    s, ops = folder.meta, _ops(folder)
    chips = s.get("chips_used", 1) or 1
    bandwidth, source = hbm_roof(folder)
    peaks = dtype_peaks(folder, ops) or {"peak": s["peak_tflops"] / chips}
    placed = ops[(ops["flops"] > 0) & np.isfinite(ops["arithmetic_intensity"]) & (ops["achieved_tflops"] > 0)]
    if placed.empty:
        raise TortoiseError(f"{folder.path}: roofline: no op does floating-point work, nothing to place")
    time = placed["cycles"] * placed["repeat"]
    share = time / (ops["cycles"] * ops["repeat"]).sum()
    fig, ax = figure(7.5, 5)
    lo = min(placed["arithmetic_intensity"].min() / 3, 0.1)
    ridge = max(p / bandwidth for p in peaks.values()) if bandwidth else 10
    hi = max(placed["arithmetic_intensity"].max() * 3, ridge * 10)
    x = np.geomspace(lo, hi, 200)
    rate, bw = metric("peak_tflops").display_unit, metric("hbm_bandwidth_tb_s").display_unit  # TFLOP/s, TB/s
    for i, (dtype, peak) in enumerate(sorted(peaks.items(), key=lambda kv: -kv[1])):
        roof = np.minimum(peak, x * bandwidth) if bandwidth else np.full_like(x, peak)
        ax.plot(x, roof, color="black", lw=1.4, ls=("-", "--", ":", "-.")[i % 4], zorder=1)
        ax.annotate(f"{dtype} peak {peak:,.0f} {rate}", (hi, peak), ha="right", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    if bandwidth:
        ax.annotate(f"HBM {bandwidth:g} {bw}", (lo * 1.5, lo * 1.5 * bandwidth), rotation=0, fontsize=8,
                    ha="left", va="bottom", xytext=(0, 4), textcoords="offset points")
    groups = list(dict.fromkeys(placed.sort_values("group")["group"]))
    for i, group in enumerate(groups):
        sel = placed["group"] == group
        ax.scatter(placed.loc[sel, "arithmetic_intensity"], placed.loc[sel, "achieved_tflops"],
                   s=20 + 600 * share[sel], color=PALETTE[i % len(PALETTE)], alpha=0.75, edgecolor="white",
                   lw=0.5, label=group, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    top = max(peaks.values())
    ax.set_ylim(min(placed["achieved_tflops"].min() / 3, top / 1e4), top * 3)
    ax.set_xlim(lo, hi)
    intensity, achieved = metric("arithmetic_intensity"), metric("achieved_tflops")
    ax.set_xlabel(f"{intensity.label} ({intensity.display_unit} of HBM traffic)")
    ax.set_ylabel(f"{achieved.label} ({achieved.display_unit} per chip)")
    ax.set_title(f"Roofline: {_on(folder)}")
    legend = ax.legend(title="op group (size = time share)", loc="upper left", fontsize=8, title_fontsize=8, ncol=2)
    for handle in legend.legend_handles:
        handle.set_sizes([36])
    skipped = len(ops) - len(placed)
    notes = [f"{skipped} op rows with no FLOPs (vector, copies, collectives) not placed"] * bool(skipped)
    notes += [source] * bool(source)
    if notes:
        ax.text(0.99, 0.02, "\n".join(notes), transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                color="#555555")
    return fig


def time_parts(folder: Folder) -> pd.DataFrame:
    """Seconds per op group split into compute, memory stall, per-op overhead and communication
    (collective ops), every layer copy counted."""
    ops, clock = _ops(folder), folder.meta["clock_hz"]
    comm = ops["type"] == "collective" if "type" in ops.columns else pd.Series(False, index=ops.index)
    n = ops["repeat"] / clock
    parts = pd.DataFrame({
        "group": ops["group"],
        "compute": np.where(comm, 0, ops["compute_cycles"] * n),
        "memory stall": np.where(comm, 0, ops["stall_cycles"] * n),
        "overhead": np.where(comm, 0, ops["overhead_cycles"] * n),
        "communication": np.where(comm, ops["cycles"] * n, 0),
    })
    out = parts.groupby("group").sum()
    return out.loc[out.sum(axis=1).sort_values().index]


def _stacked(ax, table: pd.DataFrame, colours: dict, scale: float) -> None:
    left = np.zeros(len(table))
    for part in table.columns:
        values = table[part].to_numpy() * scale
        if values.any():
            ax.barh(table.index, values, left=left, color=colours[part], label=part, edgecolor="white", lw=0.5)
        left += values
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:.3g}", va="center", fontsize=8)
    ax.set_xlim(0, left.max() * 1.15)
    ax.grid(axis="y", visible=False)


def breakdown(folder: Folder):
    parts = time_parts(folder)
    unit, scale = human_time_unit(parts.sum(axis=1).max())
    fig, ax = figure(7.5, 0.9 + 0.38 * len(parts))
    _stacked(ax, parts, TIME_PARTS, scale)
    ax.set_xlabel(f"time ({unit}, all layers)")
    ax.set_title(f"Where the time goes: {_on(folder)}, total {folder.meta['seconds'] * scale:.4g} {unit}")
    ax.legend(loc="lower right")
    return fig


def utilization(folder: Folder, bins: int = 120) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-unit busy fraction in `bins` equal time bins (edges in seconds): MXU (achieved MACs over
    peak), vector units (cores computing over the cores the chip has), HBM (bytes over peak bandwidth),
    network (a collective running). Averaged over the pipeline stages the table holds."""
    s, clock = folder.meta, folder.meta["clock_hz"]
    ops = expand_copies(_ops(folder))
    total = float(s["cycles"])
    edges = np.linspace(0.0, total, bins + 1)
    cores = int(_chip(folder, "chip_cores"))
    cycles = ops["cycles"].clip(lower=1).to_numpy(float)
    hbm_per_cycle = s["hbm_bandwidth_tb_s"] * 1e12 / clock
    kind = ops["type"].to_numpy() if "type" in ops.columns else np.full(len(ops), "gemm")
    activity = {
        "MXU": np.where(kind == "gemm", ops["mxu_utilization"], 0.0),
        "vector": np.where(kind == "vector", ops["compute_cycles"] / cycles * ops["cores"] / cores, 0.0),
        "HBM bandwidth": (ops["hbm_read"] + ops["hbm_write"]).to_numpy(float) / cycles / hbm_per_cycle,
        "network": (kind == "collective").astype(float),
    }
    stages = int(ops["stage"].nunique()) if "stage" in ops.columns else 1
    start, end = ops["start"].to_numpy(float), ops["end"].to_numpy(float)
    width = np.diff(edges)
    out = {}
    for unit, a in activity.items():
        a = np.asarray(a, float)
        busy = _integral(edges[1:], start, end, a) - _integral(edges[:-1], start, end, a)
        out[unit] = np.clip(busy / width / stages, 0, 1)
    return edges / clock, out


def _integral(t: np.ndarray, start: np.ndarray, end: np.ndarray, level: np.ndarray) -> np.ndarray:
    """∫₀ᵗ Σ level·[start ≤ τ < end] dτ at each t, in chunks to bound memory."""
    out = np.zeros(len(t))
    for i in range(0, len(start), 4096):
        s, e, a = start[i:i + 4096], end[i:i + 4096], level[i:i + 4096]
        out += (np.clip(t[:, None] - s[None, :], 0, (e - s)[None, :]) * a[None, :]).sum(axis=1)
    return out


def timeline(folder: Folder):
    edges, busy = utilization(folder)
    unit, scale = human_time_unit(edges[-1])
    shown = {k: v for k, v in busy.items() if k != "network" or v.any()}
    fig, axes = figure(8, 1.0 + 1.05 * len(shown), nrows=len(shown), sharex=True, squeeze=False)
    centers = (edges[:-1] + edges[1:]) / 2 * scale
    for ax, (name, values), colour in zip(axes[:, 0], shown.items(), PALETTE, strict=False):
        ax.fill_between(centers, 100 * values, step="mid", color=colour, alpha=0.6, lw=0)
        ax.plot(centers, 100 * values, drawstyle="steps-mid", color=colour, lw=0.8)
        ax.set_ylim(0, 105)
        ax.set_yticks([0, 50, 100])
        ax.set_ylabel(f"{name}\n(% busy)", fontsize=9)
        ax.text(1.01, 0.5, f"mean\n{100 * values.mean():.1f} %", transform=ax.transAxes, ha="left", va="center",
                fontsize=8)
    axes[-1, 0].set_xlabel(f"time ({unit})")
    axes[-1, 0].set_xlim(0, edges[-1] * scale)
    axes[0, 0].set_title(f"Unit utilization over time: {_on(folder)}")
    return fig


def energy_parts(folder: Folder) -> pd.DataFrame:
    """Energy of one chip: dynamic per op group and component (all layer copies; the table holds one
    chip's ops), and the chip's share of the run's static energy."""
    ops = _ops(folder)
    columns = [f"energy_{p}_j" for p in ENERGY_PARTS if p != "static"]
    missing = [c for c in columns if c not in ops.columns]
    if missing:
        raise TortoiseError(f"{folder.path}: energy: the ops table has no {', '.join(missing)} columns (written "
                            "by runs with the energy model); rerun `tortoise run … --out` with this version")
    parts = (ops[columns].mul(ops["repeat"], axis=0)).groupby(ops["group"]).sum()
    parts.columns = [c.removeprefix("energy_").removesuffix("_j") for c in columns]
    static = folder.meta.get("energy_static_j", 0.0) / (folder.meta.get("chips_used", 1) or 1)
    if static:
        parts.loc["static (whole run)"] = 0.0
        parts["static"] = 0.0
        parts.loc["static (whole run)", "static"] = static
    return parts.loc[parts.sum(axis=1).sort_values().index]


def energy(folder: Folder):
    parts = energy_parts(folder)
    unit, scale = human_energy_unit(parts.sum(axis=1).max())
    fig, ax = figure(7.5, 0.9 + 0.38 * len(parts))
    labels = {p: ENERGY_PARTS[p] for p in parts.columns}
    _stacked(ax, parts.rename(columns=labels), {ENERGY_PARTS[p]: ENERGY_COLOURS[p] for p in parts.columns}, scale)
    ax.set_xlabel(f"energy ({unit}, all layers)")
    ax.set_title(f"Where the energy goes: {_on(folder)}, total {parts.to_numpy().sum() * scale:.4g} {unit}")
    ax.legend(loc="lower right")
    return fig


RUN_KINDS = {"roofline": roofline, "breakdown": breakdown, "timeline": timeline, "energy": energy}
