"""Helpers for the real-agents tests of sessions observer launches itself
(tests/e2e/test_direct_*.py): a lab whose observer launches the agent, actions sent as a phone
would send them, waits on what the lab's recorder saw, and the steps every agent shares (allow
then a second answer, a follow-up, end; deny; interrupt a long tool call once allowed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.conftest import report
from tests.e2e.harness import Lab, open_lab, wait_until
from tests.support.timeline import collapse

ALLOW_FOLLOW_UP_END = ["working", "permission", "working", "waiting", "working", "waiting", "ended"]
ASKED_THEN_ANSWERED = ["working", "permission", "working", "waiting"]
LAUNCHED: dict[Path, list[str]] = {}  # lab root -> the sessions launch() made there, in order


@contextmanager
def direct_lab(root: Path, server_env: dict[str, str]) -> Iterator[Lab]:
    """A lab whose observer starts with `server_env` too (the agent's binary for its direct
    sessions, a shorter away_reply_timeout); like the lane's `lab` fixture, every message the
    recorder saw must match the published protocol."""
    opened = open_lab(root, server_env)
    try:
        yield opened
    finally:
        opened.close()
    assert not opened.recorder.violations, "\n".join(opened.recorder.violations[:20])


def act(lab: Lab, **message: Any) -> dict[str, Any]:
    """Send one action from a fresh client, as a phone would, and return its reply."""
    with lab.websocket() as ws:
        json.loads(ws.recv(timeout=10))  # hello
        ws.send(json.dumps({**message, "ref": "e2e"}))
        while True:
            reply: dict[str, Any] = json.loads(ws.recv(timeout=60))
            if reply.get("ref") == "e2e":
                return reply


def approve(lab: Lab, session_id: str, request_id: str, decision: str) -> dict[str, Any]:
    return act(
        lab, type="approve_tool", session_id=session_id, request_id=request_id, decision=decision
    )


def launch(lab: Lab, agent: str, name: str, prompt: str) -> tuple[str, Path]:
    """create_session in a fresh git work dir named `name`; it must succeed."""
    cwd = lab.workdir(name)
    reply = act(lab, type="create_session", agent=agent, cwd=str(cwd), prompt=prompt)
    assert reply.get("ok") is True, reply
    launched(lab).append(str(reply["session_id"]))
    return str(reply["session_id"]), cwd


def launched(lab: Lab) -> list[str]:
    """The sessions launch() made in this lab."""
    return LAUNCHED.setdefault(lab.root, [])


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


def snapshot(lab: Lab, session_id: str) -> dict[str, Any]:
    """The session as GET /api/sessions/<id> has it now."""
    session: dict[str, Any] = lab.get_json(f"/api/sessions/{session_id}")["session"]
    return session


def statuses(lab: Lab, session_id: str) -> list[str]:
    """The statuses the recorder saw, consecutive repeats collapsed."""
    return collapse(lab.recorder.statuses(session_id))


def check(scenario: str, expected: list[str], lab: Lab, session_id: str) -> None:
    """One row of `scripts/e2e`'s table, and the statuses must be the ones expected; when they
    are not, the message says which of the agent's events set each status."""
    seen = statuses(lab, session_id)
    report(scenario, expected, seen)
    assert seen == expected, "\n".join(map(str, wires(lab, session_id)))


def wires(lab: Lab, session_id: str) -> list[tuple[str, str]]:
    """(status, the agent's event that set it), in the order the recorder saw them."""
    with lab.recorder.lock:
        return [
            (m["status"], m["event"]["wire"])
            for m in lab.recorder.messages
            if m.get("session_id") == session_id and "event" in m
        ]


# -- steps every agent shares ------------------------------------------------------------------


def allow_then_answer_again(
    lab: Lab, agent: str, prompt: str, tool: str
) -> tuple[str, Path, dict[str, Any]]:
    """Launch in `allow`; the approval names the tool and its command; allow it and the
    command runs; a second answer to it is already resolved. (id, work dir, the approval)"""
    sid, cwd = launch(lab, agent, "allow", prompt)
    asked = pending(lab, sid)
    assert asked["tool"] == tool
    assert asked["summary"] == "touch perm_test.txt && echo created"
    reply = approve(lab, sid, asked["request_id"], "allow")
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting")
    assert (cwd / "perm_test.txt").exists()
    again = approve(lab, sid, asked["request_id"], "deny")
    assert again["code"] == "already_resolved"
    return sid, cwd, asked


def follow_up(lab: Lab, session_id: str) -> None:
    """A second turn; collapsed, since a snapshot and a delta can both say the first waiting."""
    message = {"type": "send_message", "session_id": session_id}
    assert act(lab, **message, text="[[scenario:text]] And now?")["ok"]
    wait_until(lambda: statuses(lab, session_id).count("waiting") >= 2, "the follow-up turn")


def end(lab: Lab, session_id: str) -> None:
    assert act(lab, type="end_session", session_id=session_id)["ok"]
    wait_status(lab, session_id, "ended")


def ended_from_observer(lab: Lab, session_id: str) -> None:
    """The agent's own end record says something vaguer; observer, which ended it, names it."""
    wait_until(
        lambda: snapshot(lab, session_id)["ended_reason"] == "ended from observer",
        "the reason observer knows",
    )


def deny(lab: Lab, agent: str, prompt: str) -> tuple[str, Path]:
    """Launch in `deny`, deny the approval: the turn goes on, the command never ran."""
    sid, cwd = launch(lab, agent, "deny", prompt)
    asked = pending(lab, sid)
    reply = approve(lab, sid, asked["request_id"], "deny")
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting")
    check(f"{agent}-direct/deny", ASKED_THEN_ANSWERED, lab, sid)
    assert not (cwd / "perm_test.txt").exists()
    return sid, cwd


def interrupt_once_allowed(lab: Lab, agent: str) -> tuple[str, float]:
    """Allow a 30 s command, interrupt it while it runs: waiting within 15 s. (id, seconds)"""
    sid, _ = launch(lab, agent, "interrupt", "[[scenario:slow]] Wait a while")
    asked = pending(lab, sid)
    approve(lab, sid, asked["request_id"], "allow")
    wait_status(lab, sid, "working")
    time.sleep(1.0)  # the 30 s command is running now
    started = time.monotonic()
    reply = act(lab, type="interrupt_session", session_id=sid)
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting", timeout=15)
    took = time.monotonic() - started
    assert took < 15
    check(f"{agent}-direct/interrupt", ASKED_THEN_ANSWERED, lab, sid)
    return sid, took
