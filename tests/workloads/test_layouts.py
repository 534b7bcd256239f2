"""Inference partition layouts (Pope et al. 2022, "Efficiently Scaling Transformer Inference", arXiv 2211.05102):
the FFN's per-layer communication equals the paper's formulas (§3.2, Appendix A.2) for several chip counts, and
batch-sharded attention (§3.3) has each chip read the KV cache of batch/n sequences instead of the whole batch's.

The paper's communication time counts, per chip, the buffer of each all-gather (its gathered output) and each
reduce-scatter (its input) once, dropping the ring's (k − 1)/k: T_comm = Σ buffer / bandwidth. `paper_volume`
sums the lowered layer's buffers that way; `sent` is what a ring actually has each chip send, (k − 1)/k of it."""

import json
import math

import pytest

from simulator.errors import ConfigError
from simulator.ir.ops import CollectiveOp
from simulator.workloads.loader import bundled_dir
from simulator.workloads.model import model_from_mapping
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario, Training
from simulator.workloads.sharding import kv_bytes_per_chip, validate_parallel, weight_bytes_per_chip
from simulator.workloads.training import resolve_step
from simulator.workloads.transformer import lower

MODELS = bundled_dir() / "models"
BF16 = 2


def llama(**changes):
    data = json.loads((MODELS / "llama3_70b.json").read_text())
    return model_from_mapping(data | changes, "llama3_70b.json", "llama3_70b")


def gpt3(**changes):
    """GPT-3 175B: a plain (ungated) GELU FFN with F = 4E, the paper's setting; `changes` to its config."""
    data = json.loads((MODELS / "gpt3_175b.json").read_text())
    return model_from_mapping(data | changes, "gpt3_175b.json", "gpt3_175b")


def layer(model, scenario, parallel):
    (p,) = lower(model, scenario, parallel)
    (seg,) = [s for s in p.segments if s.name == "layer"]
    return p, seg.graph.ops


def mlp_collectives(ops):
    return [op for op in ops if isinstance(op, CollectiveOp) and op.name.startswith("mlp")]


def paper_volume(ops) -> int:
    """Σ per-chip buffers, an all-reduce counting twice (its reduce-scatter and all-gather)."""
    return sum(op.bytes * (2 if op.kind == "all_reduce" else 1) for op in ops)


def sent(ops, parallel) -> float:
    """Bytes each chip sends over a ring: (k − 1)/k of each buffer on the k chips of its axis."""
    k = {op.axis: len(parallel.groups(op.axis)[0]) for op in ops}
    return sum(op.bytes * (2 if op.kind == "all_reduce" else 1) * (k[op.axis] - 1) / k[op.axis] for op in ops)


PREFILL = Scenario(phase="prefill", batch=4, prompt=64)  # B·L = 256 tokens per pass
DECODE = Scenario(phase="decode", batch=64, context=512)


@pytest.mark.parametrize("n", [4, 16, 64])
def test_1d_weight_stationary_moves_2BLE_whatever_the_chip_count(n):
    m, p = gpt3(n_head=64), Parallel(tp=n)
    assert p.layout == "1d_weight_stationary"
    T, E = PREFILL.batch * PREFILL.prompt, m.hidden
    comm = mlp_collectives(layer(m, PREFILL, p)[1])
    assert paper_volume(comm) == 2 * T * E * BF16
    assert sent(comm, p) == 2 * T * E * BF16 * (n - 1) / n


