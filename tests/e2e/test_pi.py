"""pi, the real binary, against the fake LLM's chat completions API, with observer's pi extension
installed by the real installer: what a running observer shows through the extension's spool
records (and pi's session files, which it tails too). Each test asserts the status sequence a
WebSocket client saw (consecutive repeats collapsed)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from observer.core.state import PROCESS_EXITED
from observer.install.pi import EXTENSION_NAME, install_pi_extension
from tests.e2e import timeline
from tests.e2e.conftest import report
from tests.e2e.harness import Lab, wait_until
from tests.support.timeline import collapse

pytestmark = pytest.mark.e2e


def install_extension(lab: Lab) -> None:
    """The real installer, as a user runs it (pi's agent dir from $PI_CODING_AGENT_DIR)."""
    command = [sys.executable, "-m", "observer", "install-hooks", "--agent", "pi"]
    done = subprocess.run(
        [*command, "--data-dir", str(lab.data_dir)],
        env=lab.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (lab.pi_agent_dir / "extensions" / EXTENSION_NAME).is_file()


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


class PiRpc:
    """`pi --mode rpc`: JSON commands on stdin, responses and events on stdout (read by a
    thread, so a silent pi fails the test instead of hanging it)."""

    def __init__(self, pi: Path, lab: Lab, cwd: Path) -> None:
        install_extension(lab)
        self.process = subprocess.Popen(
            [str(pi), "--mode", "rpc"],
            cwd=cwd,
            env=lab.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                continue

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def response(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if message.get("type") == "response" and message.get("command") == command:
                assert message.get("success"), message
                return message

    def session_id(self) -> str:
        self.send({"type": "get_state"})
        return str(self.response("get_state")["data"]["sessionId"])

    def close(self) -> int:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.reader.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()


def check(scenario: str, expected: list[str], seen: list[str]) -> None:
    report(f"pi/{scenario}", expected, seen)
    assert seen == expected


def seen_until_ended(lab: Lab, session_id: str) -> list[str]:
    wait_until(lambda: lab.recorder.ended_count(session_id) >= 1, f"{session_id} to end")
    return collapse(lab.recorder.statuses(session_id))


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
