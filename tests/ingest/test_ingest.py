"""Ingest paths of a running server: backlog drain, rejects, Claude's registry, liveness."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from quart.testing.connections import TestWebsocketConnection as WsConnection

from observer.ingest import claude as claude_ingest
from observer.ingest.spool import write_event
from observer.server.app import create_app
from observer.settings import Settings, load_settings
from tests.support.live import receive, spool_scenario, stats_when, subscribed
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "claude"


async def test_backlog_written_while_down_is_drained_in_order(settings: Settings) -> None:
    spool_scenario(settings, "c_perm_stdio_deny")
    spool_scenario(settings, "j_question")
    corrupt = write_event(settings.spool_dir, "claude", "Stop", 1, b'{"truncated": ')
    (settings.spool_dir / "stray.txt").write_bytes(b"?")
    app = create_app(settings)
    async with app.test_app() as test_app:
        async with test_app.test_client().websocket("/ws") as ws:
            sessions = await subscribed(ws)
    assert sorted(s["status"] for s in sessions) == ["ended", "ended"]
    assert {s["project"] for s in sessions} == {"c_perm_stdio_deny", "j_question"}
    assert all(s["revision"] > 5 for s in sessions)
    leftover = sorted(p.name for p in settings.spool_dir.iterdir() if p.is_file())
    assert leftover == []
    rejected = sorted(p.name for p in (settings.spool_dir / "rejected").iterdir())
    assert rejected == [corrupt.name.replace(".ready", ".json"), "stray.txt"]
    assert (settings.spool_dir / "rejected" / rejected[0]).read_bytes() == b'{"truncated": '


async def test_unknown_agent_is_rejected_not_blocking(settings: Settings) -> None:
    write_event(settings.spool_dir, "nosuch", "Stop", 1, b"{}")
    spool_scenario(settings, "a_text")
    app = create_app(settings)
    async with app.test_app() as test_app:
        async with test_app.test_client().websocket("/ws") as ws:
            sessions = await subscribed(ws)
    assert [s["status"] for s in sessions] == ["ended"]
    assert len(list((settings.spool_dir / "rejected").iterdir())) == 1


def _write_registry(directory: Path, pid: int, record: dict[str, Any]) -> None:
    record = dict(record, pid=pid, statusUpdatedAt=int(time.time() * 1000))
    tmp = directory / f".{pid}.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, directory / f"{pid}.json")


async def _next_status(ws: WsConnection) -> str:
    while True:
        message = await receive(ws)
        if "status" in message:
            return str(message["status"])


async def test_claude_registry_shows_esc_and_exit(isolated_home: Path) -> None:
    """Esc fires no hook: the registry turning idle is what ends 'working'."""
    registry = isolated_home / ".claude" / "sessions"
    registry.mkdir(parents=True)
    settings = load_settings(liveness_interval=0)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        app = create_app(settings)
        async with app.test_app() as test_app:
            async with test_app.test_client().websocket("/ws") as ws:
                await subscribed(ws)
                # SessionStart .. PreToolUse: a Bash command running
                spool_scenario(settings, "f_interrupt", 4, pid=sleeper.pid)
                assert await _next_status(ws) == "working"
                while (await receive(ws)).get("event", {}).get("wire") != "PreToolUse":
                    pass
                busy = [r for r in _all_records("f_interrupt") if r.get("status") == "busy"][0]
                idle = dict(busy, status="idle")
                _write_registry(registry, sleeper.pid, idle)  # the user pressed Esc
                assert await _next_status(ws) == "waiting"
                _write_registry(
                    registry,
                    sleeper.pid,
                    dict(busy, status="waiting", waitingFor="permission prompt"),
                )
                assert await _next_status(ws) == "permission"
                # The process exits: Claude removes its registry file, runs its last
                # (synchronous) hooks, then its process ends; only then is the session ended.
                (registry / f"{sleeper.pid}.json").unlink()
                sleeper.kill()
                sleeper.wait()
                assert await _next_status(ws) == "ended"
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_an_exit_waits_for_the_last_hooks_of_a_slow_machine(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude removes its registry file, then runs StopFailure and SessionEnd (synchronous) and
    only then exits. On a loaded machine those hooks can take longer than any grace: the turn's
    failure must still come before the end (it once showed working > ended, the error lost)."""
    monkeypatch.setattr(claude_ingest, "EXIT_GRACE_SECONDS", 0.0)  # the slowest machine there is
    registry = isolated_home / ".claude" / "sessions"
    registry.mkdir(parents=True)
    settings = load_settings(liveness_interval=0)
    claude = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        app = create_app(settings)
        async with app.test_app() as test_app:
            client = test_app.test_client()
            async with client.websocket("/ws") as ws:
                await subscribed(ws)
                spool_scenario(settings, "r_apierror", 3, pid=claude.pid)  # .. MessageDisplay
                assert await _next_status(ws) == "working"
                busy = [r for r in _all_records("f_interrupt") if r.get("status") == "busy"][0]
                hooks = (FIXTURES / "r_apierror" / "hooks.jsonl").read_text()
                session_id = json.loads(hooks.splitlines()[0])["session_id"]
                _write_registry(registry, claude.pid, dict(busy, sessionId=session_id))
                reads = await stats_when(client, lambda s: s["registry_reads"] >= 1)
                (registry / f"{claude.pid}.json").unlink()  # exiting: its last hooks run now
                await stats_when(client, lambda s: s["registry_reads"] > reads["registry_reads"])
                spool_scenario(settings, "r_apierror", 4, start=3, pid=claude.pid)  # StopFailure
                status = await _next_status(ws)
                while status == "working":  # the registry's busy, read before
                    status = await _next_status(ws)
                assert status == "waiting"  # not "ended": the process still runs its hooks
                spool_scenario(settings, "r_apierror", 5, start=4, pid=claude.pid)  # SessionEnd
                claude.kill()
                claude.wait()
                assert await _next_status(ws) == "ended"
                state = await (await client.get("/api/sessions")).get_json()
        (session,) = state["sessions"]
        assert session["error"] and session["ended_reason"] != "process exited"
    finally:
        claude.kill()
        claude.wait()


