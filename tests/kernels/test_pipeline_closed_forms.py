"""The step-skipping GEMM / vector pipelines and the closed-form HBM reads against the per-tile loops they
replaced (kept here, verbatim, as oracles): equal bit for bit on random shapes, tiles, cores, stages,
bandwidths and latencies; and bounded work on shapes whose per-tile loops grow with the work."""

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numba import njit

from simulator.kernels.pipeline import (
    _count_high,
    _jump,
    gemm_core_time,
    gemm_hbm_read_bytes,
    run_pipeline,
    stream_core_time,
)
from simulator.kernels.systolic import DATAFLOWS, core_step_cycles


# ---- the previous implementations (per-tile / per-step loops), the oracles --------------------------------
@njit(cache=True)
def _old_gemm_core_steps(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes,
                         rows, cols, n_mxu, dataflow, rate, pipelined, bw_full, bw_last):
    mt = (m + tm - 1) // tm
    nt = (n + tn - 1) // tn
    kt = (k + tk - 1) // tk
    tiles = batch * mt * nt
    mine = (tiles + cores - 1) // cores
    full_waves = tiles // cores
    steps = mine * kt
    load = np.empty(steps)
    comp = np.empty(steps)
    store = np.zeros(steps)
    s = 0
    for w in range(mine):
        t = w * cores
        mi = (t // nt) % mt
        ni = t % nt
        mm = min(tm, m - mi * tm)
        nn = min(tn, n - ni * tn)
        bw = bw_full if w < full_waves else bw_last
        for ki in range(kt):
            kk = min(tk, k - ki * tk)
            cyc, _ = core_step_cycles(mm, nn, kk, rows, cols, n_mxu, dataflow, rate, pipelined)
            comp[s] = cyc
            load[s] = (mm * kk * a_bytes + kk * nn * b_bytes) / bw
            s += 1
        store[s - 1] = mm * nn * out_bytes / bw
    return load, comp, store


@njit(cache=True)
def _old_gemm_core_time(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes,
                        rows, cols, n_mxu, dataflow, rate, pipelined, bw_full, bw_last, stages, latency):
    load, comp, store = _old_gemm_core_steps(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes,
                                             rows, cols, n_mxu, dataflow, rate, pipelined, bw_full, bw_last)
    return run_pipeline(load, comp, store, stages, latency)


@njit(cache=True)
def _old_gemm_hbm_read_bytes(batch, m, n, k, tm, tn, cores, a_bytes, b_bytes, a_resident, b_resident):
    mt = (m + tm - 1) // tm
    nt = (n + tn - 1) // tn
    tiles = batch * mt * nt
    seen_rows = np.full(batch * mt, -1)
    seen_cols = np.full(batch * nt, -1)
    a = 0.0
    b = 0.0
    for t in range(tiles):
        wave = t // cores
        if a_resident:
            wave = 0
        bi = t // (mt * nt)
        mi = (t // nt) % mt
        ni = t % nt
        r = bi * mt + mi
        if seen_rows[r] != wave:
            seen_rows[r] = wave
            a += min(tm, m - mi * tm) * k * a_bytes
        wave_b = 0 if b_resident else t // cores
        c = bi * nt + ni
        if seen_cols[c] != wave_b:
            seen_cols[c] = wave_b
            b += min(tn, n - ni * tn) * k * b_bytes
    return a, b


@njit(cache=True)
def _old_stream_core_time(elements, chunk, ops_per_element, lanes_rate, in_bytes, out_bytes, bw, stages, latency):
    steps = (elements + chunk - 1) // chunk
    load = np.empty(steps)
    comp = np.empty(steps)
    store = np.empty(steps)
    for s in range(steps):
        e = min(chunk, elements - s * chunk)
        load[s] = e * in_bytes / bw
        comp[s] = np.ceil(e * ops_per_element / lanes_rate - 1e-9)
        store[s] = e * out_bytes / bw
    return run_pipeline(load, comp, store, stages, latency)


# ---- random cases ---------------------------------------------------------------------------------------
BYTES = st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0])  # bytes per element of the dtypes (int4 … fp32; 0 on chip)
# Per-core bandwidths: presets' shares (odd decimals), round numbers, and values that make loads integral.
BANDWIDTH = st.one_of(st.sampled_from([26.4, 11.37, 3.3523, 64.0, 1.0, 0.75, 128.0, 7.0]),
                      st.floats(0.05, 300.0, allow_nan=False, allow_infinity=False))
