"""Which GEMMs lowering places in a DRAM level's banks (processing in memory, hardware/pim.py).

`pim.place: decode_gemv`: a GEMM goes to the banks when its weights live in that memory (one product, B read
from DRAM, A and C not pinned on chip), its M (the tokens of a decode batch) is at most `pim.max_m`, and the PIM
has a MAC rate for its compute dtype. Everything else stays on the cores. `place: none` keeps every op there.
"""

from simulator.hardware.chip import Chip
from simulator.hardware.pim import pim_macs_per_cycle, pim_of
from simulator.ir.ops import GemmOp


def on_pim(chip: Chip, op) -> bool:
    pim = pim_of(chip)
    if pim is None or pim.place == "none" or not isinstance(op, GemmOp):
        return False
    weights_in_dram = op.batch == 1 and not op.a_on_chip and not op.c_on_chip
    return weights_in_dram and op.m <= pim.max_m and pim_macs_per_cycle(chip, op.compute_dtype) > 0
