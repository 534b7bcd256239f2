"""`ts.serve` gives what `tortoise serve` gives: the same summary for the same flags, tables, files."""

import json

import pytest

import simulator as ts
from simulator.cli import main

SETS = ["model.num_hidden_layers=2"]


def test_serve_matches_the_command_line(capsys, tmp_path):
    r = ts.serve("h100", "llama3_8b_serve", set=SETS, requests=40, rate=5, prompt="fixed:200")
    main(["serve", "h100", "llama3_8b_serve", "--set", SETS[0], "--requests", "40", "--rate", "5", "--prompt",
          "fixed:200", "--json"])
    cli = json.loads(capsys.readouterr().out)
    texts = {k for k, v in cli.items() if isinstance(v, list | dict)}  # pytest.approx compares numbers only
    assert r.kind == "serve" and set(r.summary) == set(cli)
    assert {k: v for k, v in r.summary.items() if k not in texts} == pytest.approx({k: cli[k] for k in cli
                                                                                 if k not in texts})
    assert all(r.summary[k] == cli[k] for k in texts)
    assert len(r.requests) == 40 and r.iterations["kv_blocks"].max() > 0 and "TTFT" in r.text()
    paths = r.save(tmp_path / "s")
    assert {p.name for p in paths} == {"requests.csv", "iterations.csv", "summary.json"}


def test_serve_refuses_a_workload_that_is_not_a_service():
    with pytest.raises(ts.TortoiseError, match="phase: serve"):
        ts.serve("h100", "llama3_8b_decode")
