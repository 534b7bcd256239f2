"""The training validation data (benchmarks/validation/training/): every CSV parses, every row's model loads
with the shapes its table gives, and the FLOP count behind the Megatron-LM comparison reproduces the
reference's own derived figures. Loads only; simulates nothing."""

import csv
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "validation" / "training"


def script():
    spec = importlib.util.spec_from_file_location("validate_training", ROOT / "benchmarks" / "validate_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MEGATRON = list(csv.DictReader((DATA / "megatron.csv").open()))
FOUNDRY = list(csv.DictReader((DATA / "llm_foundry.csv").open()))


def test_every_csv_row_is_complete():
    for path in DATA.glob("*.csv"):
        with path.open() as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        assert rows, path
        for r in rows:
            assert None not in r and all(v is not None for v in r.values()), (path, r)  # no ragged rows
            assert r["source"], (path, r)
    assert len(MEGATRON) == 14 and len(FOUNDRY) == 16


@pytest.mark.parametrize("r", MEGATRON, ids=[f"{r['table']}-{r['model']}" for r in MEGATRON])
def test_megatron_row_loads_with_its_tables_shapes(r):
    wl = script().megatron_workload(r)
    m, p = wl.model, wl.parallel
    assert (m.hidden, m.layers, m.heads, m.vocab) == (int(r["hidden"]), int(r["layers"]), int(r["heads"]), 51200)
    assert (p.tp, p.pp, p.dp) == (int(r["tp"]), int(r["pp"]), int(r["dp"]))
    assert p.tp * p.pp * p.dp == int(r["gpus"]) and int(r["gpus"]) % 8 == 0  # whole DGX A100 nodes
    assert wl.training.recompute == r["recompute"] and wl.training.sequence == 2048
    assert p.sequence_parallel == (r["sequence_parallel"] == "yes")
    assert (r["measured_tflops_per_gpu"] != "") == (r["table"] == "4.1")
    assert (r["measured_mfu"] != "") == (r["table"] == "4.2")


@pytest.mark.parametrize("r", FOUNDRY, ids=[f"{r['chip']}-{r['model']}-{r['sequence']}" for r in FOUNDRY])
def test_foundry_row_loads(r):
    wl = script().foundry_workload(r)
    assert wl.training.global_batch == int(r["global_batch"]) and wl.parallel.dp == int(r["gpus"])


def test_every_model_file_is_used_and_in_the_readme():
    used = {r["model"] for r in MEGATRON}
    files = {p.stem for p in (DATA / "models").glob("*.json")}
    assert files == used
    readme = (DATA / "README.md").read_text()
    assert all(f"{name}.json" in readme for name in files)


def test_megatron_flop_count_gives_the_references_derived_seconds():
    v = script()
    # reference/training.md § 1.3: GPT-3 175B, batch 1536, 1,024 A100 at 138 TFLOP/s/GPU → 31.9 s [DERIVED]
    gpt3 = {"global_batch": 1536, "hidden": 12288, "layers": 96}
    assert v.megatron_flops(gpt3, 4) / (1024 * 138e12) == pytest.approx(31.9, abs=0.05)
    # § 4.1's [D] s/iteration column, first and last rows
    by_model = {r["model"]: r for r in MEGATRON if r["table"] == "4.1"}
    for name, seconds in (("megatron_gpt_1_7b", 3.5), ("megatron_gpt_1t", 102.6)):
        r = by_model[name]
        flops = v.megatron_flops(r, 4)
        assert flops / (int(r["gpus"]) * float(r["measured_tflops_per_gpu"]) * 1e12) == pytest.approx(seconds, abs=0.05)
    # model FLOPs (3 passes) over full-recompute FLOPs: 72/96 on the layers, equal on the logit layer
    r = by_model["megatron_gpt_1t"]
    assert v.megatron_flops(r, 3) / v.megatron_flops(r, 4) == pytest.approx(39.2 / (163 / 312 * 100), abs=0.01)
