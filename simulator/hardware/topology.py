"""The system's links as a graph in simulation units, with deterministic routes.

Collectives are modelled as messages over these links (mapping/collectives.py, engine/network.py), so
contention and hop counts come from the topology itself rather than from per-topology formulas. Node
ids: chips are 0..chips-1; the switch of a "switch" topology is node `chips`.

Topology kinds are a registry (TOPOLOGY_KINDS): each kind names the function that lists its links, the one
that routes a message over them, and the two that symmetric reuse reads (mapping/symmetry.py): a group's
footprint (every link a message between its chips can cross) and its symmetry key (equal for groups that
sit alike, so that a collective on either takes the same time on idle links). A new kind is an entry there
and its name in config/schema.py TOPOLOGIES. A System with a scale-out network is two levels: nodes of this
topology joined by NICs and switches (hardware/cluster.py, a Topology of its own).
"""

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from simulator.config.schema import NETWORK_FIELDS, PLACEMENT_AXES, SystemConfig

TORI = ("torus2d", "torus3d")


@dataclass(frozen=True)
class Link:
    """One direction of one connection (a bundle of `count` physical links)."""

    index: int
    src: int
    dst: int
    bytes_per_cycle: float  # what transfers reach: bandwidth × count × efficiency
    peak_bytes_per_cycle: float  # datasheet: bandwidth × count (utilization is reported against this)
    # False: the link can never be the one that limits a flow (its rate is at least the sum of the links that
    # feed it, as a non-blocking leaf's uplink), so the fluid network leaves it out of the sharing; it still
    # counts the bytes it carries.
    binding: bool = True


@dataclass(frozen=True)
class Protocol:
    """One wire protocol of the collective library (system.library.protocols), in simulation units."""

    name: str
    efficiency: float  # payload bytes per byte on the wire
    hop_cycles: int  # added to the link's latency on every hop
    base_cycles: int  # added once per collective
    max_rate: float | None  # payload bytes per cycle one chip's kernel reaches at most; None: no bound


@dataclass(frozen=True)
class Library:
    """system.library resolved at the chip clock: what mapping/collectives.py's `transport` reads."""

    name: str
    protocols: tuple[Protocol, ...]
    link_scale: float  # the library's share of the link's datasheet rate ÷ link.efficiency
    memory_passes: float  # HBM bytes per byte a reduction step receives
    channels: int | None
    switch_reduce: bool  # the switch can reduce: `auto` considers switch_reduce
    switch_efficiency: float


def library_of(system: SystemConfig, clock_hz: float) -> Library | None:
    lib = system.library
    if lib is None or system.link is None:
        return None
    protocols = tuple(Protocol(name, p.efficiency, p.latency.cycles(clock_hz), p.base.cycles(clock_hz),
                               None if p.max_rate is None else p.max_rate.bytes_per_cycle(clock_hz))
                      for name, p in lib.protocols.items())
    share = system.link.efficiency if lib.link_efficiency is None else lib.link_efficiency
    return Library(lib.name, protocols, share / system.link.efficiency, lib.reduction_memory_passes, lib.channels,
                   lib.switch_reduce, lib.switch_efficiency)


