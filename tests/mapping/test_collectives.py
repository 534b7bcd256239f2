"""Collectives as message DAGs: well-formed dependencies, the bytes each chip sends, and that the data
of every chip reaches every chip that needs it."""

import pytest

from simulator.config.schema import SystemConfig
from simulator.hardware.topology import build_topology
from simulator.mapping.collectives import ALGORITHMS, applicable, collective_messages

LINK = {"bandwidth": "100 GB/s", "latency": "1 us"}


def topo(chips, kind, **system):
    return build_topology(SystemConfig(chips=chips, topology=kind, link=LINK, **system), 1e9)


RING8 = topo(8, "ring")
SWITCH8 = topo(8, "switch")
CUBE = topo(8, "torus3d", dims=[2, 2, 2])
TORUS = topo(16, "torus2d", dims=[4, 4])
CASES = [(t, group) for t, group in [
    (RING8, list(range(8))), (RING8, [0, 1, 2]), (SWITCH8, list(range(8))), (SWITCH8, [1, 5]),
    (CUBE, list(range(8))), (CUBE, [0, 1, 2, 3]), (TORUS, list(range(16))), (TORUS, [0, 1, 2, 3, 4, 5, 6, 7]),
    (TORUS, [0, 4, 8, 12]),
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
        if algorithm != "switch_reduce":  # a chip can only forward what has arrived at it
            assert all(messages[d].dst == m.src for d in m.deps)


@pytest.mark.parametrize("kind, t, group, algorithm", ALL)
def test_every_chip_sends_its_share(kind, t, group, algorithm):
    """Bandwidth-optimal algorithms move (p-1)/p of the buffer per chip per phase, whatever their shape."""
    s, p = 8e6, len(group)
    messages = collective_messages(kind, algorithm, [group], s, t)
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
    assert all(known[c] - {t.switch} == set(group) for c in group)


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
