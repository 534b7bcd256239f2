"""The command line's own promises (issue 14, parts 4 and 6): outputs checked before the work and written whole,
`--json`, bare workload names, `compare --model`, and a `--help` that documents every argument."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simulator.cli import build_parser, main
from tests.cli.helpers import cli

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("in_repo_root")  # the README's relative paths resolve


@pytest.fixture
def no_simulation(monkeypatch):
    """The simulation must not start: a bad output place is said before it."""
    import simulator.api

    def refused(*args, **kwargs):
        raise AssertionError("the simulation ran before the output place was checked")

    monkeypatch.setattr(simulator.api, "run_workload", refused)


@pytest.mark.parametrize("flag, place", [("--out", "a_file"), ("--out", "a_file/sub"), ("--trace", "."),
                                         ("--trace", "a_file/trace.json")])
def test_a_bad_output_place_is_said_before_the_simulation(tmp_path, capsys, no_simulation, flag, place):
    (tmp_path / "a_file").write_text("x")
    code, out, err = cli(capsys, "run", "h100", "llama3_8b_decode", flag, str(tmp_path / place))
    assert code == 2 and out == "" and err.count("\n") == 1 and f"{flag} {tmp_path / place}" in err


def test_a_full_disk_during_run_out_leaves_the_last_run_as_it_was(tmp_path):
    """Files may not grow past 1,000 bytes (RLIMIT_FSIZE: the kernel refuses the write, as a full disk does)."""
    resource = pytest.importorskip("resource")
    out = tmp_path / "run"
    assert main(["run", "h100", "gemm_demo", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    done = subprocess.run([sys.executable, "-m", "simulator.cli", "run", "h100", "llama3_8b_decode", "--out", str(out),
                           "--format", "parquet"], cwd=ROOT, capture_output=True, text=True, preexec_fn=small_files,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"tortoise: error: --out {out}: cannot write there (") and "File too large" in \
        done.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # whole, and no temporary file


def test_a_failed_trace_names_the_trace_file_not_its_temporary(tmp_path, capsys, monkeypatch):
    import errno

    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.startswith(".run.json.tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    trace = tmp_path / "run.json"
    code, _, err = cli(capsys, "run", "h100", "gemm_demo", "--trace", str(trace))
    assert code == 2 and err == f"tortoise: error: --trace {trace}: cannot write there (No space left on device)\n"
    assert list(tmp_path.iterdir()) == []


def test_json_prints_the_summary_as_strict_json(tmp_path, capsys):
    from simulator.api import run_files
    from simulator.results.output import json_safe

    code, out, err = cli(capsys, "run", "h100", "llama3_8b_decode", "--json", "--out", str(tmp_path / "r"))
    assert code == 0
    summary = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert summary == json_safe(run_files("h100", "llama3_8b_decode").summary)
    assert summary == json.loads((tmp_path / "r" / "summary.json").read_text())
    assert f"wrote {tmp_path / 'r' / 'summary.json'}" in err  # stdout holds the JSON alone


@pytest.mark.parametrize("name", ["llama3_8b_decode", "llama3_8b_decode.yaml", "workloads/llama3_8b_decode.yaml"])
def test_a_bundled_workload_goes_by_its_bare_name_from_any_folder(tmp_path, capsys, monkeypatch, name):
    _, by_path, _ = cli(capsys, "run", "h100", str(ROOT / "workloads/llama3_8b_decode.yaml"))
    monkeypatch.chdir(tmp_path)
    code, by_name, err = cli(capsys, "run", "h100", name)
    assert code == 0, err
    assert by_name == by_path


def test_a_file_of_that_name_comes_before_the_bundled_one(tmp_path, capsys, monkeypatch):
    (tmp_path / "llama3_8b_decode.yaml").write_text("name: mine\nops:\n  - {name: a, type: gemm, m: 64, n: 64, "
                                                    "k: 64}\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "run", "h100", "llama3_8b_decode.yaml")
    assert code == 0 and out.startswith("mine on h100")


def test_compare_takes_a_model_as_run_does(tmp_path, capsys):
    common = ["compare", "h100", "tpu_v4", "--set", "model.num_hidden_layers=2"]
    assert main([*common, "--model", "llama3_8b", "--context", "4096", "--out", str(tmp_path / "m")]) == 0
    assert main([*common, "--workload", "llama3_8b_decode", "--out", str(tmp_path / "w")]) == 0
    by_model, by_file = (pd.read_csv(tmp_path / d / "compare.csv") for d in ("m", "w"))
    assert list(by_model["workload"]) == ["llama3_8b_decode"] * 2  # named as `run --model` names it
    pd.testing.assert_frame_equal(by_model, by_file)
    capsys.readouterr()


def test_compare_runs_files_and_a_model_together(capsys):
    code, out, err = cli(capsys, "compare", "h100", "--workload", "gemm_demo", "--model", "llama3_8b")
    assert code == 0, err
    assert out.startswith("gemm_demo: h100") and "\nllama3_8b_decode: h100" in out


def _commands() -> dict[str, argparse.ArgumentParser]:
    return build_parser().commands


@pytest.mark.parametrize("command", list(_commands()))
def test_every_argument_of_every_command_is_documented(command):
    parser = _commands()[command]
    assert parser.description, command
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help and len(action.help) > 10, (command, action.dest)


def test_report_and_validate_help_say_what_their_arguments_are(capsys):
    for argv, words in ((["report", "-h"], "folders written by `run --out`"),
                        (["validate", "-h"], "hardware YAML file or preset name")):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0 and words in " ".join(capsys.readouterr().out.split())


def test_a_parser_error_is_one_line_with_where_to_look(capsys):
    with pytest.raises(SystemExit) as done:
        main(["compare", "h100", "--workload"])
    assert done.value.code == 2
    assert capsys.readouterr().err == ("tortoise: error: compare: argument --workload: expected one argument (see "
                                       "tortoise compare -h)\n")


def test_a_trace_to_a_full_device_is_one_line_and_the_device_stays(capsys):
    import stat

    full = Path("/dev/full")
    if not (full.exists() and stat.S_ISCHR(full.stat().st_mode)):
        pytest.skip("no /dev/full here")
    code, _, err = cli(capsys, "run", "h100", "gemm_demo", "--trace", str(full))
    assert code == 2 and err == "tortoise: error: --trace /dev/full: cannot write there (No space left on device)\n"
    assert stat.S_ISCHR(full.stat().st_mode)  # written in place, never renamed over


def test_an_empty_output_path_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "h100", "gemm_demo", "--out", ""])
    assert done.value.code == 2
    assert capsys.readouterr().err == ("tortoise: error: run: argument --out: an empty path; give a folder or file "
                                       "name (see tortoise run -h)\n")
