"""Files that break the reader: each is one line on stderr, exit 2, no traceback, naming the file and where
(the first part of the robustness issue). Run through the CLI as a user would: those of AS_PROCESS each in its
own process, the others by `simulator.cli.main` in the test process, reported as a process would report them
(tests/cli/in_process.py; an interpreter's start-up costs about 0.8 s of CPU, reading a bad file about 10 ms)."""

import subprocess
import sys

import pytest

from simulator.config import yamlio
from simulator.errors import ConfigError
from tests.cli.in_process import run_in_process

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
# Each its own process: a hang in the C parser ignores the alarm of in_process, a stack overflow would end the
# test process.
AS_PROCESS = {"binary", "deep_lists", "billion_laughs"}


@pytest.mark.parametrize("name", CASES)
def test_a_broken_file_is_one_line_naming_it(tmp_path, name, capfd):
    suffix, content, says = CASES[name]
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(content)
    if name in AS_PROCESS:
        done = subprocess.run([sys.executable, "-m", "simulator.cli", "validate", str(path)], capture_output=True,
                              text=True, encoding="utf-8", errors="replace", timeout=60)
        code, err = done.returncode, done.stderr
    else:
        code, _, err = run_in_process(["validate", str(path)], capfd, hang=60)
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert str(path) in err and says in err, err


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
