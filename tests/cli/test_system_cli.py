"""`tortoise run` on systems of chips: the issue's two commands, output files, one-line errors."""

import json

import pandas as pd
import pytest

from tests.cli.helpers import cli

pytestmark = pytest.mark.usefixtures("in_repo_root")  # the README's relative paths resolve


def test_tensor_parallel_decode_on_dgx_h100_prints_the_per_chip_split_and_links(capsys, tmp_path):
    code, out, err = cli(capsys, "run", "configs/dgx_h100.yaml", "workloads/llama3_70b_decode.yaml",
                         "--set", "parallel.tp=8", "--out", str(tmp_path))
    assert code == 0 and err == ""
    for piece in ("8 of 8 chips (switch)", "tp=8", "all_reduce:ring", "exposed comm", "overlapped comm",
                  "link 0→switch", "communication", "network"):
        assert piece in out
    stages = pd.read_csv(tmp_path / "stages.csv")
    links = pd.read_csv(tmp_path / "links.csv")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(stages) == 1 and stages["chips"][0] == 8
    assert len(links) == 16  # every GPU's uplink and downlink to the switch
    assert (links["utilization"] <= 1).all()
    parts = stages[["compute_s", "memory_stall_s", "overhead_s", "exposed_comm_s", "idle_s"]].sum(axis=1)
    assert parts[0] == pytest.approx(summary["seconds"], rel=1e-9)
    ops = pd.read_csv(tmp_path / "ops.csv")
    assert set(ops["type"]) == {"gemm", "vector", "collective"}


def test_expert_parallel_prefill_on_a_tpu_slice(capsys):
    code, out, err = cli(capsys, "run", "configs/tpu_v4_2x2x2.yaml", "workloads/mixtral_8x7b_prefill.yaml",
                         "--set", "parallel.ep=8")
    assert code == 0 and err == ""
    assert "8 of 8 chips (torus3d)" in out and "ep=8" in out and "all_to_all:direct" in out


def test_pipeline_run_writes_one_stage_row_per_stage(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "dgx_h100", "workloads/llama3_70b_decode.yaml", "--set", "parallel.pp=4",
                       "--set", "parallel.tp=2", "--set", "parallel.microbatches=4", "--set", "scenario.batch=8",
                       "--out", str(tmp_path))
    assert code == 0 and err == ""
    stages = pd.read_csv(tmp_path / "stages.csv")
    assert list(stages["stage"]) == [0, 1, 2, 3]
    assert (stages["idle_s"] > 0).all()  # fill and drain of the pipeline
    ops = pd.read_csv(tmp_path / "ops.csv")
    assert set(ops["stage"]) == {0, 1, 2, 3}
    # the layers are shared out 20 per stage, the embedding on the first and the head on the last
    layer = ops[ops["segment"] == "layer"].groupby("stage")["repeat"].first()
    assert list(layer) == [20, 20, 20, 20]
    assert set(ops[ops["segment"] == "embedding"]["stage"]) == {0}
    assert set(ops[ops["segment"] == "head"]["stage"]) == {3}
    # the timeline shows the fill: stage s starts micro-batch 0 after stage s − 1 has finished it and sent it
    timeline = pd.read_csv(tmp_path / "timeline.csv")
    first = timeline[(timeline["kind"] == "compute") & (timeline["microbatch"] == 0)].set_index("stage")
    sends = timeline[(timeline["kind"] == "send") & (timeline["microbatch"] == 0)].set_index("stage")
    for s in (1, 2, 3):
        assert first.loc[s, "start"] == sends.loc[s - 1, "end"] >= first.loc[s - 1, "end"]
    assert len(timeline[timeline["kind"] == "compute"]) == 4 * 4


@pytest.mark.parametrize("setting, words", [
    (["parallel.tp=3"], ["parallel.tp", "3"]),
    (["parallel.tp=16"], ["tp×cp×pp×ep×dp = 16 chips", "system.chips = 8"]),
    (["parallel.ep=2"], ["parallel.ep"]),
    (["system.topology=torus2d"], ["system", "dims"]),
    (["system.link.bandwidth=fast"], ["system.link.bandwidth", "fast"]),
    (["system.collectives=tree"], ["system.collectives", "tree"]),
])
def test_bad_system_or_parallel_input_is_one_line(capsys, setting, words):
    argv = ["run", "configs/dgx_h100.yaml", "workloads/llama3_70b_decode.yaml"]
    for item in setting:
        argv += ["--set", item]
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tortoise: error: ")
    for word in words:
        assert word in lines[0]
