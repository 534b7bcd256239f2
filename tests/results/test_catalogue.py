"""The metric catalogue: every key a real run produces has an entry with a unit and a direction; compare,
plots and the report label, scale and judge a metric the same way (through their own code paths); a
metric's direction decides which design compare calls best; docs/metrics.md is the catalogue's table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.results import catalogue
from simulator.results.catalogue import DIRECTIONS, FAMILIES, METRICS, Metric, auto_unit, best, known, metric
from simulator.results.row import flat_row

ROOT = Path(__file__).resolve().parents[2]
RUNS = {  # name: (hardware, workload, workload overrides)
    "decode": ("configs/h100.yaml", "workloads/llama3_8b_decode.yaml", []),
    "system": ("configs/dgx_h100.yaml", "workloads/llama3_70b_decode.yaml", ["parallel.tp=8"]),
    "generate": ("configs/h100.yaml", "workloads/llama3_8b_generate.yaml",
                 ["model.num_hidden_layers=2", "scenario.output_tokens=3"]),
    "op_list": ("configs/h100.yaml", "workloads/gemm_demo.yaml", []),
    "train": ("configs/dgx_h100.yaml", "workloads/llama3_8b_train.yaml",
              ["model.num_hidden_layers=2", "training.sequence=512", "training.global_batch=16"]),
    "serve": ("configs/h100.yaml", "workloads/llama3_8b_serve.yaml",
              ["model.num_hidden_layers=2", "serving.requests=20"]),
}


@pytest.fixture(scope="module")
def results():
    from simulator.api import run_files

    return {name: run_files(str(ROOT / hw), str(ROOT / wl), workload_overrides=ov)
            for name, (hw, wl, ov) in RUNS.items()}


@pytest.mark.parametrize("name", list(RUNS))
def test_every_key_of_a_real_run_has_an_entry_with_unit_and_direction(results, name):
    result = results[name]
    row = flat_row(result.summary, getattr(result, "breakdown", None))
    keys = list(row) + [k for k in result.summary if not isinstance(result.summary[k], dict)]
    missing = [k for k in keys if not known(k)]
    assert missing == [], f"{name}: no catalogue entry for {missing}; add them to simulator/results/catalogue.py"
    for key in keys:
        m = metric(key)
        value = row.get(key, result.summary.get(key))
        assert m.name == key and m.label and m.unit and m.better in DIRECTIONS, key
        if isinstance(value, bool):
            assert m.unit == "flag", key
        elif isinstance(value, str):
            assert m.unit == "text", key
        else:
            assert m.unit not in ("text", "flag"), key


def test_the_system_run_has_the_system_families(results):
    row = flat_row(results["system"].summary, results["system"].breakdown)
    assert {"parallel.tp", "time_share.communication", "bound.communication", "link_bytes",
            "exposed_comm_share"} <= set(row)
    assert metric("parallel.tp").label == "TP degree" and metric("bound.communication").unit == "text"
    assert {"ttft_s", "e2e_s", "prefill_mfu", "decode_mbu", "decode_tokens_per_s"} <= set(results["generate"].summary)


def test_an_unknown_name_gets_a_neutral_entry():
    m = metric("something_new.per_widget")
    assert (m.label, m.unit, m.better, m.scale, m.heading) == ("something_new.per_widget", "", "none", 1.0,
                                                              "something_new.per_widget")
    assert not known("something_new.per_widget")
    assert m.text(3.14159) == "3.142" and m.text(None) == "—" and m.text("x") == "x"


def test_families_name_their_part():
    assert metric("time_share.mlp").heading == "time share of mlp (%)"
    assert metric("group_s.qkv_proj").heading == "qkv_proj time (ms)" and metric("group_s.mlp").better == "lower"
    assert metric("energy_hbm_j").heading == "HBM energy (J)" and metric("energy_hbm_j").better == "lower"
    assert metric("bytes_hbm_read").heading == "HBM read bytes (GB)"
    assert metric("prefill_mfu").heading == "prefill MFU (%)" and metric("prefill_mfu").better == "higher"
    assert metric("parallel.sequence_parallel").unit == "flag"  # an exact name wins over its family
    assert metric("mfu").label == "MFU"  # `<phase>_mfu` needs a phase


def test_scales_and_text():
    assert metric("tpot_s").display(0.005) == pytest.approx(5.0) and metric("tpot_s").text(0.005) == "5 ms"
    assert metric("mfu").text(0.5) == "50 %" and metric("mfu").text(0.5, unit=False) == "50"
    assert metric("memory_required").text(16_597_797_376) == "16.6 GB"
    assert metric("cycles").text(11_120_727) == "11,120,727 cycles"
    assert metric("fused_attention").text(True) == "yes" and metric("tokens_per_s").heading == "tokens/s"
    assert metric("tokens_per_s_per_user").heading == "tokens/s per user"  # the label already names the unit
    assert metric("compute_cycles").heading == "compute cycles" and metric("batch").heading == "batch"
    with pytest.raises(ValueError, match="no conversion"):
        Metric("x", "x", "s", "lower", "GB")
    with pytest.raises(ValueError, match="better"):
        Metric("x", "x", "s", "smaller")


def test_auto_unit_keeps_the_largest_value_between_1_and_1000():
    assert auto_unit("s", 0.0042) == ("ms", 1e3) and auto_unit("s", 3.0) == ("s", 1.0)
    assert auto_unit("J", 2e-7) == ("nJ", 1e9) and auto_unit("J", 0) == ("nJ", 1e9)
    assert auto_unit("B", 5e10) == ("GB", 1e-9)


def test_every_entry_is_well_formed():
    for name, m in METRICS.items():
        assert m.name == name and m.label and m.better in DIRECTIONS
        assert m.scale == catalogue.CONVERSIONS.get((m.unit, m.shown), 1.0)
    for f in FAMILIES:
        assert f.match(f.prefix + "x" + f.suffix) is not None and f.better in DIRECTIONS


def test_the_catalogue_imports_neither_pandas_nor_matplotlib():
    code = ("import sys, simulator.results.catalogue; "
            "print(sorted({'pandas', 'matplotlib', 'numpy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- compare and report read the same entries

def _rows():
    """Two designs on one decode workload, as compare rows: a is faster, b has the higher MFU."""
    common = {"workload": "w", "status": "ok", "error": "", "chip": "c", "seconds": 0.0, "model_bytes": 1e9}
    a = common | {"design": "a", "tpot_s": 1e-3, "tokens_per_s": 1000.0, "mfu": 0.5, "memory_required": 2e9,
                  "energy_per_token_j": 0.002, "time_share.mlp": 0.75, "bound.mlp": "memory"}
    b = common | {"design": "b", "tpot_s": 2e-3, "tokens_per_s": 500.0, "mfu": 0.6, "memory_required": 2e9,
                  "energy_per_token_j": 0.003, "time_share.mlp": 0.5, "bound.mlp": "compute"}
    for r in (a, b):
        r["seconds"] = r["tpot_s"]
    return [a, b]


def _comparison():
    from simulator.sweep.compare import Comparison

    return Comparison(["a", "b"], ["w"], _rows())


def _table_rows(text: str) -> dict[str, list[str]]:
    """compare's printed table: row heading → its cells (designs, ratio, better, best)."""
    out = {}
    for line in text.splitlines()[2:]:
        if line.startswith("  ") and not line.startswith("   "):
            cells = [c.strip() for c in line[2:].split("  ") if c.strip()]
            out[cells[0]] = cells[1:]
    return out


