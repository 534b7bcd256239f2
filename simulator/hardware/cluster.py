"""Two-level systems: nodes of chips (each one node's topology: NVSwitch, a torus, …) joined by a scale-out
network of NICs and switches (hardware/scale_out.py).

Node ids, in this order: the chips 0 … C−1, node n holding chips n·k … n·k + k − 1 (k = chips per node); each
node's own switch, C + n, where the node's topology has one; the NICs, only where several chips share one
(NIC j of node n is one node); the leaf switches; the spine. Links, in this order: node 0's links as its own
topology lists them, node 1's, …; then per chip (or shared NIC) its port to its leaf and back; then per leaf
its link to the spine and back (none with one leaf). A NIC port carries `nic.bandwidth × efficiency` per
direction (a chip's link to a shared NIC the same); a leaf's uplink the rate of its NIC ports over the
oversubscription. With oversubscription 1 no uplink can limit a flow (it carries at least what its ports can
feed it), so it is marked not binding (Link.binding) and the fluid network leaves it out of the sharing.

Routes: inside a node, the node's own route; between nodes, chip → (its NIC →) its leaf → (the spine → the
other leaf →) (the NIC →) chip. A message between nodes waits `nic.latency` once (NIC to NIC, its switch
hops included) and counts as one hop; inside a node it waits what the node's topology says.
"""

from dataclasses import dataclass, field
from functools import cached_property

from simulator.config.schema import SystemConfig
from simulator.hardware.scale_out import SCALE_OUT_KINDS
from simulator.hardware.topology import TOPOLOGY_KINDS, Link, Topology, _canonical_key, build_node


