"""Output files and folders (simulator/results/files.py): written whole or not at all, leftovers of a killed
writer cleaned, one writer per folder, places checked before the work."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.errors import TortoiseError
from simulator.results import files
from simulator.results.files import (
    LOCK,
    FolderBusy,
    FolderLock,
    check_file,
    check_folder,
    claim_folder,
    clean_temps,
    folder_kind,
    temp_path,
    write_all,
    write_atomic,
    write_text_atomic,
)


def dead_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(done.stdout)
    assert not files.pid_alive(pid)
    return pid


def full_disk(path: Path) -> None:
    """A writer that gets half its bytes out, then finds the disk full."""
    path.write_text("half a ta")
    raise OSError(errno.ENOSPC, "No space left on device")


# ---- atomic writes -------------------------------------------------------------------------------------------


def test_an_atomic_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "ops.csv"
    target.write_text("old\n")
    assert write_text_atomic(target, "new\n") == target
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.csv"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "ops.csv"
    target.write_text("old\n")
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, full_disk)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.csv"]


def test_a_failed_first_write_leaves_no_empty_file(tmp_path):
    with pytest.raises(OSError):
        write_atomic(tmp_path / "ops.csv", full_disk)
    assert list(tmp_path.iterdir()) == []


def test_a_set_of_files_changes_only_when_every_one_is_whole(tmp_path):
    (tmp_path / "ops.csv").write_text("old ops\n")
    (tmp_path / "summary.json").write_text("{}\n")
    with pytest.raises(OSError):
        write_all({tmp_path / "ops.csv": lambda p: p.write_text("new ops\n"), tmp_path / "summary.json": full_disk})
    assert (tmp_path / "ops.csv").read_text() == "old ops\n"  # written, but not put in place: the set failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.csv", "summary.json"]
    paths = write_all({tmp_path / "ops.csv": lambda p: p.write_text("new ops\n"),
                       tmp_path / "summary.json": lambda p: p.write_text('{"a": 1}\n')})
    assert paths == [tmp_path / "ops.csv", tmp_path / "summary.json"]
    assert (tmp_path / "ops.csv").read_text() == "new ops\n" and (tmp_path / "summary.json").read_text() == '{"a": 1}\n'


def test_the_temporary_file_is_hidden_beside_the_target_and_names_the_process(tmp_path):
    assert temp_path(tmp_path / "results.csv") == tmp_path / f".results.csv.tmp{os.getpid()}"


# ---- leftovers of a killed writer ----------------------------------------------------------------------------


def test_leftovers_of_dead_writers_are_removed_and_nothing_else(tmp_path):
    dead = dead_pid()
    ours = [f".results.csv.tmp{dead}", f".meta.json.tmp{dead}"]
    kept = [f".results.csv.tmp{os.getpid()}",  # this process's own: it may be writing it
            ".results.csv.tmp1",  # a live process's (PID 1 always runs)
            f".notes.txt.tmp{dead}",  # not a name Tortoise writes
            "results.csv", "my_results.csv.tmp3"]
    for name in ours + kept:
        (tmp_path / name).write_text("x")
    removed = clean_temps(tmp_path, {"results.csv", "meta.json"})
    assert sorted(p.name for p in removed) == sorted(ours)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_under_the_folders_lock_a_live_pids_leftover_is_stale_too(tmp_path):
    (tmp_path / ".results.csv.tmp1").write_text("x")  # a reused PID: no sweep can be writing under our lock
    assert [p.name for p in clean_temps(tmp_path, {"results.csv"}, live_too=True)] == [".results.csv.tmp1"]


# ---- one writer per folder -----------------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with FolderLock(tmp_path) as first:
        assert first.held and (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(FolderBusy) as refused:
            FolderLock(tmp_path).acquire()
        assert str(refused.value) == (f"--out {tmp_path}: another sweep (process {os.getpid()}) is writing to this "
                                      "folder; wait for it to finish or give another folder")
    assert not (tmp_path / LOCK).exists()  # released: the file goes
    with FolderLock(tmp_path):  # and the folder is free again
        pass


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    (tmp_path / LOCK).write_text(f"{dead_pid()}\n")  # left by a kill -9
    with FolderLock(tmp_path) as lock:
        assert lock.held and (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"


def test_a_lock_held_by_another_live_process_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys\nfrom simulator.results.files import FolderLock\n"
                               f"lock = FolderLock({str(tmp_path)!r}); lock.acquire(); print('held', flush=True)\n"
                               "sys.stdin.read()\n"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"process {holder.pid}"):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()  # killed while holding it: the kernel drops its lock
        holder.wait()
    assert (tmp_path / LOCK).read_text() == f"{holder.pid}\n"
    with FolderLock(tmp_path):
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"


def test_without_flock_a_live_pid_still_holds_the_lock(tmp_path, monkeypatch):
    import fcntl

    def unsupported(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    (tmp_path / LOCK).write_text("1\n")  # PID 1 is alive
    with pytest.raises(FolderBusy, match="process 1"):
        FolderLock(tmp_path).acquire()
    (tmp_path / LOCK).write_text(f"{dead_pid()}\n")
    with FolderLock(tmp_path) as lock:
        assert lock.held


# ---- places, checked before the work --------------------------------------------------------------------------


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in, whoever it runs as (root ignores permission bits)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    try:
        files._probe(Path("/sys"))
    except OSError:
        return Path("/sys")
    pytest.skip("no folder here refuses a file to root")


def test_a_folder_check_creates_nothing(tmp_path):
    check_folder(tmp_path / "a" / "b", "--out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make, says", [
    (lambda t: (t / "f").write_text("x") and t / "f", "--out {t}/f: is a file, not a folder"),
    (lambda t: (t / "f").write_text("x") and t / "f" / "sub", "--out {t}/f/sub: {t}/f is a file, not a folder"),
    (lambda t: os.symlink(t / "nowhere", t / "link") or t / "link", "--out {t}/link: is a link to nothing"),
])
def test_a_folder_that_cannot_be_is_one_line(tmp_path, make, says):
    with pytest.raises(TortoiseError) as error:
        check_folder(make(tmp_path), "--out")
    assert str(error.value) == says.format(t=tmp_path)


def test_an_unwritable_folder_is_said_before_the_work(tmp_path):
    folder = unwritable_folder(tmp_path)
    with pytest.raises(TortoiseError, match=f"--out {folder}/run: cannot write there in {folder} "):
        check_folder(folder / "run", "--out")
    with pytest.raises(TortoiseError, match=f"--trace {folder}/t.json: cannot write there"):
        check_file(folder / "t.json", "--trace")


def test_a_file_where_a_file_is_wanted(tmp_path):
    check_file(tmp_path / "new" / "trace.json", "--trace")
    with pytest.raises(TortoiseError, match="is a folder; give a file name"):
        check_file(tmp_path, "--trace")


def test_folders_know_who_wrote_them(tmp_path):
    assert folder_kind(tmp_path / "none") is None and folder_kind(tmp_path) is None
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("{}")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "meta.json").write_text('{"kind": "sweep"}')
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "meta.json").write_text("[1]")
    assert [folder_kind(tmp_path / k) for k in ("run", "sweep", "odd")] == ["run", "sweep", "other"]
    claim_folder(tmp_path / "run", "run")
    with pytest.raises(TortoiseError, match="holds a sweep folder's results, not a run's; give another folder"):
        claim_folder(tmp_path / "sweep", "run")
    with pytest.raises(TortoiseError, match="holds a run folder's results, not a compare's"):
        claim_folder(tmp_path / "run", "compare")


def test_a_link_is_followed_and_kept(tmp_path):
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    write_text_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_a_pipe_is_written_in_place_never_renamed_over(tmp_path):
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read = []
    reader = threading.Thread(target=lambda: read.append(pipe.read_text()))
    reader.start()
    write_text_atomic(pipe, "through the pipe")
    reader.join(timeout=30)
    assert read == ["through the pipe"]
    assert not pipe.is_file() and pipe.exists()  # still the pipe
