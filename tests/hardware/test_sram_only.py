"""SRAM-only and dataflow chips (issue 16 part 2, docs/hardware.md § SRAM-only and dataflow chips): a chip whose
farthest memory level is its SRAM moves no DRAM bytes and is charged SRAM energy; the weights stay resident in
the SRAM of the chips the layers are placed over, so a model needs at least the chips whose SRAM holds it; and
batch-1 decode on such a system is bounded by per-chip compute and link latencies, not by DRAM."""

import math
from pathlib import Path

import pytest

from simulator.api import run_graph, run_llm
from simulator.config.loader import load_chip
from simulator.engine.network import collective_cycles, messages_cycles
from simulator.errors import CapacityError, ConfigError
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology
from simulator.mapping.collectives import collective_messages
from simulator.mapping.symmetry import reduce_block
from simulator.workloads.capacity import footprint
from simulator.workloads.loader import load_llm, load_workload
from simulator.workloads.parallel import Parallel
from simulator.workloads.transformer import lower

ROOT = Path(__file__).parents[2]
SRAM = 230e6  # groq_lpu: 230 MB per chip (techpowerup, ../shared/reference/chips.md §4.1)
PJ = 1e-12


def llama2_70b(context: int = 4000, **parallel):
    """Llama-2-70B (workloads/models/llama2_70b.json), int8 weights, one batch-1 decode step."""
    return load_llm({"name": "llama2_70b_decode", "model": "models/llama2_70b.json",
                     "scenario": {"phase": "decode", "batch": 1, "context": context, "weights": "int8"},
                     "parallel": parallel}, "test.yaml", ROOT / "workloads")


# ------------------------------------------------------------------ the chip: SRAM, not DRAM, in time and energy


@pytest.fixture(scope="module")
def gemm_runs():
    """gemm_demo on groq_lpu and on its twin whose farthest level is the same size and bandwidth, as a DRAM."""
    graph = load_workload("gemm_demo")
    sram = run_graph(Chip(load_chip("groq_lpu")), graph)
    dram = run_graph(Chip(load_chip("groq_lpu", ["chip.memory.0.kind=dram"])), graph)
    return sram, dram


def test_the_sram_only_chip_moves_no_dram_bytes_and_times_as_its_dram_twin(gemm_runs):
    sram, dram = gemm_runs
    assert sram.chip.sram_only and not dram.chip.sram_only
    assert sram.chip.config.memory.dram is None and sram.chip.hbm.kind == "scratchpad"
    for a, b in zip(sram.records, dram.records, strict=True):
        assert a.hbm_read == a.hbm_write == 0  # no DRAM, no DRAM bytes, op by op
        assert (a.chip_sram_read, a.chip_sram_write) == (b.hbm_read, b.hbm_write)  # the same bytes, on SRAM
        assert b.chip_sram_read == b.chip_sram_write == 0
        assert (a.start, a.end, a.cycles) == (b.start, b.end, b.cycles)  # the level's timing is the same
    s = sram.summary
    assert s["bytes_hbm_read"] == s["bytes_hbm_write"] == 0 and s["energy_hbm_j"] == 0
    assert s["bytes_chip_sram_read"] == dram.summary["bytes_hbm_read"] > 0
    assert s["bytes_chip_sram_write"] == dram.summary["bytes_hbm_write"] > 0


def test_energy_charges_the_sram_per_byte_not_the_dram(gemm_runs):
    sram, dram = gemm_runs
    s, d = sram.summary, dram.summary
    moved = s["bytes_chip_sram_read"] + s["bytes_chip_sram_write"]
    # groq_lpu: the shared SRAM at Horowitz's 1 MB point, 100 pJ per 64-bit read = 12.5 pJ/B (the preset's
    # energy.chip_sram); the core's view of the same SRAM (energy.sram) is charged nothing
    assert sram.chip.energy.chip_sram_j == pytest.approx(12.5 * PJ) and sram.chip.energy.sram_j == 0
    assert s["energy_sram_j"] == pytest.approx(moved * 12.5 * PJ, rel=1e-12)
    # the twin pays DRAM energy for the same bytes: 244 pJ/B at 45 nm
    assert d["energy_hbm_j"] == pytest.approx(moved * 244 * PJ, rel=1e-12)
    assert d["energy_sram_j"] == 0
    # exactly linear in the per-byte figure
    other = run_graph(Chip(load_chip("groq_lpu", ["chip.energy.chip_sram=1 pJ/B"])), sram.graph).summary
    assert other["energy_sram_j"] == pytest.approx(moved * PJ, rel=1e-12)
    assert not [a for a in s["assumptions"] if a.startswith("energy")]
    # left unset, it is the node's l2 figure (45 nm: the same 12.5 pJ/B), and the run says so
    unset = Chip(load_chip("groq_lpu", ["chip.energy.chip_sram=null"]))
    assert unset.energy.chip_sram_j == pytest.approx(12.5 * PJ)
    assert "energy.chip_sram = 12.5 pJ/B, the 45nm node's l2 (a large on-chip SRAM)" in unset.assumptions


