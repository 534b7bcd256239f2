"""Validation of every point before anything runs, and row keys."""

import os
from pathlib import Path

import pytest

from simulator.config.loader import load_chip
from simulator.errors import TortoiseError
from simulator.sweep.plan import digest, plan
from simulator.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]
HEAD = f"hardware: tpu_v4\nworkloads: [{ROOT / 'workloads/llama3_8b_decode.yaml'}]\n"


def plan_of(tmp_path: Path, body: str, head: str = HEAD):
    path = tmp_path / "s.yaml"
    path.write_text(head + body)
    return plan(load_sweep(str(path)))


@pytest.mark.parametrize("body, message", [
    ("axes:\n  core.mxu.rowz: [64, 128]\n", "s.yaml: axes.core.mxu.rowz: unknown field; allowed here: count, rows"),
    ("axes:\n  foo.bar: [1, 2]\n", "s.yaml: axes.foo.bar: not a hardware field"),
    ("axes:\n  memory.hbm.bandwidth: {from: 0.8 TB, to: 3.2 TB, steps: 4}\n",
     "s.yaml: axes.memory.hbm.bandwidth: from = '0.8 TB': a bandwidth such as"),
    ("axes:\n  core.mxu.rows: [64, 0]\n  memory.hbm.bandwidth: [1.2 TB/s]\n",
     "s.yaml: point 1 (core.mxu.rows=0, memory.hbm.bandwidth=1.2 TB/s): core.mxu.rows = 0: must be ≥ 1"),
    ("axes:\n  scenario.batch: [1, 0]\n", "s.yaml: point 1 (scenario.batch=0), workload"),
    ("set: [core.mxu.rows=-1]\n", "s.yaml: set: core.mxu.rows = -1: must be ≥ 1"),
])
def test_the_bad_point_or_axis_is_named(tmp_path, body, message):
    with pytest.raises(TortoiseError) as info:
        plan_of(tmp_path, body)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_rows_carry_the_config_each_point_loads(tmp_path):
    the_plan = plan_of(tmp_path, "axes:\n  core.mxu.rows, core.mxu.cols: [64, 128]\n"
                                 "  memory.hbm.bandwidth: [1 TB/s, 1.5 TB/s]\n  scenario.batch: [1, 4]\n")
    assert len(the_plan.rows) == 8 and [r.point for r in the_plan.rows] == list(range(8))
    row = the_plan.rows[3]  # rows 64, bandwidth 1.5 TB/s, batch 4
    chip = load_chip(row.task.hardware, list(row.task.hardware_overrides))
    assert (chip.core.mxu.rows, chip.core.mxu.cols) == (64, 64)
    assert chip.memory.hbm.bandwidth.value == 1.5e12
    assert row.columns == {"core.mxu.rows": 64, "core.mxu.cols": 64, "memory.hbm.bandwidth": 1.5,
                           "scenario.batch": 4}
    assert "scenario.batch=4" in row.task.workload_overrides
    assert len({r.task.key for r in the_plan.rows}) == 8  # every point a different config


def test_keys_follow_the_resolved_config_not_its_spelling(tmp_path, monkeypatch):
    """The same chip written two ways (preset name vs an axis value equal to the preset's) has one key; the
    key does not depend on the folder the sweep runs from."""
    a = plan_of(tmp_path, "axes:\n  core.mxu.rows: [128, 64]\n  memory.hbm.bandwidth: [1200 GB/s]\n")
    assert a.rows[0].task.key == plan_of(tmp_path, "").rows[0].task.key  # tpu_v4: 128 rows, 1.2 TB/s
    assert a.rows[1].task.key != a.rows[0].task.key
    monkeypatch.chdir(tmp_path)
    b = plan_of(tmp_path, "axes:\n  core.mxu.rows: [128, 64]\n  memory.hbm.bandwidth: [1200 GB/s]\n",
                head=f"hardware: tpu_v4\nworkloads: [{os.path.relpath(ROOT / 'workloads/llama3_8b_decode.yaml')}]\n")
    assert [r.task.key for r in b.rows] == [r.task.key for r in a.rows]


def test_digest_keeps_every_digit():
    """Rates print as `1200 GB/s` with 6 digits; the key must still tell 1.2 TB/s from 1.2000001 TB/s."""
    assert digest(load_chip("tpu_v4", ["memory.hbm.bandwidth=1.2 TB/s"])) != \
        digest(load_chip("tpu_v4", ["memory.hbm.bandwidth=1.2000001 TB/s"]))
    assert digest(load_chip("tpu_v4")) == digest(load_chip("tpu_v4", ["memory.hbm.bandwidth=1200 GB/s"]))
