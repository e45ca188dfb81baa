"""Replying to and stopping an interactive session, the real TUI under a pseudo-terminal, as a
person at a terminal runs it (the `-p` and RPC cases are in test_reply_stop.py).

Claude Code's TUI: in away mode, its finished turn holds in the Stop hook; a WebSocket
`send_message` makes it run another turn with that text (the fake LLM receives it, the TUI
shows it); unanswered, the turn ends as usual at the timeout; with observer killed mid-wait the
TUI is back at its prompt within 2 s. `interrupt_session` during a turn of several Bash calls
stops it at the next tool boundary, and the TUI stays open for its user.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.direct import act, direct_lab
from tests.e2e.harness import Lab, wait_until
from tests.e2e.pi_cli import install_extension
from tests.e2e.terminal import Terminal
from tests.e2e.watch import (
    REPLY_WAIT,
    capabilities,
    kill_observer,
    message_reaches_the_llm,
    repliers,
    stops,
)

pytestmark = pytest.mark.e2e
# The line Claude's TUI draws when a turn is over ("✻ Cogitated for 6s"; the verb varies).
TURN_OVER = r"\w+ed\s*for\s*\d+s"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with direct_lab(tmp_path, {"OBSERVER_AWAY_REPLY_TIMEOUT": str(REPLY_WAIT)}) as opened:
        yield opened


class ClaudeTui(Terminal):
    """`claude` in a pseudo-terminal, past its first-run screens: the config a user who has
    used it before has (onboarding done, the API key and this folder trusted)."""

    def __init__(self, claude: Path, lab: Lab, cwd: Path, *args: str) -> None:
        config = lab.home / ".claude" / ".claude.json"
        known = json.loads(config.read_text()) if config.exists() else {}
        key = lab.env()["ANTHROPIC_API_KEY"]
        known.update(
            hasCompletedOnboarding=True,
            theme="dark",
            customApiKeyResponses={"approved": [key[-20:]], "rejected": []},
        )
        projects = known.setdefault("projects", {})
        projects[str(cwd)] = {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}
        config.write_text(json.dumps(known))
        env = {**lab.env(), "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
        super().__init__([claude, *args], env, cwd)
        if not self.until(r"❯", 60):
            raise AssertionError(f"the TUI is not ready; its screen:\n{self.text()[-3000:]}")
        time.sleep(1.0)  # the prompt is drawn before it takes keys


def test_the_tui_takes_a_message_then_its_turn_ends_as_usual(claude_bin: Path, lab: Lab) -> None:
    lab.observer("away", "on")
    tui = ClaudeTui(claude_bin, lab, lab.workdir("tui-reply"))
    try:
        tui.type_line("[[scenario:text]] Say hello")
        session = lab.recorder.only_session()
        mark = tui.mark()
        message_reaches_the_llm(lab, session, "one more thing, please")
        assert tui.until(r"one\s*more\s*thing", 10, after=mark), tui.text(mark)[-2000:]
        # Its second turn ends too; nobody writes: the wait runs out, the TUI waits for its user.
        wait_until(lambda: "send_message" in capabilities(lab, session), "listening again")
        wait_until(
            lambda: "send_message" not in capabilities(lab, session),
            "the wait to run out",
            timeout=REPLY_WAIT + 30,
        )
        assert lab.recorder.statuses(session)[-1] == "waiting"
        assert tui.process.poll() is None  # interactive: still open for its user
        again = act(lab, type="send_message", session_id=session, text="too late")
        assert again.get("code") == "unsupported", again
    finally:
        tui.close()
    assert repliers(lab) == ["token"]


def test_observer_killed_mid_wait_the_tui_is_back_within_2_s(claude_bin: Path, lab: Lab) -> None:
    lab.observer("away", "on")
    tui = ClaudeTui(claude_bin, lab, lab.workdir("tui-killed"))
    try:
        tui.type_line("[[scenario:text]] Say hello")
        session = lab.recorder.only_session()
        wait_until(lambda: "send_message" in capabilities(lab, session), "send_message offered")
        assert not tui.shows(TURN_OVER)  # held in the Stop hook
        mark = tui.mark()
        kill_observer(lab)
        started = time.monotonic()
        assert tui.until(TURN_OVER, 30, after=mark), tui.text(mark)[-2000:]
        assert time.monotonic() - started <= 2.0
        assert tui.process.poll() is None
    finally:
        tui.close()


def test_a_stop_ends_the_tui_turn_at_the_next_tool_boundary(claude_bin: Path, lab: Lab) -> None:
    cwd = lab.workdir("tui-stop")
    tui = ClaudeTui(claude_bin, lab, cwd, "--allowedTools", "Bash")
    try:
        mark = tui.mark()
        tui.type_line("[[scenario:steps]] Do the steps")
        session = lab.recorder.only_session()
        wait_until(lambda: "interrupt_session" in capabilities(lab, session), "a stop offered")
        reply = act(lab, type="interrupt_session", session_id=session)
        assert reply.get("ok") is True, reply
        assert tui.until(TURN_OVER, 60, after=mark), tui.text(mark)[-2000:]
        wait_until(lambda: lab.recorder.statuses(session)[-1] == "waiting", "back to waiting")
        assert tui.process.poll() is None
    finally:
        tui.close()
    done = (cwd / "steps.txt").read_text().splitlines() if (cwd / "steps.txt").exists() else []
    assert len(done) < 5, done  # stopped before the end of the turn
    assert stops(lab) == ["asked", "done"]


# -- pi's TUI, through observer's extension in the user's own pi ----------------------------------
class PiTui(Terminal):
    """`pi` in a pseudo-terminal with observer's extension installed, up to its editor."""

    def __init__(self, pi: Path, lab: Lab, cwd: Path) -> None:
        install_extension(lab)
        env = {**lab.env(), "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
        super().__init__([pi], env, cwd)
        if not self.until(r"fake-gpt", 60):  # the footer names the model once pi is up
            raise AssertionError(f"pi is not ready; its screen:\n{self.text()[-3000:]}")
        time.sleep(1.0)

    def close(self, quit_keys: str = "\x04") -> None:
        super().close(quit_keys)  # ctrl-d on an empty editor: quit


def test_pi_tui_takes_a_message_once_its_run_ended(pi_bin: Path, lab: Lab) -> None:
    lab.observer("away", "on")
    tui = PiTui(pi_bin, lab, lab.workdir("pi-tui-reply"))
    try:
        tui.type_line("[[scenario:text]] Say hello")
        session = lab.recorder.only_session()
        mark = tui.mark()
        message_reaches_the_llm(lab, session, "pi, one more thing")
        assert tui.until(r"pi, one more thing", 10, after=mark), tui.text(mark)[-2000:]
        wait_until(lambda: "send_message" in capabilities(lab, session), "listening again")
        wait_until(
            lambda: "send_message" not in capabilities(lab, session),
            "the wait to run out",
            timeout=REPLY_WAIT + 30,
        )
        assert tui.process.poll() is None
    finally:
        tui.close()
    assert repliers(lab) == ["token"]


def test_pi_tui_a_stop_ends_the_run_at_the_next_tool_call(pi_bin: Path, lab: Lab) -> None:
    cwd = lab.workdir("pi-tui-stop")
    tui = PiTui(pi_bin, lab, cwd)
    try:
        tui.type_line("[[scenario:steps]] Do the steps")
        session = lab.recorder.only_session()
        wait_until(lambda: "interrupt_session" in capabilities(lab, session), "a stop offered")
        reply = act(lab, type="interrupt_session", session_id=session)
        assert reply.get("ok") is True, reply
        wait_until(lambda: lab.recorder.statuses(session)[-1] == "waiting", "back to waiting")
        assert tui.process.poll() is None
    finally:
        tui.close()
    done = (cwd / "steps.txt").read_text().splitlines() if (cwd / "steps.txt").exists() else []
    assert len(done) < 5, done
    assert stops(lab) == ["asked", "done"]
