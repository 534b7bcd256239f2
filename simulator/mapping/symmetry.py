"""Symmetric groups simulated once: which messages stand for all of a block's collectives, exactly.

Every chip of a stage runs the same program, so every group of a collective starts it at the same moment.
Two facts make most of those groups redundant:

1. **Independence.** Groups whose footprints (the binding links any message among their chips can cross,
   Topology.footprint) are disjoint never share a link that limits a flow, so in the fluid network
   (engine/network.py) each one's messages move as if the others were not there. The groups of all the
   block's collectives fall into components: groups joined by a shared link, directly or through others.
2. **Sameness.** Components whose chips sit alike (Topology.symmetry_key of their chips, the same
   collectives on the same positions) are carried onto each other, route onto route of the same rates
   and latencies, by a map of chips; started together, they run the same messages at the same cycles.

So one component per class is simulated and stands for the rest: its messages are what the engine runs,
and every collective ends when the representative's last message lands. Within a representative, a
collective that is one ring in one direction (collectives.ring_order) on links that treat every position
of the ring alike — every position's route has its own binding links, with the same least rate and the same
latency — is simulated as its quotient: position 0's messages only, each step waiting for the one before.
Every position then sees the same flows on its links at the same times (each step's messages of every
ring of the component start together and share only their own position's links), so position 0's time is
every position's. This needs every collective of the component to ring over the same order.

Link bytes are every group's: the representative's bytes per (sender, receiver) pair, carried onto each
member component's chips and routed there. Nothing here is a closed form; the fluid network times what
it is given.
"""

import weakref
from dataclasses import dataclass

import numpy as np

from simulator.hardware.topology import Topology
from simulator.ir.program import Message
from simulator.mapping.collectives import collective_messages, memo_of, remember, ring_order

# Per topology: components and keys of a tuple of groups, and the routes of a class's pairs on its members.
_MEMO: "weakref.WeakKeyDictionary[Topology, dict]" = weakref.WeakKeyDictionary()


class LinkBytes(tuple):
    """(link, bytes) pairs, by link, as a tuple; `links`, `bytes` and `total` hold the same as arrays and a
    sum, for readers that add tens of thousands of them (engine/program.py)."""

    links: np.ndarray
    bytes: np.ndarray
    total: float

    @classmethod
    def of(cls, links: np.ndarray, nbytes: np.ndarray) -> "LinkBytes":
        out = cls(zip(links.tolist(), nbytes.tolist(), strict=True))
        out.links, out.bytes, out.total = links, nbytes, sum(nbytes.tolist())
        return out


@dataclass(frozen=True)
class Reduced:
    """One collective of a block after reduction."""

    messages: tuple[Message, ...]  # the representative components' messages (ring quotients where they apply)
    link_bytes: tuple[tuple[int, float], ...]  # (link, bytes) over every group's routes
    groups: int  # groups of more than one chip
    simulated: int  # of those, the groups whose messages are simulated
    quotient: int  # of those, the groups simulated as one ring position
    key: tuple = ()  # what the simulated messages are, up to a map of chips: equal keys, equal times


def reduce_block(topology: Topology, collectives, links: bool = True) -> list[Reduced]:
    """`collectives`: (kind, algorithm, groups, bytes) of one block (groups of one chip send nothing).
    `links=False` leaves link_bytes empty (timing needs only the messages)."""
    memo = memo_of(_MEMO, topology)
    whole = ("block", tuple((kind, algorithm, tuple(map(tuple, groups)), float(nbytes))
                            for kind, algorithm, groups, nbytes in collectives), links)
    found = memo.get(whole)
    if found is None:
        found = remember(memo, whole, _reduce(topology, memo, collectives, links))
    return found


def _reduce(topology: Topology, memo: dict, collectives, links: bool) -> list[Reduced]:
    distinct: dict[tuple, int] = {}
    uses = [[distinct.setdefault(tuple(g), len(distinct)) for g in groups if len(g) > 1]
            for _, _, groups, _ in collectives]
    groups = tuple(distinct)
    found = memo.get(("components", groups))
    if found is None:
        found = remember(memo, ("components", groups), _component_keys(topology, groups, memo))
    comp_of, comp_groups, comp_keys = found
    # per component its items (collective, group) in item order, and its class key
    items: list[list[tuple[int, int]]] = [[] for _ in comp_groups]
    for ci, mine in enumerate(uses):
        for gi in mine:
            items[comp_of[gi]].append((ci, gi))
    classes: dict[tuple, list[int]] = {}
    for k, comp in enumerate(items):
        where = {gi: n for n, gi in enumerate(comp_groups[k])}
        classes.setdefault((tuple((ci, where[gi]) for ci, gi in comp), comp_keys[k]), []).append(k)
    out = []
    for ci, (kind, algorithm, _, nbytes) in enumerate(collectives):
        simulated, quotient, keys = [], set(), []
        for key, members in classes.items():
            mine = [groups[gi] for cj, gi in items[members[0]] if cj == ci]
            if not mine:
                continue
            if _ring_quotient(topology, memo, collectives, [(cj, groups[gi]) for cj, gi in items[members[0]]]):
                quotient |= set(range(len(simulated), len(simulated) + len(mine)))
            keys.append((key, len(mine)))
            simulated += mine
        messages = collective_messages(kind, algorithm, simulated, nbytes, topology, frozenset(quotient))
        link_bytes = _link_bytes(topology, memo, kind, algorithm, nbytes, ci, classes, items, groups) if links else ()
        out.append(Reduced(messages, link_bytes, len(uses[ci]), len(simulated), len(quotient),
                           (kind, algorithm, float(nbytes), tuple(keys), tuple(sorted(quotient)))))
    return out


