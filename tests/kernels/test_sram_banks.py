"""SRAM banking (issue 15 part 5, docs/memory.md § SRAM banking): one vector access takes as many cycles as the
most distinct words it touches in one bank, so unit stride streams banks × width bytes a cycle, a stride of
`banks` words serializes `banks` ways and one word of padding undoes it; a GEMM's bank stalls follow in closed
form from its tile's layout, and an unbanked SRAM keeps today's (SCALE-Sim-exact) cycles exactly."""

import math

import pytest

from simulator.api import run_graph
from simulator.config.loader import load_chip
from simulator.errors import ConfigError
from simulator.hardware.chip import Chip
from simulator.hardware.sram_banks import gemm_bank_stall_cycles, vector_read_cycles
from simulator.hardware.timing import gemm_timing
from simulator.ir.ops import GemmOp, OpGraph
from simulator.ir.program import Tile
from simulator.kernels.sram_banks import access_cycles, gemm_bank_stalls
from tests.kernels.test_jit import same_both_ways

ARRAY = "configs/systolic_32x32.yaml"  # one 32×32 os array, SCALE-Sim's timing
GPU_BANKS = ["core.sram.banks=32", "core.sram.bytes_per_cycle_per_bank=4"]  # CUDA shared memory: 32 × 4 B


def chip(*overrides: str) -> Chip:
    return Chip(load_chip(ARRAY, list(overrides)))


# ---- one access -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 31, 32, 33, 64, 100, 256])
def test_unit_stride_reads_banks_times_width_bytes_per_cycle(count):
    """fp32 words at unit stride: ceil(bytes / (32 banks × 4 B)) cycles, never a conflict."""
    assert access_cycles(count, 32, 32, 1, 0, 32, 4) == math.ceil(count * 4 / 128)
    # bf16 packs two to a word: 64 of them are one 128-byte row of the banks
    assert access_cycles(count, 16, 16, 1, 0, 32, 4) == math.ceil(count * 2 / 128)


@pytest.mark.parametrize("stride_words", range(1, 70))
def test_word_strides_conflict_by_the_gcd(stride_words):
    """32 one-word elements s words apart land on 32 / gcd(s, 32) banks: ceil(32 / that) cycles."""
    banks = 32
    reached = banks // math.gcd(stride_words, banks)
    assert access_cycles(32, stride_words * 32, 32, 1, 0, banks, 4) == math.ceil(32 / reached)


