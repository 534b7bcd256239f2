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


# ---- a run owns its folder -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs():
    """A single-chip op list and a 2-chip tensor-parallel decode step (which also writes stages, links and
    timeline tables), cut to 2 layers."""
    from simulator.api import LLMResult

    def tables(r):
        if not isinstance(r, LLMResult):
            return {}
        extra = {"breakdown": r.breakdown}
        if r.stages is not None:
            extra |= {"stages": r.stages, "links": r.links, "timeline": r.timeline}
        return extra

    single = run_files("h100", str(ROOT / "workloads/gemm_demo.yaml"))
    system = run_files("dgx_h100", str(ROOT / "workloads/llama3_8b_decode.yaml"),
                       workload_overrides=["model.num_hidden_layers=2", "parallel.tp=2"])
    return {"single": (single, tables(single)), "system": (system, tables(system))}


def write(out, runs, name, fmt):
    from simulator.results.output import write_outputs

    result, extra = runs[name]
    return write_outputs(out, result.summary, result.table, fmt, extra)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_new_run_replaces_the_files_of_the_last_one(tmp_path, runs):
    out = tmp_path / "run"
    write(out, runs, "system", "csv")
    assert names(out) == ["breakdown.csv", "links.csv", "ops.csv", "stages.csv", "summary.json", "timeline.csv"]
    (out / "notes.txt").write_text("mine")
    write(out, runs, "single", "parquet")
    assert names(out) == ["notes.txt", "ops.parquet", "summary.json"]  # no stale ops.csv, stages.csv, …
    write(out, runs, "system", "parquet")
    assert names(out) == ["breakdown.parquet", "links.parquet", "notes.txt", "ops.parquet", "stages.parquet",
                          "summary.json", "timeline.parquet"]


def test_plot_reads_the_new_run_not_a_stale_table(tmp_path, runs):
    from simulator.report.folders import load_folder

    out = tmp_path / "run"
    write(out, runs, "system", "csv")
    write(out, runs, "single", "parquet")
    folder = load_folder(out)
    assert len(folder.tables["ops"]) == len(runs["single"][0].table) and set(folder.tables) == {"ops"}


def test_a_folder_no_run_wrote_keeps_files_of_the_same_names(tmp_path, runs):
    """Only a folder with a run's summary.json is a run's: elsewhere a links.csv may be the user's own."""
    (tmp_path / "links.csv").write_text("mine\n")
    write(tmp_path, runs, "single", "csv")
    assert names(tmp_path) == ["links.csv", "ops.csv", "summary.json"] and (tmp_path / "links.csv").read_text() == \
        "mine\n"


def test_a_full_disk_leaves_the_last_run_whole_and_says_one_line(tmp_path, runs, monkeypatch):
    import errno

    import pandas as pd

    from simulator.errors import TortoiseError

    out = tmp_path / "run"
    write(out, runs, "system", "csv")
    before = {name: (out / name).read_bytes() for name in names(out)}

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(TortoiseError) as error:
        write(out, runs, "single", "parquet")
    assert str(error.value) == f"--out {out}: cannot write there (No space left on device)"
    assert {name: (out / name).read_bytes() for name in names(out)} == before  # no temporary file either


def test_leftovers_of_a_killed_run_are_cleaned_on_the_next(tmp_path, runs):
    from tests.results.test_files import dead_pid

    out = tmp_path / "run"
    out.mkdir()
    (out / f".ops.csv.tmp{dead_pid()}").write_text("half")
    write(out, runs, "single", "csv")
    assert names(out) == ["ops.csv", "summary.json"]
