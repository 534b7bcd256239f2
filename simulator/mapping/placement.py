"""Where a parallel plan's ranks sit on the system: the chip groups that run each collective together,
the pipeline sends between stages, and the layers each stage holds.

Ranks are laid onto chips in an order of the parallel axes, nearest chips first (mixed radix: the first
axis varies fastest over chip numbers). The default, config/schema.py PLACEMENT_AXES, is TP, then CP and
EP, then PP, then DP: a tensor-parallel group is the nearest chips (one node of a cluster), data-parallel
replicas lie furthest apart (across nodes). `system.placement` changes the order; axes it leaves out
follow it in the default order.
"""

from dataclasses import dataclass
from functools import cached_property
from itertools import product

from simulator.hardware.topology import Topology
from simulator.workloads.parallel import Parallel

RANK_AXES = ("tp", "cp", "ep", "pp", "dp")  # Parallel.chip_of's order, the ranks' own numbering
_GROUPS: dict[tuple, tuple] = {}  # groups by (plan, order, axis, stage): plans repeat from run to run


@dataclass(frozen=True, eq=False)
class Placement:
    topology: Topology
    parallel: Parallel
    algorithm: str = "auto"  # collective algorithm for all-reduce / reduce-scatter / all-gather
    order: tuple[str, ...] | None = None  # nearest first; None: the system's (Topology.placement)

    @cached_property
    def axes(self) -> tuple[str, ...]:
        """The order ranks are laid onto chips, nearest first, of the axes the plan has."""
        return tuple(a for a in (self.order or self.topology.placement) if a in RANK_AXES) + \
            tuple(a for a in RANK_AXES if a not in (self.order or self.topology.placement))

    @cached_property
    def _chips(self) -> tuple[int, ...] | None:
        """The chip of each rank of Parallel's numbering, or None where the order is that numbering."""
        if self.axes == RANK_AXES:
            return None
        p = self.parallel
        sizes = {a: getattr(p, a) for a in RANK_AXES}
        out = [0] * p.chips
        for coords in product(*(range(sizes[a]) for a in RANK_AXES)):
            at = dict(zip(RANK_AXES, coords, strict=True))
            chip = 0
            for a in reversed(self.axes):
                chip = chip * sizes[a] + at[a]
            out[p.chip_of(**at)] = chip
        return tuple(out)

    def chip(self, rank: int) -> int:
        return rank if self._chips is None else self._chips[rank]

    def groups(self, axis: str, stage: int) -> tuple[tuple[int, ...], ...]:
        """Every group of `axis` in pipeline stage `stage`, over all data-parallel replicas: their
        collectives run at the same moment and may share links. A dp group spans the replicas itself;
        a pp group is a chain through the stages of one replica."""
        key = (self.parallel, self.axes, axis, stage)
        found = _GROUPS.get(key)
        if found is None:
            p = self.parallel
            replicas = [0] if axis == "dp" else range(p.dp)
            groups = (g for d in replicas for g in p.groups(axis, pp=stage, dp=d) if len(g) > 1)
            chips = self._chips
            found = tuple(tuple(g) if chips is None else tuple(chips[c] for c in g) for g in groups)
            _GROUPS[key] = found
            while len(_GROUPS) > 4096:
                _GROUPS.pop(next(iter(_GROUPS)))
        return found

    def sends(self, stage: int) -> tuple[tuple[int, int], ...]:
        """(from, to) chip pairs carrying activations from `stage` to the next: each chip to its
        counterpart (same tensor and expert rank, same replica). The last stage's next is stage 0 (the
        interleaved schedule's step from one virtual round to the next)."""
        p = self.parallel
        to = (stage + 1) % p.pp
        return tuple((self.chip(p.chip_of(t, e, stage, d, c)), self.chip(p.chip_of(t, e, to, d, c)))
                     for d in range(p.dp) for e in range(p.ep) for c in range(p.cp) for t in range(p.tp))

    def stage_layers(self, layers: int) -> list[int]:
        """Layers per stage, as even as possible; earlier stages take the remainder."""
        q, r = divmod(layers, self.parallel.pp)
        return [q + (1 if s < r else 0) for s in range(self.parallel.pp)]

    def chunk_layers(self, layers: int, stage: int) -> tuple[int, ...]:
        """Layers of each of `stage`'s vp chunks (chunk k is virtual stage k·pp + stage of pp·vp, as even
        as possible, earlier virtual stages taking the remainder)."""
        p = self.parallel
        q, r = divmod(layers, p.pp * p.vp)
        return tuple(q + (1 if k * p.pp + stage < r else 0) for k in range(p.vp))
