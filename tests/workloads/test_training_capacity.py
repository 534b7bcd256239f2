"""Memory of a training step per chip: ZeRO's 16 bytes per parameter and its division per stage, exactly;
saved activations against Korthikanti et al.'s per-layer counts adapted to what the lowering keeps; and
the one-line error with the split and the fixes."""

import json
from dataclasses import replace

import pytest

from simulator.config.dtypes import nbytes
from simulator.errors import CapacityError
from simulator.workloads.capacity import check_training_capacity, training_footprint
from simulator.workloads.loader import bundled_dir
from simulator.workloads.model import model_from_mapping
from simulator.workloads.parallel import ONE_CHIP, Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.sharding import weight_bytes_per_chip
from simulator.workloads.training import lower_training, params_per_chip, saved_per_layer

MODELS = bundled_dir() / "models"
TRAIN = Scenario(phase="train")


def model(name):
    return model_from_mapping(json.loads((MODELS / f"{name}.json").read_text()), f"{name}.json", name)


def fp(m, t, par=ONE_CHIP, scenario=TRAIN):
    return training_footprint(m, scenario, t, lower_training(m, scenario, t, par), par)


def states(f) -> int:
    return f.weights + f.gradients + f.optimizer_states


@pytest.mark.parametrize("dp", [8, 64])
def test_mixed_precision_adamw_is_16_bytes_per_parameter_divided_as_zero_says(dp):
    """ZeRO (Rajbhandari et al. 2020): 2Ψ + 2Ψ + 12Ψ; stage 1 divides the 12Ψ by dp, stage 2 also the
    gradients, stage 3 also the weights. Llama-3-8B's 8,030,261,248 parameters divide by 64."""
    m = model("llama3_8b")
    psi = m.params()
    assert psi % dp == 0 and params_per_chip(m, Parallel(dp=dp)) == psi
    want = {0: 16 * psi, 1: 4 * psi + 12 * psi // dp, 2: 2 * psi + 14 * psi // dp, 3: 16 * psi // dp}
    for zero, total in want.items():
        f = fp(m, Training(global_batch=dp, sequence=256, zero=zero), Parallel(dp=dp))
        assert states(f) == total
        assert (f.weights, f.gradients) == (2 * psi // (dp if zero == 3 else 1), 2 * psi // (dp if zero >= 2 else 1))


def test_other_precisions_and_optimizers():
    m = model("llama3_8b")
    psi = m.params()
    assert states(fp(m, Training(sequence=256, grad_dtype="fp32"))) == 18 * psi  # Megatron's fp32 main grads
    assert states(fp(m, Training(sequence=256, optimizer="sgd"))) == 12 * psi  # master + one momentum
    assert states(fp(m, Training(sequence=256, master_weights=False))) == 12 * psi  # bf16 weights, two moments
    fp32 = TRAIN.model_copy(update={"weights": "fp32", "activations": "fp32"})
    assert states(fp(m, Training(sequence=256, grad_dtype="fp32"), scenario=fp32)) == 16 * psi  # 4 + 4 + 8
    # FSDP reducing bf16 gradients in fp32: the ZeRO-2/3 shard it keeps is fp32; whole gradients stay bf16
    for zero, held in [(1, 2 * psi), (3, 4 * psi // 8)]:
        t = Training(global_batch=8, sequence=256, zero=zero, reduce_dtype="fp32")
        assert fp(m, t, Parallel(dp=8)).gradients == held


@pytest.mark.parametrize("name, par", [("llama3_70b", Parallel(tp=8, pp=4)), ("mixtral_8x7b", Parallel(tp=2, ep=8)),
                                       ("gpt3_175b", Parallel(tp=8, pp=16)), ("qwen3_30b_a3b", Parallel(ep=4))])
def test_parameters_per_chip_are_the_shard_the_inference_footprint_counts(name, par):
    m = model(name)
    assert 2 * params_per_chip(m, par) == weight_bytes_per_chip(m, par, "bf16", "bf16")


def test_saved_activations_are_korthikantis_counts():
    """GPT-3's layer (MHA, GELU 4h, LayerNorm, GPT2Config's dropout 0.1), bf16, in bytes, as Korthikanti et al.
    2022 Table 2 counts them: s·b·h·(34 + 5·a·s/h) (the two norms' inputs and outputs 8·sbh, q, k, v 6·sbh, the
    attention output 2·sbh, the MLP's up and GELU outputs 16·sbh, the two branches' dropout masks 2·sbh; the
    probabilities, the dropped probabilities and their mask 5·a·s²·b); tensor parallel s·b·h·(10 + 24/t +
    5·a·s/(h·t)); with sequence parallelism all of it over t. Where the lowering differs, on purpose: fused
    attention keeps no s² tensor; selective recompute also drops the attention output the recomputed core
    writes again (32·sbh, theirs 34); full recompute keeps the layer's input, 2·s·b·h. Without dropout, 32·sbh
    and 2·a·s²·b."""
    m, s, b = model("gpt3_175b"), 2048, 1
    h, a = m.hidden, m.heads
    assert (m.attention_dropout, m.hidden_dropout, m.embedding_dropout) == (0.1, 0.1, 0.1)
    unfused = TRAIN.model_copy(update={"fused_attention": False})

    def saved(par=ONE_CHIP, scenario=unfused, model=m, **t):
        return sum(saved_per_layer(model, scenario, Training(sequence=s, **t), par).values())

    assert saved() == s * b * h * 34 + 5 * a * s * s * b
    assert saved(scenario=TRAIN) == s * b * h * 34  # flash attention keeps no s² tensor
    t = 8
    assert saved(Parallel(tp=t)) == s * b * h * (10 + 24 // t) + 5 * a * s * s * b // t
    assert saved(Parallel(tp=t, sequence_parallel=True)) == (s * b * h * 34 + 5 * a * s * s * b) // t
    assert saved(recompute="selective") == s * b * h * 32
    assert saved(recompute="full") == 2 * s * b * h
    dry = replace(m, attention_dropout=0.0, hidden_dropout=0.0, embedding_dropout=0.0)
    assert saved(model=dry) == s * b * h * 32 + 2 * a * s * s * b


def test_activations_scale_with_layers_and_micro_batches_in_flight():
    m = model("llama3_8b")
    t = Training(global_batch=16, micro_batch=1, sequence=1024)
    layer = sum(saved_per_layer(m, TRAIN, t).values())
    one, piped = fp(m, t), fp(m, t, Parallel(pp=4))
    head = 2 * nbytes(1024 * m.hidden, "bf16") + nbytes(1024 * m.vocab, "bf16")
    assert one.activations == 32 * layer + head
    assert piped.activations == 8 * layer * 4  # 1F1B: the first stage holds pp micro-batches of its 8 layers
    full = fp(m, t.model_copy(update={"recompute": "full"}))
    assert full.activations == 32 * nbytes(1024 * m.hidden, "bf16") + head + layer  # + the layer being recomputed


def test_a_step_that_does_not_fit_is_one_line_with_the_split_and_the_fixes():
    m = model("llama3_8b")
    t = Training(global_batch=8, micro_batch=2, sequence=4096)
    par = Parallel(dp=2, tp=2)
    f = fp(m, t, par)
    with pytest.raises(CapacityError) as err:
        check_training_capacity(f, 80 * 10**9, m, t, TRAIN, "h100", "w.yaml", par)
    text = str(err.value)
    assert "\n" not in text and text.startswith("w.yaml: llama3_8b training step")
    for part in ("tp=2, dp=2", "weights", "gradients", "optimizer states", "activations", "buffers", "80.0 GB",
                 "parallel.tp or parallel.pp", "training.zero=1", "training.recompute=selective",
                 "training.micro_batch", "scenario.check_capacity=false"):
        assert part in text, part
    check_training_capacity(fp(m, t.model_copy(update={"zero": 3, "micro_batch": 1}), Parallel(dp=8)), 80 * 10**9, m,
                            t, TRAIN, "h100", "w.yaml", Parallel(dp=8))  # fits: no error


def test_need_and_have_that_round_alike_are_printed_with_the_digits_that_differ():
    """One byte over a chip's HBM: "needs 80.0 GB … has 80.0 GB" would hide why it fails."""
    m = model("llama3_8b")
    t = Training(global_batch=8, micro_batch=1, sequence=1024, zero=3)
    par = Parallel(dp=8)
    f = fp(m, t, par)
    with pytest.raises(CapacityError) as err:
        check_training_capacity(f, f.total - 1, m, t, TRAIN, "tiny", "w.yaml", par)
    text = str(err.value)
    need = text.split(" needs ")[1].split(" ")[0]
    have = text.split("memory.hbm.size = ")[1].split(" ")[0]
    assert need != have and float(need) > float(have)
    assert need.split(".")[1] and len(need) == len(have)  # the same unit and digits for both


def test_fsdp_keeps_only_the_fp32_shard_which_is_the_master():
    """PyTorch FSDP with MixedPrecision(param_dtype=bf16) frees the bf16 shard after every all-gather
    (FlatParamHandle.post_unshard → _free_low_precision_sharded_param): per parameter a chip keeps its 1/dp of
    the fp32 master (4 B), of the fp32-reduced gradients (4 B) and of Adam's two moments (8 B), 16 B in all,
    where DeepSpeed's layout adds the bf16 shard (2 B more)."""
    m, dp = model("llama3_8b"), 8
    psi = m.params()
    fsdp = Training(global_batch=dp, sequence=256, zero=3, reduce_dtype="fp32", weight_shard="master")
    f, deepspeed = fp(m, fsdp, Parallel(dp=dp)), fp(m, fsdp.model_copy(update={"weight_shard": "compute"}),
                                                     Parallel(dp=dp))
    assert f.weights == 0 and states(f) == 16 * psi // dp
    assert states(deepspeed) - states(f) == 2 * psi // dp
    assert (f.activations, f.buffers) == (deepspeed.activations, deepspeed.buffers)  # a layer's bf16 copy: buffers


@pytest.mark.parametrize("change", [{"zero": 2}, {"master_weights": False}])
def test_fsdp_layout_needs_sharded_weights_and_a_master(change):
    from simulator.errors import ConfigError

    t = Training(global_batch=8, sequence=256, zero=3, weight_shard="master").model_copy(update=change)
    with pytest.raises(ConfigError, match="weight_shard"):
        lower_training(model("llama3_8b"), TRAIN, t, Parallel(dp=8))
