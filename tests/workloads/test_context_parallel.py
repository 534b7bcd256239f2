"""Context parallelism in a training step: the striped split of every sequence over cp chips, the ring of
K and V beside the attention core, gradients reduced over dp × cp, ZeRO sharded over both, and the
one-line refusals."""

import itertools

import pytest

from simulator.config.dtypes import nbytes
from simulator.errors import ConfigError
from simulator.ir.ops import CollectiveOp, GemmOp
from simulator.mapping.placement import Placement
from simulator.workloads.capacity import training_footprint
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario
from simulator.workloads.sharding import validate_parallel
from simulator.workloads.training import hardware_flops, lower_training, params_per_chip, saved_per_layer
from tests.workloads.test_training import TRAIN, _stage_flops, model, segment, step, total_flops

# ring all-reduce, reduce-scatter, all-gather: each chip's link bytes per byte of its buffer (CollectiveOp)
RING = {"all_reduce": lambda n: 2 * (n - 1) / n, "reduce_scatter": lambda n: (n - 1) / n,
        "all_gather": lambda n: (n - 1) / n}


def sent(ops, par) -> float:
    """Bytes one chip puts on links for `ops`, by the ring formulas over each op's axis."""
    return sum(op.bytes * RING[op.kind](getattr(par, op.axis)) for op in ops)


@pytest.mark.parametrize("tp, cp, dp, pp", [(tp, cp, dp, pp) for tp, cp, dp, pp in
                                            itertools.product((1, 2), (1, 2, 4, 8), (1, 2), (1, 2))])
def test_total_flops_over_chips_are_the_same_for_every_cp_split(tp, cp, dp, pp):
    m, t = model("llama3_8b"), step(global_batch=8, micro_batch=1)
    one = total_flops(lower_training(m, TRAIN, t))
    par = Parallel(tp=tp, cp=cp, dp=dp, pp=pp)
    passes = lower_training(m, TRAIN, t, par)
    assert sum(_stage_flops(passes, par)) * tp * cp * dp == one
    assert total_flops(passes) * tp * cp * dp == hardware_flops(m, TRAIN, t, par) == hardware_flops(m, TRAIN, t)


@pytest.mark.parametrize("cp", [2, 4])
def test_each_chip_holds_sequence_over_cp_tokens_and_sees_every_key(cp):
    m, t = model("llama3_8b"), step(global_batch=2, micro_batch=1, sequence=1024)
    whole = segment(lower_training(m, TRAIN, t), "layer", "any")
    split = segment(lower_training(m, TRAIN, t, Parallel(cp=cp)), "layer", "any")
    gemm = {op.name: op for op in split.graph.ops if isinstance(op, GemmOp)}
    base = {op.name: op for op in whole.graph.ops if isinstance(op, GemmOp)}
    assert gemm["qkv_proj"].m * cp == base["qkv_proj"].m == 1024
    assert gemm["down"].m * cp == base["down"].m
    scores = [op for name, op in gemm.items() if name.startswith("scores")]
    assert sum(op.macs for op in scores) * cp == sum(op.macs for n, op in base.items() if n.startswith("scores"))
    assert {op.n for op in scores} == {op.n for n, op in base.items() if n.startswith("scores")}  # the same keys


def test_the_kv_ring_carries_the_whole_sequences_keys_and_values_beside_the_core():
    """Forward: an all-gather of K and V (bytes: the gathered whole) that starts with the core and that the
    output projection waits for; backward: K and V again and the dK, dV reduce-scatter, the same bytes."""
    m, t, cp = model("llama3_8b"), step(global_batch=2, micro_batch=1, sequence=2048), 4
    passes = lower_training(m, TRAIN, t, Parallel(cp=cp))
    kv = nbytes(2 * 2048 * m.kv_heads * m.head_dim, "bf16")
    fwd = segment(passes, "layer", "any")
    ring = [op for op in fwd.graph.ops if isinstance(op, CollectiveOp) and op.axis == "cp"]
    assert [(op.name, op.kind, op.bytes) for op in ring] == [("kv_ring", "all_gather", kv)]
    ops = {op.name: op for op in fwd.graph.ops}
    assert ops["kv_ring"].deps == ops["scores"].deps  # beside the core, after K and V exist
    assert "kv_ring" in ops["o_proj"].deps
    bwd = segment(passes, "layer.backward", "any")
    ring = {op.name: (op.kind, op.bytes) for op in bwd.graph.ops if isinstance(op, CollectiveOp) and op.axis == "cp"}
    dkv = nbytes(2 * 2048 * m.kv_heads * m.head_dim, t.grad_dtype)
    assert ring == {"kv_ring.bwd": ("all_gather", kv), "kv_grad_ring": ("reduce_scatter", dkv)}


