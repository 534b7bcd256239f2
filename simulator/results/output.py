"""Human-readable summary text and the files `--out` writes."""

import json
from pathlib import Path

import pandas as pd

from simulator.errors import TortoiseError


def _bytes(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def _time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3f} {unit}"
    return f"{s * 1e9:.1f} ns"


def summary_text(summary: dict, table: pd.DataFrame, top: int = 12) -> str:
    s = summary
    lines = [
        f"{s['workload']} on {s['chip']} ({s['clock_hz'] / 1e9:.3g} GHz): {s['ops']} ops",
        f"  total            {s['cycles']:,} cycles = {_time(s['seconds'])}",
        f"  throughput       {s['achieved_tflops']:.1f} TFLOP/s of {s['peak_tflops']:.1f} peak "
        f"({s['gemm_dtypes'] or 'no GEMMs'}), MXU utilization {100 * s['mxu_utilization']:.1f} %",
        f"  critical core    {s['compute_cycles']:,} compute + {s['stall_cycles']:,} memory-stall cycles",
        f"  roofline         {s['roofline_fraction'] * 100:.1f} % of the {s['roofline_bound']}-bound "
        f"floor ({s['roofline_cycles']:,.0f} cycles)",
        f"  bytes moved      HBM read {_bytes(s['bytes_hbm_read'])}, HBM write {_bytes(s['bytes_hbm_write'])}, "
        f"L2 read {_bytes(s['bytes_l2_read'])}, SRAM read {_bytes(s['bytes_sram_read'])}, "
        f"SRAM write {_bytes(s['bytes_sram_write'])}",
        "",
        f"  {'op':<14}{'shape':>18}{'tile':>16}{'cores':>6}{'cycles':>14}{'stall %':>8}{'TFLOP/s':>9}"
        f"{'roofline %':>11}  bound",
    ]
    for _, r in table.head(top).iterrows():
        stall = 100 * r.stall_cycles / r.cycles if r.cycles else 0.0
        lines.append(
            f"  {r['name'][:13]:<14}{r['shape']:>18}{r['tile']:>16}{r['cores']:>6}{r['cycles']:>14,}{stall:>8.1f}"
            f"{r.achieved_tflops:>9.1f}{100 * r.roofline_fraction:>11.1f}  {r.bound}"
        )
    if len(table) > top:
        lines.append(f"  … {len(table) - top} more ops in the table (--out DIR)")
    return "\n".join(lines)


def write_outputs(out: Path, summary: dict, table: pd.DataFrame, fmt: str) -> list[Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        return _write(out, summary, table, fmt)
    except OSError as exc:
        raise TortoiseError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def _write(out: Path, summary: dict, table: pd.DataFrame, fmt: str) -> list[Path]:
    table_path = out / ("ops.parquet" if fmt == "parquet" else "ops.csv")
    if fmt == "parquet":
        table.to_parquet(table_path, index=False)
    else:
        table.to_csv(table_path, index=False)
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return [table_path, summary_path]
