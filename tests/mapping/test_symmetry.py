"""Symmetric groups simulated once (mapping/symmetry.py, engine/program.py): the reduction leaves one group
per class of independent, symmetric groups (a ring as one position), and what it leaves gives exactly the
times and bytes of simulating every group."""

import pytest

import simulator.engine.program as engine_program
import simulator.mapping.symmetry as symmetry
from simulator.api import run_files
from simulator.config.loader import load_chip
from simulator.engine.network import collective_cycles, messages_cycles
from simulator.engine.run import run_block
from simulator.hardware import topology as topology_module
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology
from simulator.ir.ops import CollectiveOp, GemmOp, OpGraph
from simulator.ir.program import Block, CommStep
from simulator.mapping.collectives import collective_messages, per_link
from simulator.mapping.program import Fabric, Mapper
from simulator.mapping.symmetry import reduce_block


def superpod(chips: int, *sets: str):
    chip = load_chip("h100_superpod_1024", [f"system.chips={chips}", *sets])
    return Chip(chip), build_topology(chip.system, chip.clock)


@pytest.fixture
def unreduced(monkeypatch):
    """Every group its own class, no ring quotient, no block taken from another stage: the full simulation.
    Systems are built afresh, so nothing reduced before is reused."""
    keys = symmetry._component_keys

    def unique(topology, groups, memo):
        comp_of, comps, found = keys(topology, groups, memo)
        return comp_of, comps, [(k, key) for k, key in enumerate(found)]

    monkeypatch.setattr(symmetry, "_component_keys", unique)
    monkeypatch.setattr(symmetry, "_ring_quotient", lambda *a: False)
    monkeypatch.setattr(engine_program, "_signature", lambda *a: None)
    topology_module._BUILT.clear()
    yield
    topology_module._BUILT.clear()


def full(t, kind, algorithm, groups, nbytes) -> int:
    return messages_cycles(t, collective_messages(kind, algorithm, groups, nbytes, t))


def test_rails_and_nodes_reduce_to_one_group_each():
    _, t = superpod(64)  # 8 nodes of 8: a unit of 32 nodes holds them all, one leaf per rail
    rails = [[8 * n + r for n in range(8)] for r in range(8)]
    nodes = [list(range(8 * n, 8 * n + 8)) for n in range(8)]
    dp, tp = reduce_block(t, [("all_reduce", "hierarchical", rails, 1e6), ("all_gather", "ring", nodes, 1e6)])
    assert (dp.groups, dp.simulated, dp.quotient) == (8, 1, 1)
    assert (tp.groups, tp.simulated, tp.quotient) == (8, 1, 1)
    assert {m.src for m in dp.messages} == {0} and len(dp.messages) == 2 * 7  # position 0 of one rail's ring
    assert dp.link_bytes == per_link(collective_messages("all_reduce", "ring", rails, 1e6, t), t)


@pytest.mark.parametrize("case", ["rails", "nodes", "hierarchical", "spine", "fat_tree", "torus", "uneven"])
def test_the_reduced_collective_takes_exactly_the_full_simulations_time(case):
    if case == "torus":
        chip = load_chip("tpu_v4_4x4x4")
        t = build_topology(chip.system, chip.clock)
        groups = [[16 * z + 4 * y + x for x in range(4)] for y in range(4) for z in range(4)]  # x lines
        kinds = [("all_reduce", "ring"), ("all_reduce", "torus"), ("reduce_scatter", "bidir_ring")]
    else:
        sets = {"fat_tree": ("system.scale_out.topology=fat_tree", "system.scale_out.oversubscription=2",
                             "system.scale_out.nodes_per_leaf=2"),
                "spine": ("system.scale_out.nodes_per_leaf=3",)}.get(case, ())
        _, t = superpod(64, *sets)
        groups = {"rails": [[8 * n + r for n in range(8)] for r in range(8)],
                  "nodes": [list(range(8 * n, 8 * n + 8)) for n in range(8)],
                  "hierarchical": [[8 * n + r for n in range(8) for r in (q, q + 4)] for q in range(4)],
                  "spine": [[8 * n + r for n in range(8)] for r in range(8)],
                  "fat_tree": [[8 * n + r for n in range(8)] for r in range(8)],
                  "uneven": [[0, 1, 2, 3], [4, 5, 6, 7], [8, 16], [9, 10]]}[case]
        kinds = [("all_reduce", "ring"), ("reduce_scatter", "ring"), ("all_gather", "bidir_ring")]
        if case in ("rails", "hierarchical", "spine", "fat_tree"):
            kinds += [("all_reduce", "hierarchical"), ("all_reduce", "double_tree")]
    for kind, algorithm in kinds:
        for nbytes in (4096, 3e7 + 17):
            assert collective_cycles(t, kind, algorithm, groups, nbytes) == full(t, kind, algorithm, groups, nbytes)


