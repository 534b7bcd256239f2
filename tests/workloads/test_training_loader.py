"""Training workload files: `scenario.phase: train` with a `training:` section, their defaults, and one-line
errors naming the file, the field, the value and what is allowed."""

import pytest

from simulator.errors import ConfigError
from simulator.workloads.loader import bundled_dir, load_workload
from simulator.workloads.training import lower_training

TRAIN_FILES = sorted(p.name for p in bundled_dir().glob("*_train.yaml"))
LLAMA = bundled_dir() / "llama3_8b_train.yaml"


def write(tmp_path, text, name="t.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_bundled_training_workloads_load_and_lower():
    assert TRAIN_FILES == ["gpt3_175b_train.yaml", "llama3_70b_train.yaml", "llama3_8b_train.yaml",
                           "mixtral_8x7b_train.yaml"]
    for name in TRAIN_FILES:
        wl = load_workload(bundled_dir() / name)
        assert wl.scenario.phase == "train" and wl.training is not None and wl.parallel.chips > 1
        passes = lower_training(wl.model, wl.scenario, wl.training, wl.parallel, wl.source)
        assert passes[-1].part == "optimizer"
        assert sum(p.microbatches for p in passes[:-1]) * wl.parallel.dp * wl.parallel.ep * wl.training.micro_batch \
            == wl.training.global_batch


def test_overrides_reach_the_training_section():
    wl = load_workload(LLAMA, ["training.zero=3", "training.recompute=full", "training.optimizer=sgd",
                               "training.grad_dtype=fp32", "training.sequence=2048"])
    t = wl.training
    assert (t.zero, t.recompute, t.optimizer, t.grad_dtype, t.sequence) == (3, "full", "sgd", "fp32", 2048)


def test_a_train_phase_without_a_training_section_takes_batch_and_prompt(tmp_path):
    wl = load_workload(write(tmp_path, "model: llama3_8b\nscenario: {phase: train, batch: 4, prompt: 512}\n"
                                       "parallel: {dp: 2}\n"))
    passes = lower_training(wl.model, wl.scenario, wl.training, wl.parallel)
    assert wl.training.global_batch is None and (passes[0].new_tokens, passes[0].microbatches) == (512, 1)
    assert [p.part for p in passes] == ["accumulate", "sync", "optimizer"]


@pytest.mark.parametrize("override, field, allowed", [
    ("training.zero=4", "training.zero", "≤ 3"),
    ("training.recompute=some", "training.recompute", "'none', 'selective' or 'full'"),
    ("training.optimizer=adam", "training.optimizer", "'adamw' or 'sgd'"),
    ("training.micro_batch=0", "training.micro_batch", "≥ 1"),
    ("training.grad_dtype=int8", "training.grad_dtype", "'fp32', 'bf16' or 'fp16'"),
    ("training.momentum=0.9", "training.momentum", "unknown field"),
    ("training.global_batch=100", "training.global_batch", "multiple of dp × ep × micro_batch = 8 × 1 × 1 = 8"),
    ("parallel.microbatches=3", "parallel.microbatches", "8 micro-batches per chip; leave it 1 or set 8"),
    ("parallel.tp=3", "parallel.tp", "must divide num_attention_heads (32)"),
    ("parallel.cp=3", "parallel.cp", "must divide training.sequence (8192)"),
    ("training.overlap_grad_reduce=maybe", "training.overlap_grad_reduce", "true or false"),
])
def test_bad_training_fields_are_one_line_naming_source_field_and_what_is_allowed(override, field, allowed):
    with pytest.raises(ConfigError) as err:
        load_workload(LLAMA, [override])
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"--set {override}") and f"{field} = " in text and allowed in text


def test_errors_in_the_file_name_the_file(tmp_path):
    bad = write(tmp_path, "model: llama3_8b\nscenario: {phase: train}\ntraining: {global_batch: 6, micro_batch: 4}\n")
    with pytest.raises(ConfigError) as err:
        load_workload(bad)
    assert str(err.value).startswith(f"{bad}: training.global_batch = 6: must be a multiple of")
    sp = write(tmp_path, "model: llama3_8b\nscenario: {phase: train}\ntraining: {sequence: 1023}\n"
                         "parallel: {tp: 2, sequence_parallel: true}\n", "sp.yaml")
    with pytest.raises(ConfigError) as err:
        load_workload(sp)
    assert "parallel.sequence_parallel = True" in str(err.value) and "1023" in str(err.value)


def test_a_training_section_needs_the_train_phase_and_batch_must_agree(tmp_path):
    decode = write(tmp_path, "model: llama3_8b\nscenario: {phase: decode}\ntraining: {zero: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_workload(decode)
    assert "training = " in str(err.value) and "only with scenario.phase = 'train'" in str(err.value)
    both = write(tmp_path, "model: llama3_8b\nscenario: {phase: train, batch: 8}\ntraining: {global_batch: 16}\n",
                 "both.yaml")
    with pytest.raises(ConfigError) as err:
        load_workload(both)
    assert "training.global_batch = 16: scenario.batch = 8 says otherwise" in str(err.value)
