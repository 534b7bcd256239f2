"""The Python API (simulator/notebook.py, docs/api.md): the tour in docs/examples/ runs and prints what it
should; `import simulator` stays cheap; names, keywords and overrides mean what they mean on the command line;
a sweep gives the table of its points; bad input is the one-line TortoiseError."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import simulator as ts
from simulator.api import run_files
from simulator.workloads.loader import bundled_dir

ROOT = Path(__file__).resolve().parents[1]
HF = ROOT / "tests" / "workloads" / "hf_configs"


def _python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=300)


def test_the_tour_runs_as_a_script_and_prints_its_facts(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "api_tour.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    decode = run_files("h100", "workloads/llama3_8b_decode.yaml").summary
    assert f"decode step: {decode['seconds'] * 1e3:.3f} ms, {decode['tokens_per_s']:.1f} tokens/s" in out
    assert "Mixtral-8x7B: 46.70 B parameters" in out
    assert "GPT-2 from its config fields: 124.4 M parameters" in out
    assert "2 of 2 rows done, 0 errors" in out and "sweep: batch  1: 165 tokens/s" in out
    assert "refused: run(model='llama3_8b'): scenario.prompt = 100000: " in out
    assert "Traceback" not in done.stderr


def test_import_simulator_loads_nothing_heavy_until_it_is_used():
    code = ("import sys, simulator as ts\n"
            "heavy = ('pandas', 'pyarrow', 'numba', 'simpy', 'matplotlib', 'pydantic', 'numpy', 'simulator.notebook')\n"
            "print(*[m for m in heavy if m in sys.modules])\n"
            "ts.run\nprint('simulator.notebook' in sys.modules, 'pandas' in sys.modules)")
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["", "True False"]


def test_names_resolve_as_on_the_command_line():
    by_name = ts.run("h100", "llama3_8b_decode")
    assert by_name.summary == run_files("h100", "workloads/llama3_8b_decode.yaml").summary
    assert by_name.kind == "inference" and by_name.notes == ()
    assert by_name.breakdown["share"].sum() == pytest.approx(1.0)
    assert set(by_name.table["name"]) >= {"qkv_proj", "lm_head"}
    assert repr(by_name).startswith("llama3_8b_decode: llama3_8b decode on h100")


def test_keywords_are_the_cli_scenario_flags():
    keywords = ts.run("h100", model="llama3_8b", phase="prefill", batch=2, prompt=96)
    file = ts.run("h100", "llama3_8b_prefill", set=["scenario.batch=2", "scenario.prompt=96"])
    for key in ("cycles", "flops", "bytes_hbm_read", "phase", "batch", "prompt", "params"):
        assert keywords.summary[key] == file.summary[key]
    assert keywords.summary["workload"] == "llama3_8b_prefill"  # named as `tortoise run --model` names it


def test_overrides_as_a_dict_equal_the_same_strings():
    strings = ts.run("h100", "llama3_8b_decode", set=["memory.hbm.bandwidth=6.7 TB/s", "scenario.batch=8"])
    mapping = ts.run("h100", "llama3_8b_decode", set={"memory.hbm.bandwidth": "6.7 TB/s", "scenario.batch": 8})
    assert strings.summary == mapping.summary and strings.summary["batch"] == 8


def test_a_training_step_lands_through_phase_train():
    step = ts.run("h100", model="llama3_8b", phase="train", batch=2, seq=512,
                  set=["training.micro_batch=1", "scenario.check_capacity=false"])
    assert step.kind == "train" and step.summary["phase"] == "train" and step.summary["global_batch"] == 2
    assert "training step on h100" in step.text()


def test_a_system_run_has_its_system_tables():
    one, eight = ts.run("h100", "llama3_8b_decode"), ts.run("dgx_h100", model="llama3_70b", set=["parallel.tp=8"])
    assert one.stages is None and one.links is None and one.timeline is None
    assert len(eight.links) > 0 and len(eight.stages) == 1 and eight.summary["chips"] == 8


def test_notes_come_with_the_result():
    result = ts.run("h100", model=str(HF / "falcon_7b.json"), phase="decode", context=100)
    assert result.notes and result.notes == result.raw.workload.model.notes
    assert ts.model(HF / "gemma2_9b.json").params() == pytest.approx(9.24e9, rel=0.001)
    assert ts.model("llama3_8b") == ts.load(model="llama3_8b").model


@pytest.mark.parametrize("call, message", [
    (lambda: ts.run("h100", "llama3_8b_decode", batch=4),
     "run: batch goes with model=…; to change a workload's scenario use set=['scenario.batch=…']"),
    (lambda: ts.run("h100", "llama3_8b_decode", model="llama3_8b"), "not both"),
    (lambda: ts.run("h100"), "give a workload"),
    (lambda: ts.run("h100", model="llama3_8b", seq=512), "seq=512 is a training step's sequence length"),
    (lambda: ts.run("h100", "llama3_8b_decode", set=[3]), "set: 3: each override is a 'path=value' string"),
    (lambda: ts.run("h100", "llama3_8b_decode", set=["bogus.x=1"]), "--set bogus.x=1: bogus = 'bogus'"),
    (lambda: ts.run("h100", "typo/llama3_8b_decode.yaml"), "typo/llama3_8b_decode.yaml"),
    (lambda: ts.run("h100", model="typo/llama3_8b.json"), "model = 'typo/llama3_8b.json': no such file"),
    (lambda: ts.sweep("nowhere.yaml", workers=0), "sweep: workers = 0: must be a whole number ≥ 1"),
    (lambda: ts.load("llama3_8b_decode", set=["memory.hbm.bandwidth=1 TB/s"]), "give them to run()"),
])
def test_bad_input_is_one_tortoise_error_line(call, message):
    with pytest.raises(ts.TortoiseError) as err:
        call()
    assert "\n" not in str(err.value) and message in str(err.value)


def test_loaded_objects_run_as_they_are():
    workload = ts.load("llama3_8b_decode", set=["scenario.batch=2"])
    from simulator.config.loader import load_chip

    assert ts.run(load_chip("h100"), workload).summary == ts.run("h100", "llama3_8b_decode",
                                                                  set=["scenario.batch=2"]).summary
    with pytest.raises(ts.TortoiseError, match="a loaded workload is used as it is"):
        ts.run("h100", workload, set=["scenario.batch=4"])


def test_save_writes_the_folder_run_out_writes(tmp_path):
    result = ts.run("h100", "llama3_8b_decode")
    paths = result.save(tmp_path / "run")
    assert sorted(p.name for p in paths) == ["breakdown.csv", "ops.csv", "summary.json"]
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["cycles"] == result.summary["cycles"] and saved["workload"] == "llama3_8b_decode"


def test_a_sweep_gives_the_table_of_its_points(tmp_path):
    spec = tmp_path / "batch.yaml"
    spec.write_text("name: batch\nhardware: h100\nworkloads: [workloads/llama3_8b_decode.yaml]\n"
                    "axes:\n  scenario.batch: [1, 4]\n")
    table = ts.sweep(spec, out=tmp_path / "out", workers=1)
    assert list(table["scenario.batch"]) == [1, 4] and set(table["status"]) == {"ok"}
    for _, row in table.iterrows():
        one = ts.run("h100", "llama3_8b_decode", set=[f"scenario.batch={row['scenario.batch']}"])
        assert row["cycles"] == one.summary["cycles"]
    assert (tmp_path / "out" / "results.csv").is_file()  # the folder `tortoise sweep --out` writes
    again = ts.sweep(spec, workers=1)  # in a temporary folder, removed afterwards
    assert list(again["cycles"]) == list(table["cycles"])


def test_sweep_stays_callable_beside_the_sweep_package():
    import simulator.sweep.spec  # the import system sets simulator.sweep to the subpackage

    assert callable(ts.sweep) and ts.sweep.spec is simulator.sweep.spec
    from simulator import sweep

    assert sweep is ts.sweep and sweep.spec.load_sweep is simulator.sweep.spec.load_sweep
    assert (bundled_dir() / "llama3_8b_decode.yaml").is_file()
