"""`tortoise run` on models: workload files, --model with scenario flags, outputs and one-line errors."""

import json
from pathlib import Path

import pandas as pd
import pytest

from simulator.cli import main
from tests.cli.helpers import cli

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("in_repo_root")  # the README's relative paths resolve


def test_decode_workload_prints_llm_figures(capsys):
    code, out, err = cli(capsys, "run", "configs/h100.yaml", "workloads/llama3_8b_decode.yaml")
    assert code == 0 and err == ""
    for piece in ("TPOT", "tokens/s", "MFU", "MBU", "HBM footprint", "mlp", "attention", "memory"):
        assert piece in out


def test_set_reaches_the_scenario(capsys):
    _, one, _ = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/llama3_8b_prefill.yaml")
    _, eight, _ = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/llama3_8b_prefill.yaml",
                      "--set", "scenario.batch=8")
    assert "batch 1," in one and "batch 8," in eight


def test_model_flags_match_the_equivalent_workload_file(capsys, tmp_path):
    cli(capsys, "run", "h100", "--model", "workloads/models/llama3_8b.json", "--phase", "decode", "--batch", "16",
        "--context", "4096", "--out", str(tmp_path / "flags"))
    cli(capsys, "run", "h100", "workloads/llama3_8b_decode.yaml", "--set", "scenario.batch=16",
        "--out", str(tmp_path / "file"))
    flags = json.loads((tmp_path / "flags" / "summary.json").read_text())
    file = json.loads((tmp_path / "file" / "summary.json").read_text())
    assert flags["cycles"] == file["cycles"] and flags["batch"] == 16 and flags["context"] == 4096
    ops = pd.read_csv(tmp_path / "flags" / "ops.csv")
    groups = pd.read_csv(tmp_path / "flags" / "breakdown.csv")
    assert (ops["cycles"] * ops["repeat"]).sum() == flags["cycles"]
    assert groups["share"].sum() == pytest.approx(1.0) and {"mlp", "attention", "norm"} <= set(groups["group"])


def test_bundled_model_name(capsys):
    code, out, _ = cli(capsys, "run", "tpu_v4", "--model", "llama2_7b", "--phase", "prefill", "--prompt", "256")
    assert code == 0 and "llama2_7b prefill on tpu_v4" in out and "TTFT" in out


@pytest.mark.parametrize("argv, needle", [
    (["run", "h100"], "give a workload file, or --model"),
    (["run", "h100", "workloads/llama3_8b_decode.yaml", "--model", "llama3_8b"], "not both"),
    (["run", "h100", "workloads/llama3_8b_decode.yaml", "--batch", "4"], "--set scenario.batch"),
    (["run", "h100", "--model", "llama3_70b"], "needs 14"),
    (["run", "h100", "--model", "nosuch.json"], "bundled: deepseek_v3, falcon_40b, gemma2_9b, gpt3_175b"),
    (["run", "tpu_v4", "--model", "llama3_8b", "--set", "scenario.weights=fp8", "--set", "scenario.activations=fp8"],
     "core.mxu.macs_per_pe"),
])
def test_errors_are_one_line(capsys, argv, needle):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("tortoise: error: ") and needle in err


def test_bad_flag_values_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "h100", "--model", "llama3_8b", "--batch", "0"])
    assert exit_info.value.code == 2
    assert "not a whole number ≥ 1" in capsys.readouterr().err


def test_running_out_of_memory_is_one_line(capsys, monkeypatch):
    import simulator.api

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(simulator.api, "simulate_passes", exhausted)
    code, out, err = cli(capsys, "run", "h100", "--model", "llama3_8b")
    assert code == 2 and out == ""
    assert err == ("tortoise: error: out of memory while simulating; the workload is too large to simulate here "
                   "(lower scenario.batch, scenario.prompt or the context)\n")
