"""Where a parallel plan's ranks sit on the system: the chip groups that run each collective together,
the pipeline sends between stages, and the layers each stage holds."""

from dataclasses import dataclass

from simulator.hardware.topology import Topology
from simulator.workloads.parallel import Parallel


@dataclass(frozen=True, eq=False)
class Placement:
    topology: Topology
    parallel: Parallel
    algorithm: str = "auto"  # collective algorithm for all-reduce / reduce-scatter / all-gather

    def groups(self, axis: str, stage: int) -> tuple[tuple[int, ...], ...]:
        """Every group of `axis` in pipeline stage `stage`, over all data-parallel replicas: their
        collectives run at the same moment and may share links. A dp group spans the replicas itself;
        a pp group is a chain through the stages of one replica."""
        p = self.parallel
        replicas = [0] if axis == "dp" else range(p.dp)
        return tuple(tuple(g) for d in replicas for g in p.groups(axis, pp=stage, dp=d) if len(g) > 1)

    def sends(self, stage: int) -> tuple[tuple[int, int], ...]:
        """(from, to) chip pairs carrying activations from `stage` to the next: each chip to its
        counterpart (same tensor and expert rank, same replica)."""
        p = self.parallel
        return tuple((p.chip_of(t, e, stage, d), p.chip_of(t, e, stage + 1, d))
                     for d in range(p.dp) for e in range(p.ep) for t in range(p.tp))

    def stage_layers(self, layers: int) -> list[int]:
        """Layers per stage, as even as possible; earlier stages take the remainder."""
        q, r = divmod(layers, self.parallel.pp)
        return [q + (1 if s < r else 0) for s in range(self.parallel.pp)]
