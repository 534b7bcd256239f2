"""Systolic closed forms: SCALE-Sim v3's published compute cycles and properties over random shapes."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.kernels.systolic import (
    DATAFLOWS,
    core_step_cycles,
    fold_cycles,
    mapped_dims,
    scalesim_compute_cycles,
    sram_accesses,
)

# SCALE-Sim 3.0.0 compute cycles (issue #2): (M, N, K), array rows × cols, {dataflow: cycles}.
SCALESIM_CASES = [
    ((64, 64, 64), (32, 32), {"os": 503, "ws": 631, "is": 631}),
    ((128, 128, 128), (128, 128), {"os": 381, "ws": 509, "is": 509}),
    ((128, 128, 128), (32, 32), {"ws": 3551, "is": 3551}),
    ((100, 300, 77), (128, 128), {"os": 992, "ws": 1445, "is": 681}),
    ((100, 300, 77), (256, 256), {"os": 1173, "ws": 1731, "is": 1065}),
    ((256, 256, 256), (256, 256), {"os": 765}),
]


@pytest.mark.parametrize(
    "shape, array, dataflow, expected",
    [(s, a, df, c) for s, a, exp in SCALESIM_CASES for df, c in exp.items()],
)
def test_matches_scalesim_published_cycles(shape, array, dataflow, expected):
    assert scalesim_compute_cycles(*shape, *array, DATAFLOWS[dataflow]) == expected


dims = st.integers(1, 600)
arrays = st.sampled_from([(4, 4), (8, 16), (16, 8), (32, 32), (128, 128), (16, 32)])
flows = st.sampled_from(["os", "ws", "is"])


@settings(max_examples=300, deadline=None)
@given(dims, dims, dims, arrays, flows)
def test_cycles_at_least_ideal_macs_per_pe(m, n, k, array, dataflow):
    rows, cols = array
    cycles = scalesim_compute_cycles(m, n, k, rows, cols, DATAFLOWS[dataflow])
    assert cycles >= math.ceil(m * n * k / (rows * cols))


@settings(max_examples=300, deadline=None)
@given(dims, dims, dims, arrays, flows)
def test_fold_count_times_fold_cost(m, n, k, array, dataflow):
    rows, cols = array
    df = DATAFLOWS[dataflow]
    sr, sc, t = mapped_dims(m, n, k, df)
    folds = math.ceil(sr / rows) * math.ceil(sc / cols)
    fixed = rows + cols - 2 if dataflow == "os" else 2 * rows + cols - 2
    assert scalesim_compute_cycles(m, n, k, rows, cols, df) == folds * (fixed + t) - 1


@settings(max_examples=200, deadline=None)
@given(dims, dims, st.integers(1, 599), arrays, flows, st.booleans())
def test_monotonic_in_k(m, n, k, array, dataflow, pipelined):
    rows, cols = array
    df = DATAFLOWS[dataflow]
    longer = fold_cycles(m, n, k + 1, rows, cols, df, 1.0, pipelined)
    assert longer >= fold_cycles(m, n, k, rows, cols, df, 1.0, pipelined)


@settings(max_examples=200, deadline=None)
@given(dims, dims, dims, arrays, flows, st.sampled_from([0.5, 1.0, 2.0, 4.0]))
def test_pipelining_never_slower_and_exact_for_one_fold(m, n, k, array, dataflow, rate):
    rows, cols = array
    df = DATAFLOWS[dataflow]
    plain = fold_cycles(m, n, k, rows, cols, df, rate, False)
    piped = fold_cycles(m, n, k, rows, cols, df, rate, True)
    assert piped <= plain
    sr, sc, _ = mapped_dims(m, n, k, df)
    if sr <= rows and sc <= cols:
        assert piped == plain


def test_pipelined_closed_form():
    # 256×256×64 os on 32×32: 64 folds of stream 64; fill+drain 62 once, later folds max(64, 32) each.
    assert fold_cycles(256, 256, 64, 32, 32, DATAFLOWS["os"], 1.0, True) == 62 + 64 + 63 * 64


def test_faster_dtype_shortens_the_stream():
    # rate 2 (e.g. fp8 on H100): K = 64 streams in 32 cycles.
    assert fold_cycles(16, 32, 64, 16, 32, DATAFLOWS["os"], 2.0, False) == 16 + 32 - 2 + 32


@settings(max_examples=300, deadline=None)
@given(dims, dims, dims, arrays, flows)
def test_sram_reads_cover_each_operand(m, n, k, array, dataflow):
    rows, cols = array
    a, b, c_reads, c_writes = sram_accesses(m, n, k, rows, cols, DATAFLOWS[dataflow])
    assert a >= m * k and b >= k * n and c_writes >= m * n
    assert c_writes - c_reads == m * n  # every partial sum written is read back except the final ones


def test_sram_accesses_closed_forms():
    # 100×300×77 on 32×32. os: A re-read per column fold, B per row fold.
    assert sram_accesses(100, 300, 77, 32, 32, DATAFLOWS["os"]) == (100 * 77 * 10, 77 * 300 * 4, 0, 100 * 300)
    # ws: B stationary (read once), A streamed per column fold, 3 K-folds of partial sums.
    assert sram_accesses(100, 300, 77, 32, 32, DATAFLOWS["ws"]) == (100 * 77 * 10, 77 * 300, 2 * 30000, 3 * 30000)
    # is: A stationary, B streamed per M-fold (M maps to columns).
    assert sram_accesses(100, 300, 77, 32, 32, DATAFLOWS["is"]) == (100 * 77, 77 * 300 * 4, 2 * 30000, 3 * 30000)


def test_core_splits_work_over_its_arrays():
    # 4 arrays on a 128×512 tile: splitting N gives each a 128×128 tile — one quarter of the folds.
    one, _ = core_step_cycles(128, 512, 256, 128, 128, 1, DATAFLOWS["os"], 1.0, False)
    four, _ = core_step_cycles(128, 512, 256, 128, 128, 4, DATAFLOWS["os"], 1.0, False)
    assert one == 4 * four
