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

import pytest

from observer.spool import write_event

FIXTURE = Path(__file__).parent / "fixtures" / "claude" / "b_bash" / "hooks.jsonl"
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


@pytest.mark.xfail(
    strict=True,
    reason="known bug: a kill after a batch commits and before its spool files are all deleted"
    " re-ingests the rest on restart (hundreds of duplicated rows). Fix: commit the names of a"
    " batch's spool files with it (e.g. a FileOffset row `spool:` whose context lists them) and"
    " skip those names in the first drain; not done here because observer/ingest.py has other"
    " work's uncommitted changes. Remove this mark with the fix.",
)
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
        _healthy(f"http://127.0.0.1:{port}", process, log)  # the backlog drains before /health
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
