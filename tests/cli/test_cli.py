"""The `tortoise` command: happy paths, output files, one-line errors with exit status 2, and the rule that
every example config and workload is run by the tests."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simulator.cli import main
from simulator.config.loader import load_chip
from simulator.config.presets import preset_names
from simulator.errors import ConfigError
from simulator.overrides import split_overrides
from tests.cli.helpers import cli

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
WORKLOADS = sorted((ROOT / "workloads").glob("*.yaml"))
DEMO_OPS = 10


pytestmark = pytest.mark.usefixtures("in_repo_root")  # the README's relative paths resolve


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tortoise: error: ")
    assert "Traceback" not in err
    return lines[0]


def total_cycles(out: str) -> int:
    match = re.search(r"total\s+([\d,]+) cycles", out)
    assert match, out
    return int(match.group(1).replace(",", ""))


# ------------------------------------------------------------------------------------------ happy paths


def test_run_prints_the_summary(capsys):
    code, out, err = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml")
    assert code == 0
    assert err == ""
    for piece in ("gemm_demo on tpu_v4", "cycles", "TFLOP/s", "MXU utilization", "HBM read"):
        assert piece in out
    assert total_cycles(out) > 0
    for name in ("norm_in", "qkv_proj", "lm_matvec"):
        assert name in out  # the per-op table


def test_run_accepts_a_preset_name(capsys):
    code, by_name, _ = cli(capsys, "run", "tpu_v4", "workloads/gemm_demo.yaml")
    assert code == 0
    code, by_path, _ = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml")
    assert by_name == by_path


def test_out_writes_csv_and_summary(capsys, tmp_path):
    out_dir = tmp_path / "results"
    code, out, err = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml", "--out", str(out_dir))
    assert code == 0, err
    assert f"wrote {out_dir / 'ops.csv'}" in out
    assert f"wrote {out_dir / 'summary.json'}" in out
    table = pd.read_csv(out_dir / "ops.csv")
    summary = json.loads((out_dir / "summary.json").read_text())
    assert len(table) == DEMO_OPS
    assert list(table["name"]) == ["norm_in", "qkv_proj", "attn_out", "residual1", "norm_mlp", "gate_up",
                                   "silu_mul", "down_proj", "residual2", "lm_matvec"]
    assert summary["cycles"] == table["end"].max()
    assert summary["ops"] == DEMO_OPS
    assert summary["chip"] == "tpu_v4"
    assert summary["workload"] == "gemm_demo"
    assert summary["flops"] == table["flops"].sum()
    assert total_cycles(out) == summary["cycles"]
    assert (table["end"] - table["start"] == table["cycles"]).all()
    assert not (out_dir / "ops.parquet").exists()


def test_out_writes_parquet(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "configs/h100.yaml", "workloads/gemm_demo.yaml",
                       "--out", str(tmp_path), "--format", "parquet")
    assert code == 0, err
    table = pd.read_parquet(tmp_path / "ops.parquet")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(table) == DEMO_OPS
    assert summary["cycles"] == table["end"].max()
    assert not (tmp_path / "ops.csv").exists()


def test_presets_lists_the_bundled_presets(capsys):
    code, out, err = cli(capsys, "presets")
    assert code == 0 and err == ""
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == preset_names()
    assert {"tpu_v4", "h100", "systolic_32x32"} <= set(listed)
    assert "NVIDIA H100" in out


def test_validate_reports_peak(capsys):
    code, out, err = cli(capsys, "validate", "configs/h100.yaml")
    assert code == 0 and err == ""
    assert "valid" in out
    peak = float(re.search(r"([\d.]+) TFLOP/s peak", out).group(1))
    assert peak == pytest.approx(989.4, abs=0.1)  # 132 SMs × 2048 MAC × 2 × 1.83 GHz


def test_validate_against_measurements_prints_the_error_table_and_its_budget(capsys):
    code, out, err = cli(capsys, "validate", "--against", "measurements", "--only", "dram")
    assert code == 0, err
    assert "| subset | cases | median" in out and "| dram | h100 stream" in out
    assert "runtime bare" in cli(capsys, "validate", "h100")[1]


def test_validate_without_hardware_or_against_is_one_line(capsys):
    code, out, err = cli(capsys, "validate")
    assert code != 0 and err.count("\n") == 1 and "--against measurements" in err


def test_validate_applies_set(capsys):
    code, out, _ = cli(capsys, "validate", "tpu_v4", "--set", "core.mxu.rows=256")
    assert code == 0
    peak = float(re.search(r"([\d.]+) TFLOP/s peak", out).group(1))
    assert peak == pytest.approx(2 * 275.3, abs=0.2)  # twice the rows, twice the MACs


def test_hardware_set_changes_the_result(capsys):
    _, base, _ = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml")
    code, changed, err = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml",
                             "--set", "core.mxu.rows=256")
    assert code == 0, err
    assert total_cycles(changed) < total_cycles(base)  # twice the MACs per array runs the GEMMs faster


def test_hardware_and_workload_set_together(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml", "--out", str(tmp_path / "a"))
    assert code == 0, err
    code, _, err = cli(capsys, "run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml", "--out", str(tmp_path / "b"),
                       "--set", "core.mxu.rows=256", "--set", "ops.0.elements=1024")
    assert code == 0, err
    base = pd.read_csv(tmp_path / "a" / "ops.csv").set_index("name")
    both = pd.read_csv(tmp_path / "b" / "ops.csv").set_index("name")
    assert str(both.loc["norm_in", "shape"]) == "1024"  # the workload override
    assert str(base.loc["norm_in", "shape"]) == "8388608"
    assert both.loc["norm_in", "cycles"] < base.loc["norm_in", "cycles"]
    assert both.loc["qkv_proj", "cycles"] < base.loc["qkv_proj", "cycles"]  # the hardware override


def test_split_overrides_routes_by_first_field():
    hardware, workload = split_overrides(["core.mxu.rows=256", "clock=1 GHz", "memory.hbm.bandwidth=1 TB/s",
                                          "ops.0.m=4", "name=x"])
    assert hardware == ["core.mxu.rows=256", "clock=1 GHz", "memory.hbm.bandwidth=1 TB/s", "name=x"]
    assert workload == ["ops.0.m=4"]
    # an explicit prefix decides and is stripped
    hardware, workload = split_overrides(["hardware.name=x", "workload.name=y", "workload.ops.0.m=8"])
    assert hardware == ["name=x"]
    assert workload == ["name=y", "ops.0.m=8"]


def test_prefix_without_a_path_keeps_the_users_text():
    with pytest.raises(ConfigError) as err:
        split_overrides(["hardware=core.x"])
    assert str(err.value).startswith("--set hardware=core.x: hardware = ")


def test_prefixed_set_reaches_the_right_file(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "tpu_v4", "workloads/gemm_demo.yaml", "--out", str(tmp_path),
                       "--set", "hardware.name=renamed_chip", "--set", "workload.name=renamed_workload")
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["chip"], summary["workload"]) == ("renamed_chip", "renamed_workload")


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("tortoise ")


# ------------------------------------------------------------------------------------------ bad input


def test_missing_hardware_file(capsys):
    code, out, err = cli(capsys, "run", "configs/nope.yaml", "workloads/gemm_demo.yaml")
    assert code == 2
    assert out == ""
    line = one_error_line(err)
    assert "configs/nope.yaml" in line
    assert "no such file or preset" in line
    assert "tpu_v4" in line


def test_missing_workload_file(capsys):
    code, _, err = cli(capsys, "run", "tpu_v4", "workloads/nope.yaml")
    assert code == 2
    assert one_error_line(err) == "tortoise: error: workloads/nope.yaml: file not found"


def test_bad_hardware_set(capsys):
    code, _, err = cli(capsys, "run", "tpu_v4", "workloads/gemm_demo.yaml", "--set", "core.mxu.rows=lots")
    assert code == 2
    line = one_error_line(err)
    assert line == "tortoise: error: --set core.mxu.rows=lots: core.mxu.rows = 'lots': must be a whole number"


def test_set_without_equals(capsys):
    code, _, err = cli(capsys, "validate", "tpu_v4", "--set", "core.mxu.rows")
    assert code == 2
    assert "path.to.field=value" in one_error_line(err)


def test_bad_workload_set(capsys):
    code, _, err = cli(capsys, "run", "tpu_v4", "workloads/gemm_demo.yaml", "--set", "ops.10.m=1")
    assert code == 2
    assert one_error_line(err) == ("tortoise: error: --set ops.10.m=1: ops.10 = '10': "
                                   "there are 10 items, numbered 0 to 9")


def test_bad_workload_file(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nops:\n  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n"
                    "  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n")
    code, _, err = cli(capsys, "run", "tpu_v4", str(path))
    assert code == 2
    assert one_error_line(err) == f"tortoise: error: {path}: ops.1.name = 'a': op names must be unique"


def test_bad_hardware_value_in_a_user_file(capsys, tmp_path):
    path = tmp_path / "hw.yaml"
    path.write_text("preset: tpu_v4\nclock: 0 GHz\n")
    code, _, err = cli(capsys, "validate", str(path))
    assert code == 2
    line = one_error_line(err)
    assert f"{path}: clock = '0 GHz': must be a frequency from 1 MHz to 100 GHz" in line


def test_workload_dtype_the_chip_cannot_run(capsys, tmp_path):
    path = tmp_path / "fp32.yaml"
    path.write_text("name: w\nops:\n  - {name: a, type: gemm, m: 64, n: 64, k: 64, dtype: fp32}\n")
    code, _, err = cli(capsys, "run", "tpu_v4", str(path))
    assert code == 2
    line = one_error_line(err)
    assert "fp32" in line and "bf16" in line


def test_sram_too_small(capsys):
    code, _, err = cli(capsys, "run", "tpu_v4", "workloads/gemm_demo.yaml", "--set", "core.sram.size=1 KiB")
    assert code == 2
    assert "core.sram.size" in one_error_line(err)


def test_out_dir_that_cannot_be_created(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(capsys, "run", "tpu_v4", "workloads/gemm_demo.yaml", "--out", str(blocker / "sub"))
    assert code == 2
    one_error_line(err)


def test_mistyped_hardware_set_names_the_set(capsys):
    code, _, err = cli(capsys, "run", "tpu_v4", "workloads/gemm_demo.yaml", "--set", "cor.mxu.rows=256")
    assert code == 2
    # neither a hardware nor a workload field: the message blames the --set and lists both
    line = one_error_line(err)
    assert line.startswith("tortoise: error: --set cor.mxu.rows=256: cor = ")
    assert "not a hardware field (area, chip, chips, clock, collectives, core, cores, cost" in line
    workload_fields = re.search(r"workload field \(([^)]*)\)", line).group(1).split(", ")
    assert {"model", "ops", "parallel", "scenario", "training"} <= set(workload_fields)  # (serving, as it lands)


# --------------------------------------------------------------------------- the command as a process

SUBPROCESS_CASES = {
    "missing hardware file": (["run", "configs/nope.yaml", "workloads/gemm_demo.yaml"], "configs/nope.yaml"),
    "bad --set": (["run", "configs/tpu_v4.yaml", "workloads/gemm_demo.yaml", "--set", "core.mxu.rows=0"],
                  "--set core.mxu.rows=0: core.mxu.rows = 0: must be ≥ 1"),
    "bad workload": (["run", "configs/tpu_v4.yaml", "configs/h100.yaml"], "configs/h100.yaml"),
}


@pytest.fixture(scope="module")
def subprocess_results():
    """Each bad command once as a real process, all started together to keep the suite fast."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "simulator.cli", *argv], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        for name, (argv, _) in SUBPROCESS_CASES.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = (proc.returncode, out, err)
    return results


