"""A sweep validates each point once and runs it with the config validation loaded (runner.use_plan), hands
local workers their tasks in batches, and hashes configs with a faster canonical(). None of it may change a
row, a key or an error: each is checked here against the way it was done before."""

import dataclasses
import gc
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel

from simulator.config import loader as config_loader
from simulator.config.loader import load_chip
from simulator.config.presets import preset_names
from simulator.config.units import Latency, Rate
from simulator.errors import TortoiseError
from simulator.sweep import runner
from simulator.sweep.plan import canonical, digest, plan, row_key
from simulator.sweep.spec import load_sweep
from simulator.workloads.loader import load_workload
from tests.sweep.test_command import sweep, table

ROOT = Path(__file__).resolve().parents[2]
DECODE = ROOT / "workloads/llama3_8b_decode.yaml"
# Unit-bearing values of every kind a point sets, plain numbers, and a tied pair; 2 layers keep points quick.
UNITS = f"""name: units
hardware: tpu_v4
workloads: [{DECODE}]
set: [model.num_hidden_layers=2]
axes:
  core.mxu.rows, core.mxu.cols: [64, 128]
  memory.hbm.bandwidth: [1.2 TB/s, 800 GB/s, 1.2000001 TB/s]
  core.sram.size: [24 MiB, 4 MiB]
  scenario.batch: [1, 4]
"""


@pytest.fixture(autouse=True)
def _no_plan_left_behind():
    yield
    runner.use_plan(None)


def _old_canonical(obj):
    """canonical() as every stored key was made with (kept here verbatim as the oracle)."""
    if isinstance(obj, BaseModel):
        return {name: _old_canonical(getattr(obj, name)) for name in type(obj).model_fields}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _old_canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "source"}
    if isinstance(obj, dict):
        return {str(k): _old_canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_old_canonical(v) for v in obj]
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return repr(obj)


def _old_digest(obj) -> str:
    text = json.dumps(_old_canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _old_run(task) -> dict:
    """A row as the runner made it before: load and validate the point's chip and workload here, then run."""
    from simulator.api import run_workload
    from simulator.hardware.chip import Chip
    from simulator.results.row import flat_row

    config = load_chip(task.hardware, list(task.hardware_overrides))
    workload = load_workload(task.workload, list(task.workload_overrides))
    assert row_key(_old_digest(config), _old_digest(workload)) == task.key
    try:
        result = run_workload(Chip(config), workload)
    except TortoiseError as exc:
        return {"status": "error", "error": " ".join(str(exc).split())}
    return {"status": "ok", "error": ""} | flat_row(result.summary, getattr(result, "breakdown_rows", None))


def _text(row: dict) -> str:
    """A row as points.jsonl stores it: every digit, NaN as NaN."""
    return json.dumps(row, sort_keys=True)


def _plan(tmp_path: Path, body: str = UNITS):
    path = tmp_path / "units.yaml"
    path.write_text(body)
    return plan(load_sweep(str(path))), path


@dataclasses.dataclass
class _Odd:
    source: str
    values: tuple
    keyed: dict


def _objects():
    yield from (load_chip(name) for name in preset_names())
    yield load_chip("tpu_v4", ["memory.hbm.bandwidth=1.2000001 TB/s", "core.sram.size=24 MiB"])
    for path in sorted((ROOT / "configs/examples").glob("*.yaml")):
        yield config_loader.load_system(str(path))
    for path in sorted((ROOT / "workloads").glob("*.yaml")):
        yield load_workload(str(path))
    yield _Odd("a/path", (1, 2.5, None, True, "µs", Rate(1.2e12, False)), {1: Latency(3.0, True), "k": [1e-300]})
    yield {"set": frozenset([1]), "nan": math.nan, "inf": -math.inf, "path": Path("x"), 2.5: b"bytes"}


def test_canonical_and_digest_are_what_stored_keys_were_made_with():
    for obj in _objects():
        assert canonical(obj) == _old_canonical(obj) or _text(canonical(obj)) == _text(_old_canonical(obj))
        assert digest(obj) == _old_digest(obj)


def test_digests_of_equal_content_are_equal_in_another_process(tmp_path):
    the_plan, _ = _plan(tmp_path)
    keys = [row.task.key for row in the_plan.rows]
    code = ("import sys, json\nfrom simulator.sweep.plan import plan\nfrom simulator.sweep.spec import load_sweep\n"
            "print(json.dumps([r.task.key for r in plan(load_sweep(sys.argv[1])).rows]))\n")
    for seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "units.yaml")], check=True, cwd=tmp_path,
                             capture_output=True, text=True, env=os.environ | {"PYTHONHASHSEED": seed}).stdout
        assert json.loads(out) == keys
    assert len(set(keys)) == len(keys)


