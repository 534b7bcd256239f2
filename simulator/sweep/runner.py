"""Running sweep tasks: in this process, in local worker processes, or on a dask.distributed cluster.

Every backend calls the same top-level `run_task`, so a row is the same whoever computes it. Results are
handed back one at a time, in the order they finish, to the caller that stores them.
"""

import os
import signal
import sys
from collections.abc import Callable, Iterable

from simulator.errors import TortoiseError
from simulator.sweep.plan import Task, digest, row_key

OUT_OF_MEMORY = ("out of memory while simulating; the workload is too large to simulate here (lower "
                 "scenario.batch, scenario.prompt or the context)")

CONNECT_TIMEOUT = "15s"  # how long to wait for the scheduler before saying it cannot be reached

# Per-process caches: a worker runs many points of the same workload (and often the same chip).
_WORKLOADS: dict = {}
_CHIPS: dict = {}


def run_task(task: Task) -> dict:
    """Simulate one row: status, error and every flat_row metric. A TortoiseError raised by the run (e.g. the
    model does not fit HBM) is a result, not a crash."""
    from simulator.api import run_workload
    from simulator.results.row import flat_row

    try:
        chip, chip_digest = _chip(task.hardware, task.hardware_overrides)
        workload, workload_digest = _workload(task.workload, task.workload_overrides)
        if row_key(chip_digest, workload_digest) != task.key:
            raise TortoiseError("this worker resolves the point to a different config than the machine that planned "
                                "the sweep (another Tortoise version, or different files at the same paths)")
        result = run_workload(chip, workload)
    except TortoiseError as exc:
        return {"status": "error", "error": " ".join(str(exc).split())}
    except MemoryError:
        return {"status": "error", "error": OUT_OF_MEMORY}
    metrics = flat_row(result.summary, getattr(result, "breakdown_rows", None))  # rows: no pandas per point
    return {"status": "ok", "error": ""} | metrics


def _chip(spec: str, overrides: tuple):
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    key = (spec, overrides)
    if key not in _CHIPS:
        if len(_CHIPS) >= 64:  # points rarely share a chip except across workloads; keep the cache small
            _CHIPS.pop(next(iter(_CHIPS)))
        config = load_chip(spec, list(overrides))
        _CHIPS[key] = (Chip(config), digest(config))
    return _CHIPS[key]


def _workload(spec: str, overrides: tuple):
    from simulator.workloads.loader import load_workload

    key = (spec, overrides)
    if key not in _WORKLOADS:
        workload = load_workload(spec, list(overrides))
        _WORKLOADS[key] = (workload, digest(workload))
    return _WORKLOADS[key]


def _worker_init() -> None:
    """Ctrl-C reaches the whole process group; only the parent handles it (and stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


Report = Callable[[int, dict], None]


def run_in_process(tasks: list[Task], report: Report) -> None:
    for i, task in enumerate(tasks):
        report(i, run_task(task))


def run_local(tasks: list[Task], workers: int, report: Report) -> None:
    """Local worker processes. On Linux they fork from this process after the simulator is imported, so a
    worker starts in milliseconds instead of importing numpy, pandas and numba again."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import simulator.api  # noqa: F401  (imported before the fork, see above)

    method = "fork" if sys.platform.startswith("linux") else None
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_worker_init)
    futures = {}
    try:
        futures = {pool.submit(run_task, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            report(futures[future], _outcome(future.result))
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def run_dask(tasks: list[Task], address: str, report: Report) -> None:
    """The same tasks on a dask.distributed cluster; workers need Tortoise and the sweep's files at the same
    paths (bundled presets and workloads are sent by name)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise TortoiseError("--scheduler needs dask.distributed (pip install distributed)") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise TortoiseError(f"--scheduler {address}: cannot connect ({' '.join(str(exc).split())})") from None
    futures = []
    try:
        futures = client.map(run_task, tasks, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            report(index[future.key], _outcome(future.result))
    finally:
        if futures:
            client.cancel(futures)
        client.close()


def _outcome(get) -> dict:
    """A task's result; an unexpected crash becomes an error row marked to run again on resume."""
    try:
        return get()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001  (a bug or a dead worker must not end the sweep)
        return {"status": "error", "error": f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}",
                "retry": True}


def default_workers(requested: int | None, tasks: Iterable) -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(requested or available, len(list(tasks))))
