"""A fused attention kernel's own load pipelining (`scenario.attention_stages`, GemmOp.stages)."""

from dataclasses import replace

import pytest

from simulator.api import run_graph
from simulator.config.loader import load_chip
from simulator.errors import ConfigError
from simulator.hardware.chip import Chip
from simulator.ir.ops import GemmOp, OpGraph
from simulator.workloads.loader import bundled_dir, load_workload
from simulator.workloads.model import model_from_mapping
from simulator.workloads.parallel import ONE_CHIP
from simulator.workloads.scenario import Scenario
from simulator.workloads.training import Training, lower_training
from simulator.workloads.transformer import lower_pass

SMALL = model_from_mapping({"hidden_size": 256, "num_hidden_layers": 1, "num_attention_heads": 4,
                            "num_key_value_heads": 4, "intermediate_size": 512, "vocab_size": 1000}, "small.json")
ATTENTION = ("scores", "values", "scores.recompute", "values.dp", "values.dv", "scores.dq", "scores.dk")
# an attention product of a long sequence: 32 heads, 128 query rows against 4,096 keys, the scores on chip
PRODUCT = GemmOp("scores", 128, 4096, 128, batch=32, c_on_chip=True)


def cycles(chip: Chip, op: GemmOp) -> int:
    return run_graph(chip, OpGraph("g", (op,))).summary["cycles"]


@pytest.mark.parametrize("chip", ["a100", "h100", "tpu_v5e"])
@pytest.mark.parametrize("stages", [2, 3])  # a core has 2 at least; the kernels take 1 (tests/kernels)
def test_an_ops_stages_time_it_exactly_as_a_core_with_that_many_stages(chip, stages):
    base = Chip(load_chip(chip))
    twin = Chip(load_chip(chip, [f"core.sram.stages={stages}"]))
    assert cycles(base, replace(PRODUCT, stages=stages)) == cycles(twin, PRODUCT)
    assert cycles(base, replace(PRODUCT, stages=base.sram.stages)) == cycles(base, PRODUCT)  # 0: the core's


def test_fewer_stages_are_never_faster_and_one_is_slower():
    chip = Chip(load_chip("h100"))
    one, two, four = (cycles(chip, replace(PRODUCT, stages=s)) for s in (1, 2, 4))
    assert one > two >= four  # with one buffer nothing overlaps a load


def ops_of(passes) -> dict:
    return {op.name: op for p in passes for s in p.segments for op in s.graph.ops}


def test_the_fused_attention_products_alone_carry_the_kernels_stages():
    for fused, want in ((True, 1), (False, 0)):
        scenario = Scenario(phase="prefill", prompt=256, fused_attention=fused, attention_stages=1)
        ops = ops_of([lower_pass(SMALL, scenario, "prefill", 256, 0)])
        gemms = {name: op.stages for name, op in ops.items() if op.type == "gemm"}
        assert gemms.pop("scores") == gemms.pop("values") == want
        assert set(gemms.values()) == {0}  # the projections and the MLP keep the core's


def test_training_gives_every_fused_attention_product_the_stages_forward_and_backward():
    scenario = Scenario(phase="train", fused_attention=True, attention_stages=1)
    ops = ops_of(lower_training(SMALL, scenario, Training(global_batch=1, micro_batch=1, sequence=256), ONE_CHIP))
    gemms = {name: op.stages for name, op in ops.items() if op.type == "gemm"}
    assert all(gemms[name] == 1 for name in ATTENTION)
    assert {s for name, s in gemms.items() if name not in ATTENTION} == {0}


@pytest.mark.parametrize("value", [-1, 17, 1.5, "two"])
def test_a_bad_attention_stages_is_one_line(value):
    with pytest.raises(ConfigError) as info:
        load_workload(bundled_dir() / "llama3_8b_prefill.yaml", [f"scenario.attention_stages={value}"])
    assert "scenario.attention_stages" in str(info.value) and "\n" not in str(info.value)
