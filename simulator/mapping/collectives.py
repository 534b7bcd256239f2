"""Collectives as DAGs of point-to-point messages, never as closed-form cost formulas.

The network (engine/network.py) then times the messages over the actual links, so contention between
concurrent groups, hop counts and link sharing come out of the simulation instead of assumptions.

On a two-level system (hardware/cluster.py) a group that spans nodes runs `hierarchical` under `auto`, as
NCCL does between nodes: a reduce-scatter inside each node, the reduction between nodes over the NICs (one
ring per local rank, each on its own rail), an all-gather inside each node; `double_tree` runs the middle phase on
NCCL's double binary tree instead. The flat `ring` over the whole group stays available by name.
"""

import weakref
from dataclasses import dataclass

from simulator.hardware.topology import Protocol, Topology
from simulator.ir.program import Message

ALGORITHMS = {
    "all_reduce": ("ring", "bidir_ring", "torus", "direct", "switch_reduce", "hierarchical", "double_tree"),
    "reduce_scatter": ("ring", "bidir_ring", "torus", "direct", "hierarchical"),
    "all_gather": ("ring", "bidir_ring", "torus", "direct", "hierarchical"),
    "all_to_all": ("direct",),
    "send": ("direct",),
}
# What `collectives: auto` chooses from: the bandwidth-optimal schedules collective libraries run by
# default (NCCL's ring, XLA's torus). The one-shot `direct` (custom small-message all-reduce kernels)
# and in-switch `switch_reduce` (NVLink SHARP) need hardware or software support, so they are opt-in.
# A group that spans nodes takes `hierarchical` without a trial (SPANNING).
AUTO = {"all_reduce": ("ring", "bidir_ring", "torus"), "reduce_scatter": ("ring", "bidir_ring", "torus"),
        "all_gather": ("ring", "bidir_ring", "torus"), "all_to_all": ("direct",), "send": ("direct",)}
# On a full mesh (`fully_connected`: every pair of chips has a link of its own) the one-shot `direct` schedule
# drives all p − 1 links of every chip at once, where a ring drives one: `auto` times it there too. (RCCL gets
# the same from MI300X's XGMI mesh by running many rings at once over different links.)
FULL_MESH = {"all_reduce": ("direct",), "reduce_scatter": ("direct",), "all_gather": ("direct",)}
SPANNING = {"all_reduce": ("hierarchical",), "reduce_scatter": ("hierarchical",), "all_gather": ("hierarchical",),
            "all_to_all": ("direct",), "send": ("direct",)}
SWITCH_CHUNKS = 8  # switch_reduce pipelines the buffer in this many chunks
TREE_CHUNKS = 8  # tree pipelines each half of the buffer in this many chunks up and down its tree


def memo_of(table: weakref.WeakKeyDictionary, topology) -> dict:
    """`topology`'s memo in `table`, kept as long as the topology; a fresh one for stand-ins that cannot be
    weakly referenced (tests' link-less namespaces)."""
    try:
        return table.setdefault(topology, {})
    except TypeError:
        return {}


def remember(memo: dict, key, value, keep: int = 65536):
    """`memo[key] = value`, dropping the oldest entries beyond `keep`; returns `value`."""
    memo[key] = value
    while len(memo) > keep:
        memo.pop(next(iter(memo)))
    return value


def node_members(topology: Topology, group) -> list[list[int]]:
    """The group's chips by node: nodes in order of first appearance, chips in group order."""
    out: dict[int, list[int]] = {}
    for c in group:
        out.setdefault(topology.node_of(c), []).append(c)
    return list(out.values())


def spans_nodes(topology: Topology, group) -> bool:
    return topology.nodes > 1 and len({topology.node_of(c) for c in group}) > 1


def applicable(kind: str, topology: Topology, group) -> tuple[str, ...]:
    """Algorithms that can run `kind` on `group`, in ALGORITHMS order."""
    group = tuple(group)
    memo = memo_of(_APPLICABLE, topology)
    found = memo.get((kind, group))
    if found is None:
        found = remember(memo, (kind, group), _applicable(kind, topology, group))
    return found


_APPLICABLE: "weakref.WeakKeyDictionary[Topology, dict]" = weakref.WeakKeyDictionary()