@pytest.mark.parametrize("dp, cp, zero", [(2, 2, 0), (4, 2, 0), (1, 4, 0), (2, 4, 1), (4, 2, 2)])
def test_gradients_are_reduced_over_dp_times_cp_with_one_rings_bytes(dp, cp, zero):
    """A reduction over the n = dp × cp chips that hold the same weights moves what one ring over them
    moves: 2(n − 1)/n of the gradient bytes per chip (all-reduce), (n − 1)/n under ZeRO (reduce-scatter)."""
    m, par = model("llama3_8b"), Parallel(dp=dp, cp=cp)
    t = step(global_batch=4 * dp, micro_batch=2, zero=zero)
    passes = lower_training(m, TRAIN, t, par)
    syncs = [op for p in passes for s in p.segments for _ in range(s.repeat) for op in s.graph.ops
             if op.role == "grad_sync"]
    n, grads = dp * cp, nbytes(params_per_chip(m, par), t.grad_dtype)
    per_chip = sent(syncs, par)
    assert per_chip == pytest.approx((2 if zero == 0 else 1) * (n - 1) / n * grads, rel=1e-6)
    if zero:  # and the updated shards gathered back, over dp then cp
        gathers = [op for s in passes[-1].segments for _ in range(s.repeat) for op in s.graph.ops
                   if isinstance(op, CollectiveOp)]
        assert sent(gathers, par) == pytest.approx((n - 1) / n * nbytes(params_per_chip(m, par), "bf16"), rel=1e-6)


def test_activations_shrink_cp_fold_and_zero_shards_over_dp_times_cp():
    m = model("llama3_8b")
    t = step(global_batch=4, micro_batch=1, sequence=4096, zero=1, recompute="selective")
    one, split = Parallel(dp=2), Parallel(dp=2, cp=4)
    assert sum(saved_per_layer(m, TRAIN, t, split).values()) * 4 == sum(saved_per_layer(m, TRAIN, t, one).values())
    states = {p: training_footprint(m, TRAIN, t, lower_training(m, TRAIN, t, p), p).optimizer_states
              for p in (one, split)}
    assert states[one] == pytest.approx(4 * states[split], rel=1e-6)


def test_cp_ranks_sit_next_to_tp_ranks_by_default():
    par = Parallel(tp=2, cp=4, dp=2)
    placement = Placement(None, par, order=("tp", "cp", "ep", "pp", "dp"))  # the default order
    cp_groups = placement.groups("cp", 0)
    assert cp_groups[0] == (0, 2, 4, 6) and len(cp_groups) == 2 * 2  # tp fastest, then cp; every replica
    assert placement.groups("dp", 0)[0] == (0, 8)
    assert sorted(c for g in placement.groups("tp", 0) for c in g) == list(range(16))


def test_a_sequence_cp_does_not_divide_and_cp_in_inference_are_one_line_errors():
    m = model("llama3_8b")
    with pytest.raises(ConfigError, match=r"parallel\.cp.*must divide training\.sequence \(1000\)"):
        lower_training(m, TRAIN, step(sequence=1000), Parallel(cp=3))
    with pytest.raises(ConfigError, match=r"parallel\.cp.*training step"):
        validate_parallel(m, Scenario(phase="prefill", prompt=64), Parallel(cp=2), "x.yaml")
