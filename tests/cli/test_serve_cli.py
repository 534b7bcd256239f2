"""`tortoise serve`: the workload file or --model, the load flags, outputs, capacity, and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.helpers import cli

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--set", "model.num_hidden_layers=2", "--requests", "60"]


pytestmark = pytest.mark.usefixtures("in_repo_root")  # the README's relative paths resolve


def test_bundled_serving_workload_prints_the_distributions(capsys):
    code, out, _ = cli(capsys, "serve", "h100", "llama3_8b_serve", *SMALL)
    assert code == 0
    for piece in ("TTFT", "TPOT", "ITL", "end to end", "queueing", "SLOs", "KV cache", "goodput", "60 in"):
        assert piece in out


def test_flags_reshape_the_load(capsys):
    _, out, _ = cli(capsys, "serve", "h100", "llama3_8b_serve", *SMALL, "--rate", "3", "--prompt", "fixed:100",
                    "--output", "uniform:5,9", "--policy", "chunked", "--json")
    s = json.loads(out)
    assert s["request_rate"] == 3 and s["mean_prompt_tokens"] == 100 and s["scheduler"] == "chunked"
    assert 5 <= s["mean_output_tokens"] <= 9


def test_model_flag_serves_the_default_section(capsys):
    code, out, _ = cli(capsys, "serve", "h100", "--model", "llama3_8b", *SMALL, "--json")
    assert code == 0 and json.loads(out)["requests"] == 60


def test_out_and_trace_files(capsys, tmp_path):
    out = tmp_path / "serve"
    trace = tmp_path / "t.json"
    code, text, _ = cli(capsys, "serve", "h100", "llama3_8b_serve", *SMALL, "--out", str(out), "--trace", str(trace))
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    requests = pd.read_csv(out / "requests.csv")
    iterations = pd.read_csv(out / "iterations.csv")
    assert len(requests) == summary["requests"] == 60
    assert int(requests["output_tokens"].sum()) == summary["output_tokens"]
    assert len(iterations) == summary["iterations"]
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(e.get("name", "").startswith(("decode", "prefill")) for e in events)
    assert any(e.get("cat") == "request" for e in events)


def test_request_file_replay(capsys, tmp_path):
    path = tmp_path / "reqs.jsonl"
    path.write_text("".join(json.dumps({"arrival_s": i * 0.05, "prompt_tokens": 50 + i, "output_tokens": 4}) + "\n"
                            for i in range(10)))
    _, out, _ = cli(capsys, "serve", "h100", "llama3_8b_serve", "--set", "model.num_hidden_layers=2",
                    "--trace-file", str(path), "--json")
    s = json.loads(out)
    assert s["requests"] == 10 and s["output_tokens"] == 40


def test_capacity_search(capsys, tmp_path):
    code, out, _ = cli(capsys, "serve", "h100", "llama3_8b_serve", *SMALL, "--capacity", "--slo", "ttft_p90=50ms",
                       "--out", str(tmp_path / "cap"))
    assert code == 0 and "highest rate meeting the SLOs" in out
    probes = pd.read_csv(tmp_path / "cap" / "probes.csv")
    assert len(probes) >= 2 and probes["meets_slo"].any()


@pytest.mark.parametrize("argv,says", [
    (["serve", "h100", "llama3_8b_decode"], "scenario.phase"),
    (["serve", "h100", "llama3_8b_serve", "--slo", "ttft_p99=2s,tpot_p90=1s"], "one percentile"),
    (["serve", "h100", "llama3_8b_serve", "--slo", "latency=2s"], "--slo"),
    (["serve", "h100", "llama3_8b_serve", "--prompt", "zipf:2"], "--prompt"),
    (["serve", "h100", "llama3_8b_serve", "--rate", "-3"], "--rate"),
    (["serve", "h100", "llama3_8b_serve", "--set", "parallel.pp=2"], "parallel"),
    (["serve", "h100", "llama3_8b_serve", "--trace-file", "/nonexistent.jsonl"], "trace_file"),
    (["serve", "h100"], "serving workload"),
])
def test_bad_input_is_one_line(argv, says):
    done = subprocess.run([sys.executable, "-c", "import sys; from simulator.cli import main; sys.exit(main())",
                           *argv], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 3
    assert says in done.stderr


def test_run_on_a_serving_workload_says_to_serve_it_in_one_line(capsys):
    code, out, err = cli(capsys, "run", "h100", "workloads/llama3_8b_serve.yaml")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "is a serving workload" in err and "tortoise serve h100 workloads/llama3_8b_serve.yaml" in err
