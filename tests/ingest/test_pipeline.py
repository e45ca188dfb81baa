"""The whole pipeline, as a user runs it: real recorded Claude Code payloads go through the real
hook script (run the way Claude runs it: `sh -c`, payload on stdin, CLAUDE_PID set) into the
spool, a real `observer start` process (Hypercorn) ingests them, and a WebSocket client sees
the status sequence. Registry snapshots of the same recording are written where Claude writes
them (~/.claude/sessions/<pid>.json), since Esc and exits show nowhere else.

The expected sequences are the golden files tests/fixtures/claude/<scenario>/expected.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from observer.install.hooks import SYNC_EVENTS
from tests.support.credentials import bearer_headers, get_json
from tests.support.paths import FIXTURES, SUPPORT
from tests.support.server_process import free_port, start_server, wait_for
from tests.support.timeline import collapse

FIXTURES = FIXTURES / "claude"
SCENARIOS = [
    "a_text",  # plain answer
    "b_bash",  # Bash tool
    "c_perm_stdio_allow",  # permission request, allowed
    "c_perm_stdio_deny",  # permission request, denied
    "j_question",  # AskUserQuestion
    "d_subagent",  # subagent
    "e_resume",  # resume (same id) and fork (new id)
    "h_multiturn",  # multi-turn
    "r_apierror",  # API failure
    "f_interrupt",  # interrupt: no hook fires, the registry goes idle
]


FAKE_CLAUDE = SUPPORT / "fake_claude.py"


@dataclass
class Server:
    url: str
    data_dir: Path
    home: Path
    process: subprocess.Popen[bytes]
    sleepers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    hook_commands: dict[str, str] = field(default_factory=dict)

    @property
    def spool(self) -> Path:
        return self.data_dir / "spool"

    @property
    def registry(self) -> Path:
        return self.home / ".claude" / "sessions"

    def stats(self) -> dict[str, int]:
        body: dict[str, int] = get_json(f"{self.url}/api/stats", self.data_dir, timeout=5)
        return body

    def live_pid_for(self, recorded_pid: int) -> int:
        """A real process standing in for a recorded agent process (so liveness holds)."""
        if recorded_pid not in self.sleepers:
            self.sleepers[recorded_pid] = subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(600)"]
            )
        return self.sleepers[recorded_pid].pid


@pytest.fixture
def server(tmp_path: Path, isolated_home: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    (isolated_home / ".claude" / "sessions").mkdir(parents=True)
    port = free_port()
    stderr_log = tmp_path / "server-stderr.log"
    fake_claude = tmp_path / "bin" / "claude"  # for sessions the server launches itself
    fake_claude.parent.mkdir()
    fake_claude.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLAUDE}" "$@"\n')
    fake_claude.chmod(0o755)
    env = dict(os.environ, OBSERVER_LIVENESS_INTERVAL="0.5", OBSERVER_CLAUDE_BIN=str(fake_claude))
    with stderr_log.open("wb") as stderr_file:
        process = start_server(data_dir, port, env, stderr_file)
    srv = Server(f"http://127.0.0.1:{port}", data_dir, isolated_home, process)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server died: {stderr_log.read_text()}")
        try:
            urllib.request.urlopen(f"{srv.url}/health", timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_for(healthy, "the server to answer /health", timeout=20)
        srv.hook_commands = install_hooks(data_dir, isolated_home)
        yield srv
    finally:
        srv.process.terminate()
        srv.process.wait(timeout=10)
        for sleeper in srv.sleepers.values():
            sleeper.kill()
            sleeper.wait()


def install_hooks(data_dir: Path, home: Path) -> dict[str, str]:
    """`observer install-hooks` into the tmp home; returns event -> the command it wrote."""
    subprocess.run(
        [sys.executable, "-m", "observer", "install-hooks", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        env=dict(os.environ, HOME=str(home)),
        timeout=30,
    )
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    commands = {}
    for event, groups in settings["hooks"].items():
        (group,) = groups
        observe, *decide = group["hooks"]
        # Async, except the few whose order matters (see install_hooks.SYNC_EVENTS).
        assert observe.get("async") is (None if event in SYNC_EVENTS else True)
        commands[event] = observe["command"]
        # PermissionRequest also has the hook that can decide (away mode); Stop the one that
        # waits for a reply (away mode), each tool boundary the check for a stop (issue 21).
        modes = {"PermissionRequest": "", "Stop": " reply", "PreToolUse": " stop"}
        modes["PostToolUse"] = " stop"
        if decide:
            (decider,) = decide
            assert event in modes and "observer-decide" in decider["command"], event
            assert decider["command"].endswith(f"{modes[event]} 2>/dev/null; exit 0")
            assert "async" not in decider  # the agent waits for what it says
            if event == "PermissionRequest":
                commands["decide"] = decider["command"]
        else:
            assert event not in modes, event
    return commands


def run_hook(
    srv: Server, payload: dict[str, Any], agent_pid: int
) -> subprocess.CompletedProcess[bytes]:
    """Run the hook command `observer install-hooks` put in settings.json for this event,
    exactly as Claude Code runs it: `sh -c`, payload on stdin, CLAUDE_PID set."""
    return subprocess.run(
        ["sh", "-c", srv.hook_commands[payload["hook_event_name"]]],
        input=json.dumps(payload).encode(),
        env={"PATH": os.environ["PATH"], "HOME": str(srv.home), "CLAUDE_PID": str(agent_pid)},
        capture_output=True,
        timeout=10,
    )


def write_registry(srv: Server, row: dict[str, Any]) -> None:
    live_pid = srv.live_pid_for(int(str(row["file"]).split(".")[0]))
    target = srv.registry / f"{live_pid}.json"
    if row["registry"] is None:
        target.unlink(missing_ok=True)
        return
    record = dict(row["registry"], pid=live_pid, statusUpdatedAt=int(time.time() * 1000))
    tmp = srv.registry / f".{live_pid}.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, target)


def feed(srv: Server, scenario: str) -> None:
    """Play a recording row by row, each row ingested before the next (so order is exact)."""
    text = (FIXTURES / scenario / "timeline.jsonl").read_text()
    for row in (json.loads(line) for line in text.splitlines()):
        if "hook" in row:
            before = srv.stats()["spool_ingested"]
            result = run_hook(srv, row["hook"], srv.live_pid_for(row["pid"]))
            assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""
            wait_for(lambda b=before: srv.stats()["spool_ingested"] > b, "the spool file's ingest")
        else:
            before = srv.stats()["registry_reads"]
            write_registry(srv, row)
            wait_for(lambda b=before: srv.stats()["registry_reads"] > b, "the registry change")


def collect(
    ws: ClientConnection, session_ids: set[str], timeout: float = 10.0
) -> dict[str, list[str]]:
    """Statuses per session until every expected session has ended."""
    seen: dict[str, list[str]] = {}
    ended: set[str] = set()
    deadline = time.monotonic() + timeout
    while ended != session_ids:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if "status" not in message:
            continue
        seen.setdefault(message["session_id"], []).append(message["status"])
        if message["type"] == "session_ended":
            ended.add(message["session_id"])
    return seen


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_recorded_session_through_hook_spool_server_websocket(
    server: Server, scenario: str
) -> None:
    expected: dict[str, list[str]] = json.loads((FIXTURES / scenario / "expected.json").read_text())
    ws_url = server.url.replace("http", "ws") + "/ws"
    with connect(ws_url, additional_headers=bearer_headers(server.data_dir)) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        ws.send(json.dumps({"type": "subscribe_list"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "sessions_list", "sessions": []}
        feed(server, scenario)
        seen = collect(ws, set(expected))
    assert {sid: collapse(statuses) for sid, statuses in seen.items()} == expected
    assert list(server.spool.glob("*ev.*")) == [], "every spool file is consumed"
    assert not any((server.spool / "rejected").iterdir())


def test_hooks_fire_while_the_server_is_down_and_nothing_is_lost(
    server: Server, tmp_path: Path
) -> None:
    """Stop the server, run a whole session's hooks, start it again: all of it arrives."""
    server.process.terminate()
    server.process.wait(timeout=10)
    payloads = [
        json.loads(line)
        for line in (FIXTURES / "c_perm_stdio_allow" / "hooks.jsonl").read_text().splitlines()
    ]
    pid = server.live_pid_for(1)
    for payload in payloads:
        started = time.perf_counter()
        result = run_hook(server, payload, pid)
        assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""
        assert time.perf_counter() - started < 2.0  # generous: this is not a benchmark
    assert len(list(server.spool.glob("ev.*.ready"))) == len(payloads)
    (server.spool / ".ev.claude.Stop.1.corrupt.json").write_bytes(b'{"cut off')
    (server.spool / "ev.claude.Stop.1.corrupt.ready").write_bytes(b"")

    port = server.url.rsplit(":", 1)[1]
    restarted = start_server(server.data_dir, int(port), None, subprocess.DEVNULL)
    server.process = restarted

    def answers() -> bool:
        try:
            return bool(get_json(f"{server.url}/api/sessions", server.data_dir, 1)["sessions"])
        except OSError:
            return False

    wait_for(answers, "the restarted server to list the drained session", timeout=20)
    (session,) = get_json(f"{server.url}/api/sessions", server.data_dir, 5)["sessions"]
    assert session["status"] == "ended"
    assert session["title"] == payloads[1]["prompt"]
    assert list(server.spool.glob("*ev.*")) == []
    assert [p.name for p in (server.spool / "rejected").iterdir()] == [
        "ev.claude.Stop.1.corrupt.json"
    ]


