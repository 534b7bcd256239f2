"""`tortoise sweep` end to end: tables, resume after SIGKILL and Ctrl-C, one-line errors through the CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = f"""name: small
hardware: tpu_v4
workloads: [{ROOT / 'workloads/llama3_8b_decode.yaml'}]
set: [model.num_hidden_layers=2]
axes:
  core.mxu.rows, core.mxu.cols: [64, 128]
  memory.hbm.bandwidth: {{from: 1 TB/s, to: 2 TB/s, steps: {{steps}}}}
  core.sram.size: [16 MiB, 32 MiB]
  scenario.batch: [1, 8]
"""


def small_sweep(tmp_path: Path, steps: int = 2) -> Path:
    """2 × steps × 2 × 2 points of a 2-layer Llama-3-8B decode step: tens of milliseconds each."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL.replace("{steps}", str(steps)))
    return path


def sweep(path: Path, out: Path, *extra: str) -> int:
    return main(["sweep", str(path), "--out", str(out), *extra])


def table(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "results.parquet")


def jsonl_keys(out: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (out / "points.jsonl").read_text().splitlines()]


def start(path: Path, out: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simulator.cli", "sweep", str(path), "--out", str(out),
                             "--workers", "1"], cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def wait_for_rows(out: Path, process: subprocess.Popen, rows: int) -> None:
    record = out / "points.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if record.is_file() and record.read_text().count("\n") >= rows:
            return
        time.sleep(0.005)
    raise AssertionError("the sweep never wrote a row")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """An uninterrupted in-process run of the 24-point sweep."""
    tmp = tmp_path_factory.mktemp("reference")
    assert sweep(small_sweep(tmp, steps=3), tmp / "out", "--workers", "1") == 0
    return table(tmp / "out")


def test_table_has_a_row_per_point_and_workload_with_axes_and_metrics(reference, tmp_path):
    assert list(reference["point"]) == list(range(24))
    assert (reference["status"] == "ok").all()
    assert list(reference.columns[:9]) == ["point", "key", "hardware", "workload", "workload_file", "core.mxu.rows",
                                           "core.mxu.cols", "memory.hbm.bandwidth", "core.sram.size"]
    assert (reference["core.mxu.rows"] == reference["core.mxu.cols"]).all()
    assert sorted(set(reference["memory.hbm.bandwidth"])) == [1.0, 1.5, 2.0]
    assert (reference["batch"] == reference["scenario.batch"]).all()  # the workload saw the axis value
    assert (reference["hbm_bandwidth_tb_s"] == reference["memory.hbm.bandwidth"]).all()  # and the chip did
    # more bandwidth never makes a memory-bound decode step slower
    for _, group in reference.groupby(["core.mxu.rows", "core.sram.size", "scenario.batch"]):
        assert group.sort_values("memory.hbm.bandwidth")["seconds"].is_monotonic_decreasing


def test_the_same_sweep_twice_and_with_two_workers_gives_identical_tables(reference, tmp_path):
    path = small_sweep(tmp_path, steps=3)
    assert sweep(path, tmp_path / "a", "--workers", "2") == 0
    pd.testing.assert_frame_equal(table(tmp_path / "a"), reference)
    assert (tmp_path / "a" / "results.csv").read_bytes() == _csv_bytes(reference, tmp_path)
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["kind"] == "sweep" and meta["points"] == 24 and meta["rows"] == 24
    assert meta["axes"]["memory.hbm.bandwidth"] == {"unit": "TB/s", "values": [1, 1.5, 2]}


def _csv_bytes(frame: pd.DataFrame, tmp_path: Path) -> bytes:
    frame.to_csv(tmp_path / "ref.csv", index=False)
    return (tmp_path / "ref.csv").read_bytes()


def test_rerun_skips_what_is_done(reference, tmp_path, capsys):
    path = small_sweep(tmp_path, steps=3)
    assert sweep(path, tmp_path / "out", "--workers", "1") == 0
    before = (tmp_path / "out" / "points.jsonl").read_text()
    capsys.readouterr()
    assert sweep(path, tmp_path / "out") == 0
    assert "24 already done" in capsys.readouterr().out
    assert (tmp_path / "out" / "points.jsonl").read_text() == before


