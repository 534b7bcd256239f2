"""`tortoise run … --trace FILE` writes a trace Perfetto can open, and says where."""

import json
from pathlib import Path

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_run_writes_the_trace(tmp_path, capsys):
    path = tmp_path / "run.json"
    code = main(["run", "h100", str(ROOT / "workloads/llama3_8b_decode.yaml"), "--set", "model.num_hidden_layers=2",
                 "--trace", str(path)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert f"wrote {path} (open it in https://ui.perfetto.dev)" in out
    trace = json.loads(path.read_text())
    assert trace["metadata"]["chip"] == "h100" and any(e["ph"] == "X" for e in trace["traceEvents"])


def test_unwritable_trace_path_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["run", "h100", str(ROOT / "workloads/gemm_demo.yaml"), "--trace", str(blocker / "run.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--trace" in err
