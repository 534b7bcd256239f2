"""Real run, sweep and compare folders for the plot and report tests, made by `tortoise run`, `tortoise sweep`
and `tortoise compare` on tiny simulations (Llama-3-8B cut to 2 layers)."""

from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
DECODE = str(ROOT / "workloads/llama3_8b_decode.yaml")
PREFILL = str(ROOT / "workloads/llama3_8b_prefill.yaml")
# h100 with MXU rows × HBM bandwidth (zipped, so every pair is there once), then one point whose SRAM is too
# small for any tile: an error row per workload.
SWEEP = f"""
name: mxu
hardware: h100
workloads: [{DECODE}, {PREFILL}]
set: [model.num_hidden_layers=2, scenario.prompt=256]
mode: zip
axes:
  core.mxu.rows: [8, 16, 64, 8, 16, 64, 16]
  memory.hbm.bandwidth: [1.6 TB/s, 1.6 TB/s, 1.6 TB/s, 3.35 TB/s, 3.35 TB/s, 3.35 TB/s, 3.35 TB/s]
  core.sram.size: [228 KiB, 228 KiB, 228 KiB, 228 KiB, 228 KiB, 228 KiB, 1 KiB]
"""


@pytest.fixture(scope="session")
def sweep_folder(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("sweep")
    (base / "mxu.yaml").write_text(SWEEP)
    out = base / "mxu"
    assert main(["sweep", str(base / "mxu.yaml"), "--out", str(out), "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="session")
def compare_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "tpu_vs_gpu"
    assert main(["compare", "tpu_v4", "h100", "--workload", DECODE, "--workload", PREFILL, "--set",
                 "model.num_hidden_layers=2", "--set", "scenario.prompt=256", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory) -> Path:
    """`tortoise run` on a 2-chip tensor-parallel system, so communication and links are in the folder."""
    out = tmp_path_factory.mktemp("run") / "tp2"
    assert main(["run", "dgx_h100", DECODE, "--set", "model.num_hidden_layers=2", "--set", "parallel.tp=2",
                 "--out", str(out)]) == 0
    return out
