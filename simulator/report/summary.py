"""The executive summary: for each folder the few numbers that answer its question, as sentences, and the
one picture that shows the answer (of the first folder): a run's time split, a sweep's main metric along
the axis that moves it most, a comparison's ratios, a service's latency distributions, a load sweep's
latency against load."""

from simulator.report.blocks import Figure
from simulator.report.bottleneck import bound, bound_sentence, time_split
from simulator.report.configuration import parallelism
from simulator.report.findings import best, by_effect, effects, flat_words, numeric_axes, primary, settings
from simulator.report.folders import Folder
from simulator.report.key_metrics import with_unit
from simulator.report.plot_choice import line_request, maker
from simulator.results.catalogue import metric


def latency_key(row) -> str:
    """The latency that answers a run: TPOT for decode, TTFT for prefill, the whole run otherwise."""
    phase = row.get("phase")
    for key, phases in (("tpot_s", ("decode",)), ("ttft_s", ("prefill",)), ("step_s", ("train",))):
        if phase in phases and row.get(key) is not None:
            return key
    return "seconds"


def _percent(value) -> str:
    return f"{100 * value:.1f} %"


def run_findings(folder: Folder) -> list[str]:
    s = folder.meta
    chips = s.get("chips_used", 1) or 1
    system = f" ({chips} chips, {parallelism(s)})" if chips > 1 else ""
    lat = latency_key(s)
    head = f"{s.get('workload')} on {s.get('chip')}{system}: {metric(lat).label} {with_unit(lat, s[lat])}"
    if s.get("tokens_per_s") is not None:
        head += f", {with_unit('tokens_per_s', s['tokens_per_s'])}"
    util = [f"{metric(k).label} {_percent(s[k])}" for k in ("mfu", "mbu") if s.get(k) is not None]
    out = [head + (f"; {', '.join(util)}" if util else "") + "."]
    out.append(f"Bottleneck: {bound_sentence(time_split(s))}.")
    memory = []
    if s.get("memory_required") is not None and s.get("hbm_capacity"):
        level = "SRAM" if s.get("bytes_chip_sram_read") or s.get("bytes_chip_sram_write") else "HBM"  # SRAM-only
        memory.append(f"{level} footprint {with_unit('memory_required', s['memory_required'])} of "
                      f"{with_unit('hbm_capacity', s['hbm_capacity'])} per chip")
    if s.get("energy_per_token_j") is not None:
        memory.append(f"energy {with_unit('energy_per_token_j', s['energy_per_token_j'])} per token"
                      + (f" at {with_unit('average_power_w', s['average_power_w'])}" if s.get("average_power_w")
                         else ""))
    if memory:
        text = "; ".join(memory)
        out.append(text[0].upper() + text[1:] + ".")
    return out


def sweep_findings(folder: Folder) -> list[str]:
    table, errors = folder.ok_rows()
    m = folder.meta
    axes = folder.distinct_axes()
    out = [f"{m.get('mode', 'grid')} sweep {m.get('name') or folder.path.name}: {len(table)} rows ran "
           f"({m.get('points', '?')} points × {len(m.get('workloads', []))} workload(s) on "
           f"{', '.join(map(str, m.get('hardware', [])))})" + (f", {errors} failed" if errors else "")
           + f"; swept: {', '.join(axes) or 'nothing'}."]
    y = primary(table)
    if y is None or table.empty:
        return out
    label, higher = metric(y).label, metric(y).better != "lower"
    shown = [a for a in axes if a in table.columns and table[a].nunique() > 1]
    for workload, rows in list(table.groupby("workload", sort=False))[:3] if "workload" in table.columns else []:
        top, tied, low = best(rows, y)
        ties = f" (with {len(tied) - 1} tied points)" if len(tied) > 1 else ""
        ratio = top[y] / low[y] if low[y] and higher else low[y] / top[y] if top[y] else float("nan")
        out.append(f"{workload}: best {with_unit(y, top[y])} at {settings(folder, tied, shown)}{ties}; "
                   f"{ratio:.2f}× the worst ({with_unit(y, low[y])} at {settings(folder, low.to_frame().T, shown)}).")
    effect = effects(folder, table, y)
    moving = by_effect(effect)
    said = [f"{a} up to {effect[a]:.2f}×" for a in moving if effect[a] is not None]
    still = flat_words(effect, label)
    if said or still:
        out.append(("With the other axes held, " + ", ".join(said) + f" change {label}" if said else "")
                   + ("; " if said and still else "") + (f"{still} (not drawn)" if still else "") + ".")
    bounds = [bound(time_split(r)) for r in table.to_dict("records")]
    counts = {b: bounds.count(b) for b in dict.fromkeys(bounds) if b}
    if counts:
        out.append("Bottleneck (from each row's time split): " + ", ".join(
            f"{b} at {n} of {len(bounds)} rows" for b, n in sorted(counts.items(), key=lambda kv: -kv[1])) + ".")
    return out


