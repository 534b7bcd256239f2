"""Human-readable summary text and the files `--out` writes.

The text takes a result's row dicts (or its pandas tables); only writing tables needs pandas."""

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.errors import TortoiseError
from simulator.results.cost import cost_lines
from simulator.results.row import column, descending, records

if TYPE_CHECKING:
    import pandas as pd


BYTE_UNITS = (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3))  # decimal, as every size in the text


def _byte_unit(n: float) -> tuple[str, float]:
    return next(((unit, scale) for unit, scale in BYTE_UNITS if n >= scale), ("B", 1.0))


def format_bytes(n: float, digits: int = 2, unit: tuple[str, float] | None = None) -> str:
    """`9.09 GB`: decimal units (a 32 GiB HBM is 34.36 GB), the largest that keeps the figure at least 1, or
    `unit` (a (name, scale) pair of BYTE_UNITS)."""
    name, scale = unit or _byte_unit(n)
    return f"{n:.0f} B" if scale == 1.0 else f"{n / scale:.{digits}f} {name}"


def format_byte_pair(a: float, b: float) -> tuple[str, str]:
    """`a` and `b` as format_bytes writes them, except that two different sizes never read the same: where
    they would (need 80.001 GB of an 80 GB chip), both are written in the larger's unit with as many more
    digits as it takes to show the difference."""
    unit = _byte_unit(max(a, b))
    if a == b or format_bytes(a, unit=unit) != format_bytes(b, unit=unit):
        return format_bytes(a), format_bytes(b)
    digits = next((d for d in range(3, 13) if format_bytes(a, d, unit) != format_bytes(b, d, unit)), 12)
    return format_bytes(a, digits, unit), format_bytes(b, digits, unit)


def format_time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3f} {unit}"
    return f"{s * 1e9:.1f} ns"


def _joules(j: float) -> str:
    for unit, scale in (("J", 1), ("mJ", 1e-3), ("µJ", 1e-6)):
        if j >= scale:
            return f"{j / scale:.3g} {unit}"
    return f"{j * 1e9:.3g} nJ"


ENERGY_LABELS = {"mac": "MAC", "vector": "vector", "sram": "SRAM", "l2": "L2", "hbm": "HBM", "link": "links",
                 "static": "static"}


def _share(share: float) -> str:
    """`13 %`; `<1 %` and `>99 %` for shares that would round to 0 or 100 without being so."""
    return "<1 %" if share < 0.01 else ">99 %" if 0.99 < share < 1 else f"{100 * share:.0f} %"


def peak_text(s: dict) -> str:
    """The peak MFU is taken against, and whose: `989.4 TFLOP/s bf16 peak`; for GEMMs of several dtypes the
    MAC-weighted peak with each dtype's share of the MACs (`1758.7 TFLOP/s peak (fp8 87 %, bf16 13 % of the
    GEMM MACs)`); over several chips, one chip's peak and how many (`989.4 TFLOP/s bf16 peak per chip × 1024`)."""
    shares = s.get("gemm_mac_share") or {}
    chips = s.get("chips_used", 1) or 1
    peak = f"{s['peak_tflops'] / chips:.1f} TFLOP/s"
    per = f" per chip × {chips:,}" if chips > 1 else ""
    if not shares:
        return f"{peak} peak{per} (no GEMMs)"
    if len(shares) == 1:
        return f"{peak} {next(iter(shares))} peak{per}"
    mix = ", ".join(f"{dtype} {_share(share)}" for dtype, share in shares.items())
    return f"{peak} peak{per} ({mix} of the GEMM MACs)"


def assumed_lines(s: dict) -> list[str]:
    """`assumed  …`: what the run took as given without being told (defaults the hardware file left out, the
    dtype GEMMs run in), once, in one line; none when it assumed nothing (summary key `assumptions`)."""
    notes = s.get("assumptions") or []
    return [f"  assumed          {'; '.join(notes)}"] if notes else []


def _chip_sram_text(s: dict) -> str:
    """`, shared SRAM read …, write …` on an SRAM-only chip (whose farthest level is SRAM, not HBM)."""
    read, write = s.get("bytes_chip_sram_read", 0), s.get("bytes_chip_sram_write", 0)
    return f", shared SRAM read {format_bytes(read)}, write {format_bytes(write)}" if read or write else ""


def _energy_line(s: dict) -> str:
    """`energy  1.23 J = 7.5 mJ/token, average 620 W (MAC 12 %, HBM 40 %, …)`: parts that are not zero."""
    total = s["energy_j"]
    per_token = f" = {_joules(s['energy_per_token_j'])}/token" if "energy_per_token_j" in s else ""
    shares = {label: 100 * s[f"energy_{key}_j"] / total for key, label in ENERGY_LABELS.items()
              if total and s[f"energy_{key}_j"] > 0}
    parts = ", ".join(f"{label} {share:.0f} %" if share >= 1 else f"{label} <1 %" for label, share in shares.items())
    return f"  energy           {_joules(total)}{per_token}, average {s['average_power_w']:.0f} W ({parts})"


