"""Node energy defaults (configs/energy/nodes.yaml) against their sources, and how a chip resolves its rates."""

import pytest

from simulator.config.dtypes import DTYPES
from simulator.config.loader import load_chip
from simulator.config.presets import preset_names
from simulator.config.schema import energy_nodes
from simulator.errors import ConfigError
from simulator.hardware import energy
from simulator.hardware.chip import Chip
from simulator.hardware.energy import energy_rates, node_defaults

pJ = 1e-12


@pytest.mark.parametrize("node", list(energy_nodes()))
def test_every_node_loads_with_every_dtype(node):
    values = node_defaults(node)
    assert set(values.mac) == set(DTYPES) and set(values.vector_op) == set(DTYPES)
    assert all(v > 0 for v in (*values.mac.values(), *values.vector_op.values()))
    assert values.sram > 0 and values.l2 > values.sram and values.hbm > values.l2 and values.link > 0


def test_45nm_is_horowitz_isscc_2014():
    """hardware.md §3.1: a MAC is one multiply plus one add; SRAM figures are per 64-bit (8-byte) read."""
    n = node_defaults("45nm")
    assert n.mac["int8"] == pytest.approx((0.2 + 0.03) * pJ)
    assert n.mac["fp16"] == pytest.approx((1.1 + 0.4) * pJ)
    assert n.mac["fp32"] == pytest.approx((3.7 + 0.9) * pJ)
    assert n.vector_op["fp32"] == pytest.approx((3.7 + 0.9) / 2 * pJ)
    assert n.sram == pytest.approx(20 * pJ / 8)  # 32 KB array
    assert n.l2 == pytest.approx(100 * pJ / 8)  # 1 MB array
    assert 1300 * pJ / 8 <= n.hbm <= 2600 * pJ / 8  # DRAM 64-bit access 1.3–2.6 nJ


@pytest.mark.parametrize("node, factor", [("7nm", 28 / 45 * 0.445), ("5nm", 28 / 45 * 0.445 * 0.7)])
def test_smaller_nodes_are_45nm_times_their_documented_factor(node, factor):
    """The derivation written at the top of nodes.yaml, to the two digits the values are rounded to."""
    base, scaled = node_defaults("45nm"), node_defaults(node)
    for table in ("mac", "vector_op"):
        for dtype in DTYPES:
            assert getattr(scaled, table)[dtype] == pytest.approx(getattr(base, table)[dtype] * factor, rel=0.06)
    assert scaled.sram == pytest.approx(base.sram * factor, rel=0.03)
    assert scaled.l2 == pytest.approx(base.l2 * factor, rel=0.03)


def test_hbm_and_links_are_their_published_per_bit_figures():
    assert node_defaults("7nm").hbm == pytest.approx(3.9 * 8 * pJ)  # HBM2, O'Connor et al. MICRO 2017
    assert 3 * 8 * pJ <= node_defaults("5nm").hbm <= 4 * 8 * pJ  # HBM3 "~3–4 pJ/bit"
    assert node_defaults("7nm").link == pytest.approx(5.5 * 8 * pJ)  # SerDes


def test_overrides_win_and_nothing_else_moves():
    base = energy_rates(load_chip("h100"))
    rates = energy_rates(load_chip("h100", ["energy.mac.bf16=1 pJ", "energy.sram=1 pJ/B", "energy.static_power=1 W"]))
    assert rates.mac_j["bf16"] == pytest.approx(1 * pJ) and rates.sram_j == pytest.approx(1 * pJ)
    assert rates.static_w == 1.0
    assert {k: v for k, v in rates.mac_j.items() if k != "bf16"} == {k: v for k, v in base.mac_j.items() if k != "bf16"}
    assert (rates.vector_op_j, rates.l2_j, rates.hbm_j, rates.link_j) == \
        (base.vector_op_j, base.l2_j, base.hbm_j, base.link_j)


def test_changing_the_node_changes_every_default():
    a = energy_rates(load_chip("tpu_v4"))
    b = energy_rates(load_chip("tpu_v4", ["energy.node=45nm"]))
    assert b.node == "45nm" and all(b.mac_j[d] > a.mac_j[d] for d in DTYPES)
    assert b.static_w == a.static_w == 90.0  # the preset's own static power stays


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_resolves_with_a_node_and_its_own_static_power(name):
    config = load_chip(name)
    assert config.energy.static_power is not None  # set in the preset, with its source
    rates = Chip(config).energy
    assert rates.node in energy_nodes()
    assert set(rates.mac_j) == set(DTYPES)


def test_measured_and_estimated_static_powers():
    assert Chip(load_chip("tpu_v4")).energy.static_w == 90.0  # Cloud TPU docs, minimum power
    for name, tdp in (("h100", 700), ("a100", 400)):  # ESTIMATE: TPU v4 min/max ratio × TDP
        assert Chip(load_chip(name)).energy.static_w == pytest.approx(tdp * 90 / 192, abs=0.5)


def test_a_node_missing_a_dtype_is_one_line_naming_the_node_file(monkeypatch):
    table = {"odd": {**energy_nodes()["7nm"], "mac": {"bf16": "1 pJ"}}}
    monkeypatch.setattr(energy, "energy_nodes", lambda: table)
    with pytest.raises(ConfigError) as info:
        node_defaults.__wrapped__("odd")
    assert info.value.source.endswith("nodes.yaml") and info.value.field == "odd.mac"
    assert "fp32" in str(info.value) and "\n" not in str(info.value)


def test_a_node_with_a_bad_unit_names_the_node_file_and_field(monkeypatch):
    table = {"odd": {**energy_nodes()["7nm"], "sram": "1 pJ"}}
    monkeypatch.setattr(energy, "energy_nodes", lambda: table)
    with pytest.raises(ConfigError) as info:
        node_defaults.__wrapped__("odd")
    assert info.value.source.endswith("nodes.yaml") and info.value.field == "odd.sram"
