"""Hardware config loading (simulator/config/loader.py): presets, files, merges, overrides and bad input.

Every bad input must raise one ConfigError whose single line names the file (or `--set ...`), the field
path, the bad value and what is allowed.
"""

from pathlib import Path

import pytest

from simulator.config import presets as presets_module
from simulator.config.loader import load_chip, resolve_hardware_path
from simulator.config.presets import preset_names, preset_path
from simulator.config.schema import ChipConfig
from simulator.config.units import Latency, Rate
from simulator.errors import MISSING, ConfigError, TortoiseError

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ("a100", "h100", "systolic_32x32", "tpu_v4")


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def config_error(spec, overrides=(), *, source, field, value, allowed) -> ConfigError:
    """Load, expect a ConfigError, and check each piece of it and of its one-line message."""
    with pytest.raises(ConfigError) as info:
        load_chip(spec, list(overrides))
    err = info.value
    line = str(err)
    assert "\n" not in line
    assert err.source == source
    assert err.field == field
    if value is MISSING:
        assert err.value is MISSING
        assert "(missing)" in line
    elif field:
        assert err.value == value
        assert repr(value) in line
    else:  # about the whole file or argument: `source: value: allowed`, or `source: allowed` when they are one
        assert err.value == value
        assert line.startswith(f"{source}: " if value == source else f"{source}: {value}: ")
    if field:
        assert line.startswith(f"{source}: {field} = ")
    for piece in [allowed] if isinstance(allowed, str) else allowed:
        assert piece in err.allowed
        assert piece in line
    assert isinstance(err, TortoiseError)
    return err


# ------------------------------------------------------------------------------------------- presets


def test_bundled_presets_are_the_yaml_files_in_configs():
    assert preset_names() == sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    assert set(BUNDLED) <= set(preset_names())


@pytest.mark.parametrize("name", BUNDLED)
def test_preset_loads_by_name_and_by_path(name, monkeypatch):
    by_name = load_chip(name)
    assert isinstance(by_name, ChipConfig)
    assert by_name.name == name
    monkeypatch.chdir(ROOT)
    by_relative_path = load_chip(f"configs/{name}.yaml")
    by_absolute_path = load_chip(ROOT / "configs" / f"{name}.yaml")
    assert by_relative_path == by_name
    assert by_absolute_path == by_name


def test_h100_preset_values():
    chip = load_chip("h100")
    assert chip.clock == pytest.approx(1.83e9)
    assert chip.cores == 132
    assert (chip.core.mxu.count, chip.core.mxu.rows, chip.core.mxu.cols) == (4, 16, 32)
    assert chip.core.mxu.dataflow == "os"
    assert chip.core.mxu.pipelined is True
    assert chip.core.mxu.macs_per_pe == {"bf16": 1.0, "fp16": 1.0, "fp8": 2.0, "int8": 2.0, "fp32": 0.5}
    assert chip.core.sram.size == 228 * 1024
    assert chip.core.sram.stages == 4
    assert chip.core.accumulators == 256 * 1024
    assert chip.core.dma.bandwidth == Rate(64, True)
    assert chip.core.dma.latency == Latency(200, True)
    assert chip.memory.l2.size == 50_000_000
    assert chip.memory.hbm.size == 80_000_000_000
    assert chip.memory.hbm.bandwidth.value == pytest.approx(3.35e12)
    assert chip.memory.hbm.latency.cycles(chip.clock) == 915  # 500 ns at 1.83 GHz


def test_a100_preset_values():
    chip = load_chip("a100")
    assert chip.clock == pytest.approx(1.41e9)
    assert chip.cores == 108
    assert (chip.core.mxu.count, chip.core.mxu.rows, chip.core.mxu.cols) == (4, 16, 16)
    assert chip.core.mxu.macs_per_pe == {"bf16": 1.0, "fp16": 1.0, "int8": 2.0, "fp32": 0.5}
    assert chip.core.sram.size == 164 * 1024
    assert chip.core.accumulators == 256 * 1024
    assert chip.memory.l2.size == 40_000_000
    assert chip.memory.l2.bandwidth == Rate(5120, True)
    assert chip.memory.hbm.size == 80_000_000_000
    assert chip.memory.hbm.bandwidth == Rate(2039e9, False)
    assert chip.memory.hbm.efficiency == pytest.approx(1700 / 2039, abs=5e-4)  # gpt-fast's ~1700 GB/s
    assert chip.op_overhead.cycles(chip.clock) == 1833  # 1.3 us at 1.41 GHz


