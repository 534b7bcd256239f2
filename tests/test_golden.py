"""The golden table: every bundled preset × bundled workload (plus a few parallel plans on the systems),
cycles and key metrics, compared exactly with tests/golden.csv.

A change that moves a number must be deliberate: regenerate with `python -m tests.test_golden --write`
and say in the commit message why each number moved. The same runs check the invariants every result
must keep (cycles ≥ roofline, the table's end equals the summary's cycles).

The rows are simulated by one fixture on WORKERS processes, a chip's rows after one another in one of them
(so the caches of its tile choices and its topology serve all its rows), since the suite runs one test at a
time and leaves the other core idle; each row's test then compares its figures and reports its invariants."""

import csv
import math
import multiprocessing
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from simulator.api import run_files
from simulator.errors import CapacityError, TortoiseError

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden.csv"
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
WORKLOADS = sorted(p.stem for p in (ROOT / "workloads").glob("*.yaml"))
# Parallel plans on the multi-chip presets: every axis that moves data between chips is covered.
PLANS = {
    ("dgx_h100", "llama3_70b_decode"): ("parallel.tp=8",),
    ("dgx_h100", "mixtral_8x7b_decode"): ("parallel.ep=8",),
    ("dgx_a100", "llama3_8b_prefill"): ("scenario.batch=2", "parallel.tp=4", "parallel.pp=2",
                                        "parallel.microbatches=2"),
    ("dgx_a100", "llama3_8b_decode"): ("scenario.batch=8", "parallel.tp=4", "parallel.dp=2"),
    ("tpu_v4_4x4x4", "llama3_70b_decode"): ("parallel.tp=8", "parallel.pp=8"),
    ("tpu_v4_2x2x2", "qwen3_30b_a3b_decode"): ("parallel.tp=2", "parallel.ep=4",
                                               "parallel.sequence_parallel=true"),
    # training steps small enough for the bundled systems (the files' own plans need 64–1,024 chips)
    ("tpu_v4_4x4x4", "llama3_70b_train"): ("parallel.dp=2", "training.global_batch=16"),
    ("dgx_h100", "gpt3_175b_train"): ("parallel.pp=1", "parallel.dp=1", "training.global_batch=8"),
}
KEYS = ("cycles", "compute_cycles", "stall_cycles", "overhead_cycles", "flops", "bytes_hbm_read",
        "bytes_hbm_write", "bytes_l2_read", "bytes_sram_read", "bytes_sram_write", "energy_j", "mbu", "mfu",
        "exposed_comm_s", "overlapped_comm_s", "link_bytes", "hfu",
        # serving workloads (scenario.phase: serve), run with SERVE_SETS
        "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p99_s", "output_tokens_per_s", "iterations",
        "preemptions", "kv_blocks")
SERVE_SETS = ("serving.requests=40",)  # every bundled serving workload, cut to 40 requests on every preset
CASES = [(c, w, ()) for c in CONFIGS for w in WORKLOADS] + [(c, w, s) for (c, w), s in PLANS.items()]
WORKERS = min(2, os.cpu_count() or 1)


def _case_id(case) -> str:
    config, workload, sets = case
    return "-".join((config, workload, *sets))


def _paths(config: str, workload: str) -> tuple[str, str]:
    return str(ROOT / "configs" / f"{config}.yaml"), str(ROOT / "workloads" / f"{workload}.yaml")


def _is_model(workload: str) -> bool:
    return "model:" in (ROOT / "workloads" / f"{workload}.yaml").read_text()


def _is_serve(workload: str) -> bool:
    return "phase: serve" in (ROOT / "workloads" / f"{workload}.yaml").read_text()


def golden_run(config: str, workload: str, sets: tuple[str, ...]):
    """(golden figures, result or None); a model that does not fit is still simulated, with the check off."""
    if _is_serve(workload):
        overrides = list(sets) + list(SERVE_SETS)
    else:
        overrides = list(sets) + (["scenario.check_capacity=false"] if _is_model(workload) else [])
    row = {"case": _case_id((config, workload, sets))}
    try:
        result = run_files(*_paths(config, workload), workload_overrides=overrides)
    except TortoiseError as e:
        return row | {"status": type(e).__name__}, None
    row["status"] = "ok"
    for key in KEYS:
        value = result.summary.get(key, "")
        row[key] = value if isinstance(value, int | str) else repr(float(value))
    return row, result


