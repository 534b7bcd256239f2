"""Output folders and files (docs/cli.md, "Output folders"): checked before the work, written whole or not at
all, and owned by the command that writes them.

- `check_folder` / `check_file`: before a long run, the place an output goes is (or can become) a folder this
  process can write in, and not a file where a folder is wanted (or the reverse). A probe file is created and
  removed, since permission bits do not tell (root, ACLs, read-only mounts).
- `write_atomic` / `write_all`: each file is written beside its target as `.NAME.tmp<PID>` and renamed over it
  when whole, so a full disk or a kill never leaves an empty or half file under the real name. `write_all`
  renames only once every file of the set is whole: a failure leaves the previous files as they were.
- `clean_temps`: such leftovers of a killed process, removed on the next run (only names Tortoise writes).
- `FolderLock`: one writer per folder: a lock file holding the PID, under an OS lock that the kernel drops when
  its process dies, so a stale lock (a dead process, a kill -9) is taken over.
- `folder_kind`: which command wrote a folder (run, sweep or compare), so that none writes over another's.

Pure standard library: no pandas here.
"""

import errno
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from simulator.errors import TortoiseError

LOCK = ".tortoise.lock"
TEMP = re.compile(r"^\.(?P<name>.+)\.tmp(?P<pid>\d+)$")
RUN_TABLES = ("ops", "breakdown", "stages", "links", "timeline")  # `run --out`: TABLE.csv or TABLE.parquet
RUN_FILES = frozenset({"summary.json"} | {f"{t}.{fmt}" for t in RUN_TABLES for fmt in ("csv", "parquet")})
SWEEP_FILES = frozenset({"points.jsonl", "meta.json", "sweep.yaml", "results.csv", "results.parquet"})
COMPARE_FILES = frozenset({"compare.csv", "ratios.csv", "meta.json"})
# Names that say nothing about who owns a folder: Tortoise's own lock and leftovers.
HOUSEKEEPING = re.compile(r"^(\.tortoise\.lock|\..+\.tmp\d+|\.tortoise-probe.*)$")


def reason(exc: OSError) -> str:
    """`No space left on device`: the OS's words for a failed write, without the path."""
    return exc.strerror or str(exc) or type(exc).__name__


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # not ours to explain: the write's own error says what went wrong


def _in_place(path: Path) -> bool:
    """A device or a pipe (`--trace /dev/stdout`): written as it is, never renamed over."""
    real = Path(os.path.realpath(path))
    return real.exists() and not real.is_file()


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """`write(temp)` writes the file's content to a temporary path beside `path`, which then replaces `path`
    in one rename. On any failure the temporary file is removed and `path` is as it was. A link is followed
    (the file it names is replaced, the link stays); a device or a pipe is written in place."""
    path = Path(path)
    if _in_place(path):
        write(path)
        return path
    real = Path(os.path.realpath(path))
    tmp = temp_path(real)
    try:
        write(tmp)
        os.replace(tmp, real)
    except BaseException:
        _remove(tmp)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_all(writes: dict[Path, Callable[[Path], object]]) -> list[Path]:
    """Every file of `writes` (target → writer, as for write_atomic) written to its temporary path first; the
    set replaces the targets only when all are whole. On a failure no target has changed."""
    done: list[tuple[Path, Path]] = []
    try:
        for path, write in writes.items():
            real = Path(os.path.realpath(path))
            if _in_place(real):
                raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
            tmp = temp_path(real)
            done.append((tmp, real))
            write(tmp)
    except BaseException:
        for tmp, _ in done:
            _remove(tmp)
        raise
    for tmp, real in done:
        os.replace(tmp, real)
    return [Path(path) for path in writes]


def pid_alive(pid: int) -> bool:
    """Whether a process of this number runs on this machine (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def clean_temps(folder: Path, names: Iterable[str], live_too: bool = False) -> list[Path]:
    """Remove `.NAME.tmp<PID>` files in `folder` left by a killed writer, for NAME in `names` (Tortoise's own
    outputs; nothing else is touched). A process still alive may be writing its file: kept, unless
    `live_too` (the caller holds the folder's lock, so no other writer can be at work). Returns what went."""
    names = set(names)
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = TEMP.match(entry.name)
        if not match or match["name"] not in names or not entry.is_file():
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or (not live_too and pid_alive(pid)):
            continue
        _remove(entry)
        removed.append(entry)
    return removed


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path) -> None:
    """Create and remove a file in `folder`: the one way to know it can be written."""
    fd, name = tempfile.mkstemp(prefix=".tortoise-probe", dir=folder)
    os.close(fd)
    os.unlink(name)


def check_folder(folder: Path, flag: str) -> None:
    """Before the work: `folder` is a folder this process can write in, or can be made one. Nothing is
    created (the folder is made when its files are written). One TortoiseError line naming `flag`."""
    folder = Path(folder)
    where = f"{flag} {folder}"
    if folder.exists() and not folder.is_dir():
        raise TortoiseError(f"{where}: is a file, not a folder")
    if not folder.exists() and folder.is_symlink():
        raise TortoiseError(f"{where}: is a link to nothing")
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise TortoiseError(f"{where}: {existing} is a file, not a folder")
    try:
        _probe(existing)
    except OSError as exc:
        detail = "" if existing == Path(os.path.abspath(folder)) else f" in {existing}"
        raise TortoiseError(f"{where}: cannot write there{detail} ({reason(exc)})") from None


