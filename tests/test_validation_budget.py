"""The error budget against every public measurement (benchmarks/validate_all.py, docs/validation.md § 0): the
median and worst |error| may not get worse than the committed benchmarks/validation/summary.json, over all
cases or the held-out ones; and the harness profile's host costs are what the calibration derives."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from simulator.config.loader import load_chip

ROOT = Path(__file__).resolve().parents[1]
SLACK = 5e-4  # half a tenth of a point: float noise across platforms, not a change of the model


def script():
    """benchmarks/validate_all.py, imported by name: its worker processes find its functions there."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module("validate_all")


@pytest.fixture(scope="module")
def cases():
    return script().collect(workers=2)  # the groups in two processes: the same cases, in half the time


def test_the_budget_is_no_worse_than_the_committed_table(cases):
    committed = json.loads((ROOT / "benchmarks" / "validation" / "summary.json").read_text())["budget"]
    now = script().budget(cases)
    for subset in ("all", "held-out"):
        assert now[subset]["cases"] == committed[subset]["cases"], subset  # no case dropped or added silently
        for key in ("median", "worst"):
            assert now[subset][key] <= committed[subset][key] + SLACK, (subset, key, now[subset], committed[subset])


def test_every_case_is_a_finite_comparison_with_a_subset(cases):
    assert len(cases) >= 100
    for c in cases:
        assert c.measured > 0 and c.simulated > 0, c
        assert c.subset in ("calibration", "held-out"), c
        rate = c.simulated / c.measured - 1
        assert abs(c.error - rate) < 1e-12 or abs(c.error - (c.measured / c.simulated - 1)) < 1e-12, c
    groups = {c.group for c in cases}
    assert groups == {"gemm", "kernels", "llm decode", "collectives", "training", "serving", "dram"}


def test_the_harness_profile_holds_what_the_calibration_derives():
    derived = script().calibrate_harness()
    profile = load_chip("a100", ["runtime=eager_synchronized"]).runtime
    assert (profile.host_per_kernel.value, profile.host_after_launch.value) == pytest.approx(derived["softmax"])
    for kind in ("layernorm", "gelu", "gemm"):
        assert profile.host(kind).value == pytest.approx(derived[kind][0])
        assert profile.after_launch(kind).value == pytest.approx(derived[kind][1])


def test_the_sustained_tensor_clocks_are_what_their_calibration_rows_give():
    derived = script().calibrate_tensor_clocks()
    assert set(derived) == {"a100", "h100"}
    for name, mhz in derived.items():
        assert load_chip(name).core.mxu.gemm.tensor_clock == pytest.approx(round(mhz) * 1e6), name


def test_the_nvlink_hop_latency_is_what_its_fit_row_gives():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    path = ROOT / "benchmarks" / "validate_collectives.py"
    spec = importlib.util.spec_from_file_location("validate_collectives", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    latency = load_chip("dgx_h100").system.link.latency
    assert latency.value == pytest.approx(module.calibrate_hop())
