"""The multi-stage DMA pipeline against hand-computed schedules."""

import numpy as np
import pytest

from simulator.kernels.pipeline import gemm_hbm_read_bytes, run_pipeline


def _run(load, comp, store, stages=2, latency=0.0):
    return run_pipeline(np.array(load, float), np.array(comp, float), np.array(store, float), stages, latency)


def test_compute_bound_hides_all_but_the_first_load():
    total, busy, stall = _run([10] * 5, [100] * 5, [0] * 5)
    assert (total, busy, stall) == (510, 500, 10)


def test_memory_bound_runs_at_load_rate():
    # Loads of 100 behind compute of 10: the channel is the bottleneck.
    total, busy, stall = _run([100] * 5, [10] * 5, [0] * 5)
    assert total == 5 * 100 + 10 and busy == 50 and stall == total - busy


def test_latency_is_overlapped_by_deeper_buffering():
    shallow = _run([10] * 20, [20] * 20, [0] * 20, stages=2, latency=50)[0]
    deep = _run([10] * 20, [20] * 20, [0] * 20, stages=4, latency=50)[0]
    # 2 buffers: each step waits the 50-cycle latency after the buffer frees; 4 buffers hide it.
    assert deep == 10 + 50 + 20 * 20
    assert shallow > deep


def test_one_stage_serializes_every_load_its_latency_and_the_compute():
    # one buffer (a Triton kernel's num_stages=1): step i+1 loads only once step i's compute has ended
    total, busy, stall = _run([10] * 5, [100] * 5, [0] * 5, stages=1, latency=3)
    assert (total, busy, stall) == (5 * (10 + 3 + 100), 500, 5 * 13)


def test_store_after_last_step_extends_the_tail():
    total, busy, stall = _run([10, 10], [100, 100], [0, 30], latency=5)
    # load0 ready at 15, compute 15..115, 115..215, store 215..245 + 5 latency.
    assert total == 250 and busy == 200 and stall == 50


@pytest.mark.parametrize("stages", [2, 3, 8])
def test_total_is_at_least_each_resource(stages):
    rng = np.random.default_rng(0)
    load, comp, store = rng.integers(1, 100, 50), rng.integers(1, 100, 50), rng.integers(0, 50, 50)
    total, busy, stall = _run(load, comp, store, stages, 7)
    assert total >= load.sum() + store.sum()
    assert total >= comp.sum() and busy == comp.sum()
    assert stall == pytest.approx(total - busy)


def test_cache_reuse_within_a_wave():
    # 4×4 tiles of 32×32 over K=64, 1-byte elements, 4 cores: each wave is one tile row, so its
    # A row block is read once and each of the 4 B column blocks once per wave.
    a, b = gemm_hbm_read_bytes(1, 128, 128, 64, 32, 32, 4, 1.0, 1.0, False, False)
    assert a == 4 * 32 * 64 and b == 4 * 4 * 32 * 64
    # B fits the cache whole: each column block comes from HBM once.
    a, b = gemm_hbm_read_bytes(1, 128, 128, 64, 32, 32, 4, 1.0, 1.0, False, True)
    assert b == 128 * 64