def _applicable(kind: str, topology: Topology, group: tuple) -> tuple[str, ...]:
    out = []
    spans = spans_nodes(topology, group)
    for name in ALGORITHMS[kind]:
        if name == "torus" and topology.axes(group) is None:
            continue
        if name == "switch_reduce" and (spans or topology.switch_of(group[0]) is None):
            continue
        if name in ("hierarchical", "double_tree") and not (spans and _regular(topology, group)):
            continue
        out.append(name)
    return tuple(out)


def auto_algorithms(kind: str, topology: Topology, groups) -> tuple[str, ...]:
    """The candidates `auto` times, in ALGORITHMS order, of those that apply to every group: SPANNING's where
    a group spans nodes (AUTO's where none of those applies, as for nodes holding unequal shares), else AUTO's
    (and FULL_MESH's on a fully_connected topology)."""
    def fitting(pool):
        return tuple(a for a in ALGORITHMS[kind] if a in pool and all(a in applicable(kind, topology, g)
                                                                     for g in groups))

    spans = any(spans_nodes(topology, g) for g in groups)
    mesh = FULL_MESH.get(kind, ()) if topology.kind == "fully_connected" else ()
    return (spans and fitting(SPANNING[kind])) or fitting(AUTO[kind] + mesh + in_switch(kind, topology))


def in_switch(kind: str, topology: Topology) -> tuple[str, ...]:
    """("switch_reduce",) for an all-reduce where the system says its switch reduces (system.library.
    switch_reduce: NVLink SHARP, NVLink4 and later), as NCCL adds NVLS to its candidates there."""
    library = topology.library
    return ("switch_reduce",) if kind == "all_reduce" and library is not None and library.switch_reduce else ()


def _regular(topology: Topology, group) -> bool:
    """Every node the group touches holds as many of its chips, each once."""
    members = node_members(topology, group)
    return len(set(group)) == len(group) and len({len(m) for m in members}) == 1


class _Dag:
    """Messages being built; `add` returns the new message's index."""

    def __init__(self):
        self.messages: list[Message] = []

    def add(self, src: int, dst: int, nbytes: float, deps=()) -> int:
        self.messages.append(Message(src, dst, nbytes, tuple(deps)))
        return len(self.messages) - 1


def collective_messages(kind: str, algorithm: str, groups, nbytes: float, topology: Topology,
                        quotient=()) -> tuple[Message, ...]:
    """The messages of `kind` run by every group in `groups` at the same time; `nbytes` is each chip's buffer
    (see CollectiveOp). A group of one chip sends nothing. A group whose index is in `quotient` runs as its
    ring quotient (`ring_order`, mapping/symmetry.py): only the messages its first ring position sends."""
    if kind not in ALGORITHMS or algorithm not in ALGORITHMS[kind]:
        raise ValueError(f"{kind} has no algorithm {algorithm!r}; it has {', '.join(ALGORITHMS.get(kind, ()))}")
    key = (kind, algorithm, tuple(map(tuple, groups)), float(nbytes), frozenset(quotient))
    memo = memo_of(_MESSAGES, topology)
    found = memo.get(key)
    if found is None:
        found = remember(memo, key, _messages(kind, algorithm, key[2], float(nbytes), topology, quotient), 4096)
    return found


_MESSAGES: "weakref.WeakKeyDictionary[Topology, dict]" = weakref.WeakKeyDictionary()


def _messages(kind: str, algorithm: str, groups, nbytes: float, topology: Topology, quotient) -> tuple[Message, ...]:
    dag = _Dag()
    for i, group in enumerate(groups):
        group = tuple(group)
        if len(group) < 2:
            continue
        if algorithm != "direct" and algorithm not in applicable(kind, topology, group):  # direct: any group
            raise ValueError(f"{algorithm} does not apply to {kind} on chips {group} of a {topology.kind} topology")
        if i in quotient:
            order = ring_order(kind, algorithm, group, topology)
            steps, piece = _ring_count(kind, len(order))
            _ring_steps(dag, order, steps, float(nbytes) * piece, {}, positions=1)
        else:
            _BUILDERS[algorithm](dag, kind, group, float(nbytes), topology)
    return tuple(dag.messages)


