"""Helpers for the in-process tests of sessions observer launches itself
(tests/direct/test_direct*.py): a stand-in CLI on PATH's place (OBSERVER_<AGENT>_BIN), a running
app, a WebSocket client that keeps every status it sees, the session's REST state, and the
scenarios every agent shares (two clients racing on one approval, an allow and a deny in the
audit log, an unconfirmed interrupt, a child that dies)."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestWebsocketConnectionProtocol as WsConnection

from observer.server.actions import Actions
from observer.server.app import create_app
from observer.settings import Settings, load_settings
from tests.support.live import receive, subscribed

HERE = Path(__file__).parent
# agent -> (its stand-in, the env var naming the binary, a guard on the arguments)
FAKES: dict[str, tuple[Path, str, str]] = {
    "claude": (HERE / "fake_claude.py", "OBSERVER_CLAUDE_BIN", ""),
    "codex": (HERE / "fake_codex_appserver.py", "OBSERVER_CODEX_BIN", "app-server"),
    "pi": (HERE / "fake_pi_rpc.py", "OBSERVER_PI_BIN", ""),
}


def fake_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agent: str) -> Path:
    """bin/<agent>: a shell launcher that runs the agent's stand-in; observer launches it. A
    guarded one (codex) exits 64 unless called with that subcommand, and passes nothing on."""
    fake, variable, subcommand = FAKES[agent]
    launcher = tmp_path / "bin" / agent
    launcher.parent.mkdir()
    if subcommand:
        body = f'[ "$1" = {subcommand} ] || exit 64\nexec "{sys.executable}" "{fake}"\n'
    else:
        body = f'exec "{sys.executable}" "{fake}" "$@"\n'
    launcher.write_text("#!/bin/sh\n" + body)
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(variable, str(launcher))
    return launcher


@asynccontextmanager
async def running(settings: Settings | None = None) -> AsyncIterator[Quart]:
    """The whole server in process (no liveness sweeps), started and stopped around the block."""
    application = create_app(settings or load_settings(liveness_interval=0))
    async with application.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


class Client:
    """One WebSocket client: sends actions, keeps every session message it sees."""

    def __init__(self, ws: WsConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []

    async def open(self) -> Client:
        await subscribed(self.ws)
        return self

    async def act(self, **message: Any) -> dict[str, Any]:
        ref = f"r{len(self.replies)}-{time.monotonic_ns()}"
        await self.ws.send(json.dumps({**message, "ref": ref}))
        while True:
            reply = await self.next(timeout=15)
            if reply.get("ref") == ref:
                self.replies.append(reply)
                return reply

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        message = await receive(self.ws, timeout)
        if "status" in message and "session_id" in message:
            self.seen.append(message)
        return message

    async def until(self, session_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
        for message in self.seen:
            if message["session_id"] == session_id and message["status"] == status:
                self.seen = self.seen[self.seen.index(message) + 1 :]
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = await self.next(timeout=max(0.1, deadline - time.monotonic()))
            if message.get("session_id") == session_id and message.get("status") == status:
                self.seen.clear()
                return message

    async def turn(self, session_id: str) -> None:
        """A whole turn: working, then waiting again."""
        await self.until(session_id, "working")
        await self.until(session_id, "waiting")

    def statuses(self, session_id: str) -> list[str]:
        values: list[str] = []
        for message in self.seen:
            if message["session_id"] == session_id and (
                not values or values[-1] != message["status"]
            ):
                values.append(message["status"])
        return values

    async def launch(self, agent: str, workdir: Path, **fields: Any) -> str:
        """create_session (fields: the prompt, when there is one); it must succeed."""
        created = await self.act(type="create_session", agent=agent, cwd=str(workdir), **fields)
        assert created["type"] == "action_result" and created["ok"] is True, created
        return str(created["session_id"])

    async def approve(
        self, session_id: str, request_id: str, decision: str, **fields: Any
    ) -> dict[str, Any]:
        return await self.act(
            type="approve_tool",
            session_id=session_id,
            request_id=request_id,
            decision=decision,
            **fields,
        )


async def session(app: Quart, session_id: str) -> dict[str, Any]:
    body = await (await app.test_client().get(f"/api/sessions/{session_id}")).get_json()
    result: dict[str, Any] = body["session"]
    return result


def audited(session_id: str) -> list[dict[str, Any]]:
    """The session's entries in the audit log (`<data dir>/audit.jsonl`), oldest first."""
    path = load_settings().data_dir / "audit.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e.get("session_id") == session_id]


