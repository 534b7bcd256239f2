"""The `system:` section (SystemConfig, LinkConfig) and the multi-chip presets built on it.

Every preset's figures are the ones its YAML comments cite (../shared/reference/hardware.md). Every bad
system input is one ConfigError line that names the field, through `load_chip(spec, ["system.x=..."])`.
"""

import math
from pathlib import Path

import pytest

from simulator.config.loader import load_chip
from simulator.config.schema import TOPOLOGIES, SystemConfig
from simulator.config.units import Latency
from simulator.errors import ConfigError
from simulator.hardware.chip import Chip

ROOT = Path(__file__).resolve().parents[2]

# preset: (base chip, chips, topology, dims, wraparound, links per connection, GB/s per link per direction)
SYSTEMS = {
    "dgx_h100": ("h100", 8, "switch", None, None, 18, 25),
    "dgx_a100": ("a100", 8, "switch", None, None, 12, 25),
    "tpu_v4_2x2x1": ("tpu_v4", 4, "torus3d", [2, 2, 1], False, 1, 45),
    "tpu_v4_2x2x2": ("tpu_v4", 8, "torus3d", [2, 2, 2], False, 1, 45),
    "tpu_v4_4x4x4": ("tpu_v4", 64, "torus3d", [4, 4, 4], True, 1, 45),
    "tpu_v5e_8": ("tpu_v5e", 8, "torus2d", [2, 4], False, 1, 45),
    "h100_superpod_1024": ("h100", 1024, "switch", None, None, 18, 25),
    "a100_selene_1024": ("a100", 1024, "switch", None, None, 12, 25),
    "tpu_v4_4096": ("tpu_v4", 4096, "torus3d", [16, 16, 16], True, 1, 45),
    "tpu_v5p_64": ("tpu_v5p", 64, "torus3d", [4, 4, 4], True, 1, 90),
    "tpu_v5p_1024": ("tpu_v5p", 1024, "torus3d", [8, 8, 16], True, 1, 90),
}
SINGLE_CHIPS = ("a100", "h100", "systolic_32x32", "tpu_v4", "tpu_v5e", "tpu_v5p")
# cluster presets: (node preset, chips per node, scale-out kind, NICs per node, Gb/s per NIC, nodes per leaf)
CLUSTERS = {"h100_superpod_1024": ("dgx_h100", 8, "rail_optimized", 8, 400, 32),
            "a100_selene_1024": ("dgx_a100", 8, "rail_optimized", 8, 200, 20)}


def per_direction_bytes_per_s(chip) -> float:
    """One connection's bandwidth per direction (all its parallel links), from bytes per cycle at the clock."""
    link = chip.system.link
    return link.bandwidth.bytes_per_cycle(chip.clock) * link.count * chip.clock


# ------------------------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", [*SYSTEMS, "tpu_v5e"])
def test_new_preset_loads_by_name_and_path_with_its_own_name(name, monkeypatch):
    chip = load_chip(name)
    assert chip.name == name
    monkeypatch.chdir(ROOT)
    assert load_chip(f"configs/{name}.yaml") == chip
    assert all(isinstance(s, str) and s for s in chip.sources)


@pytest.mark.parametrize("name", SYSTEMS)
def test_system_shape(name):
    _, chips, topology, dims, wraparound, count, _ = SYSTEMS[name]
    system = load_chip(name).system
    assert (system.chips, system.topology, system.dims) == (chips, topology, dims)
    assert system.links is None
    assert system.link is not None and system.link.count == count
    if dims is not None:
        assert math.prod(system.dims) == system.chips
        assert system.wraparound is wraparound
    assert (system.scale_out is not None) == (name in CLUSTERS)