def test_sigkill_halfway_then_resume_gives_exactly_the_uninterrupted_rows(reference, tmp_path, capsys):
    path, out = small_sweep(tmp_path, steps=3), tmp_path / "out"
    process = start(path, out)
    wait_for_rows(out, process, 2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed = len(jsonl_keys(out))
    assert 0 < killed < 24, "the sweep finished before it was killed; the test proves nothing"
    with open(out / "points.jsonl", "a") as f:  # a torn last line, as a kill mid-write leaves
        f.write('{"key": "0123abc", "status": "o')
    assert sweep(path, out, "--workers", "1") == 0
    assert f"{killed} already done" in capsys.readouterr().out
    keys = jsonl_keys(out)
    assert len(keys) == len(set(keys)) == 24  # nothing duplicated, the torn line gone
    pd.testing.assert_frame_equal(table(out), reference)


def test_ctrl_c_keeps_finished_rows_and_exits_130(tmp_path):
    path, out = small_sweep(tmp_path, steps=6), tmp_path / "out"  # 48 points
    # as from a terminal: a test run started in the background (a non-interactive shell's `&`) ignores SIGINT,
    # and a child that inherits that disposition never sees the Ctrl-C
    process = start(path, out, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_rows(out, process, 1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    done = len(jsonl_keys(out))
    assert 0 < done < 48
    assert f"interrupted: {done} of 48 rows done; rerun the same command to resume" in err
    assert "Traceback" not in err
    assert len(table(out)) == done


def test_an_error_while_simulating_is_a_row(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(f"hardware: tpu_v4\nworkloads: [{ROOT / 'workloads/llama3_8b_decode.yaml'}]\n"
                    "set: [model.num_hidden_layers=2]\naxes:\n  scenario.batch: [1, 4096]\n")
    assert sweep(path, tmp_path / "out", "--workers", "1") == 0
    rows = table(tmp_path / "out")
    assert list(rows["status"]) == ["ok", "error"]
    assert "needs" in rows["error"][1] and "HBM" in rows["error"][1] and pd.isna(rows["tokens_per_s"][1])
    assert "1 error" in capsys.readouterr().out


def test_a_folder_of_another_sweep_keeps_its_rows_out_of_the_table(reference, tmp_path):
    out = tmp_path / "out"
    other = tmp_path / "other.yaml"
    other.write_text(f"hardware: h100\nworkloads: [{ROOT / 'workloads/llama3_8b_decode.yaml'}]\n"
                     "set: [model.num_hidden_layers=2]\n")
    assert sweep(other, out, "--workers", "1") == 0
    assert sweep(small_sweep(tmp_path, steps=3), out, "--workers", "1") == 0
    assert len(jsonl_keys(out)) == 25
    pd.testing.assert_frame_equal(table(out), reference)


def test_dry_run_validates_and_runs_nothing(tmp_path, capsys):
    assert sweep(small_sweep(tmp_path), tmp_path / "out", "--dry-run") == 0
    text = capsys.readouterr().out
    assert "16 points × 1 workload(s) = 16 rows" in text and "point 0: core.mxu.rows=64" in text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body, message", [
    ("axes:\n  core.mxu.rowz: [64, 128]\n", "axes.core.mxu.rowz: unknown field; allowed here:"),
    ("axes:\n  core.mxu.rows: []\n", "empty axis"),
    ("axes:\n  memory.hbm.bandwidth: {from: 0.8 TB, to: 3.2 TB, steps: 7}\n",
     "axes.memory.hbm.bandwidth: from = '0.8 TB': a bandwidth such as"),
    ("mode: zip\naxes:\n  core.mxu.rows: [64, 128]\n  core.mxu.cols: [64, 128, 256]\n",
     "mode zip needs axes of equal length; core.mxu.rows has 2, core.mxu.cols has 3"),
    ("mode: random\naxes:\n  core.mxu.rows: [64, 128]\n", "samples = (missing)"),
    ("mode: random\nsamples: 9\naxes:\n  core.mxu.rows: [64, 128]\n", "samples = 9: must be ≤ 2"),
    ("mode: sideways\n", "mode = 'sideways'"),
    ("colour: blue\n", "colour = 'blue': unknown field"),
    ("axes:\n  core.mxu.rows: [64, 0]\n", "point 1 (core.mxu.rows=0): core.mxu.rows = 0: must be ≥ 1"),
])
def test_bad_sweep_files_get_one_line_through_the_cli(tmp_path, capsys, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"hardware: tpu_v4\nworkloads: [{ROOT / 'workloads/llama3_8b_decode.yaml'}]\n" + body)
    assert sweep(path, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"tortoise: error: {path}: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_an_out_folder_holding_something_else_is_refused(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert sweep(small_sweep(tmp_path), tmp_path / "out") == 2
    assert "holds other files and no sweep" in capsys.readouterr().err


# ---- one sweep per folder, leftovers, a full disk ------------------------------------------------------------


def test_a_second_sweep_on_the_same_folder_is_refused_and_a_killed_ones_lock_is_taken_over(reference, tmp_path,
                                                                                             capsys):
    path, out = small_sweep(tmp_path, steps=3), tmp_path / "out"
    process = start(path, out)
    try:
        wait_for_rows(out, process, 1)
        process.send_signal(signal.SIGSTOP)  # still holding the folder, and going nowhere
        assert sweep(path, out, "--workers", "1") == 2
        err = capsys.readouterr().err
        assert err == (f"tortoise: error: --out {out}: another sweep (process {process.pid}) is writing to this "
                       "folder; wait for it to finish or give another folder\n")
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # its lock file stays, naming a dead process
        process.wait()
    assert (out / ".tortoise.lock").read_text() == f"{process.pid}\n"
    killed = len(jsonl_keys(out))
    assert sweep(path, out, "--workers", "1") == 0
    assert f"{killed} already done" in capsys.readouterr().out
    pd.testing.assert_frame_equal(table(out), reference)
    assert not (out / ".tortoise.lock").exists()


def test_what_a_killed_table_write_left_is_cleaned_on_the_next_run(tmp_path):
    from tests.results.test_files import dead_pid

    path, out = small_sweep(tmp_path), tmp_path / "out"
    assert sweep(path, out, "--workers", "1") == 0
    dead = dead_pid()
    left = [f".results.csv.tmp{dead}", f".results.parquet.tmp{dead}", f".meta.json.tmp{dead}",
            ".results.csv.tmp1"]  # PID 1 is alive, but no sweep can be writing under our lock
    for name in left:
        (out / name).write_text("half a table")
    (out / ".notes.tmp7").write_text("mine")  # not a name a sweep writes
    assert sweep(path, out, "--workers", "1") == 0
    assert sorted(p.name for p in out.iterdir()) == [".notes.tmp7", "meta.json", "points.jsonl", "results.csv",
                                                     "results.parquet", "sweep.yaml"]


def test_a_full_disk_stops_the_sweep_in_one_line_and_keeps_the_finished_rows(reference, tmp_path, capsys):
    """Files may not grow past 6,000 bytes (RLIMIT_FSIZE: the kernel refuses the write, as a full disk does):
    two rows of points.jsonl fit, the third does not."""
    resource = pytest.importorskip("resource")
    path, out = small_sweep(tmp_path, steps=3), tmp_path / "out"

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    done = subprocess.run([sys.executable, "-m", "simulator.cli", "sweep", str(path), "--out", str(out), "--workers",
                           "1"], cwd=ROOT, capture_output=True, text=True, preexec_fn=small_files, timeout=120,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"tortoise: error: --out {out}: cannot write ")
    assert done.stderr.endswith("File too large); the rows finished so far are kept in points.jsonl: make room and "
                                "rerun the same command to resume\n")
    complete = (out / "points.jsonl").read_bytes().count(b"\n")
    assert complete >= 1 and not (out / ".tortoise.lock").exists()
    assert not [p for p in out.iterdir() if ".tmp" in p.name]  # no half table left behind
    assert sweep(path, out, "--workers", "1") == 0
    assert f"{complete} already done" in capsys.readouterr().out
    pd.testing.assert_frame_equal(table(out), reference)


def test_an_unwritable_out_is_one_line_before_anything_runs(tmp_path, capsys):
    from tests.results.test_files import unwritable_folder

    folder = unwritable_folder(tmp_path)
    assert sweep(small_sweep(tmp_path), folder / "out") == 2
    assert capsys.readouterr().err == (f"tortoise: error: --out {folder / 'out'}: cannot write there in {folder} "
                                       "(Permission denied)\n")