def test_stride_of_banks_words_serializes_and_one_word_of_padding_removes_it():
    for banks in (8, 16, 32):
        for count in (banks // 2, banks):
            assert access_cycles(count, banks * 32, 32, 1, 0, banks, 4) == count  # one bank, count words
            assert access_cycles(count, (banks + 1) * 32, 32, 1, 0, banks, 4) == 1  # padded: every bank once


def test_one_word_read_by_many_is_one_read():
    assert access_cycles(32, 0, 32, 1, 0, 32, 4) == 1  # the same address: a broadcast
    assert access_cycles(32, 32, 32, 4, 0, 32, 4) == 1  # four arrays reading the same vector
    assert access_cycles(32, 32, 32, 4, 32 * 32, 32, 4) == 4  # four vectors side by side: 512 B at 128 B a cycle
    assert access_cycles(0, 32, 32, 1, 0, 32, 4) == 0


def test_kernels_compiled_and_interpreted_agree():
    for args in ((32, 1024, 32, 1, 0, 32, 4), (77, 40, 16, 3, 24, 16, 2), (9, 12, 4, 2, 100, 32, 4)):
        same_both_ways(access_cycles, *args)
    same_both_ways(gemm_bank_stalls, 2, 100, 70, 90, 32, 64, 32, 3, 16, 32, 2, 0, 1.0, True, 16, 8, 4, 32, 4)


# ---- a GEMM's stalls, in closed form ---------------------------------------------------------------------


def stalls(df: str, op: GemmOp, tile: Tile, *overrides: str, cores: int = 1) -> int:
    return gemm_bank_stall_cycles(chip(f"core.mxu.dataflow={df}", *overrides), op, tile, cores)


def test_os_column_of_a_conflicts_by_its_row_pitch():
    """os streams A's column (32 rows, pitch 64 bf16 = 128 B = 32 words): every element in one bank, 32 cycles
    per vector instead of 1, over K = 64 stream cycles; B's row (64 B, unit stride) is conflict-free."""
    op, tile = GemmOp("g", 32, 32, 64), Tile(32, 32, 64)
    assert stalls("os", op, tile, *GPU_BANKS) == 64 * 32 - 64
    assert stalls("os", op, tile, *GPU_BANKS, "core.sram.row_padding=4") == 0  # pitch 33 words
    # pitch 96 B = 24 words: 32 / gcd(24, 32) = 4 banks, 8 words each
    assert stalls("os", GemmOp("g", 32, 32, 48), Tile(32, 32, 48), *GPU_BANKS) == 48 * 8 - 48


def test_ws_and_is_count_the_stationary_fill_too():
    two_byte = ["core.sram.banks=16", "core.sram.bytes_per_cycle_per_bank=2"]  # 32 B a cycle
    # ws: A's row of 32 bf16 (64 B, unit stride) takes 2 cycles over M = 40 stream cycles; B's 32 rows, 2 each
    assert stalls("ws", GemmOp("g", 40, 32, 32), Tile(40, 32, 32), *two_byte) == (40 * 2 - 40) + 32 * (2 - 1)
    # is: B's column (pitch 32 bf16 = 32 words, on 16 banks: one bank) 32 cycles over N = 32; A's column
    # (pitch 32 bf16 as well) for each of the 32 array rows
    assert stalls("is", GemmOp("g", 32, 32, 32), Tile(32, 32, 32), *two_byte) == (32 * 32 - 32) + 32 * (32 - 1)


def test_a_cores_arrays_read_in_one_access():
    """Two 32×32 arrays split a step: along N they share A's column (one broadcast read, 32-way as before) and
    read B's rows side by side (128 B, one cycle); along M their two columns of A, 32 rows apart at a 32-word
    pitch, put 64 words in one bank."""
    two = ["core.mxu.count=2", *GPU_BANKS]
    assert stalls("os", GemmOp("g", 32, 64, 64), Tile(32, 64, 64), *two) == 64 * 32 - 64  # split along N
    assert stalls("os", GemmOp("g", 64, 32, 64), Tile(64, 32, 64), *two) == 64 * 64 - 64  # split along M


def test_the_critical_core_holds_every_pth_tile():
    """Four 32×32 tiles of one conflict pattern: all on one core, or one each on four."""
    op, tile = GemmOp("g", 64, 64, 64), Tile(32, 32, 64)
    one = 64 * 32 - 64
    assert stalls("os", op, tile, *GPU_BANKS, cores=1) == 4 * one
    assert stalls("os", op, tile, *GPU_BANKS, cores=4) == one
    assert stalls("os", op, tile, *GPU_BANKS, cores=3) == 2 * one  # tiles 0 and 3


def test_vector_read_cycles_reads_the_chips_banks():
    banked, plain = chip(*GPU_BANKS), chip()
    assert vector_read_cycles(banked, 32, 128, "fp32") == 32
    assert vector_read_cycles(banked, 32, 132, "fp32") == 1
    assert vector_read_cycles(plain, 32, 128, "fp32") == 1


# ---- in a run ----------------------------------------------------------------------------------------------


def test_bank_stalls_are_stall_cycles_of_the_record():
    op = GemmOp("g", 32, 32, 64)
    graph = OpGraph("g", (op,))
    plain = run_graph(chip(), graph).records[0]
    banked_chip = chip(*GPU_BANKS)
    banked = run_graph(banked_chip, graph).records[0]
    tile = Tile(*(int(x) for x in banked.tile.split("×")))
    expected = gemm_bank_stall_cycles(banked_chip, op, tile, banked.cores)
    assert banked.bank_stall_cycles == expected > 0
    assert banked.tile == plain.tile  # every candidate tile of this shape conflicts: the chooser keeps its own
    assert banked.cycles == plain.cycles + expected
    assert banked.stall_cycles == plain.stall_cycles + expected
    assert banked.compute_cycles == plain.compute_cycles  # the array's busy cycles do not change


def test_unset_or_conflict_free_banking_keeps_todays_cycles_exactly():
    """No banks: the record is the hardware timing's own figures (SCALE-Sim's cycles); banks wide enough that
    no access conflicts: the same cycles again, and 0 bank stalls."""
    op = GemmOp("g", 100, 70, 300)
    graph = OpGraph("g", (op,))
    plain_chip = chip()
    plain = run_graph(plain_chip, graph).records[0]
    tile = Tile(*(int(x) for x in plain.tile.split("×")))
    timing = gemm_timing(plain_chip, op, tile, plain.cores)
    assert (plain.cycles - plain.overhead_cycles, plain.compute_cycles, plain.stall_cycles) == (
        timing.cycles, timing.compute_cycles, timing.stall_cycles)
    assert plain.bank_stall_cycles == 0
    wide = run_graph(chip("core.sram.banks=4096", "core.sram.bytes_per_cycle_per_bank=1024"), graph).records[0]
    assert wide.bank_stall_cycles == 0
    assert (wide.cycles, wide.compute_cycles, wide.stall_cycles, wide.tile) == (
        plain.cycles, plain.compute_cycles, plain.stall_cycles, plain.tile)


def test_banking_needs_both_fields():
    with pytest.raises(ConfigError, match="bytes_per_cycle_per_bank"):
        load_chip(ARRAY, ["core.sram.banks=32"])
    with pytest.raises(ConfigError, match="row_padding"):
        load_chip(ARRAY, ["core.sram.row_padding=4"])
