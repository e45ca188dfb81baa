"""pi sessions observer launches, through the whole server (in process), with a stand-in `pi --mode
rpc` (tests/support/fake_pi_rpc.py): launch, approvals held by the extension's confirm dialog
(allow, deny, two clients racing), a question, a follow-up during a run, abort, a forced abort,
a child that dies, resume."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from observer.direct.pi import gate_extension_args
from observer.install.pi import install_pi_extension
from tests.support.direct_client import (
    Client,
    again_then_end,
    allow_and_deny_are_audited,
    asked,
    audited,
    carried_by,
    child_dies_mid_turn,
    fake_launcher,
    interrupt_a_long_tool_call,
    running,
    session,
    two_answers_race,
    unconfirmed_interrupt_is_forced,
)


@pytest.fixture
def fake_pi_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(tmp_path / "pi-agent"))
    return fake_launcher(tmp_path, monkeypatch, "pi")


@pytest.fixture
async def app(fake_pi_bin: Path) -> AsyncIterator[Quart]:
    async with running() as application:
        yield application


async def launch(client: Client, workdir: Path, prompt: str | None = None) -> str:
    return await client.launch("pi", workdir, **({"prompt": prompt} if prompt else {}))


async def test_launch_message_and_end(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "hello there")
        await client.turn(sid)
        state = await session(app, sid)
        assert state["control"] == "direct" and state["agent"] == "pi"
        assert {"approve_tool", "steer_turn", "resume_session"} <= set(state["capabilities"])
        assert state["last_message"] == "echo: hello there"
        assert state["model"] == "fake/fake-gpt" and state["project"] == "project"

        await again_then_end(client, app, sid)


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
        pending = await asked(client, app, sid)
        assert pending["tool"] == "bash" and pending["summary"] == "touch perm.txt"
        assert pending["request_id"].startswith("call_")  # the tool call's id
        reply = await client.approve(sid, pending["request_id"], "allow")
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        assert (workdir / "perm.txt").read_text() == "allowed\n"
        assert (await session(app, sid))["last_message"] == "perm done"
        await client.act(type="end_session", session_id=sid)


async def test_deny_and_a_second_answer_is_already_resolved(app: Quart, workdir: Path) -> None:
    await two_answers_race(app, "pi", workdir)


async def test_an_allow_and_a_deny_are_audited(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await allow_and_deny_are_audited(app, "pi", "bash", workdir, monkeypatch)


async def test_allow_for_the_session_answers_the_next_one_itself(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by = carried_by(monkeypatch)
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        request_id = (await asked(client, app, sid))["request_id"]
        assert (await client.approve(sid, request_id, "allow", scope="session"))["ok"]
        await client.until(sid, "waiting")
        (workdir / "perm.txt").unlink()
        assert (await client.act(type="send_message", session_id=sid, text="[[perm]] again"))["ok"]
        await client.turn(sid)
        assert "permission" not in client.statuses(sid)
        assert (workdir / "perm.txt").exists()
        await client.act(type="end_session", session_id=sid)
    # The second call was allowed by the driver itself, on the person's word: audited too.
    assert [(e["decision"], e["scope"], e["by"]) for e in audited(sid)] == [
        ("allow", "session", by[0]),
        ("allow", "session", "allowed for the session"),
    ]


async def test_answer_an_extension_question(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[select]]")
        pending = await asked(client, app, sid, "question")
        assert pending["kind"] == "question" and pending["summary"] == "Which color?"
        assert (await client.approve(sid, pending["request_id"], "allow"))["code"] == "bad_request"
        (asked_for,) = pending["questions"]  # its options, to show as buttons
        assert [o["label"] for o in asked_for["options"]] == ["Red", "Blue"]
        answer = {"type": "answer_question", "session_id": sid, "request_id": pending["request_id"]}
        two = await client.act(**answer, answers=["Red", "Blue"])
        assert two["code"] == "bad_request"  # one dialog, one answer; still open
        reply = await client.act(**answer, answers=["Blue"])
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        assert json.loads((workdir / "answer.json").read_text())["value"] == "Blue"
        await client.act(type="end_session", session_id=sid)
    (entry,) = audited(sid)
    assert entry["answered"] is True and entry["via"] == "direct" and "ws:" in entry["by"]
    assert (entry["tool"], entry["subject"]) == ("select", "Which color?")
    assert "Blue" not in json.dumps(entry) and "decision" not in entry


async def test_a_message_during_a_run_is_a_follow_up(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        request_id = (await asked(client, app, sid))["request_id"]
        assert (await client.act(type="send_message", session_id=sid, text="and then"))["ok"]
        # Queued, not a new turn: the approval is still what the session waits on.
        assert (await session(app, sid))["status"] == "permission"
        assert (await client.approve(sid, request_id, "allow"))["ok"]
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
        await client.turn(sid)
        assert (await session(app, sid))["error"] is None
        await client.act(type="end_session", session_id=sid)


async def test_steer_while_idle_is_a_prompt(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir)
        await client.until(sid, "waiting")
        assert (await client.act(type="steer_turn", session_id=sid, text="steer me"))["ok"]
        await client.turn(sid)
        assert (await session(app, sid))["last_message"] == "echo: steer me"
        await client.act(type="end_session", session_id=sid)


async def test_interrupt_a_long_tool_call(app: Quart, workdir: Path) -> None:
    await interrupt_a_long_tool_call(app, "pi", workdir)


async def test_interrupt_while_an_approval_is_pending(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        request_id = (await asked(client, app, sid))["request_id"]
        assert (await client.act(type="interrupt_session", session_id=sid))["ok"]
        await client.until(sid, "waiting")
        assert (await session(app, sid))["pending"] is None
        late = await client.approve(sid, request_id, "allow")
        assert late["code"] == "already_resolved"
        assert not (workdir / "perm.txt").exists()
        await client.act(type="end_session", session_id=sid)


async def test_an_unconfirmed_interrupt_is_forced(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await unconfirmed_interrupt_is_forced(app, "pi", workdir, monkeypatch)


async def test_a_child_that_dies_mid_run_ends_within_2_s(app: Quart, workdir: Path) -> None:
    await child_dies_mid_turn(app, "pi", workdir)


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
        await client.turn(sid)
        assert (await session(app, sid))["last_message"] == "echo: two"
        await client.act(type="end_session", session_id=sid)


def test_the_gate_is_loaded_only_when_the_extension_is_not_installed(tmp_path: Path) -> None:
    env = {"PI_CODING_AGENT_DIR": str(tmp_path / "agent"), "HOME": str(tmp_path)}
    flag, path = gate_extension_args(env)
    assert flag == "-e" and Path(path).is_file() and path.endswith("observer.ts")
    install_pi_extension(tmp_path / "agent", str(tmp_path / "spool"))
    assert gate_extension_args(env) == []