LATENCY = st.one_of(st.sampled_from([0.0, 1.0, 500.0, 812.5, 1137.3]), st.floats(0.0, 5000.0))
SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def gemm_cases(draw):
    # Small shapes, and long ones (many waves, many K steps) where the kernel skips periods.
    m = draw(st.one_of(st.integers(1, 700), st.integers(700, 60_000)))
    n, k = draw(st.integers(1, 3000)), draw(st.one_of(st.integers(1, 400), st.integers(400, 20_000)))
    tm, tn, tk = (draw(st.one_of(st.sampled_from([16, 32, 64, 128, 256]), st.integers(1, 2 * d))) for d in (m, n, k))
    case = dict(
        batch=draw(st.integers(1, 40)), m=m, n=n, k=k, tm=tm, tn=tn, tk=tk,
        cores=draw(st.one_of(st.sampled_from([1, 2, 3, 4, 7, 108, 132]), st.integers(1, 300))),
        a_bytes=draw(BYTES), b_bytes=draw(st.sampled_from([0.5, 1.0, 2.0, 4.0])), out_bytes=draw(BYTES),
        rows=draw(st.sampled_from([4, 8, 16, 32, 128])), cols=draw(st.sampled_from([4, 8, 16, 32, 128])),
        n_mxu=draw(st.sampled_from([1, 2, 4])), dataflow=draw(st.sampled_from(sorted(DATAFLOWS.values()))),
        rate=draw(st.sampled_from([1.0, 2.0, 4.0])), pipelined=draw(st.booleans()),
        bw_full=draw(BANDWIDTH), bw_last=draw(BANDWIDTH), stages=draw(st.integers(1, 6)), latency=draw(LATENCY),
    )
    assume(_steps(case) <= 300_000)  # what the oracle can afford
    return case


