"""Kernels run compiled (numba) or interpreted, with the same results bit for bit and of the same Python types;
TORTOISE_KERNELS picks the mode, and a bad value is one line naming it. Modes are per process, so the checks
that depend on one run in a fresh interpreter."""

import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulator.errors import ConfigError
from simulator.kernels import jit
from simulator.kernels.pipeline import (
    _count_high,
    _floor_sum,
    _jump,
    gemm_core_time,
    gemm_hbm_read_bytes,
    run_pipeline,
    stream_core_time,
)
from simulator.kernels.systolic import (
    core_step_cycles,
    fixed_cycles,
    fold_cycles,
    mapped_dims,
    scalesim_compute_cycles,
    sram_accesses,
)
from simulator.kernels.tiles import tile_estimates
from tests.kernels.test_pipeline_closed_forms import BANDWIDTH, BYTES, LATENCY, _steps, gemm_cases

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _bits(value):
    """A value as comparable bits: floats by their IEEE bytes (so -0.0 ≠ 0.0 and NaN = NaN), arrays by dtype,
    shape and bytes, tuples item by item; each with its exact type."""
    if isinstance(value, tuple):
        return tuple(_bits(v) for v in value)
    if isinstance(value, np.ndarray):
        return "array", value.dtype.str, value.shape, value.tobytes()
    if type(value) is float:
        return "float", struct.pack("<d", value)
    return type(value).__name__, value


def same_both_ways(kernel, *args, **kwargs):
    """Call the kernel compiled and interpreted; the two results must be equal bit for bit, with equal types."""
    compiled = kernel.compiled(*args, **kwargs)
    interpreted = kernel.interpret(*args, **kwargs)
    assert _bits(interpreted) == _bits(compiled), (kernel.__name__, args, kwargs, interpreted, compiled)
    return compiled


# ---- each kernel, compiled and interpreted, on random arguments -----------------------------------------
DIM = st.one_of(st.integers(0, 300), st.integers(300, 10 ** 6))
ARRAY = st.one_of(st.sampled_from([1, 4, 16, 32, 128, 256]), st.integers(1, 300))
DATAFLOW = st.sampled_from([0, 1, 2])
RATE = st.sampled_from([1.0, 2.0, 4.0, 0.5, 3.0])


@SETTINGS
@given(DIM, DIM, DIM, ARRAY, ARRAY, st.sampled_from([1, 2, 4, 3]), DATAFLOW, RATE, st.booleans())
def test_systolic_kernels_agree(m, n, k, rows, cols, n_mxu, dataflow, rate, pipelined):
    same_both_ways(mapped_dims, m, n, k, dataflow)
    same_both_ways(fixed_cycles, rows, cols, dataflow)
    same_both_ways(fold_cycles, m, n, k, rows, cols, dataflow, rate, pipelined)
    same_both_ways(scalesim_compute_cycles, m, n, k, rows, cols, dataflow)
    same_both_ways(sram_accesses, m, n, k, rows, cols, dataflow)
    same_both_ways(core_step_cycles, m, n, k, rows, cols, n_mxu, dataflow, rate, pipelined)


@st.composite
def estimate_cases(draw):
    count = draw(st.integers(1, 40))
    tiles = [st.lists(st.integers(1, 4096), min_size=count, max_size=count) for _ in range(3)]
    has_l2 = draw(st.booleans())
    return dict(tms=np.array(draw(tiles[0]), np.int64), tns=np.array(draw(tiles[1]), np.int64),
                tks=np.array(draw(tiles[2]), np.int64), batch=draw(st.integers(1, 64)), m=draw(st.integers(1, 10 ** 5)),
                n=draw(st.integers(1, 10 ** 5)), k=draw(st.integers(1, 20_000)),
                chip_cores=draw(st.sampled_from([1, 2, 8, 108, 132])), a_bytes=draw(BYTES),
                b_bits=draw(st.sampled_from([4, 8, 16, 32])), rows=draw(ARRAY), cols=draw(ARRAY),
                n_mxu=draw(st.sampled_from([1, 4])), dataflow=draw(DATAFLOW), rate=draw(RATE),
                pipelined=draw(st.booleans()), dma_bw=draw(BANDWIDTH), hbm_bw=draw(BANDWIDTH),
                l2_bw=draw(BANDWIDTH) if has_l2 else 0.0, has_l2=has_l2)