def summary_text(summary: dict, table, top: int = 12) -> str:
    """The op-graph view; `table` is the op rows (or the op table)."""
    s = summary
    lines = [
        f"{s['workload']} on {s['chip']} ({s['clock_hz'] / 1e9:.3g} GHz, runtime {s['runtime']}): {s['ops']} ops",
        f"  total            {s['cycles']:,} cycles = {format_time(s['seconds'])}",
        f"  throughput       {s['achieved_tflops']:.1f} TFLOP/s of {peak_text(s)}, "
        f"MXU utilization {100 * s['mxu_utilization']:.1f} %",
        f"  critical core    {s['compute_cycles']:,} compute + {s['stall_cycles']:,} memory-stall + "
        f"{s['overhead_cycles']:,} per-op overhead cycles",
        f"  roofline         {s['roofline_fraction'] * 100:.1f} % of the {s['roofline_bound']}-bound "
        f"floor ({s['roofline_cycles']:,.0f} cycles)",
        f"  bytes moved      HBM read {format_bytes(s['bytes_hbm_read'])}, "
        f"HBM write {format_bytes(s['bytes_hbm_write'])}, "
        f"L2 read {format_bytes(s['bytes_l2_read'])}, SRAM read {format_bytes(s['bytes_sram_read'])}, "
        f"SRAM write {format_bytes(s['bytes_sram_write'])}" + _chip_sram_text(s),
        _energy_line(s),
        *cost_lines(s),
        *assumed_lines(s),
        "",
        f"  {'op':<14}{'shape':>18}{'tile':>16}{'cores':>6}{'cycles':>14}{'stall %':>8}{'TFLOP/s':>9}"
        f"{'roofline %':>11}  bound",
    ]
    table = records(table)
    for r in table[:top]:
        stall = 100 * r["stall_cycles"] / r["cycles"] if r["cycles"] else 0.0
        lines.append(
            f"  {r['name'][:13]:<14}{r['shape']:>18}{r['tile']:>16}{r['cores']:>6}{r['cycles']:>14,}{stall:>8.1f}"
            f"{r['achieved_tflops']:>9.1f}{100 * r['roofline_fraction']:>11.1f}  {r['bound']}"
        )
    if len(table) > top:
        lines.append(f"  … {len(table) - top} more ops in the table (--out DIR)")
    return "\n".join(lines)


def format_pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _lengths(s: dict) -> str:
    if s["phase"] == "decode":
        return f"{s['context']} tokens of context"
    if s["phase"] == "prefill":
        return f"prompt {s['prompt']}"
    return f"prompt {s['prompt']}, {s['output_tokens']} output tokens"


def _parallel(s: dict) -> str:
    p = s["parallel"]
    text = " ".join(f"{k}={p[k]}" for k in ("tp", "cp", "pp", "ep", "dp") if k in p)
    if p.get("vp", 1) > 1:
        text += f" vp={p['vp']}"
    if p["pp"] > 1:
        text += f", {p['microbatches']} micro-batch(es)"
    text += "".join(f", {p[k]}" for k in ("layout",) if k in p)
    text += ", batch-sharded attention" if p.get("attention") == "batch" else ""
    return text + (", sequence parallel" if p["sequence_parallel"] else "")


def _system_lines(s: dict, stages: list[dict], links: list[dict]) -> list[str]:
    """Per-chip time split (one row per pipeline stage) and the busiest links."""
    lines = [
        "",
        f"  system           {s['chips_used']} of {s['chips']} chips ({s['topology']}); {_parallel(s)}; "
        f"collectives {', '.join(s['collective_algorithms']) or 'none'}",
        f"  links            {format_bytes(s['link_bytes'])} carried, busiest link "
        f"{format_pct(s['max_link_utilization'])} utilized",
        f"  {'per chip':<16}{'compute':>12}{'mem stall':>12}{'overhead':>12}{'exposed comm':>14}{'idle':>12}"
        f"{'overlapped comm':>17}",
    ]
    for r in stages:
        label = f"stage {r['stage']} ({r['chips']} chips)"
        lines.append(f"  {label:<16}{format_time(r['compute_s']):>12}{format_time(r['memory_stall_s']):>12}"
                     f"{format_time(r['overhead_s']):>12}{format_time(r['exposed_comm_s']):>14}"
                     f"{format_time(r['idle_s']):>12}{format_time(r['overlapped_comm_s']):>17}")
    axes = sorted(k[len("exposed_comm_"):-2] for k in s if k.startswith("exposed_comm_") and k != "exposed_comm_s"
                  and k.endswith("_s") and k != "exposed_comm_share")
    if axes:
        lines.append("  comm by axis     " + "; ".join(
            f"{a}: {format_time(s[f'exposed_comm_{a}_s'])} exposed, {format_time(s[f'overlapped_comm_{a}_s'])} "
            "overlapped" for a in axes))
    for i in descending(column(links, "utilization"))[:4]:
        r = links[i]
        link = f"link {r['src']}→{r['dst']}"
        lines.append(f"  {link:<16}{format_bytes(r['bytes']):>12} at {r['bandwidth_gb_s']:.0f} GB/s, "
                     f"{format_pct(r['utilization'])} utilized")
    return lines