def compare_findings(folder: Folder) -> list[str]:
    from simulator.report.compare_plots import design_names

    table, errors = folder.ok_rows()
    names = design_names(folder)
    baseline = folder.meta.get("baseline")
    out = [f"{len(names)} designs ({', '.join(names.values())}) on {', '.join(folder.meta.get('workloads', []))}; "
           f"the baseline is {names.get(baseline, baseline)}" + (f"; {errors} rows failed" if errors else "") + "."]
    base = table[table["design"] == baseline].set_index("workload")
    for workload, rows in table.groupby("workload", sort=False):
        if workload not in base.index:
            continue
        b = base.loc[workload]
        lat = latency_key(b.to_dict())
        parts = []
        for _, r in rows[rows["design"] != baseline].iterrows():
            said = [f"{metric(k).label} {r[k] / b[k]:.2f}× ({with_unit(k, r[k])} vs {with_unit(k, b[k])})"
                    for k in (lat, "tokens_per_s", "energy_per_token_j") if k in r and b.get(k)]
            parts.append(f"{names.get(r['design'], r['design'])}: " + ", ".join(said))
        bounds = {names.get(r["design"], r["design"]): bound(time_split(r)) for r in rows.to_dict("records")}
        out.append(f"{workload}: " + "; ".join(parts) + ". Bottleneck: "
                   + ", ".join(f"{d} {v or '—'}" for d, v in bounds.items()) + ".")
    return out


def serve_findings(folder: Folder) -> list[str]:
    s = folder.meta
    rate = f" at {with_unit('request_rate', s['request_rate'])}" if s.get("request_rate") else ""
    out = [f"{s.get('model')} on {s.get('chip')}, {s.get('scheduler')} batching, {s.get('requests'):,} requests"
           f"{rate}: served {with_unit('requests_per_s', s.get('requests_per_s'))}, "
           f"{with_unit('output_tokens_per_s', s.get('output_tokens_per_s'))} out."]
    for key, name in (("ttft", "TTFT"), ("tpot", "TPOT")):
        if s.get(f"{key}_p99_s") is not None:
            slo = s.get(f"slo_{key}_s")
            out.append(f"{name} p50 {with_unit(f'{key}_p50_s', s.get(f'{key}_p50_s'))}, p99 "
                       f"{with_unit(f'{key}_p99_s', s[f'{key}_p99_s'])}"
                       + (f" (limit {with_unit(f'slo_{key}_s', slo)})" if slo is not None else "") + ".")
    if s.get("slo_attainment") is not None:
        out.append(f"SLO attainment {_percent(s['slo_attainment'])}, goodput "
                   f"{with_unit('goodput_requests_per_s', s.get('goodput_requests_per_s'))}; KV cache peak "
                   f"{_percent(s.get('kv_peak_share') or 0)}, mean batch {s.get('mean_batch', 0):.3g}.")
    return out


def load_findings(folder: Folder, rate: str) -> list[str]:
    table, errors = folder.ok_rows()
    table = table.sort_values(rate)
    names = [str(table[c].iloc[0]) for c in ("workload", "chip") if c in table.columns and table[c].nunique() == 1]
    out = [f"{' on '.join(names)}: offered load {table[rate].min():g} to {table[rate].max():g} req/s "
           f"({len(table)} points)" + (f", {errors} failed" if errors else "") + "."]
    if "slo_attainment" in table.columns:
        ok = table[table["slo_attainment"] >= 0.99]
        low = table[table["slo_attainment"] < 0.9]
        said = f"SLO attainment is 99 % or more up to {ok[rate].max():g} req/s" if len(ok) else \
            "SLO attainment is below 99 % at every load"
        if len(low):
            first = low.iloc[0]
            said += f"; it falls to {_percent(first['slo_attainment'])} at {first[rate]:g} req/s"
        out.append(said + ".")
    if "requests_per_s" in table.columns:
        top = table.loc[table["requests_per_s"].idxmax()]
        out.append(f"Throughput peaks at {with_unit('requests_per_s', top['requests_per_s'])} (offered "
                   f"{top[rate]:g} req/s).")
    return out


def findings(folder: Folder, rate: str | None) -> list[str]:
    if folder.kind == "run":
        return run_findings(folder)
    if folder.kind == "serve":
        return serve_findings(folder)
    if folder.kind == "compare":
        return compare_findings(folder)
    return load_findings(folder, rate) if rate else sweep_findings(folder)


def main_figure(folder: Folder, rate: str | None) -> Figure | None:
    """The one picture of the executive summary."""
    if folder.kind == "run":
        return Figure("Where the time goes, per op group: compute, memory stall, per-op overhead, communication.",
                      maker(folder, "breakdown"), ("breakdown",))
    if folder.kind == "serve":
        return Figure("Latency distributions over the requests, with p50, p99 and the SLO limits.",
                      maker(folder, "cdf"), ("cdf",))
    if folder.kind == "compare":
        return Figure("Each design's key metrics as ratios to the baseline, per workload.", maker(folder, "bars"),
                      ("bars",))
    if rate:
        return Figure(f"Latency and throughput against the offered load ({rate}).", maker(folder, "load"),
                      ("load",))
    table, _ = folder.ok_rows()
    y = primary(table)
    if y is None or not numeric_axes(folder, table):
        return None
    effect = effects(folder, table, y)
    axis = (by_effect(effect) or list(effect))[0]
    request, note = line_request(folder, table, axis, y, effect)
    return Figure(f"{metric(y).label} along {axis}, the axis that moves it most{note}.",
                  maker(folder, "line", request), ("line", request))

