"""Sweep files: expansion (grid, zip, random), ranges, units and tied paths, as facts about the points."""

import math
from pathlib import Path

import pytest

from simulator.config.units import RATE_UNITS, SIZE_UNITS
from simulator.errors import ConfigError
from simulator.sweep.spec import expand, load_sweep

HEAD = "hardware: tpu_v4\nworkloads: [workloads/llama3_8b_decode.yaml]\n"


def sweep_from(tmp_path: Path, body: str):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + body)
    return load_sweep(str(path))


def test_grid_is_the_cartesian_product_with_the_first_axis_slowest(tmp_path):
    sweep = sweep_from(tmp_path, "axes:\n  core.mxu.rows: [64, 128, 256]\n  scenario.batch: [1, 8]\n"
                                 "  core.sram.size: [16 MiB, 32 MiB, 64 MiB, 128 MiB]\n")
    points = expand(sweep)
    assert len(points) == 3 * 2 * 4 == sweep.grid_size
    assert len({p.values for p in points}) == len(points)  # all distinct
    assert [p.index for p in points] == list(range(24))
    assert points[0].values == (64, 1, 16) and points[1].values == (64, 1, 32) and points[-1].values == (256, 8, 128)


def test_zip_advances_axes_together(tmp_path):
    sweep = sweep_from(tmp_path, "mode: zip\naxes:\n  core.mxu.rows: [64, 128, 256]\n  scenario.batch: [1, 8, 32]\n")
    assert [p.values for p in expand(sweep)] == [(64, 1), (128, 8), (256, 32)]


def test_random_draws_distinct_grid_points_reproducibly(tmp_path):
    body = "mode: random\nsamples: 10\nseed: {seed}\naxes:\n  core.mxu.rows: [32, 64, 128, 256]\n" \
           "  memory.hbm.bandwidth: {{from: 1 TB/s, to: 2 TB/s, steps: 5}}\n  scenario.batch: [1, 2, 4]\n"
    first = [p.values for p in expand(sweep_from(tmp_path, body.format(seed=7)))]
    again = [p.values for p in expand(sweep_from(tmp_path, body.format(seed=7)))]
    other = [p.values for p in expand(sweep_from(tmp_path, body.format(seed=8)))]
    grid = {p.values for p in expand(sweep_from(tmp_path, body.format(seed=7).replace("mode: random\nsamples: 10\n",
                                                                                       "")))}
    assert len(first) == 10 == len(set(first))
    assert set(first) <= grid and len(grid) == 60
    assert first == again and first != other


def test_linear_range_hits_both_ends_exactly(tmp_path):
    sweep = sweep_from(tmp_path, "axes:\n  memory.hbm.bandwidth: {from: 0.8 TB/s, to: 3.2 TB/s, steps: 7}\n")
    (axis,) = sweep.axes
    assert axis.unit == "TB/s"
    assert axis.values == (0.8, 1.2, 1.6, 2.0, 2.4, 2.8, 3.2)  # exact decimals, not 1.2000000000000002
    assert axis.config_value(axis.values[1]) == "1.2 TB/s"


def test_log_range_of_whole_numbers_stays_integers(tmp_path):
    sweep = sweep_from(tmp_path, "axes:\n  core.mxu.rows: {from: 64, to: 256, steps: 3, scale: log}\n"
                                 "  memory.hbm.bandwidth: {from: 1 TB/s, to: 16 TB/s, steps: 5, scale: log}\n")
    rows, bandwidth = sweep.axes
    assert rows.values == (64, 128, 256) and all(type(v) is int for v in rows.values)
    assert bandwidth.values == (1, 2, 4, 8, 16)
    ratios = [b / a for a, b in zip(bandwidth.values, bandwidth.values[1:], strict=False)]
    assert all(math.isclose(r, 2) for r in ratios)


def test_step_range_and_descending(tmp_path):
    sweep = sweep_from(tmp_path, "axes:\n  core.mxu.rows: {from: 256, to: 64, step: 64}\n")
    assert sweep.axes[0].values == (256, 192, 128, 64)


def test_units_are_converted_exactly_to_the_first_values_unit(tmp_path):
    sweep = sweep_from(tmp_path, "axes:\n  core.sram.size: [16 MiB, 1 GiB, 512 KiB]\n"
                                 "  memory.hbm.bandwidth: {from: 800 GB/s, to: 3.2 TB/s, steps: 4}\n")
    size, bandwidth = sweep.axes
    assert size.unit == "MiB" and size.values == (16, 1024, 0.5)
    assert [v * SIZE_UNITS["MiB"] for v in size.values] == [16 * 2**20, 2**30, 512 * 2**10]
    assert bandwidth.unit == "GB/s" and bandwidth.values == (800, 1600, 2400, 3200)
    assert bandwidth.values[-1] * RATE_UNITS["GB/s"] == 3.2 * RATE_UNITS["TB/s"]


