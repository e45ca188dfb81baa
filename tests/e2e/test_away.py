"""Remote approval of sessions started in a terminal, with the real agents: in away mode the
PermissionRequest hook holds the tool call until a WebSocket client answers. Allowed → the tool
runs; denied → it does not; observer killed while the hook waits → the agent falls back to its
own default (headless Claude: deny; Codex: it asks its own client, the TUI's prompt) and
nothing is allowed. pi, through observer's extension: the
same, except that with observer killed the tool runs (pi has no prompt of its own: fail open)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.claude_cli import finish, session_of, start_claude
from tests.e2e.codex_cli import AppServerClient, turn_input
from tests.e2e.conftest import report
from tests.e2e.harness import Lab, wait_until
from tests.e2e.pi_cli import seen_until_ended
from tests.e2e.watch import kill_observer
from tests.support.timeline import collapse

pytestmark = pytest.mark.e2e


def approve(lab: Lab, session_id: str, decision: str) -> dict[str, Any]:
    """What a phone does: wait for the pending request, answer it."""
    wait_until(lambda: lab.recorder.statuses(session_id)[-1:] == ["permission"], "permission")
    request_id = lab.recorder.last_pending(session_id)["request_id"]
    with lab.websocket() as ws:
        json.loads(ws.recv(timeout=10))
        message = {"type": "approve_tool", "session_id": session_id, "request_id": request_id}
        for attempt in range(100):  # the hook's question may reach observer just after
            ws.send(json.dumps({**message, "decision": decision, "ref": attempt}))
            while True:
                reply: dict[str, Any] = json.loads(ws.recv(timeout=30))
                if reply.get("ref") == attempt:
                    break
            if reply.get("ok") or reply.get("code") != "already_resolved":
                return reply
            time.sleep(0.1)
    return reply


def check_answered(lab: Lab, session: str, decision: str, agent: str) -> None:
    """After a client's answer: the session's statuses to its end, and the audited decision."""
    wait_until(lambda: lab.recorder.ended_count(session) >= 1, "the session to end")
    seen = collapse(lab.recorder.statuses(session))
    expected = ["working", "permission", "working", "waiting", "ended"]
    report(f"away/{agent}-{decision}", expected, seen)
    assert seen == expected
    entries = json.loads(lab.observer("audit", "--json").stdout)
    assert [e["decision"] for e in entries if e.get("decision")] == [decision]


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_claude_waits_for_the_phone(claude_bin: Path, lab: Lab, decision: str) -> None:
    lab.observer("away", "on")
    cwd = lab.workdir(f"away-{decision}")
    claude = start_claude(claude_bin, lab, cwd, "[[scenario:perm]] Create perm_test.txt")
    session = session_of(claude)
    reply = approve(lab, session, decision)
    assert reply.get("ok") is True, reply
    assert finish(claude) == 0
    assert (cwd / "perm_test.txt").exists() is (decision == "allow")
    check_answered(lab, session, decision, "claude")


def test_claude_falls_back_when_observer_dies_mid_wait(claude_bin: Path, lab: Lab) -> None:
    lab.observer("away", "on")
    cwd = lab.workdir("away-killed")
    claude = start_claude(claude_bin, lab, cwd, "[[scenario:perm]] Create perm_test.txt")
    session = session_of(claude)
    wait_until(lambda: lab.recorder.statuses(session)[-1:] == ["permission"], "permission")
    time.sleep(0.5)  # the decision hook is waiting on observer now
    kill_observer(lab)
    started = time.monotonic()
    assert finish(claude) == 0  # headless Claude's own answer when nobody decides: deny
    assert time.monotonic() - started < 60
    assert not (cwd / "perm_test.txt").exists()  # nothing allowed that nobody allowed
    report("away/claude-observer-killed", ["no decision", "not run"], ["no decision", "not run"])


def codex_away(codex: Path, lab: Lab, name: str) -> Path:
    """Codex with observer's hooks installed and trusted, observer in away mode."""
    lab.install_codex_hooks(codex)
    lab.observer("away", "on")
    return lab.workdir(name)


