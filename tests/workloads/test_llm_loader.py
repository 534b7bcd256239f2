"""Model + scenario workload files: paths, bundled names, overrides, and one-line errors."""

import pytest

from simulator.errors import ConfigError
from simulator.workloads.loader import LLMWorkload, bundled_dir, load_workload

EXAMPLES = sorted(p.name for p in bundled_dir().glob("*.yaml") if "model" in p.read_text())


def write(tmp_path, text, name="w.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_bundled_model_workload_loads():
    assert len(EXAMPLES) >= 6
    for name in EXAMPLES:
        wl = load_workload(bundled_dir() / name)
        assert isinstance(wl, LLMWorkload) and wl.model.layers > 0


def test_model_path_relative_to_the_file_or_a_bundled_name(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "tiny.json").write_text('{"hidden_size": 256, "num_hidden_layers": 2, '
                                              '"num_attention_heads": 4, "intermediate_size": 512, "vocab_size": 1000}')
    wl = load_workload(write(tmp_path, "name: t\nmodel: m/tiny.json\n"))
    assert (wl.model.name, wl.model.hidden, wl.scenario.phase) == ("tiny", 256, "decode")
    bundled = load_workload(write(tmp_path, "name: b\nmodel: llama3_8b\nscenario: {phase: prefill}\n", "b.yaml"))
    assert bundled.model.name == "llama3_8b" and bundled.scenario.phase == "prefill"


def test_inline_model_fields(tmp_path):
    wl = load_workload(write(tmp_path, "name: i\nmodel: {hidden_size: 128, num_hidden_layers: 1, "
                                       "num_attention_heads: 2, intermediate_size: 256, vocab_size: 50}\n"))
    assert wl.model.head_dim == 64 and wl.model.name == "i"


def test_overrides_reach_scenario_and_model():
    wl = load_workload(bundled_dir() / "llama3_8b_decode.yaml",
                       ["scenario.batch=8", "model.num_hidden_layers=2", "scenario.kv_cache=fp8"])
    assert (wl.scenario.batch, wl.model.layers, wl.scenario.kv_cache) == (8, 2, "fp8")


@pytest.mark.parametrize("override, source, field, allowed", [
    ("scenario.batch=0", "--set scenario.batch=0", "scenario.batch", "≥ 1"),
    ("scenario.phase=infer", "--set scenario.phase=infer", "scenario.phase",
     "'prefill', 'decode', 'generate', 'train' or 'serve'"),
    ("scenario.weights=int3", "--set scenario.weights=int3", "scenario.weights", "int4"),
    ("scenario.batchsize=2", "--set scenario.batchsize=2", "scenario.batchsize", "unknown field"),
    ("scenario.moe_imbalance=0.5", "--set scenario.moe_imbalance=0.5", "scenario.moe_imbalance", "1"),
    ("scenario.attention_block=63", "--set scenario.attention_block=63", "scenario.attention_block", "even"),
    ("model.hidden_size=-4", "--set model.hidden_size=-4", "hidden_size", "≥ 1"),
])
def test_bad_values_are_one_line_naming_source_and_field(override, source, field, allowed):
    with pytest.raises(ConfigError) as err:
        load_workload(bundled_dir() / "llama3_8b_decode.yaml", [override])
    text = str(err.value)
    assert "\n" not in text and text.startswith(source) and f"{field} = " in text and allowed in text


def test_error_in_the_model_file_names_the_model_file(tmp_path):
    (tmp_path / "bad.json").write_text('{"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, '
                                       '"intermediate_size": 512}')
    with pytest.raises(ConfigError) as err:
        load_workload(write(tmp_path, "name: t\nmodel: bad.json\n"))
    assert str(err.value).startswith(str(tmp_path / "bad.json")) and "vocab_size" in str(err.value)


def test_missing_model_lists_the_bundled_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_workload(write(tmp_path, "name: t\nmodel: llama9.json\n"))
    assert "llama3_8b" in str(err.value) and "model = " in str(err.value)
