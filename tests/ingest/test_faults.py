"""Faults a real `observer start` must survive: `kill -9` in the middle of draining a large
spool backlog, then a restart — every event stored exactly once, the spool empty.

No timings are asserted: the kill happens once the spool is seen part-drained."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from observer.ingest.spool import write_event
from tests.support.credentials import get_json, token_of
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "claude" / "b_bash" / "hooks.jsonl"
SESSIONS = 20
EVENTS = 6000


def _templates() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    out = {row["hook_event_name"]: row for row in rows}
    for row in out.values():
        row.pop("transcript_path", None)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(data_dir)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    with log.open("ab") as err:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)


def _ready_markers(spool_dir: Path) -> int:
    try:
        return sum(1 for e in os.scandir(spool_dir) if e.name.endswith(".ready"))
    except FileNotFoundError:
        return 0


def _healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # a deadlock guard only, not a measurement
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the server never answered /health")


def test_kill_9_while_draining_a_backlog_then_restart_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    spool_dir = data_dir / "spool"
    templates = _templates()
    pid = os.getpid()  # alive: liveness must not end the sessions
    for i in range(SESSIONS):
        payload = dict(templates["UserPromptSubmit"], session_id=f"s{i}", prompt="go")
        write_event(spool_dir, "claude", "UserPromptSubmit", pid, json.dumps(payload).encode())
    display = templates["MessageDisplay"]
    for n in range(EVENTS):
        sid = f"s{n % SESSIONS}"
        payload = dict(display, session_id=sid, delta=f"m {n}", message_id=f"{n}")
        write_event(spool_dir, "claude", "MessageDisplay", pid, json.dumps(payload).encode())
    written = SESSIONS + EVENTS
    assert _ready_markers(spool_dir) == written

    log = tmp_path / "server.log"
    port = _free_port()
    process = _start(data_dir, port, log)
    try:
        # Kill as soon as part of the backlog is committed and gone, the rest still waiting.
        while _ready_markers(spool_dir) == written:
            assert process.poll() is None, log.read_text()
            time.sleep(0.001)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    left = _ready_markers(spool_dir)
    assert 0 < left < written, "killed mid-drain"

    process = _start(data_dir, port, log)
    try:
        _healthy(f"http://127.0.0.1:{port}", process, log)  # at once: the backlog drains after
        deadline = time.monotonic() + 120  # a deadlock guard only, not a measurement
        while _ready_markers(spool_dir) and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(30)

    assert _ready_markers(spool_dir) == 0
    assert not any(p.name.startswith(".ev.") for p in spool_dir.iterdir())
    # Killed between deleting a payload and its marker: the marker alone is set aside (by
    # design, see spool.consume); no payload may be among the rejected.
    rejected = spool_dir / "rejected"
    aside = list(rejected.iterdir()) if rejected.exists() else []
    assert all(p.name.endswith(".ready") and p.stat().st_size == 0 for p in aside), aside
    conn = sqlite3.connect(data_dir / "observer.db")
    try:
        rows = conn.execute("select kind, wire, changes from events").fetchall()
    finally:
        conn.close()
    created = sum(1 for _, wire, _ in rows if wire == "UserPromptSubmit")
    messages = Counter(
        json.loads(changes).get("last_message")
        for _, wire, changes in rows
        if wire == "MessageDisplay"
    )
    assert created == SESSIONS
    assert len(messages) == EVENTS, f"lost: {EVENTS - len(messages)}"
    repeated = {m: c for m, c in messages.items() if c != 1}
    assert repeated == {}, f"duplicated: {len(repeated)}"
    assert set(messages) == {f"m {n}" for n in range(EVENTS)}


# -- WebSocket abuse ----------------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _handshake(port: int, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frame(payload: bytes, first: int = 0x81, masked: bool = True) -> bytes:
    """One client frame: `first` is FIN/RSV/opcode (0x81 = a final text frame)."""
    mask = b"\x11\x22\x33\x44"
    size = len(payload)
    bit = 0x80 if masked else 0
    if size < 126:
        head = bytes([first, bit | size])
    elif size < 1 << 16:
        head = bytes([first, bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _closed(sock: socket.socket) -> bool:
    """Read until the server closes the connection (True) or stops sending (False)."""
    sock.settimeout(10)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    finally:
        sock.close()
    return True


class _Watcher:
    """A well-behaved client that must be served throughout."""

    def __init__(self, port: int, token: str) -> None:
        from websockets.sync.client import connect

        self._connection = connect(
            f"ws://127.0.0.1:{port}/ws",
            additional_headers={"Authorization": f"Bearer {token}"},
            max_size=None,
        )
        self.ws = self._connection.__enter__()
        assert json.loads(self.ws.recv(timeout=10))["type"] == "hello"

    def ask(self, message: object) -> dict[str, Any]:
        self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
        reply: dict[str, Any] = json.loads(self.ws.recv(timeout=10))
        return reply

    def close(self) -> None:
        self._connection.__exit__(None, None, None)

    def served(self) -> None:
        assert self.ask({"type": "ping"}) == {"type": "pong"}
        assert self.ask({"type": "subscribe_list"})["type"] == "sessions_list"


def test_websocket_abuse_never_stops_the_server_serving_another_client(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    port = _free_port()
    data_dir = tmp_path / "data"
    process = _start(data_dir, port, log)
    try:
        _healthy(f"http://127.0.0.1:{port}", process, log)
        token = token_of(data_dir)
        watcher = _Watcher(port, token)
        watcher.served()

        # Malformed and unknown messages: an error reply each, on the same connection.
        bad = _Watcher(port, token)
        replies = {
            "not json": bad.ask("{not json"),
            "not utf-8": bad.ask(b"\xff\xfe\x00"),
            "a list": bad.ask("[]"),
            "null": bad.ask("null"),
            "a number type": bad.ask({"type": 5}),
            "a list type": bad.ask({"type": []}),  # unhashable: once a TypeError and a close
            "an object type": bad.ask({"type": {"type": "ping"}}),
            "an empty binary frame": bad.ask(b""),  # Quart hands it over as None
            "unknown type": bad.ask({"type": "no_such_thing"}),
            "no session id": bad.ask({"type": "subscribe_session"}),
            "a bool revision": bad.ask(
                {"type": "subscribe_session", "session_id": "s", "since_revision": True}
            ),
            "too deep": bad.ask("[" * 60_000),
            "over 64 KB": bad.ask(json.dumps({"type": "ping", "pad": "x" * 70_000})),
        }
        assert {k: v["type"] for k, v in replies.items()} == {k: "error" for k in replies}
        assert replies["unknown type"]["code"] == "unknown_type"
        assert replies["over 64 KB"]["code"] == "too_large"
        bad.served()
        bad.close()
        watcher.served()

        # Frames that break the protocol: the server closes that connection, and only that one.
        violations = {
            "unmasked": _frame(b'{"type":"ping"}', masked=False),
            "reserved opcode": _frame(b"x", first=0x83),
            "reserved bits": _frame(b'{"type":"ping"}', first=0xC1),
            "invalid UTF-8 text": _frame(b"\xff\xfe"),
            "a fragmented control frame": _frame(b"", first=0x09),
        }
        for name, data in violations.items():
            sock = _handshake(port, token)
            try:
                sock.sendall(data)
            except OSError:
                pass  # closed while we were still sending: what we wanted
            assert _closed(sock), name
            watcher.served()

        # Half a frame (it announces 1 TB), then silence: that connection waits for the rest,
        # the others are served meanwhile, and it is freed when the client goes.
        hanging = _handshake(port, token)
        hanging.sendall(bytes([0x81, 0xFF]) + (1 << 40).to_bytes(8, "big") + b"\x00" * 4)
        watcher.served()
        hanging.close()

        # A 17 MB message (over Hypercorn's 16 MB frame limit): refused, by a close (1009) or
        # by our own `too_large` reply; the server lives on.
        from websockets.exceptions import ConnectionClosed

        huge = _Watcher(port, token)
        try:
            reply = huge.ask(json.dumps({"type": "ping", "pad": "x" * (17 * 1024 * 1024)}))
            assert reply["code"] == "too_large", reply
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1009, exc
        huge.close()
        watcher.served()

        # 1,000 connects and disconnects, half of them without a close frame.
        for _ in range(50):  # warm up the allocator before the baseline
            _handshake(port, token).close()
        watcher.served()
        baseline = _rss_kb(process.pid)
        for n in range(1000):
            sock = _handshake(port, token)
            if n % 2:
                sock.sendall(_frame(b"\x03\xe8", first=0x88))  # close, 1000
            sock.close()
            if n % 100 == 0:
                watcher.served()
        watcher.served()
        growth_mb = (_rss_kb(process.pid) - baseline) / 1024
        assert growth_mb < 20, f"RSS grew {growth_mb:.1f} MB over 1,000 connections"
        stats = get_json(f"http://127.0.0.1:{port}/api/stats", data_dir)
        assert stats["subscribers"] <= 2, stats  # the watcher (and none of the 1,000) remains
        assert process.poll() is None, log.read_text()
        watcher.close()
    finally:
        process.terminate()
        process.wait(30)


# -- kill -9 while hooks keep writing --------------------------------------------------------


def test_kill_9_every_moment_while_hooks_write_loses_nothing_and_keeps_order(
    tmp_path: Path,
) -> None:
    """The soak of scripts/bench/kill_soak.py, small: prompt/stop pairs through the real hook
    while the server is SIGKILLed and restarted; every event once, in order, and every
    session `waiting` at the end."""
    from scripts.bench.kill_soak import soak

    result = soak(tmp_path, sessions=4, pairs=40, kill_every=0.7, min_kills=3, pause=0.01)
    assert result.kills >= 3
    assert (result.lost, result.duplicated, result.rejected) == (0, 0, 0), result
    assert result.out_of_order == [] and result.wrong_final == {}, result


CAP_FILES = (1024, 1100)  # the usual soft limit; a hard one just above it
IDLE_CLIENTS = 1500


def _limited_files() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, CAP_FILES)


async def _open_idle(port: int, token: str, count: int) -> tuple[list[Any], list[int]]:
    """Open `count` WebSockets, at most 64 handshakes at once: (the open ones, each refusal's
    HTTP status)."""
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    gate = asyncio.Semaphore(64)
    held: list[Any] = []
    refused: list[int] = []

    async def one() -> None:
        async with gate:
            try:
                ws = await connect(
                    f"ws://127.0.0.1:{port}/ws",
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=30,
                    ping_interval=None,
                )
            except InvalidStatus as exc:
                refused.append(exc.response.status_code)
                return
            assert json.loads(await ws.recv())["type"] == "hello"
            held.append(ws)

    await asyncio.gather(*(one() for _ in range(count)))
    return held, refused


def test_idle_websockets_beyond_the_fd_limit_starve_nothing(tmp_path: Path) -> None:
    """1,500 idle WebSockets against a server started with 1,024 open files (hard 1,100): it
    serves max_clients (500) of them and refuses the rest with 503; meanwhile /health, the API
    and the spool drain are served, and the log stays small."""
    import asyncio
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE_CLIENTS + 200:
        import pytest

        pytest.skip(f"this test needs {IDLE_CLIENTS + 200} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # our own side of 1,500 sockets
    log = tmp_path / "server.log"
    port = _free_port()
    data_dir = tmp_path / "data"
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(data_dir)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    with log.open("ab") as err:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_limited_files
        )
    url = f"http://127.0.0.1:{port}"

    async def scenario() -> None:
        token = token_of(data_dir)
        held, refused = await _open_idle(port, token, IDLE_CLIENTS)
        try:
            assert len(held) == 500, (len(held), Counter(refused))
            assert Counter(refused) == {503: IDLE_CLIENTS - 500}
            # Others are served: /health, the API, and a fresh WebSocket gets the refusal.
            health = await asyncio.to_thread(get_json, f"{url}/health", data_dir)
            assert health["status"] == "ok", health
            await asyncio.to_thread(get_json, f"{url}/api/sessions", data_dir)
            more, fresh = await _open_idle(port, token, 1)
            assert (more, fresh) == ([], [503])
            # Ingest keeps draining.
            row = _templates()["SessionStart"]
            row["session_id"] = "fd-limit-session"
            write_event(data_dir / "spool", "claude", "SessionStart", 1, json.dumps(row).encode())
            row = _templates()["UserPromptSubmit"]
            row["session_id"] = "fd-limit-session"
            write_event(
                data_dir / "spool", "claude", "UserPromptSubmit", 1, json.dumps(row).encode()
            )
            deadline = time.monotonic() + 30  # a deadlock guard, not a measurement
            while True:
                sessions = await asyncio.to_thread(get_json, f"{url}/api/sessions", data_dir)
                if any(s["id"] == "fd-limit-session" for s in sessions["sessions"]):
                    break
                assert time.monotonic() < deadline, "the spool event was never ingested"
                await asyncio.sleep(0.05)
        finally:
            await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
        # Room again once they left.
        again, none = await _open_idle(port, token, 1)
        assert len(again) == 1 and none == []
        await again[0].close()

    try:
        _healthy(url, process, log)
        asyncio.run(scenario())
        assert process.poll() is None, log.read_text()[-5000:]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert process.returncode == 0, log.read_text()[-5000:]
    server_log = data_dir / "logs" / "server.log"
    written = log.stat().st_size + server_log.stat().st_size
    assert written < 1024 * 1024, (written, log.read_text()[-3000:])
