"""From engine records to numbers a reviewer reads: roofline per op, run totals, utilizations.

Inside a run everything here is plain Python over records and row dicts; a table (pandas) is built from
the rows only when someone reads it (`as_table`, and api.RunResult.table)."""

from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING

from simulator.engine.record import OpRecord
from simulator.hardware.chip import Chip
from simulator.results.energy import op_energy, run_energy

if TYPE_CHECKING:
    import pandas as pd

BYTE_COLUMNS = ("hbm_read", "hbm_write", "l2_read", "sram_read", "sram_write", "chip_sram_read", "chip_sram_write")
_FIELDS = tuple(f.name for f in fields(OpRecord))  # an op row starts with these, in this order
_VALUES = attrgetter(*_FIELDS)


def roofline_cycles(chip: Chip, r: OpRecord) -> tuple[float, float]:
    """(compute-bound cycles at peak over the whole chip, memory-bound cycles for compulsory HBM bytes)."""
    if r.type == "gemm":
        compute = r.macs / chip.peak_macs_per_cycle(r.dtype)
    else:
        compute = r.vector_ops / chip.peak_vector_ops_per_cycle(r.dtype) if r.vector_ops else 0.0
    return compute, r.min_bytes / chip.hbm.bytes_per_cycle


def op_table(chip: Chip, records: list[OpRecord]) -> "pd.DataFrame":
    """One row per op: everything the engine recorded plus seconds, roofline bound and utilization."""
    return as_table(op_rows(chip, records))


def as_table(rows: list[dict], columns: list[str] | None = None) -> "pd.DataFrame":
    """The pandas table of row dicts (imported here, on the first table anyone reads)."""
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def op_rows(chip: Chip, records: list[OpRecord]) -> list[dict]:
    rows = []
    for r in records:
        compute_bound, memory_bound = roofline_cycles(chip, r)
        bound = max(compute_bound, memory_bound)
        row = dict(zip(_FIELDS, _VALUES(r), strict=True))  # dataclasses.asdict without its deep copies
        peak = chip.peak_macs_per_cycle(r.dtype) if r.type == "gemm" else 0.0
        row.update(
            seconds=chip.seconds(r.cycles),
            roofline_cycles=bound,
            bound="network" if r.type == "collective" else "compute" if compute_bound >= memory_bound else "memory",
            roofline_fraction=bound / r.cycles if r.cycles else 1.0,
            arithmetic_intensity=(r.flops or r.vector_ops) / r.min_bytes if r.min_bytes else float("inf"),
            mxu_utilization=r.macs / (r.cycles * peak) if peak and r.cycles else 0.0,
            achieved_tflops=r.flops / chip.seconds(r.cycles) / 1e12 if r.cycles else 0.0,
        )
        row.update(op_energy(chip.energy, r))
        rows.append(row)
    return rows


def chip_figures(chip: Chip) -> dict:
    """What plots and reports need to know of the chip itself, so that none of them guesses it: its cores
    and the peak TFLOP/s of one chip for every dtype its MXUs run."""
    return {"chip_cores": chip.cores,
            "peak_tflops_by_dtype": {d: chip.peak_flops_per_s(d) / 1e12 for d in sorted(chip.mxu.macs_per_pe)}}


def mac_shares(gemms) -> dict[str, float]:
    """Each dtype's share of the MACs of `gemms`, (dtype, MACs) pairs: the dtypes the MXU ran in (a GEMM's
    `dtype` column, the wider of its operands'), largest share first. MFU's peak is these dtypes' peaks,
    weighted so (the MAC-weighted harmonic mean)."""
    macs: dict[str, float] = {}
    for dtype, n in gemms:
        if n > 0:
            macs[dtype] = macs.get(dtype, 0) + n
    total = sum(macs.values())
    return {d: macs[d] / total for d in sorted(macs, key=lambda d: (-macs[d], d))}


def peak_figures(shares: dict[str, float]) -> dict:
    """The summary keys that say which peak MFU is taken against: `gemm_mac_share` (dtype → share of the
    GEMM MACs) and `peak_dtype` (those dtypes joined by `+`, largest share first; "" without GEMMs)."""
    return {"gemm_mac_share": shares, "peak_dtype": "+".join(shares)}


def summarize(chip: Chip, workload: str, records: list[OpRecord]) -> dict:
    """Run-level figures; the roofline bound is the whole run's compute or compulsory-traffic floor."""
    cycles = max(r.end for r in records)
    seconds = chip.seconds(cycles)
    macs = sum(r.macs for r in records)
    flops = sum(r.flops for r in records)
    gemm_dtypes = {r.dtype for r in records if r.type == "gemm"}
    # Peak MACs/cycle for this mix: the MAC-weighted harmonic mean over GEMM dtypes.
    peak_macs = macs / sum(r.macs / chip.peak_macs_per_cycle(r.dtype) for r in records if r.macs) if macs else 0.0
    compute_floor = sum(roofline_cycles(chip, r)[0] for r in records)
    memory_floor = sum(r.min_bytes for r in records) / chip.hbm.bytes_per_cycle
    bound = max(compute_floor, memory_floor)
    summary = {
        "workload": workload,
        "chip": chip.name,
        "runtime": chip.runtime.name,
        "clock_hz": chip.clock_hz,
        "cycles": cycles,
        "seconds": seconds,
        "ops": len(records),
        "flops": flops,
        "macs": macs,
        "achieved_tflops": flops / seconds / 1e12,
        "peak_tflops": 2 * peak_macs * chip.clock_hz / 1e12,
        "gemm_dtypes": ",".join(sorted(gemm_dtypes)),
        "mxu_utilization": macs / (cycles * peak_macs) if peak_macs else 0.0,
        "compute_cycles": sum(r.compute_cycles for r in records),
        "stall_cycles": sum(r.stall_cycles for r in records),
        "overhead_cycles": sum(r.overhead_cycles for r in records),
        "roofline_cycles": bound,
        "roofline_bound": "compute" if compute_floor >= memory_floor else "memory",
        "roofline_fraction": bound / cycles,
    }
    summary.update(chip_figures(chip))
    summary.update(peak_figures(mac_shares((r.dtype, r.macs) for r in records if r.type == "gemm")))
    summary["assumptions"] = list(chip.assumptions)
    for column in BYTE_COLUMNS:
        summary[f"bytes_{column}"] = sum(getattr(r, column) for r in records)
    summary.update(run_energy(chip.energy, [op_energy(chip.energy, r) for r in records], seconds))
    return summary
