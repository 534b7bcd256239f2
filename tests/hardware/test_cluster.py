"""Two-level systems (hardware/cluster.py): node ids, link counts and rates, routes inside and between nodes,
rails and leaves, binding uplinks, and the footprints and symmetry keys that symmetric reuse reads."""

import itertools

import pytest

from simulator.config.schema import SCALE_OUT_TOPOLOGIES, SystemConfig
from simulator.hardware.cluster import Cluster
from simulator.hardware.scale_out import SCALE_OUT_KINDS
from simulator.hardware.topology import build_topology

NVLINK = {"bandwidth": "100 GB/s", "latency": "1 us"}  # 100 B/cycle, 1000 cycles at 1 GHz
NIC = {"bandwidth": "50 GB/s", "latency": "5 us"}  # 50 B/cycle, 5000 cycles


def cluster(chips=32, per_node=8, **scale_out) -> Cluster:
    out = {"chips_per_node": per_node, "nic": NIC, "nodes_per_leaf": 2} | scale_out
    return build_topology(SystemConfig(chips=chips, link=NVLINK, scale_out=out), 1e9)


def ends(t, route):
    return [(t.node_name(t.links[i].src), t.node_name(t.links[i].dst)) for i in route]


def test_the_registry_and_the_schema_name_the_same_kinds():
    assert set(SCALE_OUT_KINDS) == set(SCALE_OUT_TOPOLOGIES)


def test_links_of_a_rail_optimized_cluster():
    """4 nodes of 8 on NVSwitch: 4 × 16 switch links; 32 chips × 2 NIC links; 2 units × 8 rails = 16 leaves,
    each with a link to the spine and back."""
    t = cluster()
    assert isinstance(t, Cluster) and t.nodes == 4 and t.chips == 32
    assert len(t.links) == 4 * 16 + 32 * 2 + 16 * 2
    assert [link.index for link in t.links] == list(range(len(t.links)))
    assert len({(link.src, link.dst) for link in t.links}) == len(t.links)
    nic = [link for link in t.links if link.src < 32 and t.node_name(link.dst).startswith("leaf")]
    assert len(nic) == 32 and all(link.bytes_per_cycle == link.peak_bytes_per_cycle == 50 for link in nic)


def test_the_build_is_deterministic_and_equal_systems_share_one_object():
    a = cluster()
    b = build_topology(SystemConfig(chips=32, link=NVLINK, scale_out={"chips_per_node": 8, "nic": NIC,
                                                                        "nodes_per_leaf": 2}), 1e9)
    assert a is b
    c = build_topology(SystemConfig(chips=32, link=NVLINK, scale_out={"chips_per_node": 8, "nic": NIC,
                                                                        "nodes_per_leaf": 2}), 2e9)
    assert c is not a and [(x.src, x.dst) for x in c.links] == [(x.src, x.dst) for x in a.links]


def test_routes_inside_a_node_are_the_node_topology_and_cost_its_latency():
    t = cluster()
    assert ends(t, t.route(9, 12)) == [("9", "switch1"), ("switch1", "12")]
    assert t.latency(9, 12) == 1000 and t.hops(9, 12) == 1
    assert ends(t, t.route(t.switch_of(9), 12)) == [("switch1", "12")]


def test_rails_one_leaf_apart_and_everything_else_through_the_spine():
    """Rail r of nodes 0 and 1 (one unit of 2 nodes) shares leaf r; another unit or another rail crosses the
    spine. Every route between nodes waits the NIC latency once."""
    t = cluster()
    assert ends(t, t.route(3, 11)) == [("3", "leaf3"), ("leaf3", "11")]
    assert ends(t, t.route(3, 19)) == [("3", "leaf3"), ("leaf3", "spine"), ("spine", "leaf11"), ("leaf11", "19")]
    assert ends(t, t.route(3, 12)) == [("3", "leaf3"), ("leaf3", "spine"), ("spine", "leaf4"), ("leaf4", "12")]
    assert {t.latency(a, b) for a, b in ((3, 11), (3, 19), (3, 12))} == {5000}


