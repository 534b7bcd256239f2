"""The design-review document: an executive summary (the few numbers and the one picture that answer the
question), then configurations, key metrics, plots and assumptions, from run, serve, sweep and compare
folders; written as self-contained HTML (html_doc.py) or as a PDF of fixed-size pages (pdf_doc.py).
Nothing in it depends on the date or the machine, so the same folders give the same document."""

import re
from pathlib import Path

import simulator
from simulator import __version__
from simulator.errors import TortoiseError
from simulator.report.blocks import Figure, Report, Section, Table, plain
from simulator.report.configuration import hardware_table, run_table, workload_table
from simulator.report.folders import Folder
from simulator.report.key_metrics import (
    MAX_TABLE_ROWS,
    errors_note,
    fmt,
    ratio_table,
    row_table,
    run_metrics,
    serve_metrics,
)

SECTIONS = ("Executive summary", "Configurations", "Key metrics", "Plots", "Assumptions")
DOCS = Path(simulator.__file__).resolve().parents[1] / "docs"
SERVE_CONFIG = (("chip", "chip"), ("model", "model"), ("scheduler", "batching policy"),
                ("arrival", "arrival process"), ("request_rate", "offered load (req/s)"), ("requests", "requests"),
                ("mean_prompt_tokens", "mean prompt (tokens)"), ("mean_output_tokens", "mean output (tokens)"),
                ("parallel.tp", "TP degree"), ("parallel.ep", "EP degree"), ("instances", "instances"),
                ("weights_dtype", "weights dtype"), ("activations_dtype", "activations dtype"),
                ("kv_cache_dtype", "KV cache dtype"), ("kv_blocks", "KV blocks per instance"),
                ("kv_block_tokens", "KV block size (tokens)"), ("host_overhead_s", "host cost per call (ms)"),
                ("scheduler_steps", "decode steps per call"), ("timing", "iteration timing"))
__all__ = ["SECTIONS", "MAX_TABLE_ROWS", "Figure", "Report", "Section", "Table", "build_report", "doc_bullets",
           "to_html", "to_pdf", "write_report"]


# ---------------------------------------------------------------- building


def _name(folder: Folder) -> str:
    return f"{folder.kind} {folder.path.name}"


def build_report(folders: list[Folder], title: str | None = None) -> Report:
    from simulator.report.plot_choice import plots, rate_axis
    from simulator.report.summary import findings, main_figure

    sections = {name: Section(name) for name in SECTIONS}
    many = len(folders) > 1
    main = None
    for folder in folders:
        heading = [("h", _name(folder))] if many else []
        rate = rate_axis(folder, folder.ok_rows()[0]) if folder.kind == "sweep" else None
        sections["Executive summary"].blocks += heading + [findings(folder, rate)]
        if main is None:
            main = main_figure(folder, rate)
        shown = [b for b in plots(folder)]
        if main is not None and folder is folders[0]:
            shown = [f"{b.caption} Shown in the executive summary." if isinstance(b, Figure) and b.key
                     and b.key == main.key else b for b in shown]
        for name, blocks in (("Configurations", _configurations(folder)), ("Key metrics", _metrics(folder)),
                             ("Plots", shown)):
            sections[name].blocks += heading + blocks
    if main is not None:
        sections["Executive summary"].blocks.append(main)
    sections["Assumptions"].blocks = _assumptions(folders)
    title = title or "Design review: " + ", ".join(_name(f) for f in folders)
    versions = sorted({f.meta.get("tortoise", __version__) for f in folders if f.kind != "run"} | {__version__})
    header = [f"Folders: {', '.join(str(f.path) for f in folders)}",
              f"Made by tortoise {', '.join(versions)} (tortoise report); every figure is recomputed from the "
              "folders' tables."]
    return Report(title, header, list(sections.values()))


def _configurations(folder: Folder) -> list:
    if folder.kind == "serve":
        s = folder.meta
        rows = [[label, fmt(s.get(key), key)] for key, label in SERVE_CONFIG if key in s]
        return [Table(["", "value"], rows, "The service as the run's summary.json records it (docs/serving.md).",
                      numeric=[False, False])]
    if folder.kind == "run":
        return [run_table(folder)]
    table, _ = folder.ok_rows()
    if folder.kind == "compare":
        from simulator.report.compare_plots import design_names

        names = design_names(folder)
        designs = folder.meta.get("designs", [])
        blocks = [f"{len(designs)} designs on {', '.join(folder.meta.get('workloads', []))}; the baseline is "
                  f"{names.get(folder.meta.get('baseline'), folder.meta.get('baseline', '?'))}.",
                  *hardware_table({names.get(d, d): d for d in designs}, "Hardware of each design, from its config.")]
        if not table.empty:
            shown = table.assign(design=table["design"].map(lambda d: names.get(d, d)))
            blocks.append(workload_table(shown, ["workload", "design"], "What each run computed, per workload "
                                         "and design (designs with the same settings share a column)."))
        return blocks
    m = folder.meta
    axes = Table(["axis", "unit", "values"], [[path, a.get("unit") or "", ", ".join(map(fmt, a["values"]))]
                                              for path, a in m.get("axes", {}).items()],
                 f"{m.get('mode', 'grid')} sweep: {m.get('points', '?')} points × {len(m.get('workloads', []))} "
                 f"workload(s) = {m.get('rows', '?')} rows", numeric=[False, False, False])
    blocks = [f"Base hardware, before the swept fields change: {', '.join(m.get('hardware', []))}; workloads: "
              f"{', '.join(map(str, m.get('workloads', [])))}.",
              *hardware_table({h: h for h in m.get("hardware", [])}, "Base hardware, from its config."), axes]
    if not table.empty and "workload" in table.columns:
        by = ["workload"] + (["hardware"] if "hardware" in table.columns and table["hardware"].nunique() > 1 else [])
        blocks.append(workload_table(table, by, "What the runs computed (first row of each workload; a swept "
                                     "setting takes the values above)."))
    return blocks


def _metrics(folder: Folder) -> list:
    if folder.kind == "serve":
        return serve_metrics(folder)
    if folder.kind == "run":
        return run_metrics(folder)
    table, errors = folder.ok_rows()
    blocks: list = []
    if table.empty:
        blocks.append("No row ran.")
    else:
        serving = "ttft_p99_s" in table.columns
        blocks.append("Latencies are percentiles over the requests of each point (docs/serving.md)." if serving else
                      "Latency is the run's time: TPOT for decode, TTFT for prefill, end to end for a generation. "
                      "The bottleneck is the largest part of each row's time split (compute, memory stall, exposed "
                      "communication, per-op overhead).")
        names = None
        if folder.kind == "compare":
            from simulator.report.compare_plots import design_names

            names = design_names(folder)
        blocks.append(row_table(folder, table, names))
        if names is not None and (ratios := ratio_table(folder, table, names)) is not None:
            blocks.append(ratios)
    if errors:
        blocks.append(errors_note(folder, errors))
    return blocks


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
    text = plain(text)
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text.rstrip() + "."


# ---------------------------------------------------------------- writing


def to_html(report: Report) -> str:
    from simulator.report.html_doc import to_html as write

    return write(report)


def to_pdf(report: Report, out: Path) -> None:
    from simulator.report.pdf_doc import to_pdf as write

    write(report, out)


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

