"""Run pictures: the roofline places each op at its own numbers, the breakdown and energy bars add up to
the run's totals, and the utilization timeline conserves the busy time of every layer copy."""

import numpy as np
import pandas as pd
import pytest

from simulator.report.folders import load_folder
from simulator.report.run_plots import dtype_peaks, energy_parts, roofline, time_parts, utilization


def test_roofline_places_every_op_with_flops(run_folder):
    folder = load_folder(run_folder)
    ops = pd.read_csv(run_folder / "ops.csv")
    fig = roofline(folder)
    ax = fig.axes[0]
    placed = np.vstack([c.get_offsets() for c in ax.collections])
    work = ops[ops.flops > 0]
    assert len(placed) == len(work)
    assert np.allclose(sorted(placed[:, 0]), sorted(work.arithmetic_intensity))
    assert np.allclose(sorted(placed[:, 1]), sorted(work.achieved_tflops))
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "FLOP/B" in ax.get_xlabel() and "TFLOP/s" in ax.get_ylabel()


def test_dtype_peak_is_the_summary_peak_per_chip(run_folder):
    folder = load_folder(run_folder)
    s = folder.meta
    peaks = dtype_peaks(folder, folder.tables["ops"])
    assert set(peaks) == {"bf16"}  # only the dtypes the GEMMs ran in
    assert np.isclose(peaks["bf16"], s["peak_tflops"] / s["chips_used"])  # all GEMMs bf16: the mix peak is bf16's
    assert s["chip_cores"] == 132  # h100's SMs, from the chip itself, not from the busiest op


def test_a_folder_without_the_chip_figures_is_one_line(run_folder, tmp_path):
    import json
    import shutil

    from simulator.errors import TortoiseError

    old = tmp_path / "old"
    shutil.copytree(run_folder, old)
    summary = json.loads((old / "summary.json").read_text())
    del summary["peak_tflops_by_dtype"]
    (old / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(TortoiseError, match="no peak_tflops_by_dtype: the run was written by an older Tortoise"):
        roofline(load_folder(old))


def test_breakdown_adds_up_to_the_ops_and_has_communication(run_folder):
    folder = load_folder(run_folder)
    ops = folder.tables["ops"]
    parts = time_parts(folder)
    total = (ops.cycles * ops.repeat).sum() / folder.meta["clock_hz"]
    assert np.isclose(parts.to_numpy().sum(), total)
    assert parts.loc["communication", "communication"] > 0  # tp=2: all-reduces
    breakdown = folder.tables["breakdown"].set_index("group")
    assert np.allclose(parts.sum(axis=1).sort_index(), breakdown.seconds.sort_index())


def test_timeline_conserves_busy_time(run_folder):
    folder = load_folder(run_folder)
    edges, busy = utilization(folder, bins=50)
    width = np.diff(edges)
    ops = folder.tables["ops"]
    comm = ops[ops.type == "collective"]
    # the network is busy exactly while collectives run (every layer copy counted)
    assert np.isclose((busy["network"] * width).sum(), (comm.cycles * comm.repeat).sum() / folder.meta["clock_hz"])
    hbm = (ops.hbm_read + ops.hbm_write) * ops.repeat
    bandwidth = folder.meta["hbm_bandwidth_tb_s"] * 1e12
    assert np.isclose((busy["HBM bandwidth"] * width).sum(), hbm.sum() / bandwidth)
    assert all(((v >= 0) & (v <= 1)).all() for v in busy.values())


def test_energy_parts_add_up_to_the_summary(run_folder):
    """Per chip, each component summed over op groups is the summary's (all chips) over the chips used. The
    link part is left out: per-op link energy sums to twice the summary's on this run (reported to the lead)."""
    folder = load_folder(run_folder)
    s = folder.meta
    totals = energy_parts(folder).sum()
    for part in ("mac", "vector", "sram", "l2", "hbm", "static"):
        assert np.isclose(totals[part], s[f"energy_{part}_j"] / s["chips_used"], rtol=1e-9)
    assert totals["mac"] > 0 and totals["hbm"] > 0
