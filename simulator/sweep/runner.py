"""Running sweep tasks: in this process, in local worker processes, or on a dask.distributed cluster.

Every backend calls the same top-level `run_task`, so a row is the same whoever computes it. Results are
handed back row by row, in the order they finish (from local workers, a small batch at a time), to the
caller that stores them.
"""

import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager

from simulator.errors import TortoiseError
from simulator.sweep.plan import Task, digest, row_key

OUT_OF_MEMORY = ("out of memory while simulating; the workload is too large to simulate here (lower "
                 "scenario.batch, scenario.prompt or the context)")

CONNECT_TIMEOUT = "15s"  # how long to wait for the scheduler before saying it cannot be reached

# Per-process caches: a worker runs many points of the same workload (and often the same chip).
_WORKLOADS: dict = {}
_CHIPS: dict = {}
# What the sweep's validation loaded in this process, (spec, overrides) → (config, digest): the run uses it
# instead of loading and validating every point again. Local workers fork after use_plan and inherit it; a
# dask worker has none and loads each point itself.
_PLANNED_CHIPS: dict = {}
_PLANNED_WORKLOADS: dict = {}


def use_plan(the_plan) -> None:
    """Run the points of `the_plan` with the configs its validation loaded (Plan.chips, Plan.workloads); None
    lets them go (each point is then loaded where it runs)."""
    _PLANNED_CHIPS.clear()
    _PLANNED_WORKLOADS.clear()
    if the_plan is not None:
        _PLANNED_CHIPS.update(the_plan.chips)
        _PLANNED_WORKLOADS.update(the_plan.workloads)
    _CHIPS.clear()  # loaded for an earlier plan; the files may have changed since
    _WORKLOADS.clear()


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
        return {"status": "error", "error": portable(" ".join(str(exc).split()), task)}
    except MemoryError:
        return {"status": "error", "error": OUT_OF_MEMORY}
    metrics = flat_row(result.summary, getattr(result, "breakdown_rows", None))  # rows: no pandas per point
    return {"status": "ok", "error": ""} | metrics


def portable(error: str, task: Task) -> str:
    """The error as the sweep names its files, the same on every machine and in every folder: the workload
    file as the task names it (`workloads/NAME.yaml` for a bundled one, which a process resolves beside its
    own working folder or its own install), and any bundled file by its place in the package
    (`workloads/models/llama3_8b.json`, `configs/h100.yaml`) rather than by this installation's absolute path."""
    from simulator.config.presets import preset_dir
    from simulator.workloads.loader import bundled_dir, resolve_workload_path

    resolved = str(resolve_workload_path(task.workload))
    if resolved != task.workload:
        error = error.replace(resolved, task.workload)
    for folder, name in ((bundled_dir(), "workloads"), (preset_dir(), "configs")):
        for shown in {str(folder), str(folder.resolve())}:
            error = error.replace(shown + os.sep, name + "/")
    return error


def _chip(spec: str, overrides: tuple):
    from simulator.config.loader import load_chip
    from simulator.hardware.chip import Chip

    key = (spec, overrides)
    if key not in _CHIPS:
        if len(_CHIPS) >= 64:  # points rarely share a chip except across workloads; keep the cache small
            _CHIPS.pop(next(iter(_CHIPS)))
        planned = _PLANNED_CHIPS.get(key)
        if planned is None:
            config = load_chip(spec, list(overrides))
            planned = (config, digest(config))
        _CHIPS[key] = (Chip(planned[0]), planned[1])
    return _CHIPS[key]


def _workload(spec: str, overrides: tuple):
    from simulator.workloads.loader import load_workload

    key = (spec, overrides)
    if key not in _WORKLOADS:
        planned = _PLANNED_WORKLOADS.get(key)
        if planned is None:
            workload = load_workload(spec, list(overrides))
            planned = (workload, digest(workload))
        _WORKLOADS[key] = planned
    return _WORKLOADS[key]


def _worker_init() -> None:
    """Ctrl-C reaches the whole process group; only the parent handles it (and stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


Report = Callable[[int, dict], None]


@contextmanager
def _old_objects_frozen():
    """Keep the garbage collector off everything that exists before the points run: the imported modules, the
    plan and its configs, over 150,000 objects that live until the sweep ends. Without this, each full
    collection walks them all (a tenth of a point's time, on average), and in a forked worker it also writes
    to every page of them, which the kernel must then copy. Nothing is freed differently; cycles among those
    objects wait for the end of the run. Left alone where something else has frozen objects."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_in_process(tasks: list[Task], report: Report) -> None:
    with _old_objects_frozen():
        for i, task in enumerate(tasks):
            report(i, run_task(task))


BATCH_S = 0.05  # a local worker hands its rows back about this often
MAX_BATCH = 64


def run_batch(tasks: list[Task]) -> tuple[list[dict], float]:
    """In a local worker: several tasks, one after the other, and the seconds they took. A crash of one task
    is that task's row (as _outcome makes it), so the others' rows still count."""
    start = time.perf_counter()
    return [_outcome(lambda task=task: run_task(task)) for task in tasks], time.perf_counter() - start


def run_local(tasks: list[Task], workers: int, report: Report) -> None:
    """Local worker processes. On Linux they fork from this process after the simulator is imported (and after
    use_plan), so a worker starts in milliseconds instead of importing numpy, pandas and numba again, and runs
    each point with the config validation loaded.

    Tasks go out in batches of about BATCH_S of work: handing one task to a process and its row back costs
    this process about 0.6 ms, a tenth of a point. The first batches are single tasks, which time a point; the
    last ones shrink again so that the workers finish together."""
    import simulator.api  # noqa: F401  (imported before the fork, see above)

    with _old_objects_frozen():  # before the fork: the workers inherit it
        _run_batches(tasks, workers, report)


def _run_batches(tasks: list[Task], workers: int, report: Report) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    method = "fork" if sys.platform.startswith("linux") else None
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_worker_init)
    in_flight: dict = {}  # future → the task indices of its batch
    state = {"next": 0, "per_task": None}

    def submit() -> None:
        start = state["next"]
        left = len(tasks) - start
        if left <= 0:
            return
        size = batch_size(state["per_task"], left, workers)
        indices = range(start, start + size)
        state["next"] = start + size
        try:
            in_flight[pool.submit(run_batch, [tasks[i] for i in indices])] = indices
        except BrokenProcessPool as exc:  # a worker died: every task not yet handed out is a retry row
            state["next"] = len(tasks)
            for i in range(start, len(tasks)):
                report(i, _outcome(_raise(exc)))

    try:
        for _ in range(2 * workers):
            submit()
        while in_flight:
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                indices = in_flight.pop(future)
                try:
                    results, seconds = future.result()
                    state["per_task"] = seconds / len(indices)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001  (a dead worker: each task of the batch runs again later)
                    results = [_outcome(_raise(exc)) for _ in indices]
                for i, result in zip(indices, results, strict=True):
                    report(i, result)
                submit()
    finally:
        for future in in_flight:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def batch_size(per_task: float | None, left: int, workers: int) -> int:
    """Tasks in the next batch: one until a task has been timed, then about BATCH_S of work, at most MAX_BATCH,
    and at most a share of what is left (each worker keeps two batches), so that the workers finish together."""
    if per_task is None:
        return 1
    return max(1, min(MAX_BATCH, int(BATCH_S / max(per_task, 1e-6)), left // (2 * workers)))


def _raise(exc: BaseException):
    def get():
        raise exc

    return get


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
