"""Part 9 of issue 14, each on data whose picture is known exactly: coincident lines are drawn once and
named together, a `scale: log` axis is drawn log, ticks sit at the swept values, a random sweep is a
scatter, a Pareto front of tied designs says so, an op-list roofline has its HBM roof, legend titles are
not repeated in the labels, bars are named by chip with units on every number, and every plot of a
folder has its own default file name."""

import json
import shutil

import numpy as np
import pytest

from simulator.cli import main
from simulator.report.compare_plots import bars, design_names
from simulator.report.draw import default_name
from simulator.report.folders import load_folder
from simulator.report.run_plots import roofline
from simulator.report.sweep_plots import Request, line, pareto
from tests.report.conftest import ROOT, write_sweep

BW = [1.0, 2.0, 4.0, 8.0, 16.0]
LOG_SPEC = ("axes:\n  memory.hbm.bandwidth: {from: 1 TB/s, to: 16 TB/s, steps: 5, scale: log}\n"
            "  scenario.batch: [1, 8, 32]\n")


def _grid(tmp_path, spec=LOG_SPEC, mode="grid"):
    """tokens/s = bandwidth × 10 for batch 1 and 8 (the same line twice), × 20 for batch 32."""
    rows = [{"memory.hbm.bandwidth": bw, "scenario.batch": b, "tokens_per_s": bw * (20 if b == 32 else 10),
             "energy_per_token_j": 1.0 / bw, "seconds": 1 / bw} for bw in BW for b in (1, 8, 32)]
    return load_folder(write_sweep(tmp_path / "bw", {"memory.hbm.bandwidth": ("TB/s", BW),
                                                     "scenario.batch": (None, [1, 8, 32])}, rows, mode, spec))


def test_coincident_lines_are_drawn_once_and_named_together(tmp_path):
    ax = line(_grid(tmp_path), Request("memory.hbm.bandwidth", "tokens_per_s")).axes[0]
    labels = [l.get_label() for l in ax.lines]
    assert labels == ["1 = 8", "32"]  # batch 1 and 8 give the same line: one line, both named
    assert ax.get_legend().get_title().get_text() == "scenario.batch"
    assert "drawn once and named together" in ax.get_title()
    assert ax.lines[0].get_linewidth() > ax.lines[1].get_linewidth()  # earlier lines wider: near-equal ones show


def test_log_swept_axis_is_log_with_ticks_at_the_swept_values(tmp_path):
    ax = line(_grid(tmp_path), Request("memory.hbm.bandwidth", "tokens_per_s")).axes[0]
    assert ax.get_xscale() == "log"  # 1 → 16 is 16×, below the 50× rule: log because the sweep says so
    assert list(ax.get_xticks()) == BW
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8", "16"]
    linear = line(_grid(tmp_path / "lin", spec=LOG_SPEC.replace("log", "linear")),
                  Request("memory.hbm.bandwidth", "tokens_per_s")).axes[0]
    assert linear.get_xscale() == "linear" and list(linear.get_xticks()) == BW


def test_meta_scale_wins_without_a_sweep_file(tmp_path):
    folder = _grid(tmp_path, spec=None)
    assert line(folder, Request("memory.hbm.bandwidth", "tokens_per_s")).axes[0].get_xscale() == "linear"
    meta = json.loads((folder.path / "meta.json").read_text())
    meta["axes"]["memory.hbm.bandwidth"]["scale"] = "log"
    (folder.path / "meta.json").write_text(json.dumps(meta))
    assert line(load_folder(folder.path), Request("memory.hbm.bandwidth", "tokens_per_s")).axes[0].get_xscale() == \
        "log"


def test_an_axis_that_changes_nothing_is_drawn_once_and_said(tmp_path):
    rows = [{"a": a, "b": b, "tokens_per_s": a * 2.0} for a in (1, 2, 3) for b in (10, 20)]
    folder = load_folder(write_sweep(tmp_path / "flat", {"a": (None, [1, 2, 3]), "b": ("MiB", [10, 20])}, rows))
    ax = line(folder, Request("a", "tokens_per_s")).axes[0]
    assert len(ax.lines) == 1 and ax.get_legend() is None
    assert "b (10 MiB, 20 MiB) does not change tokens/s" in ax.get_title()


def test_random_sweep_is_a_scatter(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"a": float(a), "b": float(b), "tokens_per_s": float(a + b)} for a, b in rng.uniform(1, 9, (20, 2))]
    folder = load_folder(write_sweep(tmp_path / "rand", {"a": (None, []), "b": (None, [])}, rows, mode="random"))
    ax = line(folder, Request("a", "tokens_per_s")).axes[0]
    assert not ax.lines and len(ax.collections) == 1
    assert len(ax.collections[0].get_offsets()) == 20
    assert "random sweep, 20 sampled points; b vary between them" in ax.get_title()


