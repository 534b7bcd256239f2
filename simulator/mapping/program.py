"""Mapping: op graph × system → Program, once, before anything runs.

Per compute op its unit kind, cores, tile and transfers; per collective the chip groups of its axis, the
algorithm and its message DAG; per pass the blocks each pipeline stage runs and the sends between
stages. Identical work is mapped once: a step by its shape, a block by its ops and its stage.

Choosing a collective algorithm (`auto`) times each candidate on idle links; the timing function is
handed in (`time_collective`, the engine's network) so that mapping never imports the engine. A block's
collectives are reduced together (mapping/symmetry.py): the messages of a step are those of one group per
class of symmetric, independent groups; its link bytes are every group's.
"""

import weakref
from collections.abc import Callable
from dataclasses import dataclass

from simulator.errors import TortoiseError
from simulator.hardware.chip import Chip, stand_in
from simulator.hardware.pim import pim_traffic
from simulator.hardware.timing import vector_cores
from simulator.hardware.topology import Topology
from simulator.ir.ops import CollectiveOp, GemmOp, Op, OpGraph
from simulator.ir.program import Block, CommStep, ComputeStep, PassProgram, Placed, Program, Step, Transfer
from simulator.mapping.collectives import applicable, auto_algorithms, collective_messages
from simulator.mapping.gemm import map_gemm
from simulator.mapping.pim import on_pim
from simulator.mapping.placement import Placement
from simulator.mapping.symmetry import reduce_block

# (topology, kind, algorithm, groups, bytes) → cycles on otherwise idle links
CollectiveTimer = Callable[[Topology, str, str, tuple, float], int]
AXES = ("tp", "cp", "ep", "pp", "dp", "embedding", "tp_x", "tp_yz", "tp_xy", "tp_z")  # tp_*: a tp grid's sub-groups


_STEPS: "weakref.WeakKeyDictionary[Chip, dict]" = weakref.WeakKeyDictionary()


class MappingError(TortoiseError):
    """The work cannot be placed on the system (e.g. a collective over chips the system does not have)."""


@dataclass(frozen=True, eq=False)
class Fabric:
    """What collectives are mapped onto: the links, the chip groups of each axis in one stage (every
    group runs the collective at once), and the algorithm policy (`auto`, or a name; a name that does
    not fit every group falls back to the fastest `auto` candidate)."""

    topology: Topology
    groups: dict[str, tuple[tuple[int, ...], ...]]
    algorithm: str = "auto"

    @classmethod
    def of(cls, placement: Placement, stage: int) -> "Fabric":
        return cls(placement.topology, {axis: placement.groups(axis, stage) for axis in AXES}, placement.algorithm)


def best_algorithm(topology: Topology, kind: str, groups, nbytes: float, time: CollectiveTimer) -> tuple[str, int]:
    """The fastest `auto` candidate that applies to every group (ties: ALGORITHMS order), and its cycles."""
    groups = tuple(tuple(g) for g in groups)
    names = auto_algorithms(kind, topology, groups)
    timed = [(time(topology, kind, a, groups, float(nbytes)), i, a) for i, a in enumerate(names)]
    cycles, _, name = min(timed)
    return name, cycles