def test_h100_efficiency_and_overhead():
    chip = load_chip("h100")
    assert chip.memory.hbm.efficiency == pytest.approx(3.84 / 4.1, abs=5e-4)  # scaling-book fp32 add
    assert chip.memory.l2.efficiency == 1.0
    assert chip.op_overhead == Latency(1.3e-6, False)
    assert chip.op_overhead.cycles(chip.clock) == 2379  # 1.3 us at 1.83 GHz


def test_tpu_v4_preset_values():
    chip = load_chip("tpu_v4")
    assert chip.clock == pytest.approx(1.05e9)
    assert chip.cores == 2
    assert (chip.core.mxu.count, chip.core.mxu.rows, chip.core.mxu.cols) == (4, 128, 128)
    assert chip.core.mxu.dataflow == "ws"
    assert chip.core.sram.size == 16 * 2**20
    assert chip.memory.l2.size == 128 * 2**20
    assert chip.memory.hbm.size == 32 * 2**30
    assert chip.memory.hbm.bandwidth == Rate(1.2e12, False)


def test_defaults_fill_fields_a_file_leaves_out():
    chip = load_chip("systolic_32x32")
    assert chip.memory.l2 is None
    assert chip.core.accumulators == 0
    assert chip.core.mxu.macs_per_pe == {"bf16": 1.0, "fp16": 1.0, "fp8": 1.0, "int8": 1.0}
    assert chip.core.vector.ops_per_lane == {"fp32": 1.0, "bf16": 1.0, "fp16": 1.0}
    assert chip.core.dma.latency == Latency(0, True)
    assert chip.memory.hbm.efficiency == 1.0
    assert chip.op_overhead == Latency(0, True)
    assert load_chip("tpu_v4").memory.hbm.efficiency == 1.0  # no published figure: datasheet bandwidth
    assert load_chip("tpu_v4").op_overhead == Latency(0, True)


def test_config_is_frozen():
    chip = load_chip("tpu_v4")
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        chip.cores = 3


# ----------------------------------------------------------------------------------- path resolution