def _all_records(scenario: str) -> list[dict[str, Any]]:
    text = (FIXTURES / scenario / "timeline.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    return [r["registry"] for r in rows if r.get("registry")]


async def test_dead_agent_process_ends_its_session(isolated_home: Path) -> None:
    settings = load_settings(liveness_interval=0.1)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    app = create_app(settings)
    async with app.test_app() as test_app:
        async with test_app.test_client().websocket("/ws") as ws:
            await subscribed(ws)
            spool_scenario(settings, "b_bash", 3, pid=sleeper.pid)
            assert await _next_status(ws) == "working"
            sleeper.kill()
            sleeper.wait()
            while True:
                message = await receive(ws)
                if message["type"] == "session_ended":
                    break
    assert message["session"]["ended_reason"] == "process exited"


async def test_registry_present_at_start_is_read_and_junk_ignored(isolated_home: Path) -> None:
    """Sessions already running when observer starts show up from the registry."""
    registry = isolated_home / ".claude" / "sessions"
    registry.mkdir(parents=True)
    (registry / "notes.json").write_text("{}")
    (registry / "123.0a1b.key").write_text("secret")
    (registry / "456.json").write_text("{not json")
    busy = [r for r in _all_records("f_interrupt") if r.get("status") == "busy"][0]
    _write_registry(registry, os.getpid(), busy)
    settings = load_settings(liveness_interval=0)
    app = create_app(settings)
    async with app.test_app() as test_app:
        async with test_app.test_client().websocket("/ws") as ws:
            sessions = await subscribed(ws)
            if not sessions:  # the first read may land just after the list was taken
                sessions = [(await receive(ws))["session"]]
    assert [(s["id"], s["status"], s["pid"]) for s in sessions] == [
        (busy["sessionId"], "working", os.getpid())
    ]


async def test_reading_the_registry_does_not_wake_the_reader(isolated_home: Path) -> None:
    """Our own reads raise inotify open/close events; they must not trigger more reads."""
    registry = isolated_home / ".claude" / "sessions"
    registry.mkdir(parents=True)
    busy = [r for r in _all_records("f_interrupt") if r.get("status") == "busy"][0]
    _write_registry(registry, os.getpid(), busy)
    app = create_app(load_settings(liveness_interval=0))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for _ in range(100):
            first = await (await client.get("/api/stats")).get_json()
            if first["registry_reads"] and first["sessions"]:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        later = await (await client.get("/api/stats")).get_json()
    assert first["registry_reads"] >= 1
    assert later["registry_reads"] == first["registry_reads"]