def ring_order(kind: str, algorithm: str, group, topology: Topology) -> tuple[int, ...] | None:
    """The cyclic order when the algorithm's DAG is one ring in one direction over the whole group (`ring`;
    `hierarchical` and `double_tree` with one chip per node), else None. Such a DAG is the same at every position
    of the ring, one step behind its predecessor: where the links treat every position alike, one position's
    messages stand for all (mapping/symmetry.py)."""
    if kind not in ("all_reduce", "reduce_scatter", "all_gather") or len(group) < 2:
        return None
    if algorithm == "ring" or (algorithm == "hierarchical" and len(node_members(topology, group)[0]) == 1):
        return topology.ring(group) if algorithm == "ring" else tuple(group)
    return None


def per_link(messages, topology: Topology) -> tuple[tuple[int, float], ...]:
    """(link, bytes) over every message's route, by link."""
    memo = memo_of(_PER_LINK, topology)
    found = memo.get(id(messages))
    if found is None or found[0] is not messages:
        found = remember(memo, id(messages), (messages, _per_link(messages, topology)), 4096)
    return found[1]


_PER_LINK: "weakref.WeakKeyDictionary[Topology, dict]" = weakref.WeakKeyDictionary()


def _per_link(messages, topology: Topology) -> tuple[tuple[int, float], ...]:
    out: dict[int, float] = {}
    for m in messages:
        for link in topology.route(m.src, m.dst):
            out[link] = out.get(link, 0.0) + m.bytes
    return tuple(sorted(out.items()))


def _ring_steps(dag: _Dag, order, steps: int, piece: float, first_deps: dict, positions: int | None = None,
                ) -> dict[int, list[int]]:
    """`steps` rounds in which every chip sends `piece` bytes to its successor in `order`; a chip's step-s
    message waits for the step s-1 message into it (step 0: for `first_deps[chip]`). Returns the messages
    into each chip. `positions=1`: the ring's quotient, position 0's messages only, each step's waiting for
    the one before (which stands for the message into position 0)."""
    p = len(order)
    if positions == 1:
        last = None
        for _ in range(steps):
            last = dag.add(order[0], order[1], piece, () if last is None else (last,))
        return {}
    into: dict[int, list[int]] = {c: [] for c in order}
    last = [None] * p  # message into position i in the previous step
    for _ in range(steps):
        sent = []
        for i in range(p):
            deps = first_deps.get(order[i], ()) if last[i] is None else (last[i],)
            sent.append(dag.add(order[i], order[(i + 1) % p], piece, deps))
        last = [sent[i - 1] for i in range(p)]
        for i in range(p):
            into[order[i]].append(last[i])
    return into


def _ring_count(kind: str, p: int) -> tuple[int, float]:
    """Steps and the piece (as a fraction of the buffer) of a ring collective on p chips."""
    return (2 * (p - 1) if kind == "all_reduce" else p - 1), 1.0 / p


def _ring(dag, kind, group, nbytes, topology):
    order = topology.ring(group)
    steps, piece = _ring_count(kind, len(order))
    _ring_steps(dag, order, steps, nbytes * piece, {})


def _bidir_ring(dag, kind, group, nbytes, topology):
    """Half the buffer each way round, so both directions of every ring link carry data."""
    order = topology.ring(group)
    steps, piece = _ring_count(kind, len(order))
    for way in (order, order[::-1]):
        _ring_steps(dag, way, steps, nbytes / 2 * piece, {})


