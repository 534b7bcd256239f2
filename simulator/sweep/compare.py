"""`tortoise compare`: two or more designs side by side on the same workloads, with ratios to the first.

Every design × workload runs through simulator.api exactly as `tortoise run` would, so a row here equals
that run's summary. A workload that does not fit a design (capacity, too few chips) is an error row, not
a crash: the point of a comparison is to see which designs can run it at all.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator import __version__
from simulator.errors import TortoiseError
from simulator.overrides import split_overrides
from simulator.progress import ProgressBar
from simulator.results.catalogue import Metric, best, metric
from simulator.results.output import json_safe
from simulator.results.row import flat_row

# The rows of the table, in order; a metric missing from every design's row is left out. Labels, units and
# which direction is better come from the metric catalogue (simulator/results/catalogue.py).
ROWS = ("ttft_s", "tpot_s", "e2e_s", "seconds", "tokens_per_s", "tokens_per_s_per_user", "mfu", "mbu",
        "mxu_utilization", "roofline_fraction", "energy_per_token_j", "energy_j", "average_power_w",
        "cost_per_million_tokens", "cost_per_million_input_tokens", "cost_per_million_output_tokens",
        "cost_per_step", "tokens_per_dollar", "tokens_per_s_per_w", "cost_per_chip_hour", "die_area_mm2",
        "memory_required", "hbm_capacity", "peak_tflops", "hbm_bandwidth_tb_s", "link_bytes")
LATENCY = ("ttft_s", "tpot_s", "e2e_s")  # `seconds` repeats whichever of these the phase has


@dataclass
class Comparison:
    designs: list[str]  # labels, unique, as given on the command line
    workloads: list[str]  # workload names, unique
    rows: list[dict]  # one per design × workload, workload-major

    @property
    def baseline(self) -> str:
        return self.designs[0]

    def frame(self) -> pd.DataFrame:
        """compare.csv: design, workload, status, error, then the flat_row columns in first-seen order."""
        return pd.DataFrame(self.rows, columns=_columns(self.rows))

    def metrics(self, workload: str) -> list[Metric]:
        rows = [r for r in self.rows if r["workload"] == workload]
        present = [metric(n) for n in ROWS if any(_number(r.get(n)) is not None for r in rows)]
        if any(m.name in LATENCY for m in present):
            present = [m for m in present if m.name != "seconds"]
        groups = _groups(rows)
        present += [metric(f"group_s.{g}") for g in groups]
        present += [metric(f"time_share.{g}") for g in groups]
        return present

    def value(self, design: str, workload: str, column: str):
        row = next(r for r in self.rows if r["design"] == design and r["workload"] == workload)
        if column.startswith("group_s."):  # time spent in an op group: its share of the run's time
            share, seconds = _number(row.get("time_share." + column[8:])), _number(row.get("seconds"))
            return share * seconds if share is not None and seconds is not None else None
        return _number(row.get(column))

    def best(self, workload: str, column: str) -> list[str]:
        """The designs with the best value of the metric on the workload (ties included), by the catalogue's
        direction; none for a metric with no direction, or when fewer than two designs have a value."""
        ok = [r["design"] for r in self.rows if r["workload"] == workload and r["status"] == "ok"]
        return best(column, {d: self.value(d, workload, column) for d in ok})

    def ratios(self) -> pd.DataFrame:
        """ratios.csv: per workload × metric, each design's value, then `design/baseline` for the others."""
        out = []
        for w in self.workloads:
            for m in self.metrics(w):
                values = {d: self.value(d, w, m.name) for d in self.designs}
                row = {"workload": w, "metric": m.name} | values
                row |= {f"{d}/{self.baseline}": ratio(values[d], values[self.baseline]) for d in self.designs[1:]}
                out.append(row)
        columns = ["workload", "metric", *self.designs, *(f"{d}/{self.baseline}" for d in self.designs[1:])]
        return pd.DataFrame(out, columns=columns)


def ratio(value, base) -> float | None:
    """value / base; None when either is missing or the base is zero (no ratio to speak of)."""
    if value is None or base is None or base == 0:
        return None
    return value / base


