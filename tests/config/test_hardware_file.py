"""HardwareFile (simulator/config/loader.py): a hardware file read once and loaded with many override lists, as a
sweep's validation does, gives exactly load_chip's config or error every time, with nothing carried over from
one load to the next."""

from pathlib import Path

import pytest
import yaml

from simulator.config.loader import HardwareFile, load_chip, load_system
from simulator.config.presets import preset_names, preset_path
from simulator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_FILES = [str(ROOT / "configs/examples" / name) for name in ("dgx_h100_system.yaml", "tpu_v4_2x2x2_system.yaml")]
CHIP_OVERRIDES = [[], ["core.mxu.rows=64", "core.mxu.cols=64"], ['memory.hbm.bandwidth="1.2 TB/s"'],
                  ["memory.hbm.bandwidth=1.2000001 TB/s", 'core.sram.size="24 MiB"'], ["core.sram.size=24 MiB"],
                  ["clock=1.5 GHz", "op_overhead=2 us", "energy.static_power=80 W"], ["memory.l2=null"],
                  ["core.mxu.macs_per_pe={bf16: 2.0}"]]
CHIP_ERRORS = [["core.mxu.rows=0"], ['core.sram.size="0 MiB"'], ['memory.hbm.bandwidth="1.2 TB"'], ["core.mxu.rowz=4"],
               ["clock=fast"], ["memory.hbm.efficiency=1.5"], ["core.mxu.rows=64", "core.sram.stages=1"],
               ["chip.cores=2"]]


def _error(load, overrides) -> str:
    with pytest.raises(ConfigError) as info:
        load(overrides)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("name", preset_names())
def test_one_file_many_loads_gives_load_chip_each_time(name):
    file = HardwareFile(name)
    for _ in range(2):
        for overrides in CHIP_OVERRIDES + [[]]:
            try:
                expected = load_chip(name, overrides)
            except ConfigError as exc:  # a preset without an l2 or an mxu field: the same error either way
                assert _error(file.chip, overrides) == str(exc)
                continue
            assert file.chip(overrides) == expected


@pytest.mark.parametrize("overrides", CHIP_ERRORS)
def test_a_bad_value_is_the_same_one_line_error_and_leaves_nothing_behind(overrides):
    file = HardwareFile("tpu_v4")
    try:
        load_chip("tpu_v4", overrides)
        raise AssertionError("expected a ConfigError")
    except ConfigError as exc:
        expected = str(exc)
    assert _error(file.chip, overrides) == expected
    assert "--set" in expected
    assert file.chip([]) == load_chip("tpu_v4")  # the failed load's overrides and provenance are gone
    other = ["core.vector.lanes=0"]
    assert _error(file.chip, other) == _error(lambda o: load_chip("tpu_v4", o), other)


def test_a_unit_value_error_names_the_field_value_and_what_is_allowed():
    line = _error(HardwareFile("tpu_v4").chip, ['memory.hbm.bandwidth="1.2 TB"'])
    assert line.startswith("--set memory.hbm.bandwidth=\"1.2 TB\": memory.hbm.bandwidth = '1.2 TB': "
                           "a bandwidth such as")


@pytest.mark.parametrize("path", SYSTEM_FILES)
def test_system_layout_files(path):
    file = HardwareFile(path)
    for overrides in ([], ["link.bandwidth=50 GB/s"], ["chip.clock=1 GHz"]):
        assert file.system(overrides) == load_system(path, overrides)
        assert file.chip(overrides) == load_chip(path, overrides)
    assert _error(file.chip, ["chip.cores=0"]) == _error(lambda o: load_chip(path, o), ["chip.cores=0"])


def test_a_file_over_a_preset_and_a_file_with_aliases(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("preset: tpu_v4\nname: mine\ncore:\n  mxu: &mxu {rows: 64}\n  dma: {bandwidth: 1 TB/s}\n")
    file = HardwareFile(str(mine))
    for overrides in ([], ["core.mxu.cols=64"], ["memory.hbm.size=16 GiB"]):
        assert file.chip(overrides) == load_chip(str(mine), overrides)
    assert _error(file.chip, ["core.dma.bandwidth=0 TB/s"]) == _error(lambda o: load_chip(str(mine), o),
                                                                        ["core.dma.bandwidth=0 TB/s"])



def test_an_alias_in_a_file_stays_one_object_as_it_always_was(tmp_path):
    """YAML aliases make one mapping sit in two places; an override of it has always changed both (the file's
    data was copied with deepcopy, which keeps that), and still does, on every load."""
    data = yaml.safe_load(preset_path("tpu_v4").read_text())
    shared = {"bf16": 1.0}
    data["core"]["mxu"]["macs_per_pe"] = data["core"]["vector"]["ops_per_lane"] = shared
    path = tmp_path / "aliased.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert "*id001" in path.read_text()
    file = HardwareFile(str(path))
    for _ in range(2):
        overrides = ["core.mxu.macs_per_pe.bf16=2.0"]
        for chip in (file.chip(overrides), load_chip(str(path), overrides)):
            assert chip.core.mxu.macs_per_pe == chip.core.vector.ops_per_lane == {"bf16": 2.0}
        assert file.chip([]).core.vector.ops_per_lane == {"bf16": 1.0}


def test_a_missing_file_or_preset_is_the_same_error():
    with pytest.raises(ConfigError) as a:
        HardwareFile("no_such_chip")
    with pytest.raises(ConfigError) as b:
        load_chip("no_such_chip")
    assert str(a.value) == str(b.value)