def test_binding_uplinks_keep_the_groups_that_share_them_together():
    """2:1 leaves on a fat tree: every rail's ring crosses the same uplinks, so no group stands for another."""
    _, t = superpod(64, "system.scale_out.topology=fat_tree", "system.scale_out.oversubscription=2",
                    "system.scale_out.nodes_per_leaf=2")
    (dp,) = reduce_block(t, [("all_reduce", "ring", [[8 * n + r for n in range(8)] for r in range(8)], 1e6)])
    assert (dp.groups, dp.simulated, dp.quotient) == (8, 8, 0)


def test_concurrent_collectives_in_a_block_run_reduced_exactly_as_in_full():
    """Two TP collectives and a DP one with no order between them (they overlap and share links): the block's
    network runs one node's and one rail's messages; every record equals the full run's."""
    chip, t = superpod(64)
    nodes = tuple(tuple(range(8 * n, 8 * n + 8)) for n in range(8))
    rails = tuple(tuple(8 * n + r for n in range(8)) for r in range(8))
    ops = (GemmOp("mm", 4096, 4096, 4096),
           CollectiveOp("ag", "all_gather", 6e7, "tp", ("mm",)),
           CollectiveOp("rs", "reduce_scatter", 4e7, "tp", ("mm",)),
           CollectiveOp("dp", "all_reduce", 9e7, "dp", ("mm",)),
           GemmOp("mm2", 2048, 4096, 4096, deps=("mm",)),
           GemmOp("end", 128, 128, 128, deps=("ag", "rs", "dp", "mm2")))
    block = Mapper(chip, collective_cycles).block(OpGraph("g", ops), Fabric(t, {"tp": nodes, "dp": rails}))
    reduced = run_block(chip, block, t)
    steps = tuple(CommStep(s.op, s.algorithm, s.groups, collective_messages(s.op.kind, s.algorithm, s.groups,
                                                                            s.op.bytes, t), s.link_bytes, s.alone)
                  if isinstance(s, CommStep) else s for s in block.steps)
    assert all(len(a.messages) < len(b.messages) for a, b in zip(block.steps, steps, strict=True)
               if isinstance(a, CommStep))
    whole = run_block(chip, Block("g", steps), t)
    assert [(r.name, r.start, r.end) for r in reduced.records] == [(r.name, r.start, r.end) for r in whole.records]


TRAIN = "workloads/llama3_8b_train.yaml"
SMALL = ["model.num_hidden_layers=2", "training.sequence=1024", "scenario.check_capacity=false"]


@pytest.mark.parametrize("plan", [
    ("parallel.tp=8", "parallel.pp=2", "parallel.dp=4", "training.global_batch=16", "training.zero=1"),
    ("parallel.tp=2", "parallel.pp=2", "parallel.dp=16", "training.global_batch=32", "training.zero=2"),
])
def test_a_training_step_on_a_cluster_is_the_same_reduced_or_not(plan, request):
    """Every figure of the step with symmetric reuse equals the full simulation's: cycles exactly, bytes to
    rounding (they are summed in another order)."""
    args = ("configs/h100_superpod_1024.yaml", TRAIN, ["system.chips=64"], [*SMALL, *plan])
    topology_module._BUILT.clear()
    reduced = run_files(*args)
    request.getfixturevalue("unreduced")
    whole = run_files(*args)
    assert reduced.summary["collective_groups_simulated"] < whole.summary["collective_groups_simulated"]
    assert reduced.summary["collective_groups"] == whole.summary["collective_groups"]
    for key in ("cycles", "compute_cycles", "stall_cycles", "overhead_cycles", "flops"):
        assert reduced.summary[key] == whole.summary[key], key
    for key in ("link_bytes", "exposed_comm_s", "overlapped_comm_s", "idle_s", "max_link_utilization"):
        assert reduced.summary[key] == pytest.approx(whole.summary[key], rel=1e-12), key
    a, b = reduced.link_rows, whole.link_rows
    assert [r["link"] for r in a] == [r["link"] for r in b]
    assert [r["bytes"] for r in a] == pytest.approx([r["bytes"] for r in b], rel=1e-12)