def _steps(case):
    """Steps of core 0: its tiles × K steps per tile."""
    tiles = case["batch"] * -(-case["m"] // case["tm"]) * -(-case["n"] // case["tn"])
    return -(-tiles // case["cores"]) * -(-case["k"] // case["tk"])


def _cycles(total, compute):
    """The integer cycles gemm_timing derives from the kernel's floats."""
    return int(np.ceil(total - 1e-9)) - 1, int(compute) - 1


@SETTINGS
@given(gemm_cases())
def test_gemm_core_time_equals_the_per_step_pipeline(case):
    new = gemm_core_time(**case)[:3]
    old = _old_gemm_core_time(**case)
    assert new == old  # bit for bit, so the integer cycles agree too
    assert _cycles(new[0], new[1]) == _cycles(old[0], old[1])


@SETTINGS
@given(gemm_cases(), st.booleans(), st.booleans())
def test_gemm_hbm_read_bytes_equals_the_per_tile_count(case, a_resident, b_resident):
    args = dict(batch=case["batch"], m=case["m"], n=case["n"], k=case["k"], tm=case["tm"], tn=case["tn"],
                cores=case["cores"], a_bytes=case["a_bytes"], b_bytes=case["b_bytes"],
                a_resident=a_resident, b_resident=b_resident)
    assert gemm_hbm_read_bytes(**args) == _old_gemm_hbm_read_bytes(**args)


@SETTINGS
@given(st.integers(0, 200_000), st.integers(1, 5000), st.sampled_from([0.0, 1.0, 4.0, 5.0, 7.0]),
       st.sampled_from([128.0, 256.0, 1000.0, 33.3]), BYTES, BYTES, BANDWIDTH, st.integers(1, 6), LATENCY)
def test_stream_core_time_equals_the_per_chunk_pipeline(elements, chunk, ops, lanes_rate, in_bytes, out_bytes,
                                                        bw, stages, latency):
    args = dict(elements=elements, chunk=chunk, ops_per_element=ops, lanes_rate=lanes_rate, in_bytes=in_bytes,
                out_bytes=out_bytes, bw=bw, stages=stages, latency=latency)
    assert stream_core_time(**args)[:3] == _old_stream_core_time(**args)


# ---- long, periodic sequences: equal to the oracle, and the work stays bounded ------------------------------
H100_LIKE = dict(a_bytes=2.0, b_bytes=2.0, out_bytes=2.0, rows=64, cols=64, n_mxu=4, dataflow=DATAFLOWS["os"],
                 rate=1.0, pipelined=True, stages=3, latency=812.4)
LONG = [
    # (batch, m, n, k, tm, tn, tk, cores, bw_full, bw_last): prefill projections, chunked attention with an
    # N edge, an M edge with many batches, an M edge on one batch, a memory-bound skinny GEMM
    (1, 131072, 6144, 4096, 128, 256, 32, 132, 11.37, 26.4),
    (1024, 512, 65600, 128, 256, 256, 16, 132, 11.37, 26.4),
    (300, 1000, 4096, 128, 256, 128, 16, 132, 7.3, 30.1),
    (1, 100000, 4096, 512, 128, 256, 32, 132, 11.37, 26.4),
    (1, 262144, 128, 4096, 128, 128, 256, 132, 3.1, 26.4),
    (64, 512, 2052, 128, 128, 64, 16, 7, 5.0, 9.0),
]


def _long_case(batch, m, n, k, tm, tn, tk, cores, bw_full, bw_last):
    return dict(H100_LIKE, batch=batch, m=m, n=n, k=k, tm=tm, tn=tn, tk=tk, cores=cores, bw_full=bw_full,
                bw_last=bw_last)


def test_long_gemms_equal_the_oracle_while_simulating_a_small_part():
    for args in LONG:
        case = _long_case(*args)
        total, busy, stall, simulated = gemm_core_time(**case)
        assert (total, busy, stall) == _old_gemm_core_time(**case), args
        assert simulated <= 5000, (args, simulated, _steps(case))


def test_a_million_token_attention_gemm_is_timed_without_its_steps():
    # 1M-token prefill, chunked attention scores: 2M tiles (16M steps) on core 0; the oracle would need
    # 400 MB of step arrays. The skipping kernel simulates a few periods per binade of the clock.
    case = _long_case(65536, 512, 524352, 128, 256, 256, 16, 132, 11.37, 26.4)
    total, busy, stall, simulated = gemm_core_time(**case)
    assert simulated < 20_000
    assert busy > 0 and total >= busy and stall == total - busy


def test_long_vector_streams_equal_the_oracle_and_skip():
    args = dict(elements=40_000_000, chunk=1000, ops_per_element=5.0, lanes_rate=128.0, in_bytes=2.0,
                out_bytes=2.0, bw=26.4, stages=2, latency=812.4)
    total, busy, stall, simulated = stream_core_time(**args)
    assert (total, busy, stall) == _old_stream_core_time(**args)
    assert simulated < 10_000


def test_hbm_reads_of_a_million_token_attention_gemm_in_closed_form():
    args = dict(batch=65536, m=512, n=524352, k=128, tm=256, tn=256, cores=132, a_bytes=2.0, b_bytes=2.0,
                a_resident=False, b_resident=False)
    small = dict(args, batch=64)  # the oracle's loop is affordable at 64 batches; reads scale per batch
    assert gemm_hbm_read_bytes(**small) == _old_gemm_hbm_read_bytes(**small)
    a, b = gemm_hbm_read_bytes(**args)
    # Every tile of a wave is in a different column block (nt ≥ P), so B is read once per tile; A's row
    # blocks span 2049 tiles, 16 or 17 waves each.
    assert b == 65536 * 2 * 524352 * 128 * 2.0
    assert 65536 * 512 * 128 * 2.0 * 16 <= a <= 65536 * 512 * 128 * 2.0 * 17


# ---- the pieces of the proofs ----------------------------------------------------------------------------
def test_a_jump_needs_an_exact_shift_inside_one_binade():
    then = np.array([1100.0, 1110.5, 1120.25, 1130.0])
    delta, r_max = _jump(then, then + 7.0, np.array([10.5, 3.0]), 0.0)
    assert delta == 7.0 and r_max == 130  # 1137 + R·7 < 2048
    assert _jump(then - 100.0, then + 7.0, np.array([3.0]), 0.0) == (0.0, 0)  # 1000 is below [1024, 2048)
    assert _jump(then, then + np.array([7.0, 7.0, 7.0, 7.5]), np.array([3.0]), 0.0) == (0.0, 0)  # not a shift
    low = np.array([1020.0, 1021.0, 1022.0, 1023.0])
    assert _jump(low, low + 2.0, np.array([3.0]), 0.0) == (0.0, 0)  # 1023 and 1025 straddle 1024


def test_a_shift_that_would_flip_a_round_half_even_tie_is_refused():
    # In [2^52, 2^53) the floats are the integers, and adding 100.5 rounds half-way to the even neighbour:
    # shifting the state by an odd number of cycles would flip that rounding, by an even number it cannot.
    then = 2.0 ** 52 + np.array([0.0, 10.0, 20.0, 30.0])
    assert _jump(then, then + 3.0, np.array([100.5, 7.0]), 0.0) == (0.0, 0)
    assert _jump(then, then + 3.0, np.array([7.0]), 100.5) == (0.0, 0)  # the latency is added too
    assert _jump(then, then + 4.0, np.array([100.5, 7.0]), 0.0)[0] == 4.0
    assert _jump(then, then + 3.0, np.array([100.0, 7.0]), 0.0)[0] == 3.0


@given(st.integers(0, 500), st.integers(0, 10 ** 9), st.integers(0, 10 ** 9), st.integers(1, 300), st.data())
@settings(max_examples=300, deadline=None, derandomize=True)
def test_count_high_counts_residues_in_the_top_window(count, a, b, c, data):
    lam = data.draw(st.integers(0, c - 1))
    assert _count_high(count, a, b, lam, c) == sum((a * r + b) % c >= c - lam for r in range(count)) * (lam > 0)
