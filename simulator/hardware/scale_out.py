"""Scale-out networks: which leaf switch each NIC of each node is cabled to (the registry of scale-out kinds).

Every kind is two tiers of switches: the NICs on leaf switches, the leaves joined through a spine. The spine
(and any core layer above it) is one node whose link to each leaf carries that leaf's whole uplink rate: a
fat tree spreads flows over its spine switches evenly (ECMP), which a fluid model takes as one switch. A
leaf's uplink carries the rate of its NIC ports over `oversubscription` (1: non-blocking). hardware/cluster.py
builds the links and routes; a kind here only says how many leaves there are and where each NIC goes. A new
kind is an entry in SCALE_OUT_KINDS and its name in config/schema.py SCALE_OUT_TOPOLOGIES.

- `rail_optimized` (NVIDIA DGX SuperPOD): the nodes come in scalable units of `nodes_per_leaf`; NIC r of every
  node of a unit is on that unit's leaf r (its rail). NICs of one rail in one unit are one leaf apart; any
  other pair crosses the spine.
- `fat_tree`: every NIC of `nodes_per_leaf` consecutive nodes is on one leaf.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleOutKind:
    leaves: Callable[[int, int, int], int]  # (nodes, nics per node, nodes per leaf) → leaf switches
    leaf: Callable[[int, int, int, int], int]  # (node, its NIC, nics per node, nodes per leaf) → the NIC's leaf


def _units(nodes: int, per_leaf: int) -> int:
    return -(-nodes // per_leaf)


SCALE_OUT_KINDS: dict[str, ScaleOutKind] = {
    "rail_optimized": ScaleOutKind(lambda nodes, nics, per: _units(nodes, per) * nics,
                                   lambda node, nic, nics, per: (node // per) * nics + nic),
    "fat_tree": ScaleOutKind(lambda nodes, nics, per: _units(nodes, per),
                             lambda node, nic, nics, per: node // per),
}
