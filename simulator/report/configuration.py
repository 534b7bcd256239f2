"""The report's configuration tables: the hardware of each design (one column per design, one row per
property), and the workload settings the runs used — parallelism, precisions, batch, prompt and context —
from the folders' own rows. Cost appears only where the summaries carry it."""

import re
from collections.abc import Mapping

import pandas as pd

from simulator.errors import TortoiseError
from simulator.report.blocks import Table
from simulator.report.folders import Folder
from simulator.report.style import axis_label
from simulator.results.catalogue import metric

CHIP_PROPERTIES = ("cores", "MXU rows × cols × count", "clock (GHz)", "peak per chip (TFLOP/s)", "HBM (GB)",
                   "HBM bandwidth (TB/s)", "SRAM per core (KiB)", "L2 (MB)", "chips (topology)",
                   "link bandwidth per chip (GB/s, each direction)", "link latency (µs)", "energy node",
                   "cost per chip-hour (USD)", "die area (mm²)")
COST = re.compile(r"(^|_)(cost|price|usd|dollars?)(_|$)")


def _g(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1e3 else f"{value:.3g}"


def chip_column(source: str) -> tuple[list[str], str]:
    """One design's properties (CHIP_PROPERTIES order) and its description, loaded from its config (a
    preset name or a file)."""
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    try:
        chip = Chip(load_chip(source))
    except TortoiseError as exc:
        return [f"not loadable here: {exc}"] + [""] * (len(CHIP_PROPERTIES) - 1), ""
    c, m = chip.config, chip.mxu
    dtype = "bf16" if "bf16" in m.macs_per_pe else next(iter(m.macs_per_pe))
    system, l2 = c.system, c.memory.l2
    dims = " " + "×".join(map(str, system.dims)) if system.dims else ""
    link = system.link
    energy = getattr(c, "energy", None)
    return [str(chip.cores), f"{m.rows} × {m.cols} × {m.count}", f"{chip.clock_hz / 1e9:.3g}",
            f"{_g(chip.peak_flops_per_s(dtype) / 1e12)} ({dtype})", f"{c.memory.hbm.size / 1e9:.3g}",
            f"{chip.hbm.bytes_per_cycle * chip.clock_hz / 1e12:.3g}", f"{chip.sram.size / 1024:,.0f}",
            f"{l2.size / 1e6:.3g}" if l2 else "none",
            f"{system.chips} ({system.topology}{dims})" if system.chips > 1 else "1",
            _link_rate(link, chip.clock_hz) if link else "— (one chip)",
            f"{link.latency.value * (1 / chip.clock_hz if link.latency.in_cycles else 1) * 1e6:.3g}" if link else "—",
            getattr(energy, "node", "") if energy else "", _price(c), _die(c)], c.description


def _price(config) -> str:
    """`2.99 (cloud)`; an owned chip's amortization, its electricity depending on the run; `—` without cost."""
    from simulator.hardware.cost import capex_per_hour

    cost = getattr(config, "cost", None)
    if cost is None:
        return "—"
    if cost.chip_hour is not None:
        return f"{_g(cost.chip_hour / cost.utilization)} (cloud)"
    return f"{_g(capex_per_hour(cost.capex) / cost.utilization)} + electricity (owned)"


def _die(config) -> str:
    from simulator.hardware.area import die_area

    area = die_area(config) if getattr(config, "area", None) is not None else None
    if area is None or area.die_mm2 is None:
        return "—"
    return f"{_g(area.die_mm2)} ({area.how}{', over the reticle' if area.exceeds_reticle else ''})"


def _link_rate(link, clock_hz: float) -> str:
    rate = link.bandwidth.value * (clock_hz if link.bandwidth.per_cycle else 1)
    return f"{_g(rate * link.count / 1e9)}" + (f" ({link.count} × {_g(rate / 1e9)})" if link.count > 1 else "")


def hardware_table(names: Mapping[str, str], caption: str = "") -> list:
    """Designs as columns ({shown name: config source}), properties as rows; then each design's
    description from its config."""
    loaded = {name: chip_column(source) for name, source in names.items()}
    rows = [[prop] + [loaded[n][0][i] for n in names] for i, prop in enumerate(CHIP_PROPERTIES)]
    described = [f"{n}: {d}" for n, (_, d) in loaded.items() if d]
    return [Table(["", *names], rows, caption, numeric=[False] * (len(names) + 1)), *([described] if described
                                                                                      else [])]


def parallelism(row: Mapping) -> str:
    """`TP 8; PP, DP, EP 1` from a summary's `parallel` object or a flat row's `parallel.*` columns."""
    nested = row.get("parallel")
    degrees = dict(nested) if isinstance(nested, Mapping) else {k.split(".", 1)[1]: v for k, v in row.items()
                                                                if str(k).startswith("parallel.")}
    numbers = {k: degrees[k] for k in ("tp", "pp", "dp", "ep", "sp", "cp") if isinstance(degrees.get(k), int | float)
               and not isinstance(degrees[k], bool) and degrees[k] == degrees[k]}
    if not numbers:
        return "none (one chip)" if (row.get("chips_used") or 1) == 1 else ""
    big = [f"{k.upper()} {int(v)}" for k, v in numbers.items() if v > 1]
    ones = [k.upper() for k, v in numbers.items() if v <= 1]
    text = ", ".join(big) + ("; " if big and ones else "") + (", ".join(ones) + " 1" if ones else "")
    if degrees.get("sequence_parallel") is True:
        text += "; sequence parallel"
    if isinstance(degrees.get("microbatches"), int | float) and (degrees["microbatches"] or 1) > 1:
        text += f"; {int(degrees['microbatches'])} micro-batches"
    return text


def _value(row: Mapping, key: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return "—"
    return metric(key).text(value, unit=False)


def precisions(row: Mapping) -> str:
    """`weights fp8, activations bf16, KV cache bf16`."""
    parts = [(name, row.get(key)) for key, name in (("weights_dtype", "weights"),
                                                    ("activations_dtype", "activations"),
                                                    ("kv_cache_dtype", "KV cache"), ("gemm_dtypes", "GEMMs"))]
    return ", ".join(f"{name} {v}" for name, v in parts if isinstance(v, str) and v) or "—"


def cost_keys(rows) -> list[str]:
    keys = []
    for row in rows:
        keys += [k for k, v in row.items() if COST.search(str(k)) and isinstance(v, int | float)
                 and not isinstance(v, bool) and k not in keys]
    return keys


def workload_rows(row: Mapping) -> list[tuple[str, str]]:
    """(property, value) of what one run computed: model, phase, batch, prompt, context, precisions,
    parallelism and chips. Not its cost: that depends on the hardware as well (the hardware table has each
    design's price; a run's table its cost figures)."""
    out = [("model", str(row.get("model") or "—")), ("phase", str(row.get("phase") or "—"))]
    out += [(axis_label(k), _value(row, k)) for k in ("batch", "prompt", "context", "output_tokens") if k in row]
    out += [("precisions", precisions(row)), ("parallelism", parallelism(row))]
    if "chips_used" in row:
        topology = f" ({row['topology']})" if isinstance(row.get("topology"), str) else ""
        out.append(("chips used", f"{_value(row, 'chips_used')} of {_value(row, 'chips')}{topology}"
                    if "chips" in row else _value(row, "chips_used")))
    return out


def workload_table(table: pd.DataFrame, by: list[str], caption: str) -> Table:
    """One column per distinct run setting (first ok row of each `by` group), one row per property."""
    groups = list(table.groupby(by, sort=False)) if by else [((), table)]
    settings: dict[tuple, list] = {}  # the same settings under several keys: one column for them all
    props_of = {}
    for key, rows in groups:
        key = key if isinstance(key, tuple) else (key,)
        props = workload_rows(rows.iloc[0].to_dict())
        values = tuple(v for _, v in props)
        settings.setdefault(values, []).append(key)
        props_of[values] = props
    firsts = [k[0] for keys in settings.values() for k in keys]
    columns = {}
    for values, keys in settings.items():
        heads = list(dict.fromkeys(str(k[0]) for k in keys))
        # a column is named by its workloads alone when no other column shares one of them
        alone = all(firsts.count(k[0]) == sum(1 for j in keys if j[0] == k[0]) for k in keys)
        name = ", ".join(heads) if alone else ", ".join(" · ".join(map(str, k)) for k in keys)
        columns[name or "all runs"] = props_of[values]
    labels = [p for p, _ in next(iter(columns.values()))] if columns else []
    rows = [[label] + [dict(props).get(label, "—") for props in columns.values()] for label in labels]
    return Table(["", *columns], rows, caption, numeric=[False] * (len(columns) + 1))


def run_table(folder: Folder) -> Table:
    """A run folder: its chip (as the summary recorded it, overrides included) and its settings."""
    s = folder.meta
    chips = s.get("chips_used", 1) or 1
    links = folder.tables.get("links")
    if links is not None and "bandwidth_gb_s" in links.columns and len(links):
        rates = sorted(set(links["bandwidth_gb_s"].round(6)))
        link = f"{', '.join(_g(r) for r in rates)} GB/s per link, each direction ({len(links)} directed links used)"
    else:
        link = "— (one chip)" if chips == 1 else "—"
    rows = [("chip", str(s.get("chip"))), (axis_label("clock_hz"), _value(s, "clock_hz")),
            (f"peak per chip ({metric('peak_tflops').display_unit})", _g(s.get("peak_tflops", 0) / chips)),
            (f"HBM capacity per chip ({metric('hbm_capacity').display_unit})", _value(s, "hbm_capacity")),
            (f"HBM bandwidth per chip ({metric('hbm_bandwidth_tb_s').display_unit})",
             _value(s, "hbm_bandwidth_tb_s")),
            ("link bandwidth", link)]
    rows += workload_rows(s)
    rows += [(axis_label(k), _value(s, k)) for k in cost_keys([s])]  # a run's own: they depend on its chip
    if s.get("model_description"):
        rows.append(("model description", str(s["model_description"])))
    return Table(["", "value"], [list(r) for r in rows if r[1] != "—" or r[0] in ("chip", "link bandwidth")],
                 "The run as its summary.json records it (overrides included).", numeric=[False, False])
