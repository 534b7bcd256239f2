"""The design-review document: the same sections (configurations, key metrics, plots, assumptions) from run,
sweep and compare folders, written as self-contained HTML or as a PDF of text and figure pages. Nothing in
it depends on the date or the machine, so the same folders give the same document."""

import base64
import html
import io
import math
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import simulator
from simulator import __version__
from simulator.errors import TortoiseError
from simulator.report.folders import Folder
from simulator.report.style import RC, axis_label
from simulator.results.catalogue import metric

SECTIONS = ("Configurations", "Key metrics", "Plots", "Assumptions")
MAX_TABLE_ROWS = 60
DOCS = Path(simulator.__file__).resolve().parents[1] / "docs"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    caption: str
    make: Callable  # () -> matplotlib Figure; drawn when the document is written


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # str (a paragraph), list[str] (bullets), Table, Figure, ("h", text)


@dataclass
class Report:
    title: str
    header: list[str]
    sections: list[Section]


# ---------------------------------------------------------------- building


def build_report(folders: list[Folder], title: str | None = None) -> Report:
    sections = {name: Section(name) for name in SECTIONS}
    for folder in folders:
        heading = ("h", f"{folder.kind} {folder.path.name}")
        for name, blocks in (("Configurations", _configurations(folder)), ("Key metrics", _metrics(folder)),
                             ("Plots", _plots(folder))):
            sections[name].blocks += ([heading] if len(folders) > 1 else []) + blocks
    sections["Assumptions"].blocks = _assumptions(folders)
    title = title or "Design review: " + ", ".join(f"{f.kind} {f.path.name}" for f in folders)
    versions = sorted({f.meta.get("tortoise", __version__) for f in folders if f.kind != "run"} | {__version__})
    header = [f"Folders: {', '.join(str(f.path) for f in folders)}",
              f"Made by tortoise {', '.join(versions)} (`tortoise report`); every figure is recomputed from the "
              "folders' tables."]
    return Report(title, header, list(sections.values()))


