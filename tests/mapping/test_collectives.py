"""Collectives as message DAGs: well-formed dependencies, the bytes each chip sends, and that the data
of every chip reaches every chip that needs it."""

import pytest

from simulator.config.schema import SystemConfig
from simulator.hardware.topology import build_topology
from simulator.mapping.collectives import (
    ALGORITHMS,
    TREE_CHUNKS,
    applicable,
    auto_algorithms,
    collective_messages,
    double_binary_tree,
    ring_order,
)

LINK = {"bandwidth": "100 GB/s", "latency": "1 us"}


def topo(chips, kind, **system):
    return build_topology(SystemConfig(chips=chips, topology=kind, link=LINK, **system), 1e9)


RING8 = topo(8, "ring")
SWITCH8 = topo(8, "switch")
CUBE = topo(8, "torus3d", dims=[2, 2, 2])
TORUS = topo(16, "torus2d", dims=[4, 4])
# 4 nodes of 4 chips on a switch, one NIC per chip, rail-optimized with 2 nodes per leaf
NODES = topo(16, "switch", scale_out={"chips_per_node": 4, "nodes_per_leaf": 2,
                                      "nic": {"bandwidth": "50 GB/s", "latency": "2 us"}})
CASES = [(t, group) for t, group in [
    (RING8, list(range(8))), (RING8, [0, 1, 2]), (SWITCH8, list(range(8))), (SWITCH8, [1, 5]),
    (CUBE, list(range(8))), (CUBE, [0, 1, 2, 3]), (TORUS, list(range(16))), (TORUS, [0, 1, 2, 3, 4, 5, 6, 7]),
    (TORUS, [0, 4, 8, 12]), (NODES, list(range(16))), (NODES, [1, 5, 9, 13]), (NODES, [0, 1, 8, 9, 12, 13]),
    (NODES, [4, 5, 6]), (NODES, [2, 6, 10]),
]]
ALL = [(kind, t, group, algorithm) for kind in ALGORITHMS for t, group in CASES
       for algorithm in applicable(kind, t, group) if kind != "send"]


def sent_by(messages, chip):
    return sum(m.bytes for m in messages if m.src == chip)


def known_by(messages, chips):
    """Which chips' inputs each chip's result can depend on, following messages and their deps."""
    carries = []
    for m in messages:
        carries.append({m.src}.union(*(carries[d] for d in m.deps)))
    known = {c: {c} for c in chips}
    for m, c in zip(messages, carries, strict=True):
        if m.dst in known:
            known[m.dst] |= c
    return known


@pytest.mark.parametrize("kind, t, group, algorithm", ALL)
def test_deps_point_to_earlier_messages(kind, t, group, algorithm):
    messages = collective_messages(kind, algorithm, [group], 8e6, t)
    assert messages
    for i, m in enumerate(messages):
        assert all(0 <= d < i for d in m.deps)
        assert m.src != m.dst and m.bytes > 0
        if algorithm not in ("switch_reduce", "double_tree"):  # a chip can only forward what has arrived at it
            assert all(messages[d].dst == m.src for d in m.deps)
        if algorithm == "double_tree":  # … or waits for its previous chunk to arrive before sending the next
            assert all(messages[d].dst == m.src or messages[d].src == m.src for d in m.deps)


@pytest.mark.parametrize("kind, t, group, algorithm", ALL)
def test_every_chip_sends_its_share(kind, t, group, algorithm):
    """Bandwidth-optimal algorithms move (p-1)/p of the buffer per chip per phase, whatever their shape."""
    s, p = 8e6, len(group)
    messages = collective_messages(kind, algorithm, [group], s, t)
    if algorithm == "double_tree":  # see test_tree_moves_each_half_once_up_and_once_down
        return
    if algorithm == "switch_reduce":
        for chip in group:
            assert sent_by(messages, chip) == pytest.approx(s)
            assert sum(m.bytes for m in messages if m.dst == chip) == pytest.approx(s)
        return
    phases = 2 if kind == "all_reduce" else 1
    for chip in group:
        assert sent_by(messages, chip) == pytest.approx(phases * (p - 1) / p * s)
        assert sum(m.bytes for m in messages if m.dst == chip) == pytest.approx(phases * (p - 1) / p * s)


@pytest.mark.parametrize("kind, t, group, algorithm", [case for case in ALL if case[0] != "all_to_all"])
def test_every_chip_hears_from_every_chip(kind, t, group, algorithm):
    """Reductions and gathers combine every chip's input (all-to-all only moves shards, so it is left out)."""
    known = known_by(collective_messages(kind, algorithm, [group], 8e6, t), group)
    assert all(known[c] - {t.switch_of(group[0])} == set(group) for c in group)


