"""Which pictures the report draws for a folder, chosen for what they show: a sweep's main metric along each
axis that moves it (an axis that does not is said in words), a heatmap over the two axes that move it
most, and the Pareto front where it has more than one point; a run's roofline, time, utilization and
energy; a service's latencies and engine; a comparison's bars; a load sweep's latency against load."""

import pandas as pd

from simulator.errors import TortoiseError
from simulator.report.blocks import Figure
from simulator.report.findings import by_effect, effects, flat, flat_words, numeric_axes, primary, settings
from simulator.report.folders import Folder
from simulator.results.catalogue import metric


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def shown_where(folder: Folder, where) -> str:
    """`core.sram.size = 128 MiB, hardware = h100`: --where filters with their units, for captions."""
    out = []
    for item in where:
        column, _, value = item.partition("=")
        unit = folder.units.get(column)
        out.append(f"{column} = {value}" + (f" {unit}" if unit else ""))
    return ", ".join(out)


def maker(folder: Folder, kind: str, request=None):
    from simulator.report.draw import draw

    return lambda: draw(folder, kind, request)[1]


def rate_axis(folder: Folder, table: pd.DataFrame) -> str | None:
    """A serving sweep over its request rate: the one rate axis (the load plot's x)."""
    rates = [a for a in folder.distinct_axes() if a.endswith("rate")]
    return rates[0] if folder.kind == "sweep" and "ttft_p99_s" in table.columns and len(rates) == 1 else None


def line_request(folder: Folder, table: pd.DataFrame, axis: str, y: str, effect: dict):
    """The line plot of `y` along `axis`, one line per workload: flat axes fixed at their largest value
    (they change nothing), the other axes as lines or panels, or fixed at their largest value where they
    would make too many. Returns the request and the caption's note."""
    from simulator.report.sweep_plots import Request, _facet

    others = [a for a in numeric_axes(folder, table) if a != axis]
    still = [a for a in others if flat(effect.get(a))]
    where = tuple(f"{a}={_text(table[a].max())}" for a in still)
    hue = "workload" if "workload" in table.columns else None
    kept = table
    for a in still:
        kept = kept[kept[a] == kept[a].max()]
    split = [a for a in others if a not in still] + [c for c in ("hardware",) if c in kept.columns
                                                     and kept[c].nunique() > 1 and c not in others]
    try:
        _facet(kept, Request(axis, y, None, hue), [c for c in split if kept[c].nunique() > 1])
        crowded = False
    except TortoiseError:
        crowded = True
    moving = [a for a in others if a not in still]
    if crowded:
        where += tuple(f"{a}={_text(table[a].max())}" for a in moving)
    note = ""
    if still:
        note += f"; {', '.join(still)} (flat, within 2 %) fixed at the largest value"
    if crowded and moving:
        note += f"; {', '.join(moving)} fixed at the largest value (too many lines otherwise)"
    elif moving:
        note += f"; one line per value of {', '.join(moving)}"
    return Request(axis, y, None, hue, where), note


