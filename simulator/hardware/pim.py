"""Processing in memory: a GEMV timed in the DRAM banks (docs/memory.md § Processing in memory).

A DRAM level with `pim:` (config/schema.py PIMConfig) computes in its banks, as HBM-PIM (Samsung Aquabolt-XL)
and AiM (SK hynix) do: the host writes the input vectors into the memory, every bank multiplies the weights it
holds at `macs_per_bank` MACs per PIM cycle, fed from its cell arrays at the internal bandwidth, and the host
reads the results back. The weights never cross the external bus. In closed form, in chip cycles:

    cycles = ceil((inputs + outputs) / external + max(weights / internal, MACs / (banks × macs_per_bank × f_pim
             / f_chip))) + the DRAM level's latency (one round trip for the results)

external being the level's achievable bandwidth (bandwidth × efficiency). The three phases run one after the
other: PIM designs switch the memory between host mode and compute mode, so the bus and the banks take turns.
"""

import math
from dataclasses import dataclass

from simulator.config.dtypes import nbytes
from simulator.hardware.chip import Chip
from simulator.hardware.timing import OpTiming
from simulator.ir.ops import GemmOp


@dataclass(frozen=True)
class PIMTiming(OpTiming):
    """An OpTiming of an op run in the banks; `pim_read`: the weight bytes read there (not on the bus)."""

    pim_read: int = 0


def pim_of(chip: Chip):
    """The farthest level's PIMConfig, or None (an SRAM-only chip, or DRAM without compute)."""
    dram = chip.config.memory.dram
    return dram.pim if dram is not None else None


def pim_macs_per_cycle(chip: Chip, dtype: str) -> float:
    """MACs the banks complete per chip cycle for `dtype` (0 when the PIM cannot run it)."""
    pim = pim_of(chip)
    if pim is None or dtype not in pim.macs_per_bank:
        return 0.0
    return pim.banks * pim.macs_per_bank[dtype] * pim.clock / chip.clock_hz


def pim_internal_bytes_per_cycle(chip: Chip) -> float:
    return pim_of(chip).internal_bandwidth.bytes_per_cycle(chip.clock_hz)


def pim_traffic(op: GemmOp) -> tuple[int, int, int]:
    """(input bytes written to the memory, result bytes read from it, weight bytes read inside the banks)."""
    inputs = op.batch * nbytes(op.m * op.k, op.dtype)
    return inputs, op.min_write_bytes, op.batch * nbytes(op.k * op.n, op.b_dtype)


def pim_timing(chip: Chip, op: GemmOp) -> PIMTiming:
    """The GEMM run in the banks, as the module docstring counts it."""
    pim = pim_of(chip)
    inputs, outputs, weights = pim_traffic(op)
    external = chip.hbm.achievable_bytes_per_cycle
    macs_rate = pim_macs_per_cycle(chip, op.compute_dtype)
    in_banks = max(weights / pim_internal_bytes_per_cycle(chip), op.macs / macs_rate)
    cycles = math.ceil((inputs + outputs) / external + in_banks - 1e-9) + chip.hbm.latency
    compute = math.ceil(op.macs / macs_rate - 1e-9)
    return PIMTiming(
        cycles=cycles, compute_cycles=compute, stall_cycles=cycles - compute, cores=0, work_units=pim.banks,
        waves=1, tile="pim", hbm_read=outputs, hbm_write=inputs, l2_read=0, sram_read=inputs, sram_write=outputs,
        pim_read=weights,
    )
