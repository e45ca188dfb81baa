"""Directly launched sessions through the whole server (in process), with a stand-in Claude that
speaks stream-json (tests/support/fake_claude.py): create, approve, deny, answer, interrupt,
end, a child that dies, two clients racing on one approval, and every error an action can get."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from observer.settings import Settings, load_settings
from tests.support.direct_client import (
    Client,
    again_then_end,
    allow_and_deny_are_audited,
    asked,
    audited,
    child_dies_mid_turn,
    fake_launcher,
    interrupt_a_long_tool_call,
    launch_then_stop,
    running,
    session,
    settle,
    two_answers_race,
    unconfirmed_interrupt_is_forced,
)
from tests.support.live import spool_scenario


@pytest.fixture
def fake_claude_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fake_launcher(tmp_path, monkeypatch, "claude")


@pytest.fixture
async def app(fake_claude_bin: Path) -> AsyncIterator[Quart]:
    async with running() as application:
        yield application


async def test_launch_answer_and_end(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        created = await client.act(
            type="create_session", agent="claude", cwd=str(workdir), prompt="hello there"
        )
        assert created["type"] == "action_result" and created["ok"] is True
        sid = created["session_id"]
        await client.turn(sid)
        state = await session(app, sid)
        assert state["control"] == "direct"
        assert "approve_tool" in state["capabilities"]
        assert state["last_message"] == "echo: hello there"
        assert state["model"] == "fake-model" and state["project"] == "project"

        await again_then_end(client, app, sid)


async def test_approve_allow_runs_the_tool(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch("claude", workdir, prompt="[[perm]] go")
        pending = await asked(client, app, sid)
        assert pending["tool"] == "Bash" and pending["summary"] == "touch perm.txt"
        reply = await client.approve(sid, pending["request_id"], "allow", scope="session")
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        decision = json.loads((workdir / "perm.txt").read_text())
        assert decision["behavior"] == "allow"
        assert decision["updatedInput"]["command"] == "touch perm.txt"
        # "this session" never writes the user's settings: the rule is scoped to the session.
        assert [p["destination"] for p in decision["updatedPermissions"]] == ["session"]


async def test_deny_and_a_second_answer_is_already_resolved(app: Quart, workdir: Path) -> None:
    await two_answers_race(app, "claude", workdir)


async def test_an_allow_and_a_deny_are_audited(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await allow_and_deny_are_audited(app, "claude", "Bash", workdir, monkeypatch)


async def test_answer_a_question(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch("claude", workdir, prompt="[[question]]")
        pending = await asked(client, app, sid, "question")
        assert pending["kind"] == "question" and pending["summary"] == "Which color?"
        wrong = await client.approve(sid, pending["request_id"], "allow")
        assert wrong["code"] == "bad_request"
        reply = await client.act(
            type="answer_question", session_id=sid, request_id=pending["request_id"], answer="Blue"
        )
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        answer = json.loads((workdir / "answer.json").read_text())
        assert answer["updatedInput"]["answers"] == {"Which color?": "Blue"}
    # Audited: that it was answered, what asked, and by whom; never the answer itself.
    (entry,) = audited(sid)
    assert entry["answered"] is True and entry["via"] == "direct" and "ws:" in entry["by"]
    assert (entry["tool"], entry["subject"]) == ("AskUserQuestion", "Which color?")
    assert "Blue" not in json.dumps(entry) and "decision" not in entry


async def test_answer_each_of_several_questions(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch("claude", workdir, prompt="[[choices]]")
        pending = await asked(client, app, sid, "question")
        color, sizes = pending["questions"]
        assert [o["label"] for o in color["options"]] == ["Red", "Blue"]
        assert (color["multiple"], sizes["multiple"], sizes["free_text"]) == (False, True, True)
        answer = {"type": "answer_question", "session_id": sid, "request_id": pending["request_id"]}
        for wrong in ({"answers": ["Red", "S", "M"]}, {"answers": []}, {"answers": ["Red", ""]}):
            reply = await client.act(**answer, **wrong)
            assert reply["code"] == "bad_request", wrong
        reply = await client.act(**answer, answers=["Red", "S, L"])  # still open: answered now
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        sent = json.loads((workdir / "answer.json").read_text())
        assert sent["updatedInput"]["answers"] == {"Which color?": "Red", "Which sizes?": "S, L"}


async def test_interrupt_a_long_tool_call(app: Quart, workdir: Path) -> None:
    await interrupt_a_long_tool_call(app, "claude", workdir)


async def test_an_unconfirmed_interrupt_is_forced(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await unconfirmed_interrupt_is_forced(app, "claude", workdir, monkeypatch)


async def test_a_child_that_dies_mid_turn_ends_within_2_s(app: Quart, workdir: Path) -> None:
    await child_dies_mid_turn(app, "claude", workdir)


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
        sid = await client.launch("claude", workdir, prompt="hi")
        await client.turn(sid)
        assert await code(type="steer_turn", session_id=sid, text="x") == "unsupported"
        answer = {"type": "approve_tool", "session_id": sid, "request_id": "toolu_x"}
        assert await code(**answer, decision="allow") == "already_resolved"
        assert await code(**answer, decision="maybe") == "bad_request"
        assert await code(**answer, decision="allow", scope="forever") == "bad_request"
        assert await code(type="resume_session", session_id=sid) == "bad_request"
        await client.act(type="end_session", session_id=sid)


async def test_an_observed_session_can_only_be_watched(app: Quart, settings: Settings) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        spool_scenario(settings, "a_text", 3)
        while True:
            message = await client.next()
            if message.get("status") == "working":
                break
        sid = message["session_id"]
        state = await session(app, sid)
        # Watched; an approval is offered only while away mode holds its request, a message only
        # while its Stop hook is held: neither now. A stop is (its hooks check for one).
        assert state["control"] == "observed" and state["capabilities"] == ["interrupt_session"]
        reply = await client.act(type="send_message", session_id=sid, text="x")
        assert reply["code"] == "unsupported" and "once its turn has ended" in reply["message"]


async def test_rest_create_and_act(app: Quart, workdir: Path) -> None:
    client = app.test_client()
    created = await client.post(
        "/api/sessions", json={"agent": "claude", "cwd": str(workdir), "prompt": "rest"}
    )
    assert created.status_code == 201
    sid = (await created.get_json())["session_id"]
    assert (await settle(app, sid, "last_message", "echo: rest"))["last_message"] == "echo: rest"
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
    sid = await launch_then_stop("claude", workdir, settings)
    async with running(settings) as app:
        state = await session(app, sid)
        assert state["status"] == "ended"
        assert state["ended_reason"] == "observer stopped; it can be resumed"
        client = app.test_client()
        resumed = await client.post(f"/api/sessions/{sid}/resume_session", json={})
        assert resumed.status_code == 200, await resumed.get_json()
        state = await session(app, sid)
        assert state["status"] == "waiting" and state["ended_reason"] is None
        sent = await client.post(f"/api/sessions/{sid}/send_message", json={"text": "two"})
        assert sent.status_code == 200
        state = await settle(app, sid, "last_message", "echo: two")
        assert state["last_message"] == "echo: two"


async def test_an_allowed_tool_shows_working_while_it_runs_and_can_be_interrupted(
    app: Quart, workdir: Path
) -> None:
    """Nothing in Claude's stream speaks between the answer and the tool's end: the driver
    says working itself, so the session does not sit in `permission` while the tool runs."""
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch("claude", workdir, prompt="[[permslow]] go")
        pending = await asked(client, app, sid)
        assert (await client.approve(sid, pending["request_id"], "allow"))["ok"]
        await client.until(sid, "working")
        state = await session(app, sid)
        assert state["status"] == "working" and state["pending"] is None
        interrupted = await client.act(type="interrupt_session", session_id=sid)
        assert interrupted.get("ok") is True, interrupted
        await client.until(sid, "waiting")


async def test_interrupting_an_idle_session_is_refused_not_forced(
    app: Quart, workdir: Path
) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await client.launch("claude", workdir, prompt="hello")
        await client.turn(sid)
        reply = await client.act(type="interrupt_session", session_id=sid)
        assert reply["code"] == "bad_request" and "nothing to interrupt" in reply["message"]
        assert (await session(app, sid))["status"] == "waiting"  # not killed
        await again_then_end(client, app, sid)


async def test_launches_beyond_max_launched_are_refused(
    fake_claude_bin: Path, workdir: Path
) -> None:
    async with running(load_settings(liveness_interval=0, max_launched=1)) as application:
        client = application.test_client()
        first = await client.post("/api/sessions", json={"agent": "claude", "cwd": str(workdir)})
        assert first.status_code == 201
        second = await client.post("/api/sessions", json={"agent": "claude", "cwd": str(workdir)})
        assert second.status_code == 429
        refused = await second.get_json()
        assert refused["code"] == "too_many_sessions" and "max_launched" in refused["message"]
        sid = (await first.get_json())["session_id"]
        ended = await client.post(f"/api/sessions/{sid}/end_session", json={})
        assert ended.status_code == 200
        third = await client.post("/api/sessions", json={"agent": "claude", "cwd": str(workdir)})
        assert third.status_code == 201  # one ended: room for another
        await client.post(
            f"/api/sessions/{(await third.get_json())['session_id']}/end_session", json={}
        )