def _torus(dag, kind, group, nbytes, topology):
    """Dimension-wise: piece j of k visits the axes in rotated order (j, j+1, …) so all axes work at once;
    per axis a bidirectional ring inside each 1-D ring, on data that shrinks (reduce-scatter) or grows
    (all-gather) by the axis size."""
    axes = topology.axes(group)
    k, p = len(axes), len(group)
    for j in range(k):
        order = [axes[(j + t) % k] for t in range(k)]
        phases = []  # (rings, "rs" | "ag", bytes each chip holds before the phase)
        data = nbytes / k if kind != "all_gather" else nbytes / k / p
        if kind in ("reduce_scatter", "all_reduce"):
            for rings in order:
                phases.append((rings, "rs", data))
                data /= len(rings[0])
        if kind in ("all_gather", "all_reduce"):
            for rings in reversed(order):
                phases.append((rings, "ag", data))
                data *= len(rings[0])
        waits: dict[int, list[int]] = {}
        for rings, step, held in phases:
            n = len(rings[0])
            piece = held / (2 * n) if step == "rs" else held / 2
            into: dict[int, list[int]] = {}
            for ring in rings:
                for way in (ring, ring[::-1]):
                    for chip, msgs in _ring_steps(dag, way, n - 1, piece, waits).items():
                        into.setdefault(chip, []).extend(msgs)
            waits = into


def _direct(dag, kind, group, nbytes, topology):
    """Every chip sends each peer its share at once; all-reduce = reduce-scatter, then all-gather."""
    p = len(group)
    if kind == "send":  # group = the chain [src, dst, …]: each member sends the buffer to the next
        for a, b in zip(group, group[1:], strict=False):
            dag.add(a, b, nbytes)
        return
    into: dict[int, list[int]] = {c: [] for c in group}
    if kind in ("reduce_scatter", "all_reduce", "all_to_all"):
        for a in group:
            for b in group:
                if a != b:
                    into[b].append(dag.add(a, b, nbytes / p))
    if kind in ("all_gather", "all_reduce"):
        for a in group:
            for b in group:
                if a != b:
                    dag.add(a, b, nbytes / p, into[a])


def _switch_reduce(dag, kind, group, nbytes, topology):
    """In-network reduction (NVLink SHARP): chips push chunks up, the switch sums and multicasts them down.

    Each chip sends its chunks one after another (chunk k after chunk k-1 has arrived) so the switch can
    multicast chunk k while chunk k+1 goes up: without that ordering the chunks would share the uplink
    and nothing would overlap.
    """
    switch, piece = topology.switch_of(group[0]), nbytes / SWITCH_CHUNKS
    previous = {c: () for c in group}
    for _ in range(SWITCH_CHUNKS):
        ups = [dag.add(c, switch, piece, previous[c]) for c in group]
        previous = {c: (u,) for c, u in zip(group, ups, strict=True)}
        for c in group:
            dag.add(switch, c, piece, ups)


def _hierarchical(dag, kind, group, nbytes, topology, between=None):
    """Inside each node a ring reduce-scatter of the buffer (each chip then holds 1/m of it, m chips per
    node); between nodes the chips of each local rank reduce their 1/m over the NICs (`between`: a ring by
    default, one per local rank, so every rail works at once); inside each node a ring all-gather. A
    reduce-scatter stops after the middle phase's reduce-scatter, an all-gather starts with its all-gather.
    Each phase's first message from a chip waits for every message into it in the phase before."""
    nodes = node_members(topology, group)
    m = len(nodes[0])
    waits: dict[int, list[int]] = {}

    def inside(piece: float):
        into: dict[int, list[int]] = {}
        for members in nodes:
            into |= _ring_steps(dag, topology.ring(members), m - 1, piece, waits)
        return into

    if m > 1 and kind in ("reduce_scatter", "all_reduce"):
        waits = inside(nbytes / m)
    into: dict[int, list[int]] = {}
    for j in range(m):
        order = tuple(members[j] for members in nodes)
        into |= (between or _between_ring)(dag, kind, order, nbytes / m, waits)
    waits = into
    if m > 1 and kind in ("all_gather", "all_reduce"):
        inside(nbytes / m)


def _between_ring(dag, kind, order, nbytes, waits) -> dict[int, list[int]]:
    steps, piece = _ring_count(kind, len(order))
    return _ring_steps(dag, order, steps, nbytes * piece, waits)


def _tree(dag, kind, group, nbytes, topology):
    """All-reduce: `hierarchical` with NCCL's double binary tree between nodes."""
    _hierarchical(dag, kind, group, nbytes, topology, between=_between_trees)


