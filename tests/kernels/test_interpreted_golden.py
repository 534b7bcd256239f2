"""Golden cases with the kernels interpreted: a fresh process with TORTOISE_KERNELS=python (which never imports
numba) gives every figure of tests/golden.csv exactly, as text, and every summary value, op row, breakdown,
stage, link and timeline row equal, value and type, to the compiled run of this process."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_golden import _case_id, _read, golden_run

ROOT = Path(__file__).resolve().parents[2]
# A GEMM op list on a one-array systolic chip, decode and prefill on a GPU-like and a TPU-like chip, an MoE
# prefill, and multi-chip plans: tensor + pipeline parallel with micro-batches, expert + sequence parallel.
CASES = [
    ("systolic_32x32", "gemm_demo", ()),
    ("tpu_v4", "gemm_demo", ()),
    ("h100", "llama3_8b_decode", ()),
    ("h100", "llama3_8b_prefill", ()),
    ("tpu_v4", "llama3_8b_decode", ()),
    ("tpu_v4", "llama3_8b_prefill", ()),
    ("a100", "mixtral_8x7b_prefill", ()),
    ("dgx_a100", "llama3_8b_prefill",
     ("scenario.batch=2", "parallel.tp=4", "parallel.pp=2", "parallel.microbatches=2")),
    ("tpu_v4_2x2x2", "qwen3_30b_a3b_decode", ("parallel.tp=2", "parallel.ep=4", "parallel.sequence_parallel=true")),
]


def digest(result) -> str:
    """Every figure of a result as text (repr tells 1 from 1.0 and a float from a numpy float)."""
    parts = [result.summary, result.rows] + [getattr(result, name, None) for name in
                                             ("breakdown_rows", "stage_rows", "link_rows", "timeline_rows")]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


SCRIPT = """
import json, sys
from tests.kernels.test_interpreted_golden import CASES, digest
from tests.test_golden import golden_run
out = []
for case in CASES:
    row, result = golden_run(*case)
    out.append([{k: str(v) for k, v in row.items()}, digest(result) if result is not None else None])
print(json.dumps({"numba": "numba" in sys.modules, "cases": out}))
"""


@pytest.fixture(scope="module")
def interpreted():
    env = {**os.environ, "TORTOISE_KERNELS": "python", "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_interpreted_run_never_imports_numba(interpreted):
    assert interpreted["numba"] is False


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_case_id(c) for c in CASES])
def test_interpreted_figures_equal_the_golden_table_and_the_compiled_run(interpreted, index):
    row, interpreted_digest = interpreted["cases"][index]
    want = _read()[_case_id(CASES[index])]
    assert {key: row.get(key, "") for key in want} == want  # every figure of the table, exactly, as text
    _, result = golden_run(*CASES[index])  # compiled, in this process
    assert interpreted_digest == digest(result)
