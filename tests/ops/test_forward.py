"""Issue 8's acceptance, as a user runs it: `observer forward` (a real process) sends a 5,000-event
burst from its own spool through a TCP proxy to a second, real `observer start`, while the test
cuts the link twice: once by swallowing the answers (the receiver commits, the sender never
hears it, so it sends the same batch again), once by refusing connections. Then every event is
there exactly once, in each session's order, under the sender's host name, and the sender's
spool is empty."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from observer.ingest import spool
from tests.support.server_process import free_port, start_server, wait_for

SESSIONS = 20
EVENTS = 5000
TOKEN = "forward-test-token"
HOST = "laptop-1"


class Proxy:
    """A TCP proxy the test can cut: `pass`, `blackhole` (requests go through, answers are
    dropped and the connection closed) or down (the port refuses connections)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.mode = "pass"
        self.dropped = 0  # answers swallowed in blackhole mode
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._conns = set(self._conns), set()
        for conn in conns:
            _close(conn)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if answers and self.mode == "blackhole":
                    with self._lock:
                        self.dropped += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def write_spool_event(spool_dir: Path, index: int, base_ns: int) -> None:
    """Event `index` of the burst: session index % SESSIONS, its own turn number index //
    SESSIONS, prompts and stops alternating. The hook's exact protocol (payload, then commit
    marker), with an mtime set in between so the spool order is the order written."""
    session, number = index % SESSIONS, index // SESSIONS
    event = "UserPromptSubmit" if number % 2 == 0 else "Stop"
    body: dict[str, Any] = {
        "hook_event_name": event,
        "session_id": f"00000000-0000-4000-8000-{session:012d}",
        "cwd": f"/work/project-{session}",
    }
    body["prompt" if number % 2 == 0 else "last_assistant_message"] = f"#{number}"
    name = f"ev.claude.{event}.{3_000_000 + session}.t{index}"
    data = spool_dir / f".{name}.json"
    data.write_bytes(json.dumps(body).encode())
    mtime = base_ns + index * 1000
    os.utime(data, ns=(mtime, mtime))
    (spool_dir / f"{name}{spool.READY}").touch()


@pytest.fixture
def receiver(tmp_path: Path, isolated_home: Path) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path / "receiver"
    port = free_port()
    env = dict(os.environ, OBSERVER_TOKEN=TOKEN, OBSERVER_LIVENESS_INTERVAL="0.5")
    log = tmp_path / "receiver.log"
    with log.open("wb") as stderr:
        process = start_server(data_dir, port, env, stderr)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the receiver died: {log.read_text()}")
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(healthy, "the receiver to answer", timeout=30)
    yield url, data_dir
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def forward_command(data_dir: Path, url: str) -> list[str]:
    token_file = data_dir.parent / f"{data_dir.name}.forward-token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    return [
        sys.executable,
        "-m",
        "observer",
        "forward",
        "--to",
        url,
        "--token-file",
        str(token_file),
        "--host-name",
        HOST,
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
    ]


def event_rows(db: Path) -> list[tuple[str, dict[str, Any]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("select session_id, event from events order by seq").fetchall()
    finally:
        conn.close()
    return [(r[0], json.loads(r[1])) for r in rows]


def test_forward_refuses_while_a_server_drains_the_same_spool(
    receiver: tuple[str, Path],
) -> None:
    url, data_dir = receiver
    done = subprocess.run(
        forward_command(data_dir, url), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "runs a server or forwards" in done.stderr


def test_a_5000_event_burst_survives_two_cuts_exactly_once_in_order(
    tmp_path: Path, receiver: tuple[str, Path]
) -> None:
    url, receiver_dir = receiver
    proxy = Proxy(int(url.rsplit(":", 1)[1]))
    sender_dir = tmp_path / "sender"
    spool_dir = sender_dir / "spool"
    spool_dir.mkdir(parents=True)
    (spool_dir / ".ev.claude.Stop.1.garbage.json").write_bytes(b"\xff not a payload")
    (spool_dir / f"ev.claude.Stop.1.garbage{spool.READY}").touch()
    log = tmp_path / "forward.log"
    started = time.monotonic()
    with log.open("wb") as stderr:
        forwarder = subprocess.Popen(
            forward_command(sender_dir, f"http://127.0.0.1:{proxy.port}"),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    base_ns = time.time_ns()
    written = 0

    def write(count: int) -> None:
        nonlocal written
        for index in range(written, written + count):
            write_spool_event(spool_dir, index, base_ns)
        written += count

    def rows() -> int:
        return len(event_rows(receiver_dir / "observer.db"))

    try:
        write(1500)
        # Cut 1: the receiver commits, the answers never come back; the sender must resend.
        proxy.mode = "blackhole"
        write(1000)
        try:
            # A deadlock guard, not a measurement: one request unanswered (the sender's
            # 30 s timeout) on a loaded CI box once made 60 s too short.
            wait_for(lambda: proxy.dropped >= 2, "a batch to be sent again without an answer", 150)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; answers dropped {proxy.dropped}; rows {rows()};"
                f" the forwarder said: {log.read_text()[-3000:]}"
            ) from None
        proxy.mode = "pass"
        write(1000)
        # Cut 2: the port refuses connections while events keep coming.
        proxy.down()
        write(1000)
        time.sleep(1.0)  # a few refused attempts, with backoff
        proxy.up()
        write(EVENTS - written)
        wait_for(lambda: rows() >= EVENTS, f"{EVENTS} events at the receiver", 90)
        wait_for(lambda: not spool.list_ready(spool_dir)[0], "the sender's spool to empty", 30)
    finally:
        forwarder.send_signal(signal.SIGTERM)
        out, _ = forwarder.communicate(timeout=30)
        proxy.down()
    elapsed = time.monotonic() - started
    assert forwarder.returncode == 0, log.read_text()

    found = event_rows(receiver_dir / "observer.db")
    by_session: dict[str, list[str]] = defaultdict(list)
    for session_id, event in found:
        assert event["host"] == HOST
        by_session[session_id].append(event["detail"])
    per_session = EVENTS // SESSIONS
    expected = [f"#{n}" for n in range(per_session)]
    lost = sum(len(set(expected) - set(details)) for details in by_session.values())
    duplicated = len(found) - sum(len(set(details)) for details in by_session.values())
    assert (len(by_session), lost, duplicated) == (SESSIONS, 0, 0)
    assert all(details == expected for details in by_session.values()), "order"

    request = urllib.request.Request(
        f"{url}/api/sessions", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        sessions = json.loads(response.read())["sessions"]
    assert len(sessions) == SESSIONS
    assert {s["host"] for s in sessions} == {HOST}
    assert {s["status"] for s in sessions} == {"waiting"}  # remote pids never end them here

    assert not spool.list_ready(spool_dir)[0]
    assert (spool_dir / "rejected" / "ev.claude.Stop.1.garbage.json").exists()
    summary = out.decode()
    assert "rejected 1" in summary
    duplicates = int(summary.split("(")[1].split()[0])
    assert duplicates > 0, summary  # the answers swallowed in cut 1 were resent, applied once
    print(
        f"\n{EVENTS} events, {SESSIONS} sessions: lost {lost}, duplicated {duplicated},"
        f" order kept; {duplicates} resent and recognised; {elapsed:.1f} s; {summary.strip()}"
    )
