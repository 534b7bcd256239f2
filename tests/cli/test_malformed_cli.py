"""The command line and its output places, misused: each case ends in exit status 2, no traceback, at most 3
lines on stderr (one, in fact), naming the offending flag or file (issue 14, parts 4 and 6). The files reading
breaks are in tests/config/test_malformed_files.py.

The cases of SUBPROCESS are each one process of `tortoise`, as a user runs it, started together (a few at a
time) from one fixture; the others call `simulator.cli.main` in the test process, reported as a process would
report them (tests/cli/in_process.py): a start-up costs about 0.8 s of CPU, most cases here about 10 ms."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.results.files import FolderLock
from tests.cli.in_process import HANG, run_in_process
from tests.results.test_files import unwritable_folder

ROOT = Path(__file__).resolve().parents[2]
AT_ONCE = 4
# As real processes: a lock held by another process, JSON nested 100,000 deep (a stack overflow would end the
# test process), and one case of each way an error leaves: argparse's exit, a check before the run.
SUBPROCESS = {"sweep_out_locked", "summary_nested_deep", "run_no_hardware", "run_out_is_a_file"}
SWEEP = "hardware: tpu_v4\nworkloads: [llama3_8b_decode]\nset: [model.num_hidden_layers=2]\n"


def _unwritable(t: Path) -> Path | None:
    try:
        return unwritable_folder(t)
    except pytest.skip.Exception:
        return None


def _folders(t: Path) -> dict[str, Path]:
    """Output places of every kind, made once for all cases."""
    from simulator.api import run_files
    from simulator.results.output import write_outputs

    (t / "a_file").write_text("not a folder\n")
    (t / "sweep.yaml").write_text(SWEEP)
    run = t / "run"
    result = run_files("h100", str(ROOT / "workloads/gemm_demo.yaml"))
    write_outputs(run, result.summary, result.table, "csv")
    summary = json.loads((run / "summary.json").read_text())

    def run_folder(name: str, change=None, summary_text=None) -> Path:
        folder = t / name
        folder.mkdir()
        (folder / "ops.csv").write_bytes((run / "ops.csv").read_bytes())
        data = dict(summary)
        if change:
            change(data)
        (folder / "summary.json").write_text(summary_text if summary_text is not None else json.dumps(data))
        return folder

    def meta_folder(name: str, meta, table: str | None = None) -> Path:
        folder = t / name
        folder.mkdir()
        (folder / "meta.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
        if table:
            (folder / table).write_text("point,workload,status\n0,w,ok\n" if table == "results.csv" else
                                        "workload,status\nw,ok\n")
        return folder

    both = run_folder("both_formats")
    result.table.to_parquet(both / "ops.parquet")
    no_cycles = run_folder("no_cycles")
    result.table.drop(columns="cycles").to_csv(no_cycles / "ops.csv", index=False)
    text_cycles = run_folder("text_cycles")
    result.table.assign(cycles="many").to_csv(text_cycles / "ops.csv", index=False)
    sweep = meta_folder("a_sweep", {"kind": "sweep"}, "results.csv")
    (sweep / "points.jsonl").write_text("")
    locked = t / "locked"
    locked.mkdir()
    return {
        "file": t / "a_file", "sweep_file": t / "sweep.yaml", "run": run, "sweep": sweep, "locked": locked,
        "unwritable": _unwritable(t), "both": both, "no_cycles": no_cycles, "text_cycles": text_cycles,
        "summary_list": run_folder("summary_list", summary_text="[1, 2]\n"),
        "summary_bad_json": run_folder("summary_bad_json", summary_text='{"cycles": 1,}\n'),
        "summary_deep": run_folder("summary_deep", summary_text="[" * 100_000 + "]" * 100_000),
        "cycles_text": run_folder("cycles_text", lambda s: s.update(cycles="many")),
        "no_chip": run_folder("no_chip", lambda s: s.pop("chip")),
        "mfu_text": run_folder("mfu_text", lambda s: s.update(mxu_utilization="high")),
        "peaks_list": run_folder("peaks_list", lambda s: s.update(peak_tflops_by_dtype=[1, 2])),
        "meta_text": meta_folder("meta_text", '"sweep"\n'),
        "meta_kind": meta_folder("meta_kind", {"kind": "banana"}),
        "axes_list": meta_folder("axes_list", {"kind": "sweep", "axes": []}, "results.csv"),
        "axis_number": meta_folder("axis_number", {"kind": "sweep", "axes": {"core.mxu.rows": 3}}, "results.csv"),
        "points_text": meta_folder("points_text", {"kind": "sweep", "points": "many"}, "results.csv"),
        "no_results": meta_folder("no_results", {"kind": "sweep"}),
        "designs_number": meta_folder("designs_number", {"kind": "compare", "designs": 3, "workloads": ["w"]},
                                      "compare.csv"),
        "baseline_other": meta_folder("baseline_other", {"kind": "compare", "designs": ["a"], "workloads": ["w"],
                                                         "baseline": "zz"}, "compare.csv"),
        "no_design_column": meta_folder("no_design_column", {"kind": "compare", "designs": ["a"],
                                                             "workloads": ["w"]}, "compare.csv"),
    }


def _cases(f: dict[str, Path]) -> dict[str, tuple[list[str], list[str]]]:
    """name: (argv, what stderr must name)."""
    gemm = ["run", "h100", "gemm_demo"]
    sweep = ["sweep", str(f["sweep_file"])]
    hint = "(see tortoise run -h)"
    return {
        # argparse: one line and where to look, never a usage block
        "run_no_hardware": (["run"], ["run: the following arguments are required: hardware", hint]),
        "run_batch_zero": (["run", "h100", "--model", "llama3_8b", "--batch", "0"], ["--batch", "'0'", hint]),
        "run_context_negative": (["run", "h100", "--model", "llama3_8b", "--context", "-1"], ["--context", hint]),
        "run_unknown_flag": ([*gemm, "--bogus"], ["unrecognized arguments: --bogus", hint]),
        "run_bad_phase": (["run", "h100", "--model", "llama3_8b", "--phase", "sideways"], ["--phase", "sideways"]),
        "run_bad_format": ([*gemm, "--out", "x", "--format", "xlsx"], ["--format", "xlsx"]),
        "run_out_without_value": ([*gemm, "--out"], ["--out", "expected one argument"]),
        "unknown_command": (["rnu", "h100"], ["invalid choice: 'rnu'", "(see tortoise -h)"]),
        "no_command": ([], ["COMMAND", "(see tortoise -h)"]),
        "sweep_no_out": (sweep, ["sweep: ", "--out", "(see tortoise sweep -h)"]),
        "sweep_workers_zero": ([*sweep, "--out", "x", "--workers", "0"], ["--workers", "(see tortoise sweep -h)"]),
        "plot_no_folder": (["plot"], ["DIR", "(see tortoise plot -h)"]),
        "plot_bad_kind": (["plot", str(f["run"]), "--kind", "pie"], ["--kind", "pie"]),
        "report_no_out": (["report", str(f["run"])], ["--out", "(see tortoise report -h)"]),
        "validate_nothing": (["validate"], ["hardware", "(see tortoise validate -h)"]),
        "compare_no_hardware": (["compare"], ["hardware", "(see tortoise compare -h)"]),
        # workload names
        "bare_name_typo": (["run", "h100", "llama3_8b_decod"], ["llama3_8b_decod: no such file, nor a bundled",
                                                               "llama3_8b_decode"]),
        "folder_typo_never_bundled": (["run", "h100", "typo_dir/llama3_8b_decode.yaml"],
                                      ["typo_dir/llama3_8b_decode.yaml: file not found"]),
        "compare_nothing_to_run": (["compare", "h100", "tpu_v4"], ["--workload", "--model"]),
        "compare_flags_without_model": (["compare", "h100", "--workload", "gemm_demo", "--batch", "4"],
                                        ["--batch go with --model"]),
        "compare_bad_model": (["compare", "h100", "--model", "nosuch.json"], ["nosuch.json", "bundled"]),
        "compare_bare_typo": (["compare", "h100", "--workload", "gemm_dem"], ["gemm_dem: no such file"]),
        # run --out / --trace, said before the simulation
        "run_out_is_a_file": ([*gemm, "--out", str(f["file"])], [f"--out {f['file']}: is a file, not a folder"]),
        "run_out_under_a_file": ([*gemm, "--out", str(f["file"] / "sub")], [f"--out {f['file'] / 'sub'}",
                                                                           "is a file, not a folder"]),
        "run_out_unwritable": ([*gemm, "--out", str(f["unwritable"] / "run")], [f"--out {f['unwritable'] / 'run'}",
                                                                               "cannot write there"]),
        "run_out_is_a_sweep": ([*gemm, "--out", str(f["sweep"])], [f"--out {f['sweep']}", "sweep folder"]),
        "run_trace_is_a_folder": ([*gemm, "--trace", str(f["run"])], [f"--trace {f['run']}: is a folder"]),
        "run_trace_under_a_file": ([*gemm, "--trace", str(f["file"] / "t.json")],
                                   [f"--trace {f['file']}/t.json: {f['file']} is a file, not a folder"]),
        "run_trace_unwritable": ([*gemm, "--trace", str(f["unwritable"] / "t.json")],
                                 [f"--trace {f['unwritable']}/t.json: cannot write there"]),
        "run_trace_is_the_out": ([*gemm, "--out", str(f["file"].parent / "new"), "--trace",
                                  str(f["file"].parent / "new")], ["is the --out folder"]),
        "run_out_empty": ([*gemm, "--out", ""], ["--out: an empty path", hint]),
        "plot_folder_empty": (["plot", ""], ["plot: argument DIR: an empty path"]),
        # sweep --out
        "sweep_out_is_a_file": ([*sweep, "--out", str(f["file"])], [f"--out {f['file']}: is a file"]),
        "sweep_out_unwritable": ([*sweep, "--out", str(f["unwritable"] / "s")], [f"--out {f['unwritable']}/s",
                                                                                "cannot write there"]),
        "sweep_out_is_a_run": ([*sweep, "--out", str(f["run"])], [f"--out {f['run']}", "run folder"]),
        "sweep_out_locked": ([*sweep, "--out", str(f["locked"])], [f"--out {f['locked']}: another sweep (process "
                                                                   f"{os.getpid()}) is writing to this folder"]),
        # compare --out
        "compare_out_is_a_file": (["compare", "h100", "--workload", "gemm_demo", "--out", str(f["file"])],
                                  [f"--out {f['file']}: is a file"]),
        "compare_out_is_a_sweep": (["compare", "h100", "--workload", "gemm_demo", "--out", str(f["sweep"])],
                                   [f"--out {f['sweep']}", "sweep folder"]),
        # plot and report: folders whose files have the wrong shape, or a bad place to write
        "summary_is_a_list": (["plot", str(f["summary_list"])], [f"{f['summary_list']}/summary.json: must hold a "
                                                                 "JSON object, not a list"]),
        "summary_not_json": (["plot", str(f["summary_bad_json"])], [f"{f['summary_bad_json']}/summary.json: cannot "
                                                                    "read it as JSON"]),
        "summary_nested_deep": (["plot", str(f["summary_deep"])], [f"{f['summary_deep']}/summary.json"]),
        "summary_cycles_text": (["plot", str(f["cycles_text"])], ["summary.json: cycles = 'many': must be a number"]),
        "summary_no_chip": (["report", str(f["no_chip"]), "--out", str(f["file"].parent / "r.html")],
                            [f"{f['no_chip']}/summary.json: chip = (missing)"]),
        "summary_metric_text": (["plot", str(f["mfu_text"])], ["mxu_utilization = 'high': must be a number"]),
        "summary_peaks_list": (["plot", str(f["peaks_list"])], ["peak_tflops_by_dtype = [1, 2]"]),
        "ops_in_two_formats": (["plot", str(f["both"])], [f"{f['both']}: holds both ops.csv and ops.parquet"]),
        "ops_without_cycles": (["plot", str(f["no_cycles"])], [f"{f['no_cycles']}: ops table has no cycles column"]),
        "ops_cycles_text": (["plot", str(f["text_cycles"])], [f"{f['text_cycles']}: ops table column cycles holds "
                                                              "'many'"]),
        "meta_is_text": (["plot", str(f["meta_text"])], [f"{f['meta_text']}/meta.json: must hold a JSON object"]),
        "meta_unknown_kind": (["plot", str(f["meta_kind"])], [f"{f['meta_kind']}/meta.json: kind = 'banana'"]),
        "meta_axes_list": (["plot", str(f["axes_list"])], [f"{f['axes_list']}/meta.json: axes = []"]),
        "meta_axis_number": (["report", str(f["axis_number"]), "--out", str(f["file"].parent / "r.pdf")],
                             ["meta.json: axes.core.mxu.rows = 3"]),
        "meta_points_text": (["plot", str(f["points_text"])], ["meta.json: points = 'many': must be a number"]),
        "sweep_without_results": (["plot", str(f["no_results"])], [f"{f['no_results']}: results.csv (or .parquet) "
                                                                   "is missing"]),
        "compare_designs_number": (["plot", str(f["designs_number"])], ["meta.json: designs = 3"]),
        "compare_baseline_other": (["plot", str(f["baseline_other"])], ["meta.json: baseline = 'zz': must be one of "
                                                                        "the designs (a)"]),
        "compare_no_design_column": (["plot", str(f["no_design_column"])], ["compare table has no design column"]),
        "plot_out_unwritable": (["plot", str(f["run"]), "--out", str(f["unwritable"] / "p.png")],
                                [f"--out {f['unwritable']}/p.png: cannot write there"]),
        "plot_out_is_a_folder": (["plot", str(f["run"]), "--out", str(f["sweep"]) + "/"], ["--out", "(none)"]),
        "report_out_under_a_file": (["report", str(f["run"]), "--out", str(f["file"] / "r.pdf")],
                                    [f"report --out {f['file']}/r.pdf", "is a file, not a folder"]),
    }


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return _folders(tmp_path_factory.mktemp("outputs"))


def _runs_here(folders: dict[str, Path], name: str) -> bool:
    """Whether this user has the case's places: an unwritable folder needs a user whom permissions stop."""
    return folders["unwritable"] is not None or "unwritable" not in name


