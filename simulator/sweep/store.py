"""The sweep folder (docs/sweeps.md): points.jsonl is the durable record, results.csv/.parquet are views of it.

Every finished row is one JSON line, appended and flushed at once, so a kill loses nothing finished. The table
is rebuilt from those lines for the sweep being run: rows are looked up by key, so rows of another sweep in
the same folder stay in points.jsonl but stay out of the table.
"""

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from simulator import __version__
from simulator.errors import TortoiseError
from simulator.results.files import (
    SWEEP_FILES,
    FolderLock,
    check_folder,
    clean_temps,
    folder_kind,
    make_folder,
    reason,
    user_files,
    write_atomic,
)
from simulator.results.output import json_safe
from simulator.sweep.plan import Plan, Row
from simulator.sweep.spec import HARDWARE

if TYPE_CHECKING:
    import pandas as pd

RECORD = "points.jsonl"
OWN_FILES = SWEEP_FILES
FIRST = ("point", "key", "hardware", "workload", "workload_file")
# A row's own columns (point, axes, …) come from the sweep being run, not from the stored record.
RESULT_FIELDS_SKIPPED = set(FIRST)


class Store:
    """The folder of one sweep at a time: `open` takes its lock (a second sweep on the same folder is refused
    in one line; the lock of a killed sweep is taken over) and `close` lets it go. A failed write (a full
    disk) is one TortoiseError line saying that the finished rows are kept."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.record = self.folder / RECORD
        self._file = None
        self._lock = FolderLock(self.folder, "--out", "sweep")

    def open(self) -> dict[str, dict]:
        """Create the folder (refusing one that holds something else), take its lock, remove what a killed
        sweep left half-written (`.results.csv.tmp<PID>`), and read what is done: key → stored row. A torn
        last line (the process was killed mid-write) is cut off, so its row runs again."""
        check_folder(self.folder, "--out")
        if self.folder.is_dir():
            if user_files(self.folder, OWN_FILES) and folder_kind(self.folder) is None:
                raise TortoiseError(f"--out {self.folder}: the folder holds other files and no sweep; give a new or "
                                    "empty folder, or one a sweep wrote")
            self._check_kind()
        make_folder(self.folder, "--out")
        self._lock.acquire()
        try:
            clean_temps(self.folder, OWN_FILES, live_too=True)  # the lock is ours: no other sweep writes here
            done = self._read()
            self._file = open(self.record, "ab", buffering=0)  # each row is one write: nothing waits in a buffer
        except OSError as exc:
            self.close()
            raise TortoiseError(f"--out {self.folder}: cannot use {RECORD} ({reason(exc)})") from None
        except BaseException:
            self.close()
            raise
        return done

    def _read(self) -> dict[str, dict]:
        done = {}
        if self.record.is_file():
            data = self.record.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                with open(self.record, "r+b") as f:
                    f.truncate(end)
            for line in data[:end].decode("utf-8", errors="replace").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("key"), str):
                    done[row["key"]] = row
        return done

    def _check_kind(self) -> None:
        kind = folder_kind(self.folder)
        if kind not in (None, "sweep"):
            shown = "non-sweep" if kind == "other" else kind
            raise TortoiseError(f"--out {self.folder}: holds a {shown} folder's results; give another folder")

    def _failed(self, what: str, exc: OSError) -> TortoiseError:
        return TortoiseError(f"--out {self.folder}: cannot write {what} ({reason(exc)}); the rows finished so far "
                             f"are kept in {RECORD}: make room and rerun the same command to resume")

    def append(self, row: dict) -> str:
        """Write one row as a line, at once; returns the line as stored."""
        line = json.dumps(json_safe(row), ensure_ascii=False, allow_nan=False)
        data = (line + "\n").encode("utf-8")
        try:
            while data:  # a raw file may take part of a write
                data = data[self._file.write(data):]
        except OSError as exc:
            raise self._failed(RECORD, exc) from None
        return line

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass  # unbuffered: nothing is lost by a failing close
            self._file = None
        self._lock.release()

    def copy_sweep(self, path: Path) -> None:
        target = self.folder / "sweep.yaml"
        try:
            if not target.exists() or target.read_bytes() != Path(path).read_bytes():
                write_atomic(target, lambda tmp: shutil.copyfile(path, tmp))
        except OSError as exc:
            raise self._failed("sweep.yaml", exc) from None

    def write_meta(self, plan: Plan, rows: int, errors: int) -> None:
        sweep = plan.sweep
        meta = {
            "kind": "sweep", "name": sweep.name, "description": sweep.description, "tortoise": __version__,
            "mode": sweep.mode,
            "axes": {path: {"unit": axis.unit, "values": [axis.value_of(v, path) for v in axis.values]}
                     | ({"together" if axis.per_path else "tied": list(axis.paths)} if len(axis.paths) > 1 else {})
                     for axis in sweep.axes for path in axis.paths},
            "hardware": list(sweep.hardware), "workloads": list(sweep.workloads), "set": list(sweep.fixed),
            "points": len(plan.points), "rows": rows, "rows_planned": len(plan.rows), "errors": errors,
        }
        if sweep.mode == "random":
            meta |= {"samples": sweep.samples, "seed": sweep.seed}
        text = json.dumps(json_safe(meta), indent=2, allow_nan=False) + "\n"
        try:
            write_atomic(self.folder / "meta.json", lambda p: p.write_text(text, encoding="utf-8"))
        except OSError as exc:
            raise self._failed("meta.json", exc) from None

    def write_table(self, plan: Plan, done: dict[str, dict]) -> "pd.DataFrame":
        """results.csv and results.parquet, each written whole, then renamed over the last ones."""
        table = results_table(plan, done)
        for name, write in (("results.csv", lambda p: table.to_csv(p, index=False)),
                            ("results.parquet", lambda p: table.to_parquet(p, index=False))):
            try:
                write_atomic(self.folder / name, write)
            except OSError as exc:
                raise self._failed(name, exc) from None
        return table


def table_row(row: Row, result: dict) -> dict:
    """One table row: this sweep's own columns, then the stored status, error and metrics."""
    own = {"point": row.point, "key": row.task.key, "hardware": row.hardware, "workload": row.workload,
           "workload_file": row.workload_file}
    own |= {path: value for path, value in row.columns.items() if path != HARDWARE}
    own |= {"status": result.get("status", "ok"), "error": result.get("error", "")}
    return own | {k: v for k, v in result.items() if k not in own and k not in RESULT_FIELDS_SKIPPED}


def results_table(plan: Plan, done: dict[str, dict]) -> "pd.DataFrame":
    """The finished rows of this sweep, sorted by (point, workload order); columns in a fixed order. pandas is
    imported here, not with the module: a sweep's start (and the workers it forks) need not wait for it."""
    import pandas as pd

    records = [table_row(row, done[row.task.key]) for row in plan.rows if row.task.key in done]
    columns = list(FIRST) + [p for a in plan.sweep.axes for p in a.paths if p != HARDWARE] + ["status", "error"]
    seen = set(columns)
    for record in records:
        for name in record:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    table = pd.DataFrame.from_records(records, columns=columns)
    for name in table.columns:  # text columns with gaps (error rows) hold None, which parquet accepts
        if table[name].dtype == object:
            table[name] = table[name].astype(object).where(table[name].notna(), None)
    return table