@pytest.mark.parametrize("n, grid", [(16, (2, 2, 4)), (64, (4, 4, 4)), (256, (8, 4, 8))])
def test_2d_weight_stationary_at_half_root_n_moves_8BLE_over_root_n(n, grid):
    """X = ½√n (the paper's optimum for F = 4E): 2BLE/X + 2BLF/YZ = 8BLE/√n, halving when n quadruples."""
    m = gpt3(n_head=n)  # heads split over tp: any multiple of it
    p = Parallel(tp=n, layout="2d_weight_stationary", grid=grid)
    x, y, z = p.tp_grid
    assert x == math.isqrt(n) // 2 and m.intermediate == 4 * m.hidden
    T, E, F = PREFILL.batch * PREFILL.prompt, m.hidden, m.intermediate
    comm = mlp_collectives(layer(m, PREFILL, p)[1])
    assert paper_volume(comm) == (2 * T * E // x + 2 * T * F // (y * z)) * BF16 == 8 * T * E // math.isqrt(n) * BF16
    kinds = {(op.kind, op.axis): op.bytes for op in comm}
    assert kinds == {("all_gather", "tp_yz"): T * E // x * BF16, ("reduce_scatter", "tp_x"): T * F // (y * z) * BF16,
                     ("all_gather", "tp_x"): T * F // (y * z) * BF16, ("reduce_scatter", "tp_yz"): T * E // x * BF16}
    assert sent(comm, p) == BF16 * (2 * T * E / x * (y * z - 1) / (y * z) + 2 * T * F / (y * z) * (x - 1) / x)


@pytest.mark.parametrize("grid", [(2, 2, 4), (4, 2, 2), (8, 1, 2)])
def test_2d_weight_stationary_on_any_grid_is_the_papers_general_formula(grid):
    """Appendix A.2's T_comm = (2BLE/X + 2BLF/YZ)/bandwidth on a 16-chip grid of any shape; the FFN's weights
    are still 1/n per chip (as sequence-parallel 1D's, which also keeps 1/n of the residual stream), and its MACs
    per chip are 1/n of the layer's."""
    m, n = gpt3(), 16
    p = Parallel(tp=n, layout="2d_weight_stationary", grid=grid)
    x, y, z = grid
    T, E, F = DECODE.batch, m.hidden, m.intermediate
    pass_, ops = layer(m, DECODE, p)
    assert paper_volume(mlp_collectives(ops)) == (2 * T * E // x + 2 * T * F // (y * z)) * BF16
    (one,) = lower(m, DECODE, Parallel(tp=n, sequence_parallel=True))
    assert pass_.weight_bytes == one.weight_bytes
    macs = {s.name: sum(op.macs for op in s.graph.ops if op.group == "mlp") for s in pass_.segments}
    assert macs["layer"] == 2 * T * E * F // n


def test_gated_ffn_reduces_both_halves_of_its_input_projection():
    """SwiGLU's W_in is E × 2F: the reduce-scatter over x carries 2·T·F/YZ, the gather before W_out T·F/YZ."""
    m = llama()
    p = Parallel(tp=64, layout="2d_weight_stationary")
    x, y, z = p.tp_grid
    T, E, F = DECODE.batch, m.hidden, m.intermediate
    comm = mlp_collectives(layer(m, DECODE, p)[1])
    assert paper_volume(comm) == (2 * T * E // x + 3 * T * F // (y * z)) * BF16


@pytest.mark.parametrize("layout, gathered", [("weight_gathered_x", 4), ("weight_gathered_xy", 16),
                                              ("weight_gathered_xyz", 64)])
def test_weight_gathered_moves_2BLE_N_over_n_plus_2EF_over_N(layout, gathered):
    """N = n/G chips keep each weight split (G: the chips it is gathered over): 2·E·F/N weight elements plus
    2·(BL/G)·E activation elements per chip, the paper's 2BLE·N/n + 2EF/N."""
    m, n = gpt3(n_head=64), 64
    p = Parallel(tp=n, layout=layout, grid=(4, 4, 4))
    N = n // gathered
    T, E, F = PREFILL.batch * PREFILL.prompt, m.hidden, m.intermediate
    comm = mlp_collectives(layer(m, PREFILL, p)[1])
    weights = [op for op in comm if "weights" in op.name]
    assert paper_volume(weights) == 2 * E * F // N * BF16
    # XYZ (N = 1): the formula's 2BLE/n is an all-gather and reduce-scatter over one chip, which move nothing
    assert paper_volume(comm) == (2 * T * E * N // n * (N > 1) + 2 * E * F // N) * BF16
    assert {op.axis for op in weights} == {{4: "tp_x", 16: "tp_xy", 64: "tp"}[gathered]}


def test_weight_gathered_at_its_optimal_N_is_the_papers_minimum():
    """At N = √(nF/BL) the two terms are equal and T_comm·bandwidth = 4E·√(BLF)/√n: with n = 64 and F = 4E,
    N = 4 (XY-weight-gathered on 4×4×4) is optimal at BL = 16E tokens."""
    m, n = gpt3(n_head=64, n_embd=1024), 64  # E = 1024: BL = 16384 tokens, a batch of 8 prompts of 2048
    E, F = m.hidden, m.intermediate
    s = Scenario(phase="prefill", batch=8, prompt=2048)
    T = s.batch * s.prompt
    assert T == 16 * E and math.isqrt(n * F // T) ** 2 == n * F // T == 4 ** 2
    comm = mlp_collectives(layer(m, s, Parallel(tp=n, layout="weight_gathered_xy", grid=(4, 4, 4)))[1])
    assert paper_volume(comm) == 4 * E * math.isqrt(T * F) // math.isqrt(n) * BF16
    others = [paper_volume(mlp_collectives(layer(m, s, Parallel(tp=n, layout=lay, grid=(4, 4, 4)))[1]))
              for lay in ("weight_gathered_x", "weight_gathered_xyz", "1d_weight_stationary")]
    assert min(others) > paper_volume(comm)


def test_batch_sharded_attention_reads_one_chips_share_of_the_kv_cache():
    """A 64-chip multi-query decode: head-sharded, every chip reads the one KV head of all 64 sequences; batch-
    sharded, each reads its own sequence's, so the 64 chips together read the cache exactly once."""
    mqa, n = gpt3(n_head=64, num_key_value_heads=1), 64
    assert mqa.kv_heads == 1
    heads, = lower(mqa, DECODE, Parallel(tp=n))
    batch, = lower(mqa, DECODE, Parallel(tp=n, attention="batch"))
    single, = lower(mqa, DECODE)
    assert heads.kv_read_bytes == single.kv_read_bytes  # the whole cache on every chip
    assert batch.kv_read_bytes * n == single.kv_read_bytes
    assert batch.kv_write_bytes * n == single.kv_write_bytes
    held = {a: kv_bytes_per_chip(mqa, DECODE, Parallel(tp=n, attention=a), "bf16") for a in ("heads", "batch")}
    assert held["heads"] == n * held["batch"]
    # the all-to-alls: q of the chip's heads for every token out, the attention output back
    ops = [op for s in batch.segments if s.name == "layer" for op in s.graph.ops]
    moves = {op.name: op.bytes for op in ops if isinstance(op, CollectiveOp) and op.kind == "all_to_all"}
    T, d = DECODE.batch, mqa.head_dim
    share = T * mqa.heads // n * d * BF16
    assert moves == {"attn_q_alltoall": share, "attn_out_alltoall": share}
    # scores and values of all heads on one sequence: 1/n of the single chip's attention MACs
    macs = [sum(op.macs for s in p.segments for op in s.graph.ops if op.group == "attention") for p in (batch, single)]
    assert macs[0] * n == macs[1]
    # the whole KV projection is replicated: one KV head is replicated head-sharded too, so no chip holds more;
    # with 8 KV heads each chip holds the 7/8 it did not
    grown = (weight_bytes_per_chip(mqa, Parallel(tp=n, attention="batch"), "bf16", "bf16")
             - weight_bytes_per_chip(mqa, Parallel(tp=n), "bf16", "bf16"))
    assert grown == 0
    gqa = gpt3(n_head=64, num_key_value_heads=8)
    grown = (weight_bytes_per_chip(gqa, Parallel(tp=n, attention="batch"), "bf16", "bf16")
             - weight_bytes_per_chip(gqa, Parallel(tp=n), "bf16", "bf16"))
    assert gqa.qkv_bias  # GPT-2's c_attn bias: K and V's replicated too
    assert grown == gqa.layers * 2 * gqa.kv_size * (gqa.hidden + 1) * BF16 * (8 - 1) // 8


def test_the_default_layout_is_the_megatron_lowering():
    m = gpt3()
    for p in (Parallel(tp=8), Parallel(tp=8, sequence_parallel=True)):
        assert lower(m, PREFILL, p) == lower(m, PREFILL, p.model_copy(update={"layout": "1d_weight_stationary",
                                                                              "attention": "heads"}))


@pytest.mark.parametrize("changes, parallel, field", [
    ({}, Parallel(tp=16, grid=(2, 2, 2), layout="2d_weight_stationary"), "parallel.grid"),
    ({}, Parallel(tp=64, layout="weight_gathered_xyz"), "parallel.layout"),  # 64 chips, a decode of batch 4
    ({"hidden_size": 8192 + 32, "head_dim": 128}, Parallel(tp=64, layout="2d_weight_stationary"), "parallel.layout"),
    ({}, Parallel(tp=64, attention="batch"), "parallel.attention"),
])
def test_splits_the_layouts_cannot_do_are_refused_in_one_line(changes, parallel, field):
    m = llama(**changes)
    with pytest.raises(ConfigError) as e:
        validate_parallel(m, Scenario(phase="decode", batch=4, context=64), parallel, "w.yaml")
    assert field in str(e.value) and "\n" not in str(e.value)


def test_moe_models_and_training_steps_keep_the_default_layout():
    mixtral = model_from_mapping(json.loads((MODELS / "mixtral_8x7b.json").read_text()), "m.json", "mixtral")
    with pytest.raises(ConfigError, match="parallel.layout"):
        validate_parallel(mixtral, DECODE, Parallel(tp=8, layout="2d_weight_stationary"), "w.yaml")
    with pytest.raises(ConfigError, match="parallel.layout.*training step"):
        resolve_step(gpt3(), Scenario(phase="train", batch=8, prompt=64), Training(),
                     Parallel(tp=8, layout="2d_weight_stationary"), "w.yaml")


@pytest.mark.parametrize("tp, grid", [(64, None), (16, (2, 2, 4)), (8, (1, 2, 4))])
def test_grid_sub_axes_partition_every_tp_group(tp, grid):
    """tp_x and tp_yz (and tp_xy and tp_z) split each tp group into sub-groups that cross in exactly one chip;
    an x group is consecutive ranks, the nearest chips."""
    p = Parallel(tp=tp, dp=2, grid=grid)
    x, y, z = p.tp_grid
    assert x * y * z == tp and (grid or (4, 4, 4)) == (x, y, z)
    for d in range(2):
        (group,) = p.groups("tp", dp=d)
        for a, b, sizes in (("tp_x", "tp_yz", (x, y * z)), ("tp_xy", "tp_z", (x * y, z))):
            ga, gb = p.groups(a, dp=d), p.groups(b, dp=d)
            assert {len(g) for g in ga} == {sizes[0]} and {len(g) for g in gb} == {sizes[1]}
            for subs in (ga, gb):
                assert sorted(c for g in subs for c in g) == sorted(group)
            assert all(len(set(g) & set(h)) == 1 for g in ga for h in gb)
        assert all(g == list(range(g[0], g[0] + x)) for g in p.groups("tp_x", dp=d))