@SETTINGS
@given(estimate_cases())
def test_tile_estimates_agree(case):
    same_both_ways(tile_estimates, **case)


@SETTINGS
@given(gemm_cases())
def test_gemm_core_time_agrees(case):
    assume(_steps(case) <= 30_000)  # what the interpreter affords, should no period repeat
    same_both_ways(gemm_core_time, **case)


def test_gemm_core_time_agrees_on_numpy_integers_as_the_chooser_passes_them():
    case = dict(batch=1, m=131072, n=6144, k=4096, tm=128, tn=256, tk=32, cores=132, a_bytes=2.0, b_bytes=2.0,
                out_bytes=2.0, rows=16, cols=32, n_mxu=4, dataflow=0, rate=1.0, pipelined=True,
                bw_full=49.67709885742673, bw_last=64.0, stages=4, latency=325.2589925130208)
    plain = same_both_ways(gemm_core_time, **case)
    numpy_ints = {key: np.int64(value) if key in ("tm", "tn", "tk", "cores") else value for key, value in case.items()}
    assert _bits(gemm_core_time.interpret(**numpy_ints)) == _bits(plain)


@SETTINGS
@given(gemm_cases(), st.booleans(), st.booleans())
def test_gemm_hbm_read_bytes_agrees(case, a_resident, b_resident):
    same_both_ways(gemm_hbm_read_bytes, batch=case["batch"], m=case["m"], n=case["n"], k=case["k"], tm=case["tm"],
                   tn=case["tn"], cores=case["cores"], a_bytes=case["a_bytes"], b_bytes=case["b_bytes"],
                   a_resident=a_resident, b_resident=b_resident)


@SETTINGS
@given(st.integers(0, 200_000), st.integers(1, 5000), st.sampled_from([0.0, 1.0, 4.0, 5.0, 7.0]),
       st.sampled_from([128.0, 256.0, 1000.0, 33.3]), BYTES, BYTES, BANDWIDTH, st.integers(1, 6), LATENCY)
def test_stream_core_time_agrees(elements, chunk, ops, lanes_rate, in_bytes, out_bytes, bw, stages, latency):
    assume(elements <= 2000 * chunk)  # chunks the interpreter affords, should no period repeat
    same_both_ways(stream_core_time, elements=elements, chunk=chunk, ops_per_element=ops, lanes_rate=lanes_rate,
                   in_bytes=in_bytes, out_bytes=out_bytes, bw=bw, stages=stages, latency=latency)


@SETTINGS
@given(st.lists(st.tuples(BANDWIDTH, st.floats(0.0, 1e4), st.sampled_from([0.0, 0.0, 3.5, 100.0])), min_size=1,
                max_size=60), st.integers(1, 6), LATENCY)
def test_run_pipeline_agrees(steps, stages, latency):
    load, comp, store = (np.array(column) for column in zip(*steps, strict=True))
    same_both_ways(run_pipeline, load, comp, store, stages, latency)


@SETTINGS
@given(st.integers(0, 10 ** 6), st.integers(1, 10 ** 6), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6),
       st.integers(1, 500), st.data())
def test_floor_sums_agree(n, m, a, b, c, data):
    same_both_ways(_floor_sum, n, m, a, b)
    same_both_ways(_count_high, n, a, b, data.draw(st.integers(0, c - 1)), c)


def test_jumps_agree_on_shifts_binades_and_ties():
    then = np.array([1100.0, 1110.5, 1120.25, 1130.0])
    ties = 2.0 ** 52 + np.array([0.0, 10.0, 20.0, 30.0])
    for a, b, tables, latency in ((then, then + 7.0, np.array([10.5, 3.0]), 0.0),
                                  (then - 100.0, then + 7.0, np.array([3.0]), 0.0),
                                  (then, then + 0.0, np.array([3.0]), 0.0),
                                  (ties, ties + 3.0, np.array([100.5, 7.0]), 0.0),
                                  (ties, ties + 4.0, np.array([100.5, 7.0]), 0.0),
                                  (ties, ties + 3.0, np.array([7.0]), 100.5)):
        same_both_ways(_jump, a, b, tables, latency)


