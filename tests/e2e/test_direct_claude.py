"""Claude Code launched BY observer (a direct session), the real binary against the fake LLM,
driven by a WebSocket client: launch, a permission arrives with its tool and input, allow it
and the command runs; deny it in another run; interrupt a long tool call; send a follow-up; end.
The user's own hooks are installed too (the lab installs them), and still one session exists."""

from __future__ import annotations

import json
import os
import signal
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


@pytest.fixture
def direct_lab(tmp_path: Path, claude_bin: Path) -> Iterator[Lab]:
    opened = open_lab(tmp_path, {"OBSERVER_CLAUDE_BIN": str(claude_bin)})
    try:
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
    reply = act(lab, type="create_session", agent="claude", cwd=str(cwd), prompt=prompt)
    assert reply.get("ok") is True, reply
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


def sessions(lab: Lab) -> set[str]:
    with lab.recorder.lock:
        return {m["session_id"] for m in lab.recorder.messages if "session_id" in m}


def test_allow_then_follow_up_then_end(direct_lab: Lab) -> None:
    lab = direct_lab
    sid, cwd = launch(lab, "allow", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    assert asked["tool"] == "Bash"
    assert asked["summary"] == "touch perm_test.txt && echo created"
    reply = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="allow"
    )
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting")
    assert (cwd / "perm_test.txt").exists()
    again = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="deny"
    )
    assert again["code"] == "already_resolved"

    assert act(lab, type="send_message", session_id=sid, text="[[scenario:text]] And now?")["ok"]
    wait_until(lambda: lab.recorder.statuses(sid).count("waiting") >= 2, "the follow-up turn")
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")
    seen = collapse(lab.recorder.statuses(sid))
    expected = ["working", "permission", "working", "waiting", "working", "waiting", "ended"]
    report("claude-direct/allow+follow-up+end", expected, seen)
    assert seen == expected

    def ended_reason() -> object:
        with urllib.request.urlopen(f"{lab.observer_url}/api/sessions/{sid}") as response:
            return json.loads(response.read())["session"]["ended_reason"]

    # Claude's own SessionEnd hook says "other"; observer, which ended it, names the reason.
    wait_until(lambda: ended_reason() == "ended from observer", "the reason observer knows")
    assert lab.recorder.last_session(sid)["control"] == "direct"
    assert sessions(lab) == {sid}  # the user's hooks fired too, onto the same session


def test_deny(direct_lab: Lab) -> None:
    lab = direct_lab
    sid, cwd = launch(lab, "deny", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    reply = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="deny"
    )
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting")
    seen = collapse(lab.recorder.statuses(sid))
    report("claude-direct/deny", ["working", "permission", "working", "waiting"], seen)
    assert seen == ["working", "permission", "working", "waiting"]
    assert not (cwd / "perm_test.txt").exists()
    act(lab, type="end_session", session_id=sid)


def test_interrupt_a_long_tool_call(direct_lab: Lab) -> None:
    lab = direct_lab
    sid, _ = launch(lab, "interrupt", "[[scenario:slow]] Wait a while")
    asked = pending(lab, sid)
    act(lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="allow")
    wait_status(lab, sid, "working")
    time.sleep(1.0)  # the 30 s command is running now
    started = time.monotonic()
    reply = act(lab, type="interrupt_session", session_id=sid)
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting", timeout=15)
    assert time.monotonic() - started < 15
    seen = collapse(lab.recorder.statuses(sid))
    report("claude-direct/interrupt", ["working", "permission", "working", "waiting"], seen)
    assert seen == ["working", "permission", "working", "waiting"]
    act(lab, type="end_session", session_id=sid)


def test_killing_the_agent_mid_turn_ends_the_session_within_2_s(direct_lab: Lab) -> None:
    lab = direct_lab
    sid, _ = launch(lab, "killed", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    assert asked  # mid-turn: Claude is waiting on our approval
    with urllib.request.urlopen(f"{lab.observer_url}/api/sessions/{sid}") as response:
        pid = json.loads(response.read())["session"]["pid"]
    assert isinstance(pid, int) and pid > 0
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_status(lab, sid, "ended", timeout=10)
    took = time.monotonic() - started
    with urllib.request.urlopen(f"{lab.observer_url}/api/sessions/{sid}") as response:
        reason = json.loads(response.read())["session"]["ended_reason"]
    report(
        "claude-direct/killed",
        ["ended < 2 s", "process killed (SIGKILL)"],
        [f"ended in {took:.2f} s", reason],
    )
    assert took < 2, took
    assert reason == "process killed (SIGKILL)"
