"""Real Hugging Face config.json files (tests/workloads/hf_configs/, sources in its README) read as transformers
reads them: the parameters HF counts, within 1 % of the published figures; family defaults for what a file
leaves out, never over what it says; a context past the model's positions (or, training, its sliding window) refused in
one line; what the lowering approximates said once, one line each."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.errors import ConfigError
from simulator.workloads.loader import load_llm, load_workload
from simulator.workloads.model import load_model, model_from_mapping
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario
from simulator.workloads.sharding import kv_bytes_per_chip

HF = Path(__file__).parent / "hf_configs"

# Published sizes, and where each comes from (tests/workloads/hf_configs/README.md has the full citations).
PUBLISHED = {
    # Hugging Face Hub's safetensors size of google/gemma-2-9b ("approximately 9.24 billion")
    "gemma2_9b": 9.24e9,
    # GPT2LMHeadModel.num_parameters() for openai-community/gpt2: 124,439,808 (OpenAI's corrected "124M")
    "gpt2": 124_439_808,
    # Hub safetensors size of meta-llama/Meta-Llama-3-8B
    "llama3_8b": 8.03e9,
    # Hub safetensors size of mistralai/Mistral-7B-v0.1 (Mistral AI's announcement rounds it to "7.3B")
    "mistral_7b": 7.24e9,
    # Qwen2.5-7B model card, the same shapes as Qwen2-7B: "Number of Parameters: 7.61B"
    "qwen2_7b": 7.61e9,
    # Phi-3 Technical Report (Abdin et al. 2024): "phi-3-mini, a 3.8 billion parameter language model"
    "phi3_mini_4k": 3.8e9,
    # Mistral AI, "Mixtral of experts": 46.7B total parameters, 12.9B active per token
    "mixtral_8x7b": 46.7e9,
}
# Falcon's checkpoints store lm_head.weight beside the embedding it is tied to (HF ties them on load), so the
# published tensor counts hold the vocabulary table twice: falcon-40b's pytorch_model.bin.index.json gives
# total_size = 83,671,941,120 bytes of bf16; the Hub's safetensors size of falcon-7b is 7.22 B.
STORED = {"falcon_40b": 83_671_941_120 // 2, "falcon_40b_refinedweb": 83_671_941_120 // 2,
          "falcon_7b": 7.22e9, "falcon_7b_refinedwebmodel": 7.22e9}


def raw(name: str) -> dict:
    return json.loads((HF / f"{name}.json").read_text())


def model(name: str, **changes):
    return model_from_mapping(raw(name) | changes, f"{name}.json", name)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_the_published_size(name):
    assert load_model(HF / f"{name}.json").params() == pytest.approx(PUBLISHED[name], rel=0.01)


def test_exact_counts_where_the_figure_is_exact():
    assert load_model(HF / "gpt2.json").params() == 124_439_808
    assert load_model(HF / "mixtral_8x7b.json").params(active=True) == pytest.approx(12.9e9, rel=0.01)


@pytest.mark.parametrize("name", sorted(STORED))
def test_falcon_counts_its_tied_head_once_as_hf_does(name):
    m = load_model(HF / f"{name}.json")
    assert m.tied_embeddings  # FalconConfig leaves tie_word_embeddings at PretrainedConfig's default, true
    stored = m.params() + m.vocab * m.hidden  # the checkpoint's own copy of the tied table
    if name.startswith("falcon_40b"):
        assert stored == STORED[name] == 41_835_970_560
    assert stored == pytest.approx(STORED[name], rel=0.01)


def test_falcon_kv_heads_are_read_as_falcon_attention_reads_them():
    big, small = load_model(HF / "falcon_40b.json"), load_model(HF / "falcon_7b.json")
    assert (big.heads, big.kv_heads, small.heads, small.kv_heads) == (128, 8, 71, 1)
    assert load_model(HF / "falcon_40b_refinedweb.json").params() == big.params()
    assert load_model(HF / "falcon_7b_refinedwebmodel.json").params() == small.params()
    # The KV cache follows: 60 layers × K and V × 8 heads × 64 dims × 2 bytes per token (128 heads would be 16×).
    s = Scenario(phase="decode", batch=1, context=1023)
    assert kv_bytes_per_chip(big, s, Parallel(), "bf16") == 1024 * 60 * 2 * 8 * 64 * 2
    # Without the new decoder architecture num_kv_heads is not read: multi_query gives one KV head, else MHA.
    assert model("falcon_40b", new_decoder_architecture=False).kv_heads == 1
    assert model("falcon_40b", new_decoder_architecture=False, multi_query=False).kv_heads == 128
    assert model("falcon_7b", new_decoder_architecture=True).kv_heads == 71  # num_kv_heads unset: MHA


def test_falcon_explicit_fields_are_never_overridden_by_the_family():
    plain = model("falcon_7b")
    assert not (plain.qkv_bias or plain.out_bias or plain.mlp_bias)  # "bias": false, as written
    biased = model("falcon_7b", bias=True)
    extra = plain.layers * (plain.q_size + 2 * plain.kv_size + plain.hidden + plain.intermediate + plain.hidden)
    assert biased.params() == plain.params() + extra
    assert (plain.layer_norms, plain.parallel_block) == (1, True)  # parallel_attn: one LayerNorm per layer
    sequential = model("falcon_7b", parallel_attn=False)
    assert (sequential.layer_norms, sequential.parallel_block) == (2, False)
    untied = model("falcon_7b", tie_word_embeddings=False)
    assert untied.params() == plain.params() + plain.vocab * plain.hidden


@pytest.mark.parametrize("family, tied", [("gpt2", True), ("gemma", True), ("gemma2", True), ("falcon", True),
                                          ("opt", True), ("bloom", True), ("gpt_bigcode", True),
                                          ("llama", False), ("mistral", False), ("mixtral", False),
                                          ("qwen2", False), ("qwen3", False), ("phi3", False), ("gptj", False),
                                          ("gpt_neox", False), ("phi", False), (None, False)])
def test_a_missing_tie_word_embeddings_means_the_familys_hf_default(family, tied):
    fields = {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
              "intermediate_size": 1024, "vocab_size": 1000} | ({"model_type": family} if family else {})
    assert model_from_mapping(fields, "c.json").tied_embeddings is tied
    assert model_from_mapping(fields | {"tie_word_embeddings": not tied}, "c.json").tied_embeddings is (not tied)


def test_gemma2_and_gpt2_count_one_table_for_embedding_and_head():
    gemma, gpt2 = load_model(HF / "gemma2_9b.json"), load_model(HF / "gpt2.json")
    assert "tie_word_embeddings" not in raw("gemma2_9b") and "tie_word_embeddings" not in raw("gpt2")
    assert gemma.params() == pytest.approx(9.24e9, rel=0.001) and gpt2.params() == pytest.approx(124.4e6, rel=0.001)
    assert gemma.layer_norms == 4 and gemma.head_dim == 256  # its sandwich norms; 16 × 256 ≠ hidden 3584


def test_gpt_bigcode_is_multi_query_by_default():
    fields = {"model_type": "gpt_bigcode", "n_embd": 512, "n_layer": 2, "n_head": 8, "vocab_size": 1000}
    assert model_from_mapping(fields, "c.json").kv_heads == 1
    assert model_from_mapping(fields | {"multi_query": False}, "c.json").kv_heads == 8


def test_qwen2_biases_q_k_v_without_saying_so_and_reads_no_window_unless_asked():
    m = load_model(HF / "qwen2_7b.json")
    assert (m.qkv_bias, m.out_bias, m.sliding_window) == (True, False, None)  # use_sliding_window: false
    windowed = model("qwen2_7b", use_sliding_window=True, sliding_window=4096, max_window_layers=20)
    assert (windowed.sliding_window, windowed.sliding_layers) == (4096, 8)  # layers 20 … 27


# ---- context: positions and sliding windows ------------------------------------------------------------------

def workload(model_file: str, scenario: dict, **more):
    return load_llm({"name": "w", "model": str(HF / model_file), "scenario": scenario} | more, "w.yaml", HF)


@pytest.mark.parametrize("scenario, field", [
    ({"phase": "prefill", "prompt": 100_000}, "scenario.prompt = 100000"),
    ({"phase": "decode", "context": 1024}, "scenario.context = 1024"),  # its token takes position 1024
    ({"phase": "generate", "prompt": 1000, "output_tokens": 26}, "scenario.output_tokens = 26"),
    ({"phase": "train", "prompt": 2048}, "scenario.prompt = 2048"),
])
def test_gpt2_refuses_a_sequence_past_its_1024_positions(scenario, field):
    with pytest.raises(ConfigError) as err:
        workload("gpt2.json", scenario)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"w.yaml: {field}: ") and "n_positions = 1,024" in text
    assert "model.max_position_embeddings" in text


def test_gpt2_takes_exactly_its_positions():
    for scenario in ({"phase": "prefill", "prompt": 1024}, {"phase": "decode", "context": 1023},
                     {"phase": "generate", "prompt": 1000, "output_tokens": 25}):
        assert workload("gpt2.json", scenario).model.context_limit == 1024
    with pytest.raises(ConfigError, match=r"w.yaml: training.sequence = 4096: .*FalconConfig's default"):
        workload("falcon_40b.json", {"phase": "train", "batch": 8}, training={"sequence": 4096})


def test_raising_max_position_embeddings_simulates_past_it():
    wl = load_llm({"name": "w", "model": str(HF / "gpt2.json"), "scenario": {"phase": "prefill", "prompt": 4096}},
                  "w.yaml", HF, ["model.max_position_embeddings=4096"])
    assert wl.model.context_limit == 4096 and wl.model.max_positions == 4096  # a bigger learned table


def test_rope_scaling_extends_the_limit_as_vllm_derives_it():
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    m = model("qwen2_7b", max_position_embeddings=32768, rope_scaling=yarn)
    assert m.context_limit == 131072
    assert model("qwen2_7b", max_position_embeddings=8192, rope_scaling={"type": "linear", "factor": 2.0}
                 ).context_limit == 16384
    llama31 = {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192}
    assert model("llama3_8b", max_position_embeddings=131072, rope_scaling=llama31).context_limit == 131072


def test_inference_lowers_a_sliding_window_and_a_training_step_refuses_past_it():
    """Past the window inference is lowered (tests/workloads/test_frontier_models.py checks how); a training
    step's attention is not, so a sequence past the window is refused there in one line."""
    assert workload("mistral_7b.json", {"phase": "prefill", "prompt": 8192}).model.sliding_window == 4096
    assert workload("gemma2_9b.json", {"phase": "decode", "context": 8000}).model.sliding_layers == 21
    with pytest.raises(ConfigError) as err:
        workload("mistral_7b.json", {"phase": "train", "prompt": 4097})
    text = str(err.value)
    assert "\n" not in text and text.startswith("w.yaml: scenario.prompt = 4097: ")
    assert "sliding window of 4,096 keys (32 of 32 layers)" in text and "model.sliding_window=null" in text
    full = load_llm({"name": "w", "model": str(HF / "mistral_7b.json"), "scenario": {"phase": "train",
                     "prompt": 8192}}, "w.yaml", HF, ["model.sliding_window=null"])
    assert full.model.sliding_window is None
    with pytest.raises(ConfigError, match=r"sliding window of 2,047 keys"):
        workload("phi3_mini_4k.json", {"phase": "train", "prompt": 2048})