def double_binary_tree(n: int) -> tuple[list[int | None], list[int | None]]:
    """Parents of positions 0 … n−1 in NCCL's double binary tree (src/graph/trees.cc, ncclGetDtree): the first
    tree alternates leaves and inner positions (root 0, its child the highest power of two below n); the
    second is the first mirrored (n even) or shifted by one position (n odd), so that the positions inner in
    one tree are mostly leaves in the other. None: the root."""
    first = [_btree_parent(n, r) for r in range(n)]
    if n % 2:
        second = [None if (u := _btree_parent(n, (r - 1) % n)) is None else (u + 1) % n for r in range(n)]
    else:
        second = [None if (u := _btree_parent(n, n - 1 - r)) is None else n - 1 - u for r in range(n)]
    return first, second


def _btree_parent(n: int, rank: int) -> int | None:
    """ncclGetBtree's parent of `rank`: from its lowest set bit, xx01[0] → xx10[0] (xx00[0] when that is out
    of range) and xx11[0] → xx10[0]."""
    if rank == 0:
        return None
    bit = 1
    while bit < n and not bit & rank:
        bit <<= 1
    up = (rank ^ bit) | (bit << 1)
    return rank ^ bit if up >= n else up


def _between_trees(dag, kind, order, nbytes, waits) -> dict[int, list[int]]:
    """All-reduce of `nbytes` among `order`: half the buffer on each of the double binary trees, each half in
    TREE_CHUNKS chunks. Up the tree a chip sends chunk c to its parent once chunk c has arrived from each of
    its children and chunk c − 1 has arrived at the parent; down, the root (after its children's chunk c) and
    every chip after its parent's chunk c sends it to each child, after chunk c − 1 reached that child."""
    n, piece = len(order), nbytes / 2 / TREE_CHUNKS
    into: dict[int, list[int]] = {c: [] for c in order}
    for parent in double_binary_tree(n):
        children = [[i for i in range(n) if parent[i] == p] for p in range(n)]
        up: list[list[int]] = [[] for _ in range(n)]  # per position, its messages to its parent, by chunk
        down: dict[tuple[int, int], list[int]] = {}  # (position, child) → messages, by chunk
        for c in range(TREE_CHUNKS):
            for i in _post_order(parent, children):
                if parent[i] is None:
                    continue
                deps = [up[k][c] for k in children[i]] + (up[i][c - 1:c] if c else list(waits.get(order[i], ())))
                up[i].append(dag.add(order[i], order[parent[i]], piece, deps))
                into[order[parent[i]]].append(up[i][-1])
            for i in _pre_order(parent, children):
                if parent[i] is None:  # the root's sum of chunk c: its children's and its own data
                    got = [up[k][c] for k in children[i]] + (list(waits.get(order[i], ())) if not c else [])
                else:
                    got = [down[(parent[i], i)][c]]
                for k in children[i]:
                    sent = down.setdefault((i, k), [])
                    sent.append(dag.add(order[i], order[k], piece, got + sent[c - 1:c] if c else got))
                    into[order[k]].append(sent[-1])
    return into


def _post_order(parent, children) -> list[int]:
    """Children before their parent."""
    return _pre_order(parent, children)[::-1]


def _pre_order(parent, children) -> list[int]:
    """Parents before their children, from the root."""
    out, stack = [], [parent.index(None)]
    while stack:
        i = stack.pop()
        out.append(i)
        stack.extend(reversed(children[i]))
    return out


_BUILDERS = {"ring": _ring, "bidir_ring": _bidir_ring, "torus": _torus, "direct": _direct,
             "switch_reduce": _switch_reduce, "hierarchical": _hierarchical, "double_tree": _tree}


# ---- how the messages move: the library's protocol (system.library), chosen per collective and size

REDUCING = ("all_reduce", "reduce_scatter")


@dataclass(frozen=True)
class Transport:
    """What the network applies to every message of one collective: each payload byte puts `wire` bytes on the
    links (1 / (protocol efficiency × the library's link share × in-switch efficiency)), every hop costs
    `hop_cycles` more than the link's latency, the collective `base_cycles` more once, and one flow moves at
    most `cap` wire bytes per cycle (the protocol's per-chip rate or the reduction's HBM rate, shared by the
    flows a chip drives at once). IDEAL changes nothing: a system without a library."""

    protocol: str = ""
    wire: float = 1.0
    hop_cycles: int = 0
    base_cycles: int = 0
    cap: float | None = None


