"""Special-function units (`core.vector.special`): a kind's transcendentals bound its compute beside the lanes."""

import math

import pytest

from simulator.config.loader import load_chip
from simulator.errors import ConfigError
from simulator.hardware.chip import Chip
from simulator.hardware.timing import vector_timing
from simulator.ir.ops import SPECIAL_OPS, VECTOR_KINDS, VectorOp
from simulator.workloads.model import model_from_mapping
from simulator.workloads.scenario import Scenario
from simulator.workloads.transformer import lower_pass

SMALL = model_from_mapping({"hidden_size": 256, "num_hidden_layers": 1, "num_attention_heads": 4,
                            "num_key_value_heads": 4, "intermediate_size": 512, "vocab_size": 1000}, "small.json")
ONE_SM = ["cores=1"]  # one H100 SM: 128 fp32 lanes, 16 SFU results per cycle


def on_chip(kind: str, elements: int, dtype: str = "fp32") -> VectorOp:
    """A vector op on operands already in SRAM (fused attention's scores): its time is its compute alone."""
    _, _, per = VECTOR_KINDS[kind]
    return VectorOp(kind, kind, elements, dtype, 0, 0, per)


def compute(overrides, op) -> int:
    return vector_timing(Chip(load_chip("h100", overrides)), op, cores=1).compute_cycles


@pytest.mark.parametrize("k", [1, 7, 1000])
def test_a_softmax_takes_one_sfu_slot_per_element_to_the_cycle(k):
    # 5 lane ops / 128 lanes = 1/25.6 cycle an element; one exp2 / 16 SFU results = 1/16: the SFUs bind
    assert compute(ONE_SM, on_chip("softmax", 16 * k)) == k
    assert compute(ONE_SM, on_chip("softmax", 16 * k + 1)) == k + 1  # one element more needs one cycle more


def test_without_special_units_the_lanes_set_the_time():
    elements = 16 * 1000
    lanes_only = math.ceil(elements * VECTOR_KINDS["softmax"][2] / 128)
    assert compute(ONE_SM + ["core.vector.special=null"], on_chip("softmax", elements)) == lanes_only == 625
    assert compute(ONE_SM, on_chip("softmax", elements)) == 1000


def test_kinds_without_transcendentals_and_wide_sfus_keep_the_lane_time():
    elements = 128 * 100
    for kind in ("layernorm", "add", "dropout"):
        assert SPECIAL_OPS.get(kind, 0) == 0
        lanes = math.ceil(elements * VECTOR_KINDS[kind][2] / 128)
        assert compute(ONE_SM, on_chip(kind, elements)) == lanes
    # an SFU as fast as the lanes' share leaves silu (4 lane ops, 2 transcendentals) lane-bound
    assert compute(ONE_SM + ["core.vector.special=64"], on_chip("silu", elements)) == elements * 4 // 128
    assert compute(ONE_SM, on_chip("silu", elements)) == elements * 2 // 16  # at 16 the SFUs bind


def test_an_eager_softmax_stays_memory_bound():
    chip = Chip(load_chip("a100"))
    _, _, per = VECTOR_KINDS["softmax"]
    op = VectorOp("s", "softmax", 4096 * 4096, "fp16", 1, 1, per)
    with_sfu = vector_timing(chip, op, cores=chip.cores)
    without = vector_timing(Chip(load_chip("a100", ["core.vector.special=null"])), op, cores=chip.cores)
    assert with_sfu.cycles == without.cycles  # HBM moves 0.5e12 elements/s; the SFUs give 2.4e12 exp2/s


def test_fused_attention_softmax_is_fp32_on_chip_and_unfused_moves_activations():
    for fused, dtype, moved in ((True, "fp32", 0), (False, "bf16", 1)):
        p = lower_pass(SMALL, Scenario(phase="prefill", prompt=128, fused_attention=fused), "prefill", 128, 0)
        (soft,) = [op for seg in p.segments for op in seg.graph.ops if op.name == "softmax"]
        assert (soft.dtype, soft.inputs, soft.outputs) == (dtype, moved, moved)


@pytest.mark.parametrize("value", [0, -16, 2.5, "fast"])
def test_a_bad_special_rate_is_one_line(value):
    with pytest.raises(ConfigError) as info:
        load_chip("h100", [f"core.vector.special={value}"])
    assert "core.vector.special" in str(info.value) and "\n" not in str(info.value)


def test_a_softmax_backward_takes_no_exponential():
    # dS = P ∘ (dP − D): 2 lane ops an element and no SFU slot, though its kind is softmax
    op = VectorOp("softmax.bwd", "softmax", 128 * 100, "fp32", 0, 0, 2.0, special_per_element=0)
    assert op.special == 0 and on_chip("softmax", 1).special == 1
    assert compute(ONE_SM, op) == 128 * 100 * 2 // 128


def test_training_keeps_the_fused_score_tile_in_fp32_and_its_backward_free_of_exponentials():
    from simulator.workloads.parallel import ONE_CHIP
    from simulator.workloads.training import Training, lower_training

    step = lower_training(SMALL, Scenario(phase="train", fused_attention=True),
                          Training(global_batch=1, micro_batch=1, sequence=128), ONE_CHIP)
    ops = {op.name: op for p in step for s in p.segments for op in s.graph.ops if op.type == "vector"}
    assert (ops["softmax.recompute"].dtype, ops["softmax.recompute"].special) == ("fp32", 1)
    assert (ops["softmax.bwd"].dtype, ops["softmax.bwd"].special) == ("fp32", 0)
