"""Values the schema's types accept but physics does not: each is refused in one line naming the field
and its range, instead of a traceback (overflow in the cycle arithmetic) or an infinite figure.

The runs too big to simulate (WORK) are each a process of `tortoise`, all started together: were a limit
missing, each would simulate for hours or exhaust memory. The values (SETS) are refused by the config check;
but for AS_PROCESS, they call `simulator.cli.main` in the test process (tests/cli/in_process.py, which stops
a call that hangs), since an interpreter's start-up costs about 0.8 s of CPU and the check about 10 ms."""

import subprocess
import sys

import pytest

from tests.cli.in_process import HANG, run_in_process

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
AS_PROCESS = {"memory.hbm.bandwidth=1e300 TB/s", "clock=1e-300 Hz"}  # a user's own process too, as a check


def _process(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simulator.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("setting", SETS)
def test_a_value_outside_its_physical_range_is_one_line(setting, capfd):
    argv = ["run", "h100", "workloads/llama3_8b_decode.yaml", "--set", setting]
    if setting in AS_PROCESS:
        done = subprocess.run([sys.executable, "-m", "simulator.cli", *argv], capture_output=True, text=True,
                              timeout=HANG)
        code, err = done.returncode, done.stderr
    else:
        code, _, err = run_in_process(argv, capfd)
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert setting.split("=")[0] in err and SETS[setting] in err, err


WORK = {  # a run too big to simulate, refused before it starts
    ("workloads/llama3_8b_generate.yaml", "scenario.output_tokens=1000000000"): "must be ≤ 131072",
    ("workloads/llama3_8b_prefill.yaml", "scenario.prompt=100000000"): "must be ≤ 16777216",
    ("workloads/llama3_8b_decode.yaml", "scenario.batch=10000000"): "must be ≤ 1048576",
    ("workloads/gemm_demo.yaml", "ops.1.repeat=2000000000"): "multiply-accumulates, more than one op may have",
    ("workloads/gemm_demo.yaml", "ops.1.k=10000000000"): "must be ≤ 2147483648",
}


@pytest.fixture(scope="module")
def work_runs() -> dict[tuple[str, str], tuple[int, str]]:
    """(workload, setting) → (exit status, stderr) of each run of WORK, its own process, all started together."""
    processes = {case: _process(["run", "h100", case[0], "--set", case[1]]) for case in WORK}
    results = {}
    for case, process in processes.items():
        try:
            _, err = process.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
            err = f"(hung: killed after {HANG} s)\n{err}"
        results[case] = (process.returncode, err)
    return results


@pytest.mark.parametrize("workload, setting", WORK)
def test_work_beyond_the_documented_limits_is_refused_in_one_line(work_runs, workload, setting):
    code, err = work_runs[workload, setting]
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert WORK[workload, setting] in err, err
