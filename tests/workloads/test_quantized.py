"""Quantized weights in the lowering: the scenario's scheme gives every weight GEMM its scales, the pass's
weight bytes count them exactly, and nothing else (attention's KV operand, tied bf16 heads) gets any."""

import json
import math

import pytest
from pydantic import ValidationError

from simulator.config.dtypes import nbytes
from simulator.ir.ops import GemmOp
from simulator.workloads.loader import bundled_dir
from simulator.workloads.model import model_from_mapping
from simulator.workloads.scenario import Scenario
from simulator.workloads.transformer import lower

MODELS = bundled_dir() / "models"


def model(name):
    return model_from_mapping(json.loads((MODELS / f"{name}.json").read_text()), f"{name}.json", name)


def gemms(p):
    return [(s.repeat, op) for s in p.segments for op in s.graph.ops if isinstance(op, GemmOp)]


def decode(**scenario):
    return lower(model("llama2_7b"), Scenario(phase="decode", batch=1, prompt=64, **scenario))[0]


@pytest.mark.parametrize("weights,group,zero,per_group", [("int4", 32, True, 4), ("int4", 128, False, 2),
                                                          ("int8", "channel", False, 2), ("fp8", "tensor", False, 2)])
def test_every_weight_gemm_carries_its_scales_and_the_pass_counts_them(weights, group, zero, per_group):
    p, plain = decode(weights=weights, weight_group=group, weight_zero=zero), decode(weights=weights)
    scaled = [(r, op) for r, op in gemms(p) if op.b_dtype == weights]
    assert scaled and all(op.b_scale_bytes == per_group for _, op in scaled)
    for _, op in scaled:
        assert op.b_group == {"channel": op.k, "tensor": 0}.get(group, group)
    scales = sum(r * op.batch * op.b_scale_total for r, op in scaled)
    expected = sum(r * op.batch * (math.ceil(op.k / op.b_group) * op.n if op.b_group else 1) * per_group
                   for r, op in scaled)
    assert scales == expected
    # weight bytes = the packed weights (as without scales) + the scale bytes, exactly
    packed = sum(r * op.batch * nbytes(op.k * op.n, op.b_dtype) for r, op in scaled)
    assert p.weight_bytes - scales == plain.weight_bytes - sum(r * op.batch * op.b_scale_total for r, op in gemms(plain)
                                                               if op.b_dtype == weights)
    assert p.weight_bytes >= packed + scales


def test_int4_group_32_with_zero_points_adds_a_quarter_to_the_linear_weights():
    """gpt-fast int4: a bf16 scale and a bf16 zero point per 32 weights = 4 B per 16 B of int4 codes."""
    p = decode(weights="int4", weight_group=32, weight_zero=True)
    for _, op in gemms(p):
        if op.b_dtype == "int4":
            assert op.b_scale_total * 4 == nbytes(op.k * op.n, "int4")


def test_unquantized_weights_and_the_kv_operand_carry_no_scales():
    for _, op in gemms(decode()):
        assert op.b_scale_bytes == 0 and op.b_scale_total == 0
    # int8 weights and an int8 KV cache: the attention products read the cache, which has no weight scales
    int8 = [op for _, op in gemms(decode(weights="int8", kv_cache="int8")) if op.b_dtype == "int8"]
    unscaled = [op for op in int8 if not op.b_scale_bytes]
    assert unscaled and len(unscaled) < len(int8) and all(op.group == "attention" for op in unscaled)


def test_w8a8_is_activations_as_narrow_as_the_weights():
    p = decode(weights="int8", activations="int8")
    ops = [op for _, op in gemms(p) if op.b_scale_bytes]
    assert ops and all(op.compute_dtype == "int8" for op in ops)
    assert all(op.compute_dtype == "bf16" for _, op in gemms(decode(weights="int8")) if op.b_scale_bytes)


@pytest.mark.parametrize("field,value", [("weight_group", 0), ("weight_group", "row"), ("dequant", "lazy"),
                                         ("weight_scale", "int3")])
def test_bad_scheme_is_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        Scenario(**{field: value})