@dataclass(frozen=True, eq=False)
class Cluster(Topology):
    node: Topology = None  # one node's topology (chips 0 … k−1), the same for every node
    scale_out: str = ""  # the scale-out kind (SCALE_OUT_KINDS)
    nics: int = 1  # per node
    nic_latency: int = 0  # cycles, NIC to NIC
    first_leaf: int = 0  # node id of leaf 0; the spine is the last node
    up: tuple[tuple[int, ...], ...] = ()  # per chip: its links from the chip to its leaf
    down: tuple[tuple[int, ...], ...] = ()  # per chip: its links from its leaf to the chip
    leaf: tuple[int, ...] = ()  # per chip: its leaf's index
    leaf_up: tuple[int, ...] = ()  # per leaf: its link to the spine (none with one leaf)
    leaf_down: tuple[int, ...] = ()
    _routes_cache: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (f"Cluster({self.chips} chips: {self.nodes} nodes of {self.node.chips} on {self.node.kind}, "
                f"{self.nics} NICs each, {self.scale_out})")

    @property
    def nodes(self) -> int:
        return self.chips // self.node.chips

    @property
    def switch(self) -> int | None:
        return None  # no one switch joins every chip

    @cached_property
    def _leaves(self) -> int:
        return len(set(self.leaf))

    @cached_property
    def _node_switch(self) -> bool:
        return self.node.switch is not None

    def node_of(self, chip: int) -> int:
        return chip // self.node.chips if chip < self.chips else chip - self.chips

    def switch_of(self, chip: int) -> int | None:
        return self.chips + self.node_of(chip) if self._node_switch else None

    def node_name(self, node: int) -> str:
        if node < self.chips:
            return str(node)
        if self._node_switch and node < self.chips + self.nodes:
            return f"switch{node - self.chips}"
        spine = self.first_leaf + self._leaves
        if node >= spine:
            return "spine"
        if node >= self.first_leaf:
            return f"leaf{node - self.first_leaf}"
        first_nic = self.chips + (self.nodes if self._node_switch else 0)
        n, j = divmod(node - first_nic, self.nics)
        return f"nic{n}.{j}"

    # routes ----------------------------------------------------------------------------------------

    def _local(self, node: int) -> int:
        """Local id of a chip or node switch within its node."""
        return node % self.node.chips if node < self.chips else self.node.chips

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        key = (src, dst)
        found = self._routes_cache.get(key)
        if found is None:
            top = self.chips + (self.nodes if self._node_switch else 0)
            if not (0 <= src < top and 0 <= dst < top):
                raise ValueError(f"route {src} → {dst}: chips and node switches are 0..{top - 1}")
            a, b = self.node_of(src), self.node_of(dst)
            if src == dst:
                found = ()
            elif a == b:
                base = a * len(self.node.links)
                found = tuple(base + i for i in self.node.route(self._local(src), self._local(dst)))
            elif src >= self.chips or dst >= self.chips:
                raise ValueError(f"route {src} → {dst}: a node's switch reaches its own node's chips only")
            else:
                across = () if self.leaf[src] == self.leaf[dst] else (self.leaf_up[self.leaf[src]],
                                                                       self.leaf_down[self.leaf[dst]])
                found = self.up[src] + across + self.down[dst]
            self._routes_cache[key] = found
        return found

    def hops(self, src: int, dst: int) -> int:
        if self.node_of(src) == self.node_of(dst):
            return self.node.hops(self._local(src), self._local(dst))
        return 1

    def latency(self, src: int, dst: int) -> int:
        if self.node_of(src) == self.node_of(dst):
            return self.node.latency(self._local(src), self._local(dst))
        return self.nic_latency

    # groups ----------------------------------------------------------------------------------------

    def coords(self, chip: int) -> tuple[int, ...]:
        """The chip's position in its node's topology."""
        return self.node.coords(chip % self.node.chips)

    def _in_one_node(self, group) -> int | None:
        nodes = {self.node_of(c) for c in group}
        return nodes.pop() if len(nodes) == 1 and all(0 <= c < self.chips for c in group) else None

    def axes(self, group):
        n = self._in_one_node(group)
        if n is None:
            return None
        local = self.node.axes([c % self.node.chips for c in group])
        base = n * self.node.chips
        return None if local is None else [[tuple(base + c for c in ring) for ring in rings] for rings in local]

    def ring(self, group) -> tuple[int, ...]:
        n = self._in_one_node(group)
        if n is None:
            return tuple(group)
        base = n * self.node.chips
        return tuple(base + c for c in self.node.ring([c % self.node.chips for c in group]))

    def footprint(self, group) -> frozenset[int]:
        """Per node holding ≥ 2 of the group's chips, the node's footprint of them; across nodes, each chip's
        NIC links and, where the group spans leaves on binding uplinks, those uplinks."""
        k, per = self.node.chips, len(self.node.links)
        by_node: dict[int, list[int]] = {}
        for c in set(group):
            by_node.setdefault(c // k, []).append(c)
        out: set[int] = set()
        for n, members in by_node.items():
            if len(members) > 1:
                out.update(n * per + i for i in self.node.footprint([c - n * k for c in members]))
        if len(by_node) > 1:
            up, down = self.up, self.down
            for members in by_node.values():
                for c in members:
                    out.update(up[c])
                    out.update(down[c])
            if self._binding_uplinks:
                leaves = {self.leaf[c] for c in group}
                if len(leaves) > 1:
                    out.update(self.leaf_up[j] for j in leaves)
                    out.update(self.leaf_down[j] for j in leaves)
        binding = self.binding
        return frozenset(i for i in out if binding[i])

    @cached_property
    def _binding_uplinks(self) -> bool:
        return bool(self.leaf_up) and self.links[self.leaf_up[0]].binding

    @cached_property
    def _alike(self) -> bool:
        """Every chip of a node alike (a switch, a full mesh): a node's chips may be swapped."""
        return TOPOLOGY_KINDS[self.node.kind].key is _canonical_key

    def symmetry_key(self, chips) -> tuple:
        """Per chip: which of the list's chips it is (in nodes whose topology has every chip alike) or its
        position in its node; which of the list's nodes it is in; and across nodes which NIC and which leaf
        it reaches (shared NICs, rails) and, on binding uplinks, that leaf's uplink rate."""
        k, per_nic, leaf_of = self.node.chips, self.node.chips // self.nics, self.leaf
        nodes: dict[int, int] = {}
        node_ids = [nodes.setdefault(c // k, len(nodes)) for c in chips]
        first: dict[int, int] = {}
        where = [first.setdefault(c, len(first)) for c in chips] if self._alike else [c % k for c in chips]
        if len(nodes) == 1:
            return ("cluster", self.node.kind, self.node.dims, k, tuple(where))
        nic: dict[int, int] = {}
        leaf: dict[int, int] = {}
        out = tuple(zip(where, node_ids, [nic.setdefault(c // per_nic, len(nic)) for c in chips],
                        [leaf.setdefault(leaf_of[c], len(leaf)) for c in chips], strict=True))
        rates = ()
        if len(leaf) > 1 and self._binding_uplinks:
            rates = tuple(self.links[self.leaf_up[j]].bytes_per_cycle for j in leaf)
        return ("cluster", self.node.kind, self.node.dims, k, self.nics, out, rates)


def build_cluster(system: SystemConfig, clock_hz: float) -> Cluster:
    """`system`'s nodes, each `system`'s topology of chips_per_node chips, on its scale-out network."""
    out = system.scale_out
    node = build_node(system, out.chips_per_node, clock_hz)
    k, nodes, nics = node.chips, system.chips // out.chips_per_node, out.nics_per_node
    per_nic, chips = k // nics, system.chips
    kind = SCALE_OUT_KINDS[out.topology]
    links: list[Link] = []

    def add(src: int, dst: int, peak: float, efficiency: float, binding: bool = True) -> int:
        links.append(Link(len(links), src, dst, peak * efficiency, peak, binding))
        return len(links) - 1

    switch = node.switch is not None
    for n in range(nodes):
        ids = lambda local, n=n: n * k + local if local < k else chips + n  # noqa: E731 — a chip or the switch
        for link in node.links:
            links.append(Link(len(links), ids(link.src), ids(link.dst), link.bytes_per_cycle,
                              link.peak_bytes_per_cycle))
    first_nic = chips + (nodes if switch else 0)
    first_leaf = first_nic + (nodes * nics if per_nic > 1 else 0)
    leaves = kind.leaves(nodes, nics, out.nodes_per_leaf)
    spine = first_leaf + leaves
    port = out.nic.bandwidth.bytes_per_cycle(clock_hz)
    eff = out.nic.efficiency
    nic_leaf = [kind.leaf(n, j, nics, out.nodes_per_leaf) for n in range(nodes) for j in range(nics)]
    up, down = [()] * chips, [()] * chips
    if per_nic > 1:  # each chip's link to its NIC, then each NIC's port
        for c in range(chips):
            nic = first_nic + c // per_nic
            up[c], down[c] = (add(c, nic, port, eff),), (add(nic, c, port, eff),)
        for g, j in enumerate(nic_leaf):
            to, back = add(first_nic + g, first_leaf + j, port, eff), add(first_leaf + j, first_nic + g, port, eff)
            for c in range(g * per_nic, (g + 1) * per_nic):
                up[c], down[c] = up[c] + (to,), (back,) + down[c]
    else:
        for c in range(chips):
            j = nic_leaf[c]
            up[c], down[c] = (add(c, first_leaf + j, port, eff),), (add(first_leaf + j, c, port, eff),)
    ports = [0] * leaves
    for j in nic_leaf:
        ports[j] += 1
    leaf_up, leaf_down = [], []
    if leaves > 1:
        binding = out.oversubscription > 1
        for j in range(leaves):
            rate = ports[j] * port / out.oversubscription
            leaf_up.append(add(first_leaf + j, spine, rate, eff, binding))
            leaf_down.append(add(spine, first_leaf + j, rate, eff, binding))
    return Cluster(chips, node.kind, node.dims, tuple(links), node.hop_latency, node.wraparound, node.placement,
                   node=node, scale_out=out.topology, nics=nics, nic_latency=out.nic.latency.cycles(clock_hz),
                   first_leaf=first_leaf, up=tuple(up), down=tuple(down),
                   leaf=tuple(nic_leaf[c // per_nic] for c in range(chips)), leaf_up=tuple(leaf_up),
                   leaf_down=tuple(leaf_down))
