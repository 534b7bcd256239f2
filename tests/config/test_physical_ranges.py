"""Values the schema's types accept but physics does not: each is refused in one line naming the field
and its range, instead of a traceback (overflow in the cycle arithmetic) or an infinite figure."""

import subprocess
import sys

import pytest

SETS = {  # --set: what the line says
    "memory.hbm.bandwidth=1e300 TB/s": "at most 1 EB/s",
    "clock=1e-300 Hz": "from 1 MHz to 100 GHz",
    "clock=1e300 GHz": "from 1 MHz to 100 GHz",
    "core.dma.latency=1e300 s": "at most 1 s",
    "core.dma.latency=1e30": "at most 1 s or 1e12 cycles",
    "core.mxu.rows=99999999999999999999999": "must be ≤ 16777216",
    "memory.hbm.size=1e30 GB": "at most 1 EiB",
    "cores=100000000": "must be ≤ 16777216",
}


@pytest.mark.parametrize("setting", SETS)
def test_a_value_outside_its_physical_range_is_one_line(setting):
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "run", "h100", "workloads/llama3_8b_decode.yaml",
                           "--set", setting], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert setting.split("=")[0] in done.stderr and SETS[setting] in done.stderr, done.stderr


WORK = {  # a run too big to simulate, refused before it starts
    ("workloads/llama3_8b_generate.yaml", "scenario.output_tokens=1000000000"): "must be ≤ 131072",
    ("workloads/llama3_8b_prefill.yaml", "scenario.prompt=100000000"): "must be ≤ 16777216",
    ("workloads/llama3_8b_decode.yaml", "scenario.batch=10000000"): "must be ≤ 1048576",
    ("workloads/gemm_demo.yaml", "ops.1.repeat=2000000000"): "multiply-accumulates, more than one op may have",
    ("workloads/gemm_demo.yaml", "ops.1.k=10000000000"): "must be ≤ 2147483648",
}


@pytest.mark.parametrize("workload, setting", WORK)
def test_work_beyond_the_documented_limits_is_refused_in_one_line(workload, setting):
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "run", "h100", workload, "--set", setting],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert WORK[workload, setting] in done.stderr, done.stderr
