"""Energy from what the engine counted: per op, events × joules per event; per run, those summed over every
copy the system runs, plus the links' traffic and the chips' static power for the whole run.

Counted: MACs, vector ops, bytes read and written in SRAM (the cores' and, on an SRAM-only chip, the shared
SRAM that replaces HBM) and HBM, bytes read from L2, bytes × hops on links, and static power. Not counted:
register files and accumulators, instruction issue and control, the on-chip network between cores and memories,
clocks, and DRAM refresh (see docs/energy.md).
"""

import sys
from collections.abc import Mapping

from simulator.hardware.energy import EnergyRates
from simulator.results.row import column_sum, records

DYNAMIC = ("mac", "vector", "sram", "l2", "hbm", "link")  # energy_<part>_j columns of an op row
PARTS = (*DYNAMIC, "static")  # energy_<part>_j fields of a run summary


def op_energy(rates: EnergyRates, r) -> dict[str, float]:
    """Dynamic energy of one copy of an op from its OpRecord (or an ops-table row): energy_<part>_j for each
    DYNAMIC part and energy_j, their sum. A collective's link bytes cover every group of its stage."""
    get = r.__getitem__ if isinstance(r, Mapping) or _is_series(r) else r.__getattribute__
    macs, vector_ops, dtype = get("macs"), get("vector_ops"), get("dtype")
    parts = {
        "energy_mac_j": macs * rates.mac_j[dtype] if macs else 0.0,
        "energy_vector_j": vector_ops * rates.vector_op_j[dtype] if vector_ops else 0.0,
        # an SRAM-only chip's shared SRAM is SRAM too, at its own rate per byte (0 bytes on a chip with DRAM)
        "energy_sram_j": (get("sram_read") + get("sram_write")) * rates.sram_j
        + _chip_sram_bytes(r) * rates.chip_sram_j,
        "energy_l2_j": get("l2_read") * rates.l2_j,
        # a GEMV in the DRAM banks (pim) reads its weights there: charged at the DRAM's rate per byte, as no
        # source splits that figure into the cell array's part and the bus's (docs/memory.md)
        "energy_hbm_j": (get("hbm_read") + get("hbm_write") + _optional(r, "pim_read")) * rates.hbm_j,
        "energy_link_j": get("link_bytes") * rates.link_j,
    }
    return parts | {"energy_j": sum(parts.values())}


def _chip_sram_bytes(r) -> int:
    """chip_sram_read + chip_sram_write of a record or row; 0 where a row predates those columns."""
    if isinstance(r, Mapping) or _is_series(r):
        return r.get("chip_sram_read", 0) + r.get("chip_sram_write", 0)
    return r.chip_sram_read + r.chip_sram_write


def _optional(r, column: str) -> int:
    """A column of a record or row that older rows lack (0 there)."""
    if isinstance(r, Mapping) or _is_series(r):
        return r.get(column, 0)
    return getattr(r, column, 0)


def _is_series(r) -> bool:
    pd = sys.modules.get("pandas")  # a pandas row can only exist once pandas is imported
    return pd is not None and isinstance(r, pd.Series)


def run_energy(rates: EnergyRates, table, seconds: float, chips: int = 1, copies: int = 1,
               link_bytes: float | None = None) -> dict[str, float]:
    """Whole-run energy over every chip used. `table` holds one chip's ops as row dicts or a DataFrame
    (with `repeat` copies each, when present); the system runs `copies` such tables. Link energy comes from
    `link_bytes` (bytes × hops over the whole system, pipeline sends included) when given, else from the
    table's collectives. Static power is paid by `chips` chips for `seconds`. `table` may also be the
    table's columns without rows (results.llm.Parts: anything with `weighted(column)`)."""
    if hasattr(table, "weighted"):
        weighted = table.weighted
    else:
        table = records(table)
        repeat = "repeat" if table and "repeat" in table[0] else None
        weighted = lambda name: column_sum(table, name, repeat)  # noqa: E731
    out = {f"energy_{p}_j": float(weighted(f"energy_{p}_j")) * copies for p in DYNAMIC[:-1]}
    out["energy_link_j"] = float(weighted("energy_link_j")) if link_bytes is None else link_bytes * rates.link_j
    out["energy_static_j"] = rates.static_w * seconds * chips
    total = sum(out.values())
    return {"energy_j": total, **out, "average_power_w": total / seconds if seconds else 0.0}
