"""Sweep and compare pictures: the drawn data is the table's, the Pareto front is the non-dominated set,
labels carry units, and other swept axes become lines rather than an average."""

import itertools

import numpy as np
import pandas as pd
import pytest

from simulator.errors import TortoiseError
from simulator.report.compare_plots import bars, ratios
from simulator.report.folders import load_folder
from simulator.report.sweep_plots import Request, heatmap, line, pareto, pareto_front


def brute_front(x, y, x_up, y_up):
    """Definition, point by point: i is dominated if some j is ≥ on both and > on one."""
    sx, sy = (1 if x_up else -1), (1 if y_up else -1)
    out = []
    for i in range(len(x)):
        dominated = any(sx * x[j] >= sx * x[i] and sy * y[j] >= sy * y[i]
                        and (sx * x[j] > sx * x[i] or sy * y[j] > sy * y[i]) for j in range(len(x)))
        out.append(not dominated)
    return np.array(out)


def test_pareto_front_hand_made():
    # higher x better, lower y better: (3, 1) dominates (2, 2); (1, 0.5) and (3, 1) are both optimal
    x, y = [1, 2, 3, 3, 0.5], [0.5, 2, 1, 1, 0.5]
    assert pareto_front(x, y, True, False).tolist() == [True, False, True, True, False]
    # both higher better: only the top-right corner point
    assert pareto_front([1, 2, 3], [1, 2, 3], True, True).tolist() == [False, False, True]


def test_pareto_front_matches_definition_on_random_points():
    rng = np.random.default_rng(7)
    for x_up, y_up in itertools.product((True, False), repeat=2):
        x, y = rng.integers(0, 6, 40).astype(float), rng.integers(0, 6, 40).astype(float)  # many ties
        assert (pareto_front(x, y, x_up, y_up) == brute_front(x, y, x_up, y_up)).all()


def test_line_plots_the_column_one_line_per_workload_and_other_axis(sweep_folder):
    folder = load_folder(sweep_folder)
    fig = line(folder, Request("core.mxu.rows", "tokens_per_s", None, "workload"))
    ax = fig.axes[0]
    table = folder.ok_rows()[0]
    # bandwidth is not drawn nor fixed: 2 workloads × 2 bandwidths = 4 lines, none averaged
    assert len(ax.lines) == 4
    assert ax.get_legend().get_title().get_text() == "workload, memory.hbm.bandwidth"  # named once, in the title
    for l in ax.lines:
        workload, bw = l.get_label().split(", ")  # values only: the legend title names the columns
        rows = table[(table.workload == workload) & np.isclose(table["memory.hbm.bandwidth"],
                                                                 float(bw.removesuffix(" TB/s")))]
        rows = rows.sort_values("core.mxu.rows")
        assert list(l.get_xdata()) == list(rows["core.mxu.rows"])
        assert np.allclose(l.get_ydata(), rows["tokens_per_s"])
    assert ax.get_xlabel() == "core.mxu.rows"
    assert ax.get_ylabel() == "tokens/s"
    assert "2 error rows skipped" in ax.get_title()  # the SRAM-starved point, once per workload


def test_line_where_fixes_an_axis_and_scales_to_the_label_unit(sweep_folder):
    folder = load_folder(sweep_folder)
    fig = line(folder, Request("memory.hbm.bandwidth", "tpot_s", None, None,
                               ("workload=llama3_8b_decode", "core.mxu.rows=16")))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "memory.hbm.bandwidth (TB/s)"
    assert ax.get_ylabel() == "TPOT (ms)"
    (l,) = ax.lines
    t = folder.ok_rows()[0]
    rows = t[(t.workload == "llama3_8b_decode") & (t["core.mxu.rows"] == 16)].sort_values("memory.hbm.bandwidth")
    assert np.allclose(l.get_ydata(), rows["tpot_s"] * 1e3)
    assert l.get_ydata()[0] > l.get_ydata()[-1]  # decode is memory bound: more bandwidth, shorter TPOT


def test_heatmap_cells_are_the_table_and_need_other_axes_fixed(sweep_folder):
    folder = load_folder(sweep_folder)
    with pytest.raises(TortoiseError, match="workload also varies"):
        heatmap(folder, Request("core.mxu.rows", "memory.hbm.bandwidth", "tokens_per_s"))
    fig = heatmap(folder, Request("core.mxu.rows", "memory.hbm.bandwidth", "tokens_per_s", None,
                                  ("workload=llama3_8b_prefill",)))
    grid = fig.axes[0].images[0].get_array()
    t = folder.ok_rows()[0]
    t = t[t.workload == "llama3_8b_prefill"]
    expected = t.pivot_table(index="memory.hbm.bandwidth", columns="core.mxu.rows", values="tokens_per_s")
    assert np.allclose(grid, expected.to_numpy())
    assert fig.axes[1].get_ylabel() == "tokens/s"  # the colour bar
    assert len(fig.axes[0].texts) == expected.size  # small grid: every value written in its cell


def test_pareto_marks_exactly_the_non_dominated_rows(sweep_folder):
    folder = load_folder(sweep_folder)
    fig = pareto(folder, Request("tokens_per_s", "energy_per_token_j", None, "workload",
                                 ("workload=llama3_8b_decode",)))
    ax = fig.axes[0]
    t = folder.ok_rows()[0]
    t = t[t.workload == "llama3_8b_decode"]
    front = brute_front(t.tokens_per_s.to_numpy(), t.energy_per_token_j.to_numpy(), True, False)
    (line_,) = [l for l in ax.lines if l.get_label() == "Pareto front"]
    assert sorted(line_.get_xdata()) == sorted(t.tokens_per_s[front])
    assert np.allclose(sorted(line_.get_ydata()), sorted(t.energy_per_token_j[front] * 1e3))
    assert "→ better" in ax.get_xlabel() and "↓ better" in ax.get_ylabel()
    assert "energy per token (mJ)" in ax.get_ylabel()


def test_pareto_refuses_a_metric_without_direction(sweep_folder):
    with pytest.raises(TortoiseError, match="no better direction"):
        pareto(load_folder(sweep_folder), Request("tokens_per_s", "core.mxu.rows"))


def test_bars_are_ratios_to_the_baseline(compare_folder):
    folder = load_folder(compare_folder)
    panels, designs, baseline, workloads, errors = ratios(folder)
    assert (designs, baseline, errors) == (["tpu_v4", "h100"], "tpu_v4", 0)
    table = pd.read_csv(compare_folder / "compare.csv")
    saved = pd.read_csv(compare_folder / "ratios.csv")
    for column, (_, ratio) in panels.items():
        assert np.allclose(ratio.loc[baseline], 1.0)
        for w in workloads:
            by = table[table.workload == w].set_index("design")[column]
            assert np.isclose(ratio.loc["h100", w], by["h100"] / by["tpu_v4"])
            hit = saved[(saved.workload == w) & (saved.metric == column)]
            if len(hit):
                assert np.isclose(ratio.loc["h100", w], hit["h100/tpu_v4"].iloc[0])
    fig = bars(folder, Request())
    assert len(fig.axes) == len(panels)
    heights = [p.get_height() for p in fig.axes[1].patches]  # tokens/s panel: tpu_v4 bars then h100 bars
    assert np.allclose(heights, list(panels["tokens_per_s"][1].to_numpy().ravel()))
