"""Quantized GEMM kernels: the vector work of dequantizing weights, and of rescaling W8A8 / FP8 outputs.

A weight-only kernel (weights narrower than the compute dtype) widens every weight it loads on the cores'
vector units before the MXU can multiply it: unpack it from its packed word, convert it, and, with
group-wise scales, scale (and shift) it. That work repeats for every M tile that loads the B tile. Op
counts are per weight, from the kernels named below; each op costs one lane-cycle at the chip's vector rate
for its dtype (`core.vector.ops_per_lane`). 32-bit integer ops are costed at the fp32 rate (A100 and H100
have as many INT32 as FP32 lanes per SM: NVIDIA A100 whitepaper, "64 FP32 cores, 64 INT32 cores per SM").

How it combines with the GEMM's own time (`dequant`):
- "inline" (PyTorch's tinygemm `_weight_int4pack_mm`, aten/src/ATen/native/cuda/int4mm.cu, and the GEMV
  Inductor fuses for gpt-fast's int8): one loop step loads a B fragment into registers, dequantizes it and
  multiplies it; the next fragment is not loaded before this one is dequantized (no register or shared-memory
  prefetch). At batch 1 the SM's HBM stream is the loads its warps keep in flight, so the time its lanes spend
  dequantizing is added to the time streaming takes: cycles = GEMM cycles + dequant cycles. This is an upper
  bound; other warps' loads hide part of it.
- "pipelined" (Marlin, arXiv 2408.11743: fragments for later steps are fetched while this one is
  dequantized): the dequant runs beside the loads and the MXU, and the op takes the longer of the two:
  cycles = max(GEMM cycles, dequant cycles). A lower bound.

W8A8 and FP8 (activations as narrow as the weights): the MXU runs at that dtype's rate (`GemmOp.compute_dtype`)
and nothing is dequantized per weight; the epilogue rescales each output element once (`EPILOGUE_OPS`),
after its tile's last K step, so those cycles add.
"""

import math

from simulator.config.dtypes import DTYPE_BITS
from simulator.hardware.chip import Chip
from simulator.ir.ops import GemmOp
from simulator.ir.program import Tile

INT_RATE = "fp32"  # 32-bit integer ALU ops run at the fp32 lane rate (see the module docstring)
COMPUTE = "compute"  # an op in the GEMM's compute dtype (bf16 / fp16: the packed half-precision rate)

# Weight dtype → (ops, dtype they run in) per weight, to unpack and convert it to the compute dtype.
DEQUANT_OPS = {
    # tinygemm convert_i4x8_to_bf16x2x4 (int4mm.cu, after FasterTransformer's interleaved_numeric_conversion.h):
    # per 32-bit word of 8 weights, 4 lop3 (mask | magic number) and 3 shifts (7/8 integer op per weight), then
    # 4 fma.rn.bf16x2 removing the magic bias (one compute-dtype op per weight).
    "int4": ((7 / 8, INT_RATE), (1.0, COMPUTE)),
    # Inductor's fused GEMV for gpt-fast's `F.linear(x, w.to(x.dtype)) * scales`: per weight a byte extract
    # from the loaded 32-bit word (PRMT / I2I) and an int → float convert (I2F); the per-channel scale
    # multiplies the output (EPILOGUE_OPS), not each weight.
    "int8": ((1.0, INT_RATE), (1.0, INT_RATE)),
    # ESTIMATE (no kernel read): as int8, one unpack and one convert per weight.
    "fp8": ((1.0, INT_RATE), (1.0, COMPUTE)),
    # ESTIMATE (no kernel read): as int4, the same bit tricks on 4-bit codes.
    "fp4": ((7 / 8, INT_RATE), (1.0, COMPUTE)),
}
# A weight that shares its scale with a group smaller than the whole column is scaled (and shifted, with a
# zero point: one fused multiply-add) as it is dequantized: one compute-dtype op per weight (tinygemm's
# __hfma2(v, scale, zero) per pair of weights).
GROUP_SCALE_OPS = 1.0
# Per output element, after the K loop. Weight-only per-channel or per-tensor scales: one multiply (gpt-fast
# int8: `* self.scales`). W8A8 int8: the int32 sum converted to fp32 and multiplied by the product of the
# activation and weight scales (2). FP8: the fp32 sum multiplied by that product (1).
EPILOGUE_OPS = {"weight_only": 1.0, "int8": 2.0, "fp8": 1.0}


