"""The fluid network: collective times against closed forms, byte conservation, max-min link sharing."""

import math
from types import SimpleNamespace

import pytest
import simpy

from simulator.config.schema import SystemConfig
from simulator.engine.network import Network, collective_cycles
from simulator.hardware.topology import build_topology
from simulator.ir.program import Message
from simulator.mapping.collectives import (
    ALGORITHMS,
    AUTO,
    SWITCH_CHUNKS,
    TREE_CHUNKS,
    applicable,
    collective_messages,
)
from simulator.mapping.program import best_algorithm

B, ALPHA = 100, 1000  # 100 GB/s and 1 us at 1 GHz: bytes per cycle and cycles per hop
LINK = {"bandwidth": "100 GB/s", "latency": "1 us"}
S = 1_000_003  # not a multiple of anything, so the rounding to whole cycles shows


def topo(chips, kind, **system):
    return build_topology(SystemConfig(chips=chips, topology=kind, link=LINK, **system), 1e9)


def launch(t, *dags):
    """Run the DAGs side by side from cycle 0: each one's finish cycle, and the network."""
    env = simpy.Environment()
    net = Network(env, t)
    finish = [None] * len(dags)
    for i, dag in enumerate(dags):
        net.run(dag).callbacks.append(lambda _, i=i: finish.__setitem__(i, env.now))
    env.run()
    return finish, net


def sends(t, *sizes, src=0, dst=1):
    """Messages of these sizes from src to dst, all sent at cycle 0: their arrival cycles."""
    env = simpy.Environment()
    net = Network(env, t)
    arrivals = [None] * len(sizes)
    for i, size in enumerate(sizes):
        net.send(src, dst, size).callbacks.append(lambda _, i=i: arrivals.__setitem__(i, env.now))
    env.run()
    return arrivals


def near(cycles, exact, steps):
    """Each of `steps` dependent steps may round its finish up to the next whole cycle."""
    return exact <= cycles <= exact + steps


@pytest.mark.parametrize("kind", ["ring", "switch"])
@pytest.mark.parametrize("p", range(2, 9))
def test_ring_all_reduce_closed_form(kind, p):
    t = topo(p, kind)
    group = [list(range(p))]
    step = S / p / B + ALPHA  # every step: each chip sends S/p to its own neighbour, no link shared
    assert near(collective_cycles(t, "all_reduce", "ring", group, S), 2 * (p - 1) * step, 2 * (p - 1))
    assert near(collective_cycles(t, "reduce_scatter", "ring", group, S), (p - 1) * step, p - 1)
    assert near(collective_cycles(t, "all_gather", "ring", group, S), (p - 1) * step, p - 1)


@pytest.mark.parametrize("p", range(3, 9))
def test_bidir_ring_halves_the_bandwidth_term_on_a_ring(p):
    t = topo(p, "ring")
    exact = 2 * (p - 1) * (S / p / B / 2 + ALPHA)
    assert near(collective_cycles(t, "all_reduce", "bidir_ring", [range(p)], S), exact, 2 * (p - 1))


@pytest.mark.parametrize("p", range(2, 9))
def test_direct_collectives_on_a_switch(p):
    """Each uplink and downlink carries p-1 messages at once, sharing the link fairly."""
    t = topo(p, "switch")
    wire = S * (p - 1) / p / B
    assert near(collective_cycles(t, "all_to_all", "direct", [range(p)], S), wire + ALPHA, 1)
    assert near(collective_cycles(t, "all_reduce", "direct", [range(p)], S), 2 * wire + 2 * ALPHA, 2)


@pytest.mark.parametrize("p", range(2, 9))
def test_switch_reduce_pipelines_its_chunks(p):
    """Chunks go up one after another; the switch sends chunk k down while chunk k+1 goes up."""
    c = SWITCH_CHUNKS
    exact = (c + 1) * (S / c / B + ALPHA)
    assert near(collective_cycles(topo(p, "switch"), "all_reduce", "switch_reduce", [range(p)], S), exact, c + 1)