@pytest.mark.parametrize("name", CLUSTERS)
def test_cluster_presets_are_their_node_on_the_cited_network(name):
    """The node is the DGX preset unchanged (its link, latency, efficiency); 8 NICs per node, one per GPU,
    at NDR 400 Gb/s (H100 SuperPOD) or HDR 200 Gb/s (A100 Selene), rail-optimized, non-blocking."""
    node, per_node, kind, nics, gbit, per_leaf = CLUSTERS[name]
    system, base = load_chip(name).system, load_chip(node).system
    assert system.link == base.link and system.topology == base.topology
    out = system.scale_out
    assert (out.chips_per_node, out.topology, out.nics, out.nodes_per_leaf) == (per_node, kind, nics, per_leaf)
    assert out.nic.bandwidth.value == pytest.approx(gbit * 1e9 / 8)  # NICs are rated in bits per second
    assert out.oversubscription == 1 and out.nic.efficiency == 1.0
    assert out.nic.latency == Latency(14e-6, False)  # NCCL's inter-node ring step, Simple protocol
    assert system.collectives == "auto" and system.chips == 128 * per_node


def test_tpu_v5p_peaks_and_memory():
    chip = Chip(load_chip("tpu_v5p"))
    assert chip.peak_flops_per_s("bf16") == pytest.approx(459e12, rel=0.001)  # Cloud TPU docs
    assert chip.peak_flops_per_s("int8") == pytest.approx(918e12, rel=0.001)
    assert chip.peak_flops_per_s("fp8") == pytest.approx(459e12, rel=0.001)
    assert chip.hbm.bytes_per_cycle * chip.clock_hz == pytest.approx(2765e9)
    assert chip.config.memory.hbm.size == 95 * 2**30 and chip.config.memory.l2 is None
    for name, chips in (("tpu_v5p_64", 64), ("tpu_v5p_1024", 1024)):
        system = load_chip(name).system
        # 6 neighbours × 90 GB/s each way = 1.08 TB/s bidirectional per chip, the docs' 1.2 TB/s class
        assert 6 * 2 * per_direction_bytes_per_s(load_chip(name)) == pytest.approx(1.08e12)
        assert system.chips == chips and system.wraparound


def test_tpu_wraparound_only_on_the_full_cube():
    # scaling-book: 2x2x1 and 2x2x2 have no wraparounds; a full 4x4x4 cube has them on every axis;
    # a v5e slice wraps only along axes of 16.
    assert [load_chip(n).system.wraparound for n in ("tpu_v4_2x2x1", "tpu_v4_2x2x2", "tpu_v4_4x4x4")] == \
        [False, False, True]
    assert load_chip("tpu_v5e_8").system.wraparound is False


@pytest.mark.parametrize(("name", "gb_per_s"), [("dgx_h100", 450), ("dgx_a100", 300),
                                                ("tpu_v4_2x2x2", 45), ("tpu_v5e_8", 45)])
def test_per_chip_link_bandwidth_is_the_cited_figure(name, gb_per_s):
    # NVLink4: 18 × 25 = 450 GB/s per GPU per direction; NVLink3: 12 × 25 = 300; ICI: 45 GB/s per link.
    chip = load_chip(name)
    assert per_direction_bytes_per_s(chip) == pytest.approx(gb_per_s * 1e9, rel=1e-12)
    assert chip.system.link.bandwidth.value == pytest.approx(SYSTEMS[name][6] * 1e9)


def test_full_v4_torus_has_six_links_per_chip():
    chip = load_chip("tpu_v4_4x4x4")
    links_per_chip = 2 * len(chip.system.dims) * chip.system.link.count  # ± neighbour on each axis
    assert links_per_chip == 6
    assert links_per_chip * per_direction_bytes_per_s(chip) == pytest.approx(270e9)  # "270 GB/s interconnect"


def test_link_latency_and_efficiency_are_the_documented_choices():
    h100, a100 = load_chip("dgx_h100").system.link, load_chip("dgx_a100").system.link
    assert not h100.latency.in_cycles and not a100.latency.in_cycles
    assert h100.latency.value == pytest.approx(1.14e-6)  # solved from the 17.9 us 8-GPU all-reduce (--calibrate)
    assert a100.latency.value == pytest.approx(1.25e-6)  # 17.2 us (A100 fit, 8 GPUs) / 14
    assert h100.efficiency == a100.efficiency == 0.88  # nvbandwidth 396.4 / 450 GB/s, NVLink4 measured
    # NVLink SHARP (in-switch reduction) exists from NVLink4 on: the A100 system may not use it.
    assert (load_chip("dgx_h100").system.collectives, load_chip("dgx_a100").system.collectives) == ("auto", "ring")
    for name in ("tpu_v4_2x2x1", "tpu_v4_2x2x2", "tpu_v4_4x4x4", "tpu_v5e_8"):
        link = load_chip(name).system.link
        assert link.latency == Latency(1e-6, False)  # scaling-book's ~1 us per ICI hop
        assert link.efficiency == 1.0
    # Not LLMCompass's 8.92 us NVLink3 figure, which would put an 8-GPU ring all-reduce (14 hops) at 125 us.
    assert 14 * a100.latency.value < 20e-6 < 14 * 8.92e-6