def _model_lines(s: dict, what: str) -> list[str]:
    return [
        f"{s['workload']}: {s['model']} {what} on {s['chip']} ({s['clock_hz'] / 1e9:.3g} GHz, runtime {s['runtime']})",
        f"  model            {s['model_description']}",
        f"                   {s['params'] / 1e9:.2f} B parameters"
        + (f" ({s['active_params'] / 1e9:.2f} B active per token)" if s["active_params"] != s["params"] else ""),
    ]


def _closing_lines(s: dict, groups, stages, links) -> list[str]:
    """Energy, layer scaling, the system's split (systems) and the op groups."""
    lines = [_energy_line(s), *cost_lines(s),
             f"  layers           {s['layers']} identical layers: one simulated, its time × {s['layers']} (exact)"
             if s.get("layers_simulated", 1) == 1 else
             f"  layers           {s['layers']} layers in {s['layers_simulated']} groups of identical layers: one of "
             "each simulated, its time × the group's size (exact)",
             *assumed_lines(s)]
    if stages is not None:
        lines += _system_lines(s, records(stages), records(links))
    lines += ["", f"  {'op group':<16}{'time':>12}{'share':>8}{'ops':>8}{'TFLOP':>10}{'HBM bytes':>12}{'FLOP/B':>9}"
              "  bound"]
    return lines + _group_lines(groups)


def llm_summary_text(summary: dict, groups, stages=None, links=None) -> str:
    """The LLM view: latency and throughput first, then utilization, memory and where the time goes.
    `groups`, `stages` and `links` are the result's breakdown, stage and link rows (or tables)."""
    s = summary
    lines = _model_lines(s, s["phase"]) + [
        f"  scenario         batch {s['batch']}, {_lengths(s)}; weights {s['weights_dtype']}, "
        f"activations {s['activations_dtype']}, "
        f"KV cache {s['kv_cache_dtype']}, {'fused' if s['fused_attention'] else 'unfused'} attention",
        f"  total            {s['cycles']:,} cycles = {format_time(s['seconds'])} over {s['passes']} pass(es), "
        f"{s['ops']:,} ops",
    ]
    if "ttft_s" in s:
        lines.append(f"  TTFT             {format_time(s['ttft_s'])}")
    if "tpot_s" in s:
        lines.append(f"  TPOT             {format_time(s['tpot_s'])}")
    if "e2e_s" in s:
        lines.append(f"  end to end       {format_time(s['e2e_s'])}")
    lines += [
        f"  tokens/s         {s['tokens_per_s']:,.1f} total, {s['tokens_per_s_per_user']:,.1f} per user",
        f"  MFU              {format_pct(s['mfu'])} ({s['achieved_tflops']:.1f} TFLOP/s of {peak_text(s)})",
        f"  MBU              {format_pct(s['mbu'])} ({format_bytes(s['model_bytes'])} that must move, at "
        f"{str(s['chips_used']) + ' × ' if s.get('chips_used', 1) > 1 else ''}{s['hbm_bandwidth_tb_s']:.2f} TB/s)",
        f"  {_footprint_label(s):<17}{_of_capacity(s)}{' per chip' if 'chips' in s else ''}: weights "
        f"{format_bytes(s['memory_weights'])}, KV cache {format_bytes(s['memory_kv_cache'])}, activations "
        f"{format_bytes(s['memory_activations'])}",
    ]
    return "\n".join(lines + _closing_lines(s, groups, stages, links))


def _footprint_label(s: dict) -> str:
    """`HBM footprint`, or `SRAM footprint` on an SRAM-only chip (its farthest level's bytes are SRAM bytes)."""
    sram_only = s.get("bytes_chip_sram_read", 0) or s.get("bytes_chip_sram_write", 0)
    return "SRAM footprint" if sram_only else "HBM footprint"


def _of_capacity(s: dict) -> str:
    """`9.09 GB of 80.00 GB`, with the digits that show a footprint over the capacity when both round alike."""
    need, have = format_byte_pair(s["memory_required"], s["hbm_capacity"])
    return f"{need} of {have}"