def _fmt(value, column: str | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if column is not None and isinstance(value, int | float) and not isinstance(value, bool):
        value = metric(column).display(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e3 else f"{value:,.0f}"
    return str(value)


def _chip_row(name: str, source: str) -> list[str]:
    """One design's headline numbers, loaded from its config (a preset name or a file)."""
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    try:
        chip = Chip(load_chip(source))
    except TortoiseError as exc:
        return [name] + [""] * 10 + [f"not loadable here: {exc}"]
    c, m = chip.config, chip.mxu
    dtype = "bf16" if "bf16" in m.macs_per_pe else next(iter(m.macs_per_pe))
    system = c.system
    chips = f"{system.chips} ({system.topology}{' ' + '×'.join(map(str, system.dims)) if system.dims else ''})" \
        if system.chips > 1 else "1"
    l2 = c.memory.l2
    energy = getattr(c, "energy", None)
    return [name, str(chip.cores), f"{m.rows}×{m.cols}×{m.count}", f"{chip.clock_hz / 1e9:.3g}",
            f"{chip.peak_flops_per_s(dtype) / 1e12:,.1f} ({dtype})", f"{c.memory.hbm.size / 1e9:.3g}",
            f"{c.memory.hbm.bandwidth.value / 1e12:.3g}" if not c.memory.hbm.bandwidth.per_cycle
            else str(c.memory.hbm.bandwidth), f"{chip.sram.size / 1024:,.0f}",
            f"{l2.size / 1e6:.3g}" if l2 else "none", chips, getattr(energy, "node", "") if energy else "",
            c.description]


CHIP_COLUMNS = ["design", "cores", "MXU rows×cols×count", "clock (GHz)", "peak per chip (TFLOP/s)", "HBM (GB)",
                "HBM (TB/s)", "SRAM per core (KiB)", "L2 (MB)", "chips (topology)", "energy node", "description"]


SERVE_CONFIG = (("chip", "chip"), ("model", "model"), ("scheduler", "batching policy"),
                ("arrival", "arrival process"), ("request_rate", "offered load (req/s)"), ("requests", "requests"),
                ("mean_prompt_tokens", "mean prompt (tokens)"), ("mean_output_tokens", "mean output (tokens)"),
                ("parallel.tp", "TP degree"), ("parallel.ep", "EP degree"), ("instances", "instances"),
                ("weights_dtype", "weights dtype"), ("kv_cache_dtype", "KV cache dtype"),
                ("kv_blocks", "KV blocks per instance"), ("kv_block_tokens", "KV block size (tokens)"),
                ("host_overhead_s", "host cost per call (s)"), ("scheduler_steps", "decode steps per call"),
                ("timing", "iteration timing"))
SERVE_METRICS = ("requests_per_s", "output_tokens_per_s", "input_tokens_per_s", "ttft_p50_s", "ttft_p99_s",
                 "tpot_p50_s", "tpot_p99_s", "itl_p99_s", "e2e_p50_s", "e2e_p99_s", "queue_p99_s", "slo_attainment",
                 "goodput_requests_per_s", "mean_batch", "kv_peak_share", "preemptions", "capacity_requests_per_s")
SERVE_ROW_METRICS = ("requests_per_s", "output_tokens_per_s", "ttft_p99_s", "tpot_p99_s", "slo_attainment")


def _configurations(folder: Folder) -> list:
    if folder.kind == "serve":
        s = folder.meta
        rows = [[label, _fmt(s.get(key), key)] for key, label in SERVE_CONFIG if key in s]
        return ["The service as the run's summary.json records it (docs/serving.md).", Table(["", "value"], rows)]
    if folder.kind == "compare":
        designs = folder.meta.get("designs", [])
        return [f"{len(designs)} designs on {', '.join(folder.meta.get('workloads', []))}; the baseline is "
                f"{folder.meta.get('baseline', designs[0] if designs else '?')}.",
                Table(CHIP_COLUMNS, [_chip_row(d, d) for d in designs])]
    if folder.kind == "sweep":
        m = folder.meta
        axes = Table(["axis", "unit", "values"], [[path, a.get("unit") or "", ", ".join(map(_fmt, a["values"]))]
                                                  for path, a in m.get("axes", {}).items()],
                     f"{m.get('mode', 'grid')} sweep: {m.get('points', '?')} points × {len(m.get('workloads', []))} "
                     f"workload(s) = {m.get('rows', '?')} rows")
        return [f"Base hardware, before the swept fields change: {', '.join(m.get('hardware', []))}; workloads: "
                f"{', '.join(map(str, m.get('workloads', [])))}.",
                Table(CHIP_COLUMNS, [_chip_row(h, h) for h in m.get("hardware", [])]), axes]
    s = folder.meta
    rows = [["chip", s.get("chip")], [axis_label("clock_hz"), _fmt(s.get("clock_hz", 0), "clock_hz")],
            [_per_chip("peak_tflops"), _fmt(s.get("peak_tflops", 0) / (s.get("chips_used", 1) or 1), "peak_tflops")],
            [_per_chip("hbm_capacity"), _fmt(s.get("hbm_capacity", 0), "hbm_capacity")],
            [_per_chip("hbm_bandwidth_tb_s"), _fmt(s.get("hbm_bandwidth_tb_s"), "hbm_bandwidth_tb_s")],
            ["chips used (topology)", f"{s.get('chips_used', 1)} of {s.get('chips', 1)}"
             + (f" ({s['topology']})" if "topology" in s else "")],
            ["workload", f"{s.get('workload')}: {s.get('model', '')} {s.get('phase', '')}, batch {s.get('batch', '')}"],
            ["model", s.get("model_description", "")]]
    return ["The chip as the run's summary.json records it (overrides included).", Table(["", "value"], rows)]


def _per_chip(column: str) -> str:
    """`peak per chip (TFLOP/s)`: the catalogue's label and unit, for one chip of the system."""
    m = metric(column)
    return f"{m.label} per chip ({m.display_unit})"


RUN_METRICS = ("seconds", "ttft_s", "tpot_s", "e2e_s", "tokens_per_s", "tokens_per_s_per_user", "mfu", "mbu",
               "achieved_tflops", "roofline_fraction", "memory_required", "energy_j", "energy_per_token_j",
               "average_power_w", "exposed_comm_share")
ROW_METRICS = ("seconds", "tokens_per_s", "mfu", "mbu", "energy_per_token_j", "average_power_w")


def _metrics(folder: Folder) -> list:
    if folder.kind == "serve":
        s = folder.meta
        return [Table(["metric", "value"], [[axis_label(k), _fmt(s[k], k)] for k in SERVE_METRICS
                                            if s.get(k) is not None])]
    if folder.kind == "run":
        s = folder.meta
        rows = [[axis_label(k), _fmt(s[k], k)] for k in RUN_METRICS if k in s]
        rows.append(["bound", str(s.get("roofline_bound", ""))])
        return [Table(["metric", "value"], rows)]
    table, errors = folder.ok_rows()
    keys = ["design", "workload"] if folder.kind == "compare" else ["point", "workload", *folder.axes]
    keys = [k for k in keys if k in table.columns]
    serving = "ttft_p99_s" in table.columns
    metrics = [k for k in (SERVE_ROW_METRICS if serving else ROW_METRICS) if k in table.columns]
    labels = [axis_label(k, folder.units) for k in keys] + [axis_label(k) for k in metrics]
    rows = [[_fmt(r[k]) for k in keys] + [_fmt(r[k], k) for k in metrics]
            for _, r in table.head(MAX_TABLE_ROWS).iterrows()]
    blocks = ["Latencies are percentiles over the requests of each point (docs/serving.md)." if serving else
              "Latency is the run's time: TPOT for decode, TTFT for prefill, end to end for a generation."]
    if folder.kind == "compare":
        rows = _with_ratios(folder, table, keys, metrics, rows)
        labels += [f"{metric(k).label} ×" for k in ("seconds", "tokens_per_s") if k in metrics]
    blocks.append(Table(labels, rows, f"{len(table)} ok rows" + (f", first {MAX_TABLE_ROWS} shown"
                                                                  if len(table) > MAX_TABLE_ROWS else "")))
    if errors:
        bad = folder.table[folder.table["status"].astype(str) != "ok"]
        blocks.append(f"{errors} row(s) failed and are left out of every table and plot; the first: "
                      f"{bad.iloc[0].get('error', '')}")
    return blocks


def _with_ratios(folder: Folder, table: pd.DataFrame, keys, metrics, rows) -> list[list[str]]:
    """Compare rows gain latency and tokens/s as ratios to the baseline design on the same workload."""
    baseline = folder.meta.get("baseline")
    base = table[table["design"] == baseline].set_index("workload")
    out = []
    for row, (_, r) in zip(rows, table.head(MAX_TABLE_ROWS).iterrows(), strict=True):
        for k in ("seconds", "tokens_per_s"):
            if k in metrics:
                b = base[k].get(r["workload"]) if r["workload"] in base.index else None
                row = row + [f"{r[k] / b:.2f}×" if b else ""]
        out.append(row)
    return out


def _plots(folder: Folder) -> list:
    from simulator.report.sweep_plots import MAX_LINES, Request

    if folder.kind == "run":
        captions = {"roofline": "Each op at its arithmetic intensity and achieved rate, under the roofs of its chip.",
                    "breakdown": "Time per op group: compute, memory stall, per-op overhead, communication.",
                    "timeline": "How busy each unit is over the run, in equal time bins.",
                    "energy": "Energy per op group by component, and the chip's static energy."}
        if "energy_mac_j" not in folder.tables["ops"].columns:
            captions.pop("energy")
        return [Figure(text, _maker(folder, kind)) for kind, text in captions.items()]
    if folder.kind == "compare":
        return [Figure("Each design's key metrics as ratios to the baseline, per workload.",
                       _maker(folder, "bars"))]
    if folder.kind == "serve":
        return [Figure("Latency distributions over the requests, with p50, p99 and the SLO limits.",
                       _maker(folder, "cdf")),
                Figure("KV-cache occupancy and running and waiting requests over the run.", _maker(folder, "engine"))]
    table, _ = folder.ok_rows()
    rates = [a for a in folder.distinct_axes() if a.endswith("rate")]
    if "ttft_p99_s" in table.columns and len(rates) == 1:
        return [Figure(f"p50 and p99 TTFT and TPOT, and throughput, against the offered load ({rates[0]}); the "
                       "red lines are the SLO limits.", _maker(folder, "load"))]
    numeric = [a for a in folder.distinct_axes() if a in table.columns and pd.api.types.is_numeric_dtype(table[a])
               and table[a].nunique() > 1]
    workloads = list(dict.fromkeys(table["workload"])) if "workload" in table.columns else []
    blocks = []
    for axis in numeric:
        others = [a for a in numeric if a != axis]
        series = table.groupby(others + ["workload"]).ngroups if others else len(workloads)
        where = tuple(f"{a}={_fmt(table[a].max())}" for a in others) if series > MAX_LINES else ()
        note = f" (other axes fixed at their largest value: {', '.join(where)})" if where else ""
        lines = " and other axis value" if others and not where else ""
        request = Request(axis, "tokens_per_s", None, "workload", where)
        blocks.append(Figure(f"tokens/s along {axis}, one line per workload{lines}{note}.",
                             _maker(folder, "line", request)))
    if len(numeric) >= 2:
        for w in workloads[:3]:
            rest = tuple(f"{a}={_fmt(table[a].max())}" for a in numeric[2:])
            blocks.append(Figure(f"tokens/s over {numeric[0]} × {numeric[1]} for {w}.",
                                 _maker(folder, "heatmap", Request(numeric[0], numeric[1], "tokens_per_s", None,
                                                                   (f"workload={w}", *rest)))))
    if "energy_per_token_j" in table.columns:
        for w in workloads[:3]:
            blocks.append(Figure(f"Which designs give the most tokens/s for the least energy per token, {w}.",
                                 _maker(folder, "pareto", Request("tokens_per_s", "energy_per_token_j", None, None,
                                                                  (f"workload={w}",)))))
    return blocks or ["No swept axis takes more than one numeric value; nothing to plot along."]


def _maker(folder: Folder, kind: str, request=None) -> Callable:
    from simulator.report.draw import draw

    return lambda: draw(folder, kind, request)[1]


def _assumptions(folders: list[Folder]) -> list:
    from simulator.results.llm import LAYER_SCALING

    scaling = {f.meta["layer_scaling"] for f in folders if "layer_scaling" in f.meta} or {LAYER_SCALING}
    blocks: list = [("h", "Layer scaling"), *[f"Layers — {s}." for s in sorted(scaling)]]
    for heading, doc, title in (("Timing model: approximated or left out", "model.md", "What is approximated"),
                                ("Systems: approximated or not modelled", "systems.md", "What is approximated"),
                                ("Energy model: approximated or left out", "energy.md",
                                 "approximated|not modelled|left out")):
        bullets = doc_bullets(DOCS / doc, title)
        if bullets:
            blocks += [("h", heading), f"From docs/{doc}:", bullets]
    if not any(isinstance(b, list) for b in blocks):
        blocks.append("The docs/ folder is not next to the package here; see docs/model.md and docs/systems.md in "
                      "the Tortoise sources for what the models leave out.")
    versions = sorted({str(f.meta.get("tortoise")) for f in folders if f.meta.get("tortoise")})
    blocks += [("h", "Version"), f"Report made with tortoise {__version__}"
               + (f"; the folders were written by tortoise {', '.join(versions)}." if versions else ".")]
    return blocks


def doc_bullets(path: Path, heading_contains: str) -> list[str]:
    """The first sentence of each top-level bullet under the first heading containing the words (or, with
    `a|b`, either)."""
    if not path.is_file():
        return []
    text, out, inside = path.read_text(), [], False
    for line in text.splitlines():
        if line.startswith("#"):
            if inside:
                break
            inside = any(words in line.lower() for words in heading_contains.lower().split("|"))
        elif inside and line.startswith("- "):
            out.append(line[2:])
        elif inside and out and line.startswith("  ") and not line.lstrip().startswith("-"):
            out[-1] += " " + line.strip()
    return [_first_sentence(b) for b in out]


def _first_sentence(text: str) -> str:
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text).replace("**", "").replace("`", "")
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text.rstrip() + "."


# ---------------------------------------------------------------- writing


def write_report(report: Report, out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".html":
            out.write_text(to_html(report))
        else:
            to_pdf(report, out)
    except OSError as exc:
        raise TortoiseError(f"report --out {out}: cannot write there ({exc.strerror or exc})") from None
    return out


def _figure_or_note(block: Figure):
    """The figure, or the one-line reason it cannot be drawn from this folder."""
    try:
        return block.make(), None
    except TortoiseError as exc:
        return None, f"Not drawn: {exc}"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%}
figure{margin:1.2em 0}figcaption{color:#555;font-size:13px}.header{color:#555}h2{border-bottom:2px solid #ddd}"""


def to_html(report: Report) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(report.title)}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{esc(report.title)}</h1>"]
    parts += [f'<p class="header">{esc(line)}</p>' for line in report.header]
    parts.append("<nav><ol>" + "".join(f'<li><a href="#s{i}">{esc(s.title)}</a></li>'
                                       for i, s in enumerate(report.sections)) + "</ol></nav>")
    for i, section in enumerate(report.sections):
        parts.append(f'<section id="s{i}"><h2>{esc(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, tuple):
                parts.append(f"<h3>{esc(block[1])}</h3>")
            elif isinstance(block, str):
                parts.append(f"<p>{esc(block)}</p>")
            elif isinstance(block, list):
                parts.append("<ul>" + "".join(f"<li>{esc(b)}</li>" for b in block) + "</ul>")
            elif isinstance(block, Table):
                head = "".join(f"<th>{esc(c)}</th>" for c in block.columns)
                body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>"
                               for row in block.rows)
                caption = f"<caption>{esc(block.caption)}</caption>" if block.caption else ""
                parts.append(f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(block, Figure):
                fig, note = _figure_or_note(block)
                if fig is None:
                    parts.append(f"<p><em>{esc(note)}</em></p>")
                    continue
                data = base64.b64encode(_png(fig)).decode()
                parts.append(f'<figure><img alt="{esc(block.caption)}" src="data:image/png;base64,{data}">'
                             f"<figcaption>{esc(block.caption)}</figcaption></figure>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    with plt.rc_context(RC):
        fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


PAGE = (8.27, 11.69)  # A4 portrait, inches
LINES_PER_PAGE = 72
PAGE_CHARS = 140  # 6 pt monospace across the page


def _text_lines(report: Report, section: Section) -> list[tuple[str, str]]:
    """(style, text) lines of a section's text and tables, laid out for fixed-width pages."""
    lines = [("h2", section.title)]
    for block in section.blocks:
        if isinstance(block, tuple):
            lines += [("", ""), ("h3", block[1])]
        elif isinstance(block, str):
            lines += [("p", w) for w in textwrap.wrap(block, 110)] + [("", "")]
        elif isinstance(block, list):
            for item in block:
                wrapped = textwrap.wrap(item, 106)
                lines += [("p", "• " + wrapped[0])] + [("p", "  " + w) for w in wrapped[1:]]
            lines.append(("", ""))
        elif isinstance(block, Table):
            lines += [("mono", t) for t in _fixed_width(block)] + [("", "")]
        elif isinstance(block, Figure):
            lines.append(("p", f"[figure on its own page] {block.caption}"))
    return lines


def _fixed_width(table: Table) -> list[str]:
    """A table as monospaced text; long cells are cut so the page width holds (HTML has them whole)."""
    cells = [table.columns] + table.rows
    widths = [min(max(len(str(r[i])) for r in cells), 60) for i in range(len(table.columns))]
    lines = [table.caption] if table.caption else []
    if sum(widths) + 2 * len(widths) > PAGE_CHARS:  # too wide: one block of `column: value` lines per row
        key = max(len(c) for c in table.columns)
        for row in table.rows:
            lines += [f"{c:<{key}}  {str(v)[:PAGE_CHARS - key - 2]}" for c, v in zip(table.columns, row, strict=True)]
            lines.append("")
        return lines
    for n, row in enumerate(cells):
        lines.append("  ".join(str(v)[:w].rjust(w) if _numberlike(v) else str(v)[:w].ljust(w)
                               for v, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _numberlike(value) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d,]*\.?\d+(e[-+]?\d+)?( ?[×%])?", str(value).strip()))


def to_pdf(report: Report, out: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    sizes = {"h1": 16, "h2": 13, "h3": 11, "p": 8.5, "mono": 6, "": 8}
    lines = [("h1", report.title)] + [("p", h) for h in report.header] + [("", "")]
    with plt.rc_context(RC), PdfPages(out, metadata={"CreationDate": None, "Title": report.title}) as pdf:
        for section in report.sections:
            lines += _text_lines(report, section)
            _text_pages(pdf, lines, sizes)
            lines = []
            for block in section.blocks:
                if isinstance(block, Figure):
                    fig, note = _figure_or_note(block)
                    if fig is None:
                        _text_pages(pdf, [("p", block.caption), ("p", note)], sizes)
                        continue
                    fig.text(0.5, -0.02, block.caption, ha="center", va="top", fontsize=9, color="#444444")
                    pdf.savefig(fig, bbox_inches="tight")
                    plt.close(fig)


def _text_pages(pdf, lines: list[tuple[str, str]], sizes: dict) -> None:
    import matplotlib.pyplot as plt

    for start in range(0, len(lines), LINES_PER_PAGE):
        fig = plt.figure(figsize=PAGE)
        y = 0.96
        for style, text in lines[start:start + LINES_PER_PAGE]:
            fig.text(0.06, y, text, fontsize=sizes[style], family="monospace" if style == "mono" else "sans-serif",
                     weight="bold" if style.startswith("h") else "normal", va="top")
            y -= 0.0118 * {"h1": 2.2, "h2": 1.9, "h3": 1.5}.get(style, 1.0)
        pdf.savefig(fig)
        plt.close(fig)
