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


def write_sweep(folder: Path, axes: dict, rows: list[dict], mode: str = "grid", spec: str | None = None) -> Path:
    """A sweep folder written by hand (meta.json, results.csv and, if given, the sweep file's copy), for
    pictures whose data must be exactly known: `axes` is {path: (unit, values)}."""
    import json

    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    meta = {"kind": "sweep", "name": folder.name, "mode": mode, "tortoise": "test",
            "axes": {p: {"unit": unit, "values": list(values)} for p, (unit, values) in axes.items()},
            "hardware": ["h100"], "workloads": ["w"], "points": len(rows), "rows": len(rows), "errors": 0}
    (folder / "meta.json").write_text(json.dumps(meta))
    base = {"hardware": "h100", "workload": "w", "status": "ok", "error": "", "chip": "h100"}
    pd.DataFrame([{"point": i, **base, **r} for i, r in enumerate(rows)]).to_csv(folder / "results.csv", index=False)
    if spec is not None:
        (folder / "sweep.yaml").write_text(spec)
    return folder


@pytest.fixture(scope="session")
def serve_folder(tmp_path_factory) -> Path:
    """`tortoise serve`: 40 requests on a 2-layer Llama-3-8B."""
    out = tmp_path_factory.mktemp("serve") / "serve"
    assert main(["serve", "h100", "llama3_8b_serve", "--set", "serving.requests=40", "--set",
                 "model.num_hidden_layers=2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def load_sweep_folder(tmp_path_factory) -> Path:
    """A serving sweep over the request rate (the load plot's folder): 3 rates of 30 requests."""
    base = tmp_path_factory.mktemp("load")
    (base / "load.yaml").write_text("name: load\nhardware: h100\nworkloads: [llama3_8b_serve]\n"
                                    "set: [serving.requests=30, model.num_hidden_layers=2]\n"
                                    "axes:\n  serving.arrival.rate: [2, 20, 200]\n")
    out = base / "load"
    assert main(["sweep", str(base / "load.yaml"), "--out", str(out), "--workers", "1"]) == 0
    return out
