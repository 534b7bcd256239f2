"""A corpus of malformed inputs of every file kind — hardware, workload (op lists, models, training, serving),
sweep, model config.json, request files — and of every command's flags (issue 14, "How we know it is right").
Each case must end in exit status 2, no traceback, at most 3 lines on stderr, naming the offending file or flag.
The cases of tests/cli/test_malformed_cli.py and tests/config/test_malformed_files.py are not repeated here.

Every case writes its files into a folder of its own (`{d}` in its argv and in what the error must say). The
cases of SUBPROCESS are each one process of `tortoise`, as a user runs it, started from one fixture a few at a
time: the inputs built to hang, exhaust or crash an interpreter (undecodable bytes, deep nesting, alias bombs,
absurd sizes). The others call `simulator.cli.main` in the test process (tests/cli/in_process.py), reported as
the process would report them: an escaping exception is its traceback on stderr, and a case past HANG seconds
is stopped by an alarm and reported hung. A start-up of the interpreter costs about 0.8 s of CPU against about
10 ms for most cases here."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.cli.in_process import HANG, run_in_process

ROOT = Path(__file__).resolve().parents[2]
AT_ONCE = 4
SMALL = ["--set", "model.num_hidden_layers=2"]


class Case(NamedTuple):
    argv: list[str]
    says: list[str]  # pieces the error line must hold; "{d}" is the case's folder
    files: dict[str, str | bytes] = {}


def _hw(extra: str, says: list[str] | None = None, command: str = "validate") -> Case:
    """A hardware file over the h100 preset."""
    argv = ["validate", "{d}/hw.yaml"] if command == "validate" else ["run", "{d}/hw.yaml", "gemm_demo"]
    return Case(argv, ["{d}/hw.yaml", *(says or [])], {"hw.yaml": "preset: h100\nname: x\n" + extra})


def _raw_hw(content: str | bytes, says: list[str] | None = None) -> Case:
    return Case(["validate", "{d}/hw.yaml"], ["{d}/hw.yaml", *(says or [])], {"hw.yaml": content})


def _ops(ops: str, says: list[str] | None = None, extra: str = "") -> Case:
    """An op-list workload on h100."""
    return Case(["run", "h100", "{d}/wl.yaml"], ["{d}/wl.yaml", *(says or [])],
                {"wl.yaml": f"name: w\n{extra}ops:\n{ops}"})


GEMM = "  - {name: g, type: gemm, m: 64, n: 64, k: 64}\n"


def _model(scenario: str, says: list[str] | None = None, extra: str = "", model: str = "llama3_8b") -> Case:
    """A model workload on h100, two layers."""
    return Case(["run", "h100", "{d}/wl.yaml", *SMALL], ["{d}/wl.yaml", *(says or [])],
                {"wl.yaml": f"name: w\nmodel: {model}\nscenario: {scenario}\n{extra}"})


def _train(training: str, says: list[str] | None = None, parallel: str = "") -> Case:
    return Case(["run", "h100", "{d}/wl.yaml", *SMALL], ["{d}/wl.yaml", *(says or [])],
                {"wl.yaml": "name: w\nmodel: llama3_8b\nscenario: {phase: train}\n"
                            f"training: {{global_batch: 2, micro_batch: 1, sequence: 128, {training}}}\n{parallel}"})


def _serve(serving: str, says: list[str] | None = None, scenario: str = "{phase: serve}") -> Case:
    return Case(["serve", "h100", "{d}/wl.yaml", *SMALL], ["{d}/wl.yaml", *(says or [])],
                {"wl.yaml": f"name: w\nmodel: llama3_8b\nscenario: {scenario}\n"
                            f"serving:\n  requests: 4\n{serving}"})


def _sweep(body: str, says: list[str] | None = None) -> Case:
    return Case(["sweep", "{d}/s.yaml", "--out", "{d}/out"], ["{d}/s.yaml", *(says or [])], {"s.yaml": body})


SWEEP = "hardware: h100\nworkloads: [gemm_demo]\n"


def _config(content: str | bytes, says: list[str] | None = None) -> Case:
    """A Hugging Face config.json given to --model."""
    return Case(["run", "h100", "--model", "{d}/m.json", "--batch", "1", "--context", "64"],
                ["{d}/m.json", *(says or [])], {"m.json": content})


LLAMA = json.loads((ROOT / "workloads/models/llama3_8b.json").read_text()) | {"num_hidden_layers": 2}


def _hf(says: list[str] | None = None, drop: tuple[str, ...] = (), **fields) -> Case:
    config = {k: v for k, v in LLAMA.items() if k not in drop} | fields
    return _config(json.dumps(config, allow_nan=True), says)


def _requests(content: str | bytes, says: list[str] | None = None, suffix: str = "jsonl") -> Case:
    name = f"r.{suffix}"
    return Case(["serve", "h100", "llama3_8b_serve", *SMALL, "--trace-file", "{d}/" + name],
                ["{d}/" + name, *(says or [])], {name: content})


def _jsonl(*rows, says: list[str] | None = None) -> Case:
    ok = {"arrival_s": 0, "prompt_tokens": 16, "output_tokens": 2}
    return _requests("".join(json.dumps(ok | row) + "\n" for row in rows), says)


def _flag(argv: list[str], says: list[str]) -> Case:
    return Case(argv, says)


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))

CASES: dict[str, Case] = {
    # ---- hardware files: bytes and structure (part 1)
    "hw_utf16": _raw_hw("name: x\ncores: 1\n".encode("utf-16"), ["UTF-8"]),
    "hw_latin1_comment": _raw_hw(b"preset: h100\n# \xff\xfe comment\nname: x\n", ["line 2"]),
    "hw_nul_in_key": _raw_hw(b"preset: h100\nna\x00me: x\n", ["NUL"]),
    "hw_tab_indent": _raw_hw("preset: h100\nname: x\ncore:\n\tmxu:\n\t\trows: 8\n", ["line"]),
    "hw_deep_flow_maps": _raw_hw("a: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", ["nest"]),
    "hw_deep_block_lists": _raw_hw("preset: h100\nsources:\n  " + "- " * 200 + "1\n", ["nest"]),
    "hw_laughs_in_sources": _raw_hw("preset: h100\nname: x\n" + LAUGHS.replace("a: &a", "sources: &a"),
                                    ["aliases"]),
    "hw_undefined_alias": _raw_hw("preset: h100\nname: *nothing\n", ["line 2"]),
    "hw_alias_recursive": _raw_hw("preset: h100\nname: x\nsources: &s [*s]\n", ["nest"]),
    "hw_duplicate_link": _hw("system:\n  chips: 2\n  link: {bandwidth: 25 GB/s, bandwidth: 50 GB/s}\n",
                             ["bandwidth", "twice"]),
    "hw_duplicate_hbm": _hw("memory:\n  hbm:\n    size: 80 GB\n    size: 96 GB\n", ["line 6", "size", "twice"]),
    "hw_duplicate_energy": _hw("energy:\n  node: 5nm\n  node: 7nm\n", ["node", "twice"]),
    "hw_empty_file": _raw_hw("", ["name = (missing)"]),
    "hw_only_comment": _raw_hw("# nothing here\n", ["name = (missing)"]),
    "hw_scalar": _raw_hw("just text\n", ["mapping"]),
    "hw_two_documents": _raw_hw("preset: h100\nname: x\n---\nname: y\n", ["document"]),
    "hw_bom_then_yaml": _raw_hw(b"\xef\xbb\xbfpreset: h100\nname: x\ncores: 0\n", ["cores"]),
    "hw_preset_self": _raw_hw("preset: {d}/hw.yaml\nname: x\n", ["preset"]),
    "hw_preset_missing": _raw_hw("preset: {d}/nope.yaml\nname: x\n", ["preset"]),
    "hw_preset_number": _raw_hw("preset: 7\nname: x\n", ["preset"]),
    "hw_unknown_top": _hw("colck: 1 GHz\n", ["colck"]),
    "hw_unknown_nested": _hw("core:\n  mxu: {rows: 8, cols: 8, rowz: 8}\n", ["rowz"]),
    "hw_name_list": _hw("name: [a, b]\n", ["name"]),
    # ---- hardware fields: numbers valid in the schema but not in physics (part 2)
    "hw_cores_zero": _hw("cores: 0\n", ["cores = 0"]),
    "hw_cores_2_70": _hw(f"cores: {2 ** 70}\n", ["cores"]),
    "hw_cores_float": _hw("cores: 4.0\n", ["cores"]),
    "hw_cores_text": _hw("cores: '4'\n", ["cores"]),
    "hw_cores_bool": _hw("cores: true\n", ["cores"]),
    "hw_mxu_rows_negative": _hw("core: {mxu: {rows: -8}}\n", ["core.mxu.rows"]),
    "hw_mxu_cols_huge": _hw(f"core: {{mxu: {{cols: {2 ** 64}}}}}\n", ["core.mxu.cols"]),
    "hw_mxu_count_zero": _hw("core: {mxu: {count: 0}}\n", ["core.mxu.count"]),
    "hw_mxu_dataflow": _hw("core: {mxu: {dataflow: rs}}\n", ["core.mxu.dataflow"]),
    "hw_macs_tiny": _hw("core: {mxu: {macs_per_pe: {bf16: 1.0e-300}}}\n", ["macs_per_pe"]),
    "hw_macs_inf": _hw("core: {mxu: {macs_per_pe: {bf16: .inf}}}\n", ["macs_per_pe"]),
    "hw_macs_nan": _hw("core: {mxu: {macs_per_pe: {bf16: .nan}}}\n", ["macs_per_pe"]),
    "hw_macs_unknown_dtype": _hw("core: {mxu: {macs_per_pe: {bf17: 1}}}\n", ["bf17"]),
    "hw_macs_list": _hw("core: {mxu: {macs_per_pe: [1, 2]}}\n", ["macs_per_pe"]),
    "hw_lanes_zero": _hw("core: {vector: {lanes: 0}}\n", ["core.vector.lanes"]),
    "hw_ops_per_lane_zero": _hw("core: {vector: {ops_per_lane: {bf16: 0}}}\n", ["ops_per_lane"]),
    "hw_ops_per_lane_huge": _hw("core: {vector: {ops_per_lane: {bf16: 1.0e+300}}}\n", ["ops_per_lane"]),
    "hw_sram_zero": _hw("core: {sram: {size: 0}}\n", ["core.sram.size"]),
    "hw_sram_exabytes": _hw("core: {sram: {size: 1e30 GB}}\n", ["core.sram.size"]),
    "hw_sram_fraction": _hw("core: {sram: {size: 1.5 B}}\n", ["core.sram.size"]),
    "hw_sram_stages": _hw("core: {sram: {stages: 1}}\n", ["core.sram.stages"]),
    "hw_sram_unit_case": _hw("core: {sram: {size: 32 mib}}\n", ["core.sram.size"]),
    "hw_accumulators_negative": _hw("core: {accumulators: -1}\n", ["core.accumulators"]),
    "hw_dma_zero": _hw("core: {dma: {bandwidth: 0 B/s}}\n", ["core.dma.bandwidth"]),
    "hw_dma_latency_negative": _hw("core: {dma: {latency: -5}}\n", ["core.dma.latency"]),
    "hw_clock_inf": _hw("clock: .inf\n", ["clock"]),
    "hw_clock_bare": _hw("clock: 1000000000\n", ["clock"]),
    "hw_clock_1e400": _hw("clock: 1e400 GHz\n", ["clock"]),
    "hw_op_overhead_1e300": _hw("op_overhead: 1e300 s\n", ["op_overhead"]),
    "hw_op_overhead_float": _hw("op_overhead: 1.5\n", ["op_overhead"]),
    "hw_hbm_bandwidth_nan": _hw("memory: {hbm: {bandwidth: nan TB/s}}\n", ["memory.hbm.bandwidth"]),
    "hw_hbm_bandwidth_tiny": _hw("memory: {hbm: {bandwidth: 1e-300 B/s}}\n", ["memory.hbm.bandwidth"]),
    "hw_hbm_efficiency_zero": _hw("memory: {hbm: {efficiency: 0}}\n", ["memory.hbm.efficiency"]),
    "hw_hbm_efficiency_above_1": _hw("memory: {hbm: {efficiency: 1.5}}\n", ["memory.hbm.efficiency"]),
    "hw_hbm_efficiency_percent": _hw("memory: {hbm: {efficiency: 90%}}\n", ["memory.hbm.efficiency"]),
    "hw_hbm_efficiency_subnormal": _hw("memory: {hbm: {efficiency: 1.0e-320}}\n", ["memory.hbm.efficiency"]),
    "hw_hbm_latency_1e300": _hw("memory: {hbm: {latency: 1e300 us}}\n", ["memory.hbm.latency"]),
    "hw_hbm_size_zero": _hw("memory: {hbm: {size: 0}}\n", ["memory.hbm.size"]),
    "hw_l2_size_zero": _hw("memory: {l2: {size: 0}}\n", ["memory.l2.size"]),
    "hw_l2_size_huge": _hw("memory: {l2: {size: 1e30 GB}}\n", ["memory.l2.size"]),
    "hw_energy_static_huge": _hw("energy: {static_power: 1e308 kW}\n", ["energy.static_power"]),
    "hw_energy_node": _hw("energy: {node: 1nm}\n", ["energy.node"]),
    # ---- systems, links, scale-out (parts 2 and 3)
    "sys_chips_billion": _hw("system: {chips: 1000000000, link: {bandwidth: 25 GB/s}}\n", ["system.chips"]),
    "sys_chips_zero": _hw("system: {chips: 0}\n", ["system.chips"]),
    "sys_no_link": _hw("system: {chips: 4}\n", ["system.link"]),
    "sys_topology_unknown": _hw("system: {chips: 4, topology: hypercube, link: {bandwidth: 25 GB/s}}\n",
                                ["system.topology"]),
    "sys_dims_product": _hw("system: {chips: 8, topology: torus2d, dims: [2, 2], link: {bandwidth: 1 GB/s}}\n",
                            ["system.dims"]),
    "sys_dims_negative": _hw("system: {chips: 4, topology: torus2d, dims: [-2, -2], link: {bandwidth: 1 GB/s}}\n",
                             ["system.dims"]),
    "sys_links_out_of_range": _hw("system: {chips: 2, topology: explicit, links: [[0, 5]], "
                                  "link: {bandwidth: 1 GB/s}}\n", ["system.links"]),
    "sys_links_unreachable": _hw("system: {chips: 4, topology: explicit, links: [[0, 1]], "
                                 "link: {bandwidth: 1 GB/s}}\n", ["system.links"]),
    "sys_link_bandwidth_huge": _hw("system: {chips: 2, link: {bandwidth: 1e300 TB/s}}\n",
                                   ["system.link.bandwidth"]),
    "sys_link_count_2_64": _hw(f"system: {{chips: 2, link: {{bandwidth: 1 GB/s, count: {2 ** 64}}}}}\n",
                               ["system.link.count"]),
    "sys_link_latency_huge": _hw("system: {chips: 2, link: {bandwidth: 1 GB/s, latency: 1e300 s}}\n",
                                 ["system.link.latency"]),
    "sys_link_efficiency_nan": _hw("system: {chips: 2, link: {bandwidth: 1 GB/s, efficiency: .nan}}\n",
                                   ["system.link.efficiency"]),
    "sys_collectives_unknown": _hw("system: {chips: 2, collectives: butterfly, link: {bandwidth: 1 GB/s}}\n",
                                   ["system.collectives"]),
    "sys_placement_unknown": _hw("system: {chips: 2, placement: [tp, zz], link: {bandwidth: 1 GB/s}}\n",
                                 ["system.placement"]),
    "sys_scale_out_per_node_zero": _hw("system: {chips: 16, link: {bandwidth: 1 GB/s}, scale_out: "
                                       "{chips_per_node: 0, nic: {bandwidth: 50 GB/s}}}\n", ["chips_per_node"]),
    "sys_scale_out_nic_missing": _hw("system: {chips: 16, link: {bandwidth: 1 GB/s}, scale_out: "
                                     "{chips_per_node: 8}}\n", ["system.scale_out"]),
    "sys_scale_out_oversub_inf": _hw("system: {chips: 16, link: {bandwidth: 1 GB/s}, scale_out: {chips_per_node: 8, "
                                     "nic: {bandwidth: 50 GB/s}, oversubscription: .inf}}\n", ["oversubscription"]),
    "sys_scale_out_nic_bw_huge": _hw("system: {chips: 16, link: {bandwidth: 1 GB/s}, scale_out: {chips_per_node: 8, "
                                     "nic: {bandwidth: 1e300 TB/s}}}\n", ["system.scale_out.nic.bandwidth"]),
    "sys_huge_run": _hw("system: {chips: 100000000, link: {bandwidth: 25 GB/s}}\n", ["system.chips"], "run"),
    # ---- op-list workloads
    "ops_empty": _ops("", ["ops"]),
    "ops_mapping": Case(["run", "h100", "{d}/wl.yaml"], ["{d}/wl.yaml", "ops"],
                        {"wl.yaml": "name: w\nops: {g: {type: gemm}}\n"}),
    "ops_item_list": _ops("  - [g, gemm, 1, 1, 1]\n", ["ops.0"]),
    "ops_no_name": _ops("  - {type: gemm, m: 1, n: 1, k: 1}\n", ["ops.0.name"]),
    "ops_duplicate_name": _ops(GEMM + GEMM, ["ops.1.name"]),
    "ops_unknown_type": _ops("  - {name: g, type: conv, m: 1}\n", ["ops.0.type"]),
    "ops_after_unknown": _ops(GEMM + "  - {name: h, type: gemm, m: 1, n: 1, k: 1, after: [zz]}\n", ["after"]),
    "ops_after_later": _ops("  - {name: h, type: gemm, m: 1, n: 1, k: 1, after: [g]}\n" + GEMM, ["after"]),
    "ops_after_self": _ops("  - {name: g, type: gemm, m: 1, n: 1, k: 1, after: [g]}\n", ["after"]),
    "ops_m_zero": _ops("  - {name: g, type: gemm, m: 0, n: 1, k: 1}\n", ["ops.0.m"]),
    "ops_m_2_64": _ops(f"  - {{name: g, type: gemm, m: {2 ** 64}, n: 1, k: 1}}\n", ["ops.0.m"]),
    "ops_n_float": _ops("  - {name: g, type: gemm, m: 1, n: 1.5, k: 1}\n", ["ops.0.n"]),
    "ops_k_text": _ops("  - {name: g, type: gemm, m: 1, n: 1, k: '64'}\n", ["ops.0.k"]),
    "ops_cube_1e12": _ops("  - {name: g, type: gemm, m: 1000000000000, n: 1000000000000, k: 1000000000000}\n",
                          ["ops.0"]),
    "ops_macs_past_limit": _ops("  - {name: g, type: gemm, m: 2147483648, n: 2147483648, k: 2147483648}\n",
                                ["multiply-accumulates"]),
    "ops_dtype_unknown": _ops("  - {name: g, type: gemm, m: 1, n: 1, k: 1, dtype: fp7}\n", ["ops.0.dtype"]),
    "ops_repeat_zero": _ops("  - {name: g, type: gemm, m: 1, n: 1, k: 1, repeat: 0}\n", ["ops.0.repeat"]),
    "ops_vector_kind": _ops("  - {name: v, type: vector, kind: tanh, elements: 8}\n", ["ops.0.kind"]),
    "ops_vector_elements_huge": _ops(f"  - {{name: v, type: vector, kind: add, elements: {10 ** 20}}}\n",
                                     ["ops.0.elements"]),
    "ops_vector_ope_inf": _ops("  - {name: v, type: vector, kind: add, elements: 8, ops_per_element: .inf}\n",
                               ["ops_per_element"]),
    "ops_vector_ope_negative": _ops("  - {name: v, type: vector, kind: add, elements: 8, ops_per_element: -1}\n",
                                    ["ops_per_element"]),
    "ops_vector_inputs_negative": _ops("  - {name: v, type: vector, kind: add, elements: 8, inputs: -1}\n",
                                       ["ops.0.inputs"]),
    "ops_vector_huge_work": _ops("  - {name: v, type: vector, kind: add, elements: 1000000000000, "
                                 "ops_per_element: 1.0e+12}\n", ["ops.0"]),
    "ops_collective_one_chip": _ops("  - {name: c, type: collective, kind: all_reduce, bytes: 1 GiB, chips: 8}\n",
                                    ["chip"]),
    "ops_collective_bytes_huge": _ops("  - {name: c, type: collective, kind: all_reduce, bytes: 1e300 TB, "
                                      "chips: 1}\n", ["bytes"]),
    "ops_collective_kind": _ops("  - {name: c, type: collective, kind: broadcast, bytes: 1 MB, chips: 1}\n",
                                ["ops.0.kind"]),
    "ops_duplicate_field": _ops("  - {name: g, type: gemm, m: 1, m: 2, n: 1, k: 1}\n", ["'m'", "twice"]),
    "ops_laughs": Case(["run", "h100", "{d}/wl.yaml"], ["{d}/wl.yaml", "aliases"],
                       {"wl.yaml": "name: w\n" + LAUGHS.replace("a: &a", "description: &a") + "ops:\n" + GEMM}),
    "ops_and_model": _ops(GEMM, ["model"], extra="model: llama3_8b\n"),
    "ops_unknown_top": _ops(GEMM, ["opz"], extra="opz: 1\n"),
    "ops_binary": Case(["run", "h100", "{d}/wl.yaml"], ["{d}/wl.yaml", "UTF-8"],
                       {"wl.yaml": bytes(range(128, 256)) * 8}),
    # ---- model workloads: model + scenario
    "model_missing_file": _model("{phase: decode}", ["nosuch.json"], model="nosuch.json"),
    "model_typo_folder": _model("{phase: decode}", ["typo_dir/llama3_8b.json"], model="typo_dir/llama3_8b.json"),
    "model_not_text": Case(["run", "h100", "{d}/wl.yaml"], ["{d}/wl.yaml", "model"],
                           {"wl.yaml": "name: w\nmodel: [1, 2]\nscenario: {phase: decode}\n"}),
    "scenario_a_list": Case(["run", "h100", "{d}/wl.yaml"], ["{d}/wl.yaml", "scenario"],
                            {"wl.yaml": "name: w\nmodel: llama3_8b\nscenario: [decode]\n"}),
    "scenario_phase": _model("{phase: sideways}", ["scenario.phase"]),
    "scenario_batch_zero": _model("{phase: decode, batch: 0}", ["scenario.batch"]),
    "scenario_batch_2_70": _model(f"{{phase: decode, batch: {2 ** 70}}}", ["scenario.batch"]),
    "scenario_context_negative": _model("{phase: decode, context: -1}", ["scenario.context"]),
    "scenario_context_past_model": _model("{phase: decode, context: 1000000}", ["context"]),
    "scenario_prompt_zero": _model("{phase: prefill, prompt: 0}", ["scenario.prompt"]),
    "scenario_output_tokens_1e9": _model("{phase: generate, prompt: 8, output_tokens: 1000000000}",
                                         ["scenario.output_tokens"]),
    "scenario_weights_dtype": _model("{phase: decode, weights: fp3}", ["scenario.weights"]),
    "scenario_unknown_key": _model("{phase: decode, bacth: 2}", ["bacth"]),
    "scenario_moe_on_dense": _model("{phase: decode, moe_imbalance: .nan}", ["moe_imbalance"]),
    "parallel_tp_zero": _model("{phase: decode}", ["parallel.tp"], extra="parallel: {tp: 0}\n"),
    "parallel_tp_not_dividing": _model("{phase: decode}", ["parallel"], extra="parallel: {tp: 3}\n"),
    "parallel_unknown": _model("{phase: decode}", ["parallel.zz"], extra="parallel: {zz: 2}\n"),
    # ---- model workloads: training
    "train_global_batch_zero": _train("global_batch: 0", ["global_batch"]),
    "train_micro_not_dividing": _train("micro_batch: 3", ["micro_batch"]),
    "train_sequence_huge": _train("sequence: 1000000000", ["sequence"]),
    "train_optimizer": _train("optimizer: sgdx", ["optimizer"]),
    "train_zero_stage": _train("zero: 4", ["zero"]),
    "train_recompute": _train("recompute: sometimes", ["recompute"]),
    "train_grad_dtype": _train("grad_dtype: fp5", ["grad_dtype"]),
    "train_master_weights_text": _train("master_weights: 'yes'", ["master_weights"]),
    "train_unknown_key": _train("epochs: 3", ["epochs"]),
    "train_section_number": Case(["run", "h100", "{d}/wl.yaml", *SMALL], ["{d}/wl.yaml", "training"],
                                 {"wl.yaml": "name: w\nmodel: llama3_8b\nscenario: {phase: train}\ntraining: 3\n"}),
    "train_dp_huge": _train("zero: 1", ["training.global_batch", "1000000000"],
                            parallel="parallel: {dp: 1000000000}\n"),
    # ---- model workloads: serving
    "serve_requests_zero":
    Case(["serve", "h100", "{d}/wl.yaml", *SMALL], ["{d}/wl.yaml", "serving.requests"],
         {"wl.yaml": "name: w\nmodel: llama3_8b\nscenario: {phase: serve}\nserving: {requests: 0}\n"}),
    "serve_requests_1e7": Case(["serve", "h100", "{d}/wl.yaml", *SMALL], ["{d}/wl.yaml", "serving.requests"],
                               {"wl.yaml": "name: w\nmodel: llama3_8b\nscenario: {phase: serve}\n"
                                           "serving: {requests: 10000000}\n"}),
    "serve_arrival_kind": _serve("  arrival: {kind: bursty, rate: 2}\n", ["serving.arrival"]),
    "serve_arrival_rate_negative": _serve("  arrival: {kind: poisson, rate: -1}\n", ["serving.arrival.rate"]),
    "serve_arrival_rate_inf": _serve("  arrival: {kind: poisson, rate: .inf}\n", ["serving.arrival.rate"]),
    "serve_arrival_rate_tiny": _serve("  arrival: {kind: poisson, rate: 1.0e-300}\n", ["serving.arrival"]),
    "serve_arrival_short_text": _serve("  arrival: poisson:abc\n", ["serving.arrival"]),
    "serve_gamma_cv_zero": _serve("  arrival: {kind: gamma, rate: 2, cv: 0}\n", ["cv"]),
    "serve_prompt_fixed_zero": _serve("  prompt: {kind: fixed, tokens: 0}\n", ["serving.prompt"]),
    "serve_prompt_uniform_reversed": _serve("  prompt: uniform:50,10\n", ["serving.prompt"]),
    "serve_prompt_lognormal_sigma": _serve("  prompt: {kind: lognormal, median: 64, sigma: -1}\n",
                                           ["serving.prompt"]),
    "serve_prompt_table_empty": _serve("  prompt: {kind: table, tokens: []}\n", ["serving.prompt"]),
    "serve_prompt_table_weights": _serve("  prompt: {kind: table, tokens: [8, 16], weights: [1]}\n",
                                         ["serving.prompt"]),
    "serve_output_1e9": _serve("  output: 1000000000\n", ["serving.output"]),
    "serve_scheduler_policy": _serve("  scheduler: {policy: lottery}\n", ["serving.scheduler.policy"]),
    "serve_max_num_seqs_zero": _serve("  scheduler: {max_num_seqs: 0}\n", ["max_num_seqs"]),
    "serve_token_budget_zero": _serve("  scheduler: {policy: chunked, token_budget: 0}\n", ["token_budget"]),
    "serve_overhead_huge": _serve("  scheduler: {overhead: 1e300 s}\n", ["serving.scheduler.overhead"]),
    "serve_overhead_negative": _serve("  scheduler: {overhead: -1 ms}\n", ["serving.scheduler.overhead"]),
    "serve_steps_zero": _serve("  scheduler: {steps: 0}\n", ["steps"]),
    "serve_kv_block_zero": _serve("  kv: {block_size: 0}\n", ["serving.kv.block_size"]),
    "serve_kv_utilization": _serve("  kv: {memory_utilization: 1.5}\n", ["serving.kv.memory_utilization"]),
    "serve_kv_preemption": _serve("  kv: {preemption: discard}\n", ["serving.kv.preemption"]),
    "serve_kv_swap_zero": _serve("  kv: {preemption: swap, swap_bandwidth: 0 GB/s}\n", ["swap_bandwidth"]),
    "serve_kv_prefix_hit": _serve("  kv: {prefix_hit_rate: 2}\n", ["prefix_hit_rate"]),
    "serve_kv_blocks_huge": _serve(f"  kv: {{blocks: {2 ** 70}}}\n", ["serving.kv.blocks"]),
    "serve_slo_text": _serve("  slo: {ttft: soon}\n", ["serving.slo.ttft"]),
    "serve_slo_percentile": _serve("  slo: {percentile: 101}\n", ["serving.slo.percentile"]),
    "serve_speculative_tokens": _serve("  speculative: {draft: llama3_8b, tokens: 0, acceptance: 0.7}\n",
                                       ["serving.speculative.tokens"]),
    "serve_speculative_acceptance": _serve("  speculative: {draft: llama3_8b, tokens: 4, acceptance: 1.5}\n",
                                           ["serving.speculative.acceptance"]),
    "serve_speculative_draft": _serve("  speculative: {draft: nosuch_model, tokens: 4, acceptance: 0.5}\n",
                                      ["nosuch_model"]),
    "serve_speculative_static": _serve("  scheduler: {policy: static}\n  speculative: {draft: llama3_8b, "
                                       "tokens: 2, acceptance: 0.5}\n", ["speculative"]),
    "serve_disagg_zero": _serve("  scheduler: {policy: disaggregated}\n  disaggregation: {prefill_instances: 0}\n",
                                ["prefill_instances"]),
    "serve_disagg_bandwidth_huge": _serve("  scheduler: {policy: disaggregated}\n  disaggregation: "
                                          "{kv_bandwidth: 1e300 TB/s}\n", ["kv_bandwidth"]),
    "serve_timing": _serve("  timing: roughly\n", ["serving.timing"]),
    "serve_trace_iterations": _serve("  trace_iterations: -1\n", ["serving.trace_iterations"]),
    "serve_unknown_key": _serve("  warmup: 3\n", ["warmup"]),
    "serve_section_list": Case(["serve", "h100", "{d}/wl.yaml", *SMALL], ["{d}/wl.yaml", "serving"],
                               {"wl.yaml": "name: w\nmodel: llama3_8b\nscenario: {phase: serve}\nserving: [1]\n"}),
    "serve_duplicate_key": _serve("  seed: 1\n  seed: 2\n", ["seed", "twice"]),
    # ---- sweep files
    "sweep_axes_number": _sweep(SWEEP + "axes: 3\n", ["axes"]),
    "sweep_axes_list": _sweep(SWEEP + "axes: [1, 2]\n", ["axes"]),
    "sweep_axis_empty": _sweep(SWEEP + "axes: {core.mxu.rows: []}\n", ["core.mxu.rows"]),
    "sweep_axis_unknown_path": _sweep(SWEEP + "axes: {core.mxu.rowz: [8, 16]}\n", ["core.mxu.rowz"]),
    "sweep_axis_bad_value": _sweep(SWEEP + "axes: {core.mxu.rows: [8, -1]}\n", ["core.mxu.rows"]),
    "sweep_mode_unknown": _sweep(SWEEP + "mode: diagonal\naxes: {core.mxu.rows: [8, 16]}\n", ["mode"]),
    "sweep_zip_unequal": _sweep(SWEEP + "mode: zip\naxes: {core.mxu.rows: [8, 16], core.mxu.cols: [8]}\n",
                                ["zip"]),
    "sweep_random_no_samples": _sweep(SWEEP + "mode: random\naxes: {core.mxu.rows: [8, 16]}\n", ["samples"]),
    "sweep_random_samples_1e7": _sweep(SWEEP + "mode: random\nsamples: 10000000\naxes: {core.mxu.rows: [8, 16]}\n",
                                       ["samples"]),
    "sweep_random_samples_zero": _sweep(SWEEP + "mode: random\nsamples: 0\naxes: {core.mxu.rows: [8, 16]}\n",
                                        ["samples"]),
    "sweep_samples_on_grid": _sweep(SWEEP + "samples: 2\naxes: {core.mxu.rows: [8, 16]}\n", ["samples"]),
    "sweep_seed_fraction": _sweep(SWEEP + "mode: random\nsamples: 1\nseed: 1.5\naxes: {core.mxu.rows: [8, 16]}\n",
                                  ["seed"]),
    "sweep_steps_zero": _sweep(SWEEP + "axes: {core.mxu.rows: {from: 8, to: 16, steps: 0}}\n", ["steps"]),
    "sweep_steps_1e9": _sweep(SWEEP + "axes: {core.mxu.rows: {from: 8, to: 16, steps: 1000000000}}\n", ["steps"]),
    "sweep_step_zero": _sweep(SWEEP + "axes: {core.mxu.rows: {from: 8, to: 16, step: 0}}\n", ["step"]),
    "sweep_step_tiny": _sweep(SWEEP + "axes: {core.mxu.rows: {from: 8, to: 1000000, step: 1.0e-9}}\n",
                              ["core.mxu.rows"]),
    "sweep_units_mixed": _sweep(SWEEP + "axes: {memory.hbm.bandwidth: {from: 1 TB/s, to: 3 GHz, steps: 3}}\n",
                                ["memory.hbm.bandwidth"]),
    "sweep_scale_unknown": _sweep(SWEEP + "axes: {core.mxu.rows: {from: 8, to: 64, steps: 3, scale: ln}}\n",
                                  ["scale"]),
    "sweep_log_from_zero": _sweep(SWEEP + "axes: {core.accumulators: {from: 0, to: 64, steps: 3, scale: log}}\n",
                                  ["core.accumulators"]),
    "sweep_range_inf": _sweep(SWEEP + "axes: {core.mxu.rows: {from: 8, to: .inf, steps: 3}}\n", ["core.mxu.rows"]),
    "sweep_grid_huge": _sweep(SWEEP + "axes:\n" + "".join(
        f"  {p}: {{from: 1, to: 100, steps: 100}}\n" for p in ("core.mxu.rows", "core.mxu.cols", "cores",
                                                               "core.vector.lanes")), ["points"]),
    "sweep_no_hardware": _sweep("workloads: [gemm_demo]\naxes: {core.mxu.rows: [8]}\n", ["hardware"]),
    "sweep_hardware_missing": _sweep("hardware: nosuch_chip\nworkloads: [gemm_demo]\naxes: {core.mxu.rows: [8]}\n",
                                     ["nosuch_chip"]),
    "sweep_workloads_empty": _sweep("hardware: h100\nworkloads: []\naxes: {core.mxu.rows: [8]}\n", ["workloads"]),
    "sweep_workload_missing": _sweep("hardware: h100\nworkloads: [nosuch_wl]\naxes: {core.mxu.rows: [8]}\n",
                                     ["nosuch_wl"]),
    "sweep_set_mapping": _sweep(SWEEP + "set: {cores: 2}\naxes: {cores: [1, 2]}\n", ["set"]),
    "sweep_set_no_equals": _sweep(SWEEP + "set: [core.mxu.rows]\naxes: {cores: [1, 2]}\n", ["set"]),
    "sweep_set_and_swept": _sweep(SWEEP + "set: [cores=2]\naxes: {cores: [1, 2]}\n", ["cores"]),
    "sweep_tied_uneven": _sweep(SWEEP + "axes: {'core.mxu.rows, core.mxu.cols': [[8, 8], [16]]}\n",
                                ["core.mxu.rows"]),
    "sweep_duplicate_axis": _sweep(SWEEP + "axes:\n  cores: [1]\n  cores: [2]\n", ["cores", "twice"]),
    "sweep_unknown_key": _sweep(SWEEP + "axis: {cores: [1]}\n", ["axis"]),
    "sweep_binary": _sweep(b"\x00\x01\x02hardware: h100\n", []),
    "sweep_laughs": _sweep(SWEEP + LAUGHS.replace("a: &a", "description: &a").replace("\nb:", "\nxb:")
                           .replace("description: &a [", "description: &a [") + "axes: {cores: [1]}\n",
                           ["aliases"]),
    # ---- model config.json (Hugging Face)
    "hf_not_json": _config("hidden_size: 64\n", ["JSON"]),
    "hf_list": _config("[1, 2]\n", ["must hold a mapping"]),
    "hf_nan": _hf(["hidden_size"], hidden_size=float("nan")),
    "hf_infinity": _hf(["intermediate_size"], intermediate_size=float("inf")),
    "hf_hidden_zero": _hf(["hidden_size"], hidden_size=0),
    "hf_hidden_text": _hf(["hidden_size"], hidden_size="4096"),
    "hf_hidden_float": _hf(["hidden_size"], hidden_size=4096.5),
    "hf_hidden_2_70": _hf(["hidden_size"], hidden_size=2 ** 70),
    "hf_heads_not_dividing": _hf(["num_attention_heads"], num_attention_heads=31),
    "hf_kv_heads_not_dividing": _hf(["num_key_value_heads"], num_key_value_heads=5),
    "hf_vocab_negative": _hf(["vocab_size"], vocab_size=-1),
    "hf_layers_huge": _hf(["num_hidden_layers"], num_hidden_layers=10 ** 12),
    "hf_model_type": _hf(["model_type"], model_type="banana"),
    "hf_missing_hidden": _hf(["hidden_size"], drop=("hidden_size",)),
    "hf_intermediate_zero": _hf(["intermediate_size"], intermediate_size=0),
    "hf_tie_text": _hf(["tie_word_embeddings"], tie_word_embeddings="yes"),
    "hf_max_positions_zero": _hf(["max_position_embeddings"], max_position_embeddings=0),
    "hf_context_past_positions": _hf(["max_position_embeddings"], max_position_embeddings=32),
    "hf_hidden_act": _hf(["hidden_act"], hidden_act="wiggle"),
    "hf_experts_negative": _hf(["num_experts"], num_local_experts=-1, num_experts_per_tok=2),
    "hf_experts_per_tok_over": _hf(["num_experts_per_tok"], num_local_experts=4, num_experts_per_tok=8),
    "hf_head_dim_zero": _hf(["head_dim"], head_dim=0),
    "hf_utf16": _config(json.dumps(LLAMA).encode("utf-16"), ["UTF-8"]),
    "hf_deep": _config('{"a": ' * 10000 + "1" + "}" * 10000, ["nest"]),
    "hf_duplicate_nested": _config('{"rope_scaling": {"factor": 8, "factor": 16}, "hidden_size": 64}',
                                   ["factor", "twice"]),
    "hf_empty": _config("", ["JSON"]),
    "hf_typo_folder_workload": Case(["run", "h100", "{d}/wl.yaml"], ["{d}/wl.yaml", "typo/llama3_8b.json"],
                                    {"wl.yaml": "name: w\nmodel: typo/llama3_8b.json\nscenario: {phase: decode}\n"}),
    # ---- request files for serve --trace-file
    "req_missing_field": _requests('{"arrival_s": 0, "prompt_tokens": 8}\n', ["output_tokens"]),
    "req_negative_arrival": _jsonl({"arrival_s": -1}, says=["arrival_s"]),
    "req_nan_arrival": _requests('{"arrival_s": NaN, "prompt_tokens": 8, "output_tokens": 2}\n', ["arrival_s"]),
    "req_inf_arrival": _requests('{"arrival_s": Infinity, "prompt_tokens": 8, "output_tokens": 2}\n',
                                 ["arrival_s"]),
    "req_huge_arrival": _jsonl({"arrival_s": 1e300}, says=["arrival_s"]),
    "req_prompt_float": _jsonl({"prompt_tokens": 8.5}, says=["prompt_tokens"]),
    "req_prompt_text": _jsonl({"prompt_tokens": "eight"}, says=["prompt_tokens"]),
    "req_prompt_zero": _jsonl({"prompt_tokens": 0}, says=["prompt_tokens"]),
    "req_output_zero": _jsonl({"output_tokens": 0}, says=["output_tokens"]),
    "req_output_1e9": _jsonl({"output_tokens": 10 ** 9}, says=["output_tokens"]),
    "req_prompt_2_70": _jsonl({"prompt_tokens": 2 ** 70}, says=["prompt_tokens"]),
    "req_prefix_over_prompt": _jsonl({"prefix": "s", "prefix_tokens": 99}, says=["prefix_tokens"]),
    "req_bad_json_line": _requests('{"arrival_s": 0, "prompt_tokens": 8, "output_tokens": 2}\n{"arrival_s": 1,\n',
                                   [":2:"]),
    "req_line_is_list": _requests("[0, 8, 2]\n", [":1:"]),
    "req_empty": _requests("", []),
    "req_binary": _requests(bytes(range(256)) * 4, []),
    "req_nul": _requests(b'{"arrival_s": 0, "prompt_tokens": 8, "output_tokens": 2}\x00\n', []),
    "req_duplicate_key": _requests('{"arrival_s": 0, "prompt_tokens": 8, "prompt_tokens": 9, "output_tokens": 2}\n',
                                   ["prompt_tokens"]),
    "req_csv_missing_column": _requests("arrival_s,prompt_tokens\n0,8\n", ["output_tokens"], "csv"),
    "req_csv_negative": _requests("arrival_s,prompt_tokens,output_tokens\n0,-8,2\n", ["prompt_tokens"], "csv"),
    "req_csv_text": _requests("arrival_s,prompt_tokens,output_tokens\nsoon,8,2\n", ["arrival_s"], "csv"),
    "req_csv_short_row": _requests("arrival_s,prompt_tokens,output_tokens\n0,8\n", [":2:", "output_tokens"], "csv"),
    "req_csv_binary": _requests(b"\xff\xfe\x00\x01" * 50, [], "csv"),
    "req_unknown_suffix": _requests("0 8 2\n", [], "txt"),
    "req_too_long_for_model": _jsonl({"prompt_tokens": 100000}, says=["prompt"]),
    # ---- flags of every command (part 6)
    "run_set_no_equals": _flag(["run", "h100", "gemm_demo", "--set", "cores"], ["--set: cores:"]),
    "run_set_empty_path": _flag(["run", "h100", "gemm_demo", "--set", "=4"], ["--set =4"]),
    "run_set_unknown_root": _flag(["run", "h100", "gemm_demo", "--set", "zork.x=1"], ["--set zork.x=1"]),
    "run_set_index_past_end": _flag(["run", "h100", "gemm_demo", "--set", "ops.99.m=4"], ["--set ops.99.m=4"]),
    "run_set_deep_value": _flag(["run", "h100", "gemm_demo", "--set", "cores=" + "[" * 5000 + "]" * 5000],
                                ["--set cores="]),
    "run_set_laughs": _flag(["run", "h100", "gemm_demo", "--set", "sources={" + LAUGHS.strip().replace("\n", ", ")
                            + "}"], ["--set sources=", "aliases"]),
    "run_set_duplicate_key": _flag(["run", "h100", "gemm_demo", "--set", "core.mxu={rows: 8, rows: 16}"],
                                   ["--set core.mxu=", "twice"]),
    "run_batch_text": _flag(["run", "h100", "--model", "llama3_8b", "--batch", "many"], ["--batch"]),
    "run_batch_huge": _flag(["run", "h100", "--model", "llama3_8b", "--batch", str(2 ** 70)], ["batch"]),
    "run_model_and_workload": _flag(["run", "h100", "gemm_demo", "--model", "llama3_8b"], ["--model"]),
    "run_batch_without_model": _flag(["run", "h100", "gemm_demo", "--batch", "4"], ["--batch"]),
    "run_hardware_missing": _flag(["run", "nosuch_chip", "gemm_demo"], ["nosuch_chip"]),
    "run_hardware_folder": _flag(["run", "{d}", "gemm_demo"], ["{d}"]),
    "run_format_without_out": _flag(["run", "h100", "gemm_demo", "--format", "parquet", "--trace", ""], ["--trace"]),
    "serve_rate_text": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--rate", "fast"], ["--rate"]),
    "serve_rate_inf": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--rate", "inf"], ["--rate"]),
    "serve_rate_nan": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--rate", "nan"], ["--rate"]),
    "serve_requests_zero_flag": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--requests", "0"],
                                      ["--requests"]),
    "serve_requests_huge_flag": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--requests", "100000000"],
                                      ["--requests"]),
    "serve_arrival_flag": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--arrival", "weibull:3"],
                                ["--arrival"]),
    "serve_prompt_uniform_one": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--prompt", "uniform:5"],
                                      ["--prompt"]),
    "serve_output_fixed_zero": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--output", "fixed:0"],
                                     ["--output"]),
    "serve_output_huge": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--output", "1000000000"],
                               ["--output"]),
    "serve_seed_negative": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--seed", "-1"], ["--seed"]),
    "serve_slo_flag": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--slo", "ttft_p99=soon"], ["--slo"]),
    "serve_policy_flag": _flag(["serve", "h100", "llama3_8b_serve", "--policy", "lottery"], ["--policy"]),
    "serve_trace_file_folder": _flag(["serve", "h100", "llama3_8b_serve", *SMALL, "--trace-file", "{d}"],
                                     ["{d}"]),
    "serve_out_is_a_file": Case(["serve", "h100", "llama3_8b_serve", *SMALL, "--requests", "2", "--out",
                                 "{d}/f"], ["--out {d}/f"], {"f": "x\n"}),
    "serve_model_and_workload": _flag(["serve", "h100", "llama3_8b_serve", "--model", "llama3_8b"], ["--model"]),
    "serve_unknown_flag": _flag(["serve", "h100", "llama3_8b_serve", "--qps", "3"], ["--qps"]),
    "sweep_file_missing": _flag(["sweep", "{d}/nope.yaml", "--out", "{d}/o"], ["{d}/nope.yaml"]),
    "sweep_workers_text": _flag(["sweep", "{d}/nope.yaml", "--out", "{d}/o", "--workers", "all"], ["--workers"]),
    "sweep_workers_negative": _flag(["sweep", "{d}/nope.yaml", "--out", "{d}/o", "--workers", "-3"], ["--workers"]),
    "sweep_unknown_flag": _flag(["sweep", "{d}/nope.yaml", "--out", "{d}/o", "--fast"], ["--fast"]),
    "compare_one_design": _flag(["compare", "h100", "--workload", "gemm_demo", "--baseline", "tpu_v4"],
                                ["--baseline"]),
    "compare_bad_hardware": _flag(["compare", "h100", "nosuch_chip", "--workload", "gemm_demo"], ["nosuch_chip"]),
    "compare_batch_text": _flag(["compare", "h100", "--model", "llama3_8b", "--batch", "x"], ["--batch"]),
    "compare_set_bad": _flag(["compare", "h100", "--workload", "gemm_demo", "--set", "cores=0"], ["--set cores=0"]),
    "plot_missing_folder": _flag(["plot", "{d}/nope"], ["{d}/nope"]),
    "plot_a_file": Case(["plot", "{d}/f"], ["{d}/f"], {"f": "x\n"}),
    "plot_empty_folder": _flag(["plot", "{d}"], ["{d}"]),
    "report_missing_folder": _flag(["report", "{d}/nope", "--out", "{d}/r.pdf"], ["{d}/nope"]),
    "report_out_suffix": Case(["report", "{d}", "--out", "{d}/r.docx"], ["--out"], {}),
    "validate_extra_workload": _flag(["validate", "h100", "gemm_demo", "extra"], ["extra"]),
    "validate_set_bad": _flag(["validate", "h100", "--set", "core.mxu.rows=0"], ["--set core.mxu.rows=0"]),
    "presets_extra": _flag(["presets", "h100"], ["h100"]),
    "presets_unknown_flag": _flag(["presets", "--all"], ["--all"]),
}

XFAIL: dict[str, str] = {  # bugs outside the files this corpus's author could change; each one named
}


# Each of these is a process of its own: a hang in C code (a parser, a regular expression) ignores the alarm of
# tests/cli/in_process.py, and a stack overflow or an exhausted memory would end the test process with it.
SUBPROCESS = {
    "hw_utf16", "ops_binary", "req_binary",  # bytes that are not UTF-8 text
    "hw_deep_flow_maps", "hf_deep", "run_set_deep_value",  # nesting 3000 (YAML), 10000 (JSON), 5000 (a flag) deep
    "hw_laughs_in_sources", "sweep_laughs", "hw_alias_recursive",  # alias bombs and an alias holding itself
    "sys_huge_run", "serve_requests_1e7", "sweep_grid_huge", "ops_macs_past_limit",  # sizes that must not be built
}


def _write(folder: Path, case: Case) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        data = content if isinstance(content, bytes) else content.replace("{d}", str(folder)).encode()
        (folder / name).write_bytes(data)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """name → (exit status, stdout, stderr, folder) of the cases of SUBPROCESS, each its own process, AT_ONCE at a
    time."""
    base = tmp_path_factory.mktemp("corpus")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    results, running, queue = {}, {}, [name for name in CASES if name in SUBPROCESS]
    while queue or running:
        while queue and len(running) < AT_ONCE:
            name = queue.pop(0)
            folder = base / name
            _write(folder, CASES[name])
            argv = [a.replace("{d}", str(folder)) for a in CASES[name].argv]
            running[name] = (folder, subprocess.Popen(
                [sys.executable, "-m", "simulator.cli", *argv], cwd=folder, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace"))
        name = next(iter(running))
        folder, process = running.pop(name)
        try:
            out, err = process.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            err = f"(hung: killed after {HANG} s)\n{err}"
        results[name] = (process.returncode, out, err, folder)
    return results


def test_the_corpus_covers_every_file_kind_and_the_command_line():
    kinds = {name.split("_")[0] for name in CASES}
    assert len(CASES) >= 150 and {"hw", "sys", "ops", "model", "scenario", "train", "serve", "sweep", "hf",
                                  "req", "run", "compare", "plot", "report", "validate", "presets"} <= kinds
    assert SUBPROCESS <= CASES.keys(), SUBPROCESS - CASES.keys()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=XFAIL[n]))
                                  if n in XFAIL else n for n in CASES])
def test_malformed_input_is_one_line_naming_the_file_or_flag(name, request, tmp_path, monkeypatch, capfd):
    if name in SUBPROCESS:
        code, out, err, folder = request.getfixturevalue("corpus")[name]
    else:
        folder = tmp_path / name
        _write(folder, CASES[name])
        monkeypatch.chdir(folder)
        code, out, err = run_in_process([a.replace("{d}", str(folder)) for a in CASES[name].argv], capfd)
    assert code == 2, (code, out[-2000:], err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    assert len(err.splitlines()) <= 3 and err.startswith("tortoise: error: "), err[-3000:]
    for piece in CASES[name].says:
        assert piece.replace("{d}", str(folder)) in err, err