def ask_for_a_file(server: AppServerClient, cwd: Path) -> str:
    """A turn whose command Codex asks about ("untrusted"): the thread's id."""
    thread = server.start_thread(cwd, approvalPolicy="untrusted", sandbox="workspace-write")
    server.request("turn/start", turn_input(thread, "[[scenario:perm]] Create a file"))
    return thread


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_codex_waits_for_the_phone(codex_bin: Path, lab: Lab, decision: str) -> None:
    cwd = codex_away(codex_bin, lab, "away-codex")
    with AppServerClient(codex_bin, lab, cwd) as server:
        thread = ask_for_a_file(server, cwd)
        reply = approve(lab, thread, decision)
        assert reply.get("ok") is True, reply
        completed = server.wait_for("turn/completed")
        assert completed["params"]["turn"]["status"] == "completed"
        # The hook decided, either way: Codex never asked its own client (us, here) at all.
        assert not [m for m in server.messages if m.get("method", "").endswith("requestApproval")]
    assert (cwd / "perm_test.txt").exists() is (decision == "allow")
    wait_until(lambda: lab.recorder.ended_count(thread) >= 1, "the thread to end")
    seen = collapse(lab.recorder.statuses(thread))
    expected = ["working", "permission", "working", "waiting", "ended"]
    report(f"away/codex-{decision}", expected, seen)
    assert seen == expected


def test_codex_falls_back_to_its_own_prompt_when_observer_dies_mid_wait(
    codex_bin: Path, lab: Lab
) -> None:
    cwd = codex_away(codex_bin, lab, "away-codex-killed")
    with AppServerClient(codex_bin, lab, cwd) as server:
        thread = ask_for_a_file(server, cwd)
        wait_until(lambda: lab.recorder.statuses(thread)[-1:] == ["permission"], "permission")
        time.sleep(0.5)  # the decision hook is waiting on observer now
        asked_before = [m for m in server.messages if m.get("method", "").endswith("Approval")]
        kill_observer(lab)
        # No decision from the hook: Codex asks its own client, as it does without observer
        # (here the test is that client; in a terminal it is the TUI's prompt).
        approval = server.wait_for("item/commandExecution/requestApproval")
        assert not (cwd / "perm_test.txt").exists()  # nothing ran that nobody allowed
        server.answer(approval, {"decision": "decline"})
        completed = server.wait_for("turn/completed")
        assert completed["params"]["turn"]["status"] == "completed"
    assert asked_before == []  # while observer held the call, Codex asked no one else
    assert not (cwd / "perm_test.txt").exists()
    report(
        "away/codex-observer-killed",
        ["own prompt", "not run"],
        ["own prompt" if approval else "no prompt", "not run"],
    )


def start_pi(pi: Path, lab: Lab, cwd: Path) -> subprocess.Popen[str]:
    lab.observer("install-hooks", "--agent", "pi")
    return subprocess.Popen(
        [str(pi), "-p", "[[scenario:bash]] Create out.txt"],
        cwd=cwd,
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_pi_waits_for_the_phone(pi_bin: Path, lab: Lab, decision: str) -> None:
    lab.observer("away", "on")
    cwd = lab.workdir(f"away-pi-{decision}")
    pi = start_pi(pi_bin, lab, cwd)
    session = lab.recorder.only_session()
    reply = approve(lab, session, decision)
    assert reply.get("ok") is True, reply
    assert finish(pi) == 0
    assert (cwd / "out.txt").exists() is (decision == "allow")
    check_answered(lab, session, decision, "pi")


def test_pi_runs_the_tool_when_observer_dies_mid_wait(pi_bin: Path, lab: Lab) -> None:
    """pi has no prompt of its own: with no decision the extension fails open, the tool runs."""
    lab.observer("away", "on")
    cwd = lab.workdir("away-pi-killed")
    pi = start_pi(pi_bin, lab, cwd)
    session = lab.recorder.only_session()
    wait_until(lambda: lab.recorder.statuses(session)[-1:] == ["permission"], "permission")
    time.sleep(0.5)  # the extension is waiting on observer now
    kill_observer(lab)
    started = time.monotonic()
    assert finish(pi) == 0
    assert time.monotonic() - started < 30  # at once, not after the away timeout
    assert (cwd / "out.txt").read_text() == "hello\n"
    report("away/pi-observer-killed", ["no decision", "ran"], ["no decision", "ran"])


def test_a_pi_rule_decides_at_once_without_a_permission_status(pi_bin: Path, lab: Lab) -> None:
    lab.observer("rules", "--add", "deny", "--agent", "pi", "--tool", "bash", "--pattern", "echo *")
    cwd = lab.workdir("rule-pi")
    pi = start_pi(pi_bin, lab, cwd)
    session = lab.recorder.only_session()
    assert finish(pi) == 0
    assert not (cwd / "out.txt").exists()
    seen = seen_until_ended(lab, session)
    expected = ["working", "waiting", "ended"]  # a rule answers at once: no `permission`
    report("away/pi-rule-deny", expected, seen)
    assert seen == expected
