"""Pictures of a sweep (results.csv + meta.json): a metric along one axis, over two axes, and the Pareto
front of two metrics. Swept axes that are neither drawn nor fixed by --where become separate lines,
never an average."""

import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.errors import TortoiseError
from simulator.report.folders import Folder, apply_where, require_columns, varying
from simulator.report.style import PALETTE, axis_label, figure, scaled
from simulator.results.catalogue import METRICS, metric

MAX_LINES = 12
MAX_PANELS = 6
MARKERS = "osD^v<>ph*"
SAME = 5e-4  # relative: values equal to the 4 significant digits pictures and tables show


@dataclass(frozen=True)
class Request:
    x: str | None = None
    y: str | None = None
    z: str | None = None
    hue: str | None = None
    where: tuple[str, ...] = ()


def rows(folder: Folder, request: Request, columns) -> tuple[pd.DataFrame, int]:
    """The ok rows that --where keeps, after checking every named column exists; and the error count."""
    table, errors = folder.ok_rows()
    source = str(folder.path / ("results.csv" if folder.kind == "sweep" else "compare.csv"))
    require_columns(folder.table, columns, source)
    if table.empty:
        raise TortoiseError(f"{source}: no row has status ok ({errors} errors); nothing to plot")
    return apply_where(table, list(request.where), source), errors


def _design_columns(folder: Folder, *drawn: str | None) -> list[str]:
    """What tells one row from another: the swept axes (one per tied group), the hardware and the
    workload; less those drawn and the axes tied to them."""
    skip = set().union(*(folder.tied(c) for c in drawn)) if drawn else set()
    return [c for c in dict.fromkeys((*folder.distinct_axes(), "hardware", "design", "workload"))
            if folder.table is not None and c in folder.table.columns and c not in skip]


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _title(ax, text: str, errors: int, where, extra=()) -> None:
    """The title, and under it what was filtered, what is said rather than drawn, how many rows failed."""
    notes = ([f"where {', '.join(where)}"] if where else []) + list(extra) + \
        ([f"{errors} error rows skipped"] if errors else [])
    ax.set_title("\n".join([text, *(textwrap.fill(n, 90) for n in notes)]), fontsize=10)


def _short(column: str) -> str:
    """core.mxu.rows → mxu.rows, for labels beside points."""
    return ".".join(column.split(".")[-2:])


def _with_unit(column: str, value, units: dict) -> str:
    unit = units.get(column)
    return _text(value) + (f" {unit}" if unit else "")


def _log_if_wide(ax, axis: str, values) -> None:
    values = np.asarray(values, float)
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) and values.min() > 0 and values.max() / values.min() >= 50:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _numeric(table: pd.DataFrame, column: str) -> bool:
    return pd.api.types.is_numeric_dtype(table[column])


def axis_scales(folder: Folder) -> dict[str, str]:
    """`log` for each axis swept with `scale: log`: from meta.json's `scale` where it is recorded, else from
    the folder's copy of the sweep file (sweep.yaml)."""
    out = {path: axis["scale"] for path, axis in folder.meta.get("axes", {}).items()
           if isinstance(axis, dict) and axis.get("scale") in ("log", "linear")}
    spec = folder.path / "sweep.yaml"
    if folder.kind != "sweep" or not spec.is_file():
        return out
    from simulator.config.yamlio import read_mapping

    try:
        axes = read_mapping(spec).get("axes") or {}
    except (TortoiseError, OSError):
        return out
    for label, value in axes.items() if isinstance(axes, dict) else ():
        if isinstance(value, dict) and value.get("scale") in ("log", "linear"):
            for path in str(label).split(","):
                out.setdefault(path.strip(), value["scale"])
    return out


