"""Files that break the reader: each is one line on stderr, exit 2, no traceback, naming the file and where
(the first part of the robustness issue). Run through the CLI as a user would, each in its own process."""

import subprocess
import sys

import pytest

from simulator.config import yamlio
from simulator.errors import ConfigError

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8))

CASES = {  # name: (file suffix, bytes, what the line says)
    "binary": (".yaml", bytes(range(256)) * 4, "is not UTF-8 text"),
    "latin1": (".yaml", "name: caf\xe9\n".encode("latin-1"), "line 1, column 10: byte 0xe9 is not UTF-8"),
    "nul": (".yaml", b"name: a\ncores: 1\x00\n", "line 2, column 9: a NUL byte"),
    "deep_lists": (".yaml", ("a: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "nest"),
    "deep_maps": (".yaml", "".join(f"{' ' * i}k{i}:\n" for i in range(200)).encode() + b" " * 200 + b"v: 1\n",
                  "nests more than 64 levels"),
    "billion_laughs": (".yaml", LAUGHS.encode(), "aliases expand to more than 1,000,000 values"),
    "duplicate_top": (".yaml", b"name: a\ncores: 2\nname: b\n", "line 3: key 'name' is written twice"),
    "duplicate_nested": (".yaml", b"core:\n  mxu:\n    rows: 8\n    rows: 16\n", "line 4: key 'rows' is written twice"),
    "json_trailing_comma": (".json", b'{"hidden_size": 4096,}\n', "not valid JSON"),
    "json_duplicate": (".json", b'{"a": 1, "a": 2}\n', "key 'a' is written twice in one object"),
    "yaml_syntax": (".yaml", b"name: [unclosed\n", "not valid YAML"),
    "not_a_mapping": (".yaml", b"- 1\n- 2\n", "must hold a mapping"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_broken_file_is_one_line_naming_it(tmp_path, name):
    suffix, content, says = CASES[name]
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "validate", str(path)], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert str(path) in done.stderr and says in done.stderr, done.stderr


def test_a_json_file_indented_with_tabs_is_read_as_json(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{\n\t"hidden_size": 64,\n\t"num_hidden_layers": 2\n}\n')
    assert yamlio.read_mapping(path) == {"hidden_size": 64, "num_hidden_layers": 2}


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" * 1000)
    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ConfigError, match="limited to"):
        yamlio.read_mapping(path)


def test_aliases_that_expand_a_little_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {rows: 8, cols: 8}\nother: *b\nmerged:\n  <<: *b\n  rows: 16\n")
    assert yamlio.read_mapping(path) == {"base": {"rows": 8, "cols": 8}, "other": {"rows": 8, "cols": 8},
                                         "merged": {"rows": 16, "cols": 8}}
