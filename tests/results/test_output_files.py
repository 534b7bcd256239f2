"""What a run writes: summary.json is strict JSON (no Infinity or NaN)."""

import json
from pathlib import Path

import pytest

from simulator.api import run_files

ROOT = Path(__file__).resolve().parents[2]


def test_summary_json_is_strict_json_with_no_value_where_a_figure_is_not_finite(tmp_path):
    from simulator.results.output import json_safe, write_outputs

    summary = {"finite": 1.5, "ratio": float("inf"), "nested": {"nan": float("nan")}, "list": [float("-inf"), 2]}
    assert json_safe(summary) == {"finite": 1.5, "ratio": None, "nested": {"nan": None}, "list": [None, 2]}
    r = run_files("h100", str(ROOT / "workloads/gemm_demo.yaml"))
    write_outputs(tmp_path, r.summary | {"ratio": float("inf")}, r.table, "csv")
    text = (tmp_path / "summary.json").read_text()
    loaded = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in summary.json"))
    assert loaded["ratio"] is None and loaded["cycles"] == r.summary["cycles"]