@dataclass(frozen=True, eq=False)  # identity hash: caches key on the topology object
class Topology:
    chips: int
    kind: str  # ring | torus2d | torus3d | switch | fully_connected | explicit | dragonfly
    dims: tuple[int, ...]  # torus axis sizes, x first; dragonfly (chips per group, groups); () otherwise
    links: tuple[Link, ...]
    hop_latency: int  # cycles per hop
    wraparound: bool = True  # torus: each axis closes into a ring (else it is a line)
    placement: tuple[str, ...] = PLACEMENT_AXES  # the system's rank order (system.placement), nearest first
    # The collective library's kernels (system.library: protocols, in-switch reduction); None: ideal transfers.
    library: "Library | None" = None
    # The chips' achievable HBM rate in bytes per cycle, where the builder was told it: it bounds a reduction's
    # rate (each reduced byte passes through HBM library.reduction_memory_passes times). None: no bound.
    memory_rate: float | None = None

    nodes = 1  # a one-level topology is one node (hardware/cluster.py has more)

    @property
    def switch(self) -> int | None:
        """The switch's node id, or None without one."""
        return self.chips if TOPOLOGY_KINDS[self.kind].switch else None

    @cached_property
    def rates(self) -> tuple[float, ...]:
        """Each link's bytes_per_cycle, by index."""
        return tuple(link.bytes_per_cycle for link in self.links)

    @cached_property
    def inbound(self) -> float:
        """Bytes per cycle all links into chip 0 reach together (what a collective can land on one chip)."""
        return sum(link.bytes_per_cycle for link in self.links if link.dst == 0)

    @cached_property
    def binding(self) -> tuple[bool, ...]:
        """Each link's `binding`, by index."""
        return tuple(link.binding for link in self.links)

    def switch_of(self, chip: int) -> int | None:
        """The switch of the node `chip` sits in, or None without one."""
        return self.switch

    def node_of(self, chip: int) -> int:
        return 0

    def node_name(self, node: int) -> str:
        """How tables name a node: the chip's number, or `switch`."""
        return "switch" if node >= self.chips else str(node)

    def footprint(self, group) -> frozenset[int]:
        """Binding links that a message between any two chips of `group` (or between one and its switch) can
        cross: a superset of what any collective of the group uses. Groups of disjoint footprints never
        share a link that limits a flow."""
        chips = sorted(set(group))
        if len(chips) < 2:
            return frozenset()
        links = TOPOLOGY_KINDS[self.kind].footprint(self, chips)
        return frozenset(i for i in links if self.links[i].binding)

    def symmetry_key(self, chips) -> tuple:
        """A key for the chips of one or more groups (their members in order, groups concatenated): equal keys
        mean a map of one list onto the other, member by member, that carries every route onto a route of
        links with the same rates and latencies. Collectives on such lists take the same time alone."""
        return (self.kind, self.dims, self.wraparound) + TOPOLOGY_KINDS[self.kind].key(self, list(chips))

    @cached_property
    def _link_of(self) -> dict[tuple[int, int], int]:
        return {(link.src, link.dst): link.index for link in self.links}

    @cached_property
    def _routes(self) -> dict[tuple[int, int], tuple[int, ...]]:
        return {}

    @cached_property
    def _grid(self) -> tuple[int, ...]:
        """Axis sizes that chips are laid out on: the torus dims, or one axis for a ring."""
        return (self.chips,) if self.kind == "ring" else self.dims

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        """Link indices a message from `src` to `dst` crosses, in order."""
        key = (src, dst)
        route = self._routes.get(key)
        if route is None:
            nodes = self.chips + (self.switch is not None)
            if not (0 <= src < nodes and 0 <= dst < nodes):
                raise ValueError(f"route {src} → {dst}: nodes are 0..{nodes - 1}")
            route = self._routes[key] = () if src == dst else self._find_route(src, dst)
        return route

    def _find_route(self, src: int, dst: int) -> tuple[int, ...]:
        return TOPOLOGY_KINDS[self.kind].route(self, src, dst)

    def _switch_route(self, src: int, dst: int) -> tuple[int, ...]:
        """Up to the switch and down from it (a route from or to the switch is one link)."""
        return tuple(self._link_of[hop] for hop in ((src, self.chips), (self.chips, dst)) if hop[0] != hop[1])

    def _direct_route(self, src: int, dst: int) -> tuple[int, ...]:
        return (self._link_of[(src, dst)],)

    def _grid_route(self, src: int, dst: int) -> tuple[int, ...]:
        """Dimension order (x, y, z), each axis the shortest way round; ties go +."""
        here, goal, route = list(self.coords(src)), self.coords(dst), []
        wrap = self.wraparound or self.kind == "ring"
        for axis, size in enumerate(self._grid):
            forward = (goal[axis] - here[axis]) % size
            if wrap:
                step, count = (1, forward) if forward <= size - forward else (-1, size - forward)
            else:
                step, count = (1 if goal[axis] >= here[axis] else -1), abs(goal[axis] - here[axis])
            for _ in range(count):
                before = self._chip(here)
                here[axis] = (here[axis] + step) % size
                route.append(self._link_of[(before, self._chip(here))])
        return tuple(route)

    def _dragonfly_route(self, src: int, dst: int) -> tuple[int, ...]:
        """Minimal dragonfly routing: inside a group the direct link; across groups a local hop to the chip
        holding the one global link between the two groups (if src is not it), the global hop, and a
        local hop from its far end to dst (if that is not dst): at most three hops."""
        size, groups = self.dims
        here, there = src // size, dst // size
        if here == there:
            return (self._link_of[(src, dst)],)
        out, there_port = _dragonfly_port(here, there, size, groups), _dragonfly_port(there, here, size, groups)
        hops = [(src, out)] if src != out else []
        hops.append((out, there_port))
        if there_port != dst:
            hops.append((there_port, dst))
        return tuple(self._link_of[h] for h in hops)

    def _bfs_route(self, src: int, dst: int) -> tuple[int, ...]:
        """Shortest path; where several exist, each step goes to the lowest-numbered next chip."""
        distance = self._distances_to(dst)
        assert src in distance, "SystemConfig refuses explicit links that leave a chip unconnected"
        route, here = [], src
        while here != dst:
            after = min(n for n in self._neighbours[here] if distance.get(n) == distance[here] - 1)
            route.append(self._link_of[(here, after)])
            here = after
        return tuple(route)

    @cached_property
    def _neighbours(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for link in self.links:
            out.setdefault(link.src, []).append(link.dst)
        return {node: sorted(ns) for node, ns in out.items()}

    def _distances_to(self, dst: int) -> dict[int, int]:
        distance, queue = {dst: 0}, deque([dst])
        while queue:  # links come in both directions, so distances to dst equal distances from it
            node = queue.popleft()
            for n in self._neighbours.get(node, ()):
                if n not in distance:
                    distance[n] = distance[node] + 1
                    queue.append(n)
        return distance

    def hops(self, src: int, dst: int) -> int:
        """Links crossed; through the switch (to it, from it, or across it) counts as one hop."""
        route = self.route(src, dst)
        return min(len(route), 1) if self.switch is not None else len(route)

    def latency(self, src: int, dst: int) -> int:
        return self.hops(src, dst) * self.hop_latency

    def coords(self, chip: int) -> tuple[int, ...]:
        """Position on the torus (x fastest: chip = x + X·(y + Y·z)); (chip,) elsewhere."""
        return _coords(chip, self._grid) if self._grid else (chip,)

    def _chip(self, coords) -> int:
        return _chip(coords, self._grid)

    def _subgrid(self, group) -> list[list[int]] | None:
        """Per-axis sorted coordinates if `group` is exactly their Cartesian product on a torus, else None."""
        group = list(group)
        if self.kind not in TORI or len(set(group)) != len(group) or not all(0 <= c < self.chips for c in group):
            return None
        points = [self.coords(c) for c in group]
        values = [sorted({p[a] for p in points}) for a in range(len(self.dims))]
        return values if math.prod(len(v) for v in values) == len(group) else None

    def axes(self, group) -> list[list[tuple[int, ...]]] | None:
        """For each torus axis the sub-grid `group` spans (>1 coordinate), its 1-D rings along that axis."""
        values = self._subgrid(group)
        if values is None:
            return None
        out = []
        for axis, along in enumerate(values):
            if len(along) < 2:
                continue
            others = [v if a != axis else [0] for a, v in enumerate(values)]
            rings = [tuple(self._chip(base[:axis] + (c,) + base[axis + 1:]) for c in along)
                     for base in itertools.product(*others)]
            out.append(sorted(rings))
        return out

    def ring(self, group) -> tuple[int, ...]:
        """An order of `group` in which consecutive members (and last → first) are neighbours where possible.

        On a torus sub-grid: the snake (boustrophedon) order, or a comb-shaped cycle if that closes the
        ring with fewer hops (a mesh has no wraparound to close the snake). Elsewhere the given order.
        """
        values = self._subgrid(group)
        if values is None:
            return tuple(group)
        spans = [v for v in values if len(v) > 1]
        lift = lambda idx: self._chip(_place(values, spans, idx))  # noqa: E731
        candidates = [tuple(lift(i) for i in _snake([len(v) for v in spans]))]
        for spine in range(len(spans)):
            comb = _comb([len(v) for v in spans], spine)
            if comb:
                candidates.append(tuple(lift(i) for i in comb))
        return min(candidates, key=self._cycle_hops)  # ties keep the snake

    def _cycle_hops(self, order) -> int:
        return sum(self.hops(a, b) for a, b in zip(order, order[1:] + order[:1], strict=True))


def _coords(chip: int, grid) -> tuple[int, ...]:
    out = []
    for size in grid:
        chip, c = divmod(chip, size)
        out.append(c)
    return tuple(out)


def _chip(coords, grid) -> int:
    chip = 0
    for size, c in zip(reversed(grid), reversed(coords), strict=True):
        chip = chip * size + c
    return chip


def _place(values, spans, idx) -> list[int]:
    """Torus coordinates of a point given by indices into the spanned axes' coordinate lists."""
    it = iter(idx)
    return [v[next(it)] if len(v) > 1 else v[0] for v in values]


def _snake(sizes: list[int]) -> list[tuple[int, ...]]:
    """Boustrophedon path over a grid, first axis fastest; consecutive points differ by 1 on one axis."""
    if not sizes:
        return [()]
    inner = _snake(sizes[:-1])
    return [p + (k,) for k in range(sizes[-1]) for p in (inner if k % 2 == 0 else inner[::-1])]


def _comb(sizes: list[int], spine: int) -> list[tuple[int, ...]] | None:
    """A Hamiltonian cycle of a grid without wraparound: along `spine` teeth, back along coordinate 0.

    Needs the other axes' snake path to have even length; None otherwise.
    """
    rest = _snake(sizes[:spine] + sizes[spine + 1:])
    if len(rest) < 2 or len(rest) % 2:
        return None
    put = lambda s, p: p[:spine] + (s,) + p[spine:]  # noqa: E731
    out = []
    for j, p in enumerate(rest):
        teeth = range(1, sizes[spine]) if j % 2 == 0 else range(sizes[spine] - 1, 0, -1)
        out += [put(s, p) for s in teeth]
    return [put(0, rest[0])] + out + [put(0, p) for p in reversed(rest[1:])]


def build_topology(system: SystemConfig, clock_hz: float, memory_rate: float | None = None) -> Topology:
    """Links of `system` at the chip clock: rates in bytes/cycle, the per-hop latency in cycles. With a
    scale-out network, the two-level Cluster of hardware/cluster.py (a Topology too). An equal system at the
    same clock gets the same (immutable) object back, so what was routed, reduced and timed on it carries
    over from run to run, as a chip's tile choices do (hardware.chip.stand_in). `memory_rate`: the chips'
    achievable HBM bytes per cycle, which bounds a reduction's rate (Topology.memory_rate)."""
    key = (repr(tuple(getattr(system, field) for field in NETWORK_FIELDS)), clock_hz, memory_rate)
    found = _BUILT.get(key)
    if found is None:
        if system.scale_out is not None and system.chips > system.scale_out.chips_per_node:
            from simulator.hardware.cluster import build_cluster  # it builds on this module

            found = build_cluster(system, clock_hz)
        else:
            found = build_node(system, system.node_chips, clock_hz, memory_rate)
        _BUILT[key] = found
        while len(_BUILT) > _KEEP:
            _BUILT.pop(next(iter(_BUILT)))
    return found


_BUILT: dict[tuple, Topology] = {}  # the last few systems built, oldest first
_KEEP = 8


def placement_order(system: SystemConfig) -> tuple[str, ...]:
    """system.placement, nearest chips first, the axes it leaves out after it in PLACEMENT_AXES order."""
    given = tuple(system.placement or ())
    return given + tuple(a for a in PLACEMENT_AXES if a not in given)


def build_node(system: SystemConfig, n: int, clock_hz: float, memory_rate: float | None = None) -> Topology:
    """`n` chips joined as `system`'s topology and link say (one node of a two-level system)."""
    link, order = system.link, placement_order(system)
    if n == 1 or link is None:
        return Topology(n, system.topology, tuple(system.dims or ()), (), 0, system.wraparound, order,
                        library_of(system, clock_hz), memory_rate)
    peak = link.bandwidth.bytes_per_cycle(clock_hz) * link.count
    pairs = TOPOLOGY_KINDS[system.topology].pairs(system if n == system.chips else
                                                  system.model_copy(update={"chips": n}))
    links = tuple(Link(i, a, b, peak * link.efficiency, peak) for i, (a, b) in enumerate(pairs))
    return Topology(n, system.topology, tuple(system.dims or ()), links, link.latency.cycles(clock_hz),
                    system.wraparound, order, library_of(system, clock_hz), memory_rate)


# ---- the kinds: which directed (src, dst) pairs are links, each once, in a fixed order; and how a message routes


def _switch_pairs(system: SystemConfig) -> list[tuple[int, int]]:
    n = system.chips
    return [(c, n) for c in range(n)] + [(n, c) for c in range(n)]


def _fully_connected_pairs(system: SystemConfig) -> list[tuple[int, int]]:
    n = system.chips
    return [(a, b) for a in range(n) for b in range(n) if a != b]


def _dragonfly_port(group: int, other: int, size: int, groups: int) -> int:
    """The chip of `group` that holds its global link to group `other`: by the offset of `other` (1 for the
    next group round, …), dealt round-robin over the group's `size` chips, so each chip holds ⌈(groups − 1) /
    size⌉ or one fewer, and moving every group on by one carries links onto links."""
    return group * size + ((other - group) % groups - 1) % size


def _dragonfly_pairs(system: SystemConfig) -> list[tuple[int, int]]:
    """Groups of dims[0] chips, each group a full mesh (local links), every two groups joined by one global
    link between the chips `_dragonfly_port` picks: Kim et al.'s dragonfly with one global link per group pair."""
    size, groups = system.dims
    out = [(g * size + a, g * size + b) for g in range(groups) for a in range(size) for b in range(size) if a != b]
    for x in range(groups):
        for y in range(groups):
            if x != y:
                out.append((_dragonfly_port(x, y, size, groups), _dragonfly_port(y, x, size, groups)))
    return list(dict.fromkeys(out))


def _explicit_pairs(system: SystemConfig) -> list[tuple[int, int]]:
    out = []
    for a, b in system.links:
        out += [(a, b), (b, a)]
    return list(dict.fromkeys(out))


def _grid_pairs(system: SystemConfig) -> list[tuple[int, int]]:
    """Ring and tori: each chip to its neighbour one step forward and back along every axis."""
    n, kind = system.chips, system.topology
    grid = (n,) if kind == "ring" else tuple(system.dims)
    wrap = system.wraparound or kind == "ring"
    out = []
    for chip in range(n):
        here = _coords(chip, grid)
        for axis, size in enumerate(grid):
            for step in (1, -1):
                c = here[axis] + step
                if not wrap and not 0 <= c < size:
                    continue
                other = _chip(here[:axis] + (c % size,) + here[axis + 1:], grid)
                if other != chip:
                    out.append((chip, other))
    return list(dict.fromkeys(out))


# ---- symmetric reuse: each kind's footprint of a group and its symmetry key


def _switch_footprint(t: Topology, chips) -> set[int]:
    """Each chip's uplink and downlink: every route is chip → switch → chip."""
    return {t._link_of[(c, t.chips)] for c in chips} | {t._link_of[(t.chips, c)] for c in chips}


def _pairs_footprint(t: Topology, chips) -> set[int]:
    """Every pair's route (fully_connected, explicit: small systems)."""
    return {link for a in chips for b in chips if a != b for link in t.route(a, b)}


def _grid_footprint(t: Topology, chips) -> set[int]:
    """Dimension-order routes move along an axis only where the group has several coordinates, and only on
    lines through the group's coordinates of the other axes: all links of those lines."""
    values = [sorted({t.coords(c)[a] for c in chips}) for a in range(len(t._grid))]
    out = set()
    for axis, along in enumerate(values):
        if len(along) < 2:
            continue
        others = [v if a != axis else [0] for a, v in enumerate(values)]
        for base in itertools.product(*others):
            line = [t._chip(base[:axis] + (c,) + base[axis + 1:]) for c in range(t._grid[axis])]
            for a, b in zip(line, line[1:] + line[:1], strict=True):
                out |= {t._link_of[pair] for pair in ((a, b), (b, a)) if pair in t._link_of}
    return out


def _canonical_key(t: Topology, chips) -> tuple:
    """Every chip alike (a switch, a full mesh): only which members are the same chip matters."""
    first: dict[int, int] = {}
    return tuple(first.setdefault(c, len(first)) for c in chips)


def _relative_key(t: Topology, chips) -> tuple:
    """Routes on a torus (and on a mesh, inside it) are the same after a translation: positions relative to
    the lowest coordinate of each axis."""
    points = [t.coords(c) for c in chips]
    low = [min(p[a] for p in points) for a in range(len(points[0]))] if points else []
    return tuple(tuple(p[a] - low[a] for a in range(len(low))) for p in points)


def _dragonfly_key(t: Topology, chips) -> tuple:
    """Minimal routes stay inside the groups of their two ends, and every local and global link is alike, so
    lists whose members sit at the same positions in their groups, the groups numbered by first appearance,
    and whose groups hold their global links (to each other) at the same positions, are carried onto each
    other by mapping group onto group, position kept."""
    size, count = t.dims
    order: dict[int, int] = {}
    members = tuple((order.setdefault(c // size, len(order)), c % size) for c in chips)
    groups = sorted(order, key=order.get)
    ports = tuple(_dragonfly_port(x, y, size, count) % size for x in groups for y in groups if x != y)
    return members + (ports,)


def _exact_key(t: Topology, chips) -> tuple:
    return tuple(chips)


@dataclass(frozen=True)
class TopologyKind:
    pairs: Callable[[SystemConfig], list[tuple[int, int]]]  # the directed links, each once, in a fixed order
    route: Callable[[Topology, int, int], tuple[int, ...]]  # link indices from src to dst (src != dst)
    footprint: Callable[[Topology, list[int]], set[int]] = _pairs_footprint  # links among ≥ 2 distinct chips
    key: Callable[[Topology, list[int]], tuple] = _exact_key  # symmetry key of a list of chips
    switch: bool = False  # a switch node, numbered `chips`, that every route crosses as one hop


TOPOLOGY_KINDS: dict[str, TopologyKind] = {
    "ring": TopologyKind(_grid_pairs, Topology._grid_route, _grid_footprint, _relative_key),
    "torus2d": TopologyKind(_grid_pairs, Topology._grid_route, _grid_footprint, _relative_key),
    "torus3d": TopologyKind(_grid_pairs, Topology._grid_route, _grid_footprint, _relative_key),
    "switch": TopologyKind(_switch_pairs, Topology._switch_route, _switch_footprint, _canonical_key, switch=True),
    "fully_connected": TopologyKind(_fully_connected_pairs, Topology._direct_route, key=_canonical_key),
    "explicit": TopologyKind(_explicit_pairs, Topology._bfs_route),
    "dragonfly": TopologyKind(_dragonfly_pairs, Topology._dragonfly_route, key=_dragonfly_key),
}