@pytest.mark.parametrize("name", SYSTEMS)
def test_system_preset_keeps_its_chip_unchanged(name):
    base = SYSTEMS[name][0]
    ignore = {"name", "description", "sources", "system"}
    assert load_chip(name).model_dump(exclude=ignore) == load_chip(base).model_dump(exclude=ignore)


@pytest.mark.parametrize("name", SINGLE_CHIPS)
def test_single_chip_presets_have_the_default_system(name):
    assert load_chip(name).system == SystemConfig()
    assert SystemConfig().chips == 1 and SystemConfig().link is None


def test_tpu_v5e_peaks_and_memory():
    chip = Chip(load_chip("tpu_v5e"))
    assert chip.peak_flops_per_s("bf16") == pytest.approx(197e12, rel=0.01)  # Cloud TPU docs
    assert chip.peak_flops_per_s("int8") == pytest.approx(394e12, rel=0.01)  # scaling-book 3.94e14 (docs: 393)
    assert chip.hbm.bytes_per_cycle * chip.clock_hz == pytest.approx(819e9)
    config = chip.config
    assert config.cores == 1
    assert (config.core.mxu.count, config.core.mxu.rows, config.core.mxu.cols) == (4, 128, 128)
    assert config.core.sram.size == 128 * 2**20  # 128 MiB VMEM
    assert config.memory.hbm.size == 16_000_000_000
    assert config.memory.l2 is None


def test_other_topologies_load():
    link = ["system.link={bandwidth: 25 GB/s, latency: 1 us}"]
    for topology in ("ring", "fully_connected", "switch"):
        assert load_chip("h100", ["system.chips=4", f"system.topology={topology}", *link]).system.chips == 4
    explicit = load_chip("h100", ["system.chips=3", "system.topology=explicit",
                                  "system.links=[[0, 1], [1, 2]]", *link]).system
    assert explicit.links == [(0, 1), (1, 2)]
    assert load_chip("dgx_h100", ["system.chips=4"]).system.chips == 4  # a switch needs no dims
    dragonfly = load_chip("h100", ["system.chips=6", "system.topology=dragonfly", "system.dims=[2, 3]", *link])
    assert dragonfly.system.dims == [2, 3]  # 3 groups of 2 chips
    assert set(TOPOLOGIES) == {"ring", "torus2d", "torus3d", "switch", "fully_connected", "explicit", "dragonfly"}


# -------------------------------------------------------------------------------------- bad inputs


def system_error(spec, overrides, fields, *words) -> ConfigError:
    """One ConfigError line whose field is one of `fields` (the section `system` for checks that span several
    fields) and which names the offending field or value with each of `words`."""
    with pytest.raises(ConfigError) as info:
        load_chip(spec, list(overrides))
    err = info.value
    line = str(err)
    assert "\n" not in line
    assert err.field in fields, line
    assert line.startswith(f"{err.source}: {err.field} = ")
    for word in words:
        assert word in line, line
    return err


