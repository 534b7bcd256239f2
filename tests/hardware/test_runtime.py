"""Runtime profiles (config/runtime.py, hardware/runtime.py): what the host adds to each kernel, to the cycle."""

import pytest

from simulator.api import run_graph
from simulator.config.loader import load_chip
from simulator.config.runtime import OP_KINDS, runtime_names
from simulator.errors import ConfigError
from simulator.hardware.chip import Chip
from simulator.ir.ops import VECTOR_KINDS, GemmOp, OpGraph, VectorOp

INLINE = "runtime={name: t, host_per_kernel: 20000 cycles, host_per_kind: {gemm: 50000 cycles}, %s}"


def chip(*sets) -> Chip:
    return Chip(load_chip("a100", list(sets)))


def softmax(elements: int = 4096) -> OpGraph:
    return OpGraph("s", (VectorOp("s", "softmax", elements, "fp16", *VECTOR_KINDS["softmax"]),))


def cycles(c: Chip, graph: OpGraph) -> tuple[int, int]:
    """(op cycles, device cycles without any fixed part) of the graph's one op."""
    r = run_graph(c, graph).records[0]
    return r.cycles, r.cycles - r.overhead_cycles


def test_bare_adds_only_the_chips_op_overhead():
    c = chip()
    total, device = cycles(c, softmax())
    assert c.runtime.name == "bare"
    assert total - device == c.op_overhead_cycles


def test_a_synchronizing_harness_pays_host_launch_and_kernel_in_turn():
    c = chip(INLINE % "synchronize: true")
    total, device = cycles(c, softmax())
    assert total == device + c.op_overhead_cycles + 20000
    gemm = OpGraph("g", (GemmOp("g", 64, 64, 64),))
    total, device = cycles(c, gemm)
    assert total == device + c.op_overhead_cycles + 50000  # the kind's own host cost replaces host_per_kernel


def test_the_hosts_part_after_the_launch_runs_beside_the_kernel():
    """(h − a) + max(a, t + o): flat at h while the kernel (with its launch) is no longer than a, then h − a
    plus the kernel; the kind's own figure replaces the default."""
    setting = ("runtime={name: t, synchronize: true, host_per_kernel: 20000 cycles, host_after_launch: 8000 cycles, "
               "host_per_kind: {gemm: 50000 cycles}, host_after_launch_per_kind: {gemm: 0 cycles}}")
    c = chip(setting)
    ov = c.op_overhead_cycles
    short_total, short_device = cycles(c, softmax(4096))
    assert short_device + ov <= 8000  # hidden behind the host's 8000 cycles after the launch
    assert short_total == 20000
    long_total, long_device = cycles(c, softmax(1 << 22))
    assert long_device + ov > 8000
    assert long_total == 20000 - 8000 + long_device + ov
    total, device = cycles(c, OpGraph("g", (GemmOp("g", 64, 64, 64),)))
    assert total == 50000 + device + ov  # gemm: nothing after the launch


def test_asynchronous_issue_hides_the_host_behind_kernels_longer_than_it():
    c = chip(INLINE % "synchronize: false")
    ov = c.op_overhead_cycles
    short_total, short_device = cycles(c, softmax(4096))  # a few hundred cycles: the device waits for the host
    assert short_device + ov < 20000
    assert short_total == 20000  # max(device + launch, host)
    long_total, long_device = cycles(c, softmax(1 << 24))  # far longer than 20000 cycles: the host is hidden
    assert long_device + ov > 20000
    assert long_total == long_device + ov


def test_fused_kinds_pay_no_launch_and_no_host():
    c = chip(INLINE % "fuse: [softmax]")
    total, device = cycles(c, softmax())
    assert total == device


def test_the_profile_shows_in_every_summary():
    assert run_graph(chip("runtime=eager"), softmax()).summary["runtime"] == "eager"


def test_bundled_profiles_load_and_name_only_known_kinds():
    assert {"bare", "eager", "eager_synchronized", "compiled", "fused_engine"} <= set(runtime_names())
    for name in runtime_names():
        r = chip(f"runtime={name}").config.runtime
        assert r.name == name
        assert set(r.fuse) <= set(OP_KINDS) and set(r.host_per_kind) <= set(OP_KINDS)


def test_the_profiles_op_kinds_are_the_irs():
    assert set(OP_KINDS) == {"gemm", "collective", *VECTOR_KINDS}


