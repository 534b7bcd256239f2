"""Hardware roles as kinds (simulator/config/schema.py) and the System layout (simulator/config/loader.py).

Each kind validates; every bad value is one ConfigError line naming the file (or `--set`), the field, the value
and what is allowed (an unknown kind lists the kinds, an unknown model the models). A preset in today's chip
layout and its twin in the System layout (configs/examples/) give the same Chip and the same results.
"""

from pathlib import Path

import pytest

from simulator.api import run_files
from simulator.config.loader import load_chip, load_system
from simulator.config.presets import preset_names
from simulator.config.schema import (
    COMPUTE_KINDS,
    MEMORY_KINDS,
    MEMORY_MODELS,
    TOPOLOGIES,
    ChipConfig,
    SystemConfig,
)
from simulator.engine.units import MEMORY_MODELS as ENGINE_MEMORY_MODELS
from simulator.errors import MISSING, ConfigError
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "configs" / "examples"
TWINS = {"dgx_h100": EXAMPLES / "dgx_h100_system.yaml", "tpu_v4_2x2x2": EXAMPLES / "tpu_v4_2x2x2_system.yaml"}
H100 = str(TWINS["dgx_h100"])


def one_line(spec, overrides=(), *, field, value, allowed, source=None) -> ConfigError:
    """Load, expect one ConfigError line `SOURCE: FIELD = VALUE: ALLOWED` with each piece of `allowed`."""
    with pytest.raises(ConfigError) as info:
        load_chip(spec, list(overrides))
    err, line = info.value, str(info.value)
    assert "\n" not in line
    assert err.source == (source or (f"--set {overrides[-1]}" if overrides else str(spec))), line
    assert err.field == field, line
    if value is MISSING:
        assert err.value is MISSING and "(missing)" in line
    else:
        assert err.value == value and repr(value) in line, line
    assert line.startswith(f"{err.source}: {field} = "), line
    for piece in [allowed] if isinstance(allowed, str) else allowed:
        assert piece in line, line
    return err


# ----------------------------------------------------------------------------------------- the registries


def test_memory_models_named_in_config_are_the_engines():
    assert set(MEMORY_MODELS) == set(ENGINE_MEMORY_MODELS)


@pytest.mark.parametrize("kinds", [COMPUTE_KINDS, MEMORY_KINDS], ids=["compute", "memory"])
def test_each_registered_kind_is_the_class_of_that_kind(kinds):
    for name, cls in kinds.items():
        assert cls.model_fields["kind"].default == name


# ---------------------------------------------------------------------------------- kinds that validate


def test_the_system_layout_example_is_a_system_of_kinds():
    system = load_system(H100)
    assert isinstance(system, SystemConfig) and system.name == "dgx_h100" and system.chips == 8
    chip = system.chip
    assert chip.name == "h100" and chip.system.chips == 8 and chip.system.chip is None
    assert [unit.kind for unit in chip.core.compute] == ["systolic", "vector"]
    assert chip.core.sram.kind == "scratchpad"
    assert [(level.kind, level.name, level.model) for level in chip.memory] == [("cache", "l2", "rate"),
                                                                                 ("dram", "hbm", "rate")]
    assert load_chip(H100) == system.chip_config()  # the chip as runs see it: the System's name
    assert load_chip(H100).name == "dgx_h100"


def with_simd(tmp_path, unit: str) -> Path:
    """The System-layout example with one more compute unit after its vector unit (--set cannot append)."""
    text = TWINS["dgx_h100"].read_text()
    anchor = "        special: 16            # transcendentals per cycle per SM (SFUs)\n"
    assert text.count(anchor) == 1
    path = tmp_path / "with_simd.yaml"
    path.write_text(text.replace(anchor, anchor + f"      - {unit}\n"))
    return path


def test_a_simd_unit_validates_and_reports_its_peak(tmp_path):
    # 2 AVX-512 FMA pipes: 16 fp32 lanes × 2 ops (an FMA) each, 32 bf16 lanes
    chip = Chip(load_chip(with_simd(tmp_path, "{kind: simd, count: 2, width: 512, ops_per_lane: {fp32: 2, bf16: 2}}")))
    (simd,) = chip.simd
    assert (simd.kind, simd.lanes("fp32"), simd.lanes("bf16")) == ("simd", 16, 32)
    assert chip.peak_simd_ops_per_cycle("fp32") == 132 * 2 * 16 * 2
    assert chip.peak_simd_ops_per_cycle("bf16") == 132 * 2 * 32 * 2
    with pytest.raises(ConfigError, match="no simd unit has a rate for that dtype; they support bf16, fp32"):
        chip.peak_simd_ops_per_cycle("int8")
    with pytest.raises(ConfigError, match="this core has no simd unit"):
        Chip(load_chip(H100)).peak_simd_ops_per_cycle("fp32")


