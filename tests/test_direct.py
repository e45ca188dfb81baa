"""Directly launched sessions through the whole server (in process), with a stand-in Claude
that speaks stream-json (tests/fake_claude.py): create, approve, deny, answer, interrupt, end,
a child that dies, two clients racing on one approval, and every error an action can get."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestWebsocketConnectionProtocol as WsConnection

from observer.server import create_app
from observer.settings import Settings, load_settings
from tests.live import receive

FAKE = Path(__file__).parent / "fake_claude.py"


@pytest.fixture
def fake_claude_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    launcher = tmp_path / "bin" / "claude"
    launcher.parent.mkdir()
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OBSERVER_CLAUDE_BIN", str(launcher))
    return launcher


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
async def app(fake_claude_bin: Path) -> AsyncIterator[Quart]:
    settings: Settings = load_settings(liveness_interval=0)
    application = create_app(settings)
    async with application.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


class Client:
    """One WebSocket client: sends actions, keeps every session message it sees."""

    def __init__(self, ws: WsConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []

    async def open(self) -> Client:
        assert (await receive(self.ws))["type"] == "hello"
        await self.ws.send(json.dumps({"type": "subscribe_list"}))
        assert (await receive(self.ws))["type"] == "sessions_list"
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

    def statuses(self, session_id: str) -> list[str]:
        values: list[str] = []
        for message in self.seen:
            if message["session_id"] == session_id and (
                not values or values[-1] != message["status"]
            ):
                values.append(message["status"])
        return values


async def session(app: Quart, session_id: str) -> dict[str, Any]:
    body = await (await app.test_client().get(f"/api/sessions/{session_id}")).get_json()
    result: dict[str, Any] = body["session"]
    return result


async def test_launch_answer_and_end(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        created = await client.act(
            type="create_session", agent="claude", cwd=str(workdir), prompt="hello there"
        )
        assert created["type"] == "action_result" and created["ok"] is True
        sid = created["session_id"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        state = await session(app, sid)
        assert state["control"] == "direct"
        assert "approve_tool" in state["capabilities"]
        assert state["last_message"] == "echo: hello there"
        assert state["model"] == "fake-model" and state["project"] == "project"

        reply = await client.act(type="send_message", session_id=sid, text="again")
        assert reply["ok"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        assert (await client.act(type="end_session", session_id=sid))["ok"]
        await client.until(sid, "ended")
        assert (await session(app, sid))["ended_reason"] == "ended from observer"


async def test_approve_allow_runs_the_tool(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = (
            await client.act(
                type="create_session", agent="claude", cwd=str(workdir), prompt="[[perm]] go"
            )
        )["session_id"]
        await client.until(sid, "permission")
        pending = (await session(app, sid))["pending"]
        assert pending["tool"] == "Bash" and pending["summary"] == "touch perm.txt"
        reply = await client.act(
            type="approve_tool",
            session_id=sid,
            request_id=pending["request_id"],
            decision="allow",
            scope="session",
        )
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        decision = json.loads((workdir / "perm.txt").read_text())
        assert decision["behavior"] == "allow"
        assert decision["updatedInput"]["command"] == "touch perm.txt"
        # "this session" never writes the user's settings: the rule is scoped to the session.
        assert [p["destination"] for p in decision["updatedPermissions"]] == ["session"]


async def test_deny_and_a_second_answer_is_already_resolved(app: Quart, workdir: Path) -> None:
    client_app = app.test_client()
    async with client_app.websocket("/ws") as ws1, client_app.websocket("/ws") as ws2:
        first, second = await Client(ws1).open(), await Client(ws2).open()
        sid = (
            await first.act(
                type="create_session", agent="claude", cwd=str(workdir), prompt="[[perm]] go"
            )
        )["session_id"]
        await first.until(sid, "permission")
        request_id = (await session(app, sid))["pending"]["request_id"]
        answer = {"type": "approve_tool", "session_id": sid, "request_id": request_id}
        replies = await asyncio.gather(
            first.act(**answer, decision="deny"), second.act(**answer, decision="allow")
        )
        assert sorted(str(r.get("ok") or r.get("code")) for r in replies) == [
            "True",
            "already_resolved",
        ]
        loser = next(r for r in replies if r["type"] == "error")
        assert "already resolved" in loser["message"]
        await first.until(sid, "waiting")
        assert (workdir / "perm.txt").exists() == (replies[1].get("ok") is True)


async def test_answer_a_question(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = (
            await client.act(
                type="create_session", agent="claude", cwd=str(workdir), prompt="[[question]]"
            )
        )["session_id"]
        await client.until(sid, "question")
        pending = (await session(app, sid))["pending"]
        assert pending["kind"] == "question" and pending["summary"] == "Which color?"
        wrong = await client.act(
            type="approve_tool",
            session_id=sid,
            request_id=pending["request_id"],
            decision="allow",
        )
        assert wrong["code"] == "bad_request"
        reply = await client.act(
            type="answer_question", session_id=sid, request_id=pending["request_id"], answer="Blue"
        )
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        answer = json.loads((workdir / "answer.json").read_text())
        assert answer["updatedInput"]["answers"] == {"Which color?": "Blue"}


async def test_interrupt_a_long_tool_call(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = (
            await client.act(
                type="create_session", agent="claude", cwd=str(workdir), prompt="[[slow]]"
            )
        )["session_id"]
        await client.until(sid, "working")
        await asyncio.sleep(0.2)
        assert (await client.act(type="interrupt_session", session_id=sid))["ok"]
        await client.until(sid, "waiting")
        assert (await session(app, sid))["current_tool"] is None


async def test_an_unconfirmed_interrupt_is_forced(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("observer.direct.claude.INTERRUPT_GRACE", 0.5)
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = (
            await client.act(
                type="create_session", agent="claude", cwd=str(workdir), prompt="[[hang]]"
            )
        )["session_id"]
        await client.until(sid, "working")
        reply = await client.act(type="interrupt_session", session_id=sid)
        assert reply["code"] == "forced" and "killed" in reply["message"]
        await client.until(sid, "ended")
        assert "interrupt not confirmed" in (await session(app, sid))["ended_reason"]


async def test_a_child_that_dies_mid_turn_ends_within_2_s(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = (
            await client.act(
                type="create_session", agent="claude", cwd=str(workdir), prompt="[[die]]"
            )
        )["session_id"]
        await client.until(sid, "working")
        started = time.monotonic()
        await client.until(sid, "ended", timeout=2)
        assert time.monotonic() - started < 2
        assert (await session(app, sid))["ended_reason"] == "process exited with status 3"
        gone = await client.act(type="send_message", session_id=sid, text="hi")
        assert gone["code"] == "ended" and "resume_session" in gone["message"]


async def test_errors_are_clear(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()

        async def code(**message: Any) -> str:
            reply = await client.act(**message)
            assert reply["type"] == "error" and reply["message"], reply
            return str(reply["code"])

        assert await code(type="send_message", session_id="nope", text="x") == "not_found"
        assert await code(type="send_message", text="x") == "bad_request"
        bad_agent = {"type": "create_session", "agent": "vim", "cwd": str(workdir)}
        assert await code(**bad_agent) == "unsupported"
        missing = {"type": "create_session", "agent": "claude", "cwd": str(workdir / "missing")}
        assert await code(**missing) == "bad_request"
        assert await code(type="create_session", agent="claude") == "bad_request"
        sid = (
            await client.act(type="create_session", agent="claude", cwd=str(workdir), prompt="hi")
        )["session_id"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        assert await code(type="steer_turn", session_id=sid, text="x") == "unsupported"
        answer = {"type": "approve_tool", "session_id": sid, "request_id": "toolu_x"}
        assert await code(**answer, decision="allow") == "already_resolved"
        assert await code(**answer, decision="maybe") == "bad_request"
        assert await code(**answer, decision="allow", scope="forever") == "bad_request"
        assert await code(type="resume_session", session_id=sid) == "bad_request"
        await client.act(type="end_session", session_id=sid)


async def test_an_observed_session_can_only_be_watched(app: Quart, settings: Settings) -> None:
    from observer.spool import write_event

    fixtures = Path(__file__).parent / "fixtures" / "claude" / "a_text" / "hooks.jsonl"
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        for line in fixtures.read_bytes().splitlines()[:3]:
            write_event(
                settings.spool_dir, "claude", json.loads(line)["hook_event_name"], os.getpid(), line
            )
        while True:
            message = await client.next()
            if message.get("status") == "working":
                break
        sid = message["session_id"]
        state = await session(app, sid)
        # Watched, and its approvals answerable through the hook in away mode; no more.
        assert state["control"] == "observed" and state["capabilities"] == ["approve_tool"]
        reply = await client.act(type="send_message", session_id=sid, text="x")
        assert reply["code"] == "unsupported" and "only be watched" in reply["message"]


async def test_rest_create_and_act(app: Quart, workdir: Path) -> None:
    client = app.test_client()
    created = await client.post(
        "/api/sessions", json={"agent": "claude", "cwd": str(workdir), "prompt": "rest"}
    )
    assert created.status_code == 201
    sid = (await created.get_json())["session_id"]
    for _ in range(100):
        if (await session(app, sid))["last_message"] == "echo: rest":
            break
        await asyncio.sleep(0.05)
    assert (await session(app, sid))["last_message"] == "echo: rest"
    missing = await client.post("/api/sessions/nope/send_message", json={"text": "x"})
    assert missing.status_code == 404
    unknown = await client.post(f"/api/sessions/{sid}/dance", json={})
    assert unknown.status_code == 404
    ended = await client.post(f"/api/sessions/{sid}/end_session", json={})
    assert ended.status_code == 200 and (await ended.get_json())["ok"] is True


async def test_shutdown_ends_direct_sessions_and_resume_brings_one_back(
    fake_claude_bin: Path, workdir: Path
) -> None:
    settings = load_settings(liveness_interval=0)
    first = create_app(settings)
    async with first.test_app() as test_app:
        created = await test_app.test_client().post(
            "/api/sessions", json={"agent": "claude", "cwd": str(workdir), "prompt": "one"}
        )
        sid = (await created.get_json())["session_id"]
        await asyncio.sleep(0.5)
    second = create_app(settings)
    async with second.test_app() as test_app:
        state = await session(test_app.app, sid)  # type: ignore[arg-type]
        assert state["status"] == "ended"
        assert state["ended_reason"] == "observer stopped; resume_session continues it"
        client = test_app.test_client()
        resumed = await client.post(f"/api/sessions/{sid}/resume_session", json={})
        assert resumed.status_code == 200, await resumed.get_json()
        state = await session(test_app.app, sid)  # type: ignore[arg-type]
        assert state["status"] == "waiting" and state["ended_reason"] is None
        sent = await client.post(f"/api/sessions/{sid}/send_message", json={"text": "two"})
        assert sent.status_code == 200
        for _ in range(100):
            if (await session(test_app.app, sid))["last_message"] == "echo: two":  # type: ignore[arg-type]
                break
            await asyncio.sleep(0.05)
        assert (await session(test_app.app, sid))["last_message"] == "echo: two"  # type: ignore[arg-type]