def test_tied_paths_take_the_same_value(tmp_path):
    sweep = sweep_from(tmp_path, "axes:\n  core.mxu.rows, core.mxu.cols: [64, 128]\n  scenario.batch: [1, 2]\n")
    for point in expand(sweep):
        columns = point.columns(sweep)
        assert columns["core.mxu.rows"] == columns["core.mxu.cols"]
    assert len(expand(sweep)) == 4


def test_a_hardware_list_is_the_first_axis(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("hardware: [tpu_v4, h100]\nworkloads: [workloads/llama3_8b_decode.yaml]\n"
                    "axes:\n  scenario.batch: [1, 8, 32]\n")
    sweep = load_sweep(str(path))
    assert [p.values for p in expand(sweep)][:4] == [("tpu_v4", 1), ("tpu_v4", 8), ("tpu_v4", 32), ("h100", 1)]


@pytest.mark.parametrize("body, message", [
    ("axes:\n  core.mxu.rows: []\n", "empty axis"),
    ("axes:\n  core.mxu.rows: {}\n", "empty axis"),
    ("axes:\n  memory.hbm.bandwidth: {from: 0.8 TBs, to: 1 TB/s, steps: 3}\n", "unknown unit 'TBs'"),
    ("axes:\n  core.sram.size: [16 MiB, 1 TB/s]\n", "mixes units of different kinds"),
    ("axes:\n  core.sram.size: [16 MiB, 1024]\n", "mixes plain numbers and numbers with a unit"),
    ("mode: zip\naxes:\n  core.mxu.rows: [1, 2]\n  scenario.batch: [1, 2, 3]\n", "mode zip needs axes of equal length"),
    ("mode: random\naxes:\n  core.mxu.rows: [1, 2]\n", "mode: random needs samples"),
    ("mode: random\nsamples: 3\naxes:\n  core.mxu.rows: [1, 2]\n", "must be ≤ 2"),
    ("mode: grod\n", "must be one of grid, zip, random"),
    ("axis: {}\n", "unknown field; allowed here: name"),
    ("axes:\n  core.mxu.rows: {from: 1, to: 4}\n", "needs steps"),
    ("axes:\n  core.mxu.rows: {from: 1, to: 4, steps: 1}\n", "≥ 2"),
    ("set: [core.mxu.rows=64]\naxes:\n  core.mxu.rows: [1, 2]\n", "also fixed by set"),
])
def test_bad_sweep_files_are_one_line(tmp_path, body, message):
    with pytest.raises(ConfigError) as info:
        sweep_from(tmp_path, body)
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith(str(tmp_path / "s.yaml"))


def test_several_paths_take_one_value_each_from_every_item(tmp_path):
    sweep = sweep_from(tmp_path, "axes:\n  parallel.tp, parallel.dp: [[8, 1], [4, 2], [1, 8]]\n"
                                 "  scenario.batch: [1, 8]\n")
    points = expand(sweep)
    assert len(points) == 3 * 2
    assert points[2].columns(sweep) == {"parallel.tp": 4, "parallel.dp": 2, "scenario.batch": 1}
    assert points[2].describe(sweep) == "parallel.tp=4, parallel.dp=2, scenario.batch=1"


@pytest.mark.parametrize("body, message", [
    ("axes:\n  parallel.tp, parallel.dp: [[8, 1], [4]]\n", "gives 1 value(s) for 2 paths"),
    ("axes:\n  parallel.tp, parallel.dp: [[8, 1], [8, 1]]\n", "lists the same values twice"),
    ("axes:\n  parallel.tp, parallel.dp: [[8, [1]]]\n", "must be plain numbers or text"),
])
def test_bad_per_path_axes_are_one_line(tmp_path, body, message):
    with pytest.raises(ConfigError) as info:
        sweep_from(tmp_path, body)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_bundled_parallelism_sweep_plans_one_split_per_item(tmp_path):
    from simulator.sweep.plan import plan

    root = Path(__file__).resolve().parents[2]
    the_plan = plan(load_sweep(str(root / "configs/sweeps/train_parallelism.yaml")))
    assert len(the_plan.rows) == 20
    row = the_plan.rows[0]  # tp 8, pp 1, dp 1, micro-batch 1
    assert row.columns == {"parallel.tp": 8, "parallel.pp": 1, "parallel.dp": 1,
                                                 "training.micro_batch": 1}
    assert "parallel.tp=8" in row.task.workload_overrides and "parallel.dp=1" in row.task.workload_overrides