def test_a_fat_tree_puts_a_nodes_nics_on_one_leaf_and_shared_nics_are_nodes():
    t = cluster(topology="fat_tree", nics=4, oversubscription=2)
    # 2 chips per NIC: chip → NIC → leaf; 2 nodes per leaf, so nodes 0, 1 share leaf 0
    assert ends(t, t.route(0, 9)) == [("0", "nic0.0"), ("nic0.0", "leaf0"), ("leaf0", "nic1.0"), ("nic1.0", "9")]
    assert ends(t, t.route(1, 16))[2:4] == [("leaf0", "spine"), ("spine", "leaf1")]
    uplink = t.links[t.leaf_up[0]]
    assert uplink.binding and uplink.bytes_per_cycle == 2 * 4 * 50 / 2  # 8 NIC ports at 2:1


def test_a_non_blocking_uplink_is_not_binding():
    t = cluster()
    assert not any(t.links[i].binding for i in t.leaf_up + t.leaf_down)
    assert all(link.binding for link in t.links if link.index not in t.leaf_up + t.leaf_down)
    assert t.links[t.leaf_up[0]].bytes_per_cycle == 2 * 50  # 2 nodes × one NIC per rail


def test_every_route_is_a_path_between_its_ends():
    t = cluster(topology="fat_tree", nics=2, oversubscription=4)
    for a, b in itertools.permutations(range(0, 32, 3), 2):
        route = t.route(a, b)
        hops = [(t.links[i].src, t.links[i].dst) for i in route]
        assert hops[0][0] == a and hops[-1][1] == b
        assert all(x[1] == y[0] for x, y in zip(hops, hops[1:], strict=False))


def test_group_queries_inside_one_node_delegate_to_the_node():
    t = cluster()
    assert t.ring([10, 8, 9]) == (10, 8, 9)
    assert t.axes([8, 9]) is None and t.switch is None
    assert t.ring([0, 8, 16]) == (0, 8, 16)  # across nodes: the group's own order


def test_footprints_keep_rails_apart_and_nodes_apart():
    t = cluster()
    rails = [t.footprint([r, 8 + r, 16 + r, 24 + r]) for r in range(8)]
    assert all(not (a & b) for a, b in itertools.combinations(rails, 2))
    nodes = [t.footprint(range(8 * n, 8 * n + 8)) for n in range(4)]
    assert all(not (a & b) for a, b in itertools.combinations(nodes, 2))
    assert not any(a & b for a in rails for b in nodes)  # NIC links vs NVSwitch links


def test_binding_uplinks_join_the_footprints_of_rails_that_cross_the_spine():
    t = cluster(topology="fat_tree", oversubscription=2)
    assert t.footprint([0, 16]) & t.footprint([1, 17])  # the same leaves' uplinks


def test_symmetry_keys_of_translated_groups_agree_and_of_other_shapes_differ():
    t = cluster()
    assert t.symmetry_key(range(8)) == t.symmetry_key(range(8, 16))  # a node is a node
    assert t.symmetry_key([0, 16]) == t.symmetry_key([5, 21])  # another rail, the same units
    assert t.symmetry_key([0, 8]) != t.symmetry_key([0, 16])  # one leaf against two
    assert t.symmetry_key([0, 1, 8, 9]) != t.symmetry_key([0, 8, 1, 9])


@pytest.mark.parametrize("bad", [{"chips": 20}, {"scale_out": {"chips_per_node": 8, "nics": 3, "nic": NIC}}])
def test_nodes_must_be_whole(bad):
    with pytest.raises(ValueError):
        SystemConfig(**({"chips": 32, "link": NVLINK, "scale_out": {"chips_per_node": 8, "nic": NIC}} | bad))
