"""Topologies: link counts, link rates, routes (dimension order, shortest way, switch, BFS), ring orders."""

import itertools
from pathlib import Path

import pytest

from simulator.config.loader import load_chip
from simulator.config.schema import TOPOLOGIES, SystemConfig
from simulator.errors import ConfigError
from simulator.hardware.topology import TOPOLOGY_KINDS, build_topology

LINK = {"bandwidth": "100 GB/s", "latency": "1 us"}  # 100 B/cycle and 1000 cycles at 1 GHz


def topo(chips, kind, link=LINK, **system):
    return build_topology(SystemConfig(chips=chips, topology=kind, link=link, **system), 1e9)


def ends(t, route):
    return [(t.links[i].src, t.links[i].dst) for i in route]


def torus_distance(t, a, b):
    out = 0
    for ca, cb, size in zip(t.coords(a), t.coords(b), t.dims, strict=True):
        d = abs(ca - cb)
        out += min(d, size - d) if t.wraparound else d
    return out


@pytest.mark.parametrize("chips, kind, extra, per_chip", [
    (8, "ring", {}, 2), (2, "ring", {}, 1),
    (8, "torus3d", {"dims": [2, 2, 2]}, 3), (64, "torus3d", {"dims": [4, 4, 4]}, 6),
    (16, "torus2d", {"dims": [4, 4]}, 4), (12, "torus2d", {"dims": [4, 3]}, 4),
    (8, "torus2d", {"dims": [8, 1]}, 2), (8, "switch", {}, 2), (8, "fully_connected", {}, 7),
])
def test_links_per_chip(chips, kind, extra, per_chip):
    """A directed link from each chip to each neighbour (a switch: an uplink and a downlink per chip)."""
    t = topo(chips, kind, **extra)
    assert len(t.links) == chips * per_chip
    assert [link.index for link in t.links] == list(range(len(t.links)))
    assert len({(link.src, link.dst) for link in t.links}) == len(t.links)  # no duplicate directed pair


def test_mesh_without_wraparound_loses_the_edge_links():
    t = topo(16, "torus2d", dims=[4, 4], wraparound=False)
    assert len(t.links) == 2 * 2 * (3 * 4)  # 2 axes × 4 lines × 3 joints, both directions
    assert topo(8, "torus3d", dims=[2, 2, 2], wraparound=False).links == topo(8, "torus3d", dims=[2, 2, 2]).links


def test_link_rates_and_latency_at_the_clock():
    t = topo(4, "ring", link={**LINK, "count": 3, "efficiency": 0.5})
    assert all(link.peak_bytes_per_cycle == 300 and link.bytes_per_cycle == 150 for link in t.links)
    assert t.hop_latency == 1000
    slow = build_topology(SystemConfig(chips=4, topology="ring", link=LINK), 2e9)
    assert slow.links[0].bytes_per_cycle == 50 and slow.hop_latency == 2000


def test_one_chip_has_no_links():
    t = build_topology(SystemConfig(chips=1), 1e9)
    assert t.links == () and t.route(0, 0) == () and t.latency(0, 0) == 0


def test_coords_x_fastest():
    t = topo(24, "torus3d", dims=[2, 3, 4])
    for chip in range(24):
        x, y, z = t.coords(chip)
        assert chip == x + 2 * (y + 3 * z)


@pytest.mark.parametrize("chips, kind, extra", [
    (8, "ring", {}), (7, "ring", {}), (8, "torus3d", {"dims": [2, 2, 2]}), (27, "torus3d", {"dims": [3, 3, 3]}),
    (16, "torus2d", {"dims": [4, 4]}), (12, "torus2d", {"dims": [4, 3], "wraparound": False}),
    (6, "switch", {}), (5, "fully_connected", {}), (6, "explicit", {"links": [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]}),
])
def test_every_route_is_a_path_between_its_ends(chips, kind, extra):
    t = topo(chips, kind, **extra)
    for a, b in itertools.permutations(range(chips), 2):
        hops = ends(t, t.route(a, b))
        assert hops[0][0] == a and hops[-1][1] == b
        assert all(x[1] == y[0] for x, y in zip(hops, hops[1:], strict=False))
        if kind in ("torus2d", "torus3d"):
            assert len(hops) == torus_distance(t, a, b)  # dimension order is a shortest path on a torus
        if kind == "ring":
            assert len(hops) == min((b - a) % chips, (a - b) % chips)


def test_torus_routes_in_dimension_order_the_shortest_way():
    t = topo(16, "torus2d", dims=[4, 4])
    assert ends(t, t.route(0, 5)) == [(0, 1), (1, 5)]  # x first, then y
    assert ends(t, t.route(5, 0)) == [(5, 4), (4, 0)]
    assert ends(t, t.route(0, 3)) == [(0, 3)]  # one hop backwards over the wraparound
    assert ends(t, t.route(0, 2)) == [(0, 1), (1, 2)]  # a tie goes +
    assert ends(t, t.route(0, 12)) == [(0, 12)]
    cube = topo(27, "torus3d", dims=[3, 3, 3])
    assert ends(cube, cube.route(0, 13)) == [(0, 1), (1, 4), (4, 13)]  # x, y, z


