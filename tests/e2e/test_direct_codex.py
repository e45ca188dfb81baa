"""Codex launched BY observer (a direct session: `codex app-server`), the real 0.169 binary
against the fake LLM, driven by WebSocket clients: launch, an approval arrives with its command,
allow it and the command runs, a follow-up turn, end; deny in another session, end, resume it
for one more turn; steer, then interrupt, a long command. The user's own hooks are installed
and trusted (`observer install-hooks --agent codex`) and the rollout is watched, and still each
thread is exactly one session.

The driver's policy is Codex's interactive default (on-request, workspace-write sandbox): a
command runs in the sandbox unasked, and one the model asks to run outside it waits for the
user, so the fake model's `escalate` scenario asks for exactly that."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.direct import (
    ALLOW_FOLLOW_UP_END,
    act,
    allow_then_answer_again,
    check,
    deny,
    direct_lab,
    end,
    ended_from_observer,
    follow_up,
    launch,
    launched,
    snapshot,
    wait_status,
)
from tests.e2e.harness import Lab, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, codex_bin: Path) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("direct-codex")
    with direct_lab(root, {"OBSERVER_CODEX_BIN": str(codex_bin)}) as opened:
        opened.install_codex_hooks(codex_bin)
        yield opened


def created(lab: Lab) -> list[str]:
    with lab.recorder.lock:
        return [m["session_id"] for m in lab.recorder.messages if m["type"] == "session_created"]


def one_session_each(lab: Lab) -> None:
    """Every session this lab shows is one observer launched, created once."""
    assert sorted(created(lab)) == sorted(launched(lab))


def test_allow_then_follow_up_then_end(lab: Lab) -> None:
    prompt = "[[scenario:escalate]] Create the file"
    sid, _, _ = allow_then_answer_again(lab, "codex", prompt, "Bash")
    assert "created" in (snapshot(lab, sid)["last_message"] or "")  # the fake quotes the output
    follow_up(lab, sid)
    assert "42" in (snapshot(lab, sid)["last_message"] or "")
    end(lab, sid)
    check("codex-direct/allow+follow-up+end", ALLOW_FOLLOW_UP_END, lab, sid)
    # Codex's SessionEnd hook says "other".
    ended_from_observer(lab, sid)
    final = snapshot(lab, sid)
    assert final["control"] == "direct" and final["agent"] == "codex"
    assert final["project"] == "allow"
    # The user's hooks (trusted) and the rollout watcher name this thread too, and what they
    # said landed on this session (only they know the rollout's path): no second session.
    rollouts = list(lab.codex_home.glob(f"sessions/*/*/*/rollout-*-{sid}.jsonl"))
    assert len(rollouts) == 1
    assert stored_state(lab, sid)["transcript_path"] == str(rollouts[0])
    one_session_each(lab)


def test_deny_then_resume(lab: Lab) -> None:
    sid, _ = deny(lab, "codex", "[[scenario:escalate]] Create the file")
    end(lab, sid)

    # resume_session: a new app-server process takes the same thread (thread/resume).
    resumed = act(lab, type="resume_session", session_id=sid)
    assert resumed.get("ok") is True, resumed
    wait_status(lab, sid, "waiting")
    assert act(lab, type="send_message", session_id=sid, text="[[scenario:text]] Again")["ok"]
    wait_until(lambda: "42" in (snapshot(lab, sid)["last_message"] or ""), "the resumed turn")
    wait_status(lab, sid, "waiting")
    end(lab, sid)
    expected = ["working", "permission", "working", "waiting", "ended"]
    expected += ["waiting", "working", "waiting", "ended"]
    check("codex-direct/deny+resume", expected, lab, sid)
    one_session_each(lab)


def test_steer_then_interrupt_a_long_command(lab: Lab) -> None:
    sid, _ = launch(lab, "codex", "interrupt", "[[scenario:slow]] Wait a while")
    wait_until(lambda: snapshot(lab, sid)["current_tool"] == "Bash", "the command to run")
    time.sleep(0.5)  # the 30 s command is running now (in the sandbox: nobody was asked)
    steered = act(lab, type="steer_turn", session_id=sid, text="[[scenario:text]] hurry up")
    assert steered.get("ok") is True, steered  # turn/steer: Codex takes it into the running turn
    started = time.monotonic()
    reply = act(lab, type="interrupt_session", session_id=sid)
    assert reply.get("ok") is True, reply
    wait_status(lab, sid, "waiting", timeout=15)
    assert time.monotonic() - started < 15
    time.sleep(1.0)  # late events (the killed command's item, hooks, the rollout) keep it waiting
    check("codex-direct/interrupt", ["working", "waiting"], lab, sid)
    end(lab, sid)
    one_session_each(lab)


def stored_state(lab: Lab, session_id: str) -> dict[str, Any]:
    """The session's whole stored state, internal facts included (transcript_path)."""
    with sqlite3.connect(lab.data_dir / "observer.db") as db:
        (row,) = db.execute("select state from sessions where id = ?", (session_id,))
    state: dict[str, Any] = json.loads(row[0])
    return state


def test_in_away_mode_a_launched_session_asks_at_once(lab: Lab) -> None:
    """Away mode holds terminal sessions' calls in the decision hook; a session observer
    launched answers through its own app-server channel, so its hook must step aside: the
    approval shows as `permission` at once, not after the hook's hold ran out."""
    lab.observer("away", "on")
    try:
        started = time.monotonic()
        sid, cwd = launch(lab, "codex", "away-direct", "[[scenario:escalate]] Create the file")
        wait_status(lab, sid, "permission", timeout=30)
        asked_after = time.monotonic() - started
        reply = act(
            lab,
            type="approve_tool",
            session_id=sid,
            request_id=lab.recorder.last_pending(sid)["request_id"],
            decision="allow",
        )
        assert reply.get("ok") is True, reply
        wait_status(lab, sid, "waiting")
        assert (cwd / "perm_test.txt").exists()
        print(f"away mode, launched Codex: permission {asked_after:.2f} s after launch")
    finally:
        lab.observer("away", "off")
