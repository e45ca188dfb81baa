"""pi sessions observer launches, through the whole server (in process), with a stand-in
`pi --mode rpc` (tests/fake_pi_rpc.py): launch, approvals held by the extension's confirm dialog
(allow, deny, two clients racing), a question, a follow-up during a run, abort, a forced abort,
a child that dies, resume."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from observer.direct.pi import gate_extension_args
from observer.install_pi import install_pi_extension
from observer.server import create_app
from observer.settings import Settings, load_settings
from tests.test_direct import Client, session

FAKE = Path(__file__).parent / "fake_pi_rpc.py"


@pytest.fixture
def fake_pi_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    launcher = tmp_path / "bin" / "pi"
    launcher.parent.mkdir()
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OBSERVER_PI_BIN", str(launcher))
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(tmp_path / "pi-agent"))
    return launcher


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
async def app(fake_pi_bin: Path) -> AsyncIterator[Quart]:
    settings: Settings = load_settings(liveness_interval=0)
    application = create_app(settings)
    async with application.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


async def launch(client: Client, workdir: Path, prompt: str | None = None) -> str:
    message = {"type": "create_session", "agent": "pi", "cwd": str(workdir)}
    created = await client.act(**message, **({"prompt": prompt} if prompt else {}))
    assert created["type"] == "action_result" and created["ok"] is True, created
    return str(created["session_id"])


async def test_launch_message_and_end(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "hello there")
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        state = await session(app, sid)
        assert state["control"] == "direct" and state["agent"] == "pi"
        assert {"approve_tool", "steer_turn", "resume_session"} <= set(state["capabilities"])
        assert state["last_message"] == "echo: hello there"
        assert state["model"] == "fake/fake-gpt" and state["project"] == "project"

        assert (await client.act(type="send_message", session_id=sid, text="again"))["ok"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        assert (await session(app, sid))["last_message"] == "echo: again"
        assert (await client.act(type="end_session", session_id=sid))["ok"]
        await client.until(sid, "ended")
        assert (await session(app, sid))["ended_reason"] == "ended from observer"


async def test_launch_without_a_prompt_is_listed_at_once(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir)
        await client.until(sid, "waiting", timeout=2)
        # pi's own session id (get_state), not one observer made up
        assert (await session(app, sid))["id"] == sid
        await client.act(type="end_session", session_id=sid)


async def test_allow_runs_the_tool(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        await client.until(sid, "permission")
        pending = (await session(app, sid))["pending"]
        assert pending["tool"] == "bash" and pending["summary"] == "touch perm.txt"
        assert pending["request_id"].startswith("call_")  # the tool call's id
        reply = await client.act(
            type="approve_tool",
            session_id=sid,
            request_id=pending["request_id"],
            decision="allow",
        )
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        assert (workdir / "perm.txt").read_text() == "allowed\n"
        assert (await session(app, sid))["last_message"] == "perm done"
        await client.act(type="end_session", session_id=sid)


async def test_deny_and_a_second_answer_is_already_resolved(app: Quart, workdir: Path) -> None:
    client_app = app.test_client()
    async with client_app.websocket("/ws") as ws1, client_app.websocket("/ws") as ws2:
        first, second = await Client(ws1).open(), await Client(ws2).open()
        sid = await launch(first, workdir, "[[perm]] go")
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
        await first.until(sid, "waiting")
        assert (workdir / "perm.txt").exists() == (replies[1].get("ok") is True)
        await first.act(type="end_session", session_id=sid)


async def test_allow_for_the_session_answers_the_next_one_itself(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        await client.until(sid, "permission")
        request_id = (await session(app, sid))["pending"]["request_id"]
        answer = {"type": "approve_tool", "session_id": sid, "request_id": request_id}
        assert (await client.act(**answer, decision="allow", scope="session"))["ok"]
        await client.until(sid, "waiting")
        (workdir / "perm.txt").unlink()
        assert (await client.act(type="send_message", session_id=sid, text="[[perm]] again"))["ok"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        assert "permission" not in client.statuses(sid)
        assert (workdir / "perm.txt").exists()
        await client.act(type="end_session", session_id=sid)


async def test_answer_an_extension_question(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[select]]")
        await client.until(sid, "question")
        pending = (await session(app, sid))["pending"]
        assert pending["kind"] == "question" and pending["summary"] == "Which color?"
        wrong = {"type": "approve_tool", "session_id": sid, "request_id": pending["request_id"]}
        assert (await client.act(**wrong, decision="allow"))["code"] == "bad_request"
        reply = await client.act(
            type="answer_question", session_id=sid, request_id=pending["request_id"], answer="Blue"
        )
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        assert json.loads((workdir / "answer.json").read_text())["value"] == "Blue"
        await client.act(type="end_session", session_id=sid)


async def test_a_message_during_a_run_is_a_follow_up(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        await client.until(sid, "permission")
        request_id = (await session(app, sid))["pending"]["request_id"]
        assert (await client.act(type="send_message", session_id=sid, text="and then"))["ok"]
        # Queued, not a new turn: the approval is still what the session waits on.
        assert (await session(app, sid))["status"] == "permission"
        answer = {"type": "approve_tool", "session_id": sid, "request_id": request_id}
        assert (await client.act(**answer, decision="allow"))["ok"]
        await client.until(sid, "waiting")
        assert (await session(app, sid))["last_message"] == "echo: and then"
        await client.act(type="end_session", session_id=sid)


async def test_a_refused_prompt_leaves_the_session_waiting_with_the_reason(
    app: Quart, workdir: Path
) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[reject]] go")
        await client.until(sid, "waiting")
        assert "No model selected" in (await session(app, sid))["error"]
        refused = await client.act(type="send_message", session_id=sid, text="[[reject]] again")
        assert refused["code"] == "bad_request" and "No model selected" in refused["message"]
        assert (await client.act(type="send_message", session_id=sid, text="fine"))["ok"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        assert (await session(app, sid))["error"] is None
        await client.act(type="end_session", session_id=sid)


async def test_steer_while_idle_is_a_prompt(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir)
        await client.until(sid, "waiting")
        assert (await client.act(type="steer_turn", session_id=sid, text="steer me"))["ok"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        assert (await session(app, sid))["last_message"] == "echo: steer me"
        await client.act(type="end_session", session_id=sid)


async def test_interrupt_a_long_tool_call(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[slow]]")
        await client.until(sid, "working")
        await asyncio.sleep(0.2)
        assert (await client.act(type="interrupt_session", session_id=sid))["ok"]
        await client.until(sid, "waiting")
        assert (await session(app, sid))["current_tool"] is None
        await client.act(type="end_session", session_id=sid)


async def test_interrupt_while_an_approval_is_pending(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        await client.until(sid, "permission")
        request_id = (await session(app, sid))["pending"]["request_id"]
        assert (await client.act(type="interrupt_session", session_id=sid))["ok"]
        await client.until(sid, "waiting")
        assert (await session(app, sid))["pending"] is None
        late = {"type": "approve_tool", "session_id": sid, "request_id": request_id}
        assert (await client.act(**late, decision="allow"))["code"] == "already_resolved"
        assert not (workdir / "perm.txt").exists()
        await client.act(type="end_session", session_id=sid)


async def test_an_unconfirmed_interrupt_is_forced(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("observer.direct.pi.INTERRUPT_GRACE", 0.5)
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[hang]]")
        await client.until(sid, "working")
        reply = await client.act(type="interrupt_session", session_id=sid)
        assert reply["code"] == "forced" and "killed" in reply["message"]
        await client.until(sid, "ended")
        assert "interrupt not confirmed" in (await session(app, sid))["ended_reason"]


async def test_a_child_that_dies_mid_run_ends_within_2_s(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[die]]")
        await client.until(sid, "working")
        started = time.monotonic()
        await client.until(sid, "ended", timeout=2)
        assert time.monotonic() - started < 2
        assert (await session(app, sid))["ended_reason"] == "process exited with status 3"
        gone = await client.act(type="send_message", session_id=sid, text="hi")
        assert gone["code"] == "ended" and "resume_session" in gone["message"]


async def test_resume_an_ended_session(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "one")
        await client.until(sid, "waiting")
        await client.act(type="end_session", session_id=sid)
        await client.until(sid, "ended")
        assert (await client.act(type="resume_session", session_id=sid))["ok"]
        await client.until(sid, "waiting")
        assert (await client.act(type="send_message", session_id=sid, text="two"))["ok"]
        await client.until(sid, "working")
        await client.until(sid, "waiting")
        assert (await session(app, sid))["last_message"] == "echo: two"
        await client.act(type="end_session", session_id=sid)


def test_the_gate_is_loaded_only_when_the_extension_is_not_installed(tmp_path: Path) -> None:
    env = {"PI_CODING_AGENT_DIR": str(tmp_path / "agent"), "HOME": str(tmp_path)}
    flag, path = gate_extension_args(env)
    assert flag == "-e" and Path(path).is_file() and path.endswith("observer.ts")
    install_pi_extension(tmp_path / "agent", str(tmp_path / "spool"))
    assert gate_extension_args(env) == []
