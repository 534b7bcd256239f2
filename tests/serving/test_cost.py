"""An iteration's cycles are the sum of its parts, exactly: one sequence's iteration takes what the
inference lowering's pass takes, on one chip and on a tensor-parallel group. The timing grid only rounds up,
by at most 1/GRID."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.api import placement_for, simulate_passes
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.serving.cost import GRID, IterationCost, on_grid
from simulator.workloads.loader import load_workload
from simulator.workloads.transformer import lower_pass

CASES = [("prefill", 1000, 0), ("prefill", 128, 0), ("prefill", 300, 0), ("prefill", 77, 0), ("decode", 1, 777),
         ("prefill", 512, 512), ("prefill", 200, 1000)]


@pytest.mark.parametrize("hardware,sets", [("h100", ()), ("dgx_h100", ("parallel.tp=4",)),
                                           ("dgx_h100", ("parallel.tp=2", "scenario.fused_attention=false"))])
def test_one_sequence_takes_the_pass_cycles_exactly(hardware, sets):
    chip = Chip(load_chip(hardware, []))
    w = load_workload("workloads/llama3_8b_decode.yaml", ["model.num_hidden_layers=2", *sets])
    placement = placement_for(chip, w)
    cost = IterationCost(chip, w.model, w.scenario, w.parallel, placement, "exact")
    for phase, new, context in CASES:
        p = lower_pass(w.model, w.scenario.model_copy(update={"batch": 1}), phase, new, context, parallel=w.parallel)
        expected = simulate_passes(chip, [p], None, placement)[0].cycles
        got = cost.iteration([context], []) if phase == "decode" else cost.iteration([], [(new, context, True)])
        assert got == expected, (phase, new, context)


def test_a_uniform_decode_batch_is_bracketed_by_the_decode_passes(h100):
    """The grid rounds the batch up for the body and the attention core (never the head): the iteration lies
    between the passes of the batch and of its grid point, and is the batch's own below 2·GRID."""
    w = load_workload("workloads/llama3_8b_decode.yaml", ["model.num_hidden_layers=2"])
    cost = IterationCost(h100, w.model, w.scenario, w.parallel, None, "grid")

    def decode_pass(batch):
        p = lower_pass(w.model, w.scenario.model_copy(update={"batch": batch}), "decode", 1, 4096)
        return simulate_passes(h100, [p])[0].cycles

    for batch in (1, 8, 63, 200, 250):
        got = cost.iteration([4096] * batch, [])
        assert decode_pass(batch) <= got <= decode_pass(on_grid(batch))
        if batch < 2 * GRID:
            assert got == decode_pass(batch)


def test_parts_are_timed_once_and_reused(h100):
    w = load_workload("workloads/llama3_8b_decode.yaml", ["model.num_hidden_layers=2"])
    cost = IterationCost(h100, w.model, w.scenario, w.parallel, None, "grid")
    first = cost.iteration([100, 200, 300], [(64, 0, True)])
    timed = cost.timed
    assert cost.iteration([100, 200, 300], [(64, 0, True)]) == first and cost.timed == timed
    assert cost.lookups == 2 * timed


@given(st.integers(1, 2**22))
def test_the_grid_rounds_up_by_at_most_one_step_in_grid(value):
    rounded = on_grid(value)
    assert value <= rounded <= value * (1 + 1 / GRID)
    assert on_grid(rounded) == rounded  # grid points are fixed
    assert value >= 2 * GRID or rounded == value


def test_mixed_decodes_are_timed_at_their_mean_context(h100):
    """MACs and KV bytes of the group are those of its sequences (mean width), rounded up on the grid."""
    w = load_workload("workloads/llama3_8b_decode.yaml", ["model.num_hidden_layers=2"])
    exact = IterationCost(h100, w.model, w.scenario, w.parallel, None, "exact")
    contexts = [1000, 2000, 3000]
    assert exact.decode_core(contexts) == exact.core(3, 1, 2000)
    assert exact.decode_core([1000, 1001]) == exact.core(2, 1, 1001)  # ceil of the mean
