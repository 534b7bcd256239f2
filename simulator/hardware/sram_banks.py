"""Bank conflicts of a core's banked SRAM as stall cycles of a GEMM (docs/memory.md § SRAM banking).

`core.sram.banks` and `bytes_per_cycle_per_bank` unset: nothing is added, so today's timing (SCALE-Sim's
cycles on an ideal SRAM) stays exact. Set: the critical core's bank stalls (kernels/sram_banks.py) lengthen
the op and are counted among its stall cycles; they are added to the op's time, not overlapped with its
loads (an upper bound where the op waits on DMA anyway).
"""

from dataclasses import dataclass

from simulator.config.dtypes import DTYPE_BITS
from simulator.hardware.chip import Chip
from simulator.hardware.timing import OpTiming
from simulator.ir.ops import GemmOp
from simulator.ir.program import Tile
from simulator.kernels.sram_banks import access_cycles, gemm_bank_stalls
from simulator.kernels.systolic import DATAFLOWS


@dataclass(frozen=True)
class BankedTiming(OpTiming):
    """An OpTiming whose cycles and stall cycles include `bank_stall_cycles`."""

    bank_stall_cycles: int = 0


def banked(chip: Chip) -> bool:
    return chip.sram.banks is not None


def vector_read_cycles(chip: Chip, count: int, stride_bytes: float, dtype: str) -> int:
    """Cycles the core's SRAM takes to read `count` elements of `dtype` `stride_bytes` apart (1 per bank word
    touched, the busiest bank deciding); 1 per vector on an unbanked SRAM."""
    if not banked(chip):
        return 1 if count else 0
    sram = chip.sram
    return int(access_cycles(count, round(stride_bytes * 8), DTYPE_BITS[dtype], 1, 0, sram.banks,
                             sram.bytes_per_cycle_per_bank))


def gemm_bank_stall_cycles(chip: Chip, op: GemmOp, tile: Tile, cores: int) -> int:
    """Stall cycles bank conflicts add to the critical core of `op` in `tile` tiles on `cores` cores."""
    if not banked(chip):
        return 0
    mxu, sram = chip.mxu, chip.sram
    return int(gemm_bank_stalls(op.batch, op.m, op.n, op.k, tile.m, tile.n, tile.k, cores, mxu.rows, mxu.cols,
                                mxu.count, DATAFLOWS[mxu.dataflow], float(chip.mxu_rate(op.compute_dtype)),
                                bool(mxu.pipelined), DTYPE_BITS[op.dtype], DTYPE_BITS[op.b_dtype], sram.row_padding,
                                sram.banks, sram.bytes_per_cycle_per_bank))


def with_bank_stalls(chip: Chip, op: GemmOp, tile: Tile, timing: OpTiming) -> OpTiming:
    """`timing` lengthened by the op's bank stalls; `timing` itself when the SRAM is not banked."""
    stalls = gemm_bank_stall_cycles(chip, op, tile, timing.cores)
    if not banked(chip):
        return timing
    fields = {name: getattr(timing, name) for name in OpTiming.__dataclass_fields__}
    fields.update(cycles=timing.cycles + stalls, stall_cycles=timing.stall_cycles + stalls)
    return BankedTiming(**fields, bank_stall_cycles=stalls)