@pytest.mark.parametrize(("overrides", "field", "allowed"), [
    (["chip.memory=[]"], "chip.memory", "or, on an SRAM-only chip, a scratchpad level"),
    (["chip.memory.0.kind=cache"], "chip.memory.0.kind", "or scratchpad on an SRAM-only chip"),
    (["chip.memory=[{kind: scratchpad, size: 1 MB, bandwidth: 9 TB/s}, {kind: dram, size: 9 GB, "
      "bandwidth: 1 TB/s}]"], "chip.memory.0.kind", "in front of DRAM is not modelled yet"),
    (["chip.memory=[{kind: scratchpad, size: 230 MB}]"], "chip.memory.0.bandwidth", "required on a shared scratchpad"),
])
def test_a_bad_sram_level_is_one_line(overrides, field, allowed):
    with pytest.raises(ConfigError) as e:
        load_chip("groq_lpu", overrides)
    line = str(e.value)
    assert "\n" not in line and field in line and allowed in line


# ------------------------------------------------------------------ capacity: the chips the SRAM takes


def test_llama2_70b_int8_needs_the_chips_its_weights_and_kv_take_and_fewer_is_one_line_naming_them():
    wl = llama2_70b(tp=4, pp=75)  # 300 chips
    m = wl.model
    # Closed forms (workloads/models/README.md's count): every parameter at int8 except the embedding table and
    # the RMSNorm weights, which stay at the activation dtype (bf16): one more byte each
    params = 68_976_648_192  # m.params(), the Hub's 69.0 B
    assert m.params() == params
    weights = params + 32000 * 8192 + (80 * 2 + 1) * 8192
    kv = 80 * 2 * 8 * 128 * 4001 * 2  # layers × (K, V) × KV heads × head dim × positions × bf16
    p = Parallel(tp=4, pp=75)
    act = footprint(m, wl.scenario, lower(m, wl.scenario, p), p).activations
    need = math.ceil((weights + kv) / (SRAM - act))
    assert need >= math.ceil(70e9 / SRAM) == 305  # the bound: 70 GB of int8 weights / 230 MB
    assert need >= math.ceil(params / SRAM)  # every parameter at least one byte
    system = Chip(load_chip("groq_lpu_576"))
    with pytest.raises(CapacityError) as e:
        run_llm(system, wl)
    line = str(e.value)
    assert "\n" not in line and f"needs at least {need} chips" in line and "uses 300" in line
    assert f"tp×pp ≥ {need}" in line
    # a system smaller than that says so too
    small = Chip(load_chip("groq_lpu_576", ["chips=256", "dims=[8, 32]"]))
    with pytest.raises(CapacityError) as e:
        run_llm(small, llama2_70b(tp=16, pp=16))
    assert f"needs at least {need} chips" in str(e.value) and f"has 256, so use a bigger system (chips ≥ {need})" \
        in str(e.value)


def test_enough_chips_but_an_uneven_stage_is_the_per_chip_check_against_sram():
    # 320 chips ≥ the 307 needed, but the first stage holds a layer and the bf16 embedding: 345 MB per chip
    with pytest.raises(CapacityError) as e:
        run_llm(Chip(load_chip("groq_lpu_576")), llama2_70b(tp=4, pp=80))
    assert "per chip with tp=4, pp=80" in str(e.value) and "SRAM size = 0.2 GB" in str(e.value)


# ------------------------------------------------------------------ batch-1 decode: compute and links, not DRAM


@pytest.fixture(scope="module")
def decode():
    """Llama-2-70B int8, batch 1, 4000 tokens of context, on groq_lpu_576: tp 16 (two groups) × pp 36."""
    return run_llm(Chip(load_chip("groq_lpu_576")), llama2_70b(tp=16, pp=36))


def test_batch1_decode_moves_no_dram_bytes_and_keeps_everything_in_sram(decode):
    s = decode.summary
    assert s["bytes_hbm_read"] == s["bytes_hbm_write"] == 0 and s["energy_hbm_j"] == 0
    assert s["memory_required"] <= s["hbm_capacity"] == SRAM  # per chip, against its SRAM
    assert s["chips_used"] == 576


