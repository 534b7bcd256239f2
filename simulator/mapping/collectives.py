"""Collectives as DAGs of point-to-point messages, never as closed-form cost formulas.

The network (engine/network.py) then times the messages over the actual links, so contention between
concurrent groups, hop counts and link sharing come out of the simulation instead of assumptions.
"""

from simulator.hardware.topology import Topology
from simulator.ir.program import Message

ALGORITHMS = {
    "all_reduce": ("ring", "bidir_ring", "torus", "direct", "switch_reduce"),
    "reduce_scatter": ("ring", "bidir_ring", "torus", "direct"),
    "all_gather": ("ring", "bidir_ring", "torus", "direct"),
    "all_to_all": ("direct",),
    "send": ("direct",),
}
# What `collectives: auto` chooses from: the bandwidth-optimal schedules collective libraries run by
# default (NCCL's ring, XLA's torus). The one-shot `direct` (custom small-message all-reduce kernels)
# and in-switch `switch_reduce` (NVLink SHARP) need hardware or software support, so they are opt-in.
AUTO = {"all_reduce": ("ring", "bidir_ring", "torus"), "reduce_scatter": ("ring", "bidir_ring", "torus"),
        "all_gather": ("ring", "bidir_ring", "torus"), "all_to_all": ("direct",), "send": ("direct",)}
SWITCH_CHUNKS = 8  # switch_reduce pipelines the buffer in this many chunks


def applicable(kind: str, topology: Topology, group) -> tuple[str, ...]:
    """Algorithms that can run `kind` on `group`, in ALGORITHMS order."""
    out = []
    for name in ALGORITHMS[kind]:
        if name == "torus" and topology.axes(group) is None:
            continue
        if name == "switch_reduce" and topology.switch is None:
            continue
        out.append(name)
    return tuple(out)


class _Dag:
    """Messages being built; `add` returns the new message's index."""

    def __init__(self):
        self.messages: list[Message] = []

    def add(self, src: int, dst: int, nbytes: float, deps=()) -> int:
        self.messages.append(Message(src, dst, nbytes, tuple(deps)))
        return len(self.messages) - 1


def collective_messages(kind: str, algorithm: str, groups, nbytes: float, topology: Topology) -> tuple[Message, ...]:
    """The messages of `kind` run by every group in `groups` at the same time; `nbytes` is each chip's buffer
    (see CollectiveOp). A group of one chip sends nothing."""
    if kind not in ALGORITHMS or algorithm not in ALGORITHMS[kind]:
        raise ValueError(f"{kind} has no algorithm {algorithm!r}; it has {', '.join(ALGORITHMS.get(kind, ()))}")
    dag = _Dag()
    for group in groups:
        group = tuple(group)
        if len(group) < 2:
            continue
        if algorithm not in applicable(kind, topology, group):
            raise ValueError(f"{algorithm} does not apply to {kind} on chips {group} of a {topology.kind} topology")
        _BUILDERS[algorithm](dag, kind, group, float(nbytes), topology)
    return tuple(dag.messages)


def per_link(messages, topology: Topology) -> tuple[tuple[int, float], ...]:
    """(link, bytes) over every message's route, by link."""
    out: dict[int, float] = {}
    for m in messages:
        for link in topology.route(m.src, m.dst):
            out[link] = out.get(link, 0.0) + m.bytes
    return tuple(sorted(out.items()))


def _ring_steps(dag: _Dag, order, steps: int, piece: float, first_deps: dict) -> dict[int, list[int]]:
    """`steps` rounds in which every chip sends `piece` bytes to its successor in `order`; a chip's step-s
    message waits for the step s-1 message into it (step 0: for `first_deps[chip]`). Returns the messages
    into each chip."""
    p = len(order)
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
    switch, piece = topology.switch, nbytes / SWITCH_CHUNKS
    previous = {c: () for c in group}
    for _ in range(SWITCH_CHUNKS):
        ups = [dag.add(c, switch, piece, previous[c]) for c in group]
        previous = {c: (u,) for c, u in zip(group, ups, strict=True)}
        for c in group:
            dag.add(switch, c, piece, ups)


_BUILDERS = {"ring": _ring, "bidir_ring": _bidir_ring, "torus": _torus, "direct": _direct,
             "switch_reduce": _switch_reduce}
