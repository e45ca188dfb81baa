"""A real `observer start` against a hostile spool: whatever can write the spool dir can plant
anything there, committed by a marker, while the server runs. Seen under attack: a FIFO froze
the whole server (the event loop blocked in open()), and a payload that was a symlink was
followed, its target's content shown as a session title.

Each planted file must be moved to `spool/rejected/` unread, with a one-line reason in the log,
and an event written after all of them must still be ingested, within a second."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from observer.ingest.spool import write_event
from observer.ops.forward import Forwarder
from tests.ingest.test_spool import _in_a_thread
from tests.ops.test_forward_sender import Remote
from tests.support.credentials import get_json, token_of

SECRET = "SECRET-never-to-be-read-4d1c"
PID = os.getpid()  # alive: liveness must not end the sessions


def _prompt(session: str, prompt: str) -> bytes:
    return json.dumps(
        {
            "session_id": session,
            "cwd": "/tmp",
            "hook_event_name": "UserPromptSubmit",
            "prompt": prompt,
        }
    ).encode()


@dataclass
class Server:
    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def spool(self) -> Path:
        return self.data_dir / "spool"

    def get(self, path: str) -> Any:
        return get_json(f"{self.url}{path}", self.data_dir, timeout=5)

    def session_ids(self) -> set[str]:
        return {s["id"] for s in self.get("/api/sessions")["sessions"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    port = _free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(data_dir)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    with log.open("wb") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    srv = Server(f"http://127.0.0.1:{port}", data_dir, log, process)
    try:
        deadline = time.monotonic() + 60  # a deadlock guard only
        while True:
            assert process.poll() is None, log.read_text()
            try:
                urllib.request.urlopen(f"{srv.url}/health", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered /health"
                time.sleep(0.02)
        token_of(data_dir)
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # frozen: that is a failure the test reports
            process.kill()
            process.wait()


def _plant(spool_dir: Path, outside: Path) -> dict[str, str]:
    """Every kind of hostile payload, each with a regular commit marker, and hostile markers
    with a payload the hook could have written: marker name -> the reason expected."""
    planted: dict[str, str] = {}
    secret = outside / "secret.json"  # a whole, valid event: read, it would make a session
    secret.write_bytes(_prompt("from-the-secret", SECRET))

    def payload(name: str) -> Path:
        planted[f"{name}.ready"] = ""
        return spool_dir / f".{name}.json"

    os.mkfifo(payload("ev.claude.UserPromptSubmit.1.fifo"))
    planted["ev.claude.UserPromptSubmit.1.fifo.ready"] = "a FIFO, not a regular file"
    payload("ev.claude.UserPromptSubmit.1.symlink").symlink_to(secret)
    planted["ev.claude.UserPromptSubmit.1.symlink.ready"] = "a symlink, not a regular file"
    payload("ev.claude.UserPromptSubmit.1.dir").mkdir()
    planted["ev.claude.UserPromptSubmit.1.dir.ready"] = "a directory, not a regular file"
    sparse = payload("ev.claude.UserPromptSubmit.1.sparse")
    sparse.touch()
    os.truncate(sparse, 100 * 1024 * 1024)  # over the 16 MiB cap, no disk spent
    planted["ev.claude.UserPromptSubmit.1.sparse.ready"] = "larger than 16777216 bytes"
    unreadable = payload("ev.claude.UserPromptSubmit.1.noread")
    unreadable.write_bytes(_prompt("from-the-unreadable", SECRET))
    unreadable.chmod(0o200)  # refused whoever runs the server, root included
    planted["ev.claude.UserPromptSubmit.1.noread.ready"] = "no read permission"
    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(spool_dir)  # a relative name: sun_path is short
    try:
        sock.bind(payload("ev.claude.UserPromptSubmit.1.sock").name)
    finally:
        os.chdir(cwd)
        sock.close()
    planted["ev.claude.UserPromptSubmit.1.sock.ready"] = "a socket, not a regular file"
    for name in planted:
        (spool_dir / name).write_bytes(b"")
    # Markers that are not regular files, beside a payload that is (and says the secret).
    for kind, make in (
        ("FIFO", os.mkfifo),
        ("directory", os.mkdir),
        ("symlink", lambda path: os.symlink(secret, path)),
    ):
        name = f"ev.claude.UserPromptSubmit.1.marker{kind.lower()}"
        (spool_dir / f".{name}.json").write_bytes(_prompt(f"from-{kind}", SECRET))
        make(spool_dir / f"{name}.ready")
        planted[f"{name}.ready"] = f"its commit marker is a {kind}"
    return planted


def test_hostile_spool_files_are_rejected_unread_and_the_next_event_arrives_in_a_second(
    server: Server, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write_event(server.spool, "claude", "UserPromptSubmit", PID, _prompt("before", "hello"))
    deadline = time.monotonic() + 10
    while "before" not in server.session_ids():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.01)

    planted = _plant(server.spool, outside)
    time.sleep(0.01)  # the event after them is newer: it comes after them in the queue
    written = time.monotonic()
    write_event(server.spool, "claude", "UserPromptSubmit", PID, _prompt("after", "world"))
    while "after" not in server.session_ids():
        assert server.process.poll() is None, server.log.read_text()
        assert time.monotonic() - written < 1.0, (
            f"the event after the hostile files was not ingested within 1 s\n"
            f"{server.log.read_text()}"
        )
        time.sleep(0.005)

    # Every planted file and its marker in rejected/, nothing left in the spool.
    deadline = time.monotonic() + 5
    while any(p.name != "rejected" for p in server.spool.iterdir()):
        assert time.monotonic() < deadline, sorted(p.name for p in server.spool.iterdir())
        time.sleep(0.01)
    aside = {p.name for p in (server.spool / "rejected").iterdir()}
    for marker in planted:
        assert f"{marker[: -len('.ready')]}.json" in aside, marker
    for marker in [m for m in planted if "marker" in m]:
        assert marker in aside  # not a regular file: moved aside, not unlinked
    assert server.get("/api/stats")["spool_rejected"] == len(planted)

    # One line each, with its reason.
    log_lines = server.log.read_text().splitlines()
    for marker, reason in planted.items():
        payload = f".{marker[: -len('.ready')]}.json"
        lines = [line for line in log_lines if f"rejected spool file {payload}: " in line]
        assert len(lines) == 1 and reason in lines[0], (marker, lines)

    # The secret was never read: not a session, not a title, not in the database.
    sessions = server.get("/api/sessions")["sessions"]
    assert {s["id"] for s in sessions} == {"before", "after"}
    assert SECRET not in json.dumps(sessions)
    assert server.get("/health")["status"] == "ok"
    server.process.terminate()
    server.process.wait(timeout=10)
    for path in server.data_dir.glob("observer.db*"):
        assert SECRET.encode() not in path.read_bytes(), path
    conn = sqlite3.connect(server.data_dir / "observer.db")
    try:
        dumped = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert SECRET not in dumped
    assert (outside / "secret.json").read_bytes() == _prompt("from-the-secret", SECRET)


def test_the_forwarder_sends_none_of_them_and_the_event_after_them(tmp_path: Path) -> None:
    """observer forward reads the spool too: the same files go aside unread, the next event
    goes to the remote, and a FIFO does not hold up the sender."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = _plant(spool_dir, outside)
    time.sleep(0.01)
    after = write_event(spool_dir, "claude", "UserPromptSubmit", PID, _prompt("after", "world"))
    remote = Remote()
    try:
        forwarder = Forwarder(spool_dir, remote.url, "tok", host="laptop")
        sent = _in_a_thread(forwarder.drain)  # a blocked open() fails here, not hangs
    finally:
        remote.server.shutdown()
        remote.server.server_close()
    assert sent == 1
    names = [e["name"] for r in remote.requests for e in r["entries"]]
    assert names == [after.name]
    assert SECRET not in json.dumps(remote.requests)
    assert forwarder.stats.rejected == len(planted)
    assert sorted(p.name for p in spool_dir.iterdir()) == ["rejected"]