def test_a_point_run_with_the_planned_config_gives_the_row_of_a_fresh_load(tmp_path):
    the_plan, _ = _plan(tmp_path)
    tasks = [row.task for row in the_plan.rows]
    old = [_text(_old_run(task)) for task in tasks]
    runner.use_plan(the_plan)
    try:
        assert [_text(runner.run_task(task)) for task in tasks] == old
        for task in tasks:  # the run used the very config validation made
            chip, _ = runner._CHIPS[(task.hardware, task.hardware_overrides)]
            assert chip.config is the_plan.chips[(task.hardware, task.hardware_overrides)][0]
    finally:
        runner.use_plan(None)  # as a dask worker: loads each point
    assert [_text(runner.run_task(task)) for task in tasks] == old
    assert any('"memory.hbm.bandwidth=\\"1.2 TB/s\\""' in _text(task.hardware_overrides) for task in tasks)


def test_each_point_is_validated_once(tmp_path, monkeypatch):
    calls = []
    validate = config_loader.validate
    monkeypatch.setattr(config_loader, "validate", lambda *a, **k: calls.append(a[0]) or validate(*a, **k))
    _, path = _plan(tmp_path)
    calls.clear()
    assert sweep(path, tmp_path / "out", "--workers", "1") == 0
    assert len(calls) == 12  # 2 × 3 × 2 chips, once each, in planning; the 24 rows load none again
    assert not runner._PLANNED_CHIPS  # and the sweep does not keep them afterwards


def test_a_sweep_table_is_the_same_with_and_without_the_planned_configs(tmp_path, monkeypatch):
    _, path = _plan(tmp_path)
    assert sweep(path, tmp_path / "fast", "--workers", "1") == 0
    assert sweep(path, tmp_path / "batched", "--workers", "2") == 0
    monkeypatch.setattr("simulator.sweep.command.use_plan", lambda the_plan: runner.use_plan(
        the_plan and dataclasses.replace(the_plan, chips={}, workloads={})))
    assert sweep(path, tmp_path / "loading", "--workers", "1") == 0
    for other in ("batched", "loading"):
        pd.testing.assert_frame_equal(table(tmp_path / other), table(tmp_path / "fast"))
        assert (tmp_path / other / "results.csv").read_bytes() == (tmp_path / "fast" / "results.csv").read_bytes()
    assert sorted((tmp_path / "loading" / "points.jsonl").read_text().splitlines()) == \
        sorted((tmp_path / "fast" / "points.jsonl").read_text().splitlines())


