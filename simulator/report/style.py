"""One look for every picture. Metric labels, units, scales and better directions come from the metric
catalogue (simulator/results/catalogue.py), so a column is labelled the same way on every axis, in every
report table and in `tortoise compare`."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never open a window

import matplotlib.pyplot as plt  # noqa: E402

from simulator.errors import TortoiseError  # noqa: E402
from simulator.results.catalogue import auto_unit, metric  # noqa: E402

FORMATS = (".png", ".svg", ".pdf")
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
RC = {
    "figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "legend.fontsize": 9, "legend.frameon": False, "svg.hashsalt": "tortoise", "axes.prop_cycle":
    matplotlib.cycler(color=PALETTE),
}


def axis_label(column: str, units: dict[str, str | None] | None = None) -> str:
    """`memory.hbm.bandwidth (TB/s)` for a swept path (unit from meta.json), `TPOT (ms)` for a metric."""
    if units and column in units:
        return f"{column} ({units[column]})" if units[column] else column
    return metric(column).heading


def scaled(column: str, values, units: dict[str, str | None] | None = None):
    """Values in the unit the axis label names (swept paths are already in their axis unit)."""
    if units and column in units:
        return values
    return metric(column).display(values)


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
    return auto_unit("s", seconds_max)


def human_energy_unit(joules_max: float) -> tuple[str, float]:
    return auto_unit("J", joules_max)