def test_pareto_front_of_tied_designs_says_so(tmp_path):
    rows = [{"a": a, "tokens_per_s": 10.0 if a >= 2 else 5.0, "energy_per_token_j": 1.0 if a >= 2 else 2.0}
            for a in (1, 2, 3, 4)]
    folder = load_folder(write_sweep(tmp_path / "tie", {"a": (None, [1, 2, 3, 4])}, rows))
    ax = pareto(folder, Request("tokens_per_s", "energy_per_token_j")).axes[0]
    assert "the front is one point: 3 designs tie on both metrics" in ax.get_title()
    assert any(t.get_text().startswith("3 designs tie: a=2/3/4") for t in ax.texts)


def test_op_list_roofline_draws_the_hbm_roof(tmp_path):
    out = tmp_path / "gemm"
    assert main(["run", "h100", str(ROOT / "workloads/gemm_demo.yaml"), "--out", str(out)]) == 0
    folder = load_folder(out)
    assert "hbm_bandwidth_tb_s" not in folder.meta  # an op-list summary does not record it
    ax = roofline(folder).axes[0]
    roof = ax.lines[0]
    x, y = roof.get_xdata(), roof.get_ydata()
    assert np.allclose(y[:5], x[:5] * 3.35)  # the HBM slope of h100: 3.35 TB/s × FLOP/B = TFLOP/s
    assert any("HBM 3.35 TB/s" in t.get_text() for t in ax.texts)
    assert any("HBM roof of the h100 preset" in t.get_text() for t in ax.texts)


def test_bars_named_by_chip_with_units_on_every_number(tmp_path, compare_folder):
    folder = load_folder(compare_folder)
    assert list(design_names(folder).values()) == ["tpu_v4", "h100"]
    renamed = tmp_path / "paths"
    shutil.copytree(compare_folder, renamed)
    meta = json.loads((renamed / "meta.json").read_text())
    meta["designs"] = [f"configs/{d}.yaml" for d in meta["designs"]]
    meta["baseline"] = meta["designs"][0]
    (renamed / "meta.json").write_text(json.dumps(meta))
    compare = (renamed / "compare.csv")
    compare.write_text(compare.read_text().replace("\ntpu_v4,", "\nconfigs/tpu_v4.yaml,").replace(
        "\nh100,", "\nconfigs/h100.yaml,"))
    fig = bars(load_folder(renamed), Request())
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["tpu_v4", "h100"]  # not the file paths
    for ax in fig.axes:
        values = ax.get_xlabel().removeprefix("tpu_v4: ").split(", ")
        assert len(values) == 2  # one per workload
        assert all(v.split(" ")[-1] in ("ms", "tokens/s", "%", "mJ") for v in values)  # each number has its unit
        assert all(t.get_text().endswith("×") for t in ax.texts)
    assert fig.axes[0].get_ylabel() == "ratio to tpu_v4 (×)"


def test_every_plot_has_its_own_default_file(sweep_folder, capsys):
    assert default_name("line", Request("core.mxu.rows", "tokens_per_s")) == "line_core.mxu.rows_tokens_per_s.png"
    assert default_name("roofline") == "roofline.png"
    for flags in (["--x", "core.mxu.rows", "--y", "tokens_per_s"], ["--x", "memory.hbm.bandwidth", "--y", "mfu"],
                  ["--x", "core.mxu.rows", "--y", "mfu", "--hue", "workload", "--where", "workload=llama3_8b_decode"]):
        assert main(["plot", str(sweep_folder), *flags]) == 0
    written = [line.removeprefix("wrote ") for line in capsys.readouterr().out.split("\n") if line]
    assert [p.rsplit("/", 1)[1] for p in written] == [
        "line_core.mxu.rows_tokens_per_s.png", "line_memory.hbm.bandwidth_mfu.png",
        "line_core.mxu.rows_mfu_by_workload_where_workload=llama3_8b_decode.png"]


@pytest.mark.parametrize("kind", ["line", "pareto"])
def test_pictures_of_hand_made_sweeps_are_deterministic(tmp_path, kind):
    folder = _grid(tmp_path)
    request = Request("memory.hbm.bandwidth", "tokens_per_s") if kind == "line" else \
        Request("tokens_per_s", "energy_per_token_j")
    outs = []
    for name in ("a.png", "b.png"):
        out = tmp_path / name
        assert main(["plot", str(folder.path), "--kind", kind, "--x", request.x, "--y", request.y, "--out",
                     str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
