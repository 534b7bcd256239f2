"""Per-chip capacity with parallelism, and the one-line errors for splits the lowering cannot do."""

import json

import pytest

from simulator.errors import CapacityError, ConfigError
from simulator.workloads.capacity import check_capacity, footprint
from simulator.workloads.loader import bundled_dir, load_workload
from simulator.workloads.model import load_model, model_from_mapping
from simulator.workloads.parallel import ONE_CHIP, Parallel
from simulator.workloads.scenario import Scenario
from simulator.workloads.sharding import local_model
from simulator.workloads.transformer import lower

MODELS = bundled_dir() / "models"


def model(name, **changes):
    if not changes:
        return load_model(MODELS / f"{name}.json")
    return model_from_mapping(json.loads((MODELS / f"{name}.json").read_text()) | changes, f"{name}.json", name)


def fp(m, s, par=ONE_CHIP):
    return footprint(m, s, lower(m, s, par), par)


def test_llama3_70b_in_bf16_needs_four_chips(h100):
    m, s = model("llama3_70b"), Scenario(phase="decode", batch=1, context=4096)
    hbm = h100.hbm.size
    with pytest.raises(CapacityError):
        check_capacity(fp(m, s), hbm, m, s, h100.name, "w.yaml")
    four = fp(m, s, Parallel(tp=4))
    assert four.total <= hbm
    check_capacity(four, hbm, m, s, h100.name, "w.yaml", Parallel(tp=4))
    assert 4 * four.weights > fp(m, s).weights  # norms are replicated on every chip


def test_capacity_error_is_per_chip_and_names_the_parallel_setting(h100):
    m, s = model("llama3_70b"), Scenario(phase="decode", batch=64, context=8192)
    par = Parallel(tp=2, sequence_parallel=True)
    with pytest.raises(CapacityError) as err:
        check_capacity(fp(m, s, par), h100.hbm.size, m, s, h100.name, "w.yaml", par)
    text = str(err.value)
    assert "\n" not in text and text.startswith("w.yaml: llama3_70b decode")
    assert " per chip with tp=2, sequence_parallel — weights " in text
    assert "raise parallel.tp or parallel.pp" in text and "memory.hbm.size = 80.0 GB" in text
    moe, s = model("mixtral_8x7b"), Scenario(phase="decode", batch=8, context=100)
    with pytest.raises(CapacityError) as err:
        check_capacity(fp(moe, s, Parallel(ep=2)), 10**9, moe, s, "x", "w.yaml", Parallel(ep=2))
    assert "per chip with ep=2" in str(err.value) and "parallel.tp, parallel.pp or parallel.ep" in str(err.value)


def test_a_pipeline_stage_holds_its_layers_and_the_larger_end():
    m, s = model("llama3_70b"), Scenario(phase="decode", batch=4, context=1000)
    for pp, layers in ((2, 40), (3, 27), (80, 1)):
        held = fp(m, s, Parallel(pp=pp))
        # bf16 throughout; the last stage's LM head plus final norm outweighs the first stage's embedding.
        assert held.weights == 2 * (layers * m.layer_params() + m.vocab * m.hidden + m.norm_params)
        assert held.kv_cache * m.layers == fp(m, s).kv_cache * layers


def test_tied_embeddings_are_copied_to_the_last_stage():
    m, s = model("gpt3_175b", n_layer=4), Scenario(phase="decode", batch=2, context=10)
    assert m.tied_embeddings
    one, two = fp(m, s).weights, fp(m, s, Parallel(pp=2)).weights
    layer, table = 2 * m.layer_params(), 2 * m.vocab * m.hidden
    positions = 2 * m.max_positions * m.hidden
    assert one == 4 * layer + table + positions + 2 * m.norm_params
    assert two == 2 * layer + table + positions  # the first stage (embedding and positions) is the larger
    tied = model("llama3_8b", tie_word_embeddings=True)  # no positions: the last stage is the larger
    assert fp(tied, s, Parallel(pp=2)).weights == 2 * (16 * tied.layer_params() + tied.vocab * tied.hidden
                                                       + tied.norm_params)