def weight_only(op: GemmOp) -> bool:
    """B is quantized and narrower than the compute dtype: every weight is widened before it is multiplied."""
    return op.b_scale_bytes > 0 and DTYPE_BITS[op.b_dtype] < DTYPE_BITS[op.compute_dtype]


def _rate(chip: Chip, dtype: str, compute: str) -> float:
    """Ops per cycle of one core's vector lanes in `dtype` (the compute dtype's, else fp32's)."""
    name = compute if dtype == COMPUTE else dtype
    per_lane = chip.vector.ops_per_lane.get(name) or chip.vector_rate("fp32")
    return chip.vector.lanes * per_lane


def dequant_ops_per_weight(op: GemmOp) -> tuple[tuple[float, str], ...]:
    """(ops, dtype) per weight of `op`'s dequantization; () when it has none."""
    if not weight_only(op):
        return ()
    ops = DEQUANT_OPS.get(op.b_dtype, ())
    if 0 < op.b_group < op.k:
        ops = ops + ((GROUP_SCALE_OPS, COMPUTE),)
    return ops


def epilogue_ops(op: GemmOp) -> float:
    """Vector ops per output element that apply the scales."""
    if not op.b_scale_bytes:
        return 0.0
    if weight_only(op):
        return EPILOGUE_OPS["weight_only"] if not 0 < op.b_group < op.k else 0.0
    return EPILOGUE_OPS.get(op.compute_dtype, 0.0)


def quant_cycles(chip: Chip, op: GemmOp, tile: Tile, cores: int) -> tuple[float, float]:
    """(dequant cycles, epilogue cycles) of the critical core: it holds ceil(tiles / cores) output tiles and
    dequantizes the K × tile.n weights of each (again for every M tile)."""
    dq, ep = dequant_ops_per_weight(op), epilogue_ops(op)
    if not dq and not ep:
        return 0.0, 0.0
    tiles = op.batch * -(-op.m // tile.m) * -(-op.n // tile.n)
    mine = -(-tiles // max(1, min(cores, tiles)))
    weights = mine * min(tile.n, op.n) * op.k
    outputs = mine * min(tile.m, op.m) * min(tile.n, op.n)
    compute = op.compute_dtype
    dequant = sum(weights * n / _rate(chip, d, compute) for n, d in dq)
    return dequant, outputs * ep / _rate(chip, INT_RATE, compute)


def dequant_mode(chip: Chip, op: GemmOp) -> str:
    """`inline` or `pipelined`. `auto` follows the chip: on a GPU (`core.mxu.gemm`) the same warps load,
    convert and multiply each fragment, so the conversion sits in the loop step (inline); a chip whose vector
    unit, matrix unit and DMA are decoupled (a TPU's VLIW bundles, a CPU's out-of-order cores and prefetchers,
    dataflow chips) converts while the next weights stream in (pipelined)."""
    if op.dequant != "auto":
        return op.dequant
    return "inline" if chip.gpu_gemm is not None else "pipelined"


def with_quant(chip: Chip, op: GemmOp, tile: Tile, cores: int, cycles: int, compute_cycles: int
               ) -> tuple[int, int, int]:
    """(cycles, compute cycles, dequant + epilogue cycles) of the GEMM once its scales are applied: see the
    module docstring for how the dequant combines with the GEMM's own cycles."""
    dequant, epilogue = quant_cycles(chip, op, tile, cores)
    if not dequant and not epilogue:
        return cycles, compute_cycles, 0
    if dequant_mode(chip, op) == "pipelined":
        total, busy = max(cycles, dequant) + epilogue, max(compute_cycles, dequant) + epilogue
    else:
        total, busy = cycles + dequant + epilogue, compute_cycles + dequant + epilogue
    total = math.ceil(total - 1e-9)
    return total, min(math.ceil(busy - 1e-9), total), math.ceil(dequant + epilogue - 1e-9)
