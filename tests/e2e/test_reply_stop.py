"""Replying to and stopping a Claude Code session started in a terminal (`claude -p`, the
pinned version), through its hooks (observer/runtime/relay.py): in away mode its turn ends, the
session shows `waiting` and offers `send_message`; a WebSocket message makes Claude run another
turn with that text (the fake LLM receives it); with no message before the timeout, Claude ends
as usual; with observer killed mid-wait, Claude ends as usual within 2 s. `interrupt_session`
during a turn of several Bash calls stops it at the next tool boundary."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.claude_cli import STREAM, session_of
from tests.e2e.direct import act, direct_lab
from tests.e2e.harness import Lab, wait_until
from tests.e2e.pi_cli import PiRpc, install_extension
from tests.e2e.watch import (
    REPLY_WAIT,
    capabilities,
    kill_observer,
    message_reaches_the_llm,
    repliers,
    stops,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with direct_lab(tmp_path, {"OBSERVER_AWAY_REPLY_TIMEOUT": str(REPLY_WAIT)}) as opened:
        yield opened


def start(claude: Path, lab: Lab, name: str, prompt: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(claude), "-p", prompt, *STREAM, *extra],
        cwd=lab.workdir(name),
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def finished(process: subprocess.Popen[str], timeout: float) -> float:
    """Seconds until the process exits (it must, within `timeout`)."""
    started = time.monotonic()
    assert process.stdout is not None
    process.stdout.read()
    process.stdout.close()
    process.wait(timeout=timeout)
    return time.monotonic() - started


def test_a_message_continues_the_session_then_it_ends_as_usual(claude_bin: Path, lab: Lab) -> None:
    lab.observer("away", "on")
    claude = start(claude_bin, lab, "reply", "[[scenario:text]] Say hello")
    session = session_of(claude)
    message_reaches_the_llm(lab, session, "one more thing, please")
    # The second turn ends too; nobody writes: Claude stops as it would without observer.
    wait_until(lambda: "send_message" in capabilities(lab, session), "listening again")
    assert finished(claude, REPLY_WAIT + 30) <= REPLY_WAIT + 20
    assert claude.returncode == 0
    assert repliers(lab) == ["token"]
    again = act(lab, type="send_message", session_id=session, text="too late")
    assert again.get("code") == "unsupported", again


def test_without_away_mode_the_turn_ends_at_once(claude_bin: Path, lab: Lab) -> None:
    claude = start(claude_bin, lab, "no-away", "[[scenario:text]] Say hello")
    session_of(claude)
    assert finished(claude, 60) < REPLY_WAIT  # never held
    assert claude.returncode == 0


def test_observer_killed_mid_wait_claude_ends_within_2_s(claude_bin: Path, lab: Lab) -> None:
    lab.observer("away", "on")
    claude = start(claude_bin, lab, "killed", "[[scenario:text]] Say hello")
    session = session_of(claude)
    wait_until(lambda: "send_message" in capabilities(lab, session), "send_message offered")
    kill_observer(lab)
    assert finished(claude, 30) <= 2.0
    assert claude.returncode == 0


def test_a_stop_ends_the_turn_at_the_next_tool_boundary(claude_bin: Path, lab: Lab) -> None:
    claude = start(
        claude_bin, lab, "stop", "[[scenario:steps]] Do the steps", "--allowedTools", "Bash"
    )
    session = session_of(claude)
    cwd = lab.root / "work" / "stop"
    wait_until(lambda: "interrupt_session" in capabilities(lab, session), "a stop offered")
    reply = act(lab, type="interrupt_session", session_id=session)
    assert reply.get("ok") is True, reply
    finished(claude, 60)
    done = (cwd / "steps.txt").read_text().splitlines() if (cwd / "steps.txt").exists() else []
    assert len(done) < 5, done  # stopped before the end of the turn
    assert stops(lab) == ["asked", "done"]


# -- pi, through observer's extension in the user's own pi ---------------------------------------
def start_pi(pi: Path, lab: Lab, name: str, prompt: str) -> subprocess.Popen[str]:
    install_extension(lab)
    return subprocess.Popen(
        [str(pi), "-p", prompt],
        cwd=lab.workdir(name),
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_pi_print_mode_takes_a_message_at_its_quit(pi_bin: Path, lab: Lab) -> None:
    """`pi -p` in away mode: once its prompt ran, it waits at its quit (the extension's
    `session_shutdown` handler, which print mode awaits) for a client's message, runs it, waits
    again, and quits as usual when none comes."""
    lab.observer("away", "on")
    pi = start_pi(pi_bin, lab, "pi-print-reply", "[[scenario:text]] Say hello")
    session = lab.recorder.only_session()
    message_reaches_the_llm(lab, session, "pi -p, one more thing")
    assert pi.poll() is None  # it waited at its quit for the message
    wait_until(lambda: "send_message" in capabilities(lab, session), "listening again")
    assert finished(pi, REPLY_WAIT + 30) <= REPLY_WAIT + 20
    assert pi.returncode == 0
    wait_until(lambda: lab.recorder.ended_count(session) >= 1, "the session to end")
    assert repliers(lab) == ["token"]


def test_pi_print_mode_quits_within_2_s_when_observer_is_killed(pi_bin: Path, lab: Lab) -> None:
    lab.observer("away", "on")
    pi = start_pi(pi_bin, lab, "pi-print-killed", "[[scenario:text]] Say hello")
    session = lab.recorder.only_session()
    wait_until(lambda: "send_message" in capabilities(lab, session), "send_message offered")
    kill_observer(lab)
    assert finished(pi, 30) <= 2.0
    assert pi.returncode == 0


def test_pi_print_mode_without_away_mode_quits_at_once(pi_bin: Path, lab: Lab) -> None:
    pi = start_pi(pi_bin, lab, "pi-print-no-away", "[[scenario:text]] Say hello")
    assert finished(pi, 60) < REPLY_WAIT  # never held
    assert pi.returncode == 0


def test_pi_with_a_ui_takes_a_message_once_its_run_ended(pi_bin: Path, lab: Lab) -> None:
    """The user's own pi with a UI: its RPC mode, whose UI bridge makes `ctx.hasUI` true as
    the TUI does (the same path in observer's extension: the wait never blocks pi, and the
    message starts a run as if typed). The TUI itself: test_reply_stop_tui.py."""
    lab.observer("away", "on")
    pi = PiRpc(pi_bin, lab, lab.workdir("pi-reply"))
    try:
        pi.send({"type": "prompt", "message": "[[scenario:text]] Say hello"})
        pi.response("prompt")
        session = pi.session_id()
        message_reaches_the_llm(lab, session, "pi, one more thing")
        wait_until(lambda: "send_message" in capabilities(lab, session), "listening again")
        lab.observer("away", "off")  # back at the keyboard: the wait ends, pi waits as usual
        wait_until(lambda: "send_message" not in capabilities(lab, session), "no line to it")
    finally:
        pi.close()
    assert repliers(lab) == ["token"]


def test_pi_a_stop_ends_the_run_at_the_next_tool_call(pi_bin: Path, lab: Lab) -> None:
    pi = start_pi(pi_bin, lab, "pi-stop", "[[scenario:steps]] Do the steps")
    session = lab.recorder.only_session()
    wait_until(lambda: "interrupt_session" in capabilities(lab, session), "a stop offered")
    reply = act(lab, type="interrupt_session", session_id=session)
    assert reply.get("ok") is True, reply
    finished(pi, 60)
    cwd = lab.root / "work" / "pi-stop"
    done = (cwd / "steps.txt").read_text().splitlines() if (cwd / "steps.txt").exists() else []
    assert len(done) < 5, done
    assert stops(lab) == ["asked", "done"]
