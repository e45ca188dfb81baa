"""Claude Code, the real binary, headless, against the fake LLM, observed through hooks and the
session registry by a running observer. Each test asserts the status sequence a WebSocket
client saw (consecutive repeats collapsed)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import timeline
from tests.e2e.conftest import report
from tests.e2e.harness import Lab, StreamSession, wait_until
from tests.support.timeline import collapse

pytestmark = pytest.mark.e2e
STREAM = ["--output-format", "stream-json", "--verbose"]


def run_claude(claude: Path, lab: Lab, cwd: Path, prompt: str, *args: str) -> tuple[int, str]:
    """`claude -p PROMPT ARGS` to the end; returns (exit status, session id)."""
    done = subprocess.run(
        [str(claude), "-p", prompt, *STREAM, *args],
        cwd=cwd,
        env=lab.env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    for line in done.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "system" and message.get("subtype") == "init":
            return done.returncode, str(message["session_id"])
    raise AssertionError(f"no init message from claude:\n{done.stdout}\n{done.stderr}")


def seen_until_ended(lab: Lab, session_id: str, ends: int = 1) -> list[str]:
    wait_until(lambda: lab.recorder.ended_count(session_id) >= ends, f"{session_id} to end")
    _TRACE[:] = [
        f"{m.get('status')}<-{(m.get('event') or {}).get('wire')}"
        for m in lab.recorder.messages
        if m.get("session_id") == session_id and m.get("status")
    ]
    return collapse(lab.recorder.statuses(session_id))


# The last session's statuses with the event behind each: a rare flicker under load (seen once:
# permission, working, permission) says what caused it when it fails again.
_TRACE: list[str] = []


def check(scenario: str, expected: list[str], seen: list[str]) -> None:
    report(f"claude/{scenario}", expected, seen)
    assert seen == expected, "statuses and their events: " + ", ".join(_TRACE)


def test_text(claude_bin: Path, lab: Lab) -> None:
    _, session = run_claude(claude_bin, lab, lab.workdir("text"), "[[scenario:text]] Say hello")
    check("text", ["working", "waiting", "ended"], seen_until_ended(lab, session))
    final = lab.recorder.last_session(session)
    assert final["project"] == "text" and final["git_branch"] == "main"
    assert final["title"] == "[[scenario:text]] Say hello"


def test_bash(claude_bin: Path, lab: Lab) -> None:
    """Also the timeline: a client subscribed while Claude runs gets it item by item, `show`
    prints it, `search` finds the session (issue 19)."""
    cwd = lab.workdir("bash")
    prompt = "[[scenario:bash]] Create out.txt"
    expected = [
        ("user_message", prompt),
        ("assistant_text", "I'll run a command."),
        ("tool_call", "Bash", "echo hello > out.txt && ls"),
        ("tool_result", False),
        ("assistant_text", "Done. The tool said: README.md\nout.txt"),
    ]
    seen = timeline.watch(
        lab, lambda: run_claude(claude_bin, lab, cwd, prompt, "--allowedTools", "Bash"), expected
    )
    session = lab.recorder.only_session()
    check("bash", ["working", "waiting", "ended"], seen_until_ended(lab, session))
    assert (cwd / "out.txt").read_text() == "hello\n"
    tools = [m["changes"].get("current_tool") for m in _deltas(lab, session)]
    assert "Bash" in tools
    timeline.check("claude/bash", expected, seen)
    shown = ["Bash echo hello > out.txt && ls", "Done. The tool said: README.md"]
    timeline.shown_and_found(lab, session, shown, "out.txt", "the tool said")


def test_edit(claude_bin: Path, lab: Lab) -> None:
    """A Read, then an Edit: its diff in the timeline, printed by `show` (issue 19)."""
    cwd = lab.workdir("edit")
    prompt = "[[scenario:edit]] Retitle the readme"
    change = ["-# edit", "+# edit, edited by the fake model"]
    expected = [
        ("user_message", prompt),
        ("assistant_text", "I'll read README.md first."),
        ("tool_call", "Read", "README.md"),
        ("tool_result", False),
        ("assistant_text", "Now the edit."),
        ("tool_call", "Edit", "README.md"),
        ("tool_result", False),
        ("file_change", "README.md", change),
        ("assistant_text", "Done. README.md has its new title line."),
    ]
    seen = timeline.watch(
        lab,
        lambda: run_claude(claude_bin, lab, cwd, prompt, "--allowedTools", "Read,Edit"),
        expected,
    )
    session = lab.recorder.only_session()
    check("edit", ["working", "waiting", "ended"], seen_until_ended(lab, session))
    assert (cwd / "README.md").read_text() == "# edit, edited by the fake model\n"
    timeline.check("claude/edit", expected, seen)
    shown = ["Edit README.md", "update README.md", *(f"    {line}" for line in change)]
    timeline.shown_and_found(lab, session, shown, "Retitle", "new title line")


def test_permission_denied_by_policy(claude_bin: Path, lab: Lab) -> None:
    """Plain -p has nobody to ask: Claude asks (PermissionRequest), then denies at once."""
    cwd = lab.workdir("perm")
    _, session = run_claude(claude_bin, lab, cwd, "[[scenario:perm]] Create perm_test.txt")
    seen = seen_until_ended(lab, session)
    # The denied call's end (PostToolUseFailure) comes from an async hook, the turn's Stop from a
    # synchronous one: on a loaded box the first can land after the second, and a tool end after
    # the turn is over changes nothing, so the few milliseconds of "working" between go unseen
    # (once in a CI run beside two CPU burners). Both orders end where they should.
    expected = ["working", "permission", "working", "waiting", "ended"]
    if seen == ["working", "permission", "waiting", "ended"]:
        expected = seen
    check("permission_denied", expected, seen)
    assert not (cwd / "perm_test.txt").exists()
    asked = [m for m in _deltas(lab, session) if m["status"] == "permission"]
    pending = asked[0]["changes"]["pending"]
    assert pending["tool"] == "Bash" and pending["summary"] == "touch perm_test.txt && echo created"
    assert pending["request_id"].startswith("toolu_e2e_")


def test_question_answered_by_the_host(claude_bin: Path, lab: Lab) -> None:
    """AskUserQuestion needs a permission host (stream-json + stdio prompt tool): while it waits
    for our answer, observer must show `question` with the question text."""
    host = StreamSession(
        claude_bin, lab, lab.workdir("question"), "--permission-prompt-tool", "stdio"
    )
    seen_pending: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        wait_until(lambda: lab.recorder.statuses(host.session_id)[-1:] == ["question"], "question")
        # The registry may say "waiting for input" before the hook names the question.
        wait_until(lambda: lab.recorder.last_pending(host.session_id).get("summary"), "text", 10)
        seen_pending.append(lab.recorder.last_pending(host.session_id))
        questions = request["input"]["questions"]
        return {
            "behavior": "allow",
            "updatedInput": {"questions": questions, "answers": {questions[0]["question"]: "Blue"}},
        }

    try:
        host.start()
        host.user("[[scenario:question]] Ask me which color I like")
        host.read_until("result", on_permission=answer)
    finally:
        host.close()
    check(
        "question",
        ["working", "question", "working", "waiting", "ended"],
        seen_until_ended(lab, host.session_id),
    )
    assert seen_pending[0]["kind"] == "question"
    assert seen_pending[0]["summary"] == "Which color do you prefer?"


def test_permission_answered_by_the_host(claude_bin: Path, lab: Lab) -> None:
    cwd = lab.workdir("perm_host")
    host = StreamSession(claude_bin, lab, cwd, "--permission-prompt-tool", "stdio")

    def allow(request: dict[str, Any]) -> dict[str, Any]:
        wait_until(lambda: lab.recorder.statuses(host.session_id)[-1:] == ["permission"], "perm")
        return {"behavior": "allow", "updatedInput": request["input"]}

    try:
        host.start()
        host.user("[[scenario:perm]] Create perm_test.txt")
        host.read_until("result", on_permission=allow)
    finally:
        host.close()
    check(
        "permission_allowed",
        ["working", "permission", "working", "waiting", "ended"],
        seen_until_ended(lab, host.session_id),
    )
    assert (cwd / "perm_test.txt").exists()


def test_api_error(claude_bin: Path, lab: Lab) -> None:
    status, session = run_claude(
        claude_bin, lab, lab.workdir("apierror"), "[[scenario:apierror]] Say hello"
    )
    assert status != 0
    check("api_error", ["working", "waiting", "ended"], seen_until_ended(lab, session))


def test_resume_keeps_one_session(claude_bin: Path, lab: Lab) -> None:
    cwd = lab.workdir("resume")
    _, first = run_claude(claude_bin, lab, cwd, "[[scenario:text]] Say hello")
    seen_until_ended(lab, first)
    _, resumed = run_claude(
        claude_bin,
        lab,
        cwd,
        "[[scenario:bash]] Now a command",
        "--resume",
        first,
        "--allowedTools",
        "Bash",
    )
    assert resumed == first
    expected = ["working", "waiting", "ended", "working", "waiting", "ended"]
    check("resume", expected, seen_until_ended(lab, first, ends=2))
    revisions = [m["revision"] for m in lab.recorder.messages if m.get("session_id") == first]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


def test_interrupt_is_seen_although_no_hook_fires(claude_bin: Path, lab: Lab) -> None:
    """stream-json `interrupt` during a long Bash call: only the registry shows it."""
    host = StreamSession(claude_bin, lab, lab.workdir("interrupt"), "--allowedTools", "Bash")
    try:
        host.start()
        host.user("[[scenario:slow]] Run the long command")
        session = lab.recorder.only_session()
        wait_until(lambda: "Bash" in _current_tools(lab, session), "the Bash call to start")
        time.sleep(0.5)
        host.control("interrupt")
        wait_until(lambda: lab.recorder.statuses(session)[-1:] == ["waiting"], "waiting", 15)
        host.read_until("result")
        host.user("[[scenario:text]] Are you still there?")
        host.read_until("result")
    finally:
        host.close()
    expected = ["working", "waiting", "working", "waiting", "ended"]
    check("interrupt", expected, seen_until_ended(lab, session))


def _deltas(lab: Lab, session_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in lab.recorder.messages
        if m.get("session_id") == session_id and m["type"] == "session_delta"
    ]


def _current_tools(lab: Lab, session_id: str) -> list[object]:
    return [m["changes"].get("current_tool") for m in _deltas(lab, session_id)]
