"""The `energy:` section of a hardware file: unit spellings, overrides over the node, and one-line errors."""

import pytest

from simulator.config.loader import load_chip
from simulator.config.presets import preset_names, preset_path
from simulator.config.schema import EnergyConfig, energy_nodes
from simulator.config.units import (
    ENERGY_HELP,
    ENERGY_PER_BYTE_HELP,
    POWER_HELP,
    format_energy,
    format_energy_per_byte,
    format_power,
    parse_energy,
    parse_energy_per_byte,
    parse_power,
)
from simulator.errors import ConfigError
from simulator.hardware.chip import Chip


@pytest.mark.parametrize("text, joules", [
    ("0.23 pJ", 0.23e-12), ("1.1 pJ", 1.1e-12), ("2 fJ", 2e-15), ("1 nJ", 1e-9), ("3uJ", 3e-6), ("3 µJ", 3e-6),
    ("3 μJ", 3e-6), ("5 mJ", 5e-3), ("1.5 J", 1.5), ("1e3 fJ", 1e-12), ("1_000 fJ", 1e-12),
])
def test_energy_spellings(text, joules):
    assert parse_energy(text) == pytest.approx(joules, rel=1e-12)


@pytest.mark.parametrize("text, per_byte", [
    ("3.9 pJ/bit", 8 * 3.9e-12), ("31 pJ/B", 31e-12), ("31 pJ/byte", 31e-12), ("250 fJ/bit", 2e-12),
    ("1 nJ/B", 1e-9),
])
def test_energy_per_byte_spellings(text, per_byte):
    assert parse_energy_per_byte(text) == pytest.approx(per_byte, rel=1e-12)


@pytest.mark.parametrize("text, watts", [("90 W", 90.0), ("500 mW", 0.5), ("0.7 kW", 700.0), ("0 W", 0.0)])
def test_power_spellings(text, watts):
    assert parse_power(text) == pytest.approx(watts, rel=1e-12)


@pytest.mark.parametrize("parse, bad", [
    (parse_energy, "1 pj"), (parse_energy, "1"), (parse_energy, 1e-12), (parse_energy, "-1 pJ"),
    (parse_energy, "1 pJ/bit"), (parse_energy, "1 W"), (parse_energy, True),
    (parse_energy_per_byte, "4 pJ"), (parse_energy_per_byte, "4 pJ/b"), (parse_energy_per_byte, "4 pJ/s"),
    (parse_power, "90 J"), (parse_power, "90 w"), (parse_power, 90),
])
def test_rejected_spellings(parse, bad):
    with pytest.raises(ValueError):
        parse(bad)


@pytest.mark.parametrize("value", [0.23e-12, 2.3000000000000003e-13, 1e-15, 3.12e-11, 1 / 3 * 1e-12, 0.0])
def test_formatted_values_read_back_exactly(value):
    assert parse_energy(format_energy(value)) == value
    assert parse_energy_per_byte(format_energy_per_byte(value)) == value
    assert parse_power(format_power(value * 1e12)) == value * 1e12


def test_overrides_are_stored_in_joules_and_the_rest_stays_unset():
    config = load_chip("h100", ["energy.mac.bf16=0.5 pJ", "energy.hbm=4 pJ/bit", "energy.static_power=0.3 kW"])
    e = config.energy
    assert e.node == "5nm"  # from the preset
    assert e.mac == {"bf16": pytest.approx(0.5e-12)}
    assert e.hbm == pytest.approx(32e-12) and e.static_power == pytest.approx(300.0)
    assert e.sram is None and e.vector_op == {}


def test_a_resolved_config_validates_again_to_the_same_energies():
    config = load_chip("h100", ["energy.mac.fp8=0.123 pJ", "energy.link=1.3 pJ/bit"])
    dumped = config.energy.model_dump()
    assert dumped["link"] == "10.4 pJ/B"  # readable, and in a unit the schema accepts
    assert EnergyConfig.model_validate(dumped) == config.energy


def test_system_presets_inherit_their_chip_energy():
    assert load_chip("dgx_h100").energy == load_chip("h100").energy
    assert load_chip("tpu_v4_2x2x2").energy == load_chip("tpu_v4").energy


def test_unknown_node_is_one_line_naming_the_field_and_the_nodes():
    with pytest.raises(ConfigError) as info:
        load_chip("h100", ["energy.node=3nm"])
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("--set energy.node=3nm: energy.node = '3nm': ")
    assert "configs/energy/nodes.yaml" in text
    assert all(node in text for node in energy_nodes())


def test_unknown_node_in_a_file_names_that_file(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text("preset: tpu_v4\nname: x\nenergy:\n  node: 2nm\n")
    with pytest.raises(ConfigError) as info:
        load_chip(str(path))
    assert (info.value.source, info.value.field, info.value.value) == (str(path), "energy.node", "2nm")


@pytest.mark.parametrize("field, value, allowed", [
    ("energy.hbm", "4 pJ", ENERGY_PER_BYTE_HELP), ("energy.mac.bf16", "1 pj", ENERGY_HELP),
    ("energy.static_power", "90 J", POWER_HELP), ("energy.vector_op.fp32", "2", ENERGY_HELP),
])
def test_bad_unit_in_a_file_is_one_line_naming_file_field_value_and_units(tmp_path, field, value, allowed):
    keys = field.split(".")
    body = f"{keys[1]}: {{{keys[2]}: '{value}'}}" if len(keys) == 3 else f"{keys[1]}: '{value}'"
    path = tmp_path / "chip.yaml"
    path.write_text(f"preset: h100\nname: x\nenergy:\n  {body}\n")
    with pytest.raises(ConfigError) as info:
        load_chip(str(path))
    e = info.value
    assert (e.source, e.field, e.value, e.allowed) == (str(path), field, value, allowed)
    assert "\n" not in str(e)


def test_unknown_dtype_and_unknown_field_are_refused():
    with pytest.raises(ConfigError, match="energy.mac.bf17"):
        load_chip("h100", ["energy.mac.bf17=1 pJ"])
    with pytest.raises(ConfigError, match="unknown field; allowed here: node, mac, vector_op"):
        load_chip("h100", ["energy.dram=1 pJ/B"])


# --- what a run reports as assumed about energy (hardware.energy.energy_assumptions) -----------------------


def _energy_notes(tmp_path, energy: str) -> list[str]:
    """The energy notes of systolic_32x32 with its `energy:` section replaced by `energy`."""
    path = tmp_path / "chip.yaml"
    path.write_text(preset_path("systolic_32x32").read_text(encoding="utf-8").split("energy:")[0] + energy)
    return [n for n in Chip(load_chip(str(path))).assumptions if n.startswith("energy")]


def test_a_chip_without_energy_section_is_said_to_get_45nm_and_0_w(tmp_path):
    assert _energy_notes(tmp_path, "") == [
        "energy.node = 45nm and energy.static_power = 0 W (no leakage counted): the hardware file has no energy: "
        "section"]


@pytest.mark.parametrize("energy, notes", [
    ("energy: {node: 7nm}\n", ["energy.static_power = 0 W, the 7nm node's (no leakage counted)"]),
    ("energy: {static_power: 40 W}\n", ["energy.node = 45nm"]),
    ("energy: {node: 45nm, static_power: 0 W}\n", []),  # the defaults, said: nothing assumed
])
def test_each_energy_default_left_out_is_named(tmp_path, energy, notes):
    assert _energy_notes(tmp_path, energy) == notes


def test_every_bundled_chip_sets_its_node_and_static_power():
    for name in preset_names():
        assert not [n for n in Chip(load_chip(name)).assumptions if n.startswith("energy")], name