def test_rows_stored_with_keys_made_the_old_way_are_reused(tmp_path, capsys):
    """A folder written before this change: its rows' keys come from the old digest; a rerun skips them."""
    the_plan, path = _plan(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    stored = []
    for row in the_plan.rows[:10]:
        task = row.task
        key = row_key(_old_digest(load_chip(task.hardware, list(task.hardware_overrides))),
                      _old_digest(load_workload(task.workload, list(task.workload_overrides))))
        stored.append(json.dumps({"key": key} | _old_run(task)))
    (out / "points.jsonl").write_text("\n".join(stored) + "\n")
    (out / "meta.json").write_text('{"kind": "sweep"}\n')
    assert sweep(path, out, "--workers", "1") == 0
    assert "10 already done" in capsys.readouterr().out
    lines = (out / "points.jsonl").read_text().splitlines()
    assert len(lines) == 24 and lines[:10] == stored


@pytest.mark.parametrize("body, message", [
    ("axes:\n  core.sram.size: [24 MiB, 0 MiB]\n", "point 1 (core.sram.size=0 MiB): core.sram.size = '0 MiB': must be "
                                                   "a size > 0"),
    ("axes:\n  core.mxu.rows: [64, 0]\n  memory.hbm.bandwidth: [1.2 TB/s]\n",
     "point 1 (core.mxu.rows=0, memory.hbm.bandwidth=1.2 TB/s): core.mxu.rows = 0: must be ≥ 1"),
    ("set: [memory.hbm.bandwidth=1.2 TB]\n", "set: memory.hbm.bandwidth = '1.2 TB': a bandwidth such as 1.2 TB/s"),
    ("axes:\n  memory.hbm.bandwidth: [1.2 GiB, 2.4 GiB]\n",
     "axes.memory.hbm.bandwidth: ['1.2 GiB', '2.4 GiB']: a bandwidth such as 1.2 TB/s"),
])
def test_a_bad_value_is_still_one_line_at_planning_time(tmp_path, body, message):
    head = f"hardware: tpu_v4\nworkloads: [{DECODE}]\n"
    with pytest.raises(TortoiseError) as info:
        _plan(tmp_path, head + body)
    line = str(info.value)
    assert line.startswith(f"{tmp_path / 'units.yaml'}: ") and message in line and "\n" not in line, line


# ---- local workers -----------------------------------------------------------------------------------------


def _collect(run, tasks, *args) -> dict:
    got: dict = {}

    def report(i, result):
        assert i not in got, f"row {i} reported twice"
        got[i] = result

    run(tasks, *args, report)
    assert sorted(got) == list(range(len(tasks)))
    return got


def test_batched_workers_give_every_row_once_and_as_in_this_process(tmp_path):
    the_plan, _ = _plan(tmp_path)
    runner.use_plan(the_plan)
    tasks = [row.task for row in the_plan.rows] * 3  # 72 tasks: batches grow past one
    here = _collect(runner.run_in_process, tasks)
    for workers in (1, 2):
        there = _collect(runner.run_local, tasks, workers)
        assert [_text(there[i]) for i in range(len(tasks))] == [_text(here[i]) for i in range(len(tasks))]


def test_a_task_that_crashes_in_a_worker_is_its_own_retry_row(tmp_path, monkeypatch):
    the_plan, _ = _plan(tmp_path)
    runner.use_plan(the_plan)
    tasks = [row.task for row in the_plan.rows] * 2
    bad = tasks[5].key
    run_task = runner.run_task

    def crashing(task):
        if task.key == bad:
            raise RuntimeError("a bug")
        return run_task(task)

    monkeypatch.setattr(runner, "run_task", crashing)  # the forked workers inherit it
    got = _collect(runner.run_local, tasks, 2)
    for i, task in enumerate(tasks):
        if task.key == bad:
            assert got[i] == {"status": "error", "error": "internal error: RuntimeError: a bug", "retry": True}
        else:
            assert got[i]["status"] == "ok" and "retry" not in got[i]


def test_a_worker_that_dies_leaves_retry_rows_and_the_run_ends(tmp_path, monkeypatch):
    the_plan, _ = _plan(tmp_path)
    runner.use_plan(the_plan)
    tasks = [row.task for row in the_plan.rows] * 2
    fatal = tasks[30].key
    run_task = runner.run_task

    def dying(task):
        if task.key == fatal:
            os._exit(3)
        return run_task(task)

    monkeypatch.setattr(runner, "run_task", dying)
    got = _collect(runner.run_local, tasks, 2)
    retried = [i for i, r in got.items() if r.get("retry")]
    assert 6 in retried or 30 in retried
    assert all(got[i]["error"].startswith("internal error: BrokenProcessPool") for i in retried)
    assert all(got[i]["status"] == "ok" for i in set(got) - set(retried))


def test_batch_sizes():
    assert runner.batch_size(None, 500, 2) == 1  # nothing timed yet
    assert runner.batch_size(0.005, 500, 2) == 10  # about BATCH_S of work
    assert runner.batch_size(1e-7, 10_000, 2) == runner.MAX_BATCH
    assert runner.batch_size(0.5, 500, 2) == 1
    assert runner.batch_size(0.001, 20, 2) == 5  # the tail: two batches per worker of what is left
    assert runner.batch_size(0.001, 3, 2) == 1


def test_the_collector_is_left_as_it_was(tmp_path):
    the_plan, _ = _plan(tmp_path, UNITS.replace("[64, 128]", "[64]").replace(", 800 GB/s, 1.2000001 TB/s", ""))
    runner.use_plan(the_plan)
    tasks = [row.task for row in the_plan.rows]
    assert gc.get_freeze_count() == 0
    frozen_while_running = []
    _collect(runner.run_in_process, tasks[:1])
    runner.run_in_process(tasks[:1], lambda i, r: frozen_while_running.append(gc.get_freeze_count()))
    assert frozen_while_running[0] > 0 and gc.get_freeze_count() == 0
    gc.freeze()  # someone else's freeze is theirs to undo
    try:
        count = gc.get_freeze_count()
        _collect(runner.run_local, tasks[:2], 2)
        assert gc.get_freeze_count() == count
    finally:
        gc.unfreeze()