def test_ring_steps_chain_through_the_chip_that_received():
    messages = collective_messages("all_reduce", "ring", [[0, 1, 2, 3]], 400, RING8)
    assert len(messages) == 2 * 3 * 4 and all(m.bytes == 100 for m in messages)
    assert all(m.dst == (m.src + 1) % 4 for m in messages)
    assert [len(m.deps) for m in messages] == [0] * 4 + [1] * 20  # only the first step starts at once


def test_bidir_ring_sends_half_each_way():
    messages = collective_messages("all_gather", "bidir_ring", [[0, 1, 2, 3]], 800, RING8)
    forward = [m for m in messages if m.dst == (m.src + 1) % 4]
    backward = [m for m in messages if m.dst == (m.src - 1) % 4]
    assert len(forward) == len(backward) == len(messages) // 2
    assert sum(m.bytes for m in forward) == sum(m.bytes for m in backward) == 3 * 400


def test_torus_messages_stay_on_the_axes_of_the_group():
    messages = collective_messages("all_reduce", "torus", [[0, 1, 2, 3]], 8e6, CUBE)
    assert all(CUBE.hops(m.src, m.dst) == 1 for m in messages)
    assert {m.src for m in messages} | {m.dst for m in messages} == {0, 1, 2, 3}


def test_direct_all_reduce_gathers_after_its_scatter():
    messages = collective_messages("all_reduce", "direct", [[0, 1, 2, 3]], 400, SWITCH8)
    scatter, gather = messages[:12], messages[12:]
    assert all(not m.deps for m in scatter) and len(gather) == 12
    assert all(sorted(messages[d].dst for d in m.deps) == [m.src] * 3 for m in gather)


def test_switch_reduce_goes_through_the_switch_in_chunks():
    messages = collective_messages("all_reduce", "switch_reduce", [[0, 1, 2, 3]], 800, SWITCH8)
    assert all(8 in (m.src, m.dst) for m in messages) and all(m.bytes == 100 for m in messages)
    for m in messages:
        if m.src == 8:  # the switch multicasts a chunk once every chip's piece of it is in
            assert sorted(messages[d].src for d in m.deps) == [0, 1, 2, 3]


def test_groups_run_side_by_side_and_single_chips_send_nothing():
    one = collective_messages("all_reduce", "ring", [[0, 1, 2, 3]], 400, RING8)
    two = collective_messages("all_reduce", "ring", [[0, 1, 2, 3], [4], [4, 5, 6, 7]], 400, RING8)
    assert len(two) == 2 * len(one)
    assert all(d >= len(one) for m in two[len(one):] for d in m.deps)
    assert collective_messages("all_reduce", "ring", [[3]], 400, RING8) == ()


def test_all_to_all_and_send():
    messages = collective_messages("all_to_all", "direct", [[0, 1, 2, 3]], 400, SWITCH8)
    assert len(messages) == 12 and all(m.bytes == 100 and not m.deps for m in messages)
    (send,) = collective_messages("send", "direct", [[2, 5]], 123, RING8)
    assert (send.src, send.dst, send.bytes, send.deps) == (2, 5, 123, ())


def test_applicable_algorithms():
    assert applicable("all_reduce", RING8, range(8)) == ("ring", "bidir_ring", "direct")
    assert applicable("all_reduce", SWITCH8, range(8)) == ("ring", "bidir_ring", "direct", "switch_reduce")
    assert applicable("all_reduce", CUBE, range(8)) == ("ring", "bidir_ring", "torus", "direct")
    assert applicable("all_gather", CUBE, [0, 1, 2]) == ("ring", "bidir_ring", "direct")  # not a sub-grid
    assert applicable("all_to_all", CUBE, range(8)) == ("direct",)
    with pytest.raises(ValueError):
        collective_messages("all_reduce", "switch_reduce", [range(8)], 400, RING8)
    with pytest.raises(ValueError):
        collective_messages("all_to_all", "ring", [range(8)], 400, RING8)


# ---- two levels: hierarchical and tree


def test_a_group_that_spans_nodes_runs_hierarchical_or_tree_and_auto_takes_hierarchical():
    assert applicable("all_reduce", NODES, range(16)) == ("ring", "bidir_ring", "direct", "hierarchical", "double_tree")
    assert applicable("reduce_scatter", NODES, range(16)) == ("ring", "bidir_ring", "direct", "hierarchical")
    assert applicable("all_reduce", NODES, [4, 5, 6]) == ("ring", "bidir_ring", "direct", "switch_reduce")
    assert "hierarchical" not in applicable("all_reduce", NODES, [0, 1, 4])  # 2 chips in one node, 1 in another
    assert auto_algorithms("all_reduce", NODES, [range(16)]) == ("hierarchical",)
    assert auto_algorithms("all_reduce", NODES, [range(4), range(4, 8)]) == ("ring", "bidir_ring")