def _check_invariants(config: str, workload: str, result) -> None:
    assert result.summary["chip"] == config
    if _is_serve(workload):  # every request served, every token counted once, the cache never overfull
        s = result.summary
        assert s["completed"] == s["requests"] == len(result.requests)
        assert s["output_tokens"] == int(result.requests.output.sum())
        assert 0 < s["kv_peak_share"] <= 1 and s["ttft_p50_s"] > 0
        return
    assert result.summary["cycles"] > 0
    if not _is_model(workload):
        assert len(result.table) == len(result.graph.ops) > 0
        assert result.summary["cycles"] == result.table["end"].max()
        return
    assert result.summary["cycles"] == sum(run.cycles for run in result.runs)
    assert result.summary["cycles"] >= result.summary["roofline_cycles"]
    if result.footprint.total > result.chip.hbm.size:
        with pytest.raises(CapacityError):
            run_files(*_paths(config, workload))


def _read() -> dict[str, dict]:
    with GOLDEN.open() as f:
        return {r["case"]: r for r in csv.DictReader(f)}


def _same(got: str, want: str) -> bool:
    if got == want:
        return True
    try:
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-15)
    except ValueError:
        return False


@pytest.fixture(scope="module")
def golden() -> dict[str, dict]:
    return _read()


def _run_case(case) -> tuple[dict | None, str | None]:
    """(golden figures, or None where the run raised; None, or the traceback of the run or of the invariant
    that failed)."""
    try:
        row, result = golden_run(*case)
    except Exception:  # reported by the row's own test
        return None, traceback.format_exc()
    try:
        if result is not None and not case[2]:
            _check_invariants(case[0], case[1], result)
    except Exception:  # reported by the row's own test
        return row, traceback.format_exc()
    return row, None


def _run_cases(cases: list) -> list[tuple[str, tuple[dict | None, str | None]]]:
    return [(_case_id(case), _run_case(case)) for case in cases]


@pytest.fixture(scope="module")
def runs(request) -> dict[str, tuple[dict | None, str | None]]:
    """case id → `_run_case` of each case this session selected, by chip, on WORKERS processes."""
    selected = {item.callspec.params["case"] for item in request.session.items
                if item.originalname == test_result_equals_the_golden_table_and_keeps_its_invariants.__name__
                and item.module.__name__ == __name__}
    by_chip: dict[str, list] = {}
    for case in CASES:
        if case in selected:
            by_chip.setdefault(case[0], []).append(case)
    groups = list(by_chip.values())
    if WORKERS < 2 or len(groups) < 2:
        done = [_run_cases(group) for group in groups]
    else:  # spawned: this process has numba's and OpenBLAS's threads, which a fork would copy half-way
        with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(_run_cases, groups))
    return dict(pair for group in done for pair in group)


def test_golden_table_covers_every_case(golden):
    assert sorted(golden) == sorted(_case_id(c) for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_result_equals_the_golden_table_and_keeps_its_invariants(case, golden, runs):
    row, failed = runs[_case_id(case)]
    assert row is not None, failed  # the run itself raised
    row = {k: str(v) for k, v in row.items()}
    want = golden[row["case"]]
    moved = {k: (want.get(k), row.get(k, "")) for k in want if not _same(row.get(k, ""), want[k])}
    assert not moved, f"{row['case']}: golden figures moved (want, got): {moved}"
    assert failed is None, f"{row['case']}: an invariant does not hold:\n{failed}"


def write() -> None:
    rows = [golden_run(*case)[0] for case in CASES]
    fields = ["case", "status", *KEYS]
    with GOLDEN.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {GOLDEN}")


def diff() -> None:
    """Print every case whose figures moved against tests/golden.csv, without writing it."""
    golden = _read()
    for case in CASES:
        row = {k: str(v) for k, v in golden_run(*case)[0].items()}
        want = golden.get(row["case"], {})
        keys = sorted(set(want) | set(row))
        moved = {k: (want.get(k), row.get(k, "")) for k in keys if not _same(row.get(k, ""), want.get(k, ""))}
        if moved:
            print(row["case"], moved)


if __name__ == "__main__":
    commands = {"--write": write, "--diff": diff}
    if sys.argv[1:2] not in [[c] for c in commands]:
        sys.exit("usage: python -m tests.test_golden --write | --diff  (regenerate tests/golden.csv | show what moved)")
    commands[sys.argv[1]]()
