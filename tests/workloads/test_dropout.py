"""Training's dropout (docs/training.md, *Dropout*): where the lowering puts it, what it moves, and that
inference and dropout-free models get none. Bytes are exact: a mask is one byte an element, written once by
the forward (again by a recomputed forward) and read once by the backward."""

import json

import pytest

from simulator.api import run_graph
from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.ir.ops import DROPOUT_OPS, VECTOR_KINDS, OpGraph, VectorOp
from simulator.workloads.loader import bundled_dir
from simulator.workloads.model import model_from_mapping
from simulator.workloads.parallel import ONE_CHIP, Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.training import lower_training
from simulator.workloads.transformer import lower

GPT2 = {"model_type": "gpt2", "n_embd": 512, "n_layer": 2, "n_head": 8, "vocab_size": 4096, "n_positions": 1024}
SEQ, MB = 256, 2


def gpt2(**changes):
    return model_from_mapping(GPT2 | changes, "tiny.json", "tiny")


def ops(model, fused=True, recompute="none", parallel=ONE_CHIP) -> dict[str, dict[str, VectorOp]]:
    """Segment name → its vector ops by name, in the last micro-batch pass."""
    scenario = Scenario(phase="train", fused_attention=fused)
    passes = lower_training(model, scenario, Training(global_batch=MB * parallel.dp, micro_batch=MB, sequence=SEQ,
                                                      recompute=recompute), parallel)
    train = [p for p in passes if p.part != "optimizer"][-1]
    return {s.name: {op.name: op for op in s.graph.ops if op.type == "vector"} for s in train.segments}


def test_gpt2_configs_default_to_its_config_class_dropout_and_the_spellings_are_read():
    m = gpt2()
    assert (m.attention_dropout, m.hidden_dropout, m.embedding_dropout) == (0.1, 0.1, 0.1)  # GPT2Config's
    m = gpt2(attn_pdrop=0.0, resid_pdrop=0.2, embd_pdrop=0.0)
    assert (m.attention_dropout, m.hidden_dropout, m.embedding_dropout) == (0.0, 0.2, 0.0)
    llama = json.loads((bundled_dir() / "models" / "llama3_8b.json").read_text())
    m = model_from_mapping(llama, "llama3_8b.json", "llama3_8b")
    assert (m.attention_dropout, m.hidden_dropout, m.embedding_dropout) == (0.0, 0.0, 0.0)


def test_a_dropout_probability_of_one_is_refused_in_one_line():
    from simulator.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        gpt2(attn_pdrop=1.0)
    assert "\n" not in str(err.value) and "attention_dropout" in str(err.value)


@pytest.mark.parametrize("fused", [False, True])
def test_the_forward_draws_and_keeps_each_mask_the_backward_reads(fused):
    m = gpt2()
    tokens, hidden = MB * SEQ, 512
    scores = MB * 8 * SEQ * SEQ if not fused else None  # unfused: the whole rectangle of every head
    seg = ops(m, fused)
    layer, bwd = seg["layer"], seg["layer.backward"]
    for name in ("attn_residual", "mlp_residual"):  # bias-dropout-add: the add, the draw and the mask
        op = layer[name]
        assert op.mask_writes == 1 and op.ops_per_element == VECTOR_KINDS["add"][2] + DROPOUT_OPS
        assert op.min_write_bytes == 2 * tokens * hidden + tokens * hidden
    for name in ("mlp_dropout.bwd", "attn_out_dropout.bwd"):
        assert bwd[name].mask_reads == 1 and bwd[name].min_read_bytes == 2 * tokens * hidden + tokens * hidden
    attn = layer["attn_dropout"]
    assert attn.elements == layer["softmax"].elements
    if fused:  # in SRAM: no tensor and no mask through HBM, the mask drawn again in the backward
        assert attn.min_read_bytes == attn.min_write_bytes == 0
        assert "attn_dropout.recompute" in bwd and "attn_dropout.bwd" not in bwd
    else:
        assert attn.elements == scores and attn.min_write_bytes == 2 * scores + scores
        assert bwd["attn_dropout.bwd"].min_read_bytes == 2 * scores + scores
    # conservation: every mask byte written in the forward is read once in the backward
    written = sum(op.mask_writes * op.elements for op in layer.values())
    read = sum(op.mask_reads * op.elements for op in bwd.values())
    assert written == read > 0
    emb = seg["embedding"]["embed_dropout"]
    assert emb.mask_writes == 1 and seg["embedding.backward"]["embed_dropout.bwd"].mask_reads == 1


def test_full_recompute_draws_the_masks_again_and_sequence_parallelism_shards_them():
    m = gpt2()
    seg = ops(m, fused=False, recompute="full")
    bwd = seg["layer.backward"]
    again = sum(op.mask_writes * op.elements for n, op in bwd.items() if n.startswith("recompute."))
    assert again == sum(op.mask_reads * op.elements for op in bwd.values()) > 0
    whole = ops(m, fused=False)["layer"]["mlp_residual"].elements
    sp = ops(m, fused=False, parallel=Parallel(tp=2, sequence_parallel=True))["layer"]
    assert sp["mlp_residual"].elements == whole // 2  # on the chip's sequence shard


def test_no_dropout_without_a_probability_nor_in_inference():
    dry = ops(gpt2(attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0))
    for seg in dry.values():
        for op in seg.values():
            assert op.kind != "dropout" and op.mask_writes == op.mask_reads == 0
    passes = lower(gpt2(), Scenario(phase="prefill", batch=1, prompt=128))
    assert not any(op.type == "vector" and (op.kind == "dropout" or op.mask_writes) for p in passes
                   for s in p.segments for op in s.graph.ops)


def test_a_dropout_kernel_moves_its_tensors_and_its_mask_through_hbm():
    chip = Chip(load_chip("a100"))
    n = 1 << 24
    plain = VectorOp("x", "dropout", n, "bf16", 1, 1, DROPOUT_OPS)
    masked = VectorOp("y", "dropout", n, "bf16", 1, 1, DROPOUT_OPS, mask_writes=1)
    a, b = (run_graph(chip, OpGraph("g", (op,))).records[0] for op in (plain, masked))
    assert (a.hbm_read, a.hbm_write) == (2 * n, 2 * n)
    assert (b.hbm_read, b.hbm_write) == (2 * n, 3 * n)
    assert b.cycles > a.cycles  # the mask's bytes take time on a memory-bound kernel