def test_kv_cache_per_chip_holds_its_sequences_and_its_kv_heads():
    m = model("mixtral_8x7b")
    s = Scenario(phase="decode", batch=16, context=2048)
    single = fp(m, s).kv_cache
    assert fp(m, s, Parallel(ep=4, dp=2)).kv_cache * 8 == single  # 2 of the 16 sequences
    assert fp(m, s, Parallel(tp=4)).kv_cache * 4 == single  # 2 of the 8 KV heads
    assert fp(m, s, Parallel(tp=4, microbatches=4)).kv_cache * 4 == single  # all micro-batches stay cached


def test_local_model_of_one_chip_is_the_model():
    m = model("qwen3_30b_a3b")
    assert local_model(m, Parallel(dp=4, pp=2, ep=8)) == m
    shard = local_model(m, Parallel(tp=8))
    assert (shard.heads, shard.kv_heads, shard.expert_intermediate, shard.experts) == (4, 1, 96, 128)


def write(tmp_path, text):
    path = tmp_path / "w.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("workload, overrides, field, allowed", [
    ("llama3_8b_decode", ["parallel.tp=3"], "parallel.tp", "must divide num_attention_heads (32)"),
    ("llama3_8b_decode", ["model.num_attention_heads=24", "model.head_dim=128", "parallel.tp=6"], "parallel.tp",
     "num_key_value_heads (8)"),
    ("llama3_8b_decode", ["model.intermediate_size=14337", "parallel.tp=2"], "parallel.tp",
     "must divide intermediate_size (14337)"),
    ("qwen3_30b_a3b_decode", ["model.moe_intermediate_size=769", "parallel.tp=2"], "parallel.tp",
     "moe_intermediate_size (769)"),
    ("qwen3_30b_a3b_decode", ["model.shared_expert_intermediate_size=1001", "parallel.tp=2"], "parallel.tp",
     "shared experts' width (1001)"),
    ("llama3_8b_decode", ["parallel.ep=2"], "parallel.ep", "dense model"),
    ("mixtral_8x7b_decode", ["parallel.ep=3"], "parallel.ep", "must divide num_experts (8)"),
    ("llama3_8b_decode", ["parallel.pp=33"], "parallel.pp", "at most num_hidden_layers (32)"),
    ("llama3_8b_decode", ["scenario.batch=3", "parallel.dp=2"], "parallel.dp", "must divide scenario.batch (3)"),
    ("mixtral_8x7b_decode", ["scenario.batch=4", "parallel.dp=2", "parallel.ep=4"], "parallel.ep",
     "scenario.batch / dp = 2"),
    ("llama3_8b_decode", ["scenario.batch=4", "parallel.dp=2", "parallel.microbatches=4"], "parallel.microbatches",
     "scenario.batch / (dp × ep) = 2"),
    ("llama3_8b_decode", ["scenario.batch=2", "parallel.tp=4", "parallel.sequence_parallel=true"],
     "parallel.sequence_parallel", "a decode pass has 2"),
    ("llama3_8b_prefill", ["scenario.batch=1", "scenario.prompt=10", "parallel.tp=4",
                           "parallel.sequence_parallel=true"], "parallel.sequence_parallel", "a prefill pass has 10"),
])
def test_parallel_settings_that_do_not_divide_are_one_line_errors(workload, overrides, field, allowed):
    with pytest.raises(ConfigError) as err:
        load_workload(bundled_dir() / f"{workload}.yaml", overrides)
    text = str(err.value)
    culprit = next(o for o in overrides if o.startswith(field))
    assert "\n" not in text and text.startswith(f"--set {culprit}: {field} = ") and allowed in text


def test_parallel_errors_in_a_file_name_the_file(tmp_path):
    path = write(tmp_path, "name: t\nmodel: llama3_70b\nparallel: {tp: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_workload(path)
    assert str(err.value) == f"{path}: parallel.tp = 3: must divide num_attention_heads (64) of llama3_70b"
    ok = load_workload(write(tmp_path, "name: t\nmodel: llama3_70b\nscenario: {batch: 8}\n"
                                       "parallel: {tp: 8, pp: 2, dp: 2, microbatches: 2}\n"))
    assert ok.parallel.chips == 32


def test_lowering_refuses_what_loading_refuses():
    with pytest.raises(ConfigError) as err:
        lower(model("llama3_8b"), Scenario(batch=3), Parallel(dp=2))
    assert str(err.value).startswith("llama3_8b: parallel.dp = 2: ")
