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
