"""Per-core shares of the shared levels and the bandwidth an op reserves, at achievable bandwidth."""

import pytest

from simulator.hardware.bandwidth import bandwidth_demand, core_share
from tests.conftest import make_chip


def test_core_share_splits_the_achievable_hbm_bandwidth():
    # 8 cores at 1 GHz, 1 TB/s HBM at 50 %: 500 B/cycle to share; DMA ports far faster.
    chip = make_chip("cores=8", "memory.hbm.efficiency=0.5")
    share = core_share(chip, fraction=0.5, active_cores=4)
    assert share.hbm == pytest.approx(500 * 0.5 / 4)
    assert share.nearest == pytest.approx(share.hbm)  # no L2: HBM is the nearest level


def test_core_share_of_l2_is_achievable_and_capped_by_the_dma_port():
    chip = make_chip("cores=4", "memory.l2.size=1 MiB", "memory.l2.bandwidth=4 TB/s",
                     "memory.l2.efficiency=0.25", "core.dma.bandwidth=400 B/cycle")
    assert core_share(chip, 1.0, 4).nearest == pytest.approx(4000 * 0.25 / 4)  # 250 < the 400 B/cycle port
    assert core_share(chip, 1.0, 1).nearest == pytest.approx(400)  # one core: its port is the limit


def test_bandwidth_demand_is_what_the_ports_can_pull_of_achievable_hbm():
    chip = make_chip("cores=8", "core.dma.bandwidth=100 GB/s", "memory.hbm.efficiency=0.5")  # 500 GB/s achievable
    assert bandwidth_demand(chip, 2) == pytest.approx(0.4)
    assert bandwidth_demand(chip, 8) == 1.0


def test_bandwidth_demand_is_taken_against_the_slowest_level(a100):
    # 64 A100 SMs pull 64 × 64 = 4096 B/cycle: 80 % of the L2 but more than all of HBM (1206 B/cycle
    # achievable). A matvec streaming from HBM must be able to reserve all of it.
    assert 64 * a100.dma_bytes_per_cycle < a100.l2.achievable_bytes_per_cycle
    assert bandwidth_demand(a100, 64) == 1.0
    assert bandwidth_demand(a100, 1) == pytest.approx(64 / a100.hbm.achievable_bytes_per_cycle)