def test_hierarchical_reduces_inside_nodes_then_across_them_per_local_rank_then_gathers():
    """16 chips on 4 nodes: a 4-chip ring reduce-scatter per node (3 steps of S/4), a 4-node ring all-reduce
    of S/4 per local rank (6 steps of S/16, each between the chips of one rank), a 4-chip all-gather."""
    s = 1600.0
    messages = collective_messages("all_reduce", "hierarchical", [range(16)], s, NODES)
    inside = [m for m in messages if NODES.node_of(m.src) == NODES.node_of(m.dst)]
    across = [m for m in messages if NODES.node_of(m.src) != NODES.node_of(m.dst)]
    assert len(inside) == 2 * 4 * 4 * 3 and all(m.bytes == s / 4 for m in inside)
    assert len(across) == 4 * 4 * 6 and all(m.bytes == s / 16 for m in across)
    assert all(m.src % 4 == m.dst % 4 for m in across)  # each local rank on its own rail
    first_across = messages.index(across[0])
    assert all(messages[d] in inside for d in across[0].deps) and first_across == len(inside) // 2


def test_hierarchical_with_one_chip_per_node_is_the_ring_over_the_nodes():
    group = [1, 5, 9, 13]
    assert collective_messages("all_reduce", "hierarchical", [group], 800, NODES) == \
        collective_messages("all_reduce", "ring", [group], 800, NODES)
    assert ring_order("all_reduce", "hierarchical", group, NODES) == tuple(group)
    assert ring_order("all_reduce", "hierarchical", range(16), NODES) is None


def test_double_binary_tree_is_nccls():
    """NCCL src/graph/trees.cc's illustration for 13 ranks: root 0 → 8; 8 → 4, 12; 4 → 2, 6; …; the second
    tree shifted by one (odd count). For an even count the second tree is the mirror."""
    first, second = double_binary_tree(13)
    assert first == [None, 2, 4, 2, 8, 6, 4, 6, 0, 10, 12, 10, 8]
    assert second == [(p + 1) % 13 if p is not None else None for p in [first[(i - 1) % 13] for i in range(13)]]
    first, second = double_binary_tree(8)
    assert second == [None if first[7 - i] is None else 7 - first[7 - i] for i in range(8)]
    for n in range(2, 20):  # two trees, each reaching its one root from every position
        for tree in double_binary_tree(n):
            assert tree.count(None) == 1
            for i in range(n):
                seen, j = set(), i
                while tree[j] is not None:
                    assert j not in seen
                    seen.add(j)
                    j = tree[j]


def test_tree_moves_each_half_once_up_and_once_down():
    """Across nodes each half of the shard climbs its tree once (every non-root position sends it to its
    parent) and comes down once (every non-root position receives it), in TREE_CHUNKS chunks."""
    s, group = 1600.0, [1, 5, 9, 13]
    messages = collective_messages("all_reduce", "double_tree", [group], s, NODES)
    assert all(m.bytes == s / 2 / TREE_CHUNKS for m in messages)
    assert len(messages) == 2 * 2 * (len(group) - 1) * TREE_CHUNKS
    for chip in group:
        got = sum(m.bytes for m in messages if m.dst == chip)
        assert got >= s / 2  # at least the half whose tree it is a leaf of, coming down


def test_a_quotient_is_the_first_positions_messages():
    full = collective_messages("reduce_scatter", "ring", [[1, 5, 9, 13]], 800, NODES)
    (q,) = [collective_messages("reduce_scatter", "ring", [[1, 5, 9, 13]], 800, NODES, {0})]
    assert [(m.src, m.dst, m.bytes) for m in q] == [(m.src, m.dst, m.bytes) for m in full if m.src == 1]
    assert [m.deps for m in q] == [(), (0,), (1,)]


def test_the_schema_names_every_algorithm():
    from simulator.config.schema import COLLECTIVE_ALGORITHMS

    assert set(COLLECTIVE_ALGORITHMS) == {"auto"} | {a for names in ALGORITHMS.values() for a in names}


def test_groups_with_unequal_shares_of_their_nodes_fall_back_to_the_flat_ring():
    group = [0, 1, 2, 3, 4, 5]  # 4 chips of node 0, 2 of node 1
    assert "hierarchical" not in applicable("all_reduce", NODES, group)
    assert auto_algorithms("all_reduce", NODES, [group]) == ("ring", "bidir_ring")