@pytest.mark.parametrize("t, kind, algorithm, groups", [
    (topo(8, "ring"), "all_reduce", "ring", [range(8)]),
    (topo(8, "ring"), "all_reduce", "direct", [range(8)]),
    (topo(8, "switch"), "all_reduce", "switch_reduce", [range(8)]),
    (topo(8, "torus3d", dims=[2, 2, 2]), "all_reduce", "torus", [range(8)]),
    (topo(16, "torus2d", dims=[4, 4], wraparound=False), "all_gather", "ring", [range(16)]),
    (topo(16, "torus2d", dims=[4, 4]), "reduce_scatter", "torus", [[0, 1, 4, 5], [10, 11, 14, 15]]),
    (topo(16, "torus2d", dims=[4, 4]), "all_to_all", "direct", [range(16)]),
    (topo(6, "explicit", links=[[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0], [0, 3]]), "all_reduce", "ring",
     [range(6)]),
])
def test_bytes_are_conserved_and_links_never_beat_their_rate(t, kind, algorithm, groups):
    messages = collective_messages(kind, algorithm, groups, S, t)
    (finish,), net = launch(t, messages)
    assert sum(net.link_bytes) == pytest.approx(sum(m.bytes * len(t.route(m.src, m.dst)) for m in messages))
    for link, carried, busy in zip(t.links, net.link_bytes, net.link_busy, strict=True):
        assert carried <= link.bytes_per_cycle * busy * (1 + 1e-9)
        assert busy <= finish


def test_ring_all_reduce_puts_its_bytes_on_the_forward_links_only():
    p = 6
    t = topo(p, "ring")
    _, net = launch(t, collective_messages("all_reduce", "ring", [range(p)], S, t))
    for link, carried in zip(t.links, net.link_bytes, strict=True):
        forward = link.dst == (link.src + 1) % p
        assert carried == pytest.approx(2 * (p - 1) / p * S if forward else 0)


def test_torus_all_reduce_uses_exactly_the_links_of_its_plane():
    t = topo(8, "torus3d", dims=[2, 2, 2])
    plane = {0, 1, 2, 3}  # z = 0
    _, net = launch(t, collective_messages("all_reduce", "torus", [sorted(plane)], S, t))
    used = [b for link, b in zip(t.links, net.link_bytes, strict=True) if {link.src, link.dst} <= plane]
    assert len(used) == 8  # x and y links of the plane, both ways
    assert sum(used) == pytest.approx(sum(net.link_bytes))  # nothing along z
    assert all(b == pytest.approx(used[0]) and b > 0 for b in used)  # symmetric


def test_sharing_a_link_slows_both_and_disjoint_links_do_not():
    ring = topo(8, "ring")  # 0→2 and 1→3 both cross the link 1→2
    a = collective_messages("all_reduce", "ring", [[0, 2]], S, ring)
    b = collective_messages("all_reduce", "ring", [[1, 3]], S, ring)
    (alone_a,), _ = launch(ring, a)
    (alone_b,), _ = launch(ring, b)
    together, _ = launch(ring, a, b)
    assert together[0] > alone_a and together[1] > alone_b
    torus = topo(16, "torus2d", dims=[4, 4])  # two rows of the torus have no link in common
    a = collective_messages("all_reduce", "ring", [[0, 1, 2, 3]], S, torus)
    b = collective_messages("all_reduce", "ring", [[4, 5, 6, 7]], S, torus)
    (alone,), _ = launch(torus, a)
    assert launch(torus, a, b)[0] == [alone, alone]
    assert collective_cycles(torus, "all_reduce", "ring", [[0, 1, 2, 3], [4, 5, 6, 7]], S) == alone


def test_equal_messages_share_a_link_equally():
    t = topo(2, "ring")
    assert sends(t, 5000, 5000) == [ALPHA + 2 * 5000 / B] * 2


def test_a_short_message_leaves_the_link_to_the_long_one():
    t = topo(2, "ring")
    short, long = 1000, 5000
    assert sends(t, short, long) == [ALPHA + 2 * short / B, ALPHA + (long + short) / B]


def test_max_min_gives_spare_capacity_to_flows_bottlenecked_nowhere_else():
    """Flows a, b, c share link 0→1 (a third each); c also crosses 1→2, so d gets the other two thirds."""
    t = build_topology(SystemConfig(chips=4, topology="ring", link={"bandwidth": "100 GB/s"}), 1e9)  # no latency
    size = 1200
    messages = [Message(0, 1, size), Message(0, 1, size), Message(0, 2, size), Message(1, 2, size)]
    env = simpy.Environment()
    net = Network(env, t)
    arrivals = {}
    for i, m in enumerate(messages):
        net.send(m.src, m.dst, m.bytes).callbacks.append(lambda _, i=i: arrivals.__setitem__(i, env.now))
    env.run()
    d_done = size / (2 * B / 3)  # 18 cycles at 2/3 of the link
    assert arrivals[3] == d_done  # not 24, as an equal split of 1→2 would give
    assert arrivals[0] == arrivals[1] == arrivals[2] == 3 * size / B  # a third each throughout