def _number(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or math.isnan(x):
        return None
    return x


def _groups(rows: list[dict]) -> list[str]:
    """Op groups any design reports, by the baseline's order (largest share first), then the rest."""
    seen: dict[str, None] = {}
    for r in rows:
        for key in r:
            if key.startswith("time_share."):
                seen.setdefault(key[len("time_share."):])
    return list(seen)


def _columns(rows: list[dict]) -> list[str]:
    columns: dict[str, None] = dict.fromkeys(("design", "workload", "status", "error"))
    for r in rows:
        columns.update(dict.fromkeys(r))
    return list(columns)


def unique_labels(names: list[str]) -> list[str]:
    """The names as given; a repeated one gets `#2`, `#3`, … so columns stay distinct."""
    out, seen = [], {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def run_comparison(hardware: list[str], workloads: list, overrides: list[str] = (), progress=None) -> Comparison:
    """Load every design and workload first (a bad file is an error before anything runs), then run each
    design on each workload. A workload is a file (or bundled name), loaded here with the workload overrides,
    or one already loaded (the CLI's --model). `progress(done, total, text)` is told before each run."""
    from simulator.api import run_workload
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip
    from simulator.workloads.loader import load_workload

    hw_overrides, wl_overrides = split_overrides(list(overrides))
    chips = [Chip(load_chip(h, hw_overrides)) for h in hardware]
    loaded = [load_workload(w, wl_overrides) if isinstance(w, str | Path) else w for w in workloads]
    designs = unique_labels(list(hardware))
    names = unique_labels([w.name for w in loaded])
    rows, total = [], len(chips) * len(loaded)
    for wi, (name, workload) in enumerate(zip(names, loaded, strict=True)):
        for di, (design, chip) in enumerate(zip(designs, chips, strict=True)):
            head = {"design": design, "workload": name, "status": "ok", "error": ""}
            index, text = wi * len(chips) + di, f"{design} × {name}"
            passes = None
            if progress:
                progress(index, total, text)
                passes = lambda done, n, i=index, t=text: progress(i, total, f"{t} (pass {done}/{n})")  # noqa: E731
            try:
                result = run_workload(chip, workload, passes)
            except TortoiseError as exc:
                rows.append(head | {"status": "error", "error": " ".join(str(exc).split()), "chip": chip.name})
                continue
            row = flat_row(result.summary, getattr(result, "breakdown_rows", None))
            row.pop("workload", None)  # the same name, already in the head
            rows.append(head | row)
    if progress:
        progress(total, total, "done")
    return Comparison(designs, names, rows)


def write_folder(out: Path, comparison: Comparison) -> list[Path]:
    """compare.csv, ratios.csv and meta.json: what `tortoise plot` and `tortoise report` read. All three are
    written whole before any replaces an earlier comparison's (results/files.py)."""
    from simulator.results.files import COMPARE_FILES, clean_temps, make_folder, reason, write_all

    meta = {"kind": "compare", "tortoise": __version__, "designs": comparison.designs,
            "workloads": comparison.workloads, "baseline": comparison.baseline}
    frame, ratios = comparison.frame(), comparison.ratios()
    text = json.dumps(json_safe(meta), indent=2, allow_nan=False) + "\n"
    make_folder(out, "--out")
    try:
        clean_temps(out, COMPARE_FILES)
        return write_all({out / "compare.csv": lambda p: frame.to_csv(p, index=False),
                          out / "ratios.csv": lambda p: ratios.to_csv(p, index=False),
                          out / "meta.json": lambda p: p.write_text(text, encoding="utf-8")})
    except OSError as exc:
        raise TortoiseError(f"--out {out}: cannot write there ({reason(exc)})") from None


def _short(labels: list[str]) -> list[str]:
    """File stems for the printed headers (`configs/h100.yaml` → `h100`), unless that makes two alike."""
    stems = [Path(x).stem if x.endswith((".yaml", ".yml")) else x for x in labels]
    return stems if len(set(stems)) == len(stems) else labels


def table_text(comparison: Comparison) -> str:
    """Per workload: metric rows (labelled with their unit) × design columns, then each design's ratio to the
    baseline, which direction is better and which design that makes best; per op group its time (with share
    and bound: the bottleneck per op type)."""
    c = comparison
    short = _short(c.designs)
    name = dict(zip(c.designs, short, strict=True))
    base = short[0]
    lines = []
    for w in c.workloads:
        rows = {r["design"]: r for r in c.rows if r["workload"] == w}
        cells = [["metric", *short, *(f"{s}/{base}" for s in short[1:]), "better", "best"]]
        for m in c.metrics(w):
            if m.name.startswith("time_share."):
                continue  # shown beside the group's time
            values = [c.value(d, w, m.name) for d in c.designs]
            shown = [m.text(v, unit=False) if rows[d]["status"] == "ok" else "error"
                     for d, v in zip(c.designs, values, strict=True)]
            if m.name.startswith("group_s."):
                share = metric("time_share." + m.name[8:])
                shown = [s if v is None else f"{s} {share.text(rows[d].get(share.name, 0.0))} "
                         f"{rows[d].get('bound.' + m.name[8:], '')}" for s, v, d in zip(shown, values, c.designs,
                                                                                       strict=True)]
            ratios = [ratio(v, values[0]) for v in values[1:]]
            winners = c.best(w, m.name)
            cells.append([m.heading, *shown, *("—" if r is None else f"{r:.3g}×" for r in ratios),
                          m.better if m.better != "none" else "—", _winners(winners, values, name)])
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        lines.append(f"{w}: {' vs '.join(short)} (ratios to {base}; group rows: time, share of the run, bound)")
        for row in cells:
            lines.append("  " + row[0].ljust(widths[0]) + "".join(f"  {x:>{n}}" for x, n in zip(row[1:], widths[1:],
                                                                                                 strict=True)))
        for d, s in zip(c.designs, short, strict=True):
            if rows[d]["status"] == "error":
                lines.append(f"  {s}: error: {rows[d]['error']}")
        lines.append("")
    if short != c.designs or any("#" in d for d in c.designs):
        lines.append("designs: " + ", ".join(f"{s} = {d}" for s, d in zip(short, c.designs, strict=True)))
    return "\n".join(lines).rstrip() + "\n"


def _winners(winners: list[str], values: list, name: dict[str, str]) -> str:
    """`h100`, `a, b` for a tie between some, `tie` when every design with a value ties, `—` for none."""
    if not winners:
        return "—"
    if len(winners) > 1 and len(winners) == sum(_number(v) is not None for v in values):
        return "tie"
    return ", ".join(name[d] for d in winners)


def compare_command(args, workloads: list = ()) -> int:
    """`tortoise compare`: `args.workload` files, then `workloads` already loaded (the CLI's --model)."""
    from simulator.results.files import claim_folder

    if args.out:  # before anything runs
        claim_folder(Path(args.out), "compare", "--out")
    with ProgressBar("comparing") as progress:
        comparison = run_comparison(args.hardware, [*args.workload, *workloads], args.set, progress)
    print(table_text(comparison), end="")
    if args.out:
        for path in write_folder(Path(args.out), comparison):
            print(f"wrote {path}")
    return 0
