"""A serving sweep over the request rate: the same figures whether one worker or two run the points."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def _sweeps(tmp_path: Path, *workers: int) -> list[pd.DataFrame]:
    """The sweep's table with each number of workers, the sweeps run at once (each its own process)."""
    spec = tmp_path / "load.yaml"
    spec.write_text(f"""\
name: load
hardware: h100
workloads: [{ROOT / 'workloads' / 'llama3_8b_serve.yaml'}]
axes:
  model.num_hidden_layers: [2]
  serving.requests: [60]
  serving.arrival.rate: [2, 6, 20]
""")
    running = [subprocess.Popen([sys.executable, "-c", "import sys; from simulator.cli import main; sys.exit(main())",
                                 "sweep", str(spec), "--out", str(tmp_path / f"w{n}"), "--workers", str(n)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in workers]
    for process in running:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, (out, err)
    return [pd.read_csv(tmp_path / f"w{n}" / "results.csv") for n in workers]


def test_one_or_two_workers_give_the_same_rows(tmp_path):
    one, two = _sweeps(tmp_path, 1, 2)
    columns = [c for c in one.columns if c.endswith(("_s", "_per_s")) or c in ("iterations", "preemptions")]
    assert len(one) == 3 and (one["status"] == "ok").all()
    pd.testing.assert_frame_equal(one[columns], two[columns])
    assert one["ttft_p99_s"].is_monotonic_increasing  # more load, longer queues