def test_status_lists_the_session_waiting_for_approval_first(server: Server) -> None:
    """`observer status`, against the running server, while one session awaits approval."""
    text = (FIXTURES / "a_text" / "hooks.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    for payload in rows[:2]:  # SessionStart, UserPromptSubmit: working
        run_hook(server, payload, server.live_pid_for(1))
    perm = (FIXTURES / "c_perm_stdio_allow" / "hooks.jsonl").read_text().splitlines()
    for payload in (json.loads(line) for line in perm[:5]):  # ... PermissionRequest
        run_hook(server, payload, server.live_pid_for(2))

    def both() -> bool:
        return server.stats()["sessions"] == 2 and not list(server.spool.glob("*.ready"))

    wait_for(both, "both sessions")
    env = dict(os.environ, OBSERVER_BIND=server.url.removeprefix("http://"))
    status = subprocess.run(
        [sys.executable, "-m", "observer", "status", "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = status.stdout.splitlines()
    assert lines[0].startswith(f"server: running at {server.url}")
    assert lines[2].split()[:3] == ["permission", "claude", "c_perm_stdio_allow"]
    assert "approve Bash: touch perm_test.txt && echo created" in lines[2]
    assert lines[3].split()[:3] == ["working", "claude", "a_text"]
    as_json = subprocess.run(
        [sys.executable, "-m", "observer", "status", "--json", "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body = json.loads(as_json.stdout)
    assert body["source"] == "server"
    assert [s["status"] for s in body["sessions"]] == ["permission", "working"]


def test_pid_file_names_the_bound_server_and_stop_ends_it_cleanly(server: Server) -> None:
    from observer.server.pidfile import read_pid, stop_server

    pid_path = server.data_dir / "observer.pid"
    wait_for(pid_path.exists, "the pid file")
    assert read_pid(pid_path) == server.process.pid
    result = stop_server(pid_path)
    assert result.was_running and result.pid == server.process.pid
    assert server.process.wait(timeout=10) == 0  # SIGTERM is a clean exit, not a crash
    assert not pid_path.exists()


def test_launch_from_the_cli_then_status_shows_it(server: Server, tmp_path: Path) -> None:
    project = tmp_path / "launched"
    project.mkdir()
    env = dict(os.environ)
    base = [sys.executable, "-m", "observer"]
    data = ["--data-dir", str(server.data_dir)]
    port = server.url.rsplit(":", 1)[1]
    env["OBSERVER_BIND"] = f"127.0.0.1:{port}"
    done = subprocess.run(
        [*base, "launch", "claude", "hello from the cli", "--cwd", str(project), *data],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    session_id = done.stdout.strip()

    def answered() -> bool:
        status = subprocess.run(
            [*base, "status", "--json", *data], env=env, capture_output=True, text=True
        )
        sessions = {s["id"]: s for s in json.loads(status.stdout)["sessions"]}
        found = sessions.get(session_id, {})
        return found.get("last_message") == "echo: hello from the cli"

    wait_for(answered, "the launched session to answer", timeout=30)
    missing = subprocess.run(
        [*base, "launch", "claude", "--cwd", str(tmp_path / "nowhere"), *data],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert "the server refused: cwd must be an existing absolute directory" in missing.stderr