@pytest.mark.parametrize("name", BUNDLED)
def test_configs_path_falls_back_to_the_bundled_preset(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    spec = f"configs/{name}.yaml"
    assert not Path(spec).exists()
    assert resolve_hardware_path(spec) == preset_path(name)
    assert load_chip(spec) == load_chip(name)


def test_only_a_configs_path_falls_back(tmp_path, monkeypatch):
    # a mistyped path to the user's own file must not silently load the bundled preset instead
    monkeypatch.chdir(tmp_path)
    for spec in ("mine/h100.yaml", str(tmp_path / "h100.yaml")):
        config_error(spec, source=spec, field="", value=spec, allowed="no such file or preset")


def test_existing_file_wins_over_a_preset_of_the_same_stem(tmp_path):
    path = write(tmp_path / "h100.yaml", "preset: tpu_v4\nname: my_h100\n")
    assert resolve_hardware_path(path) == Path(path)
    chip = load_chip(path)
    assert chip.name == "my_h100"
    assert chip.cores == 2  # from tpu_v4, not the bundled h100


def test_missing_file_with_unknown_stem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config_error("configs/nope.yaml", source="configs/nope.yaml", field="", value="configs/nope.yaml",
                 allowed=["no such file or preset", "h100", "systolic_32x32", "tpu_v4"])


def test_unknown_preset_name_lists_presets():
    config_error("tpu_v9", source="tpu_v9", field="", value="tpu_v9",
                 allowed=["no such file or preset; presets: " + ", ".join(preset_names()), *BUNDLED])


# ------------------------------------------------------------------------------- user files and merges


def test_user_file_with_preset_and_overrides_deep_merges(tmp_path):
    path = write(tmp_path / "mine.yaml", """
preset: tpu_v4
name: tpu_v4_big_vmem
cores: 4
core:
  mxu:
    rows: 256
  sram:
    size: 32 MiB
memory:
  hbm:
    bandwidth: 2.4 TB/s
""")
    chip = load_chip(path)
    base = load_chip("tpu_v4")
    assert chip.name == "tpu_v4_big_vmem"
    assert chip.cores == 4
    assert chip.core.mxu.rows == 256
    assert chip.core.sram.size == 32 * 2**20
    assert chip.memory.hbm.bandwidth == Rate(2.4e12, False)
    # untouched fields, including siblings inside the overridden groups, keep the preset's values
    assert chip.core.mxu.cols == base.core.mxu.cols == 128
    assert chip.core.mxu.count == base.core.mxu.count
    assert chip.core.mxu.dataflow == base.core.mxu.dataflow == "ws"
    assert chip.core.mxu.macs_per_pe == base.core.mxu.macs_per_pe
    assert chip.core.sram.stages == base.core.sram.stages
    assert chip.memory.hbm.size == base.memory.hbm.size
    assert chip.memory.hbm.latency == base.memory.hbm.latency
    assert chip.memory.l2 == base.memory.l2
    assert chip.clock == base.clock
    assert chip.description == base.description
    assert chip.core.vector == base.core.vector
    assert chip.core.dma == base.core.dma


def test_user_file_without_preset_is_complete_by_itself(tmp_path):
    path = write(tmp_path / "tiny.yaml", """
name: tiny
clock: 500 MHz
cores: 1
core:
  mxu: {rows: 8, cols: 8}
  vector: {lanes: 8}
  sram: {size: 64 KiB}
  dma: {bandwidth: 16 B/cycle}
memory:
  hbm: {size: 1 GiB, bandwidth: 100 GB/s, latency: 100 ns}
""")
    chip = load_chip(path)
    assert chip.clock == 500e6
    assert chip.core.mxu.count == 1
    assert chip.core.mxu.dataflow == "os"
    assert chip.core.sram.stages == 2
    assert chip.memory.hbm.latency.cycles(chip.clock) == 50


def test_a_mapping_in_a_user_file_replaces_only_the_keys_it_names(tmp_path):
    # macs_per_pe is a mapping too: naming one dtype keeps the preset's others
    path = write(tmp_path / "m.yaml", "preset: h100\ncore:\n  mxu:\n    macs_per_pe: {fp8: 4}\n")
    assert load_chip(path).core.mxu.macs_per_pe == {"bf16": 1, "fp16": 1, "fp8": 4, "int8": 2, "fp32": 0.5}


def test_l2_can_be_removed_with_null(tmp_path):
    path = write(tmp_path / "nol2.yaml", "preset: tpu_v4\nmemory:\n  l2: null\n")
    assert load_chip(path).memory.l2 is None
    assert load_chip("tpu_v4", ["memory.l2=null"]).memory.l2 is None


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    """An alternative bundled-preset folder, so presets can be chained and broken."""
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "base.yaml").write_text(preset_path("tpu_v4").read_text())
    monkeypatch.setattr(presets_module, "preset_dir", lambda: folder)
    return folder


def test_chained_presets(preset_dir, tmp_path):
    (preset_dir / "mid.yaml").write_text("preset: base\nname: mid\ncores: 4\ncore:\n  mxu:\n    cols: 64\n")
    assert preset_names() == ["base", "mid"]
    path = write(tmp_path / "top.yaml", "preset: mid\nname: top\ncore:\n  mxu:\n    rows: 32\n")
    chip = load_chip(path)
    assert chip.name == "top"
    assert chip.cores == 4  # from mid
    assert (chip.core.mxu.rows, chip.core.mxu.cols) == (32, 64)  # top, mid
    assert chip.core.mxu.count == 4  # from base
    assert chip.clock == pytest.approx(1.05e9)  # from base
    assert load_chip("mid").name == "mid"


def test_preset_cycle_is_an_error(preset_dir, tmp_path):
    (preset_dir / "a.yaml").write_text("preset: b\n")
    (preset_dir / "b.yaml").write_text("preset: a\n")
    with pytest.raises(ConfigError) as info:
        load_chip("a")
    assert info.value.field == "preset"
    assert "cycle" in str(info.value)
    assert "\n" not in str(info.value)