def test_mesh_routes_go_the_long_way_without_wraparound():
    t = topo(16, "torus2d", dims=[4, 4], wraparound=False)
    assert ends(t, t.route(0, 3)) == [(0, 1), (1, 2), (2, 3)]
    assert t.latency(0, 15) == 6 * t.hop_latency


def test_ring_goes_the_shorter_way_and_ties_go_plus():
    t = topo(8, "ring")
    assert ends(t, t.route(1, 7)) == [(1, 0), (0, 7)]
    assert ends(t, t.route(0, 4)) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert ends(t, t.route(4, 0)) == [(4, 5), (5, 6), (6, 7), (7, 0)]


def test_a_size_two_axis_has_one_link_each_way():
    t = topo(8, "torus3d", dims=[2, 2, 2])
    for a, b in itertools.permutations(range(8), 2):
        joins = [link for link in t.links if (link.src, link.dst) == (a, b)]
        assert len(joins) == (1 if torus_distance(t, a, b) == 1 else 0)
    assert len(t.route(0, 1)) == 1 and len(t.route(0, 7)) == 3


def test_switch_route_is_uplink_then_downlink_and_one_hop():
    t = topo(8, "switch")
    for a, b in itertools.permutations(range(8), 2):
        assert ends(t, t.route(a, b)) == [(a, 8), (8, b)]
        assert t.hops(a, b) == 1 and t.latency(a, b) == t.hop_latency
    assert ends(t, t.route(3, 8)) == [(3, 8)] and t.hops(8, 5) == 1 and t.switch == 8


def test_fully_connected_is_one_hop_everywhere():
    t = topo(5, "fully_connected")
    assert all(ends(t, t.route(a, b)) == [(a, b)] for a, b in itertools.permutations(range(5), 2))


def test_explicit_links_route_by_bfs_with_the_lowest_next_chip():
    # a square 0-1-3-2-0 with a tail 3-4: two shortest ways from 0 to 3; take the one through chip 1
    t = topo(5, "explicit", links=[[0, 2], [2, 3], [0, 1], [1, 3], [3, 4]])
    assert len(t.links) == 10
    assert ends(t, t.route(0, 3)) == [(0, 1), (1, 3)]
    assert ends(t, t.route(4, 0)) == [(4, 3), (3, 1), (1, 0)]
    assert t.latency(0, 4) == 3 * t.hop_latency


def test_disconnected_explicit_chips_are_a_config_error():
    """Refused when the file loads, before any route is asked for."""
    with pytest.raises(ConfigError) as info:
        load_chip("dgx_h100", ["system.chips=4", "system.topology=explicit", "system.links=[[0, 1], [2, 3]]"])
    assert info.value.field == "system.links"
    assert "chip 2 has no path to chip 0" in str(info.value)


def test_ring_order_makes_neighbours_consecutive_on_torus_subgrids():
    t = topo(16, "torus2d", dims=[4, 4])
    for group in ([0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 4, 5], list(range(16)), [5, 6, 9, 10]):
        order = t.ring(group)
        assert sorted(order) == sorted(group)
        assert all(t.hops(a, b) == 1 for a, b in zip(order, order[1:] + order[:1], strict=True))
    mesh = topo(16, "torus2d", dims=[4, 4], wraparound=False)  # no wraparound: still a closed ring
    order = mesh.ring(range(16))
    assert sorted(order) == list(range(16))
    assert all(mesh.hops(a, b) == 1 for a, b in zip(order, order[1:] + order[:1], strict=True))
    assert topo(8, "switch").ring([3, 1, 2]) == (3, 1, 2)  # elsewhere: the given order
    assert t.ring([0, 1, 5]) == (0, 1, 5)  # not a sub-grid


def test_axes_of_a_subgrid_are_its_one_dimensional_rings():
    t = topo(8, "torus3d", dims=[2, 2, 2])
    assert t.axes([0, 1, 2, 3]) == [[(0, 1), (2, 3)], [(0, 2), (1, 3)]]  # x and y; z not spanned
    assert t.axes(range(8)) == [[(0, 1), (2, 3), (4, 5), (6, 7)], [(0, 2), (1, 3), (4, 6), (5, 7)],
                                [(0, 4), (1, 5), (2, 6), (3, 7)]]
    assert t.axes([0, 1, 2]) is None  # not a full sub-grid
    assert topo(8, "ring").axes(range(8)) is None and topo(8, "switch").axes(range(8)) is None
    big = topo(64, "torus3d", dims=[4, 4, 4])
    rings = big.axes([0, 16, 32, 48])  # one z column
    assert rings == [[(0, 16, 32, 48)]]


def test_the_topology_registry_builds_every_kind_the_config_accepts():
    assert set(TOPOLOGY_KINDS) == set(TOPOLOGIES)
    assert [kind for kind, entry in TOPOLOGY_KINDS.items() if entry.switch] == ["switch"]


def test_a_system_file_builds_the_same_links_as_its_chip_layout_twin():
    twin = load_chip(Path(__file__).resolve().parents[2] / "configs" / "examples" / "tpu_v4_2x2x2_system.yaml")
    old, new = load_chip("tpu_v4_2x2x2").system, twin.system
    assert build_topology(old, 1e9).links == build_topology(new, 1e9).links