class Mapper:
    """Maps ops, graphs and passes for one chip (and its fabric); remembers what it mapped."""

    def __init__(self, chip: Chip, time_collective: CollectiveTimer | None = None):
        self.chip = chip
        self.time_collective = time_collective
        # shape → (unit, cores, tile, transfers, note), shared by every mapper of chips with this config
        self._steps: dict = _STEPS.setdefault(stand_in(chip), {})
        self._blocks: dict = {}
        self._algorithms: dict = {}
        self._reduced: dict = {}
        self.reused = {"steps": 0, "blocks": 0, "collective_groups": 0, "collective_groups_simulated": 0}

    # compute ---------------------------------------------------------------------------------------

    def compute_step(self, op: Op) -> ComputeStep:
        key = shape_key(op)
        mapped = self._steps.get(key)
        if mapped is None:
            mapped = self._steps[key] = self._map_compute(op)
        else:
            self.reused["steps"] += 1
        return ComputeStep(op, *mapped)

    def _map_compute(self, op: Op) -> tuple:
        chip = self.chip
        if on_pim(chip, op):  # in the DRAM banks: the bus carries only the input vectors and the results
            inputs, outputs, weights = pim_traffic(op)
            transfers = (Transfer("sram", "hbm", inputs, 1, "stream"), Transfer("hbm", "pim", weights, 1, "stream"),
                         Transfer("hbm", "sram", outputs, 1, "stream"))
            return "pim", 0, None, tuple(t for t in transfers if t.bytes), ""
        if isinstance(op, GemmOp):
            tile, cores, loads, hbm_read, hbm_write, note = map_gemm(chip, op)
            steps = op.batch * -(-op.m // tile.m) * -(-op.n // tile.n) * -(-op.k // tile.k)
            outputs = op.batch * -(-op.m // tile.m) * -(-op.n // tile.n)
            near = "l2" if chip.l2 else "hbm"
            transfers = [Transfer("hbm", "l2", hbm_read, steps, "tile")] if chip.l2 else []
            transfers += [Transfer(near, "sram", loads, steps, "tile"), Transfer("sram", "hbm", hbm_write, outputs,
                                                                                  "tile")]
            return "systolic", cores, tile, tuple(t for t in transfers if t.bytes), note
        cores = vector_cores(chip, op)
        transfers = (Transfer("hbm", "sram", op.min_read_bytes, cores, "stream"),
                     Transfer("sram", "hbm", op.min_write_bytes, cores, "stream"))
        return "vector", cores, None, tuple(t for t in transfers if t.bytes), ""

    # communication ---------------------------------------------------------------------------------

    def comm_step(self, op: CollectiveOp, fabric: Fabric | None, alone: bool) -> CommStep:
        """`op` mapped as the only collective of its block."""
        return self._comm_steps([op], fabric, {op.name} if alone else set())[op.name]

    def _algorithm(self, op: CollectiveOp, groups, fabric: Fabric) -> str:
        key = (op.kind, op.bytes, groups, id(fabric.topology), fabric.algorithm)
        if key not in self._algorithms:
            topology, algorithm = fabric.topology, fabric.algorithm
            if not all(algorithm in applicable(op.kind, topology, g) for g in groups):
                if self.time_collective is None:
                    raise MappingError(f"collective {op.name}: choosing an algorithm needs a collective timer")
                algorithm = best_algorithm(topology, op.kind, groups, op.bytes, self.time_collective)[0]
            self._algorithms[key] = algorithm
        return self._algorithms[key]

    def _comm_steps(self, ops, fabric: Fabric | None, alone: set[str]) -> dict[str, CommStep]:
        """A block's collectives, their algorithms chosen one by one and their groups reduced together."""
        chosen = {op.name: (self._groups(op, fabric), op) for op in ops}
        chosen = {name: (groups, op, self._algorithm(op, groups, fabric) if groups else "")
                  for name, (groups, op) in chosen.items()}
        busy = [(name, op.kind, algorithm, groups, op.bytes) for name, (groups, op, algorithm) in chosen.items()
                if groups]
        reduced = {}
        if busy:
            key = (id(fabric.topology), tuple(item[1:] for item in busy))
            found = self._reduced.get(key)
            if found is None:
                found = self._reduced[key] = reduce_block(fabric.topology, [item[1:] for item in busy])
                for r in found:
                    self.reused["collective_groups"] += r.groups
                    self.reused["collective_groups_simulated"] += r.simulated
            reduced = {item[0]: r for item, r in zip(busy, found, strict=True)}
        out = {}
        for name, (groups, op, algorithm) in chosen.items():
            r = reduced.get(name)
            out[name] = (CommStep(op, algorithm, groups, r.messages, r.link_bytes, name in alone) if r else
                         CommStep(op, "", (), (), (), name in alone))
        return out

    def _groups(self, op: CollectiveOp, fabric: Fabric | None) -> tuple[tuple[int, ...], ...]:
        """The chip groups that run `op` together; () when each group is one chip (a no-op)."""
        chips = self.chip.config.system.chips
        if op.chips:
            if len(set(op.chips)) != len(op.chips):
                raise MappingError(f"op {op.name}: chips = {list(op.chips)}: each chip may be named once")
            bad = [c for c in op.chips if not 0 <= c < chips]
            if bad:
                have = "1 chip" if chips == 1 else f"chips 0–{chips - 1}"
                raise MappingError(f"op {op.name}: chips = {list(op.chips)}: chip {bad[0]} is not on {self.chip.name}, "
                                   f"which has {have} (system.chips = {chips}); use fewer chips or a bigger system")
            return (tuple(op.chips),) if len(op.chips) > 1 else ()
        if fabric is None:
            return ()
        return fabric.groups.get(op.axis, ())

    # graphs and passes -----------------------------------------------------------------------------

    def block(self, graph: OpGraph, fabric: Fabric | None, label: str = "", source=None) -> Block:
        key = (graph.ops, id(fabric) if fabric else None)
        found = self._blocks.get(key)
        if found is not None:
            self.reused["blocks"] += 1
            return Block(label or graph.name, found.steps, source, found.sequential)
        alone = lone_collectives(graph)
        comm = self._comm_steps([op for op in graph.ops if isinstance(op, CollectiveOp)], fabric, alone)
        steps: list[Step] = []
        for op in graph.ops:
            steps.append(comm[op.name] if isinstance(op, CollectiveOp) else self.compute_step(op))
        sequential = all(i == 0 or graph.ops[i - 1].name in op.deps for i, op in enumerate(graph.ops))
        block = self._blocks[key] = Block(label or graph.name, tuple(steps), source, sequential)
        return block


def shape_key(op: Op) -> tuple:
    if isinstance(op, GemmOp):
        return ("gemm", op.m, op.n, op.k, op.dtype, op.out_dtype, op.batch, op.b_dtype, op.a_on_chip, op.c_on_chip,
                op.b_group, op.b_scale_bytes, op.dequant, op.b_block, op.stages)  # scales, gathers, stages time it
    return ("vector", op.kind, op.elements, op.dtype, op.inputs, op.outputs, op.ops_per_element, op.row,
            op.mask_reads, op.mask_writes, op.special)


def lone_collectives(graph: OpGraph) -> set[str]:
    """Collectives that no other collective of the graph can overlap: every other one is an ancestor or a
    descendant. The links are idle while such a one runs, so its time on idle links is its time."""
    ancestors: dict[str, set[str]] = {}
    for op in graph.ops:
        seen: set[str] = set()
        for d in op.deps:
            seen.add(d)
            seen |= ancestors.get(d, set())
        ancestors[op.name] = seen
    comm = [op.name for op in graph.ops if isinstance(op, CollectiveOp)]
    return {a for a in comm if all(b == a or b in ancestors[a] or a in ancestors[b] for b in comm)}


def map_graph(chip: Chip, graph: OpGraph, topology: Topology | None = None,
              time_collective: CollectiveTimer | None = None) -> Program:
    """A hand-written op graph: one block, one pass; its collectives name their chips explicitly."""
    mapper = Mapper(chip, time_collective)
    fabric = Fabric(topology, {}, chip.config.system.collectives) if topology is not None else None
    for op in graph.ops:
        if isinstance(op, CollectiveOp) and not op.chips and fabric is not None:
            raise MappingError(f"collective {op.name}: an op-list workload names its chips (chips: N or a list)")
    block = mapper.block(graph, fabric)
    return Program(chip, (PassProgram(((Placed(block, 1),),)),), topology, mapper.reused)


def map_passes(chip: Chip, passes, placement: Placement | None, time_collective: CollectiveTimer | None = None,
               ) -> Program:
    """Lowered passes (objects with `segments` of `graph`, `repeat`, `place` and optionally `direction`;
    `microbatches`, `activation_bytes`, optionally `continues`) on one chip or on a placement's chips. A
    pipeline pass with backward segments runs the one-forward-one-backward schedule; one that `continues`
    runs its micro-batches in the previous pass's pipeline, after that pass's own."""
    mapper = Mapper(chip, time_collective)
    stages = placement.parallel.pp if placement else 1
    virtual = placement.parallel.vp if placement else 1
    fabrics = [Fabric.of(placement, s) for s in range(stages)] if placement else [None]
    # with virtual stages, one more boundary: the last stage's sends to the first between virtual rounds
    sends = tuple(placement.sends(s) for s in range(stages - 1 + (virtual > 1))) if placement else ()
    send_messages: dict[int, tuple] = {}  # activation bytes → each boundary's send messages (alike for every pass)
    out = []
    for p in passes:
        per_stage = []
        split = stages > 1 and any(getattr(seg, "direction", "") == "backward" for seg in p.segments)
        if virtual > 1 and not split and not any(getattr(seg, "direction", "") == "optimizer" for seg in p.segments):
            raise MappingError(f"parallel.vp = {virtual}: virtual pipeline stages interleave a training "
                                   "step's forwards and backwards; set parallel.vp=1 for this workload")
        interleaved = split and virtual > 1
        for stage in range(stages):
            if interleaved:
                placed = [Placed(mapper.block(seg.graph, fabrics[stage], seg.name, seg), sum(chunks),
                                 getattr(seg, "direction", ""), chunks)
                          for seg, chunks in chunk_segments(p.segments, stage, placement)]
            else:
                placed = [Placed(mapper.block(seg.graph, fabrics[stage], seg.name, seg), repeat,
                                 getattr(seg, "direction", "") if split else "")
                          for seg, repeat in stage_segments(p.segments, stage, placement)]
            per_stage.append(tuple(placed))
        if placement and p.activation_bytes not in send_messages:
            send_messages[p.activation_bytes] = tuple(
                collective_messages("send", "direct", [list(pair) for pair in pairs], p.activation_bytes,
                                    placement.topology) for pairs in sends)
        # an optimizer step: each stage updates its own parameters, nothing flows between the stages
        alone = all(getattr(seg, "direction", "") == "optimizer" for seg in p.segments)
        schedule = placement.parallel.schedule if split else "independent" if alone else "in_order"
        boundaries = len(sends) if interleaved else max(stages - 1, 0)
        messages = send_messages.get(p.activation_bytes, ())[:boundaries]
        out.append(PassProgram(tuple(per_stage), p.microbatches, messages, p.activation_bytes, sends[:boundaries],
                               placement is not None, p, schedule, split and getattr(p, "continues", False),
                               virtual if interleaved else 1))
    return Program(chip, tuple(out), placement.topology if placement else None, mapper.reused)


def stage_segments(segments, stage: int, placement: Placement | None) -> list[tuple[object, int]]:
    """(segment, copies) a stage runs: `place` first / last puts a segment on one end of the pipeline,
    `spread` shares its copies out over the stages (earlier stages take the remainder)."""
    if placement is None or placement.parallel.pp == 1:
        return [(s, s.repeat) for s in segments]
    last = placement.parallel.pp - 1
    out = []
    for s in segments:
        if s.place == "first":
            out.append((s, s.repeat if stage == 0 else 0))
        elif s.place == "last":
            out.append((s, s.repeat if stage == last else 0))
        else:
            out.append((s, placement.stage_layers(s.repeat)[stage]))
    return [(s, n) for s, n in out if n]



def chunk_segments(segments, stage: int, placement: Placement) -> list[tuple[object, tuple[int, ...]]]:
    """Under the interleaved schedule: (segment, copies per chunk) a stage runs. The layers are pp·vp chunks,
    chunk k of stage s being virtual stage k·pp + s; `first` goes with virtual stage 0 (stage 0's chunk 0),
    `last` with the last (stage pp − 1's chunk vp − 1)."""
    p = placement.parallel
    out = []
    for s in segments:
        chunks = [0] * p.vp
        if s.place == "first":
            chunks[0] = s.repeat if stage == 0 else 0
        elif s.place == "last":
            chunks[-1] = s.repeat if stage == p.pp - 1 else 0
        else:
            chunks = list(placement.chunk_layers(s.repeat, stage))
        out.append((s, tuple(chunks)))
    return [(s, chunks) for s, chunks in out if sum(chunks)]