def test_preset_referring_to_itself_is_an_error(preset_dir):
    (preset_dir / "selfish.yaml").write_text("preset: selfish\nname: x\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_chip("selfish")


def test_error_in_a_preset_value_names_the_preset_file(preset_dir, tmp_path):
    broken = preset_dir / "broken.yaml"
    broken.write_text((ROOT / "configs" / "tpu_v4.yaml").read_text().replace("cores: 2 ", "cores: 0 "))
    path = write(tmp_path / "user.yaml", "preset: broken\nname: user\ncore:\n  mxu:\n    rows: 64\n")
    config_error(path, source=str(broken), field="cores", value=0, allowed="must be ≥ 1")


def test_error_in_a_middle_preset_names_the_middle_file(preset_dir, tmp_path):
    mid = preset_dir / "mid.yaml"
    mid.write_text("preset: base\ncore:\n  sram:\n    size: -1\n")
    path = write(tmp_path / "user.yaml", "preset: mid\nname: user\n")
    config_error(path, source=str(mid), field="core.sram.size", value=-1, allowed="a size such as 32 MiB")


def test_user_value_over_a_preset_names_the_user_file(tmp_path):
    path = write(tmp_path / "user.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    rows: 0\n")
    config_error(path, source=path, field="core.mxu.rows", value=0, allowed="must be ≥ 1")


# ------------------------------------------------------------------------------------------ overrides


def test_set_overrides():
    chip = load_chip("tpu_v4", ["core.mxu.rows=256"])
    assert chip.core.mxu.rows == 256
    assert chip.core.mxu.cols == 128
    chip = load_chip("tpu_v4", ["cores=2", "cores=4", "clock=2 GHz", "core.mxu.dataflow=os",
                                "memory.hbm.bandwidth=3 TB/s", "core.mxu.pipelined=false"])
    assert chip.cores == 4  # the last one wins
    assert chip.clock == 2e9
    assert chip.core.mxu.dataflow == "os"
    assert chip.core.mxu.pipelined is False
    assert chip.memory.hbm.bandwidth == Rate(3e12, False)


def test_set_overrides_apply_over_a_user_file(tmp_path):
    path = write(tmp_path / "user.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    rows: 64\n")
    chip = load_chip(path, ["core.mxu.cols=32", "core.mxu.macs_per_pe.fp8=2"])
    assert (chip.core.mxu.rows, chip.core.mxu.cols) == (64, 32)
    assert chip.core.mxu.macs_per_pe == {"bf16": 1, "int8": 1, "fp8": 2}


def test_set_can_index_a_list_and_create_a_missing_group():
    chip = load_chip("tpu_v4", ["sources.0=my own measurement"])
    assert chip.sources[0] == "my own measurement"
    chip = load_chip("systolic_32x32", ["memory.l2.size=1 MiB", "memory.l2.bandwidth=2 TB/s"])
    assert chip.memory.l2.size == 2**20
    assert chip.memory.l2.bandwidth == Rate(2e12, False)


def test_overrides_do_not_leak_into_later_loads():
    load_chip("tpu_v4", ["core.mxu.rows=256", "memory.l2=null"])
    again = load_chip("tpu_v4")
    assert again.core.mxu.rows == 128
    assert again.memory.l2 is not None


# ------------------------------------------------------------------------------------------ bad input


def test_unknown_key_lists_allowed_fields(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    rowz: 4\n")
    config_error(path, source=path, field="core.mxu.rowz", value=4,
                 allowed="unknown field; allowed here: count, rows, cols, dataflow, pipelined, macs_per_pe")


def test_unknown_top_level_key_lists_allowed_fields(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\nclok: 1 GHz\n")
    config_error(path, source=path, field="clok", value="1 GHz",
                 allowed="allowed here: name, description, sources, clock, cores, core, memory")


def test_wrong_type(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    rows: lots\n")
    config_error(path, source=path, field="core.mxu.rows", value="lots", allowed="must be a whole number")


@pytest.mark.parametrize("value, shown", [("true", True), ("2.0", 2.0), ("'2'", "2")])
def test_count_must_be_a_whole_number_not_bool_float_or_text(tmp_path, value, shown):
    path = write(tmp_path / "c.yaml", f"preset: tpu_v4\ncores: {value}\n")
    config_error(path, source=path, field="cores", value=shown, allowed="must be a whole number")


def test_wrong_type_for_a_group(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore: 5\n")
    config_error(path, source=path, field="core", value=5, allowed="must be a group of fields")


def test_negative_size(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  sram:\n    size: -1\n")
    config_error(path, source=path, field="core.sram.size", value=-1,
                 allowed=["a size such as 32 MiB", "KiB", "MiB"])


def test_zero_sram_size(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  sram:\n    size: 0 KiB\n")
    config_error(path, source=path, field="core.sram.size", value="0 KiB", allowed="must be a size > 0")


def test_zero_clock(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\nclock: 0 GHz\n")
    config_error(path, source=path, field="clock", value="0 GHz", allowed="must be a frequency from 1 MHz to 100 GHz")


def test_clock_without_unit(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\nclock: 1000000000\n")
    config_error(path, source=path, field="clock", value=1_000_000_000,
                 allowed=["a frequency such as", "MHz", "GHz"])


@pytest.mark.parametrize("field", ["rows", "cols", "count"])
def test_array_of_zero(tmp_path, field):
    path = write(tmp_path / "c.yaml", f"preset: tpu_v4\ncore:\n  mxu:\n    {field}: 0\n")
    config_error(path, source=path, field=f"core.mxu.{field}", value=0, allowed="must be ≥ 1")


def test_too_few_sram_stages(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  sram:\n    stages: 1\n")
    config_error(path, source=path, field="core.sram.stages", value=1, allowed="must be ≥ 2")


def test_preset_that_does_not_exist_lists_presets(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v9\ncores: 4\n")
    config_error(path, source=path, field="preset", value="tpu_v9",
                 allowed=["no such preset; presets: " + ", ".join(preset_names()), *BUNDLED])


def test_bad_unit(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\nmemory:\n  hbm:\n    bandwidth: 3 parsecs\n")
    config_error(path, source=path, field="memory.hbm.bandwidth", value="3 parsecs",
                 allowed=["a bandwidth such as 1.2 TB/s", "GB/s", "B/cycle"])


def test_bad_latency_unit(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  dma:\n    latency: 3 fortnights\n")
    config_error(path, source=path, field="core.dma.latency", value="3 fortnights",
                 allowed=["a latency such as 500 ns", "cycles"])


def test_zero_bandwidth(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  dma:\n    bandwidth: 0 B/cycle\n")
    config_error(path, source=path, field="core.dma.bandwidth", value="0 B/cycle",
                 allowed="must be a bandwidth > 0")


@pytest.mark.parametrize("value", [0, 1.5, -0.2, 0.0])
def test_efficiency_out_of_range_is_one_line(value):
    text = f"memory.hbm.efficiency={value}"
    config_error("h100", [text], source=f"--set {text}", field="memory.hbm.efficiency", value=value,
                 allowed="must be a number > 0 and ≤ 1")


@pytest.mark.parametrize("text, value", [("1.5", 1.5), ("-1", -1), ("true", True), ("'0.5'", "0.5"), ("90%", "90%")])
def test_bad_efficiency_in_a_file_names_the_file(tmp_path, text, value):
    path = write(tmp_path / "c.yaml", f"preset: tpu_v4\nmemory:\n  l2:\n    efficiency: {text}\n")
    config_error(path, source=path, field="memory.l2.efficiency", value=value, allowed="must be a number")


def test_efficiency_one_and_small_fractions_are_accepted():
    assert load_chip("h100", ["memory.hbm.efficiency=1"]).memory.hbm.efficiency == 1.0
    assert load_chip("h100", ["memory.l2.efficiency=0.01"]).memory.l2.efficiency == 0.01


@pytest.mark.parametrize("text, cycles", [("1.3 us", 1365), ("1300 ns", 1365), ("500 cycles", 500), (700, 700)])
def test_op_overhead_accepts_times_and_cycles(text, cycles):
    chip = load_chip("tpu_v4", [f"op_overhead={text}"])  # 1.05 GHz: 1.3 us is 1365 cycles
    assert chip.op_overhead.cycles(chip.clock) == cycles


def test_bad_op_overhead(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\nop_overhead: 3 fortnights\n")
    config_error(path, source=path, field="op_overhead", value="3 fortnights",
                 allowed=["a latency such as 500 ns", "cycles"])
    config_error("tpu_v4", ["op_overhead=-1 us"], source="--set op_overhead=-1 us", field="op_overhead",
                 value="-1 us", allowed="a latency such as 500 ns")


def test_bad_yaml_syntax(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore: [1, 2\n")
    err = config_error(path, source=path, field="", value="line 3, column 1", allowed="not valid YAML")
    assert "expected ',' or ']'" in err.allowed


def test_tab_indentation_is_a_yaml_error_with_its_line(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\n\tcores: 3\n")
    config_error(path, source=path, field="", value="line 2, column 1", allowed=["not valid YAML", "'\\t'"])


@pytest.mark.parametrize("text, kind", [("- 1\n- 2\n", "list"), ("just text\n", "str"), ("42\n", "int")])
def test_file_that_is_not_a_mapping(tmp_path, text, kind):
    path = write(tmp_path / "c.yaml", text)
    config_error(path, source=path, field="", value=kind, allowed="the file must hold a mapping of fields")


def test_empty_file_reports_the_first_missing_field(tmp_path):
    path = write(tmp_path / "c.yaml", "")
    config_error(path, source=path, field="name", value=MISSING, allowed="required field is missing")


def test_missing_required_field(tmp_path):
    path = write(tmp_path / "c.yaml", """
name: x
clock: 1 GHz
cores: 1
core:
  mxu: {rows: 4, cols: 4}
  vector: {lanes: 4}
  sram: {size: 1 MiB}
  dma: {bandwidth: 1 TB/s}
memory: {}
""")
    config_error(path, source=path, field="memory.hbm", value=MISSING, allowed="required field is missing")


def test_missing_nested_required_field(tmp_path):
    path = write(tmp_path / "c.yaml", """
name: x
clock: 1 GHz
cores: 1
core:
  mxu: {rows: 4}
  vector: {lanes: 4}
  sram: {size: 1 MiB}
  dma: {bandwidth: 1 TB/s}
memory:
  hbm: {size: 1 GiB, bandwidth: 1 TB/s}
""")
    config_error(path, source=path, field="core.mxu.cols", value=MISSING, allowed="required field is missing")


def test_bad_dataflow(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    dataflow: rs\n")
    config_error(path, source=path, field="core.mxu.dataflow", value="rs", allowed="must be one of 'os', 'ws' or 'is'")


def test_bad_bool(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    pipelined: maybe\n")
    config_error(path, source=path, field="core.mxu.pipelined", value="maybe", allowed="must be true or false")


def test_bad_dtype_key(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    macs_per_pe: {bf17: 1}\n")
    config_error(path, source=path, field="core.mxu.macs_per_pe.bf17", value="bf17",
                 allowed=["unknown key", "'fp32', 'bf16', 'fp16', 'fp8', 'int8', 'int4' or 'fp4'"])


def test_rate_value_that_is_not_a_number(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    macs_per_pe: {bf16: fast}\n")
    config_error(path, source=path, field="core.mxu.macs_per_pe.bf16", value="fast", allowed="must be a number")


@pytest.mark.parametrize("rate", [0, -2])
def test_non_positive_rate_in_a_complete_file(tmp_path, rate):
    text = preset_path("systolic_32x32").read_text().replace(
        "pipelined: false}", f"pipelined: false, macs_per_pe: {{bf16: {rate}}}}}")
    path = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_chip(path)
    err = info.value
    assert err.source == path
    assert err.field.startswith("core.mxu.macs_per_pe")
    assert "must be a number > 0 for bf16" in str(err)
    assert "\n" not in str(err)


def test_non_positive_vector_rate(tmp_path):
    path = write(tmp_path / "c.yaml", "name: x\nclock: 1 GHz\ncores: 1\ncore:\n  mxu: {rows: 4, cols: 4}\n"
                 "  vector: {lanes: 4, ops_per_lane: {fp32: 0}}\n  sram: {size: 1 MiB}\n"
                 "  dma: {bandwidth: 1 TB/s}\nmemory:\n  hbm: {size: 1 GiB, bandwidth: 1 TB/s}\n")
    with pytest.raises(ConfigError, match=r"core\.vector\.ops_per_lane.*must be a number > 0 for fp32"):
        load_chip(path)


def test_non_positive_rate_over_a_preset_names_the_user_file(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    macs_per_pe: {bf16: 0}\n")
    with pytest.raises(ConfigError) as info:
        load_chip(path)
    assert "must be a number > 0 for bf16" in str(info.value)
    assert info.value.source == path  # not configs/tpu_v4.yaml, which wrote the rest of the mapping


def test_non_positive_rate_from_set_names_the_set():
    with pytest.raises(ConfigError) as info:
        load_chip("tpu_v4", ["core.mxu.macs_per_pe.bf16=0"])
    assert "must be a number > 0 for bf16" in str(info.value)
    assert info.value.source == "--set core.mxu.macs_per_pe.bf16=0"


# ----------------------------------------------------------------------------------- bad overrides


@pytest.mark.parametrize("text", ["core.mxu.rows", "=3", "core..rows=3", ".rows=3", "rows.=3"])
def test_override_without_path_or_equals(text):
    config_error("tpu_v4", [text], source="--set", field="", value=text,
                 allowed="overrides are written path.to.field=value, e.g. core.mxu.rows=256")


def test_override_through_a_scalar():
    config_error("tpu_v4", ["clock.x=1"], source="--set clock.x=1", field="clock", value="1.05 GHz",
                 allowed="is a value, not a group of fields, so clock.x cannot be set")


def test_override_list_index_out_of_range():
    config_error("tpu_v4", ["sources.5=x"], source="--set sources.5=x", field="sources.5", value="5",
                 allowed="there are 3 items, numbered 0 to 2")


def test_error_from_set_names_the_set():
    config_error("tpu_v4", ["core.mxu.rows=lots"], source="--set core.mxu.rows=lots", field="core.mxu.rows",
                 value="lots", allowed="must be a whole number")
    config_error("tpu_v4", ["clock=0 GHz"], source="--set clock=0 GHz", field="clock", value="0 GHz",
                 allowed="must be a frequency from 1 MHz to 100 GHz")
    config_error("tpu_v4", ["core.sram.size=-1"], source="--set core.sram.size=-1", field="core.sram.size",
                 value=-1, allowed="a size such as 32 MiB")
    config_error("tpu_v4", ["core.mxu.rowz=3"], source="--set core.mxu.rowz=3", field="core.mxu.rowz", value=3,
                 allowed="allowed here: count, rows, cols, dataflow, pipelined, macs_per_pe")


def test_error_from_set_over_a_user_file_names_the_set_and_other_errors_the_file(tmp_path):
    path = write(tmp_path / "c.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    rows: 64\n")
    config_error(path, ["core.mxu.cols=0"], source="--set core.mxu.cols=0", field="core.mxu.cols", value=0,
                 allowed="must be ≥ 1")
    bad = write(tmp_path / "bad.yaml", "preset: tpu_v4\ncore:\n  mxu:\n    rows: 0\n")
    config_error(bad, ["core.mxu.cols=64"], source=bad, field="core.mxu.rows", value=0, allowed="must be ≥ 1")


def test_set_a_group_to_null():
    config_error("tpu_v4", ["core.mxu=null"], source="--set core.mxu=null", field="core.mxu", value=None,
                 allowed="must be a group of fields")


def test_unknown_nested_field_from_set_names_the_set():
    with pytest.raises(ConfigError) as info:
        load_chip("tpu_v4", ["core.foo.bar=3"])
    assert info.value.source == "--set core.foo.bar=3"
    assert info.value.field == "core.foo"
    assert "allowed here: mxu, vector, sram, accumulators, dma" in str(info.value)


def test_missing_field_in_a_group_created_by_set_names_the_set():
    with pytest.raises(ConfigError) as info:
        load_chip("systolic_32x32", ["memory.l2.size=1 MiB"])
    assert (info.value.field, info.value.value) == ("memory.l2.bandwidth", MISSING)
    assert info.value.source == "--set memory.l2.size=1 MiB"


@pytest.mark.parametrize("level", ["hbm", "l2"])
def test_memory_level_size_zero_is_refused(level):
    with pytest.raises(ConfigError) as err:
        load_chip("h100", [f"memory.{level}.size=0"])
    assert str(err.value) == (f"--set memory.{level}.size=0: memory.{level}.size = 0: "
                              "must be a size > 0 (e.g. 80 GB, 32 GiB)")
