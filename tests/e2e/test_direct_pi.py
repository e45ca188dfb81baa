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
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.install_pi import extension_path
from tests.e2e.conftest import report
from tests.e2e.harness import Lab, open_lab, wait_until
from tests.e2e.test_direct_claude import act, pending, sessions, wait_status
from tests.timeline import collapse

pytestmark = pytest.mark.e2e


@pytest.fixture
def direct_lab(tmp_path: Path, pi_bin: Path) -> Iterator[Lab]:
    opened = open_lab(tmp_path, {"OBSERVER_PI_BIN": str(pi_bin)})
    try:
        yield opened
    finally:
        opened.close()


def install_extension(lab: Lab) -> None:
    lab.observer("install-hooks", "--agent", "pi")
    assert extension_path(lab.pi_agent_dir).is_file()


def launch(lab: Lab, name: str, prompt: str) -> tuple[str, Path]:
    cwd = lab.workdir(name)
    reply = act(lab, type="create_session", agent="pi", cwd=str(cwd), prompt=prompt)
    assert reply.get("ok") is True, reply
    return str(reply["session_id"]), cwd


def session_field(lab: Lab, session_id: str, field: str) -> object:
    with urllib.request.urlopen(f"{lab.observer_url}/api/sessions/{session_id}") as response:
        return json.loads(response.read())["session"][field]


def test_allow_then_follow_up_then_end(direct_lab: Lab) -> None:
    lab = direct_lab
    install_extension(lab)
    sid, cwd = launch(lab, "allow", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    assert asked["tool"] == "bash"
    assert asked["summary"] == "touch perm_test.txt && echo created"
    assert asked["request_id"].startswith("call_")  # the tool call's own id
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
    # Collapsed: a snapshot and a delta can both say the first "waiting".
    wait_until(
        lambda: collapse(lab.recorder.statuses(sid)).count("waiting") >= 2, "the follow-up turn"
    )
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")
    seen = collapse(lab.recorder.statuses(sid))
    expected = ["working", "permission", "working", "waiting", "working", "waiting", "ended"]
    report("pi-direct/allow+follow-up+end", expected, seen)
    assert seen == expected
    # The extension's session_shutdown says "quit"; observer, which ended it, names the reason.
    wait_until(
        lambda: session_field(lab, sid, "ended_reason") == "ended from observer",
        "the reason observer knows",
    )
    assert session_field(lab, sid, "last_message") == "Hello from the fake model. The answer is 42."
    assert lab.recorder.last_session(sid)["control"] == "direct"
    assert sessions(lab) == {sid}  # the extension's spool records landed on the same session


def test_deny_with_the_extension_not_installed(direct_lab: Lab) -> None:
    lab = direct_lab
    assert not extension_path(lab.pi_agent_dir).exists()
    sid, cwd = launch(lab, "deny", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    reply = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="deny"
    )
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting")
    seen = collapse(lab.recorder.statuses(sid))
    report("pi-direct/deny", ["working", "permission", "working", "waiting"], seen)
    assert seen == ["working", "permission", "working", "waiting"]
    assert not (cwd / "perm_test.txt").exists()
    # The model was told why: the tool result is the gate's reason.
    assert "Denied from observer." in str(session_field(lab, sid, "last_message"))
    act(lab, type="end_session", session_id=sid)


def test_interrupt_a_long_tool_call(direct_lab: Lab) -> None:
    lab = direct_lab
    install_extension(lab)
    sid, _ = launch(lab, "interrupt", "[[scenario:slow]] Wait a while")
    asked = pending(lab, sid)
    act(lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="allow")
    wait_status(lab, sid, "working")
    time.sleep(1.0)  # the 30 s command is running now
    started = time.monotonic()
    reply = act(lab, type="interrupt_session", session_id=sid)
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting", timeout=15)
    took = time.monotonic() - started
    assert took < 15
    seen = collapse(lab.recorder.statuses(sid))
    report("pi-direct/interrupt", ["working", "permission", "working", "waiting"], seen)
    assert seen == ["working", "permission", "working", "waiting"]
    assert session_field(lab, sid, "current_tool") is None
    print(f"pi abort during a tool -> waiting in {took:.2f} s")
    act(lab, type="end_session", session_id=sid)
    assert sessions(lab) == {sid}


def test_interrupt_while_an_approval_is_pending(direct_lab: Lab) -> None:
    """The gate's confirm is tied to the run's abort signal: abort dismisses it at once."""
    lab = direct_lab
    install_extension(lab)
    sid, cwd = launch(lab, "abort-pending", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    started = time.monotonic()
    reply = act(lab, type="interrupt_session", session_id=sid)
    assert reply.get("ok") is True, reply
    took = time.monotonic() - started
    wait_status(lab, sid, "waiting", timeout=15)
    seen = collapse(lab.recorder.statuses(sid))
    # The dismissed dialog blocks the call (its tool_execution_end: working, a few ms), then
    # agent_end; both can land in one batch, and then that "working" is never published.
    expected = ["working", "permission", "working", "waiting"]
    report("pi-direct/interrupt-pending", expected, seen)
    assert seen in (expected, ["working", "permission", "waiting"])
    assert took < 5  # not the dialog's timeout: there is none, it would hang forever
    late = act(
        lab, type="approve_tool", session_id=sid, request_id=asked["request_id"], decision="allow"
    )
    assert late["code"] == "already_resolved"
    assert not (cwd / "perm_test.txt").exists()
    act(lab, type="end_session", session_id=sid)


def test_end_then_resume(direct_lab: Lab) -> None:
    """resume_session opens the same session file again (`pi --session <id>`)."""
    lab = direct_lab
    install_extension(lab)
    sid, _ = launch(lab, "resume", "[[scenario:text]] Say hello")
    wait_status(lab, sid, "waiting")
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")
    assert act(lab, type="resume_session", session_id=sid)["ok"]
    wait_status(lab, sid, "waiting")
    assert act(lab, type="send_message", session_id=sid, text="[[scenario:text]] Again")["ok"]
    wait_until(
        lambda: collapse(lab.recorder.statuses(sid))[-2:] == ["working", "waiting"], "the turn"
    )
    assert act(lab, type="end_session", session_id=sid)["ok"]
    wait_status(lab, sid, "ended")
    seen = collapse(lab.recorder.statuses(sid))
    expected = ["working", "waiting", "ended", "waiting", "working", "waiting", "ended"]
    report("pi-direct/end+resume", expected, seen)
    assert seen == expected
    # The resumed pi wrote on in the same session file: both prompts are in it.
    (path,) = (lab.pi_agent_dir / "sessions").glob(f"*/*_{sid}.jsonl")
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    users = [e for e in entries if e.get("message", {}).get("role") == "user"]
    assert len(users) == 2
    assert sessions(lab) == {sid}