def training_summary_text(summary: dict, groups, stages=None, links=None) -> str:
    """The training view: step time and throughput, MFU and HFU, where each chip's time goes, memory per chip."""
    s = summary
    lines = _model_lines(s, "training step") + [
        f"  step             {s['global_batch']} sequences × {s['sequence']:,} tokens = {s['tokens_per_step']:,} "
        f"tokens; {s['microbatches']} micro-batch(es) of {s['micro_batch']} per chip; recompute {s['recompute']}, "
        f"{s['optimizer']}, ZeRO-{s['zero']}, weights {s['weights_dtype']}, gradients {s['grad_dtype']}"
        + (f" (reduced in {s['reduce_dtype']})" if s.get("reduce_dtype", s["grad_dtype"]) != s["grad_dtype"] else ""),
        f"  step time        {format_time(s['step_s'])} ({s['cycles']:,} cycles, {s['ops']:,} ops)",
        f"  throughput       {s['tokens_per_s']:,.0f} tokens/s ({s['tokens_per_s_per_chip']:,.0f} per chip), "
        f"{s['samples_per_s']:,.2f} samples/s",
        f"  MFU              {format_pct(s['mfu'])} of {peak_text(s)}; HFU {format_pct(s['hfu'])} "
        f"({s['achieved_tflops']:.1f} TFLOP/s executed per chip, recomputation included)",
        f"  time per chip    forward {format_pct(s['forward_share'])}, backward {format_pct(s['backward_share'])}, "
        f"optimizer {format_pct(s['optimizer_share'])} of its busy time",
        f"  memory per chip  {_of_capacity(s)}: weights "
        f"{format_bytes(s['memory_weights'])}, gradients {format_bytes(s['memory_gradients'])}, optimizer states "
        f"{format_bytes(s['memory_optimizer_states'])}, activations {format_bytes(s['memory_activations'])}, "
        f"buffers {format_bytes(s['memory_buffers'])}",
    ]
    return "\n".join(lines + _closing_lines(s, groups, stages, links))


def _group_lines(groups) -> list[str]:
    lines = []
    for g in records(groups):
        ai = g["arithmetic_intensity"]
        intensity = "" if ai is None or math.isnan(ai) else f"{ai:.1f}"
        lines.append(f"  {g['group'] or '(none)':<16}{format_time(g['seconds']):>12}{format_pct(g['share']):>8}"
                     f"{g['ops']:>8,}{g['flops'] / 1e12:>10.3f}{format_bytes(g['hbm_bytes']):>12}{intensity:>9}  "
                     f"{g['bound']}")
    return lines


def json_safe(value):
    """`value` with every non-finite number (inf, NaN: e.g. an intensity over zero bytes) as None, so what
    is written is JSON (which has no Infinity or NaN) and a reader sees "no value", not a huge one."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar
        return json_safe(value.item())
    return value


def write_outputs(out: Path, summary: dict, table: "pd.DataFrame", fmt: str,
                  extra: dict[str, "pd.DataFrame"] | None = None) -> list[Path]:
    """ops.csv (or .parquet), summary.json, and `extra` tables by file stem (e.g. breakdown); the paths, the
    summary last (`write_folder`)."""
    from simulator.results.files import RUN_FILES

    return write_folder(out, summary, {"ops": table, **(extra or {})}, fmt, RUN_FILES, "run")


def write_folder(out: Path, summary: dict, tables: dict[str, "pd.DataFrame"], fmt: str, owned, kind: str
                 ) -> list[Path]:
    """`tables` (file stem → table) and summary.json, the summary last. Every file is written whole beside its
    target first, and only then are they all renamed into place (results/files.py): a full disk leaves the
    folder as it was, never an empty or half table. A command owns its folder: in a folder an earlier one of
    the same `kind` wrote, its files (`owned` names) which this one does not write (the other --format, a
    system run's stages.csv) are removed, so `tortoise plot` never reads a stale table. No other file is
    touched."""
    from simulator.results.files import clean_temps, folder_kind, make_folder, reason, write_all

    out = Path(out)
    earlier = folder_kind(out) == kind
    make_folder(out, "--out")
    text = json.dumps(json_safe(summary), indent=2, sort_keys=True, allow_nan=False) + "\n"
    writes = {out / f"{stem}.{fmt}": _table_writer(t, fmt) for stem, t in tables.items()}
    writes[out / "summary.json"] = lambda path: path.write_text(text, encoding="utf-8")
    try:
        clean_temps(out, owned)
        paths = write_all(writes)
        if earlier:
            for name in sorted(set(owned) - {p.name for p in paths}):
                (out / name).unlink(missing_ok=True)
    except OSError as exc:
        raise TortoiseError(f"--out {out}: cannot write there ({reason(exc)})") from None
    return paths


def _table_writer(table: "pd.DataFrame", fmt: str):
    if fmt == "parquet":
        return lambda path: table.to_parquet(path, index=False)
    return lambda path: table.to_csv(path, index=False)