def _component_keys(topology: Topology, groups: tuple, memo: dict) -> tuple[list[int], list[list[int]], list[tuple]]:
    """Distinct groups joined by shared binding links: each group's component, each component's groups
    (in order) and the symmetry key of their chips."""
    parent = list(range(len(groups)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[int, int] = {}
    for i, group in enumerate(groups):
        footprint = memo.get(("footprint", group))
        if footprint is None:
            footprint = remember(memo, ("footprint", group), topology.footprint(group))
        for link in footprint:
            j = owner.setdefault(link, i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots: dict[int, int] = {}
    comp_of, comp_groups = [], []
    for i in range(len(groups)):
        k = roots.setdefault(find(i), len(roots))
        if k == len(comp_groups):
            comp_groups.append([])
        comp_groups[k].append(i)
        comp_of.append(k)
    keys = [(tuple(len(groups[i]) for i in comp), topology.symmetry_key([c for i in comp for c in groups[i]]))
            for comp in comp_groups]
    return comp_of, comp_groups, keys
def _ring_quotient(topology: Topology, memo: dict, collectives, component) -> bool:
    """Every collective of the component rings over one order whose positions the links treat alike."""
    orders = {ring_order(collectives[ci][0], collectives[ci][1], g, topology) for ci, g in component}
    if len(orders) != 1 or None in orders:
        return False
    (order,) = orders
    found = memo.get(("alike", order))
    return remember(memo, ("alike", order), alike_positions(topology, order)) if found is None else found


def alike_positions(topology: Topology, order) -> bool:
    """Each position's route to the next has binding links no other position's route has, and every route
    has the same least binding rate and the same latency."""
    seen: set[int] = set()
    shape = None
    for a, b in zip(order, order[1:] + order[:1], strict=True):
        route = [i for i in topology.route(a, b) if topology.links[i].binding]
        if not route or seen.intersection(route):
            return False
        seen.update(route)
        mine = (min(topology.links[i].bytes_per_cycle for i in route), topology.latency(a, b))
        if shape is None:
            shape = mine
        elif mine != shape:
            return False
    return True


def _link_bytes(topology: Topology, memo: dict, kind: str, algorithm: str, nbytes: float, ci: int, classes,
                items, groups) -> tuple[tuple[int, float], ...]:
    """Every group's bytes per link: per class, the representative's bytes per (sender, receiver) pair,
    carried onto each member component by the map of chips between them."""
    links, weights = [], []
    for members in classes.values():
        mine = [tuple(gi for cj, gi in items[k] if cj == ci) for k in members]
        if not mine[0]:
            continue
        pairs = _pair_bytes(topology, kind, algorithm, [groups[gi] for gi in mine[0]], nbytes)
        key = ("routes", tuple(pairs), tuple(c for gis in mine for gi in gis for c in groups[gi]), len(mine))
        routes = memo.get(key)
        if routes is None:
            onto = tuple(tuple(c for gi in gis for c in groups[gi]) for gis in mine)
            routes = remember(memo, key, _mapped_routes(topology, tuple(pairs), onto))
        links.append(routes[0])
        weights.append(np.fromiter(pairs.values(), float, len(pairs))[routes[1]])
    if not links:
        return LinkBytes.of(np.zeros(0, dtype=np.int64), np.zeros(0))
    used, where = np.unique(np.concatenate(links), return_inverse=True)
    return LinkBytes.of(used, np.bincount(where, weights=np.concatenate(weights)))


def _mapped_routes(topology: Topology, pairs: tuple, onto: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The links of every pair's route carried onto each member (its chips in the representative's order;
    the first is the representative), and which pair each link is of."""
    links, which = [], []
    rep = onto[0]
    for chips in onto:
        where = dict(zip(rep, chips, strict=True))
        for a, b in zip(rep, chips, strict=True):
            switch = topology.switch_of(a)
            if switch is not None:
                where[switch] = topology.switch_of(b)
        for p, (a, b) in enumerate(pairs):
            route = topology.route(where[a], where[b])
            links.extend(route)
            which.extend([p] * len(route))
    return np.asarray(links, dtype=np.int64), np.asarray(which, dtype=np.int64)


def _pair_bytes(topology: Topology, kind: str, algorithm: str, groups, nbytes: float) -> dict[tuple, float]:
    """Bytes each (sender, receiver) pair moves when `groups` run the collective. A ring-shaped DAG moves
    the same over every pair of its order (its quotient's bytes), without building every message."""
    out: dict[tuple, float] = {}
    for g in groups:
        order = ring_order(kind, algorithm, g, topology)
        if order is not None:
            per = sum(m.bytes for m in collective_messages(kind, algorithm, [g], nbytes, topology, {0}))
            for a, b in zip(order, order[1:] + order[:1], strict=True):
                out[(a, b)] = out.get((a, b), 0.0) + per
            continue
        for m in collective_messages(kind, algorithm, [g], nbytes, topology):
            out[(m.src, m.dst)] = out.get((m.src, m.dst), 0.0) + m.bytes
    return out
