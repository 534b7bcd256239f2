"""Start-up stays short, as facts rather than wall clocks: building the `tortoise` parser (all `--help` does)
imports none of the heavy libraries, and a `run` imports pandas and pyarrow only when it writes tables.
Each check runs in a fresh interpreter, since this test process has imported everything already."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "pyarrow", "numba", "simpy", "matplotlib", "pydantic")


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=300, check=True)


def _loaded(code: str) -> set[str]:
    """The heavy libraries in sys.modules after `code` ran in a fresh interpreter."""
    out = _python(code + f"\nprint('LOADED', *[m for m in {HEAVY!r} if m in sys.modules])").stdout
    return set(out.splitlines()[-1].split()[1:])


def test_building_the_parser_imports_no_heavy_library():
    assert _loaded("import sys, simulator.cli\nsimulator.cli.build_parser()") == set()


def test_help_imports_no_heavy_library():
    code = ("import sys, contextlib, io, simulator.cli\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    simulator.cli.main(['--help'])\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    simulator.cli.main(['run', '--help'])")
    assert _loaded(code) == set()


def test_run_without_out_writes_no_table_and_imports_no_pandas():
    code = ("import sys, simulator.cli\n"
            "assert simulator.cli.main(['run', 'h100', 'workloads/llama3_8b_decode.yaml']) == 0\n"
            "assert simulator.cli.main(['run', 'tpu_v4', 'workloads/gemm_demo.yaml']) == 0")
    loaded = _loaded(code)
    assert not loaded & {"pandas", "pyarrow", "matplotlib"}, loaded


def test_run_as_a_process_flushes_everything_before_it_ends(tmp_path, capsys, monkeypatch):
    """`run` ends its process without the interpreter's teardown: its output, every file and the exit status
    must be what the same command gives in-process (where it returns normally)."""
    from simulator.cli import main

    args = ["run", "h100", "workloads/llama3_8b_decode.yaml", "--out"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-m", "simulator.cli", *args, str(tmp_path / "a")], cwd=ROOT,
                          env=env, capture_output=True, text=True, encoding="utf-8", timeout=300)
    monkeypatch.chdir(ROOT)
    assert main([*args, str(tmp_path / "b")]) == done.returncode == 0
    out = capsys.readouterr().out
    assert done.stdout.replace(str(tmp_path / "a"), str(tmp_path / "b")) == out
    assert out.splitlines()[-1] == f"wrote {tmp_path / 'b' / 'summary.json'}"
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == ["breakdown.csv", "ops.csv", "summary.json"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
