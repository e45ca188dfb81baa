"""Claude Code launched BY observer (a direct session), the real binary against the fake LLM,
driven by a WebSocket client: launch, a permission arrives with its tool and input, allow it
and the command runs; deny it in another run; interrupt a long tool call; send a follow-up; end.
The user's own hooks are installed too (the lab installs them), and still one session exists."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import report
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
    interrupt_once_allowed,
    launch,
    pending,
    sessions,
    snapshot,
    wait_status,
)
from tests.e2e.harness import Lab

pytestmark = pytest.mark.e2e


@pytest.fixture
def lab(tmp_path: Path, claude_bin: Path) -> Iterator[Lab]:
    with direct_lab(tmp_path, {"OBSERVER_CLAUDE_BIN": str(claude_bin)}) as opened:
        yield opened


def test_allow_then_follow_up_then_end(lab: Lab) -> None:
    sid, _, _ = allow_then_answer_again(lab, "claude", "[[scenario:perm]] Create the file", "Bash")
    follow_up(lab, sid)
    end(lab, sid)
    check("claude-direct/allow+follow-up+end", ALLOW_FOLLOW_UP_END, lab, sid)
    # Claude's own SessionEnd hook says "other".
    ended_from_observer(lab, sid)
    assert lab.recorder.last_session(sid)["control"] == "direct"
    assert sessions(lab) == {sid}  # the user's hooks fired too, onto the same session


def test_deny(lab: Lab) -> None:
    sid, _ = deny(lab, "claude", "[[scenario:perm]] Create the file")
    act(lab, type="end_session", session_id=sid)


def test_interrupt_a_long_tool_call(lab: Lab) -> None:
    sid, _ = interrupt_once_allowed(lab, "claude")
    act(lab, type="end_session", session_id=sid)


def test_killing_the_agent_mid_turn_ends_the_session_within_2_s(lab: Lab) -> None:
    sid, _ = launch(lab, "claude", "killed", "[[scenario:perm]] Create the file")
    asked = pending(lab, sid)
    assert asked  # mid-turn: Claude is waiting on our approval
    pid = snapshot(lab, sid)["pid"]
    assert isinstance(pid, int) and pid > 0
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_status(lab, sid, "ended", timeout=10)
    took = time.monotonic() - started
    reason = snapshot(lab, sid)["ended_reason"]
    report(
        "claude-direct/killed",
        ["ended < 2 s", "process killed (SIGKILL)"],
        ["ended < 2 s" if took < 2 else f"ended in {took:.2f} s", reason],
    )
    assert took < 2, took
    assert reason == "process killed (SIGKILL)"


def test_in_away_mode_a_launched_session_asks_at_once(lab: Lab) -> None:
    """Away mode holds terminal sessions' calls in the decision hook; a session observer
    launched asks through its stream-json, and shows `permission` at once, never held."""
    lab.observer("away", "on")
    try:
        sid, cwd = launch(lab, "claude", "away-direct", "[[scenario:perm]] Create the file")
        wait_status(lab, sid, "permission", timeout=30)
        request_id = lab.recorder.last_pending(sid)["request_id"]
        reply = act(
            lab, type="approve_tool", session_id=sid, request_id=request_id, decision="allow"
        )
        assert reply.get("ok") is True, reply
        wait_status(lab, sid, "waiting")
        assert (cwd / "perm_test.txt").exists()
        entries = json.loads(lab.observer("audit", "--json").stdout)
        assert not [e for e in entries if e.get("by") == "timeout"]  # nothing was held
    finally:
        lab.observer("away", "off")


def test_its_timeline_without_any_hook_installed(tmp_path: Path, claude_bin: Path) -> None:
    """A user who never ran install-hooks launches Claude from observer: its transcript is
    found by the session id observer gave it, so the timeline has the turn all the same."""
    with direct_lab(tmp_path, {"OBSERVER_CLAUDE_BIN": str(claude_bin)}) as lab:
        settings = lab.home / ".claude" / "settings.json"
        settings.write_text(
            json.dumps({k: v for k, v in json.loads(settings.read_text()).items() if k != "hooks"})
        )
        sid, _ = launch(lab, "claude", "no-hooks", "[[scenario:text]] Say hello")
        wait_status(lab, sid, "waiting")

        def items() -> list[tuple[str, str]]:
            page = lab.get_json(f"/api/sessions/{sid}/timeline")
            return [(i["kind"], str(i.get("text"))) for i in page["items"]]

        wanted = [
            ("user_message", "[[scenario:text]] Say hello"),
            ("assistant_text", "Hello from the fake model. The answer is 42."),
        ]
        deadline = time.monotonic() + 30
        while items() != wanted and time.monotonic() < deadline:
            time.sleep(0.2)
        assert items() == wanted
        act(lab, type="end_session", session_id=sid)
