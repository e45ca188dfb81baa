"""Codex, the real binary, against the fake LLM's Responses API, observed by a running observer:
`codex exec` through the rollout file alone (rollouts never record a session end, so these
sessions stop at `waiting`), then with the hooks `observer install-hooks --agent codex` installs
and trusts, and `codex app-server` sessions (an approval answered, an interrupt) with them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from observer.install.codex import CODEX_OBSERVE_EVENTS
from observer.install.codex_trust import AppServer
from tests.e2e import timeline
from tests.e2e.codex_cli import AppServerClient, turn_input
from tests.e2e.conftest import report
from tests.e2e.harness import Lab, wait_until
from tests.support.timeline import collapse

pytestmark = pytest.mark.e2e
BYPASS = ("--dangerously-bypass-approvals-and-sandbox",)


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
    """Also the timeline: a client subscribed while Codex runs gets it item by item, `show`
    prints it, `search` finds the session (issue 19)."""
    cwd = lab.workdir("bash")
    prompt = "[[scenario:bash]] Create out.txt"
    expected = [
        ("user_message", prompt),
        ("assistant_text", "I'll run a command."),
        ("tool_call", "exec_command", "echo hello > out.txt && ls"),
        ("tool_result", False),
        ("assistant_text", "Done. The tool said: …"),  # Codex's output header varies
    ]
    ran: list[tuple[int, str]] = []
    seen = timeline.watch(
        lab, lambda: ran.append(run_codex(codex_bin, lab, cwd, prompt, *BYPASS)), expected
    )
    [(status, session)] = ran
    assert status == 0
    timeline.check("codex/bash", expected, seen)
    shown = ["exec_command echo hello > out.txt && ls", "Done. The tool said:"]
    timeline.shown_and_found(lab, session, shown, "out.txt", "the tool said")
    check("bash", ["working", "waiting"], seen_until(lab, session, "waiting"))
    assert (cwd / "out.txt").read_text() == "hello\n"
    assert "exec_command" in _current_tools(lab, session)
    messages = [
        m["changes"]["last_message"]
        for m in _deltas(lab, session)
        if m["changes"].get("last_message")
    ]
    assert "out.txt" in messages[-1]  # the command's output, as the fake model quoted it


def test_patch(codex_bin: Path, lab: Lab) -> None:
    """A command, then an apply_patch: its diff in the timeline, printed by `show` (issue 19)."""
    cwd = lab.workdir("edit")
    prompt = "[[scenario:edit]] Retitle the readme"
    change = ["-# edit", "+# edit, edited by the fake model"]
    expected = [
        ("user_message", prompt),
        ("assistant_text", "I'll read README.md first."),
        ("tool_call", "exec_command", "cat README.md"),
        ("tool_result", False),
        ("assistant_text", "Now the edit."),
        ("tool_call", "apply_patch", "*** Begin Patch"),
        ("file_change", "README.md", change),
        ("tool_result", False),
        ("assistant_text", "Done. README.md has its new title line."),
    ]
    ran: list[tuple[int, str]] = []
    seen = timeline.watch(
        lab, lambda: ran.append(run_codex(codex_bin, lab, cwd, prompt, *BYPASS)), expected
    )
    [(status, session)] = ran
    assert status == 0
    check("patch", ["working", "waiting"], seen_until(lab, session, "waiting"))
    assert (cwd / "README.md").read_text() == "# edit, edited by the fake model\n"
    timeline.check("codex/patch", expected, seen)
    shown = ["apply_patch", f"update {cwd / 'README.md'}", *(f"    {line}" for line in change)]
    timeline.shown_and_found(lab, session, shown, "Retitle", "new title line")


def test_hooks_end_the_session(codex_bin: Path, lab: Lab) -> None:
    """With our hooks installed and trusted by `observer install-hooks --agent codex` (no
    --dangerously-bypass-hook-trust), SessionEnd (fired when exec exits) ends the session."""
    lab.install_codex_hooks(codex_bin)
    cwd = lab.workdir("hooks")
    status, session = run_codex(
        codex_bin,
        lab,
        cwd,
        "[[scenario:bash]] Create out.txt",
        "--dangerously-bypass-approvals-and-sandbox",
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


def test_install_hooks_trusts_ours_only(codex_bin: Path, lab: Lab) -> None:
    """The real app-server reports our hooks `trusted` after install, a user's own hook still
    untrusted; uninstall leaves hooks.json and config.toml as they were, byte for byte."""
    foreign = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "true"}]}]}}
    hooks_json = lab.codex_home / "hooks.json"
    hooks_json.write_text(json.dumps(foreign, indent=2) + "\n")
    config = lab.codex_home / "config.toml"
    before = config.read_bytes(), hooks_json.read_bytes()

    out = lab.install_codex_hooks(codex_bin).stdout

    assert f"trusted 14 of observer's 14 hooks in {config}" in out
    listed = list_hooks(codex_bin, lab)
    ours = {h["eventName"]: h for h in listed if "observer-hook" in h["command"]}
    assert len(ours) == len(CODEX_OBSERVE_EVENTS)
    assert {h["trustStatus"] for h in ours.values()} == {"trusted"}
    assert [h["trustStatus"] for h in listed if h["command"] == "true"] == ["untrusted"]
    assert {h["async"] for h in ours.values()} == {False}
    assert ours["stop"]["key"].endswith("hooks.json:stop:1:0")  # after the user's group
    for hook in listed:  # the hash, as learned from 0.169: a canary for a changed scheme
        assert hook["currentHash"] == trust_hash(hook)
    assert "all 14 of observer's hooks" in lab.install_codex_hooks(codex_bin).stdout

    out = lab.observer("install-hooks", "--agent", "codex", "--uninstall").stdout

    assert "removed 14 trust record(s)" in out
    assert (config.read_bytes(), hooks_json.read_bytes()) == before


@pytest.mark.parametrize("decision", ["accept", "decline"])
def test_appserver_approval_pending_then_answered(codex_bin: Path, lab: Lab, decision: str) -> None:
    """An app-server thread under approvalPolicy "untrusted" asks before running `touch`:
    observer shows `permission` with the pending command while the request is open, then
    `working` once it is answered, `waiting` at the end of the turn, `ended` on exit. A declined
    command gets no PostToolUse: PreModelRequest (the next model call) is what ends the wait."""
    lab.install_codex_hooks(codex_bin)
    cwd = lab.workdir("approval")
    with AppServerClient(codex_bin, lab, cwd) as server:
        thread = server.start_thread(cwd, approvalPolicy="untrusted", sandbox="workspace-write")
        server.request("turn/start", turn_input(thread, "[[scenario:perm]] Create a file"))
        approval = server.wait_for("item/commandExecution/requestApproval")
        assert "touch perm_test.txt" in approval["params"]["command"]
        wait_until(lambda: lab.recorder.statuses(thread)[-1:] == ["permission"], "permission")
        pending = lab.recorder.last_pending(thread)
        assert pending["kind"] == "permission" and pending["tool"] == "Bash"
        assert "touch perm_test.txt" in pending["summary"]

        server.answer(approval, {"decision": decision})

        assert server.wait_for("turn/completed")["params"]["turn"]["status"] == "completed"
        seen = seen_until(lab, thread, "waiting")
    assert (cwd / "perm_test.txt").exists() is (decision == "accept")
    wait_until(lambda: lab.recorder.ended_count(thread) >= 1, f"{thread} to end")
    expected = ["working", "permission", "working", "waiting", "ended"]
    check(f"appserver-{decision}", expected, collapse(lab.recorder.statuses(thread)))
    assert seen == expected[:-1]


def test_appserver_interrupt(codex_bin: Path, lab: Lab) -> None:
    """turn/interrupt during a long command: the Interrupt hook and the rollout's
    turn_aborted both say `waiting`, and nothing late turns it back to `working`."""
    lab.install_codex_hooks(codex_bin)
    cwd = lab.workdir("interrupt")
    with AppServerClient(codex_bin, lab, cwd) as server:
        thread = server.start_thread(cwd, approvalPolicy="never", sandbox="danger-full-access")
        turn = server.request("turn/start", turn_input(thread, "[[scenario:slow]] Wait"))
        server.wait_for("item/started", lambda m: m["params"]["item"]["type"] == "commandExecution")
        wait_until(lambda: "Bash" in _current_tools(lab, thread), "the command to show")

        server.request("turn/interrupt", {"threadId": thread, "turnId": turn["turn"]["id"]})

        completed = server.wait_for("turn/completed")
        assert completed["params"]["turn"]["status"] == "interrupted"
        seen_until(lab, thread, "waiting")
        time.sleep(2)  # late events (the killed command's item, the rollout) must not revive it
        seen = collapse(lab.recorder.statuses(thread))
    check("appserver-interrupt", ["working", "waiting"], seen)


def list_hooks(codex: Path, lab: Lab) -> list[dict[str, Any]]:
    with AppServer(str(codex), lab.codex_home, cwd=lab.root, env=lab.env()) as server:
        result = server.call("hooks/list", {"cwds": [str(lab.root)]})
    return [hook for entry in result["data"] for hook in entry["hooks"]]


def trust_hash(hook: dict[str, Any]) -> str:
    """Codex 0.169's trust hash of a command handler: SHA-256 of the compact, key-sorted JSON
    of {event_name, matcher (only when set), hooks: [the normalized handler]}. observer does
    not rely on it (the app-server computes it); this pins what we learned."""
    handler = {
        "async": hook["async"],
        "command": hook["command"],
        "timeout": hook["timeoutSec"],
        "type": hook["handlerType"],
    }
    whole: dict[str, Any] = {"event_name": hook["key"].split(":")[-3], "hooks": [handler]}
    if hook["matcher"] is not None:
        whole["matcher"] = hook["matcher"]
    text = json.dumps(whole, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
