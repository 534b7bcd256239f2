"""Workload files (simulator/workloads/loader.py): the demo, defaults, dependencies, overrides, bad input."""

from pathlib import Path

import pytest

from simulator.errors import MISSING, ConfigError
from simulator.ir.ops import VECTOR_KINDS, GemmOp, OpGraph, VectorOp
from simulator.workloads.loader import load_workload

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "workloads" / "gemm_demo.yaml"

DEMO_OPS = [
    ("norm_in", "vector"), ("qkv_proj", "gemm"), ("attn_out", "gemm"), ("residual1", "vector"),
    ("norm_mlp", "vector"), ("gate_up", "gemm"), ("silu_mul", "vector"), ("down_proj", "gemm"),
    ("residual2", "vector"), ("lm_matvec", "gemm"),
]
DEMO_GEMMS = {
    "qkv_proj": (2048, 6144, 4096), "attn_out": (2048, 4096, 4096), "gate_up": (2048, 28672, 4096),
    "down_proj": (2048, 4096, 14336), "lm_matvec": (1, 8192, 8192),
}


def write(tmp_path: Path, ops: str, name: str = "w") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nops:\n{ops}")
    return str(path)


def error_of(path, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_workload(path, list(overrides))
    assert "\n" not in str(info.value)
    return info.value


# ------------------------------------------------------------------------------------------ the demo


def test_demo_loads_into_an_op_graph():
    graph = load_workload(DEMO)
    assert isinstance(graph, OpGraph)
    assert graph.name == "gemm_demo"
    assert [(op.name, op.type) for op in graph.ops] == DEMO_OPS
    for op in graph.ops:
        assert isinstance(op, GemmOp if op.type == "gemm" else VectorOp)


def test_demo_gemm_shapes_and_flops():
    graph = load_workload(str(DEMO))
    gemms = {op.name: op for op in graph.ops if op.type == "gemm"}
    assert {name: (op.m, op.n, op.k) for name, op in gemms.items()} == DEMO_GEMMS
    for op in gemms.values():
        assert op.dtype == op.out_dtype == "bf16"
        assert op.batch == 1
        assert op.flops == 2 * op.m * op.n * op.k
    assert graph.flops == sum(2 * m * n * k for m, n, k in DEMO_GEMMS.values())
    assert graph.flops == 893_487_415_296


def test_demo_vector_ops_take_defaults_from_their_kind():
    graph = load_workload(DEMO)
    vectors = {op.name: op for op in graph.ops if op.type == "vector"}
    assert {name: (op.kind, op.elements) for name, op in vectors.items()} == {
        "norm_in": ("rmsnorm", 8388608), "residual1": ("add", 8388608), "norm_mlp": ("rmsnorm", 8388608),
        "silu_mul": ("silu", 29360128), "residual2": ("add", 8388608),
    }
    for op in vectors.values():
        assert (op.inputs, op.outputs, op.ops_per_element) == VECTOR_KINDS[op.kind]
        assert op.flops == 0
        assert op.dtype == "bf16"


def test_demo_ops_each_depend_on_the_one_before():
    graph = load_workload(DEMO)
    assert graph.ops[0].deps == ()
    for before, op in zip(graph.ops, graph.ops[1:], strict=False):
        assert op.deps == (before.name,)


# --------------------------------------------------------------------------------- fields and defaults


def test_gemm_flops_count_repeat(tmp_path):
    path = write(tmp_path, "  - {name: bmm, type: gemm, m: 3, n: 5, k: 7, repeat: 4, dtype: fp8, out_dtype: bf16}\n")
    (op,) = load_workload(path).ops
    assert (op.m, op.n, op.k, op.batch) == (3, 5, 7, 4)
    assert op.macs == 4 * 3 * 5 * 7
    assert op.flops == 2 * 3 * 5 * 7 * 4
    assert (op.dtype, op.out_dtype) == ("fp8", "bf16")


def test_gemm_out_dtype_defaults_to_dtype(tmp_path):
    path = write(tmp_path, "  - {name: g, type: gemm, m: 1, n: 1, k: 1, dtype: int8}\n")
    (op,) = load_workload(path).ops
    assert (op.dtype, op.out_dtype) == ("int8", "int8")


@pytest.mark.parametrize("kind", sorted(VECTOR_KINDS))
def test_vector_kind_defaults(tmp_path, kind):
    path = write(tmp_path, f"  - {{name: v, type: vector, kind: {kind}, elements: 100}}\n")
    (op,) = load_workload(path).ops
    inputs, outputs, ops_per = VECTOR_KINDS[kind]
    assert (op.kind, op.inputs, op.outputs, op.ops_per_element) == (kind, inputs, outputs, ops_per)
    assert op.vector_ops == 100 * ops_per


def test_vector_kind_defaults_can_be_overridden(tmp_path):
    path = write(tmp_path, "  - {name: v, type: vector, kind: softmax, elements: 10, inputs: 3, outputs: 0, "
                           "ops_per_element: 2.5, dtype: fp32}\n"
                           "  - {name: z, type: vector, kind: add, elements: 10, inputs: 0, ops_per_element: 0}\n")
    v, z = load_workload(path).ops
    assert (v.inputs, v.outputs, v.ops_per_element, v.dtype) == (3, 0, 2.5, "fp32")
    assert (z.inputs, z.outputs, z.ops_per_element) == (0, VECTOR_KINDS["add"][1], 0)  # 0 is kept, not defaulted


def test_dependencies(tmp_path):
    path = write(tmp_path, """\
  - {name: a, type: gemm, m: 1, n: 1, k: 1}
  - {name: b, type: gemm, m: 1, n: 1, k: 1}
  - {name: c, type: gemm, m: 1, n: 1, k: 1, after: []}
  - {name: d, type: vector, kind: add, elements: 4, after: [a]}
  - {name: e, type: vector, kind: add, elements: 4, after: [b, c]}
  - {name: f, type: gemm, m: 1, n: 1, k: 1}
""")
    deps = {op.name: op.deps for op in load_workload(path).ops}
    assert deps == {"a": (), "b": ("a",), "c": (), "d": ("a",), "e": ("b", "c"), "f": ("e",)}


def test_description_is_optional_and_accepted(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\ndescription: hello\nops:\n  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n")
    assert load_workload(path).name == "w"


# ------------------------------------------------------------------------------------------ overrides


def test_set_overrides():
    graph = load_workload(DEMO, ["ops.1.m=4096", "ops.0.elements=1024", "ops.3.kind=mul", "name=renamed"])
    assert graph.name == "renamed"
    assert (graph.ops[1].m, graph.ops[1].n, graph.ops[1].k) == (4096, 6144, 4096)
    assert graph.ops[0].elements == 1024
    assert graph.ops[3].kind == "mul"
    assert graph.flops == load_workload(DEMO).flops + 2 * 2048 * 6144 * 4096
    # the file itself is not changed
    assert load_workload(DEMO).ops[1].m == 2048


def test_set_can_change_dependencies():
    graph = load_workload(DEMO, ["ops.2.after=[]", "ops.4.after=[norm_in, qkv_proj]"])
    assert graph.ops[2].deps == ()
    assert graph.ops[4].deps == ("norm_in", "qkv_proj")


@pytest.mark.parametrize("index", ["10", "99", "x", "-1"])
def test_set_index_out_of_range(index):
    text = f"ops.{index}.m=1"
    err = error_of(DEMO, [text])
    assert err.source == f"--set {text}"
    assert err.field == f"ops.{index}"
    assert err.value == index
    assert err.allowed == "there are 10 items, numbered 0 to 9"


def test_set_without_equals():
    err = error_of(DEMO, ["ops.1.m"])
    assert (err.source, err.value) == ("--set", "ops.1.m")
    assert "path.to.field=value" in err.allowed


def test_set_through_a_scalar():
    err = error_of(DEMO, ["name.x=1"])
    assert (err.source, err.field, err.value) == ("--set name.x=1", "name", "gemm_demo")
    assert "is a value, not a group of fields" in err.allowed


# ------------------------------------------------------------------------------------------ bad input


def test_duplicate_names(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n")
    err = error_of(path)
    assert (err.source, err.field, err.value) == (path, "ops.1.name", "a")
    assert str(err) == f"{path}: ops.1.name = 'a': op names must be unique"


def test_after_naming_a_later_op(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 1, n: 1, k: 1, after: [b]}\n"
                           "  - {name: b, type: gemm, m: 1, n: 1, k: 1}\n")
    err = error_of(path)
    assert (err.source, err.field, err.value) == (path, "ops.0.after", "b")
    assert "must name an earlier op" in err.allowed


def test_after_naming_an_unknown_op_lists_earlier_ones(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n"
                           "  - {name: b, type: gemm, m: 1, n: 1, k: 1}\n"
                           "  - {name: c, type: gemm, m: 1, n: 1, k: 1, after: [a, zz]}\n")
    err = error_of(path)
    assert (err.source, err.field, err.value) == (path, "ops.2.after", "zz")
    assert str(err) == f"{path}: ops.2.after = 'zz': must name an earlier op: a, b"


def test_after_naming_itself(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n"
                           "  - {name: b, type: gemm, m: 1, n: 1, k: 1, after: [b]}\n")
    err = error_of(path)
    assert (err.field, err.value) == ("ops.1.after", "b")


def test_unknown_op_type(tmp_path):
    path = write(tmp_path, "  - {name: a, type: conv, m: 1, n: 1, k: 1}\n")
    err = error_of(path)
    assert err.source == path
    assert err.field.startswith("ops.0")
    for piece in ("'conv'", "'gemm'", "'vector'"):
        assert piece in str(err)


def test_missing_op_type_says_what_is_allowed(tmp_path):
    path = write(tmp_path, "  - {name: a, m: 1, n: 1, k: 1}\n")
    err = error_of(path)
    assert "gemm" in str(err) and "vector" in str(err)


def test_unknown_vector_kind(tmp_path):
    path = write(tmp_path, "  - {name: a, type: vector, kind: tanh, elements: 4}\n")
    err = error_of(path)
    assert err.source == path
    assert err.field.startswith("ops.0")
    assert err.field.endswith("kind")
    assert err.allowed.startswith("must be one of ")
    for kind in VECTOR_KINDS:
        assert f"'{kind}'" in err.allowed


def test_m_zero(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 0, n: 1, k: 1}\n")
    err = error_of(path)
    assert err.source == path
    assert err.field.startswith("ops.0") and err.field.endswith(".m")
    assert err.allowed == "must be ≥ 1"


@pytest.mark.parametrize("value", ["1.5", "'4'", "true"])
def test_m_not_a_whole_number(tmp_path, value):
    path = write(tmp_path, f"  - {{name: a, type: gemm, m: {value}, n: 1, k: 1}}\n")
    err = error_of(path)
    assert err.field.endswith(".m")
    assert err.allowed == "must be a whole number"


def test_unknown_field_in_an_op(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 1, n: 1, k: 1, kk: 3}\n")
    err = error_of(path)
    assert err.source == path
    assert err.field.startswith("ops.0") and err.field.endswith("kk")
    assert err.allowed == "unknown field; allowed here: name, type, m, n, k, dtype, out_dtype, repeat, after"


def test_bad_dtype_in_an_op(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 1, n: 1, k: 1, dtype: bf17}\n")
    err = error_of(path)
    assert err.field.endswith("dtype")
    assert "'bf16'" in err.allowed and "'fp8'" in err.allowed


def test_empty_ops_list(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nops: []\n")
    err = error_of(path)
    assert (err.source, err.field, err.value) == (str(path), "ops", [])
    assert "at least 1 item" in err.allowed


def test_missing_ops(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\n")
    err = error_of(path)
    assert (err.field, err.value, err.allowed) == ("ops", MISSING, "required field is missing")


def test_unknown_top_level_field(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nopz: []\nops:\n  - {name: a, type: gemm, m: 1, n: 1, k: 1}\n")
    err = error_of(path)
    assert (err.field, err.value) == ("opz", [])
    assert err.allowed == "unknown field; allowed here: name, description, ops"


def test_op_that_is_not_a_mapping(tmp_path):
    err = error_of(write(tmp_path, "  - 5\n"))
    assert (err.field, err.value) == ("ops.0", 5)


def test_missing_workload_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    err = error_of(path)
    assert (err.source, err.value, err.allowed) == (path, path, "file not found")


def test_bad_yaml_in_a_workload(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm\n")
    err = error_of(path)
    assert err.source == path
    assert "not valid YAML" in err.allowed


# pydantic puts the union tag in the location (ops, 0, 'gemm', 'm'); the message must not show it.


def test_m_zero_names_field_and_value(tmp_path):
    path = write(tmp_path, "  - {name: a, type: gemm, m: 0, n: 1, k: 1}\n")
    err = error_of(path)
    assert str(err) == f"{path}: ops.0.m = 0: must be ≥ 1"


def test_unknown_vector_kind_names_field_and_value(tmp_path):
    path = write(tmp_path, "  - {name: a, type: vector, kind: tanh, elements: 4}\n")
    err = error_of(path)
    assert (err.field, err.value) == ("ops.0.kind", "tanh")


def test_unknown_field_in_a_vector_op_names_field_and_value(tmp_path):
    path = write(tmp_path, "  - {name: a, type: vector, kind: add, elements: 4, m: 3}\n")
    err = error_of(path)
    assert (err.source, err.field, err.value) == (path, "ops.0.m", 3)
    assert err.allowed.startswith("unknown field; allowed here: ")


def test_unknown_field_in_a_vector_op_lists_vector_fields(tmp_path):
    path = write(tmp_path, "  - {name: a, type: vector, kind: add, elements: 4, m: 3}\n")
    err = error_of(path)
    assert err.allowed == ("unknown field; allowed here: name, type, kind, elements, dtype, inputs, outputs, "
                           "ops_per_element, after")


def test_bad_value_from_set_names_the_set():
    err = error_of(DEMO, ["ops.1.m=0"])
    assert (err.source, err.field, err.value) == ("--set ops.1.m=0", "ops.1.m", 0)


# ------------------------------------------------------------------------------------------ collectives


def test_collective_op_takes_a_chip_count_or_a_list(tmp_path):
    from simulator.ir.ops import CollectiveOp

    path = write(tmp_path, "  - {name: a, type: collective, kind: all_reduce, bytes: 1 MiB, chips: 4}\n"
                           "  - {name: b, type: collective, kind: all_gather, bytes: 4096, chips: [1, 3], axis: dp}\n")
    a, b = load_workload(path).ops
    assert isinstance(a, CollectiveOp) and a.chips == (0, 1, 2, 3) and a.bytes == 1 << 20 and a.axis == ""
    assert b.chips == (1, 3) and b.axis == "dp" and b.deps == ("a",) and b.kind == "all_gather"


@pytest.mark.parametrize("op,field,piece", [
    ("kind: all_sum, bytes: 8, chips: 2", "kind", "'all_reduce'"),
    ("kind: all_reduce, bytes: 8, chips: 0", "chips", "a chip count ≥ 1"),
    ("kind: all_reduce, bytes: 8, chips: []", "chips", "non-empty list"),
    ("kind: all_reduce, bytes: 8, chips: [-1, 2]", "chips", "chip indices ≥ 0"),
    ("kind: all_reduce, bytes: 8, chips: two", "chips", "chip count"),
    ("kind: all_reduce, bytes: -3, chips: 2", "bytes", ""),
    ("kind: all_reduce, bytes: 8", "chips", "required field is missing"),
    ("kind: all_reduce, bytes: 8, chips: 2, axis: zz", "axis", "'dp'"),
])
def test_bad_collective_fields_are_one_line(tmp_path, op, field, piece):
    err = error_of(write(tmp_path, f"  - {{name: a, type: collective, {op}}}\n"))
    assert err.field.startswith("ops.0") and field in err.field
    assert piece in str(err)
