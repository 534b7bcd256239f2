"""One look for every picture, and the one table of metric names, units and scales, so that a column is
labelled the same way on every axis and in every report table."""

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never open a window

import matplotlib.pyplot as plt  # noqa: E402

from simulator.errors import TortoiseError  # noqa: E402

FORMATS = (".png", ".svg", ".pdf")
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
RC = {
    "figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "legend.fontsize": 9, "legend.frameon": False, "svg.hashsalt": "tortoise", "axes.prop_cycle":
    matplotlib.cycler(color=PALETTE),
}


@dataclass(frozen=True)
class Metric:
    label: str
    unit: str | None = None  # after scaling
    scale: float = 1.0
    higher_is_better: bool | None = None  # None: neither (Pareto needs a direction)


METRICS: dict[str, Metric] = {
    "tokens_per_s": Metric("tokens/s", None, 1, True),
    "tokens_per_s_per_user": Metric("tokens/s per user", None, 1, True),
    "tpot_s": Metric("TPOT", "ms", 1e3, False),
    "ttft_s": Metric("TTFT", "ms", 1e3, False),
    "e2e_s": Metric("end-to-end latency", "s", 1, False),
    "seconds": Metric("latency", "ms", 1e3, False),
    "cycles": Metric("cycles", None, 1, False),
    "mfu": Metric("MFU", "%", 100, True),
    "mbu": Metric("MBU", "%", 100, True),
    "mxu_utilization": Metric("MXU utilization", "%", 100, True),
    "roofline_fraction": Metric("share of roofline", "%", 100, True),
    "achieved_tflops": Metric("achieved", "TFLOP/s", 1, True),
    "peak_tflops": Metric("peak", "TFLOP/s", 1, True),
    "flops": Metric("work", "TFLOP", 1e-12),
    "energy_j": Metric("energy", "J", 1, False),
    "energy_per_token_j": Metric("energy per token", "mJ", 1e3, False),
    "average_power_w": Metric("average power", "W", 1, False),
    "memory_required": Metric("HBM footprint", "GB", 1e-9, False),
    "hbm_capacity": Metric("HBM capacity", "GB", 1e-9),
    "model_bytes": Metric("bytes that must move", "GB", 1e-9),
    "hbm_bandwidth_tb_s": Metric("HBM bandwidth", "TB/s", 1),
    "bytes_hbm_read": Metric("HBM read", "GB", 1e-9, False),
    "bytes_hbm_write": Metric("HBM write", "GB", 1e-9, False),
    "link_bytes": Metric("link traffic", "MB", 1e-6, False),
    "max_link_utilization": Metric("busiest link utilization", "%", 100),
    "exposed_comm_s": Metric("exposed communication", "ms", 1e3, False),
    "exposed_comm_share": Metric("exposed communication share", "%", 100, False),
    "memory_stall_share": Metric("memory-stall share", "%", 100, False),
    "compute_share": Metric("compute share", "%", 100),
    "clock_hz": Metric("clock", "GHz", 1e-9),
}
ENERGY_PARTS = {"mac": "MAC", "vector": "vector", "sram": "SRAM", "l2": "L2", "hbm": "HBM", "link": "link",
                "static": "static"}
METRICS |= {f"energy_{part}_j": Metric(f"{name} energy", "J", 1, False) for part, name in ENERGY_PARTS.items()}


def metric(column: str) -> Metric:
    """The metric's label and scale; `time_share.<group>` and `bound.<group>` are families."""
    if column in METRICS:
        return METRICS[column]
    if column.startswith("time_share."):
        return Metric(f"time share of {column.split('.', 1)[1]}", "%", 100)
    return Metric(column)


def axis_label(column: str, units: dict[str, str | None] | None = None) -> str:
    """`memory.hbm.bandwidth (TB/s)` for a swept path (unit from meta.json), `TPOT (ms)` for a metric."""
    if units and column in units:
        return f"{column} ({units[column]})" if units[column] else column
    m = metric(column)
    return f"{m.label} ({m.unit})" if m.unit else m.label


def scaled(column: str, values, units: dict[str, str | None] | None = None):
    """Values in the unit the axis label names (swept paths are already in their axis unit)."""
    if units and column in units:
        return values
    return values * metric(column).scale


def figure(width: float = 7.5, height: float = 4.5, **kwargs):
    with plt.rc_context(RC):
        return plt.subplots(figsize=(width, height), **kwargs)


def check_suffix(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise TortoiseError(f"--out {path}: unknown image format {path.suffix or '(none)'!r}; "
                            f"use one of {', '.join(FORMATS)}")


def save(fig, path: Path) -> Path:
    """PNG, SVG or PDF by suffix, with no dates inside so the same run gives the same file."""
    check_suffix(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TortoiseError(f"--out {path}: cannot write there ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    metadata = {"Date": None} if suffix == ".svg" else {"CreationDate": None} if suffix == ".pdf" else {}
    with plt.rc_context(RC):
        fig.savefig(path, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
    return path


def human_time_unit(seconds_max: float) -> tuple[str, float]:
    """The unit that keeps the biggest value between 1 and 1000: ('ms', 1e3) and so on."""
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("µs", 1e6)):
        if seconds_max * scale >= 1:
            return unit, scale
    return "ns", 1e9


def human_energy_unit(joules_max: float) -> tuple[str, float]:
    for unit, scale in (("J", 1.0), ("mJ", 1e3), ("µJ", 1e6)):
        if joules_max * scale >= 1:
            return unit, scale
    return "nJ", 1e9