def test_arrivals_are_whole_cycles_and_empty_work_costs_only_latency():
    t = topo(4, "ring")
    assert sends(t, 150) == [ALPHA + math.ceil(150 / B)]
    assert sends(t, 0, src=0, dst=2) == [2 * ALPHA]
    assert launch(t, ())[0] == [0]
    assert collective_cycles(t, "all_reduce", "ring", [[2]], S) == 0


def test_the_same_run_twice_is_identical():
    t = topo(8, "torus3d", dims=[2, 2, 2])
    messages = collective_messages("all_reduce", "torus", [range(8)], S, t)
    first, net1 = launch(t, messages, messages[:40])
    again, net2 = launch(t, messages, messages[:40])
    assert first == again and net1.link_bytes == net2.link_bytes and net1.link_busy == net2.link_busy


@pytest.mark.parametrize("t, groups", [
    (topo(8, "switch"), [range(8)]), (topo(8, "torus3d", dims=[2, 2, 2]), [range(8)]),
    (topo(8, "ring"), [range(8)]), (topo(2, "ring"), [range(2)]),
])
@pytest.mark.parametrize("nbytes", [1e3, 1e8])
def test_best_algorithm_is_the_fastest_auto_candidate_that_applies(t, groups, nbytes):
    name, cycles = best_algorithm(t, "all_reduce", groups, nbytes, collective_cycles)
    timed = {a: collective_cycles(t, "all_reduce", a, groups, nbytes)
             for a in applicable("all_reduce", t, groups[0]) if a in AUTO["all_reduce"]}
    assert cycles == timed[name] == min(timed.values())
    assert name == next(a for a in ALGORITHMS["all_reduce"] if timed.get(a) == cycles)  # ties: ALGORITHMS order


def test_switch_reduce_wins_big_buffers_and_direct_wins_small_ones_on_a_switch():
    """The opt-in algorithms: in-switch reduction beats the ring on big buffers, one-shot on small ones."""
    t = topo(8, "switch")
    names = applicable("all_reduce", t, range(8))
    timed = {size: {a: collective_cycles(t, "all_reduce", a, [range(8)], size) for a in names} for size in (1e3, 1e9)}
    assert min(timed[1e9], key=timed[1e9].get) == "switch_reduce"
    assert min(timed[1e3], key=timed[1e3].get) == "direct"
    assert best_algorithm(t, "all_reduce", [range(8)], 1e9, collective_cycles)[0] in AUTO["all_reduce"]


# ---- the scale-out network (hardware/cluster.py): the closed forms on a DGX SuperPOD of 2 nodes

GIB = 2**30


@pytest.fixture(scope="module")
def two_nodes():
    """h100_superpod_1024 cut to 2 DGX H100 (16 GPUs): NVSwitch inside a node, 8 × 400 Gb/s NICs per node."""
    from simulator.config.loader import load_chip

    chip = load_chip("h100_superpod_1024", ["system.chips=16"])
    t = build_topology(chip.system, chip.clock)
    nvlink = chip.system.link
    nic = chip.system.scale_out.nic
    return SimpleNamespace(
        t=t, nic_b=nic.bandwidth.bytes_per_cycle(chip.clock) * nic.efficiency, nic_a=nic.latency.cycles(chip.clock),
        nv_b=nvlink.bandwidth.bytes_per_cycle(chip.clock) * nvlink.count * nvlink.efficiency,
        nv_a=nvlink.latency.cycles(chip.clock))