@pytest.mark.parametrize("case", list(SUBPROCESS_CASES))
def test_bad_input_as_a_process(subprocess_results, case):
    code, out, err = subprocess_results[case]
    assert code == 2, err
    assert "Traceback" not in err
    assert out == ""
    line = one_error_line(err)
    assert SUBPROCESS_CASES[case][1] in line


# -------------------------------------------------------------- every example is run by the tests


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads(config):
    chip = load_chip(config)
    assert chip.name == config.stem


def test_there_are_examples_to_run():
    assert len(CONFIGS) >= 3
    assert len(WORKLOADS) >= 1


def test_output_piped_into_a_reader_that_left_is_no_traceback():
    """`tortoise run … | head -1`: the reader has closed the pipe, so the first write fails; no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "run", "h100", "workloads/gemm_demo.yaml"],
                          cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_collective_over_chips_the_hardware_lacks_is_one_line_naming_the_file(capsys):
    code, _, err = cli(capsys, "run", "h100", "workloads/allreduce_8chips.yaml")
    assert code == 2
    assert one_error_line(err) == (
        "tortoise: error: workloads/allreduce_8chips.yaml: op all_reduce: chips = [0, 1, 2, 3, 4, 5, 6, 7]: chip 1 "
        "is not on h100, which has 1 chip (system.chips = 1); use fewer chips or a bigger system")


def test_run_a_training_step_from_flags_and_write_its_tables(capsys, tmp_path):
    code, out, err = cli(capsys, "run", "dgx_h100", "--model", "llama3_8b", "--phase", "train", "--batch", "16",
                         "--seq", "512", "--set", "parallel.dp=8", "--set", "model.num_hidden_layers=2",
                         "--out", str(tmp_path / "t"))
    assert code == 0, err
    assert "training step on dgx_h100" in out and "16 sequences × 512 tokens = 8,192 tokens" in out
    assert "MFU" in out and "HFU" in out and "optimizer states" in out
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["phase"] == "train" and summary["tokens_per_step"] == 8192 and 0 < summary["mfu"] <= 1


def test_seq_is_for_training_steps_only(capsys):
    code, _, err = cli(capsys, "run", "h100", "--model", "llama3_8b", "--seq", "512")
    assert code == 2 and err.count("\n") == 1 and "--phase train" in err
