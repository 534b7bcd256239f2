"""The same sweep on a dask.distributed cluster (a LocalCluster on loopback) and locally: identical tables."""

import pandas as pd
import pytest

from simulator.errors import TortoiseError
from simulator.sweep.plan import Task, plan
from simulator.sweep.runner import run_dask, run_task
from simulator.sweep.spec import load_sweep
from tests.sweep.test_command import small_sweep, sweep, table


def test_dask_and_local_runs_give_identical_tables(tmp_path):
    distributed = pytest.importorskip("distributed")
    path = small_sweep(tmp_path, steps=2)
    assert sweep(path, tmp_path / "local", "--workers", "2") == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert sweep(path, tmp_path / "dask", "--scheduler", cluster.scheduler_address) == 0
    pd.testing.assert_frame_equal(table(tmp_path / "dask"), table(tmp_path / "local"))
    assert (tmp_path / "dask" / "results.csv").read_bytes() == (tmp_path / "local" / "results.csv").read_bytes()


def test_an_unreachable_scheduler_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("simulator.sweep.runner.CONNECT_TIMEOUT", "1s")
    the_plan = plan(load_sweep(str(small_sweep(tmp_path))))
    with pytest.raises(TortoiseError, match="--scheduler tcp://127.0.0.1:9: cannot connect"):
        run_dask([the_plan.rows[0].task], "tcp://127.0.0.1:9", lambda i, r: None)


def test_a_worker_that_resolves_a_different_config_refuses_the_task(tmp_path):
    """A key computed from one config must never label another config's results (e.g. another version)."""
    task = plan(load_sweep(str(small_sweep(tmp_path)))).rows[0].task
    result = run_task(Task(task.hardware, task.hardware_overrides + ("core.mxu.rows=32",), task.workload,
                           task.workload_overrides, task.key))
    assert result["status"] == "error" and "different config" in result["error"]
    assert run_task(task)["status"] == "ok"


def test_an_error_row_reads_the_same_wherever_the_row_ran(tmp_path, monkeypatch):
    """A dask worker loads each point itself, in its own working folder and install; a local worker uses the
    configs planning loaded. The error names the bundled workload as the sweep does, either way."""
    from pathlib import Path

    from simulator.sweep.runner import use_plan

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "s.yaml"
    path.write_text("hardware: tpu_v4\nworkloads: [llama3_8b_decode]\nset: [model.num_hidden_layers=2]\n"
                    "axes:\n  scenario.batch: [1, 4096]\n  parallel.tp: [1, 2]\n")
    monkeypatch.chdir(root)  # where `workloads/llama3_8b_decode.yaml` is a relative path to a file
    the_plan = plan(load_sweep(str(path)))
    use_plan(the_plan)
    try:
        local = [run_task(row.task)["error"] for row in the_plan.rows]
    finally:
        use_plan(None)
    monkeypatch.chdir(tmp_path)  # where it is not: the bundled file, by its absolute path
    remote = [run_task(row.task)["error"] for row in the_plan.rows]
    assert remote == local
    assert [e.split(":")[0] for e in local] == ["", "workloads/llama3_8b_decode.yaml",
                                                "workloads/llama3_8b_decode.yaml", "workloads/llama3_8b_decode.yaml"]
