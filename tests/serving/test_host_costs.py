"""The host's cost of a scheduler call: per call, per sequence, per sequence-step, and an in-process front end."""

import numpy as np
import pytest

from simulator.errors import ConfigError
from simulator.serving.loop import Loop
from simulator.serving.plan import Plan
from simulator.serving.service import simulate_service

LOAD = """\
requests: 8
arrival: offline
prompt: fixed:50
output: fixed:25
scheduler: {{policy: continuous, max_num_seqs: 8, steps: 10, overhead: 1 ms, overhead_per_sequence_step: 10 us{more}}}
"""


def iterations(h100, service, more=""):
    result = simulate_service(h100, service(LOAD.format(more=more)))
    return result.iterations_table, result.summary


def test_a_call_pays_each_step_of_each_sequence_it_runs(h100, service):
    # the prefill call: 8 sequences, one step each; then 24 tokens each in calls of 10, 10 and 4 steps
    table, s = iterations(h100, service)
    sequence_steps = [8, 80, 80, 32]
    assert list(table["decodes"] * table["steps"] + table["prefills"]) == sequence_steps
    cycles = [round(1e-3 * h100.clock_hz) + round(10e-6 * h100.clock_hz * n) for n in sequence_steps]
    assert list((table["host_s"] * h100.clock_hz).round().astype(int)) == cycles
    assert s["host_overhead_per_sequence_step_s"] == pytest.approx(10e-6)


def test_a_sequence_that_finishes_mid_call_stops_paying():
    class Book:
        output = np.array([25, 5])
        generated = np.array([1, 1])

    class Costs:
        host_per_seq_step = 1.0
        book = Book()

    plan = Plan(decodes=np.array([0, 1]), prefills=[(2, 50)], steps=10)
    assert Loop._sequence_steps(Costs(), plan) == 10 + 4 + 1  # the second has 4 tokens left; a prefill is 1


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_an_in_process_front_end_stretches_every_call(h100, service, share):
    base, _ = iterations(h100, service)
    shared, s = iterations(h100, service, f", frontend_share: {share}")
    busy = (base["end_s"] - base["start_s"]) * h100.clock_hz
    stretched = (shared["end_s"] - shared["start_s"]) * h100.clock_hz
    assert list(stretched.round()) == list((busy / (1 - share)).round())
    assert s["host_frontend_share"] == share
    # the front end's time counts as host time: the engine's own part is unchanged
    assert list(((shared["end_s"] - shared["start_s"] - shared["host_s"]) * h100.clock_hz).round()) == list(
        ((base["end_s"] - base["start_s"] - base["host_s"]) * h100.clock_hz).round())


@pytest.mark.parametrize("field, value", [("frontend_share", 1.0), ("frontend_share", -0.1),
                                          ("overhead_per_sequence_step", "-3 us"), ("overhead_per_sequence_step", "x")])
def test_bad_host_costs_are_one_line(service, field, value):
    text = LOAD.format(more="").replace("overhead: 1 ms, overhead_per_sequence_step: 10 us", f"{field}: {value}")
    with pytest.raises(ConfigError) as info:
        service(text)
    assert f"serving.scheduler.{field}" in str(info.value) and "\n" not in str(info.value)