def test_layer_types_say_which_layers_slide():
    kinds = ["sliding_attention", "full_attention"] * 16
    assert model("mistral_7b", layer_types=kinds).sliding_layers == 16
    with pytest.raises(ConfigError) as err:
        model("mistral_7b", layer_types=["linear_attention"] * 32)
    assert str(err.value).startswith("mistral_7b.json: layer_types = 'linear_attention': ")


# ---- refused, or noted ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"model_type": "mamba"}, "model_type"),
    ({"model_type": "opt", "ffn_dim": 32768, "word_embed_proj_dim": 512}, "word_embed_proj_dim"),
    ({"num_kv_heads": 7}, "num_kv_heads"),
])
def test_what_is_not_lowered_is_one_line_naming_the_field(change, field):
    with pytest.raises(ConfigError) as err:
        model("falcon_40b", **change)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"falcon_40b.json: {field} = ")


def test_what_the_lowering_approximates_is_noted_once_one_line_each(caplog, monkeypatch):
    from simulator.workloads import loader

    monkeypatch.setattr(loader, "_reported", set())  # "once per process": forget what earlier tests said
    gemma = load_model(HF / "gemma2_9b.json")  # soft-capping and the sandwich norms are lowered: nothing to note
    assert gemma.notes == () and (gemma.attn_softcap, gemma.final_softcap, gemma.layer_norms) == (50.0, 30.0, 4)
    defaulted = {k: v for k, v in raw("gemma2_9b").items() if not k.endswith("softcapping")}
    assert model_from_mapping(defaulted, "g.json").attn_softcap == 50.0  # Gemma2Config's default
    assert load_model(HF / "llama3_8b.json").notes == () and load_model(HF / "mixtral_8x7b.json").notes == ()
    assert "parallel_attn = true" in load_model(HF / "falcon_40b.json").notes[0]
    assert [note.split(":")[0] for note in model("falcon_7b", alibi=True).notes] == [
        "alibi = true", "parallel_attn = true"]
    with caplog.at_level(logging.WARNING, logger="simulator.workloads"):
        for _ in range(2):
            workload("falcon_7b.json", {"phase": "decode", "context": 100})
    lines = [r.getMessage() for r in caplog.records if r.name == "simulator.workloads"]
    assert len(lines) == 1 and all(line.startswith(f"tortoise: note: {HF / 'falcon_7b.json'}: ") for line in lines)


def test_the_command_line_says_each_note_in_one_line():
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "run", "h100", "--model", str(HF / "falcon_7b.json"),
                           "--context", "100"], capture_output=True, text=True, encoding="utf-8", timeout=300,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and all(line.startswith(f"tortoise: note: {HF / 'falcon_7b.json'}: ") for line in lines)
    assert "MQA 71/1 heads" in done.stdout


# ---- bundled models only by bare name ------------------------------------------------------------------------

def test_a_folder_that_does_not_exist_is_never_the_bundled_model(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: t\nmodel: typo_folder/llama3_8b.json\n")
    with pytest.raises(ConfigError) as err:
        load_workload(path)
    text = str(err.value)
    assert "\n" not in text and "model = 'typo_folder/llama3_8b.json': no such file" in text
    for bare in ("llama3_8b", "llama3_8b.json"):
        path.write_text(f"name: t\nmodel: {bare}\n")
        assert load_workload(path).model.name == "llama3_8b"
