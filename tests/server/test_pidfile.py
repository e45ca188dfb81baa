"""The pid file: written atomically, removed only by its owner, never trusted when stale. The
data dir's lock: one server (or forwarder) per data dir, gone with its holder however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from observer.server import pidfile
from tests.support.server_process import free_port, start_server, wait_for


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
    for text in ("", "abc", "-5", "0", "12 13", "\u00b2", "\u0661\u0662"):
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


def test_the_url_rides_under_the_pid(tmp_path: Path) -> None:
    path = tmp_path / "observer.pid"
    pidfile.write_pid(path, 4242, url="http://127.0.0.1:4700")
    assert pidfile.read_pid(path) == 4242
    assert pidfile.read_url(path) == "http://127.0.0.1:4700"
    pidfile.write_pid(path, 4242)
    assert pidfile.read_url(path) is None


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    held = pidfile.acquire_lock(tmp_path, "http://127.0.0.1:1")
    try:
        with pytest.raises(pidfile.AlreadyRunningError) as refused:
            pidfile.acquire_lock(tmp_path, "http://127.0.0.1:2")  # another open file: refused
        assert str(refused.value) == (
            f"observer is already running for {tmp_path} (pid {os.getpid()}, http://127.0.0.1:1)"
        )
        fd = os.open(pidfile.lock_path(tmp_path), os.O_RDONLY)
        try:
            assert os.get_inheritable(fd) is False  # launched agents never inherit it
        finally:
            os.close(fd)
    finally:
        held.release()
    pidfile.acquire_lock(tmp_path, "http://127.0.0.1:3").release()  # released: free again


def _observer(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observer", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, OBSERVER_LIVENESS_INTERVAL="0"),
    )


def _healthy(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
        return True
    except OSError:
        return False


def test_one_server_per_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pid_path = data_dir / "observer.pid"
    env = dict(os.environ, OBSERVER_LIVENESS_INTERVAL="0")
    log = (tmp_path / "server.log").open("ab")
    servers: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        servers.append(start_server(data_dir, port, env, log))
        wait_for(lambda: pidfile.read_pid(pid_path) == servers[-1].pid, "the pid file", 30)
        return servers[-1], port

    try:
        first, port = start()
        for bind in (f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}"):  # same port, or not
            second = _observer(data_dir, "start", "--bind", bind)
            assert second.returncode != 0
            assert (
                f"observer is already running for {data_dir} "
                f"(pid {first.pid}, http://127.0.0.1:{port})"
            ) in second.stderr, second.stderr
            assert "cannot listen" not in second.stderr  # the lock refused it, not the port
        assert first.poll() is None and _healthy(port)
        assert pidfile.read_pid(pid_path) == first.pid  # the refused one left it alone
        assert pidfile.read_url(pid_path) == f"http://127.0.0.1:{port}"

        stopped = _observer(data_dir, "stop")
        assert stopped.stdout == f"observer (pid {first.pid}) stopped\n", stopped.stderr
        assert first.wait(timeout=15) == 0 and not pid_path.exists()

        again, port = start()  # the first is gone: a start works again
        assert _healthy(port)
        again.send_signal(signal.SIGKILL)  # the lock dies with it; the pid file stays behind
        again.wait(timeout=15)
        assert pidfile.read_pid(pid_path) == again.pid

        third, port = start()
        assert _healthy(port)
        assert _observer(data_dir, "stop").stdout == f"observer (pid {third.pid}) stopped\n"
    finally:
        for process in servers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=15)
        log.close()


def test_a_server_and_a_forwarder_never_share_a_data_dir(tmp_path: Path) -> None:
    from tests.ops.test_forward import forward_command

    data_dir = tmp_path / "data"
    to = f"http://127.0.0.1:{free_port()}"  # nobody there: it retries, holding the lock
    forwarder = subprocess.Popen(
        forward_command(data_dir, to), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert forwarder.stdout is not None
        assert forwarder.stdout.readline().startswith(b"forwarding ")  # it has the lock
        refused = _observer(data_dir, "start", "--bind", f"127.0.0.1:{free_port()}")
        assert refused.returncode != 0
        assert (
            f"observer is already running for {data_dir} (pid {forwarder.pid}, forwarding to {to})"
        ) in refused.stderr, refused.stderr
        assert forwarder.poll() is None
        second = subprocess.run(
            forward_command(data_dir, to), capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1 and "runs a server or forwards" in second.stderr
    finally:
        forwarder.terminate()
        forwarder.communicate(timeout=30)


def test_a_pid_file_that_cannot_be_written_does_not_stop_the_server(tmp_path: Path) -> None:
    """A full disk when the server starts accepting (seen in the disk-full test under load):
    the pid file is lost, the server keeps serving and says so."""
    data_dir = tmp_path / "data"
    (data_dir / "observer.pid" / "in-the-way").mkdir(parents=True)  # os.replace onto it fails
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("ab") as log:
        server = start_server(data_dir, port, dict(os.environ), log)
    try:
        wait_for(lambda: _healthy(port), "the server", 30)
        wait_for(lambda: "cannot write" in log_path.read_text(), "the log line", 30)
        assert server.poll() is None and _healthy(port)  # still serving
    finally:
        server.terminate()
        server.wait(30)
