"""The pid file: written atomically, removed only by its owner, never trusted when stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from observer import pidfile


def test_round_trip_and_owner_only_removal(tmp_path: Path) -> None:
    path = tmp_path / "observer.pid"
    pidfile.write_pid(path, 4242)
    assert pidfile.read_pid(path) == 4242
    pidfile.remove_pid(path, 1)  # not ours: another server took the file over
    assert path.exists()
    pidfile.remove_pid(path, 4242)
    assert not path.exists()


def test_garbage_in_the_file_is_no_pid(tmp_path: Path) -> None:
    path = tmp_path / "observer.pid"
    for text in ("", "abc", "-5", "0", "12 13"):
        path.write_text(text)
        assert pidfile.read_pid(path) is None
    assert pidfile.read_pid(tmp_path / "missing") is None


def test_stop_without_a_pid_file_reports_not_running(tmp_path: Path) -> None:
    result = pidfile.stop_server(tmp_path / "observer.pid")
    assert (result.pid, result.was_running, result.stale_file_removed) == (None, False, False)


def test_a_stale_pid_is_removed_and_never_signalled(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / "observer.pid"
    pidfile.write_pid(path, gone.pid)
    result = pidfile.stop_server(path)
    assert result.stale_file_removed and not result.was_running
    assert not path.exists()


def test_a_reused_pid_running_something_else_is_not_signalled(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path = tmp_path / "observer.pid"
        pidfile.write_pid(path, stranger.pid)
        result = pidfile.stop_server(path)
        assert result.stale_file_removed and not result.was_running
        assert stranger.poll() is None  # still running: we did not kill a stranger
    finally:
        stranger.kill()
        stranger.wait()