def carried_by(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The `_by` of each action a client sends, as the server hands it on (whatever it says)."""
    seen: list[str] = []
    act = Actions.act

    async def spying(self: Actions, action: str, params: dict[str, Any]) -> None:
        seen.append(str(params.get("_by")))
        await act(self, action, params)

    monkeypatch.setattr(Actions, "act", spying)
    return seen


async def asked(client: Client, app: Quart, session_id: str, status: str = "permission") -> Any:
    """Wait for the session to ask (an approval, or a question) and return what it asks."""
    await client.until(session_id, status)
    return (await session(app, session_id))["pending"]


async def settle(
    app: Quart, session_id: str, field: str, value: Any, tries: int = 100, pause: float = 0.05
) -> dict[str, Any]:
    """Poll the session until `field` is `value` (or the tries run out); its last state."""
    for _ in range(tries):
        state = await session(app, session_id)
        if state[field] == value:
            break
        await asyncio.sleep(pause)
    return state


# -- scenarios every agent shares ------------------------------------------------------------


async def again_then_end(client: Client, app: Quart, session_id: str) -> None:
    """A second message is a whole turn the agent answers; then end it from observer."""
    assert (await client.act(type="send_message", session_id=session_id, text="again"))["ok"]
    await client.turn(session_id)
    assert (await session(app, session_id))["last_message"] == "echo: again"
    assert (await client.act(type="end_session", session_id=session_id))["ok"]
    await client.until(session_id, "ended")
    assert (await session(app, session_id))["ended_reason"] == "ended from observer"


async def two_answers_race(app: Quart, agent: str, workdir: Path) -> None:
    """Two clients answer one approval at once (deny, allow): one wins, the other is told it
    is already resolved, and so is a third answer after the turn."""
    client_app = app.test_client()
    async with client_app.websocket("/ws") as ws1, client_app.websocket("/ws") as ws2:
        first, second = await Client(ws1).open(), await Client(ws2).open()
        sid = await first.launch(agent, workdir, prompt="[[perm]] go")
        request_id = (await asked(first, app, sid))["request_id"]
        replies = await asyncio.gather(
            first.approve(sid, request_id, "deny"), second.approve(sid, request_id, "allow")
        )
        assert sorted(str(r.get("ok") or r.get("code")) for r in replies) == [
            "True",
            "already_resolved",
        ]
        loser = next(r for r in replies if r["type"] == "error")
        assert "already resolved" in loser["message"]
        await first.until(sid, "waiting")
        assert (workdir / "perm.txt").exists() == (replies[1].get("ok") is True)
        again = await first.approve(sid, request_id, "allow")
        assert again["code"] == "already_resolved"
        await first.act(type="end_session", session_id=sid)
    # Only the winner's answer was a decision.
    winner = "deny" if replies[0].get("ok") is True else "allow"
    assert [e["decision"] for e in audited(sid)] == [winner]


async def allow_and_deny_are_audited(
    app: Quart, agent: str, tool: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An allow, then a deny in the next turn: each in the audit log, `"via": "direct"`, with
    what it asked, and the `_by` the client's action carried."""
    by = carried_by(monkeypatch)
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch(agent, workdir, prompt="[[perm]] go")
        first = await asked(client, app, sid)
        assert (await client.approve(sid, first["request_id"], "allow"))["ok"]
        await client.until(sid, "waiting")
        assert (await client.act(type="send_message", session_id=sid, text="[[perm]] again"))["ok"]
        second = await asked(client, app, sid)
        assert (await client.approve(sid, second["request_id"], "deny", scope="once"))["ok"]
        await client.until(sid, "waiting")
        await client.act(type="end_session", session_id=sid)
    entries = audited(sid)
    assert [(e["decision"], e["scope"], e["via"]) for e in entries] == [
        ("allow", "once", "direct"),
        ("deny", "once", "direct"),
    ]
    assert all(e["agent"] == agent and e["tool"] == tool for e in entries)
    assert all(e["subject"] == "touch perm.txt" and e["waited"] >= 0 for e in entries)
    approvals = [by[0], by[2]]  # the actions: approve, send_message, approve, end_session
    assert [e["by"] for e in entries] == approvals and "ws:" in approvals[0]


async def interrupt_a_long_tool_call(app: Quart, agent: str, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch(agent, workdir, prompt="[[slow]]")
        await client.until(sid, "working")
        await asyncio.sleep(0.2)
        assert (await client.act(type="interrupt_session", session_id=sid))["ok"]
        await client.until(sid, "waiting")
        assert (await session(app, sid))["current_tool"] is None
        await client.act(type="end_session", session_id=sid)


async def unconfirmed_interrupt_is_forced(
    app: Quart, agent: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent never confirms the interrupt: after the grace it is killed, and says why."""
    monkeypatch.setattr(f"observer.direct.{agent}.INTERRUPT_GRACE", 0.5)
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch(agent, workdir, prompt="[[hang]]")
        await client.until(sid, "working")
        reply = await client.act(type="interrupt_session", session_id=sid)
        assert reply["code"] == "forced" and "killed" in reply["message"]
        await client.until(sid, "ended")
        assert "interrupt not confirmed" in (await session(app, sid))["ended_reason"]


async def child_dies_mid_turn(app: Quart, agent: str, workdir: Path) -> None:
    """The agent's process exits mid-turn: ended within 2 s, and an action says to resume."""
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch(agent, workdir, prompt="[[die]]")
        await client.until(sid, "working")
        started = time.monotonic()
        await client.until(sid, "ended", timeout=2)
        assert time.monotonic() - started < 2
        assert (await session(app, sid))["ended_reason"] == "process exited with status 3"
        gone = await client.act(type="send_message", session_id=sid, text="hi")
        assert gone["code"] == "ended" and "resume_session" in gone["message"]


async def launch_then_stop(agent: str, workdir: Path, settings: Settings) -> str:
    """Launch one session over REST in a server that then stops; the session's id."""
    async with running(settings) as app:
        created = await app.test_client().post(
            "/api/sessions", json={"agent": agent, "cwd": str(workdir), "prompt": "one"}
        )
        sid = str((await created.get_json())["session_id"])
        await asyncio.sleep(0.5)
    return sid
