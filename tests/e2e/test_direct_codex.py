"""Codex launched BY observer (a direct session: `codex app-server`), the real 0.169 binary
against the fake LLM, driven by WebSocket clients: launch, an approval arrives with its command,
allow it and the command runs, a follow-up turn, end; deny in another session, end, resume it
for one more turn; steer, then interrupt, a long command. The user's own hooks are installed
and trusted (`observer install-hooks --agent codex`) and the rollout is watched, and still each
thread is exactly one session.

The driver's policy is Codex's interactive default (on-request, workspace-write sandbox): a
command runs in the sandbox unasked, and one the model asks to run outside it waits for the
user, so the fake model's `escalate` scenario asks for exactly that."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.e2e.conftest import report
from tests.e2e.harness import Lab, open_lab, wait_until
from tests.timeline import collapse

pytestmark = pytest.mark.e2e
LAUNCHED: list[str] = []  # the sessions this module's lab launched


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, codex_bin: Path) -> Iterator[Lab]:
    opened = open_lab(
        tmp_path_factory.mktemp("direct-codex"), {"OBSERVER_CODEX_BIN": str(codex_bin)}
    )
    try:
        opened.install_codex_hooks(codex_bin)
        yield opened
    finally:
        opened.close()


def act(lab: Lab, **message: Any) -> dict[str, Any]:
    """Send one action from a fresh client, as a phone would, and return its reply."""
    url = lab.observer_url.replace("http", "ws") + "/ws"
    with connect(url, open_timeout=10) as ws:
        json.loads(ws.recv(timeout=10))  # hello
        ws.send(json.dumps({**message, "ref": "e2e"}))
        while True:
            reply: dict[str, Any] = json.loads(ws.recv(timeout=60))
            if reply.get("ref") == "e2e":
                return reply


def launch(lab: Lab, name: str, prompt: str) -> tuple[str, Path]:
    cwd = lab.workdir(name)
    reply = act(lab, type="create_session", agent="codex", cwd=str(cwd), prompt=prompt)
    assert reply.get("ok") is True, reply
    LAUNCHED.append(str(reply["session_id"]))
    return str(reply["session_id"]), cwd


def wait_status(lab: Lab, session_id: str, status: str, timeout: float = 60) -> None:
    wait_until(
        lambda: lab.recorder.statuses(session_id)[-1:] == [status],
        f"{session_id} to be {status}",
        timeout=timeout,
    )


def pending(lab: Lab, session_id: str) -> dict[str, Any]:
    wait_status(lab, session_id, "permission")
    return lab.recorder.last_pending(session_id)


def snapshot(lab: Lab, session_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{lab.observer_url}/api/sessions/{session_id}") as response:
        session: dict[str, Any] = json.loads(response.read())["session"]
        return session


def created(lab: Lab) -> list[str]:
    with lab.recorder.lock:
        return [m["session_id"] for m in lab.recorder.messages if m["type"] == "session_created"]


def one_session_each(lab: Lab) -> None:
    """Every session this lab shows is one observer launched, created once."""
    assert sorted(created(lab)) == sorted(LAUNCHED)


def check(scenario: str, expected: list[str], seen: list[str]) -> None:
    report(f"codex-direct/{scenario}", expected, seen)
    assert seen == expected


def test_allow_then_follow_up_then_end(lab: Lab) -> None:
    sid, cwd = launch(lab, "allow", "[[scenario:escalate]] Create the file")
    asked = pending(lab, sid)
    assert asked["tool"] == "Bash"
    assert asked["summary"] == "touch perm_test.txt && echo created"
    reply = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="allow"
    )
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting")
    assert (cwd / "perm_test.txt").exists()
    assert "created" in (snapshot(lab, sid)["last_message"] or "")  # the fake quotes the output
    again = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="deny"
    )
    assert again["code"] == "already_resolved"

    assert act(lab, type="send_message", session_id=sid, text="[[scenario:text]] And now?")["ok"]
    wait_until(
        lambda: collapse(lab.recorder.statuses(sid)).count("waiting") >= 2, "the follow-up turn"
    )
    assert "42" in (snapshot(lab, sid)["last_message"] or "")
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")
    seen = collapse(lab.recorder.statuses(sid))
    expected = ["working", "permission", "working", "waiting", "working", "waiting", "ended"]
    check("allow+follow-up+end", expected, seen)
    # Codex's SessionEnd hook says "other"; observer, which ended it, names the reason.
    wait_until(
        lambda: snapshot(lab, sid)["ended_reason"] == "ended from observer",
        "the reason observer knows",
    )
    final = snapshot(lab, sid)
    assert final["control"] == "direct" and final["agent"] == "codex"
    assert final["project"] == "allow"
    # The user's hooks (trusted) and the rollout watcher name this thread too, and what they
    # said landed on this session (only they know the rollout's path): no second session.
    rollouts = list(lab.codex_home.glob(f"sessions/*/*/*/rollout-*-{sid}.jsonl"))
    assert len(rollouts) == 1
    assert stored_state(lab, sid)["transcript_path"] == str(rollouts[0])
    one_session_each(lab)


def test_deny_then_resume(lab: Lab) -> None:
    sid, cwd = launch(lab, "deny", "[[scenario:escalate]] Create the file")
    asked = pending(lab, sid)
    reply = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="deny"
    )
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting")
    check(
        "deny",
        ["working", "permission", "working", "waiting"],
        collapse(lab.recorder.statuses(sid)),
    )
    assert not (cwd / "perm_test.txt").exists()
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")

    # resume_session: a new app-server process takes the same thread (thread/resume).
    resumed = act(lab, type="resume_session", session_id=sid)
    assert resumed.get("ok") is True, resumed
    wait_status(lab, sid, "waiting")
    assert act(lab, type="send_message", session_id=sid, text="[[scenario:text]] Again")["ok"]
    wait_until(lambda: "42" in (snapshot(lab, sid)["last_message"] or ""), "the resumed turn")
    wait_status(lab, sid, "waiting")
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")
    expected = ["working", "permission", "working", "waiting", "ended"]
    expected += ["waiting", "working", "waiting", "ended"]
    report("codex-direct/deny+resume", expected, collapse(lab.recorder.statuses(sid)))
    assert collapse(lab.recorder.statuses(sid)) == expected
    one_session_each(lab)


def test_steer_then_interrupt_a_long_command(lab: Lab) -> None:
    sid, _ = launch(lab, "interrupt", "[[scenario:slow]] Wait a while")
    wait_until(lambda: snapshot(lab, sid)["current_tool"] == "Bash", "the command to run")
    time.sleep(0.5)  # the 30 s command is running now (in the sandbox: nobody was asked)
    steered = act(lab, type="steer_turn", session_id=sid, text="[[scenario:text]] hurry up")
    assert steered.get("ok") is True, steered  # turn/steer: Codex takes it into the running turn
    started = time.monotonic()
    reply = act(lab, type="interrupt_session", session_id=sid)
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting", timeout=15)
    assert time.monotonic() - started < 15
    time.sleep(1.0)  # late events (the killed command's item, hooks, the rollout) keep it waiting
    check("interrupt", ["working", "waiting"], collapse(lab.recorder.statuses(sid)))
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")
    one_session_each(lab)


def stored_state(lab: Lab, session_id: str) -> dict[str, Any]:
    """The session's whole stored state, internal facts included (transcript_path)."""
    with sqlite3.connect(lab.data_dir / "observer.db") as db:
        (row,) = db.execute("select state from sessions where id = ?", (session_id,))
    state: dict[str, Any] = json.loads(row[0])
    return state