@pytest.mark.parametrize("setting, words", [
    ("runtime=jit", ["unknown runtime profile 'jit'", "bare", "eager"]),
    ("runtime={fuse: [softmaxx]}", ["softmaxx is not an op kind", "rmsnorm"]),
    ("runtime={host_per_kind: {gemmm: 1 us}}", ["gemmm is not an op kind"]),
    ("runtime={host_per_kernel: -3 us}", ["runtime.host_per_kernel"]),
    ("runtime={host_per_kernel: 5 us, host_after_launch: 6 us}", ["host_after_launch = 6000 ns", "more than",
                                                                  "host_per_kernel = 5000 ns"]),
    ("runtime={host_per_kind: {gelu: 9 us}, host_after_launch_per_kind: {gelu: 10 us}}",
     ["host_after_launch_per_kind.gelu", "host_per_kind.gelu"]),
    ("runtime={host_per_kernel: 5 us, host_after_launch: 100 cycles}", ["same unit"]),
])
def test_bad_profiles_are_one_line_naming_the_field(setting, words):
    with pytest.raises(ConfigError) as e:
        load_chip("a100", [setting])
    text = str(e.value)
    assert "\n" not in text and all(w in text for w in words)


def test_a_multi_pass_row_kernel_reads_its_input_again_only_over_its_threshold():
    """`row_passes`: PyTorch's block softmax reads a row three times when it is longer than 1024 elements."""
    c = chip("runtime={name: t, row_passes: {softmax: {over: 1024, reads: 3}}}")
    bare = chip()
    inputs, outputs, per = VECTOR_KINDS["softmax"]

    def run(c, row):
        op = VectorOp("s", "softmax", 4096 * row, "fp16", inputs, outputs, per, row=row)
        return run_graph(c, OpGraph("s", (op,))).records[0], op

    (short, op_short), (long, op_long) = run(c, 1024), run(c, 2048)
    assert short.hbm_read == op_short.min_read_bytes  # the one-pass kernel at the threshold
    assert long.hbm_read == 3 * op_long.min_read_bytes and long.hbm_write == op_long.min_write_bytes
    assert long.cycles > run(bare, 2048)[0].cycles  # the extra reads take time
    assert run(bare, 2048)[0].hbm_read == op_long.min_read_bytes  # bare: one pass


def test_the_lowering_gives_an_unfused_softmax_its_row():
    from simulator.workloads.loader import bundled_dir, load_workload
    from simulator.workloads.transformer import lower

    wl = load_workload(bundled_dir() / "llama3_8b_decode.yaml", ["scenario.fused_attention=false"])
    ops = {op.name: op for p in lower(wl.model, wl.scenario, wl.parallel) for seg in p.segments
           for op in seg.graph.ops}
    # the row is the keys each query attends to: the 4096 cached tokens and the new one, the scores' N
    assert ops["softmax"].row == ops["scores"].n == wl.scenario.decode_context + 1


def test_pytorch_layernorm_rereads_rows_too_wide_for_l2_to_hold_those_in_flight():
    """eager_synchronized's layernorm rule: 108 SMs × 16 blocks of 128 threads × 2·N bytes against 40 MB."""
    c = chip("runtime=eager_synchronized")
    assert c.runtime.config.row_passes["layernorm"].over == 40_000_000 // (108 * 16 * 2) == 11574
    inputs, outputs, per = VECTOR_KINDS["layernorm"]
    for row, reads in ((11574, 1), (11576, 2), (32768, 2)):
        op = VectorOp("n", "layernorm", 4096 * row, "fp16", inputs, outputs, per, row=row)
        assert run_graph(c, OpGraph("n", (op,))).records[0].hbm_read == reads * op.min_read_bytes


def test_the_lowering_gives_the_forward_norms_the_models_width():
    from simulator.workloads.loader import bundled_dir, load_workload
    from simulator.workloads.transformer import lower

    wl = load_workload(bundled_dir() / "llama3_8b_prefill.yaml")
    ops = {op.name: op for p in lower(wl.model, wl.scenario, wl.parallel) for seg in p.segments
           for op in seg.graph.ops}
    assert ops["attn_norm"].row == ops["mlp_norm"].row == ops["final_norm"].row == wl.model.hidden