def check_file(path: Path, flag: str) -> None:
    """Before the work: `path` names a file (not a folder) in a folder this process can write in."""
    path = Path(path)
    if path.is_dir():
        raise TortoiseError(f"{flag} {path}: is a folder; give a file name")
    if not path.name or path.name in (".", ".."):
        raise TortoiseError(f"{flag} {path}: give a file name")
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise TortoiseError(f"{flag} {path}: {existing} is a file, not a folder")
    try:
        _probe(existing)
    except OSError as exc:
        raise TortoiseError(f"{flag} {path}: cannot write there ({reason(exc)})") from None


def first_writable(folders: Iterable[Path]) -> Path | None:
    """The first of `folders` that exists (made if need be) and takes a file; None if none does."""
    for folder in folders:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            _probe(Path(folder))
        except OSError:
            continue
        return Path(folder)
    return None


def make_folder(folder: Path, flag: str) -> Path:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TortoiseError(f"{flag} {folder}: cannot create the folder ({reason(exc)})") from None
    return Path(folder)


def folder_kind(folder: Path) -> str | None:
    """"sweep" or "compare" (meta.json's kind), "serve" (summary.json beside requests.csv), "run" (summary.json),
    "other" (a meta.json of no known kind,
    or unreadable), None (no such folder, or none of those files)."""
    folder = Path(folder)
    meta = folder / "meta.json"
    if meta.is_file():
        try:
            kind = json.loads(meta.read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            return "other"
        return kind if kind in ("sweep", "compare") else "other"
    if (folder / "points.jsonl").is_file():
        return "sweep"
    if (folder / "summary.json").is_file():
        served = any((folder / f"requests.{fmt}").is_file() for fmt in ("csv", "parquet"))
        return "serve" if served else "run"
    return None


def claim_folder(folder: Path, kind: str, flag: str = "--out") -> None:
    """Before the work: `folder` can be written, and holds no other command's results (a run folder is not
    turned into a sweep's, nor the reverse: `tortoise plot` would read a mix)."""
    check_folder(folder, flag)
    found = folder_kind(folder)
    if found not in (None, kind):
        shown = "an unknown kind of" if found == "other" else f"a {found}"
        raise TortoiseError(f"{flag} {folder}: holds {shown} folder's results, not a {kind}'s; give another folder")


def user_files(folder: Path, own: Iterable[str]) -> list[str]:
    """Names in `folder` that are neither in `own` nor Tortoise's lock or leftovers."""
    own = set(own)
    try:
        return sorted(p.name for p in Path(folder).iterdir() if p.name not in own and not HOUSEKEEPING.match(p.name))
    except OSError:
        return []


class FolderBusy(TortoiseError):
    """Another live process holds the folder's lock."""


class FolderLock:
    """One writer per folder. The lock file `.tortoise.lock` holds the writer's PID; the file is also locked
    with flock, which the kernel releases when the process ends however it ends, so a lock left by a dead
    process is free and taken over (its PID only names who held it). Where flock is not available, a lock
    whose PID is no longer alive on this machine is taken over."""

    def __init__(self, folder: Path, flag: str = "--out", what: str = "sweep"):
        self.folder, self.flag, self.what = Path(folder), flag, what
        self.path = self.folder / LOCK
        self._fd: int | None = None

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        for _ in range(8):  # another process may remove or replace the file between our steps
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise TortoiseError(f"{self.flag} {self.folder}: cannot create its lock file {LOCK} "
                                    f"({reason(exc)})") from None
            if not self._lock(fd):
                holder = _read_pid(fd)
                os.close(fd)
                self._busy(holder)
            if not self._same_file(fd):
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return
        raise FolderBusy(f"{self.flag} {self.folder}: its lock file {LOCK} keeps changing; is another {self.what} "
                         "starting there?")

    def _lock(self, fd: int) -> bool:
        """flock the file; where flock is not supported, the holder's PID decides."""
        try:
            import fcntl
        except ImportError:
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            except OSError:
                pass  # e.g. a network filesystem without flock
        holder = _read_pid(fd)
        return holder is None or holder == os.getpid() or not pid_alive(holder)

    def _same_file(self, fd: int) -> bool:
        """The locked file is still the one at the path (a releasing holder removes it after unlocking)."""
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except OSError:
            return False

    def _busy(self, holder: int | None) -> None:
        who = f" (process {holder})" if holder else ""
        raise FolderBusy(f"{self.flag} {self.folder}: another {self.what}{who} is writing to this folder; wait for "
                         f"it to finish or give another folder")

    def release(self) -> None:
        if self._fd is None:
            return
        _remove(self.path)  # before the unlock, so that a waiting process does not lock a removed file
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
