"""The running server's pid, in `<data dir>/observer.pid`, and `observer stop` built on it.

The file is written only once the server accepts connections, so its presence means "a server
answered here", and removed on a clean shutdown. A stale file (the process is gone, or the pid
now belongs to something else) is never trusted to send a signal.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from observer.errors import ObserverError


def write_pid(path: Path, pid: int | None = None) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(f"{pid or os.getpid()}\n")
    os.replace(temp, path)


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


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
