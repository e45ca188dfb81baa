"""pi launched BY observer (a direct session): the real `pi --mode rpc` against the fake LLM's
chat completions, driven by a WebSocket client. pi has no permission prompt: observer's own pi
extension, in gate mode, holds the bash call on a confirm dialog that reaches observer as an
extension_ui_request. Allow it and the command runs; deny it in another run; abort a long tool
call; send a follow-up; end. The extension is installed as a user installs it (its spool records
name the same session: still one session), except in the deny run, where observer loads it
itself (-e) for the gate alone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.install.pi import extension_path
from tests.e2e.conftest import report
from tests.e2e.direct import (
    ALLOW_FOLLOW_UP_END,
    act,
    allow_then_answer_again,
    approve,
    check,
    deny,
    direct_lab,
    end,
    ended_from_observer,
    follow_up,
    interrupt_once_allowed,
    launch,
    pending,
    sessions,
    snapshot,
    statuses,
    wait_status,
)
from tests.e2e.harness import Lab, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def lab(tmp_path: Path, pi_bin: Path) -> Iterator[Lab]:
    with direct_lab(tmp_path, {"OBSERVER_PI_BIN": str(pi_bin)}) as opened:
        yield opened


def install_extension(lab: Lab) -> None:
    lab.observer("install-hooks", "--agent", "pi")
    assert extension_path(lab.pi_agent_dir).is_file()


def test_allow_then_follow_up_then_end(lab: Lab) -> None:
    install_extension(lab)
    prompt = "[[scenario:perm]] Create the file"
    sid, _, asked = allow_then_answer_again(lab, "pi", prompt, "bash")
    assert asked["request_id"].startswith("call_")  # the tool call's own id
    follow_up(lab, sid)
    end(lab, sid)
    check("pi-direct/allow+follow-up+end", ALLOW_FOLLOW_UP_END, lab, sid)
    # The extension's session_shutdown says "quit".
    ended_from_observer(lab, sid)
    assert snapshot(lab, sid)["last_message"] == "Hello from the fake model. The answer is 42."
    assert lab.recorder.last_session(sid)["control"] == "direct"
    assert sessions(lab) == {sid}  # the extension's spool records landed on the same session


def test_deny_with_the_extension_not_installed(lab: Lab) -> None:
    assert not extension_path(lab.pi_agent_dir).exists()
    sid, _ = deny(lab, "pi", "[[scenario:perm]] Create the file")
    # The model was told why: the tool result is the gate's reason.
    assert "Denied from observer." in str(snapshot(lab, sid)["last_message"])
    act(lab, type="end_session", session_id=sid)


def test_interrupt_a_long_tool_call(lab: Lab) -> None:
    install_extension(lab)
    sid, took = interrupt_once_allowed(lab, "pi")
    assert snapshot(lab, sid)["current_tool"] is None
    print(f"pi abort during a tool -> waiting in {took:.2f} s")
    act(lab, type="end_session", session_id=sid)
    assert sessions(lab) == {sid}


def test_interrupt_while_an_approval_is_pending(lab: Lab) -> None:
    """The gate's confirm is tied to the run's abort signal: abort dismisses it at once."""
    install_extension(lab)
    sid, cwd = launch(lab, "pi", "abort-pending", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    started = time.monotonic()
    reply = act(lab, type="interrupt_session", session_id=sid)
    assert reply.get("ok") is True, reply
    took = time.monotonic() - started
    wait_status(lab, sid, "waiting", timeout=15)
    seen = statuses(lab, sid)
    # The dismissed dialog blocks the call (its tool_execution_end: working, a few ms), then
    # agent_end; both can land in one batch, and then that "working" is never published.
    expected = ["working", "permission", "working", "waiting"]
    report("pi-direct/interrupt-pending", expected, seen)
    assert seen in (expected, ["working", "permission", "waiting"])
    assert took < 5  # not the dialog's timeout: there is none, it would hang forever
    late = approve(lab, sid, asked["request_id"], "allow")
    assert late["code"] == "already_resolved"
    assert not (cwd / "perm_test.txt").exists()
    act(lab, type="end_session", session_id=sid)


def test_end_then_resume(lab: Lab) -> None:
    """resume_session opens the same session file again (`pi --session <id>`)."""
    install_extension(lab)
    sid, _ = launch(lab, "pi", "resume", "[[scenario:text]] Say hello")
    wait_status(lab, sid, "waiting")
    end(lab, sid)
    assert act(lab, type="resume_session", session_id=sid)["ok"]
    wait_status(lab, sid, "waiting")
    assert act(lab, type="send_message", session_id=sid, text="[[scenario:text]] Again")["ok"]
    wait_until(lambda: statuses(lab, sid)[-2:] == ["working", "waiting"], "the turn")
    end(lab, sid)
    expected = ["working", "waiting", "ended", "waiting", "working", "waiting", "ended"]
    check("pi-direct/end+resume", expected, lab, sid)
    # The resumed pi wrote on in the same session file: both prompts are in it.
    (path,) = (lab.pi_agent_dir / "sessions").glob(f"*/*_{sid}.jsonl")
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    users = [e for e in entries if e.get("message", {}).get("role") == "user"]
    assert len(users) == 2
    assert sessions(lab) == {sid}