def test_a_metrics_direction_decides_which_design_compare_calls_best(monkeypatch):
    from simulator.sweep.compare import table_text

    c = _comparison()
    assert c.best("w", "tpot_s") == ["a"] and c.best("w", "tokens_per_s") == ["a"]
    assert c.best("w", "mfu") == ["b"]  # higher is better
    assert c.best("w", "memory_required") == ["a", "b"]  # a tie
    assert c.best("w", "model_bytes") == []  # no direction: nobody wins
    table = _table_rows(table_text(c))
    assert table["TPOT (ms)"][-2:] == ["lower", "a"] and table["MFU (%)"][-2:] == ["higher", "b"]
    assert table["HBM footprint (GB)"][-1] == "tie"
    # the direction is read from the catalogue: flip it there and compare changes its mind
    monkeypatch.setitem(METRICS, "tpot_s", Metric("tpot_s", "TPOT", "s", "higher", "ms"))
    assert c.best("w", "tpot_s") == ["b"] and _table_rows(table_text(c))["TPOT (ms)"][-2:] == ["higher", "b"]
    assert best("tpot_s", {"a": 1e-3, "b": 2e-3}) == ["b"]


def test_compare_plots_and_report_give_the_same_label_unit_and_direction(tmp_path):
    """Each consumer through its own code path: compare's table, plot axes (style.axis_label), the
    Pareto direction (sweep_plots), the compare bars' titles and the report's key-metrics table."""
    from simulator.report.compare_plots import bars
    from simulator.report.document import Table, build_report
    from simulator.report.folders import load_folder
    from simulator.report.style import axis_label
    from simulator.report.sweep_plots import Request, _direction
    from simulator.sweep.compare import table_text, write_folder

    c = _comparison()
    table = _table_rows(table_text(c))
    shown = [m for m in c.metrics("w") if not m.name.startswith("time_share.")]  # shares sit beside group times
    assert {m.name for m in shown} >= {"tpot_s", "tokens_per_s", "mfu", "memory_required", "group_s.mlp"}
    for m in shown:
        assert axis_label(m.name) == m.heading  # plot axes say what compare's rows say
        assert table[m.heading][-2] == (m.better if m.better != "none" else "—")
        if m.better != "none":
            assert _direction(m.name, "--x") == (m.better == "higher")  # the Pareto front's best corner
    write_folder(tmp_path / "cmp", c)
    folder = load_folder(tmp_path / "cmp")
    fig = bars(folder, Request())
    panels = {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_title()}
    assert set(panels) == {metric(k).label for k in ("seconds", "tokens_per_s", "mfu", "energy_per_token_j")}
    for name in ("seconds", "tokens_per_s", "mfu", "energy_per_token_j"):
        m = metric(name)
        assert f"{m.better} is better" in panels[m.label].get_title()
    assert panels["latency"].get_xlabel() == "a: 1 ms"  # the baseline's value in the catalogue's unit
    assert panels["energy per token"].get_xlabel() == "a: 2 mJ"
    report = build_report([folder])
    key = next(s for s in report.sections if s.title == "Key metrics")
    headers = next(b for b in key.blocks if isinstance(b, Table)).columns
    for name in ("seconds", "tokens_per_s", "mfu", "energy_per_token_j"):
        assert metric(name).heading in headers
    for name in ("tokens_per_s", "mfu", "energy_per_token_j"):  # compare shows TPOT instead of `seconds`
        assert metric(name).heading in table
    assert json.loads((tmp_path / "cmp" / "meta.json").read_text())["baseline"] == "a"


# ---------------------------------------------------------------- docs

def test_the_docs_table_is_the_catalogue():
    text = (ROOT / "docs/metrics.md").read_text()
    start = text.index("-->\n", text.index("<!-- catalogue table")) + 4
    end = text.index("<!-- end of catalogue table")
    assert text[start:end] == catalogue.markdown_table(), \
        "docs/metrics.md is out of date: python -m simulator.results.catalogue gives the table"
    for doc in ("compare.md", "sweeps.md"):
        assert "(metrics.md)" in (ROOT / "docs" / doc).read_text()