def same(a, b) -> bool:
    """Equal to the digits a picture or a table shows (0.05 %)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=SAME, atol=0, equal_nan=True))


def no_effect(table: pd.DataFrame, axis: str, y: str, keys: list[str], x: str | None = None) -> bool:
    """Whether `axis` leaves `y` unchanged at every setting of the other `keys` (and of `x`)."""
    others = [k for k in keys if k != axis] + ([x] if x else [])
    groups = table.groupby(others, sort=True, dropna=False) if others else [((), table)]
    spread = [g for _, g in groups if g[axis].nunique() > 1]
    return bool(spread) and all(same(g[y].max(), g[y].min()) for g in spread)


def _ticks(ax, which: str, values, units: dict, column: str) -> None:
    """Ticks at the swept values (up to 15 of them), labelled as the sweep wrote them."""
    if column not in units:
        return
    values = sorted(set(np.asarray(values, float)[np.isfinite(np.asarray(values, float))]))
    if not 1 < len(values) <= 15:
        return
    labels = [_text(v) if float(v).is_integer() else f"{v:.3g}" for v in values]
    if which == "x":
        ax.set_xticks(values, labels)
    else:
        ax.set_yticks(values, labels)
    ax.minorticks_off()


def _scale(ax, which: str, column: str, values, scales: dict) -> None:
    if scales.get(column) == "log" and (np.asarray(values, float) > 0).all():
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    elif scales.get(column) != "linear":
        _log_if_wide(ax, which, values)


def line(folder: Folder, request: Request):
    if not request.x or not request.y:
        raise TortoiseError("plot --kind line: give --x COLUMN (a swept path or metric) and --y METRIC, e.g. "
                            f"--x {(folder.axes or ['core.mxu.rows'])[0]} --y tokens_per_s")
    table, errors = rows(folder, request, [request.x, request.y, request.hue])
    for column in (request.x, request.y):
        if not _numeric(table, column):
            raise TortoiseError(f"plot --kind line: {column!r} is text, not a number; pick a numeric column "
                                "(or use it as --hue)")
    split = varying(table, _design_columns(folder, request.x, request.y, request.hue))
    single = request.hue if request.hue and table[request.hue].nunique() == 1 else None  # said once, in the title
    if single:
        request = Request(request.x, request.y, request.z, None, request.where)
    units, notes = folder.units, []
    if folder.meta.get("mode") == "random":
        return _random(folder, table, request, split, errors, single)
    for axis in list(split):  # an axis that changes nothing is drawn once and said in words
        if no_effect(table, axis, request.y, ([request.hue] if request.hue else []) + split, request.x):
            values = sorted(table[axis].unique(), key=lambda v: (str(type(v)), v))
            split.remove(axis)
            table = table[table[axis] == values[0]]
            notes.append(f"{axis} ({', '.join(_with_unit(axis, v, units) for v in values)}) does not change "
                         f"{metric(request.y).label}: drawn at {_with_unit(axis, values[0], units)}")
    facet = _facet(table, request, split)
    keys = ([request.hue] if request.hue else []) + [c for c in split if c != facet]
    panels = list(table.groupby(facet, sort=True)) if facet else [(None, table)]
    fig, axes = figure(7.5 if len(panels) == 1 else 4.2 * min(len(panels), 3),
                       4.5 if len(panels) == 1 else 3.6 * -(-len(panels) // 3), ncols=min(len(panels), 3),
                       nrows=-(-len(panels) // 3), squeeze=False, sharex=True, sharey=True)
    scales, merged = axis_scales(folder), 0
    for ax, (value, panel) in zip(axes.flat, panels, strict=False):
        merged = max(merged, _lines(ax, panel, request, keys, units))
        _scale(ax, "x", request.x, scaled(request.x, table[request.x], units), scales)
        _scale(ax, "y", request.y, scaled(request.y, table[request.y], units), scales)
        _ticks(ax, "x", table[request.x], units, request.x)
        if facet:
            ax.set_title(f"{facet} = {_with_unit(facet, value, units)}", fontsize=10)
        ax.set_xlabel(axis_label(request.x, units))
        ax.set_ylabel(axis_label(request.y, units))
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    if merged:
        notes.append("lines with the same values are drawn once and named together (a = b)")
    head = f"{metric(request.y).label} vs {request.x}: {_subject(folder, table)}"
    if single:
        head += f", {_text(table[single].iloc[0])}"
    if facet:
        extra = [f"where {', '.join(request.where)}"] * bool(request.where) + notes
        extra += [f"{errors} error rows skipped"] * bool(errors)
        fig.suptitle("\n".join([head, *(textwrap.fill(n, 110) for n in extra)]), fontsize=10)
        fig.tight_layout()
    else:
        _title(axes[0, 0], head, errors, request.where, notes)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if any(labels):
        outside = facet or len(labels) > 4 or max(map(len, labels)) > 28
        last = axes[0, min(len(panels), 3) - 1]
        last.legend(handles, labels, title=", ".join(keys), fontsize=8, title_fontsize=8,
                    **({"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)} if outside else {"loc": "best"}))
    return fig


def _random(folder: Folder, table: pd.DataFrame, request: Request, split: list[str], errors: int, single):
    """A random sweep: every point is its own sample of the other axes, so a scatter, not one-point lines."""
    units, scales = folder.units, axis_scales(folder)
    fig, ax = figure(7.5, 4.8)
    hues = list(dict.fromkeys(table[request.hue])) if request.hue else [None]
    for i, hue in enumerate(hues):
        sel = table[request.hue] == hue if request.hue else np.ones(len(table), bool)
        ax.scatter(scaled(request.x, table.loc[sel, request.x], units), scaled(request.y, table.loc[sel, request.y],
                   units), color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)], s=26, alpha=0.8,
                   label=_with_unit(request.hue, hue, units) if request.hue else None)
    _scale(ax, "x", request.x, scaled(request.x, table[request.x], units), scales)
    _scale(ax, "y", request.y, scaled(request.y, table[request.y], units), scales)
    _ticks(ax, "x", table[request.x], units, request.x)
    ax.set_xlabel(axis_label(request.x, units))
    ax.set_ylabel(axis_label(request.y, units))
    head = f"{metric(request.y).label} vs {request.x}: {_subject(folder, table)}"
    if single:
        head += f", {_text(table[single].iloc[0])}"
    others = [c for c in split if c in folder.axes]
    note = f"random sweep, {len(table)} sampled points" + (f"; {', '.join(others)} vary between them" if others
                                                            else "")
    _title(ax, head, errors, request.where, [note])
    if request.hue:
        ax.legend(title=request.hue, fontsize=8, title_fontsize=8, loc="best")
    return fig


def _facet(table: pd.DataFrame, request: Request, split: list[str]) -> str | None:
    """None when all lines fit one panel; else the other axis with the fewest values, one panel per value
    (still no averaging); one line if even that does not fit."""
    keys = ([request.hue] if request.hue else []) + split
    count = table.groupby(keys).ngroups if keys else 1
    if count <= MAX_LINES:
        return None
    for facet in sorted(split, key=lambda c: table[c].nunique()):
        rest = [k for k in keys if k != facet]
        per_panel = table.groupby(rest).ngroups if rest else 1
        if table[facet].nunique() <= MAX_PANELS and per_panel <= MAX_LINES:
            return facet
    example = split[0] if split else keys[0]
    raise TortoiseError(f"plot --kind line: {count} lines (one per {', '.join(keys)}); fix some with --where "
                        f"COLUMN=VALUE, e.g. --where {example}={_text(table[example].iloc[0])}")


def _lines(ax, table: pd.DataFrame, request: Request, keys: list[str], units: dict) -> int:
    """One line per key; lines whose points are all the same are drawn once, their names joined by ` = `.
    Earlier lines are drawn wider so that nearly equal ones stay visible. Returns how many were merged."""
    series = list(table.groupby(keys, sort=True)) if keys else [((), table)]
    drawn: list[tuple[np.ndarray, np.ndarray, list[tuple]]] = []
    for key, group in series:
        key = key if isinstance(key, tuple) else (key,)
        group = group.sort_values(request.x)
        x = np.asarray(scaled(request.x, group[request.x], units), float)
        y = np.asarray(scaled(request.y, group[request.y], units), float)
        twin = next((d for d in drawn if same(d[0], x) and same(d[1], y)), None)
        if twin is not None:
            twin[2].append(key)
        else:
            drawn.append((x, y, [key]))
    for i, (x, y, names) in enumerate(drawn):
        ax.plot(x, y, marker=MARKERS[i % len(MARKERS)], color=PALETTE[i % len(PALETTE)],
                label=merged_label(keys, names, units) or None, ms=max(3.5, 7.0 - 0.5 * i),
                lw=max(1.0, 2.2 - 0.2 * i), zorder=2 + 0.01 * i)
    return len(series) - len(drawn)


def merged_label(keys: list[str], names: list[tuple], units: dict) -> str:
    """The legend entry of one drawn line: its values (`128, 32 MiB`); for lines drawn once because they
    coincide, the values that differ joined by ` = ` (`128, 32 = 128 MiB`), or whole names when several
    differ."""
    columns = list(zip(*names, strict=True)) if names and keys else []
    differ = [i for i, c in enumerate(columns) if len(set(c)) > 1]
    if len(differ) > 1:
        return " = ".join(", ".join(_with_unit(k, v, units) for k, v in zip(keys, n, strict=True)) for n in names)
    parts = []
    for i, (k, values) in enumerate(zip(keys, columns, strict=True)):
        if i in differ:
            unit = units.get(k)
            parts.append(" = ".join(_text(v) for v in dict.fromkeys(values)) + (f" {unit}" if unit else ""))
        else:
            parts.append(_with_unit(k, values[0], units))
    return ", ".join(parts)


def _subject(folder: Folder, table: pd.DataFrame) -> str:
    """'sweep mxu on h100' — what was run, on what."""
    hardware = ", ".join(map(str, table["hardware"].unique())) if "hardware" in table.columns else ""
    name = folder.meta.get("name") or folder.path.name
    return f"sweep {name}" + (f" on {hardware}" if hardware else "")


def heatmap(folder: Folder, request: Request):
    if not (request.x and request.y and request.z):
        axes = folder.axes + ["core.mxu.rows", "memory.hbm.bandwidth"]
        raise TortoiseError(f"plot --kind heatmap: give --x and --y (two swept paths) and --z METRIC, e.g. "
                            f"--x {axes[0]} --y {axes[1]} --z tokens_per_s")
    table, errors = rows(folder, request, [request.x, request.y, request.z, request.hue])
    if not _numeric(table, request.z):
        raise TortoiseError(f"plot --kind heatmap: --z {request.z!r} is text, not a number")
    extra = varying(table, _design_columns(folder, request.x, request.y))
    if extra:
        verb = "vary" if len(extra) > 1 else "varies"
        raise TortoiseError(f"plot --kind heatmap: {', '.join(extra)} also {verb}; fix each with --where, e.g. "
                            f"--where {extra[0]}={_text(table[extra[0]].iloc[0])}")
    grid = table.pivot_table(index=request.y, columns=request.x, values=request.z, aggfunc="first")
    values = scaled(request.z, grid.to_numpy(float))
    fig, ax = figure(max(5.0, 1.0 + 0.9 * grid.shape[1]), max(3.5, 1.2 + 0.55 * grid.shape[0]))
    finite = values[np.isfinite(values)]
    from matplotlib.colors import LogNorm

    norm = LogNorm() if len(finite) and finite.min() > 0 and finite.max() / finite.min() >= 100 else None
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", norm=norm)
    ax.set_xticks(range(grid.shape[1]), [_text(v) for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [_text(v) for v in grid.index])
    ax.grid(False)
    units = folder.units
    ax.set_xlabel(axis_label(request.x, units))
    ax.set_ylabel(axis_label(request.y, units))
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(axis_label(request.z, units))
    if values.size <= 120:
        middle = np.nanmean([np.nanmin(values), np.nanmax(values)]) if len(finite) else 0
        if norm is not None:
            middle = np.sqrt(np.nanmin(values) * np.nanmax(values))
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=8,
                        color="black" if v > middle else "white")
    _title(ax, f"{metric(request.z).label}: {_subject(folder, table)}", errors, request.where)
    return fig


def pareto_front(x, y, x_higher: bool, y_higher: bool) -> np.ndarray:
    """Mask of the non-dominated points: no other point is at least as good on both metrics and better
    on one. Duplicates of a front point are all on the front."""
    x = np.asarray(x, float) * (1 if x_higher else -1)
    y = np.asarray(y, float) * (1 if y_higher else -1)
    ge = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])  # [i, j]: j at least as good as i
    gt = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ~(ge & gt).any(axis=1)


def _direction(column: str, flag: str, columns=()) -> bool:
    """True when higher is better, by the metric catalogue; an error naming the directional metrics the
    table has (or the catalogue's, without a table) when the column has no better direction."""
    m = metric(column)
    if m.better == "none":
        present = [c for c in columns if metric(c).better != "none"]
        known = present or sorted(c for c, x in METRICS.items() if x.better != "none")
        known = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
        raise TortoiseError(f"plot --kind pareto: {flag} {column!r} has no better direction; use a metric such as "
                            f"{known}")
    return m.better == "higher"


def pareto(folder: Folder, request: Request):
    if not request.x or not request.y:
        raise TortoiseError("plot --kind pareto: give two metrics, e.g. --x tokens_per_s --y energy_per_token_j")
    table, errors = rows(folder, request, [request.x, request.y, request.hue])
    columns = list(folder.table.columns) if folder.table is not None else []
    x_up, y_up = _direction(request.x, "--x", columns), _direction(request.y, "--y", columns)
    table = table[np.isfinite(table[request.x].astype(float)) & np.isfinite(table[request.y].astype(float))]
    units = folder.units
    xs, ys = scaled(request.x, table[request.x], units), scaled(request.y, table[request.y], units)
    fig, ax = figure(8, 5)
    hues = list(dict.fromkeys(table[request.hue])) if request.hue else [None]
    for i, hue in enumerate(hues):
        sel = (table[request.hue] == hue).to_numpy() if request.hue else np.ones(len(table), bool)
        ax.scatter(xs[sel], ys[sel], color=PALETTE[i % len(PALETTE)], alpha=0.55, s=28, edgecolor="none",
                   label=_text(hue) if request.hue else "design point")
    front = pareto_front(table[request.x], table[request.y], x_up, y_up)
    order = np.argsort(xs.to_numpy()[front])
    fx, fy = xs.to_numpy()[front][order], ys.to_numpy()[front][order]
    ax.plot(fx, fy, color="black", lw=1.2, marker="o", mfc="none", ms=9, label="Pareto front", zorder=4)
    front_rows = table[front].iloc[order]
    label_columns = [c for c in varying(table, _design_columns(folder)) if c in folder.axes
                     or front_rows[c].nunique() > 1]
    spots = front_rows.assign(_x=np.round(fx, 9), _y=np.round(fy, 9)).groupby(["_x", "_y"], sort=False)
    _log_if_wide(ax, "x", xs)
    _log_if_wide(ax, "y", ys)
    if len(spots) <= 15:  # one label per spot: designs that tie are listed together
        _front_labels(ax, spots, label_columns, units)
    ax.set_xlabel(axis_label(request.x, units) + (" → better" if x_up else " ← better"))
    ax.set_ylabel(axis_label(request.y, units) + (" ↑ better" if y_up else " ↓ better"))
    corner = ("upper " if y_up else "lower ") + ("right" if x_up else "left")
    on_front = int(front.sum())
    if len(spots) == 1 and on_front > 1:
        tie = f"the front is one point: {on_front} designs tie on both metrics (listed beside it)"
    elif len(spots) < on_front:
        tie = f"{on_front} designs on the front at {len(spots)} points; designs that tie are listed together"
    else:
        tie = f"{on_front} of {len(table)} points on the front"
    _title(ax, f"Pareto front, {metric(request.x).label} vs {metric(request.y).label}: {_subject(folder, table)}\n"
           f"best corner: {corner}; {tie}", errors, request.where)
    ax.legend(fontsize=8, loc="best")
    return fig


def _front_labels(ax, spots, columns: list[str], units: dict) -> None:
    """A label beside each front point, on the side of the plot with more room (so it stays inside the
    axes), alternately above and below so that neighbours do not overlap."""
    x0, x1 = ax.get_xlim()
    scale = np.log10 if ax.get_xscale() == "log" else (lambda v: v)
    for i, ((px, py), tied) in enumerate(spots):
        text = ", ".join(f"{_short(c)}={'/'.join(_text(v) for v in sorted(tied[c].unique()))}"
                         + (f" {units[c]}" if units.get(c) else "") for c in columns)
        text = (f"{len(tied)} designs tie: " if len(tied) > 1 else "") + textwrap.fill(text, 50)
        if not text:
            continue
        right = (scale(px) - scale(x0)) / ((scale(x1) - scale(x0)) or 1) < 0.5
        above = i % 2 == 0
        ax.annotate(text, (px, py), xytext=(8 if right else -8, 5 if above else -5), textcoords="offset points",
                    fontsize=7, color="#333333", ha="left" if right else "right", va="bottom" if above else "top",
                    arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.5})


SWEEP_KINDS = {"line": line, "heatmap": heatmap, "pareto": pareto}