# ---- the machinery ---------------------------------------------------------------------------------------
def test_numba_code_calls_a_kernel_as_it_called_an_njit_function():
    from numba import njit

    @njit
    def twice(m):
        return 2 * fold_cycles(m, 8, 8, 4, 4, 0, 1.0, False)

    assert twice(5) == 2 * fold_cycles.compiled(5, 8, 8, 4, 4, 0, 1.0, False) == 2 * fold_cycles.interpret(
        5, 8, 8, 4, 4, 0, 1.0, False)


def test_interpreted_kernels_call_each_other_directly_and_see_plain_integers():
    twin = gemm_core_time.interpreted.__wrapped__  # the memo's function
    assert twin.__globals__["core_step_cycles"] is core_step_cycles.interpreted
    assert twin.__globals__["ZERO"] == 0 and type(twin.__globals__["ZERO"]) is int
    assert not any(isinstance(value, jit.Kernel) for value in twin.__globals__.values())


def test_memo_keys_tell_types_and_signed_zeros_apart_but_not_numpy_scalars():
    assert jit._key(1) != jit._key(1.0) != jit._key(True) != jit._key(1)
    assert jit._key(0.0) != jit._key(-0.0)
    assert jit._key(np.int64(3)) == jit._key(3) and jit._key(np.float64(0.5)) == jit._key(0.5)
    assert jit._key(np.bool_(True)) == jit._key(True)


def test_the_mode_comes_from_the_variable_and_a_bad_value_is_one_line():
    assert jit.mode_from(None) == jit.mode_from("") == "numba"
    assert [jit.mode_from(v) for v in ("numba", "python", "auto")] == ["numba", "python", "auto"]
    for bad in ("fast", "Numba", " python"):
        with pytest.raises(ConfigError) as info:
            jit.mode_from(bad)
        assert str(info.value) == f"environment: TORTOISE_KERNELS = {bad!r}: must be numba, python or auto (or unset)"


def _fresh(code: str, kernels: str | None) -> str:
    env = {key: value for key, value in os.environ.items() if key != jit.ENV}
    if kernels is not None:
        env[jit.ENV] = kernels
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


CALL = ("import sys\nfrom simulator.kernels import jit\nfrom simulator.kernels.systolic import fold_cycles\n"
        "r = fold_cycles(5, 8, 8, 4, 4, 0, 1.0, False)\n")


def test_python_mode_never_imports_numba_and_unset_means_numba():
    assert _fresh(CALL + "print(jit.mode(), 'numba' in sys.modules, sep=',')", "python") == "python,False"
    assert _fresh(CALL + "print(jit.mode(), 'numba' in sys.modules, sep=',')", None) == "numba,True"


def test_auto_interprets_until_its_budget_is_spent_then_compiles():
    code = ("import sys\nfrom simulator.kernels import jit\nfrom simulator.kernels.systolic import fold_cycles\n"
            "first = fold_cycles(5, 8, 8, 4, 4, 0, 1.0, False)\n"
            "before = 'numba' in sys.modules\n"
            "jit.AUTO_BUDGET_S = 0.0\n"
            "second = fold_cycles(5, 8, 8, 4, 4, 0, 1.0, False)\n"  # interpreted; spends the budget
            "switched = jit.mode() == 'numba' and 'numba' not in sys.modules\n"
            "third = fold_cycles(5, 8, 8, 4, 4, 0, 1.0, False)\n"  # compiled
            "print(before, switched, 'numba' in sys.modules, first == second == third, sep=',')")
    assert _fresh(code, "auto") == "False,True,True,True"
    assert math.isfinite(jit.AUTO_BUDGET_S) and 0 < jit.AUTO_BUDGET_S < 0.85  # below what numba's load costs


def test_a_kernel_pickles_by_name():
    import pickle

    assert pickle.loads(pickle.dumps(gemm_core_time)) is gemm_core_time