def sweep_plots(folder: Folder) -> list:
    table, _ = folder.ok_rows()
    rate = rate_axis(folder, table)
    if rate:
        return [Figure(f"p50 and p99 TTFT and TPOT, and throughput, against the offered load ({rate}); the red "
                       "lines are the SLO limits.", maker(folder, "load"), ("load",))]
    y = primary(table)
    if y is None or not numeric_axes(folder, table):
        return ["No swept axis takes more than one numeric value; nothing to plot along."]
    from simulator.report.sweep_plots import Request

    effect = effects(folder, table, y)
    label = metric(y).label
    moving = by_effect(effect)
    blocks: list = []
    for axis in moving:
        request, note = line_request(folder, table, axis, y, effect)
        change = f" (up to {effect[axis]:.2f}× with the others held)" if effect[axis] else ""
        blocks.append(Figure(f"{label} along {axis}{change}{note}.", maker(folder, "line", request),
                             ("line", request)))
    if any(flat(e) for e in effect.values()):
        blocks.append(f"Not drawn, being flat lines: {flat_words(effect, label)}, at any setting of the other axes.")
    workloads = list(dict.fromkeys(table["workload"])) if "workload" in table.columns else [None]
    hardware = list(dict.fromkeys(table["hardware"])) if "hardware" in table.columns else []
    fixed_hw = (f"hardware={hardware[0]}",) if len(hardware) > 1 else ()
    if len(moving) >= 2 and folder.meta.get("mode") != "random":
        x_axis, y_axis = moving[0], moving[1]
        rest = tuple(f"{a}={_text(table[a].max())}" for a in numeric_axes(folder, table) if a not in (x_axis, y_axis))
        for w in workloads[:3]:
            where = ((f"workload={w}",) if w is not None else ()) + fixed_hw + rest
            request = Request(x_axis, y_axis, y, None, where)
            blocks.append(Figure(f"{label} over {x_axis} × {y_axis}, the two axes that move it most"
                                 + (f", {w}" if w else "") + (f" ({shown_where(folder, where[1:])})" if where[1:]
                                                              else "") + ".",
                                 maker(folder, "heatmap", request), ("heatmap", request)))
    if y == "tokens_per_s":
        for cost in PARETO_COSTS:
            if cost in table.columns:
                blocks += _pareto(folder, table, workloads, cost)
    return blocks


# What a design pays for its tokens/s, each a Pareto front's second axis when a sweep's table has it: energy,
# dollars (the hardware has a cost: section) and die area (an area: section; docs/cost.md).
PARETO_COSTS = ("energy_per_token_j", "cost_per_million_tokens", "die_area_mm2")


def _pareto(folder: Folder, table: pd.DataFrame, workloads: list, cost: str = "energy_per_token_j") -> list:
    from simulator.report.sweep_plots import Request, pareto_front

    out, label = [], metric(cost).label
    for w in workloads[:3]:
        rows = table[table["workload"] == w] if w is not None else table
        rows = rows[rows["tokens_per_s"].notna() & rows[cost].notna()]
        if rows.empty:
            continue
        front = rows[pareto_front(rows["tokens_per_s"], rows[cost], True, False)]
        spots = front[["tokens_per_s", cost]].round(9).drop_duplicates()
        if len(spots) == 1:
            columns = [a for a in folder.distinct_axes() if a in rows.columns and rows[a].nunique() > 1]
            where = settings(folder, front, columns)
            out.append(f"{w + ': ' if w else ''}one design point is best on both tokens/s and {label} "
                       + (f"({len(front)} designs tie: {where})" if len(front) > 1 else f"({where})")
                       + "; no trade-off to draw.")
            continue
        hue = "hardware" if "hardware" in rows.columns and rows["hardware"].nunique() > 1 else None
        request = Request("tokens_per_s", cost, None, hue, (f"workload={w}",) if w else ())
        out.append(Figure(f"Which designs give the most tokens/s for the least {label}"
                          + (f", {w}" if w else "") + ".", maker(folder, "pareto", request), ("pareto", request)))
    return out


def plots(folder: Folder) -> list:
    """The Plots section's blocks for one folder."""
    if folder.kind == "run":
        captions = {"roofline": "Each op at its arithmetic intensity and achieved rate, under the roofs of its chip.",
                    "breakdown": "Time per op group: compute, memory stall, per-op overhead, communication.",
                    "timeline": "How busy each unit is over the run, in equal time bins.",
                    "energy": "Energy per op group by component, and the chip's static energy."}
        if "energy_mac_j" not in folder.tables["ops"].columns:
            captions.pop("energy")
        return [Figure(text, maker(folder, kind), (kind,)) for kind, text in captions.items()]
    if folder.kind == "compare":
        return [Figure("Each design's key metrics as ratios to the baseline, per workload.",
                       maker(folder, "bars"), ("bars",))]
    if folder.kind == "serve":
        return [Figure("Latency distributions over the requests, with p50, p99 and the SLO limits.",
                       maker(folder, "cdf"), ("cdf",)),
                Figure("KV-cache occupancy and running and waiting requests over the run.", maker(folder, "engine"),
                       ("engine",))]
    return sweep_plots(folder)