def test_batch1_decode_time_is_its_stages_and_sends_each_bounded_by_compute_and_link_latency(decode):
    chip, s = decode.chip, decode.summary
    hop = decode.placement.topology.hop_latency
    assert hop == 900  # 1 us at 900 MHz
    timeline = decode.timeline_rows
    # the token's critical path: stage 0, send, stage 1, …, stage 35, one after another
    assert [t["kind"] for t in timeline] == ["compute", "send"] * 35 + ["compute"]
    assert all(a["end"] == b["start"] for a, b in zip(timeline, timeline[1:], strict=False))
    assert sum(t["cycles"] for t in timeline) == s["cycles"] == timeline[-1]["end"]
    link = chip.config.system.link.bandwidth.bytes_per_cycle(chip.clock_hz)
    activation = 8192 * 2  # one token's hidden state in bf16
    floor = 0.0
    for t in timeline:
        if t["kind"] == "send":  # at least one hop's latency and one link's time for the activation
            assert t["cycles"] >= hop + activation / link
            floor += hop
            continue
        rows = [r for r in decode.rows if r["stage"] == t["stage"]]
        assert sum(r["cycles"] * r["repeat"] for r in rows) == t["cycles"]  # the stage's ops, in a chain
        for r in rows:
            if r["type"] == "collective":  # a ring over 16 chips: 2(p − 1) or p − 1 steps, each ≥ one hop
                assert r["algorithm"] in ("ring", "bidir_ring") and r["axis"] == "tp"
                steps = 2 * 15 if r["kind"] == "all_reduce" else 15
                assert r["cycles"] >= steps * hop
                floor += steps * hop * r["repeat"]
            else:  # at least the chip's peak compute and its SRAM bandwidth
                assert r["cycles"] >= r["roofline_cycles"]
                floor += r["roofline_cycles"] * r["repeat"]
    assert s["cycles"] >= floor
    # not memory: every byte of every op through the SRAM at 80 TB/s, summed over the pipeline, is a sliver
    sram_floor = sum((r["chip_sram_read"] + r["chip_sram_write"]) * r["repeat"] for r in decode.rows) / \
        chip.hbm.bytes_per_cycle
    assert sram_floor < 0.01 * s["cycles"]
    assert sum(st["memory_stall_s"] for st in decode.stage_rows) < 0.01 * s["seconds"]


# ------------------------------------------------------------------ the dragonfly and the wafer


def test_groq_lpu_576_is_a_dragonfly_that_uses_each_chips_16_c2c_links():
    system = load_chip("groq_lpu_576").system
    t = build_topology(system, 900e6)
    size, groups = t.dims
    assert (size, groups, t.chips) == (8, 72, 576)
    out = [0] * t.chips
    for link in t.links:
        out[link.src] += 1
    assert max(out) == 16 and min(out) == 7 + 8  # 7 local links and 8 or 9 of the 71 global ones
    between = {}
    for link in t.links:
        a, b = link.src // size, link.dst // size
        if a != b:
            between[(a, b)] = between.get((a, b), 0) + 1
    assert len(between) == groups * (groups - 1) and set(between.values()) == {1}  # one global link per pair
    for src, dst in ((0, 7), (0, 8), (3, 575), (100, 101), (575, 0)):
        route = t.route(src, dst)
        assert 1 <= len(route) <= 3
        hops = [t.links[i] for i in route]
        assert hops[0].src == src and hops[-1].dst == dst and all(a.dst == b.src for a, b in
                                                              zip(hops, hops[1:], strict=False))


@pytest.mark.parametrize("kind", ["all_reduce", "all_gather", "all_to_all"])
def test_dragonfly_groups_simulated_once_take_exactly_the_full_simulations_time(kind):
    # the dragonfly's symmetry key lets groups that sit alike (the same positions, the same global-link
    # positions) stand for each other: what the reduction leaves must time exactly as every group simulated
    chip = load_chip("groq_lpu_576", ["chips=128", "dims=[8, 16]"])
    t = build_topology(chip.system, chip.clock)
    across = [[16 * b + 2 * e + r for e in range(8)] for b in range(8) for r in range(2)]  # ep-like, 2 groups each
    stages = [list(range(16 * s, 16 * s + 16)) for s in range(8)]  # tp 16 over two groups
    algorithm = "direct" if kind == "all_to_all" else "ring"
    for groups in (across, stages):
        assert reduce_block(t, [(kind, algorithm, groups, 1e6)], links=False)[0].simulated < len(groups) / 4
        for nbytes in (16384, 3e6 + 7):
            whole = messages_cycles(t, collective_messages(kind, algorithm, groups, nbytes, t))
            assert collective_cycles(t, kind, algorithm, groups, nbytes) == whole


def test_the_wafer_adds_up_to_the_wse3_figures():
    c = Chip(load_chip("cerebras_wse3"))
    regions = c.config.system.chips
    assert regions * c.cores == 900_000  # cores (V)
    assert regions * c.hbm.size == pytest.approx(44e9, rel=0.01)  # 44 GB of SRAM (V), 48 KiB per core
    assert regions * c.hbm.bytes_per_cycle * c.clock_hz == pytest.approx(21e15, rel=0.001)  # 21 PB/s (V)
    assert c.cores * c.sram.size == c.hbm.size  # the region's level is its cores' SRAMs
    assert c.sram_only and c.config.system.topology == "torus2d" and not c.config.system.wraparound
    link = c.config.system.link.bandwidth.bytes_per_cycle(c.clock_hz) * c.clock_hz
    assert link == pytest.approx(214e15 / 8 / 900_000 / 4 * 100, rel=0.001)  # 100 core links per region edge
    run = run_graph(c, load_workload("gemm_demo"))
    assert run.summary["bytes_hbm_read"] == run.summary["bytes_hbm_write"] == 0
    assert run.summary["bytes_chip_sram_read"] > 0