def test_a_memory_list_of_one_dram_level_has_no_cache():
    chip = Chip(load_chip(H100, ["chip.memory=[{kind: dram, size: 80 GB, bandwidth: 3.35 TB/s}]"]))
    assert chip.l2 is None and chip.hbm.name == "hbm" and chip.config.memory.l2 is None
    assert [level.kind for level in chip.memory_levels] == ["scratchpad", "dram"]


def test_levels_keep_their_file_names_and_the_timing_names_stay_fixed():
    chip = Chip(load_chip(H100, ["chip.memory.1.name=hbm3"]))
    assert [level.name for level in chip.memory_levels] == ["sram", "l2", "hbm3"]
    assert chip.hbm.name == "hbm" and chip.hbm.size == chip.memory_levels[-1].size


# ------------------------------------------------------------------------------ bad input, one line each

BAD = {
    # name: (overrides on the System-layout example, field, value, pieces of what is allowed)
    "unknown compute kind": (["chip.core.compute.0.kind=tensor"], "chip.core.compute.0.kind", "tensor",
                             "must be one of 'systolic', 'vector' or 'simd'"),
    "compute unit without kind": (["chip.core.compute.1={lanes: 4}"], "chip.core.compute.1.kind", MISSING,
                                  "must be one of 'systolic', 'vector' or 'simd'"),
    "compute unit not a mapping": (["chip.core.compute.0=5"], "chip.core.compute.0", 5, "must be a group of fields"),
    "compute not a list": (["chip.core.compute=5"], "chip.core.compute", 5, ["must be a list", "kind: systolic"]),
    "unknown field of a vector unit": (["chip.core.compute.1.lanez=4"], "chip.core.compute.1.lanez", 4,
                                       "unknown field; allowed here: lanes, ops_per_lane, special, kind"),
    "systolic rows 0": (["chip.core.compute.0.rows=0"], "chip.core.compute.0.rows", 0, "must be ≥ 1"),
    "systolic bad dataflow": (["chip.core.compute.0.dataflow=rs"], "chip.core.compute.0.dataflow", "rs",
                              "must be one of 'os', 'ws' or 'is'"),
    "vector rate 0": (["chip.core.compute.1.ops_per_lane={fp32: 0}"], "chip.core.compute.1.ops_per_lane",
                      {"fp32": 0}, "must be a number > 0 for fp32"),
    "no vector unit": (["chip.core.compute=[{kind: systolic, rows: 4, cols: 4}]"], "chip.core.compute",
                       [{"kind": "systolic", "rows": 4, "cols": 4}], "needs one unit of kind vector"),
    "two systolic units": (["chip.core.compute.1={kind: systolic, rows: 8, cols: 8}"],
                           "chip.core.compute.1.kind", "systolic", "a second systolic unit"),
    "simd width not whole lanes": (["chip.core.compute.1={kind: simd, width: 100}"], "chip.core.compute.1.width",
                                   100, "must be a multiple of 32 bits, the size of fp32"),
    "simd without width": (["chip.core.compute.1={kind: simd}"], "chip.core.compute.1.width", MISSING,
                           "required field is missing"),
    "simd bad dtype": (["chip.core.compute.1={kind: simd, width: 512, ops_per_lane: {fp31: 1}}"],
                       "chip.core.compute.1.ops_per_lane.fp31", "fp31", ["unknown key", "'fp32'"]),
    "unknown memory kind": (["chip.memory.1.kind=sram"], "chip.memory.1.kind", "sram",
                            "must be one of 'scratchpad', 'cache' or 'dram'"),
    "unknown memory model": (["chip.memory.1.model=bnk"], "chip.memory.1.model", "bnk",
                             "must be one of 'rate' or 'banked'"),
    "unknown field of a level": (["chip.memory.0.sizee=1"], "chip.memory.0.sizee", 1,
                                 "allowed here: size, bandwidth, latency, efficiency, model, name, kind"),
    "dram not last": (["chip.memory.0.kind=dram"], "chip.memory.0.kind", "dram", "one dram level, the last"),
    "last level not dram": (["chip.memory.1={kind: cache, size: 9 GB, bandwidth: 1 TB/s}"], "chip.memory.1.kind",
                            "cache", "the last (farthest) level must be of kind dram"),
    "two caches": (["chip.memory=[{kind: cache, size: 1 MB, bandwidth: 9 TB/s}, {kind: cache, size: 1 GB, "
                    "bandwidth: 5 TB/s}, {kind: dram, size: 9 GB, bandwidth: 1 TB/s}]"], "chip.memory.1.kind",
                   "cache", "one cache level today"),
    "shared scratchpad": (["chip.memory.0.kind=scratchpad"], "chip.memory.0.kind", "scratchpad",
                          ["not modelled yet", "core.sram"]),
    "no levels": (["chip.memory=[]"], "chip.memory", [], "needs a dram level"),
    "memory as a mapping": (["chip.memory={hbm: {size: 1 GB}}"], "chip.memory", {"hbm": {"size": "1 GB"}},
                            ["must be a list", "nearest first", "chip layout"]),
    "level size 0": (["chip.memory.1.size=0"], "chip.memory.1.size", 0, "must be a size > 0 (e.g. 80 GB, 32 GiB)"),
    "level bandwidth 0": (["chip.memory.0.bandwidth=0 TB/s"], "chip.memory.0.bandwidth", "0 TB/s",
                          "must be a bandwidth > 0"),
    "level efficiency > 1": (["chip.memory.1.efficiency=1.5"], "chip.memory.1.efficiency", 1.5, "> 0 and ≤ 1"),
    "scratchpad of another kind": (["chip.core.sram.kind=cache"], "chip.core.sram.kind", "cache",
                                   "must be one of 'scratchpad'"),
    "scratchpad size 0": (["chip.core.sram.size=0"], "chip.core.sram.size", 0, "must be a size > 0 (e.g. 228 KiB)"),
    "unknown topology": (["topology=mesh"], "topology", "mesh", ["'ring'", "'torus3d'", "'explicit'"]),
    "dims on a switch": (["dims=[2, 4]"], "dims", [2, 4], "applies to torus2d, torus3d and dragonfly only"),
    "chips without link": (["link=null"], "link", None, "required when chips > 1"),
    "a chip's own system": (["chip.system={chips: 2, link: {bandwidth: 1 GB/s}}"], "chip.system",
                            {"chips": 2, "link": {"bandwidth": "1 GB/s"}},
                            "chips, topology and link sit at the top level"),
    "system: in a System file": (["system.chips=2"], "system", {"chips": 2}, "at its top level, not under system:"),
    "a chip field at the top": (["core.mxu.rows=2"], "core", {"mxu": {"rows": 2}}, "it is chip.core"),
    "no chip": (["chip=null"], "chip", None, "a System needs its chip"),
    "unknown chip field": (["chip.clok=1"], "chip.clok", 1, "unknown field; allowed here: name, description"),
    "unknown System field": (["clok=1"], "clok", 1, ["unknown field", "chips, topology, dims", "chip"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_kind_is_one_line_naming_field_value_and_what_is_allowed(case):
    overrides, field, value, allowed = BAD[case]
    one_line(H100, overrides, field=field, value=value, allowed=allowed)


def test_a_bad_kind_in_a_file_names_the_file(tmp_path):
    one_line(with_simd(tmp_path, "{kind: simd, width: 48}"), field="chip.core.compute.2.width", value=48,
             allowed="must be a multiple of 32 bits")
    text = TWINS["dgx_h100"].read_text().replace("- kind: vector", "- kind: vectorr")
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    one_line(path, field="chip.core.compute.1.kind", value="vectorr", allowed="'systolic', 'vector' or 'simd'")
    path.write_text(TWINS["dgx_h100"].read_text().replace("model: rate", "model: ramulator"))
    one_line(path, field="chip.memory.1.model", value="ramulator", allowed="must be one of 'rate'")


def test_chip_layout_paths_reach_the_kinds_too():
    # the chip layout's levels are the same kinds: their model is a path of its own there
    one_line("h100", ["memory.hbm.model=bnk"], field="memory.hbm.model", value="bnk",
             allowed="must be one of 'rate' or 'banked'")
    one_line("h100", ["core.mxu.kind=vector"], field="core.mxu.kind", value="vector",
             allowed="must be one of 'systolic'")
    assert Chip(load_chip("h100", ["memory.hbm.model=rate"])).memory_model == "rate"


def test_a_system_field_in_a_chip_layout_file_says_where_it_goes():
    one_line("h100", ["chips=8"], field="chips", value=8, allowed="in the chip layout (this file) it is system.chips")
    one_line("h100", ["chip.clock=1 GHz"], field="chip", value={"clock": "1 GHz"},
             allowed="this file is in the chip layout")


def test_layouts_do_not_mix_along_a_preset_chain(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text("preset: h100\nname: mixed\nchip:\n  name: x\n")
    one_line(path, field="preset", value="h100", allowed=["is written in the chip layout", "of its own layout"])


# ---------------------------------------------------------------- the twins: same Chip, same results


def chip_figures(chip: Chip) -> dict:
    figures = {name: getattr(chip, name) for name in (
        "name", "clock_hz", "cores", "mxu", "vector", "sram", "accumulators", "dma_bytes_per_cycle", "dma_latency",
        "op_overhead_cycles", "energy", "hbm", "l2", "memory_levels", "memory_model", "simd")}
    figures["peaks"] = [(chip.peak_flops_per_s(d), chip.peak_vector_ops_per_cycle(d)) for d in ("bf16", "fp32")
                        if d in chip.mxu.macs_per_pe and d in chip.vector.ops_per_lane]
    topology = build_topology(chip.config.system, chip.clock_hz)
    figures["links"] = (topology.kind, topology.dims, topology.links, topology.hop_latency)
    return figures


@pytest.mark.parametrize("preset", TWINS)
def test_a_chip_layout_preset_and_its_system_layout_twin_are_the_same_chip(preset):
    old, new = load_chip(preset), load_chip(TWINS[preset])
    assert chip_figures(Chip(old)) == chip_figures(Chip(new))
    words = {"description": "", "sources": []}  # the twin says where its numbers come from in its own words
    assert old.model_copy(update=words) == new.model_copy(update=words)
    assert repr(old.model_copy(update=words)) == repr(new.model_copy(update=words))  # caches key on the repr


@pytest.mark.parametrize(("preset", "workload", "sets"), [
    ("dgx_h100", "gemm_demo", ()),
    ("dgx_h100", "llama3_8b_decode", ("parallel.tp=8",)),
    ("tpu_v4_2x2x2", "llama3_8b_prefill", ("scenario.batch=2", "parallel.tp=2", "parallel.pp=2",
                                                       "parallel.microbatches=2")),
])
def test_twins_give_identical_run_results(preset, workload, sets):
    path = str(ROOT / "workloads" / f"{workload}.yaml")
    old = run_files(preset, path, workload_overrides=list(sets))
    new = run_files(str(TWINS[preset]), path, workload_overrides=list(sets))
    assert old.summary == new.summary
    assert old.table.equals(new.table)


def test_the_same_overrides_on_both_layouts_give_the_same_chip():
    old = load_chip("dgx_h100", ["core.mxu.rows=64", "memory.hbm.bandwidth=2 TB/s", "system.chips=4",
                                 "core.sram.size=100 KiB", "memory.l2=null"])
    new = load_chip(H100, ["chip.core.compute.0.rows=64", "chip.memory.1.bandwidth=2 TB/s", "chips=4",
                           "chip.core.sram.size=100 KiB", "chip.memory=[{kind: dram, size: 80 GB, "
                           "bandwidth: 2 TB/s, latency: 500 ns, efficiency: 0.937, dram: {type: hbm3, devices: 5}}]"])
    words = {"description": "", "sources": []}
    assert old.model_copy(update=words) == new.model_copy(update=words)
    assert (old.core.mxu.rows, old.system.chips, old.memory.l2) == (64, 4, None)


# -------------------------------------------------------------------------------- every file still loads


@pytest.mark.parametrize("name", preset_names())
def test_every_bundled_preset_loads_as_a_system_of_kinds(name):
    system = load_system(name)
    chip = Chip(system.chip_config())
    assert isinstance(chip.config, ChipConfig) and system.chip.system == chip.config.system
    assert chip.mxu.kind == "systolic" and chip.vector.kind == "vector" and chip.sram.kind == "scratchpad"
    assert [level.kind for level in chip.memory_levels][0] == "scratchpad"
    # the farthest level is a DRAM, or the SRAM of an SRAM-only chip (groq_lpu)
    assert chip.memory_levels[-1].kind in ("dram", "scratchpad") and chip.memory_model in ENGINE_MEMORY_MODELS
    assert chip.config.system.topology in TOPOLOGIES and chip.config.system.chip is None


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_file_loads(path):
    assert Chip(load_chip(path)).peak_flops_per_s("bf16") > 0


def test_a_system_built_in_python_takes_a_loaded_chip():
    chip = load_chip("h100")
    system = SystemConfig(chip=chip, chips=2, topology="ring", link={"bandwidth": "100 GB/s"})
    assert system.chip.system == system.network() and system.chip.system.chips == 2
    assert system.chip_config() is system.chip  # no name of its own: the chip's
    assert SystemConfig(chip=system.chip, chips=2, topology="ring", link={"bandwidth": "100 GB/s"}).chip == system.chip
