"""Start-up stays short, as facts rather than wall clocks: building the `tortoise` parser (all `--help` does)
imports none of the heavy libraries, a `run` imports pandas and pyarrow only when it writes tables, and a `run`
that is the process's own command imports numba only for a long generation (or when TORTOISE_KERNELS asks).
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


# ---- how `run` runs the kernels: interpreted for small work, so numba is never imported ----------------------
def _as_the_command(argv: list[str], kernels: str | None = None, facts: bool = False):
    """(TORTOISE_KERNELS, numba imported?, exit status) after `tortoise ARGV` ran as its process's own command
    (main() without arguments, as the installed script calls it), just before the process would end; with
    `facts`, also OPENBLAS_NUM_THREADS."""
    code = ("import os, sys, simulator.cli\n"
            "def ended(code):\n"
            "    print('\\nFACTS', os.environ.get('TORTOISE_KERNELS'), 'numba' in sys.modules, code,\n"
            "          os.environ.get('OPENBLAS_NUM_THREADS'), flush=True)\n"
            "    os._exit(0)\n"
            "simulator.cli._exit_at_once = ended\n"
            f"sys.argv = ['tortoise', *{argv!r}]\n"
            "simulator.cli.main()\n")
    drop = ("TORTOISE_KERNELS", "OPENBLAS_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in drop} | {"PYTHONIOENCODING": "utf-8"}
    if kernels is not None:
        env["TORTOISE_KERNELS"] = kernels
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=300, check=True)
    _, mode, numba, status, blas = done.stdout.splitlines()[-1].split()
    return (mode, numba == "True", int(status)) + ((blas,) if facts else ())


def test_a_decode_step_run_as_the_command_never_imports_numba():
    # …nor starts OpenBLAS's thread pool, which nothing uses and which costs a start about 50 ms
    assert _as_the_command(["run", "h100", "workloads/llama3_8b_decode.yaml"], facts=True) == ("auto", False, 0, "1")


def test_the_parser_imports_no_numpy_so_run_can_still_set_its_blas_threads():
    out = _python("import sys, simulator.cli\nsimulator.cli.build_parser()\nprint('numpy' in sys.modules)").stdout
    assert out.split()[-1] == "False"


def test_a_long_generation_run_as_the_command_picks_numba():
    argv = ["run", "h100", "--model", "llama3_8b", "--phase", "generate", "--prompt", "5", "--output-tokens", "40"]
    assert _as_the_command(argv) == ("numba", True, 0)


def test_the_users_choice_of_kernels_stands():
    assert _as_the_command(["run", "tpu_v4", "workloads/gemm_demo.yaml"], "numba") == ("numba", True, 0)


def test_a_bad_choice_of_kernels_is_one_line_naming_the_variable():
    env = {**os.environ, "TORTOISE_KERNELS": "fast", "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "run", "h100", "workloads/llama3_8b_decode.yaml"],
                          cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 2
    assert done.stderr == ("tortoise: error: environment: TORTOISE_KERNELS = 'fast': must be numba, python or auto "
                           "(or unset)\n")


def test_kernel_choice_compiles_only_for_long_generations():
    from simulator.cli import INTERPRETED_TOKENS, kernel_choice
    from simulator.workloads.loader import load_workload

    def choice(name: str, *sets: str) -> str:
        return kernel_choice(load_workload(str(ROOT / "workloads" / f"{name}.yaml"), list(sets)))

    long_prompt = ("scenario.prompt=1048576", "model.max_position_embeddings=1048577")  # past its trained length
    assert choice("llama3_8b_decode") == choice("llama3_8b_prefill", *long_prompt) == "auto"
    assert choice("gemm_demo") == choice("llama3_70b_decode") == "auto"
    assert choice("llama3_8b_generate") == "numba"  # 128 tokens
    assert choice("llama3_8b_generate", f"scenario.output_tokens={INTERPRETED_TOKENS}") == "auto"
    assert choice("llama3_8b_generate", f"scenario.output_tokens={INTERPRETED_TOKENS + 1}") == "numba"


def test_the_energy_table_read_at_start_up_is_what_read_mapping_reads(tmp_path):
    """schema.py reads configs/energy/nodes.yaml with libyaml (every start reads it): the same data, and for a
    broken file the same one-line error."""
    import pytest

    from simulator.config.schema import _read_shipped, energy_nodes_path
    from simulator.config.yamlio import read_mapping
    from simulator.errors import ConfigError

    assert _read_shipped(energy_nodes_path()) == read_mapping(energy_nodes_path())
    for i, text in enumerate(("45nm: [1, 2\n", "- a list\n")):
        bad = tmp_path / f"nodes{i}.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError) as got:
            _read_shipped(bad)
        with pytest.raises(ConfigError) as want:
            read_mapping(bad)
        assert str(got.value) == str(want.value)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert _read_shipped(empty) == read_mapping(empty) == {}


def test_a_single_chip_decode_step_loads_no_event_engine():
    """Its blocks run in turn, without events, and the engine's modules import simpy (about 37 ms of a
    start) only when a block needs events."""
    code = ("import sys\nfrom simulator.api import run_files\n"
            "run_files('h100', 'workloads/llama3_8b_decode.yaml')\nprint('simpy' in sys.modules)\n"
            "from simulator.engine.run import run_block\nprint('simpy' in sys.modules)\n")
    assert _python(code).stdout.split()[-2:] == ["False", "False"]


# ---- a read-only install, an unwritable HOME -----------------------------------------------------------------
def test_numba_caches_where_numba_chooses_when_it_can_write_beside_the_kernels(monkeypatch, tmp_path):
    from simulator.kernels import jit

    monkeypatch.delenv(jit.CACHE_ENV, raising=False)
    monkeypatch.setattr(jit, "IN_TREE", tmp_path / "__pycache__")
    assert jit.cache_dir() is None
    monkeypatch.setattr(jit, "IN_TREE", tmp_path / "a_file" / "__pycache__")
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(jit.CACHE_ENV, str(tmp_path / "mine"))
    assert jit.cache_dir() is None  # the user's NUMBA_CACHE_DIR stands


def test_a_read_only_install_caches_per_user_then_in_the_temporary_folder(monkeypatch, tmp_path):
    import tempfile

    from simulator.kernels import jit

    (tmp_path / "a_file").write_text("")  # nothing can be made under a file, not even by root
    monkeypatch.setattr(jit, "IN_TREE", tmp_path / "a_file" / "__pycache__")
    monkeypatch.delenv(jit.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jit.cache_dir() == tmp_path / "xdg" / "tortoise" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "a_file"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert jit.cache_dir() == tmp_path / "tmp" / f"tortoise-{os.getuid()}" / "numba"


def _read_only_install(tmp_path: Path) -> dict:
    """A copy of the package whose kernels' __pycache__ cannot be made (a file stands there), run with HOME
    on a file: the environment of a read-only install for a user without a home."""
    import shutil

    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "simulator", site / "simulator", ignore=ignore)
    shutil.copytree(ROOT / "configs", site / "simulator" / "presets", ignore=ignore)
    shutil.copytree(ROOT / "workloads", site / "simulator" / "bundled_workloads", ignore=ignore)
    (site / "simulator" / "kernels" / "__pycache__").write_text("")
    (tmp_path / "home").write_text("")
    (tmp_path / "tmp").mkdir()
    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    drop = ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TORTOISE_KERNELS", "MPLCONFIGDIR")
    return {k: v for k, v in os.environ.items() if k not in drop} | {
        "PYTHONPATH": path, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}


def test_a_read_only_install_without_a_home_runs_and_compiles(tmp_path):
    env = _read_only_install(tmp_path)

    def run(*argv, **more):
        return subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env | more, capture_output=True, text=True,
                              encoding="utf-8", timeout=300)

    help_ = run("-m", "simulator.cli", "--help")
    assert help_.returncode == 0 and "usage: tortoise" in help_.stdout, help_.stderr
    step = run("-m", "simulator.cli", "run", "h100", "gemm_demo", "--out", "r")
    assert step.returncode == 0 and step.stdout.startswith("gemm_demo on h100"), step.stderr
    picture = run("-m", "simulator.cli", "plot", "r")
    assert picture.returncode == 0 and picture.stderr == "", picture.stderr  # no warning about matplotlib's config
    code = ("import simulator.kernels.gemm as g\nprint(g.__file__)\n"
            "print(g.effective(nearest=2.0, hbm=1.0, miss=0.5))\n")
    compiled = run("-c", code, TORTOISE_KERNELS="numba")
    assert compiled.returncode == 0, compiled.stderr
    where, value = compiled.stdout.split()
    assert where.startswith(str(tmp_path / "site")) and float(value) == 2.0
    cache = tmp_path / "tmp" / f"tortoise-{os.getuid()}" / "numba"
    assert any(p.suffix == ".nbi" for p in cache.rglob("*")), sorted(cache.rglob("*"))  # numba's cache index
