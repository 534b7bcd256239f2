"""Placement: parallel ranks onto chips in an order of the axes, nearest first — TP inside a node by default,
DP across nodes; `system.placement` changes the order."""

import pytest

from simulator.api import run_files
from simulator.config.loader import load_chip
from simulator.hardware.topology import build_topology
from simulator.mapping.placement import Placement
from simulator.workloads.parallel import Parallel

PLAN = Parallel(tp=4, pp=2, dp=4)


def placement(*sets, plan=PLAN) -> Placement:
    chip = load_chip("h100_superpod_1024", ["system.chips=32", *sets])
    return Placement(build_topology(chip.system, chip.clock), plan)


def test_the_default_is_the_plans_own_numbering_tp_nearest():
    p = placement()
    assert p.axes == ("tp", "cp", "ep", "pp", "dp")
    assert p.groups("tp", 0) == ((0, 1, 2, 3), (8, 9, 10, 11), (16, 17, 18, 19), (24, 25, 26, 27))
    assert p.groups("dp", 1) == ((4, 12, 20, 28), (5, 13, 21, 29), (6, 14, 22, 30), (7, 15, 23, 31))
    assert p.sends(0)[:2] == ((0, 4), (1, 5))
    assert all(PLAN.chip_of(t, 0, s, d) == p.chip(PLAN.chip_of(t, 0, s, d))
               for t in range(4) for s in range(2) for d in range(4))


def test_a_changed_order_puts_dp_nearest_and_tp_across():
    p = placement("system.placement=[dp, pp]")
    assert p.axes == ("dp", "pp", "tp", "cp", "ep")  # the axes left out follow in the default order
    assert p.groups("dp", 0) == ((0, 1, 2, 3), (8, 9, 10, 11), (16, 17, 18, 19), (24, 25, 26, 27))
    assert p.groups("tp", 0)[0] == (0, 8, 16, 24)
    assert p.sends(0)[0] == (0, 4)


@pytest.mark.parametrize("order", [("tp", "pp", "dp"), ("dp", "tp", "pp"), ("pp", "dp", "tp")])
def test_every_order_is_a_bijection_of_ranks_onto_chips(order):
    p = Placement(placement().topology, PLAN, order=order)
    assert sorted(p.chip(r) for r in range(PLAN.chips)) == list(range(PLAN.chips))
    every = sorted(c for axis in ("tp",) for s in range(2) for g in p.groups(axis, s) for c in g)
    assert every == list(range(PLAN.chips))


def test_the_order_changes_which_collectives_cross_the_nics():
    """Llama-3-8B on 2 DGX H100, TP 8 × DP 2: TP inside each node reduces over NVLink and DP over the NICs;
    DP placed first puts the 8-way TP groups across nodes (hierarchical over the NICs, slower) and the
    data-parallel reductions of the gradients inside the nodes (over NVLink, faster)."""
    args = ("configs/h100_superpod_1024.yaml", "workloads/llama3_8b_train.yaml")
    plan = ["model.num_hidden_layers=2", "training.sequence=1024", "training.global_batch=4", "parallel.tp=8",
            "parallel.dp=2"]
    near = run_files(*args, ["system.chips=16"], plan).summary
    far = run_files(*args, ["system.chips=16", "system.placement=[dp, tp]"], plan).summary
    assert {"all_reduce:ring", "reduce_scatter:hierarchical"} <= set(near["collective_algorithms"])  # TP, ZeRO-2
    assert "all_reduce:hierarchical" in far["collective_algorithms"]  # TP over the NICs
    assert far["exposed_comm_tp_s"] > 2 * near["exposed_comm_tp_s"]
    assert far["exposed_comm_dp_s"] < near["exposed_comm_dp_s"] / 2
    assert far["flops"] == near["flops"]
