"""YAML reading and overrides (simulator/config/yamlio.py): the kept parses and copies give exactly what reading
the file, or the value, with yaml.safe_load and copy.deepcopy gives."""

import copy
import datetime
import math
from pathlib import Path

import pytest
import yaml

from simulator.config.presets import preset_names, preset_path
from simulator.config.yamlio import has_shared, parse_override, plain_copy, read_mapping
from simulator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

# Texts a user or a sweep writes after `path=`: plain numbers, YAML 1.1's odd numbers (octal, hex, sexagesimal,
# exponents without a dot, which stay text), units, JSON-quoted text as sweeps write it, booleans, nulls, lists,
# mappings, dates, and text that is not valid YAML (kept as written).
VALUES = ["256", "-1", "0", "1.5", "1.0", "1e9", "1.0e+9", "1e-05", "0x10", "010", "0o10", "1_000", "1:30", ".inf",
          "-.inf", ".nan", "1.2 TB/s", '"1.2 TB/s"', "24 MiB", '"24 MiB"', '"µs"', "500 ns", "64 B/cycle", "true",
          "True", "yes", "no", "on", "off", "y", "null", "~", "", "  ", " 64 ", "os", '"os"', "'ws'", "[1, 2]",
          "[bf16, fp8]", "{bf16: 2.0}", "{a: [1, {b: 2}]}", "2024-01-01", "[unclosed", "a: b: c", "key: value",
          "text # comment", "&a [1]", "!!str 5", '"a\\tb"', "1.2.3", "- 1"]


def _yaml_value(raw: str):
    """What parse_override has always returned."""
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw.strip()


def _same(a, b) -> bool:
    """Equal values of the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.mark.parametrize("raw", VALUES)
def test_an_override_value_is_what_yaml_reads_every_time(raw):
    expected = _yaml_value(raw)
    for _ in range(3):  # the first parse and the kept one
        keys, value = parse_override(f"core.mxu.rows={raw}")
        assert keys == ["core", "mxu", "rows"]
        assert _same(value, expected), (raw, value, expected)


def test_a_kept_override_value_is_the_callers_own_copy():
    _, first = parse_override("energy.mac={bf16: [1, 2]}")
    first["bf16"].append(3)
    first["fp8"] = 1
    _, second = parse_override("energy.mac={bf16: [1, 2]}")
    assert second == {"bf16": [1, 2]}
    _, when = parse_override("x=2024-01-01")
    assert when == datetime.date(2024, 1, 1)


def test_a_malformed_override_is_still_one_line():
    with pytest.raises(ConfigError, match="overrides are written path.to.field=value"):
        parse_override("core..rows=1")


@pytest.mark.parametrize("name", preset_names())
def test_read_mapping_gives_what_a_fresh_parse_gives(name):
    path = preset_path(name)
    expected = yaml.safe_load(path.read_text())
    first = read_mapping(path)
    assert _same(first, expected)
    first.setdefault("core", {})["changed"] = 1  # the caller's own copy: the next read does not see it
    first["name"] = "changed"
    assert _same(read_mapping(path), expected)


def test_read_mapping_of_a_file_with_aliases_copies_them_as_deepcopy_does(tmp_path):
    """An alias makes one object sit in two places; the copy keeps that, as copy.deepcopy always did."""
    path = tmp_path / "a.yaml"
    path.write_text("base: &b {rows: 4, cols: [1, 2]}\ncopy: *b\nother: {x: 1}\n")
    data = read_mapping(path)
    assert data["copy"] is data["base"] and data["base"]["cols"] is data["copy"]["cols"]
    fresh = copy.deepcopy(yaml.safe_load(path.read_text()))
    assert _same(data, fresh)
    data["base"]["rows"] = 8
    assert read_mapping(path)["base"]["rows"] == 4


def test_read_mapping_sees_a_changed_file(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("x: 1\n")
    assert read_mapping(path) == {"x": 1}
    path.write_text("x: 22\n")  # another size: another kept parse
    assert read_mapping(path) == {"x": 22}


def test_plain_copy_is_a_deep_copy_of_parsed_yaml():
    data = {"a": [1, {"b": 2.5, "c": None}], "d": "text", "e": True, "f": datetime.date(2024, 1, 1), "g": {1, 2}}
    copied = plain_copy(data)
    assert _same(copied, copy.deepcopy(data))
    assert copied["a"] is not data["a"] and copied["a"][1] is not data["a"][1] and copied["g"] is not data["g"]
    assert not has_shared(data)
    inner = [1]
    assert has_shared({"x": inner, "y": inner}) and has_shared([inner, {"z": inner}])
    assert not has_shared({"x": "same text", "y": "same text"})  # immutable values may repeat
