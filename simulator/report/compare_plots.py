"""Designs side by side (a compare folder): each key metric per workload, as a ratio to the baseline
design, with the ratio printed on its bar and the baseline's own value under the panel."""

import numpy as np

from simulator.errors import TortoiseError
from simulator.report.folders import Folder
from simulator.report.style import PALETTE, figure
from simulator.report.sweep_plots import Request, rows
from simulator.results.catalogue import metric

# (column, what it is) — latency is the run's time: TPOT for decode, TTFT for prefill, end to end for generate
KEY_METRICS = ("seconds", "tokens_per_s", "mfu", "mbu", "energy_per_token_j")


def ratios(folder: Folder, request: Request | None = None):
    """Per metric present: (values design × workload, baseline-normalised ratios), and the error count."""
    table, errors = rows(folder, request or Request(), ["design", "workload"])
    designs = list(dict.fromkeys(folder.meta.get("designs") or table["design"]))
    designs = [d for d in designs if d in set(table["design"])]
    baseline = folder.meta.get("baseline", designs[0])
    if baseline not in designs:
        raise TortoiseError(f"{folder.path}: the baseline design {baseline} has no ok row; nothing to compare to")
    workloads = list(dict.fromkeys(table["workload"]))
    out = {}
    for column in KEY_METRICS:
        if column not in table.columns:
            continue
        values = table.pivot_table(index="design", columns="workload", values=column, aggfunc="first")
        values = values.reindex(index=designs, columns=workloads)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[column] = (values, values / values.loc[baseline])
    return out, designs, baseline, workloads, errors


def design_names(folder: Folder) -> dict[str, str]:
    """Each design's shown name: the chip name its rows carry (`h100` for configs/h100.yaml); the design as
    given where two designs share a chip name, or where no row names one."""
    table = folder.table
    designs = list(dict.fromkeys(folder.meta.get("designs") or (table["design"] if table is not None else [])))
    chips = {}
    if table is not None and "chip" in table.columns:
        for design in designs:
            named = table.loc[(table["design"] == design) & table["chip"].notna(), "chip"]
            chips[design] = str(named.iloc[0]) if len(named) else str(design)
    names = [chips.get(d, str(d)) for d in designs]
    return {d: (n if names.count(n) == 1 else str(d)) for d, n in zip(designs, names, strict=True)}


def bars(folder: Folder, request: Request):
    panels, designs, baseline, workloads, errors = ratios(folder, request)
    if not panels:
        raise TortoiseError(f"{folder.path}: compare.csv has none of {', '.join(KEY_METRICS)}")
    names = design_names(folder)
    base = names.get(baseline, baseline)
    fig, axes = figure(3.3 * len(panels), 4.4, ncols=len(panels), squeeze=False)
    width = 0.8 / len(designs)
    for ax, (column, (values, ratio)) in zip(axes[0], panels.items(), strict=True):
        m = metric(column)
        top = 1.0
        for i, design in enumerate(designs):
            xs = np.arange(len(workloads)) + (i - (len(designs) - 1) / 2) * width
            heights = ratio.loc[design].to_numpy(float)
            ax.bar(xs, heights, width * 0.92, color=PALETTE[i % len(PALETTE)], label=names.get(design, design))
            for x, h in zip(xs, heights, strict=True):
                if np.isfinite(h):
                    ax.text(x, h, f"{h:.2f}×", ha="center", va="bottom", fontsize=7, rotation=90 if len(
                        designs) * len(workloads) > 6 else 0)
                    top = max(top, h)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_ylim(0, top * 1.25)
        ax.set_xticks(range(len(workloads)), workloads, rotation=20 if len(workloads) > 1 else 0,
                      ha="right" if len(workloads) > 1 else "center", fontsize=8)
        ax.set_xlabel(f"{base}: " + ", ".join(m.text(v) for v in values.loc[baseline]), fontsize=8)
        ax.grid(axis="x", visible=False)
        better = f"{m.better} is better" if m.better != "none" else "no better direction"
        ax.set_title(f"{m.label}\n({better})", fontsize=10)
    axes[0, 0].set_ylabel(f"ratio to {base} (×)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(designs), bbox_to_anchor=(0.5, 1.06))
    fig.suptitle(f"Designs compared on {', '.join(workloads)}: each metric as a ratio to {base} (its own values, "
                 "in workload order, under each panel)", y=1.12, fontsize=11)
    fig.tight_layout()
    if errors:
        fig.text(0.99, 0.0, f"{errors} error rows skipped", ha="right", fontsize=8, color="#555555")
    return fig


COMPARE_KINDS = {"bars": bars}
