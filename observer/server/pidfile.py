"""The running server's pid, in `<data dir>/observer.pid`, and `observer stop` built on it;
and the lock, `<data dir>/observer.lock`, that lets one process at a time own a data dir.

The pid file (the pid, then the URL on a second line) is written only once the server accepts
connections, so its presence means "a server answered here", and removed on a clean shutdown by
its owner alone. A stale file (the process is gone, or the pid now belongs to something else) is
never trusted to send a signal.

The lock is an exclusive `flock` held for the owner's whole life (a server, or `observer
forward`): the kernel drops it when the process ends, however it ends (kill -9 included), so it
is never stale. It is taken before anything else touches the data dir; a second owner fails at
once, told who holds it (the pid and URL the holder wrote into the lock file).
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from observer.core.errors import ObserverError
from observer.fsio import atomic_write

_PID = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() takes '²'


def write_pid(path: Path, pid: int | None = None, url: str | None = None) -> None:
    # 0644 as it always was (write_text under the usual umask): `observer stop` and the
    # service manager only read it, and the data dir around it is 0700 anyway.
    atomic_write(path, (f"{pid or os.getpid()}\n" + (f"{url}\n" if url else "")).encode(), 0o644)


def _parse_pid(text: str) -> int | None:
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    return int(first) if _PID.fullmatch(first) and int(first) > 0 else None


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _parse_pid(text)


def read_url(path: Path) -> str | None:
    """The URL the server wrote under its pid, if any."""
    try:
        lines = path.read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (lines[1].strip() or None) if len(lines) > 1 else None


class AlreadyRunningError(ObserverError):
    """Another process holds the data dir's lock."""

    def __init__(self, data_dir: Path, pid: int | None, where: str | None) -> None:
        self.data_dir, self.pid, self.where = data_dir, pid, where
        super().__init__(
            f"observer is already running for {data_dir} "
            f"(pid {pid if pid is not None else '?'}, {where or 'starting'})"
        )


class DataDirLock:
    """The exclusive lock on `<data dir>/observer.lock`, held until `release()` or exit."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def lock_path(data_dir: Path) -> Path:
    return data_dir / "observer.lock"


def acquire_lock(data_dir: Path, where: str) -> DataDirLock:
    """Own the data dir, or raise AlreadyRunningError naming the holder. `where` (the server's URL,
    or what a forwarder forwards to) is written beside our pid for a second comer to read.

    O_CLOEXEC: agents launched by the server must not inherit (and outlive it holding) the lock.
    """
    path = lock_path(data_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _holder(data_dir) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n{where}\n".encode(), 0)
    return DataDirLock(data_dir, fd)


def _holder(data_dir: Path) -> AlreadyRunningError:
    """Who holds the lock: what it wrote into the lock file (it writes right after locking, so
    wait a moment for it), else the pid file."""
    path = lock_path(data_dir)
    pid: int | None = None
    where: str | None = None
    deadline = time.monotonic() + 1.0
    while pid is None and time.monotonic() < deadline:
        pid, where = read_pid(path), read_url(path)
        if pid is None:
            time.sleep(0.02)
    if pid is None:
        pid_path = data_dir / "observer.pid"
        pid, where = read_pid(pid_path), read_url(pid_path)
    return AlreadyRunningError(data_dir, pid, where)


def remove_pid(path: Path, pid: int | None = None) -> None:
    """Remove the file only if it still names us: a second server may have taken it over."""
    if read_pid(path) == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def is_observer_process(pid: int) -> bool:
    """Alive, and (where the OS tells us) running observer: pids are reused."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not our server
    cmdline = Path(f"/proc/{pid}/cmdline")
    if sys.platform.startswith("linux") and cmdline.exists():
        try:
            return b"observer" in cmdline.read_bytes()
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class StopResult:
    pid: int | None
    was_running: bool
    stale_file_removed: bool


def stop_server(path: Path, timeout: float = 15.0) -> StopResult:
    """SIGTERM the server named by the pid file and wait until it is gone."""
    pid = read_pid(path)
    if pid is None:
        return StopResult(None, False, False)
    if not is_observer_process(pid):
        path.unlink(missing_ok=True)
        return StopResult(pid, False, True)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_observer_process(pid) or _is_zombie(pid):
            return StopResult(pid, True, False)
        time.sleep(0.05)
    raise ObserverError(
        f"observer (pid {pid}) did not stop within {timeout:.0f} s of SIGTERM; "
        f"it may be draining a large spool, or stuck: `kill -9 {pid}` ends it"
    )


def _is_zombie(pid: int) -> bool:
    """A child we started ourselves (tests) lingers as a zombie until reaped: it has stopped."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
