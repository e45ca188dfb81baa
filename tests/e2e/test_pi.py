"""pi, the real binary, against the fake LLM's chat completions API, with observer's pi extension
installed by the real installer: what a running observer shows through the extension's spool
records (and pi's session files, which it tails too). Each test asserts the status sequence a
WebSocket client saw (consecutive repeats collapsed)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from observer.core.state import PROCESS_EXITED
from observer.install.pi import install_pi_extension
from tests.e2e import timeline
from tests.e2e.conftest import report
from tests.e2e.harness import Lab, wait_until
from tests.e2e.pi_cli import PiRpc, install_extension, seen_until_ended
from tests.support.timeline import collapse

pytestmark = pytest.mark.e2e


def run_pi(pi: Path, lab: Lab, cwd: Path, prompt: str) -> subprocess.CompletedProcess[str]:
    install_extension(lab)
    return subprocess.run(
        [str(pi), "-p", prompt],
        cwd=cwd,
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def check(scenario: str, expected: list[str], seen: list[str]) -> None:
    report(f"pi/{scenario}", expected, seen)
    assert seen == expected


def test_text(pi_bin: Path, lab: Lab) -> None:
    done = run_pi(pi_bin, lab, lab.workdir("text"), "[[scenario:text]] Say hello")
    assert done.returncode == 0 and "The answer is 42." in done.stdout
    session = lab.recorder.only_session()
    check("text", ["working", "waiting", "ended"], seen_until_ended(lab, session))
    final = lab.recorder.last_session(session)
    assert final["agent"] == "pi" and final["project"] == "text" and final["git_branch"] == "main"
    assert final["model"] == "fake/fake-gpt" and final["ended_reason"] == "quit"


def test_bash(pi_bin: Path, lab: Lab) -> None:
    """Also the timeline: a client subscribed while pi runs gets it item by item, `show`
    prints it, `search` finds the session (issue 19)."""
    cwd = lab.workdir("bash")
    prompt = "[[scenario:bash]] Create out.txt"
    expected = [
        ("user_message", prompt),
        ("assistant_text", "I'll run a command."),
        ("tool_call", "bash", "echo hello > out.txt && ls"),
        ("tool_result", False),
        ("assistant_text", "Done. The tool said: README.md\nout.txt"),
    ]
    ran: list[subprocess.CompletedProcess[str]] = []
    seen = timeline.watch(lab, lambda: ran.append(run_pi(pi_bin, lab, cwd, prompt)), expected)
    assert ran[0].returncode == 0
    session = lab.recorder.only_session()
    check("bash", ["working", "waiting", "ended"], seen_until_ended(lab, session))
    assert (cwd / "out.txt").read_text() == "hello\n"
    assert "bash" in [m["changes"].get("current_tool") for m in _deltas(lab, session)]
    timeline.check("pi/bash", expected, seen)
    shown = ["bash echo hello > out.txt && ls", "Done. The tool said: README.md"]
    timeline.shown_and_found(lab, session, shown, "out.txt", "the tool said")


def test_edit(pi_bin: Path, lab: Lab) -> None:
    """A read, then an edit: its diff in the timeline, printed by `show` (issue 19)."""
    cwd = lab.workdir("edit")
    prompt = "[[scenario:edit]] Retitle the readme"
    change = ["-# edit", "+# edit, edited by the fake model"]
    expected = [
        ("user_message", prompt),
        ("assistant_text", "I'll read README.md first."),
        ("tool_call", "read", "README.md"),
        ("tool_result", False),
        ("assistant_text", "Now the edit."),
        ("tool_call", "edit", "README.md"),
        ("tool_result", False),
        ("file_change", "README.md", change),
        ("assistant_text", "Done. README.md has its new title line."),
    ]
    ran: list[subprocess.CompletedProcess[str]] = []
    seen = timeline.watch(lab, lambda: ran.append(run_pi(pi_bin, lab, cwd, prompt)), expected)
    assert ran[0].returncode == 0
    session = lab.recorder.only_session()
    check("edit", ["working", "waiting", "ended"], seen_until_ended(lab, session))
    assert (cwd / "README.md").read_text() == "# edit, edited by the fake model\n"
    timeline.check("pi/edit", expected, seen)
    shown = ["edit README.md", *(f"    {line}" for line in change)]
    timeline.shown_and_found(lab, session, shown, "Retitle", "new title line")


def test_an_unwritable_spool_never_hurts_pi(pi_bin: Path, lab: Lab) -> None:
    blocker = lab.root / "a-file"
    blocker.write_text("the spool cannot be created under a file\n")
    install_pi_extension(lab.pi_agent_dir, str(blocker / "spool"))
    done = subprocess.run(
        [str(pi_bin), "-p", "[[scenario:bash]] Create out.txt"],
        cwd=lab.workdir("unwritable"),
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "out.txt" in done.stdout
    assert done.stderr == ""


def test_rpc_abort_waits_then_quit_ends(pi_bin: Path, lab: Lab) -> None:
    """RPC `abort` during a long tool: observer shows waiting, not a stuck working; closing
    stdin makes pi quit, and the session ends."""
    rpc = PiRpc(pi_bin, lab, lab.workdir("abort"))
    try:
        session = rpc.session_id()
        rpc.send({"type": "prompt", "message": "[[scenario:slow]] Wait a while"})
        rpc.response("prompt")
        wait_until(lambda: _current_tool(lab, session) == "bash", "the slow command to start")
        rpc.send({"type": "abort"})
        rpc.response("abort")
        wait_until(lambda: lab.recorder.statuses(session)[-1:] == ["waiting"], "waiting", 20)
    finally:
        status = rpc.close()
    assert status == 0
    check("rpc_abort", ["working", "waiting", "ended"], seen_until_ended(lab, session))


def test_sigkill_ends_the_session(pi_bin: Path, lab: Lab) -> None:
    """No session_shutdown from a killed pi: the liveness check sees its pid gone."""
    rpc = PiRpc(pi_bin, lab, lab.workdir("sigkill"))
    try:
        session = rpc.session_id()
        rpc.send({"type": "prompt", "message": "[[scenario:slowtext]] Tell me a long story"})
        wait_until(lambda: lab.recorder.statuses(session)[-1:] == ["working"], "working")
        rpc.process.send_signal(signal.SIGKILL)
        rpc.process.wait(timeout=10)  # reaped: a zombie would still answer kill(pid, 0)
        killed = time.monotonic()
        wait_until(lambda: lab.recorder.ended_count(session) >= 1, "ended", 20)
        took = time.monotonic() - killed
    finally:
        rpc.close()
    check("sigkill", ["working", "ended"], collapse(lab.recorder.statuses(session)))
    print(f"pi SIGKILL -> ended in {took:.2f} s")
    # One liveness interval (1 s in the lab) plus a batch: under a second on an idle machine.
    assert took < 10.0
    assert lab.recorder.last_session(session)["ended_reason"] == PROCESS_EXITED


def _deltas(lab: Lab, session_id: str) -> list[dict[str, Any]]:
    with lab.recorder.lock:
        return [
            m
            for m in lab.recorder.messages
            if m.get("session_id") == session_id and m["type"] == "session_delta"
        ]


def _current_tool(lab: Lab, session_id: str) -> object:
    with lab.recorder.lock:
        messages = [m for m in lab.recorder.messages if m.get("session_id") == session_id]
    for message in reversed(messages):
        fields = message.get("changes") or message.get("session") or {}
        if "current_tool" in fields:
            return fields["current_tool"]
    return None
