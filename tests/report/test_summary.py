"""What the report says in words: the executive summary's numbers, the configuration tables (parallelism,
precisions, context, link bandwidth, cost only where the summary has it), and a flat line said rather than
drawn."""

import json
import shutil

from simulator.report.blocks import Figure, Table
from simulator.report.configuration import parallelism
from simulator.report.document import build_report
from simulator.report.folders import load_folder
from tests.report.conftest import write_sweep


def _sections(*folders):
    return {s.title: s.blocks for s in build_report([load_folder(f) for f in folders]).sections}


def _rows(table: Table) -> dict:
    return {r[0]: r[1:] for r in table.rows}


def test_run_configuration_has_parallelism_precisions_context_and_links(run_folder):
    config = _rows(next(b for b in _sections(run_folder)["Configurations"] if isinstance(b, Table)))
    assert config["parallelism"] == ["TP 2; PP, DP, EP 1"]
    assert config["precisions"] == ["weights bf16, activations bf16, KV cache bf16"]
    assert config["context (tokens)"] == ["4,096"] and config["batch"] == ["1"]
    assert config["link bandwidth"] == ["450 GB/s per link, each direction (4 directed links used)"]
    assert config["chips used"] == ["2 of 8 (switch)"]
    assert config["cost per chip-hour (USD/h)"] == ["2.99"]  # dgx_h100's price (docs/cost.md)


def test_cost_is_shown_where_the_summary_has_it(run_folder, tmp_path):
    folder = tmp_path / "priced"
    shutil.copytree(run_folder, folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary["cost_per_million_tokens_usd"] = 1.25
    (folder / "summary.json").write_text(json.dumps(summary))
    config = _rows(next(b for b in _sections(folder)["Configurations"] if isinstance(b, Table)))
    assert config["cost_per_million_tokens_usd"] == ["1.25"]


def test_parallelism_text():
    assert parallelism({"parallel.tp": 4, "parallel.pp": 2, "parallel.dp": 1}) == "TP 4, PP 2; DP 1"
    assert parallelism({"parallel": {"tp": 8, "pp": 1, "microbatches": 4, "sequence_parallel": True}}) == \
        "TP 8; PP 1; sequence parallel; 4 micro-batches"
    assert parallelism({"chips_used": 1}) == "none (one chip)"


def test_compare_configuration_is_one_column_per_chip(compare_folder):
    blocks = _sections(compare_folder)["Configurations"]
    hardware, workloads = [b for b in blocks if isinstance(b, Table)]
    assert hardware.columns == ["", "tpu_v4", "h100"]
    assert _rows(hardware)["HBM bandwidth (TB/s)"] == ["1.2", "3.35"]
    assert _rows(hardware)["link bandwidth per chip (GB/s, each direction)"] == ["— (one chip)"] * 2
    assert workloads.columns == ["", "llama3_8b_decode", "llama3_8b_prefill"]  # both chips ran the same settings
    assert _rows(workloads)["phase"] == ["decode", "prefill"]


def test_executive_summary_of_a_compare_names_the_ratios(compare_folder):
    summary = _sections(compare_folder)["Executive summary"]
    text = " ".join(summary[0])
    assert "the baseline is tpu_v4" in text
    assert "llama3_8b_decode: h100: TPOT" in text and "tokens/s" in text and "× (" in text
    assert isinstance(summary[-1], Figure) and summary[-1].key == ("bars",)


def test_a_flat_axis_is_said_in_words_not_drawn(tmp_path):
    rows = [{"a": a, "b": b, "tokens_per_s": 10.0 * a + 0.01 * b, "energy_per_token_j": 1.0 / a,
             "seconds": 0.1 / a} for a in (1, 2, 4) for b in (1, 2, 3)]
    folder = write_sweep(tmp_path / "flat", {"a": (None, [1, 2, 4]), "b": ("MiB", [1, 2, 3])}, rows)
    by = _sections(folder)
    drawn = [f.key[1].x for f in by["Plots"] if isinstance(f, Figure) and f.key[0] == "line"]
    assert drawn == [] and by["Executive summary"][-1].key[1].x == "a"  # a's line is the summary's picture
    plots_text = " ".join(b for b in by["Plots"] if isinstance(b, str))
    assert "Not drawn, being flat lines: b changes tokens/s by at most 0.2 %" in plots_text
    assert "Shown in the executive summary" in plots_text
    said = " ".join(by["Executive summary"][0])
    assert "a up to 4.00×" in said and "b changes tokens/s by at most 0.2 % (not drawn)" in said
    assert "best 40.03 tokens/s at a = 4, b = 1/2/3 MiB (with 2 tied points)" in said  # within 0.05 %
    assert "no trade-off to draw" in plots_text  # tokens/s and energy agree: no Pareto picture
    assert not any(isinstance(f, Figure) and f.key[0] == "heatmap" for f in by["Plots"])  # one axis moves: no map