def test_a_1_gib_dp_all_reduce_over_2_nodes_takes_the_ring_formula_over_the_nic(two_nodes):
    """TP 8 inside each node, DP 2 across: 8 rings of 2 chips, one per rail, all at once. Each is the ring
    formula over one NIC, 2(p − 1) steps of (α + S/(p·B_nic)) with p = 2, within a cycle per step; the 8
    rails share nothing, so all together take what one alone does."""
    n = two_nodes
    groups = [[r, 8 + r] for r in range(8)]
    formula = 2 * (n.nic_a + GIB / 2 / n.nic_b)
    for algorithm in ("hierarchical", "ring", "double_tree"):
        cycles = collective_cycles(n.t, "all_reduce", algorithm, groups, GIB)
        if algorithm == "double_tree":  # two 1-edge trees: each way one half goes up, the other comes down
            assert GIB / n.nic_b + n.nic_a <= cycles <= GIB / n.nic_b + 2 * TREE_CHUNKS * (n.nic_a + 1)
            continue
        assert near(cycles, formula, 2), algorithm
    assert 0.99 * GIB / n.nic_b < formula - 2 * n.nic_a <= GIB / n.nic_b  # ~ S / B_nic: 21.5 ms at 50 GB/s


def test_a_1_gib_all_reduce_over_16_gpus_on_2_nodes_is_the_sum_of_its_three_phases(two_nodes):
    """Hierarchical: a ring reduce-scatter inside each node (7 steps of S/8 over NVLink), a ring all-reduce of
    S/8 between the nodes per local rank (2 steps of S/16 over its NIC), a ring all-gather inside each node."""
    n = two_nodes
    inside = 7 * (n.nv_a + GIB / 8 / n.nv_b)
    across = 2 * (n.nic_a + GIB / 16 / n.nic_b)
    cycles = collective_cycles(n.t, "all_reduce", "hierarchical", [range(16)], GIB)
    assert near(cycles, 2 * inside + across, 16)


def test_hierarchical_beats_the_flat_ring_across_nodes_and_matches_it_with_one_chip_per_node(two_nodes):
    """The flat ring over 16 GPUs crosses the NICs in 2 of its 16 hops, and every one of its 30 steps waits for
    the slowest: at least 30 × S/(16·B_nic). The hierarchical one moves only S/8 per chip over the NICs."""
    n = two_nodes
    flat = collective_cycles(n.t, "all_reduce", "ring", [range(16)], GIB)
    tiered = collective_cycles(n.t, "all_reduce", "hierarchical", [range(16)], GIB)
    assert flat >= 30 * GIB / 16 / n.nic_b and tiered < flat / 3
    assert best_algorithm(n.t, "all_reduce", [range(16)], GIB, collective_cycles)[0] == "hierarchical"
    rails = [[r, 8 + r] for r in range(8)]
    assert collective_cycles(n.t, "all_reduce", "ring", rails, GIB) == \
        collective_cycles(n.t, "all_reduce", "hierarchical", rails, GIB)


def test_the_tree_beats_the_ring_on_small_buffers_across_many_nodes():
    """16 nodes, one chip each: a ring all-reduce pays 30 latencies, NCCL's double binary tree about
    2·depth + chunks; on a big buffer the ring's bandwidth term wins."""
    from simulator.config.loader import load_chip

    chip = load_chip("h100_superpod_1024", ["system.chips=128"])
    t = build_topology(chip.system, chip.clock)
    group = [[8 * n for n in range(16)]]
    small, big = 64 * 1024, GIB
    assert collective_cycles(t, "all_reduce", "double_tree", group, small) < \
        collective_cycles(t, "all_reduce", "hierarchical", group, small) / 1.5
    assert collective_cycles(t, "all_reduce", "hierarchical", group, big) < \
        collective_cycles(t, "all_reduce", "double_tree", group, big)


def test_a_non_binding_uplink_carries_bytes_but_never_slows_a_flow(two_nodes):
    """Nodes 0 and 1 sit on one leaf per rail in the 2-node cut; 4 nodes of 2 units cross the spine, whose
    uplinks (non-blocking) carry the bytes without taking part in the sharing."""
    from simulator.config.loader import load_chip

    chip = load_chip("h100_superpod_1024", ["system.chips=512", "system.scale_out.nodes_per_leaf=2"])
    t = build_topology(chip.system, chip.clock)
    (near_leaf,), (via_spine,) = sends(t, GIB, src=0, dst=8), sends(t, GIB, src=0, dst=16)
    assert near_leaf == via_spine
    finish, net = launch(t, [Message(0, 16, GIB)])
    assert net.link_bytes[t.leaf_up[0]] == GIB and not t.links[t.leaf_up[0]].binding
