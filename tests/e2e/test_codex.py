"""Codex, the real binary, `codex exec` against the fake LLM's Responses API, observed by a
running observer through the rollout file Codex writes under $CODEX_HOME/sessions. Rollouts never
record a session end, so these sessions stop at `waiting`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import report
from tests.e2e.harness import Lab, wait_until
from tests.timeline import collapse

pytestmark = pytest.mark.e2e


def run_codex(codex: Path, lab: Lab, cwd: Path, prompt: str, *args: str) -> tuple[int, str]:
    """`codex exec --json ARGS PROMPT` to the end; returns (exit status, thread id)."""
    done = subprocess.run(
        [str(codex), "exec", "--json", "--skip-git-repo-check", *args, prompt],
        cwd=cwd,
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in done.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "thread.started":
            return done.returncode, str(message["thread_id"])
    raise AssertionError(f"no thread.started from codex:\n{done.stdout}\n{done.stderr}")


def seen_until(lab: Lab, session_id: str, last: str) -> list[str]:
    wait_until(lambda: lab.recorder.statuses(session_id)[-1:] == [last], f"{session_id}: {last}")
    return collapse(lab.recorder.statuses(session_id))


def check(scenario: str, expected: list[str], seen: list[str]) -> None:
    report(f"codex/{scenario}", expected, seen)
    assert seen == expected


def test_text(codex_bin: Path, lab: Lab) -> None:
    status, session = run_codex(codex_bin, lab, lab.workdir("text"), "[[scenario:text]] Say hi")
    assert status == 0
    check("text", ["working", "waiting"], seen_until(lab, session, "waiting"))
    final = lab.recorder.last_session(session)
    assert final["agent"] == "codex" and final["project"] == "text"


def test_bash(codex_bin: Path, lab: Lab) -> None:
    cwd = lab.workdir("bash")
    status, session = run_codex(
        codex_bin,
        lab,
        cwd,
        "[[scenario:bash]] Create out.txt",
        "--dangerously-bypass-approvals-and-sandbox",
    )
    assert status == 0
    check("bash", ["working", "waiting"], seen_until(lab, session, "waiting"))
    assert (cwd / "out.txt").read_text() == "hello\n"
    assert "exec_command" in _current_tools(lab, session)
    messages = [
        m["changes"]["last_message"]
        for m in _deltas(lab, session)
        if m["changes"].get("last_message")
    ]
    assert "out.txt" in messages[-1]  # the command's output, as the fake model quoted it


def test_hooks_end_the_session(codex_bin: Path, lab: Lab) -> None:
    """With our hooks in $CODEX_HOME/hooks.json, SessionEnd (fired when exec exits) ends it."""
    lab.install_codex_hooks()
    cwd = lab.workdir("hooks")
    status, session = run_codex(
        codex_bin,
        lab,
        cwd,
        "[[scenario:bash]] Create out.txt",
        "--dangerously-bypass-approvals-and-sandbox",
        "--dangerously-bypass-hook-trust",
    )
    assert status == 0
    wait_until(lambda: lab.recorder.ended_count(session) >= 1, f"{session} to end")
    check("hooks", ["working", "waiting", "ended"], collapse(lab.recorder.statuses(session)))
    assert (cwd / "out.txt").read_text() == "hello\n"
    assert "Bash" in _current_tools(lab, session)  # PreToolUse names the shell tool "Bash"


def _deltas(lab: Lab, session_id: str) -> list[dict[str, Any]]:
    with lab.recorder.lock:
        return [
            m
            for m in lab.recorder.messages
            if m.get("session_id") == session_id and m["type"] == "session_delta"
        ]


def _current_tools(lab: Lab, session_id: str) -> list[object]:
    return [m["changes"].get("current_tool") for m in _deltas(lab, session_id)]
