"""Quantized GEMMs: scale bytes travel with B exactly, dequantization is vector work at the chip's rates, and
it combines with the GEMM's own cycles as hardware/quant.py says (inline adds, pipelined overlaps)."""

import math

import pytest

from simulator.config.dtypes import nbytes
from simulator.hardware.quant import DEQUANT_OPS, GROUP_SCALE_OPS, quant_cycles, weight_only
from simulator.hardware.timing import gemm_args, gemm_timing
from simulator.ir.ops import GemmOp
from simulator.ir.program import Tile
from simulator.kernels.gemm import gemm_exact
from simulator.mapping.gemm import choose_tile


@pytest.mark.parametrize("dtype,group,per_group", [("int4", 32, 4), ("int4", 128, 2), ("int8", 4096, 2),
                                                   ("int8", 0, 2), ("fp8", 96, 4)])
def test_b_bytes_are_the_packed_weights_plus_the_scales_exactly(dtype, group, per_group):
    k, n, batch = 4096, 1000, 3
    op = GemmOp("w", 1, n, k, b_dtype=dtype, batch=batch, b_group=group, b_scale_bytes=per_group)
    scales = per_group if group == 0 else math.ceil(k / group) * n * per_group  # group 0: one per tensor
    assert op.b_scale_total == scales
    assert op.min_read_bytes == batch * (nbytes(k, "bf16") + k * n * {"int4": 4, "int8": 8, "fp8": 8}[dtype] // 8
                                         + scales)
    assert op.b_bytes * k * n == pytest.approx(k * n * {"int4": 0.5, "int8": 1, "fp8": 1}[dtype] + scales)


def test_unquantized_gemm_is_unchanged_by_default():
    op = GemmOp("w", 8, 64, 64)
    assert (op.b_scale_total, op.b_bytes, op.min_read_bytes) == (0, 2.0, 8 * 64 * 2 + 64 * 64 * 2)
    assert not weight_only(op) and quant_cycles(None, op, Tile(8, 64, 64), 1) == (0.0, 0.0)


def test_bad_quant_fields_are_refused():
    with pytest.raises(ValueError, match="dequant"):
        GemmOp("w", 1, 8, 8, dequant="lazy")
    with pytest.raises(ValueError, match="b_group"):
        GemmOp("w", 1, 8, 8, b_group=-1)


def test_dequant_cycles_are_the_op_counts_at_the_vector_rates(a100):
    # int4 group 32 on one core, one tile: K·N weights, each 7/8 integer op at the fp32 rate (64 lanes × 1)
    # plus the convert and the group scale at the bf16 rate (64 lanes × 2 packed).
    k, n = 1024, 64
    op = GemmOp("w", 1, n, k, b_dtype="int4", b_group=32, b_scale_bytes=4)
    dequant, epilogue = quant_cycles(a100, op, Tile(1, n, k), 1)
    assert dequant == pytest.approx(k * n * (7 / 8 / 64 + (1 + GROUP_SCALE_OPS) / 128))
    assert epilogue == 0.0  # group-wise scales are applied per weight, not per output
    # int8 per channel: unpack and convert per weight, one multiply per output element.
    op8 = GemmOp("w", 1, n, k, b_dtype="int8", b_group=k, b_scale_bytes=2)
    dequant, epilogue = quant_cycles(a100, op8, Tile(1, n, k), 1)
    assert dequant == pytest.approx(k * n * sum(c for c, _ in DEQUANT_OPS["int8"]) / 64)
    assert epilogue == pytest.approx(n / 64)


def test_each_m_tile_dequantizes_its_b_tile_again(a100):
    op = GemmOp("w", 64, 128, 512, b_dtype="int8", b_group=512, b_scale_bytes=2)
    one, _ = quant_cycles(a100, op, Tile(64, 128, 512), 1)
    four, _ = quant_cycles(a100, op, Tile(16, 128, 512), 1)
    assert four == pytest.approx(4 * one)


def test_inline_dequant_adds_to_the_gemm_pipelined_takes_the_longer(a100):
    kw = dict(b_dtype="int4", b_group=32, b_scale_bytes=4)
    op, piped_op = GemmOp("w", 1, 4096, 4096, **kw), GemmOp("w", 1, 4096, 4096, dequant="pipelined", **kw)
    chosen = choose_tile(a100, op)
    tile = Tile(chosen.m, chosen.n, chosen.k)  # unsplit: gemm_exact times one product (split-K: timing.split_part)
    raw = gemm_exact(tile.m, tile.n, tile.k, *gemm_args(a100, op, a100.cores))  # the GEMM without its dequant
    dequant, epilogue = quant_cycles(a100, op, tile, raw[2])
    inline, piped = gemm_timing(a100, op, tile, a100.cores), gemm_timing(a100, piped_op, tile, a100.cores)
    assert inline.cycles == math.ceil(raw[0] + dequant + epilogue - 1e-9)
    assert piped.cycles == math.ceil(max(raw[0], dequant) + epilogue - 1e-9)
    assert inline.dequant_cycles == piped.dequant_cycles == math.ceil(dequant + epilogue - 1e-9) > 0
    # The scales are streamed with the weights: exactly their bytes more than the bare int4 GEMM reads.
    bare = gemm_timing(a100, GemmOp("w", 1, 4096, 4096, b_dtype="int4"), tile, a100.cores)
    assert inline.hbm_read - bare.hbm_read == op.b_scale_total and bare.dequant_cycles == 0
    assert 0 <= inline.compute_cycles <= inline.cycles and 0 <= piped.compute_cycles <= piped.cycles


def test_pipelined_never_beats_either_bound(a100):
    op = GemmOp("w", 1, 4096, 4096, b_dtype="int4", b_group=32, b_scale_bytes=4, dequant="pipelined")
    tile = choose_tile(a100, op)
    t = gemm_timing(a100, op, tile, a100.cores)
    assert t.cycles >= t.dequant_cycles - 1
    assert t.cycles >= (t.hbm_read + t.hbm_write) / a100.hbm.achievable_bytes_per_cycle - 1


def test_w8a8_runs_at_the_int8_rate_with_only_an_epilogue(a100):
    """Weights and activations int8: nothing is dequantized per weight; each output is rescaled once."""
    k, n, m = 4096, 4096, 4096
    op = GemmOp("w", m, n, k, dtype="int8", out_dtype="bf16", b_dtype="int8", b_group=k, b_scale_bytes=2)
    assert op.compute_dtype == "int8" and not weight_only(op)
    tile = choose_tile(a100, op)
    dequant, epilogue = quant_cycles(a100, op, tile, a100.cores)
    tiles = -(-m // tile.m) * -(-n // tile.n)
    assert dequant == 0.0
    assert epilogue == pytest.approx(-(-tiles // a100.cores) * tile.m * tile.n * 2 / 64)
    plain = gemm_timing(a100, GemmOp("w", m, n, k, dtype="int8", out_dtype="bf16", b_dtype="int8"), tile, a100.cores)
    scaled = gemm_timing(a100, op, tile, a100.cores)
    assert scaled.cycles - plain.cycles == math.ceil(plain.cycles + epilogue - 1e-9) - plain.cycles
    bf16 = gemm_timing(a100, GemmOp("w", m, n, k), tile, a100.cores)
    assert scaled.compute_cycles < bf16.compute_cycles  # the int8 MXU rate is twice bf16's on the A100
