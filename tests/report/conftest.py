"""Real run, sweep and compare folders for the plot and report tests, built from tiny simulations
(Llama-3-8B cut to 2 layers) and written in the output-folder formats of docs/plots.md.

The sweep and compare folders are written here by `write_sweep` / `write_compare` because `tortoise sweep` and
`tortoise compare` are being written alongside; once they land, replace the bodies of `sweep_folder` and
`compare_folder` with `main(["sweep", file, "--out", dir])` / `main(["compare", …])`."""

import hashlib
import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from simulator import __version__
from simulator.api import run_files
from simulator.cli import main
from simulator.errors import TortoiseError
from simulator.results.row import flat_row

ROOT = Path(__file__).resolve().parents[2]
DECODE = str(ROOT / "workloads/llama3_8b_decode.yaml")
PREFILL = str(ROOT / "workloads/llama3_8b_prefill.yaml")
TINY = ["model.num_hidden_layers=2"]
PREFILL_TINY = TINY + ["scenario.prompt=256"]
# path → (unit of the column, [(value in that unit, the override text)])
SWEEP_AXES = {
    "core.mxu.rows": (None, [(8, "8"), (16, "16"), (64, "64")]),
    "memory.hbm.bandwidth": ("TB/s", [(1.6, "1.6 TB/s"), (3.35, "3.35 TB/s")]),
}


def _row(result) -> dict:
    return flat_row(result.summary, getattr(result, "breakdown", None))


def _workload_overrides(workload: str) -> list[str]:
    return PREFILL_TINY if workload == PREFILL else TINY


def write_sweep(out: Path, hardware: str, workloads: list[str], axes: dict, extra_points=()) -> Path:
    """A grid sweep folder as `tortoise sweep` writes it; `extra_points` are (overrides) lists appended
    after the grid (a point that fails becomes an error row)."""
    out.mkdir(parents=True, exist_ok=True)
    grid = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes.values()))]
    points = [{path: value for path, value in p.items()} for p in grid]
    rows = []
    for i, point in enumerate([*points, *extra_points]):
        overrides = [f"{path}={text}" for path, (_, text) in point.items()]
        for workload in workloads:
            key = hashlib.sha256(json.dumps([hardware, overrides, workload, __version__]).encode()).hexdigest()[:16]
            head = {"point": i, "key": key, "hardware": hardware, "workload": Path(workload).stem,
                    "workload_file": workload} | {path: point[path][0] for path in axes}
            try:
                row = head | {"status": "ok", "error": ""} | _row(
                    run_files(hardware, workload, overrides, _workload_overrides(workload)))
            except TortoiseError as exc:
                row = head | {"status": "error", "error": str(exc)}
            rows.append(row)
    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    meta = {"kind": "sweep", "name": out.name, "tortoise": __version__, "mode": "grid",
            "axes": {path: {"unit": unit, "values": [v for v, _ in values]} for path, (unit, values) in axes.items()},
            "hardware": [hardware], "workloads": workloads, "points": len(points) + len(extra_points),
            "rows": len(rows)}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def write_compare(out: Path, designs: list[str], workloads: list[str]) -> Path:
    """A compare folder as `tortoise compare` writes it: compare.csv, ratios.csv, meta.json."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for design, workload in itertools.product(designs, workloads):
        result = run_files(design, workload, [], _workload_overrides(workload))
        rows.append({"design": design, "workload": Path(workload).stem, "status": "ok", "error": ""}
                    | _row(result))
    table = pd.DataFrame(rows)
    table.to_csv(out / "compare.csv", index=False)
    ratio_rows = []
    for workload, group in table.groupby("workload", sort=False):
        by = group.set_index("design")
        for column in ("seconds", "tokens_per_s", "mfu", "mbu"):
            values = {d: by.loc[d, column] for d in designs}
            ratio_rows.append({"workload": workload, "metric": column} | values
                              | {f"{d}/{designs[0]}": values[d] / values[designs[0]] for d in designs})
    pd.DataFrame(ratio_rows).to_csv(out / "ratios.csv", index=False)
    meta = {"kind": "compare", "tortoise": __version__, "designs": designs,
            "workloads": [Path(w).stem for w in workloads], "baseline": designs[0]}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


@pytest.fixture(scope="session")
def sweep_folder(tmp_path_factory) -> Path:
    """h100 with MXU rows × HBM bandwidth, decode and prefill, plus one point that fails (SRAM of 1 KiB)."""
    out = tmp_path_factory.mktemp("sweep") / "mxu"
    bad = {"core.mxu.rows": (16, "16"), "memory.hbm.bandwidth": (3.35, "3.35 TB/s"),
           "core.sram.size": (1, "1 KiB")}
    return write_sweep(out, "h100", [DECODE, PREFILL], SWEEP_AXES, extra_points=[bad])


@pytest.fixture(scope="session")
def compare_folder(tmp_path_factory) -> Path:
    return write_compare(tmp_path_factory.mktemp("compare") / "tpu_vs_gpu", ["tpu_v4", "h100"], [DECODE, PREFILL])


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory) -> Path:
    """`tortoise run` on a 2-chip tensor-parallel system, so communication and links are in the folder."""
    out = tmp_path_factory.mktemp("run") / "tp2"
    assert main(["run", "dgx_h100", DECODE, "--set", "model.num_hidden_layers=2", "--set", "parallel.tp=2",
                 "--out", str(out)]) == 0
    return out
