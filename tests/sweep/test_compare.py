"""`tortoise compare`: rows equal `run`, ratios equal value / baseline, error rows for designs a workload
does not fit, the folder format other commands read, and one-line errors for bad input."""

import json
from pathlib import Path

import pandas as pd
import pytest

from simulator import __version__
from simulator.api import run_files
from simulator.cli import main
from simulator.sweep.compare import run_comparison, unique_labels

ROOT = Path(__file__).resolve().parents[2]
DECODE = str(ROOT / "workloads/llama3_8b_decode.yaml")
SMALL = ["model.num_hidden_layers=2"]


@pytest.fixture(scope="module")
def pair():
    return run_comparison(["tpu_v4", "h100"], [DECODE], SMALL)


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_ratio_is_value_over_baseline(pair):
    ratios = pair.ratios()
    assert list(ratios.columns) == ["workload", "metric", "tpu_v4", "h100", "h100/tpu_v4"]
    assert {"tpot_s", "tokens_per_s", "mfu", "mbu", "roofline_fraction", "memory_required", "peak_tflops",
            "hbm_bandwidth_tb_s", "time_share.mlp", "group_s.attention"} <= set(ratios["metric"])
    for r in ratios.itertuples():
        if pd.isna(r.tpu_v4) or pd.isna(r.h100):  # a figure one design lacks (h100's die area): no ratio
            assert pd.isna(r[5])
        else:
            assert r[5] == r.h100 / r.tpu_v4
    tokens = ratios.set_index("metric").loc["tokens_per_s"]
    assert tokens["h100/tpu_v4"] == pytest.approx(pair.rows[0]["tpot_s"] / pair.rows[1]["tpot_s"])  # tokens/s = 1/TPOT


def test_rows_equal_what_run_gives(pair):
    for design, row in zip(("tpu_v4", "h100"), pair.rows, strict=True):
        summary = run_files(design, DECODE, [], SMALL).summary
        assert row["design"] == design and row["status"] == "ok" and row["error"] == ""
        for key in ("cycles", "tokens_per_s", "mfu", "mbu", "chip", "memory_required"):
            assert row[key] == summary[key]
        assert row["bound.mlp"] in ("memory", "compute")


def test_a_design_against_itself_gives_ratios_of_exactly_one():
    same = run_comparison(["h100", "h100"], [DECODE], SMALL)
    assert same.designs == ["h100", "h100#2"]
    ratios = same.ratios()
    nonzero = ratios[ratios["h100"] != 0]
    assert len(nonzero) > 10 and (nonzero["h100#2/h100"] == 1.0).all()
    assert ratios.loc[ratios["h100"] == 0, "h100#2/h100"].isna().all()  # no ratio to a zero


def test_a_workload_that_does_not_fit_is_an_error_row(tmp_path, capsys):
    tiny = tmp_path / "tiny_hbm.yaml"
    tiny.write_text("preset: h100\nname: tiny_hbm\nmemory:\n  hbm:\n    size: 1 GB\n")
    code, out, err = cli(capsys, "compare", "h100", str(tiny), "--workload", DECODE, "--set", SMALL[0],
                         "--out", str(tmp_path / "out"))
    assert code == 0
    rows = pd.read_csv(tmp_path / "out" / "compare.csv", keep_default_na=False)
    assert list(rows["status"]) == ["ok", "error"]
    error = rows.loc[1, "error"]
    assert "\n" not in error and "GB" in error and rows.loc[1, "chip"] == "tiny_hbm"
    assert rows.loc[0, "tokens_per_s"] != "" and rows.loc[1, "tokens_per_s"] == ""
    assert f"tiny_hbm: error: {error}" in out and "error" in out.splitlines()[2]
    ratios = pd.read_csv(tmp_path / "out" / "ratios.csv")
    assert ratios[f"{tiny}/h100"].isna().all() and ratios["h100"].notna().any()


def test_folder_format(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "tpu_v4", "h100", "--workload", DECODE, "--workload", str(ROOT / "workloads/gemm_demo.yaml"),
            "--set", "clock=1 GHz", "--out", str(out)]
    code, text, _ = cli(capsys, *args)
    assert code == 0 and f"wrote {out / 'meta.json'}" in text
    meta = json.loads((out / "meta.json").read_text())
    assert meta == {"kind": "compare", "tortoise": __version__, "designs": ["tpu_v4", "h100"],
                    "workloads": ["llama3_8b_decode", "gemm_demo"], "baseline": "tpu_v4"}
    rows = pd.read_csv(out / "compare.csv")
    assert list(rows.columns[:4]) == ["design", "workload", "status", "error"]
    assert list(zip(rows["design"], rows["workload"], strict=True)) == [
        ("tpu_v4", "llama3_8b_decode"), ("h100", "llama3_8b_decode"), ("tpu_v4", "gemm_demo"), ("h100", "gemm_demo")]
    assert (rows["clock_hz"] == 1e9).all()  # --set reached every design
    ratios = pd.read_csv(out / "ratios.csv")
    assert list(ratios.columns) == ["workload", "metric", "tpu_v4", "h100", "h100/tpu_v4"]
    assert set(ratios["workload"]) == {"llama3_8b_decode", "gemm_demo"}
    demo = ratios[ratios["workload"] == "gemm_demo"].set_index("metric")
    by_design = rows[rows["workload"] == "gemm_demo"].set_index("design")
    assert demo.loc["seconds", "h100/tpu_v4"] == by_design.loc["h100", "seconds"] / by_design.loc["tpu_v4", "seconds"]
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    cli(capsys, *args)  # deterministic: the same command writes the same bytes
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_table_names_directions_and_bottlenecks(pair):
    from simulator.sweep.compare import table_text

    text = table_text(pair)
    lines = {line.split("  ")[1].strip(): line for line in text.splitlines()[1:] if line.startswith("  ")}
    assert "h100/tpu_v4" in text.splitlines()[1] and text.splitlines()[1].split()[-2:] == ["better", "best"]
    # labels and units are the catalogue's headings (the same as plot axes and report tables)
    assert lines["TPOT (ms)"].split()[-2:] == ["lower", "h100"] and lines["tokens/s"].split()[-2:] == ["higher", "h100"]
    assert "memory" in lines["mlp time (ms)"] and "%" in lines["mlp time (ms)"]


@pytest.mark.parametrize("argv, needle", [
    (["compare", "no_such_chip", "h100", "--workload", DECODE], "no_such_chip"),
    (["compare", "h100", "--workload", "missing.yaml"], "missing.yaml"),
    (["compare", "h100", "tpu_v4", "--workload", DECODE, "--set", "core.mxu.rows=-3"], "core.mxu.rows"),
    (["compare", "h100", "--workload", DECODE, "--set", "nonsense.x=1"], "nonsense"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("tortoise: error:") and needle in err


def test_unique_labels():
    assert unique_labels(["a", "b", "a", "a"]) == ["a", "b", "a#2", "a#3"]