BAD = {
    # name: (spec, overrides, acceptable fields, words the line must contain)
    "chips > 1 without link": ("h100", ["system.chips=3"], {"system", "system.link"}, "link", "chips > 1"),
    "link removed": ("dgx_h100", ["system.link=null"], {"system", "system.link"}, "link"),
    "dims do not hold chips": ("tpu_v4_2x2x2", ["system.chips=12"], {"system", "system.dims"},
                               "holds 8 chips but chips = 12"),
    "3 dims on torus2d": ("tpu_v4_2x2x2", ["system.topology=torus2d"], {"system", "system.dims"},
                          "torus2d needs a list of 2 axis sizes", "2 axis sizes"),
    "2 dims on torus3d": ("tpu_v5e_8", ["system.topology=torus3d"], {"system", "system.dims"},
                          "torus3d needs a list of 3 axis sizes", "3 axis sizes"),
    "torus without dims": ("dgx_h100", ["system.topology=torus2d"], {"system.dims"}, "needs a list of 2 axis sizes"),
    "dims on a switch": ("dgx_h100", ["system.dims=[2, 4]"], {"system", "system.dims"},
                         "applies to torus2d, torus3d and dragonfly only"),
    "dims on a ring": ("dgx_h100", ["system.topology=ring", "system.dims=[8]"], {"system", "system.dims"},
                       "applies to torus2d"),
    "zero-sized axis": ("tpu_v4_2x2x2", ["system.dims=[0, 2, 2]"], {"system.dims.0"}, "must be ≥ 1"),
    "explicit link out of range": ("dgx_h100", ["system.topology=explicit", "system.links=[[0, 8]]"],
                                   {"system", "system.links", "system.links.0"}, "[0, 8] must join", "0..7"),
    "explicit negative chip": ("dgx_h100", ["system.topology=explicit", "system.links=[[-1, 2]]"],
                               {"system", "system.links", "system.links.0"}, "[-1, 2] must join"),
    "explicit self link": ("dgx_h100", ["system.topology=explicit", "system.links=[[3, 3]]"],
                           {"system", "system.links", "system.links.0"}, "[3, 3] must join", "two different chips"),
    "explicit without links": ("dgx_h100", ["system.topology=explicit"], {"system", "system.links"},
                               "explicit topology needs a list of [chip, chip] pairs"),
    "links on a switch": ("dgx_h100", ["system.links=[[0, 1]]"], {"system", "system.links"},
                          "applies to the explicit topology only"),
    "negative bandwidth": ("dgx_h100", ["system.link.bandwidth=-25 GB/s"], {"system.link.bandwidth"},
                           "'-25 GB/s'", "a bandwidth such as"),
    "zero bandwidth": ("dgx_h100", ["system.link.bandwidth=0 GB/s"], {"system.link.bandwidth"},
                       "must be a bandwidth > 0"),
    "bandwidth without unit": ("dgx_h100", ["system.link.bandwidth=25"], {"system.link.bandwidth"}, "GB/s"),
    "efficiency 0": ("dgx_h100", ["system.link.efficiency=0"], {"system.link.efficiency"}, "> 0 and ≤ 1"),
    "efficiency > 1": ("dgx_h100", ["system.link.efficiency=1.5"], {"system.link.efficiency"}, "> 0 and ≤ 1"),
    "efficiency negative": ("dgx_h100", ["system.link.efficiency=-0.1"], {"system.link.efficiency"}, "≤ 1"),
    "efficiency as percent": ("dgx_h100", ["system.link.efficiency=88%"], {"system.link.efficiency"},
                              "must be a number"),
    "zero link count": ("dgx_h100", ["system.link.count=0"], {"system.link.count"}, "must be ≥ 1"),
    "negative latency": ("dgx_h100", ["system.link.latency=-1 us"], {"system.link.latency"}, "a latency such as"),
    "unknown topology": ("dgx_h100", ["system.topology=mesh"], {"system.topology"}, "'mesh'", "'torus3d'"),
    "zero chips": ("dgx_h100", ["system.chips=0"], {"system.chips"}, "must be ≥ 1"),
    "chips as text": ("dgx_h100", ["system.chips='8'"], {"system.chips"}),
    "wraparound not a boolean": ("tpu_v4_4x4x4", ["system.wraparound=maybe"], {"system.wraparound"},
                                 "true or false"),
    "unknown system key": ("dgx_h100", ["system.linkz=1"], {"system.linkz"}, "unknown field", "topology, dims"),
    "unknown link key": ("dgx_h100", ["system.link.bandwith=1"], {"system.link.bandwith"},
                         "unknown field", "bandwidth, count, latency, efficiency"),
    # the scale-out network and the placement order
    "chips not whole nodes": ("h100_superpod_1024", ["system.chips=1020"], {"system.chips"},
                              "multiple of scale_out.chips_per_node = 8"),
    "nics not dividing a node": ("h100_superpod_1024", ["system.scale_out.nics=3"], {"system.scale_out.nics"},
                                 "must divide chips_per_node = 8"),
    "unknown scale-out kind": ("h100_superpod_1024", ["system.scale_out.topology=dragonfly"],
                               {"system.scale_out.topology"}, "'dragonfly'", "'rail_optimized'", "'fat_tree'"),
    "oversubscription below 1": ("h100_superpod_1024", ["system.scale_out.oversubscription=0.5"],
                                 {"system.scale_out.oversubscription"}, "from 1 (non-blocking) to 64"),
    "oversubscription huge": ("h100_superpod_1024", ["system.scale_out.oversubscription=1000"],
                              {"system.scale_out.oversubscription"}, "to 64 (64:1)"),
    "nic without unit": ("h100_superpod_1024", ["system.scale_out.nic.bandwidth=400"],
                         {"system.scale_out.nic.bandwidth"}, "GB/s"),
    "nic bandwidth zero": ("h100_superpod_1024", ["system.scale_out.nic.bandwidth=0 GB/s"],
                           {"system.scale_out.nic.bandwidth"}, "must be a bandwidth > 0"),
    "nic efficiency": ("h100_superpod_1024", ["system.scale_out.nic.efficiency=2"],
                       {"system.scale_out.nic.efficiency"}, "> 0 and ≤ 1"),
    "nodes without nic": ("dgx_h100", ["system.chips=16", "system.scale_out={chips_per_node: 8}"],
                          {"system.scale_out.nic"}, "required field is missing"),
    "unknown scale-out key": ("h100_superpod_1024", ["system.scale_out.rails=8"], {"system.scale_out.rails"},
                              "unknown field", "chips_per_node"),
    "dims of a node": ("h100_superpod_1024", ["system.topology=torus3d", "system.dims=[2, 2, 4]"],
                       {"system", "system.dims"}, "holds 16 chips but a node has scale_out.chips_per_node = 8"),
    "placement twice": ("dgx_h100", ["system.placement=[tp, dp, tp]"], {"system.placement"},
                        "names tp twice", "tp, cp, ep, pp, dp"),
    "placement unknown axis": ("dgx_h100", ["system.placement=[tp, xp]"], {"system.placement.1"}, "'xp'", "'dp'"),
    "unknown collective": ("dgx_h100", ["system.collectives=butterfly"], {"system.collectives"}, "'hierarchical'"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_system_input_is_one_line_naming_the_field(case):
    spec, overrides, fields, *words = BAD[case]
    err = system_error(spec, overrides, fields, *words)
    assert err.source == f"--set {overrides[-1]}"


def test_bad_system_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "slice.yaml"
    path.write_text("preset: tpu_v4_2x2x2\nname: slice\nsystem:\n  dims: [2, 2, 3]\n")
    err = system_error(path, [], {"system", "system.dims"}, "holds 12 chips but chips = 8")
    assert err.source == str(path)


def test_a_file_can_resize_a_preset_system(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("preset: tpu_v4_4x4x4\nname: big\nsystem:\n  chips: 128\n  dims: [4, 4, 8]\n")
    system = load_chip(path).system
    assert (system.chips, system.dims, system.wraparound) == (128, [4, 4, 8], True)
    assert system.link == load_chip("tpu_v4_4x4x4").system.link  # merged key by key from the preset


def test_a_cluster_resizes_by_its_chip_count(tmp_path):
    """--set system.chips=16384 on the 1,024-GPU SuperPOD: 2,048 nodes, the rest as the preset says."""
    big = load_chip("h100_superpod_1024", ["system.chips=16384"]).system
    assert big.chips // big.scale_out.chips_per_node == 2048
    assert big.scale_out == load_chip("h100_superpod_1024").system.scale_out
    path = tmp_path / "pod.yaml"
    path.write_text("preset: h100_superpod_1024\nname: pod\nsystem:\n  scale_out:\n    topology: fat_tree\n"
                    "    oversubscription: 2\n")
    out = load_chip(path).system.scale_out
    assert (out.topology, out.oversubscription, out.nics, out.nic.bandwidth.value) == ("fat_tree", 2.0, 8, 50e9)