@pytest.fixture(scope="module")
def corpus(folders):
    """name → (exit status, stdout, stderr) of the cases of SUBPROCESS, each its own process, AT_ONCE at a time."""
    cases = _cases(folders)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    results, running = {}, {}
    queue = [name for name in cases if name in SUBPROCESS and _runs_here(folders, name)]
    with FolderLock(folders["locked"]):  # as if a sweep of this process were writing there
        while queue or running:
            while queue and len(running) < AT_ONCE:
                name = queue.pop(0)
                running[name] = subprocess.Popen([sys.executable, "-m", "simulator.cli", *cases[name][0]], cwd=ROOT,
                                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                 encoding="utf-8", errors="replace")
            name = next(iter(running))
            process = running.pop(name)
            out, err = process.communicate(timeout=HANG)
            results[name] = (process.returncode, out, err)
    return results


class _Anywhere(dict):
    """Stand-in folders, to name the cases at collection time."""

    def __missing__(self, key):
        return Path("/nowhere") / key


CASES = list(_cases(_Anywhere()))


def test_the_corpus_covers_the_command_line_and_its_outputs():
    assert len(CASES) >= 50
    assert SUBPROCESS <= set(CASES), SUBPROCESS - set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_misuse_is_one_line_naming_the_flag_or_file(folders, name, request, monkeypatch, capfd):
    cases = _cases(folders)
    if not _runs_here(folders, name):
        pytest.skip("no folder here refuses a file to this user")
    if name in SUBPROCESS:
        code, out, err = request.getfixturevalue("corpus")[name]
    else:
        monkeypatch.chdir(ROOT)  # where the processes run
        code, out, err = run_in_process(cases[name][0], capfd)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and out == "", err
    assert len(err.splitlines()) <= 3 and err.count("\n") == 1 and err.startswith("tortoise: error: "), err
    for piece in cases[name][1]:
        assert piece in err, err
