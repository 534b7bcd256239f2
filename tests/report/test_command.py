"""`tortoise plot` through the CLI: every kind writes a non-empty file of the format its suffix names, and
bad input ends in one line with exit status 2."""

import pytest

from simulator.cli import main

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}
SWEEP_KINDS = [
    ("line", ["--x", "core.mxu.rows", "--y", "tokens_per_s", "--hue", "workload"]),
    ("heatmap", ["--x", "core.mxu.rows", "--y", "memory.hbm.bandwidth", "--z", "tpot_s", "--where",
                 "workload=llama3_8b_decode"]),
    ("pareto", ["--x", "tokens_per_s", "--y", "energy_per_token_j", "--hue", "workload"]),
]


def _check(path, suffix):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(MAGIC[suffix])
    if suffix == ".svg":
        assert b"<svg" in data and data.rstrip().endswith(b"</svg>")


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
@pytest.mark.parametrize("kind, flags", SWEEP_KINDS)
def test_sweep_kinds(sweep_folder, tmp_path, capsys, kind, flags, suffix):
    out = tmp_path / f"{kind}{suffix}"
    assert main(["plot", str(sweep_folder), "--kind", kind, *flags, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    _check(out, suffix)


@pytest.mark.parametrize("kind", ["roofline", "breakdown", "timeline", "energy"])
def test_run_kinds_default_out(run_folder, capsys, kind):
    assert main(["plot", str(run_folder), "--kind", kind]) == 0
    out = run_folder / "plots" / f"{kind}.png"
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    _check(out, ".png")


def test_auto_picks_bars_for_compare_and_roofline_for_run(compare_folder, run_folder, capsys):
    assert main(["plot", str(compare_folder)]) == 0
    _check(compare_folder / "plots" / "bars.png", ".png")
    assert main(["plot", str(run_folder), "--out", str(run_folder / "auto.svg")]) == 0
    assert b"Roofline" in (run_folder / "auto.svg").read_bytes()


def test_same_inputs_same_file(sweep_folder, tmp_path):
    for suffix in (".png", ".svg", ".pdf"):
        a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        for out in (a, b):
            main(["plot", str(sweep_folder), "--x", "core.mxu.rows", "--y", "mfu", "--hue", "workload", "--out",
                  str(out)])
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("argv, words", [
    (["--x", "core.mxu.rows", "--y", "tokens_per_sec"], ["'tokens_per_sec' is not a column", "tokens_per_s,"]),
    (["--y", "tokens_per_s"], ["give --x COLUMN"]),
    (["--x", "core.mxu.rows", "--y", "mfu", "--out", "x.jpg"], ["unknown image format '.jpg'", ".png, .svg, .pdf"]),
    (["--x", "core.mxu.rows", "--y", "mfu", "--where", "core.mxu.rows=12"], ["no row has core.mxu.rows = 12",
                                                                             "8, 16, 64"]),
    (["--kind", "roofline"], ["is a sweep folder; it supports line, heatmap, pareto"]),
    (["--kind", "pareto", "--x", "tokens_per_s", "--y", "hardware"], ["no better direction"]),
])
def test_bad_input_is_one_line(sweep_folder, capsys, argv, words):
    assert main(["plot", str(sweep_folder), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tortoise: error: ") and err.count("\n") == 1
    for w in words:
        assert w in err


def test_not_a_folder(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a run, sweep or compare folder" in capsys.readouterr().err