IDEAL = Transport()


def transport(topology: Topology, kind: str, algorithm: str, groups, nbytes: float) -> Transport:
    """The library's fastest protocol for this collective by its closed form (as NCCL's tuner picks a protocol
    by latency + size / bandwidth, src/graph/tuning.cc), as a Transport; IDEAL without a library."""
    library = getattr(topology, "library", None)
    groups = tuple(tuple(g) for g in groups)
    if library is None or not groups or kind in ("send", "all_to_all") or max(map(len, groups)) < 2:
        return IDEAL
    memo = memo_of(_TRANSPORT, topology)
    key = (kind, algorithm, groups, float(nbytes))
    found = memo.get(key)
    if found is None:
        found = remember(memo, key, _transport(topology, library, kind, algorithm, groups, float(nbytes)), 4096)
    return found


_TRANSPORT: "weakref.WeakKeyDictionary[Topology, dict]" = weakref.WeakKeyDictionary()


def _transport(topology, library, kind, algorithm, groups, nbytes) -> Transport:
    group = max(groups, key=len)
    quotient = (0,) if ring_order(kind, algorithm, group, topology) is not None else ()
    messages = collective_messages(kind, algorithm, [group], nbytes, topology, quotient)
    shape = dag_shape(messages, topology)
    protocols = [p for p in library.protocols if algorithm != "switch_reduce" or p.name in ("simple", "dma")]
    options = [protocol_transport(p, library, kind, algorithm, shape, topology) for p in protocols or
               library.protocols]
    return min(options, key=lambda t: (closed_form(t, shape), t.protocol))


def protocol_transport(p: Protocol, library, kind: str, algorithm: str, shape: "DagShape",
                       topology: Topology) -> Transport:
    """Protocol `p` as a Transport for a collective of this shape."""
    share = p.efficiency * library.link_scale * (library.switch_efficiency if algorithm == "switch_reduce" else 1)
    wire = 1.0 / share
    caps = []  # payload bytes per cycle per chip
    if p.max_rate is not None:
        caps.append(p.max_rate)
    memory = getattr(topology, "memory_rate", None)
    if memory and kind in REDUCING and algorithm != "switch_reduce" and library.memory_passes:
        caps.append(memory / library.memory_passes)
    cap = min(caps) * wire / shape.fan_out if caps else None
    return Transport(p.name, wire, p.hop_cycles, p.base_cycles, cap)


@dataclass(frozen=True)
class DagShape:
    """What the closed form reads from a DAG: its longest chain in hops, the busiest link's payload over its
    rate (cycles), and how many messages one chip starts at once."""

    hops: int
    messages: int
    link_cycles: float
    link_rate: float  # the busiest link's bytes per cycle
    fan_out: int


def dag_shape(messages, topology: Topology) -> DagShape:
    depth, hops = [0] * len(messages), [0] * len(messages)
    for i, m in enumerate(messages):  # deps come before the message that waits for them
        before = max(m.deps, key=lambda d: hops[d], default=None)
        hops[i] = topology.hops(m.src, m.dst) + (hops[before] if before is not None else 0)
        depth[i] = 1 + (depth[before] if before is not None else 0)
    rates = topology.rates
    loads = [(nbytes / rates[link], rates[link]) for link, nbytes in per_link(messages, topology)]
    cycles, rate = max(loads, default=(0.0, 1.0))
    first: dict[int, int] = {}
    for m in messages:
        if not m.deps:
            first[m.src] = first.get(m.src, 0) + 1
    return DagShape(max(hops, default=0), max(depth, default=0), cycles, rate, max(first.values(), default=1))


def closed_form(t: Transport, shape: DagShape) -> float:
    """Cycles the collective takes under `t` by the α–β form: base + every hop of the longest chain at the
    link's latency plus the protocol's (hop_latency is added by the caller's topology, the same for all
    protocols, so it is left out) + the busiest link's wire bytes at its rate, or at the cap."""
    rate = shape.link_rate if t.cap is None else min(shape.link_rate, t.cap)
    return t.base_cycles + shape.hops * t.hop_cycles + shape.link_cycles * shape.link_rate * t.wire / rate
