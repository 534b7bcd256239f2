"""`tortoise memory`: the DRAM microbenchmark prints the figures the model computes, writes them with --out,
and refuses bad input in one line (exit 2)."""

import json

import pytest

from simulator.config.loader import load_chip
from simulator.hardware.dram import chip_dram, pattern, simulate
from tests.cli.helpers import cli


def test_chip_memory_figures_are_the_models(capsys):
    code, out, err = cli(capsys, "memory", "h100", "--pattern", "random", "--bytes", "4MiB", "--json")
    assert code == 0 and err == ""
    s = json.loads(out)
    result = simulate(chip_dram(load_chip("h100")), pattern("random"), 4 << 20)
    assert (s["devices"], s["channels"], s["memory"]) == (5, 160, "hbm3")
    assert s["bandwidth_bytes_per_s"] == result.bandwidth and s["bytes"] == 4 << 20
    assert s["row_hit_rate"] == result.row_hit_rate and s["refresh_share"] == result.refresh_share
    assert s["read_latency_p99_ns"] >= s["read_latency_avg_ns"] > 0
    assert s["peak_bytes_per_s"] == pytest.approx(3.35e12) and 0.5 < s["efficiency"] < 0.9


def test_text_output_and_out_folder(capsys, tmp_path):
    code, out, _ = cli(capsys, "memory", "hbm2", "--devices", "2", "--pattern", "kv-gather", "--bytes", "2MiB",
                       "--concurrency", "500", "--read-fraction", "0.75", "--out", str(tmp_path / "m"))
    assert code == 0
    for words in ("2 × hbm2 (HBM2)", "achieved bandwidth", "read latency", "row-buffer hit rate", "refresh share",
                  "concurrency 500 bursts", "read fraction 0.75", "kv-gather (32768 B pieces"):
        assert words in out
    saved = json.loads((tmp_path / "m" / "memory.json").read_text())
    assert saved["concurrency"] == 500 and saved["read_fraction"] == 0.75 and saved["channels"] == 32
    assert f"{saved['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s" in out


def test_refresh_choice_and_chip_overrides(capsys):
    code, out, _ = cli(capsys, "memory", "h100", "--refresh", "none", "--bytes", "1MiB", "--json",
                       "--set", "memory.hbm.dram.devices=4")
    s = json.loads(out)
    assert code == 0 and s["refresh"] == "none" and s["refresh_share"] == 0 and s["devices"] == 4
    assert s["data_rate_mts"] == pytest.approx(3.35e12 * 8 / (4 * 1024) / 1e6, rel=1e-6)  # the bandwidth sets it


@pytest.mark.parametrize("argv, words", [
    (["h100", "--bytes", "lots"], "--bytes: lots: a size such as"),
    (["h100", "--read-fraction", "1.5"], "--read-fraction: 1.5: must be a fraction from 0 to 1"),
    (["systolic_32x32"], "memory.hbm.dram = None: names no DRAM devices"),
    (["h100", "--set", "memory.hbm.dram=gddr6"], "must be a memory preset (configs/memory/)"),
    (["h100", "--devices", "3"], "h100 is a chip"),
    (["h100", "--pattern", "strided", "--chunk", "4KiB", "--stride", "1KiB"], "--stride: 1024: must be at least"),
    (["h100", "--pattern", "zigzag"], "argument --pattern: invalid choice"),
])
def test_bad_input_is_one_line(capsys, argv, words):
    try:
        code, _, err = cli(capsys, "memory", *argv)
    except SystemExit as exc:  # argparse's own errors end the parse
        code, err = exc.code, capsys.readouterr().err
    assert code == 2
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
