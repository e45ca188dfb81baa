"""Codex sessions observer launches, through the whole server (in process), with a stand-in `codex
app-server` (tests/support/fake_codex_appserver.py): launch, approve, deny, two clients racing
on one approval, a file change, steer, interrupt (confirmed and forced), a failed turn, a child
that dies, end, and resume after a restart."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from observer.direct.codex import DEFAULT_POLICY, thread_policy
from observer.settings import load_settings
from tests.support.direct_client import (
    Client,
    again_then_end,
    allow_and_deny_are_audited,
    asked,
    child_dies_mid_turn,
    fake_launcher,
    launch_then_stop,
    running,
    session,
    settle,
    two_answers_race,
    unconfirmed_interrupt_is_forced,
)


@pytest.fixture
def fake_codex_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fake_launcher(tmp_path, monkeypatch, "codex")


@pytest.fixture
async def app(fake_codex_bin: Path) -> AsyncIterator[Quart]:
    async with running() as application:
        yield application


async def launch(client: Client, workdir: Path, prompt: str | None) -> str:
    return await client.launch("codex", workdir, prompt=prompt)


def calls(workdir: Path, method: str) -> list[dict[str, Any]]:
    lines = (workdir / "appserver_calls.jsonl").read_text().splitlines()
    return [json.loads(line)["params"] for line in lines if json.loads(line)["method"] == method]


async def test_launch_text_and_end(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "hello there")
        first = await client.until(sid, "working")
        assert first["type"] == "session_created"  # launched with a prompt: working at once
        await client.until(sid, "waiting")
        state = await session(app, sid)
        assert state["agent"] == "codex" and state["control"] == "direct"
        assert state["capabilities"] == [
            "send_message",
            "steer_turn",
            "interrupt_session",
            "approve_tool",
            "end_session",
            "resume_session",
        ]
        assert state["last_message"] == "echo: hello there" and state["title"] == "hello there"
        assert state["model"] == "gpt-fake" and state["project"] == "project"
        (started,) = calls(workdir, "thread/start")
        assert started == {"cwd": str(workdir), **DEFAULT_POLICY}
        assert calls(workdir, "turn/start")[0]["threadId"] == sid

        await again_then_end(client, app, sid)


async def test_approve_allow_runs_the_command(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        pending = await asked(client, app, sid)
        assert pending["tool"] == "Bash" and pending["summary"] == "touch perm.txt"
        assert pending["request_id"] == "call_000000000000000000000001"
        reply = await client.approve(sid, pending["request_id"], "allow", scope="session")
        assert reply["ok"], reply
        await client.turn(sid)
        assert json.loads((workdir / "perm.txt").read_text()) == {"decision": "acceptForSession"}
        assert (await session(app, sid))["last_message"] == "ran it"


async def test_deny_and_a_second_answer_is_already_resolved(app: Quart, workdir: Path) -> None:
    await two_answers_race(app, "codex", workdir)


async def test_an_allow_and_a_deny_are_audited(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await allow_and_deny_are_audited(app, "codex", "Bash", workdir, monkeypatch)


async def test_an_answer_before_the_request_waits_for_it(app: Quart, workdir: Path) -> None:
    """The user's PermissionRequest hook runs before Codex asks us: a client may answer a call
    of the running turn before the driver has its request; the answer waits for it."""
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[late]] go")
        await settle(app, sid, "current_tool", "Bash", pause=0.02)
        assert (await session(app, sid))["status"] == "working"  # not asked yet
        started = time.monotonic()
        reply = await client.approve(sid, "call_000000000000000000000001", "allow")
        assert reply["ok"], reply
        assert time.monotonic() - started < 5
        await client.until(sid, "waiting")
        assert json.loads((workdir / "perm.txt").read_text()) == {"decision": "accept"}


async def test_deny_declines(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[perm]] go")
        request_id = (await asked(client, app, sid))["request_id"]
        reply = await client.approve(sid, request_id, "deny")
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        assert not (workdir / "perm.txt").exists()
        assert (await session(app, sid))["last_message"] == "it was declined"


async def test_a_file_change_approval_names_the_files(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[patch]]")
        pending = await asked(client, app, sid)
        assert pending["tool"] == "apply_patch"
        assert pending["summary"] == str(workdir / "hello.txt")
        reply = await client.approve(sid, pending["request_id"], "allow")
        assert reply["ok"], reply
        await client.until(sid, "waiting")
        assert json.loads((workdir / "patch.json").read_text()) == {"decision": "accept"}


async def test_steer_then_interrupt_a_long_command(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[slow]]")
        await client.until(sid, "working")
        await settle(app, sid, "current_tool", "Bash", pause=0.02)
        busy = await client.act(type="send_message", session_id=sid, text="another")
        assert busy["code"] == "bad_request" and "steer_turn" in busy["message"]
        assert (await client.act(type="steer_turn", session_id=sid, text="hurry"))["ok"]
        assert (workdir / "steer.txt").read_text() == "hurry"
        assert (await client.act(type="interrupt_session", session_id=sid))["ok"]
        await client.until(sid, "waiting")
        assert (await session(app, sid))["current_tool"] is None
        idle = await client.act(type="interrupt_session", session_id=sid)
        assert idle["code"] == "bad_request"
        assert (await client.act(type="steer_turn", session_id=sid, text="x"))["code"] == (
            "bad_request"
        )


async def test_an_unconfirmed_interrupt_is_forced(
    app: Quart, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await unconfirmed_interrupt_is_forced(app, "codex", workdir, monkeypatch)


async def test_a_failed_turn_shows_its_error(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, "[[fail]]")
        await client.turn(sid)
        assert "high demand" in (await session(app, sid))["error"]


async def test_a_child_that_dies_mid_turn_ends_within_2_s(app: Quart, workdir: Path) -> None:
    await child_dies_mid_turn(app, "codex", workdir)


async def test_launch_without_a_prompt_waits(app: Quart, workdir: Path) -> None:
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        sid = await launch(client, workdir, None)
        await client.until(sid, "waiting")
        assert calls(workdir, "turn/start") == []
        assert (await client.act(type="end_session", session_id=sid))["ok"]
        await client.until(sid, "ended")


async def test_a_codex_that_refuses_to_start_is_a_launch_failure(
    app: Quart, workdir: Path, fake_codex_bin: Path
) -> None:
    fake_codex_bin.write_text("#!/bin/sh\nexit 1\n")
    async with app.test_client().websocket("/ws") as ws:
        client = await Client(ws).open()
        reply = await client.act(type="create_session", agent="codex", cwd=str(workdir))
        assert reply["code"] == "launch_failed", reply


async def test_shutdown_then_resume_continues_the_thread(
    fake_codex_bin: Path, workdir: Path
) -> None:
    settings = load_settings(liveness_interval=0)
    sid = await launch_then_stop("codex", workdir, settings)
    async with running(settings) as app:
        state = await session(app, sid)
        assert state["status"] == "ended"
        resumed = await app.test_client().post(f"/api/sessions/{sid}/resume_session", json={})
        assert resumed.status_code == 200, await resumed.get_json()
        (resume,) = calls(workdir, "thread/resume")
        assert resume["threadId"] == sid and resume["excludeTurns"] is True
        sent = await app.test_client().post(
            f"/api/sessions/{sid}/send_message", json={"text": "two"}
        )
        assert sent.status_code == 200
        state = await settle(app, sid, "last_message", "echo: two")
        assert state["last_message"] == "echo: two"


def test_the_users_config_chooses_its_own_policy(tmp_path: Path) -> None:
    assert thread_policy(tmp_path) == DEFAULT_POLICY
    (tmp_path / "config.toml").write_text('approval_policy = "untrusted"\n')
    assert thread_policy(tmp_path) == {"sandbox": "workspace-write"}
    (tmp_path / "config.toml").write_text("not [ toml")
    assert thread_policy(tmp_path) == DEFAULT_POLICY
