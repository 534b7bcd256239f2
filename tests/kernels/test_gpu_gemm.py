"""GPU GEMM execution (core.mxu.gemm): library tiles, warp tiles, shared-memory operand delivery, CTAs per SM,
exposed per-tile costs, and the invariants a timing must keep (utilization <= 1, time >= roofline)."""

import math

import pytest

from simulator.api import run_graph
from simulator.hardware.timing import gemm_timing
from simulator.ir.ops import GemmOp, OpGraph
from simulator.kernels.gemm import ctas_per_sm, exposed_tile_cycles, operand_rate, smem_step_bytes, warp_tile
from simulator.kernels.systolic import DATAFLOWS, core_step_cycles
from simulator.mapping.gemm import candidate_tiles, map_gemm

OS = DATAFLOWS["os"]

# CUTLASS GenerateSM80_TensorOp_16816: CTA shape → warps (M, N)
CUTLASS_SM80_WARPS = {(256, 128): (4, 2), (128, 256): (2, 4), (256, 64): (4, 1), (64, 256): (1, 4),
                      (128, 128): (2, 2), (128, 64): (2, 2), (64, 128): (2, 2), (64, 64): (2, 2)}


@pytest.mark.parametrize("shape", sorted(CUTLASS_SM80_WARPS))
def test_warp_tile_rule_reproduces_cutlass_sm80_warp_counts(shape):
    tm, tn = shape
    wm, wn = warp_tile(tm, tn, 64, 64, 4)
    assert (tm // wm, tn // wn) == CUTLASS_SM80_WARPS[shape]


@pytest.mark.parametrize("tm, tn, want", [(64, 1, (16, 1)), (1, 64, (1, 16)), (52, 1, (13, 1)), (1, 1, (1, 1)),
                                          (3, 1, (1, 1))])
def test_a_one_wide_tile_splits_its_other_edge_and_the_rule_always_ends(tm, tn, want):
    # an edge of one row or column cannot be halved; the split goes to the other (it once looped forever there)
    assert warp_tile(tm, tn, 64, 64, 4) == want


def test_smem_bytes_closed_form():
    # 256×128×32 bf16, 4×2 warps of 64×64: fills 32·(256+128)·2, reads 32·(2·256 + 4·128)·2
    assert smem_step_bytes(256, 128, 32, 2.0, 2.0, 64, 64, 4) == 32 * 384 * 2 + 32 * 1024 * 2


def test_operand_rate_is_capped_by_smem_and_clock_and_never_above_peak():
    # A100: 1024 MAC/clk/SM. 256×128×32 needs 1024 MMA cycles and 90,112 / 128 = 704 smem cycles: MMA-bound.
    assert operand_rate(256, 128, 32, 2.0, 2.0, 16, 16, 4, OS, 1.0, True, 128.0, 1.0, 64, 64, 4) == 1.0
    assert operand_rate(256, 128, 32, 2.0, 2.0, 16, 16, 4, OS, 1.0, True, 128.0, 0.9, 64, 64, 4) == pytest.approx(0.9)
    # H100-like 2048 MAC/clk/SM with mma.sync warps: 128×128×64 needs ~512 MMA cycles, 98,304 / 128 = 768 smem
    mma = core_step_cycles(128, 128, 64, 16, 32, 4, OS, 1.0, True)[0]
    assert mma < 768
    rate = operand_rate(128, 128, 64, 2.0, 2.0, 16, 32, 4, OS, 1.0, True, 128.0, 1.0, 64, 64, 4)
    assert rate == pytest.approx(mma / 768)
    # one cycle's worth more smem bandwidth than needed does not raise the rate above 1
    assert operand_rate(128, 128, 64, 2.0, 2.0, 16, 32, 4, OS, 1.0, True, 1e6, 1.0, 64, 64, 4) == 1.0


def test_ctas_per_sm_from_registers_and_smem():
    # A100: 256 KiB registers, 164 KiB smem, 4 stages of bf16 tiles
    assert ctas_per_sm(256, 128, 32, 4, 2.0, 2.0, 256 * 1024, 164 * 1024) == 1  # 128 KiB of fp32 accumulators
    assert ctas_per_sm(128, 128, 32, 4, 2.0, 2.0, 256 * 1024, 164 * 1024) == 2  # 64 KiB smem each: 2 fit in 164
    assert exposed_tile_cycles(128, 128, 32, 4, 2.0, 2.0, 256 * 1024, 164 * 1024, 128.0, 1.0, 500.0, False) == 0
    one = exposed_tile_cycles(256, 128, 32, 4, 2.0, 2.0, 256 * 1024, 164 * 1024, 128.0, 1.0, 500.0, False)
    assert one == 500 + 2 * 256 * 128 * 4 / 128  # prologue latency + fp32 round trip through smem
    assert exposed_tile_cycles(256, 128, 32, 4, 2.0, 2.0, 256 * 1024, 164 * 1024, 128.0, 1.0, 500.0, True) == one - 500


def test_chooser_is_restricted_to_the_library_tiles(a100):
    op = GemmOp("g", 8192, 8192, 8192, "bf16")
    allowed = {tuple(t) for t in a100.gpu_gemm.tiles}
    tiles = candidate_tiles(a100, op)
    assert tiles and all((t.m, t.n, t.k) in allowed for t in tiles)
    assert (map_gemm(a100, op)[0].m, map_gemm(a100, op)[0].n, map_gemm(a100, op)[0].k) in allowed


def test_small_gemm_tiles_are_clipped_to_the_gemm(a100):
    tiles = candidate_tiles(a100, GemmOp("g", 1, 4096, 4096, "bf16"))
    assert {t.m for t in tiles} == {1}


@pytest.mark.parametrize("shape", [(8192, 8192, 8192), (64, 12288, 12288), (8192, 256, 256), (1, 4096, 4096),
                                   (3000, 1000, 700)])
@pytest.mark.parametrize("name", ["a100", "h100"])
def test_utilization_at_most_one_and_time_at_least_roofline(shape, name, request):
    chip = request.getfixturevalue(name)
    row = run_graph(chip, OpGraph("g", (GemmOp("g", *shape, "bf16"),))).table.iloc[0]
    assert 0 < row.mxu_utilization <= 1
    assert row.cycles >= row.roofline_cycles


def test_waves_are_ceil_of_tiles_over_sms(a100):
    op = GemmOp("g", 8192, 8192, 8192, "bf16")
    tile = map_gemm(a100, op)[0]
    timing = gemm_timing(a100, op, tile, a100.cores)
    tiles = math.ceil(8192 / tile.m) * math.ceil(8192 / tile.n)
    assert timing.waves == math.ceil(tiles / a100.cores)


def test_tpu_and_systolic_presets_do_not_use_gpu_execution(tpu_v4):
    assert tpu_v4.gpu_gemm is None and tpu_v4.tensor_clock_scale == 1.0
