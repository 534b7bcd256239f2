"""What a sweep says, in numbers: which swept axis moves the main metric and by how much (with the other
axes held), which does not (a flat line is said in words, not drawn), and which points are best. Pure
pandas: the executive summary and the choice of plots read it."""

import pandas as pd

from simulator.report.folders import Folder, varying
from simulator.results.catalogue import metric

FLAT = 0.02  # an axis that moves the metric by less than 2 % at every setting of the others is flat
TIE = 5e-4  # rows within 0.05 % of the best are tied with it (the digits tables show)
PRIMARY = ("tokens_per_s", "requests_per_s", "samples_per_s", "seconds")


def primary(table: pd.DataFrame) -> str | None:
    """The metric a sweep is judged by: tokens/s where there is one."""
    return next((k for k in PRIMARY if k in table.columns and pd.api.types.is_numeric_dtype(table[k])
                 and table[k].notna().any()), None)


def numeric_axes(folder: Folder, table: pd.DataFrame) -> list[str]:
    return [a for a in folder.distinct_axes() if a in table.columns and pd.api.types.is_numeric_dtype(table[a])
            and table[a].nunique() > 1]


def effects(folder: Folder, table: pd.DataFrame, y: str) -> dict[str, float | None]:
    """Per numeric axis: the largest ratio max/min of `y` along it with every other varying column held
    (other axes, hardware, workload); None where no two rows differ in that axis alone (a random sweep)."""
    context = varying(table, list(dict.fromkeys([*folder.distinct_axes(), "hardware", "workload"])))
    out = {}
    for axis in numeric_axes(folder, table):
        others = [c for c in context if c != axis and c not in folder.tied(axis)]
        groups = [g for _, g in table.groupby(others, sort=True, dropna=False)] if others else [table]
        ratios = []
        for g in groups:
            values = g[y].astype(float)
            if g[axis].nunique() > 1 and values.min() > 0:
                ratios.append(float(values.max() / values.min()))
        out[axis] = max(ratios) if ratios else None
    return out


def flat(effect: float | None) -> bool:
    return effect is not None and effect < 1 + FLAT


def by_effect(effect: dict[str, float | None]) -> list[str]:
    """The axes that matter, most first (unknown effects last, in sweep order)."""
    moving = [a for a, e in effect.items() if not flat(e)]
    return sorted(moving, key=lambda a: -(effect[a] or 0.0))


def best(table: pd.DataFrame, y: str) -> tuple[pd.Series, pd.DataFrame, pd.Series]:
    """The best row by `y` (its better direction), the rows tied with it, and the worst row."""
    higher = metric(y).better != "lower"
    values = table[y].astype(float)
    top, low = (values.idxmax(), values.idxmin()) if higher else (values.idxmin(), values.idxmax())
    tied = table[(values - values[top]).abs() <= TIE * abs(values[top])]
    return table.loc[top], tied, table.loc[low]


def settings(folder: Folder, rows: pd.DataFrame, columns: list[str]) -> str:
    """`core.mxu.rows = 256, memory.hbm.bandwidth = 2.4/2.8/3.2 TB/s`: the swept values these rows take."""
    units = folder.units
    parts = []
    for c in columns:
        values = sorted(rows[c].dropna().unique(), key=lambda v: (isinstance(v, str), v))
        shown = "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        parts.append(f"{c} = {shown}" + (f" {units[c]}" if units.get(c) else ""))
    return ", ".join(parts)


def flat_words(effect: dict[str, float | None], label: str) -> str:
    """`core.sram.size changes tokens/s by at most 0.8 % (a flat line)`."""
    still = [a for a, e in effect.items() if flat(e)]
    return "; ".join(f"{a} changes {label} by at most {100 * (effect[a] - 1):.1f} %" for a in still)
