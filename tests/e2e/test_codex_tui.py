"""Codex's interactive TUI, the real binary under a pseudo-terminal, against the fake LLM, with
observer running: the TUI starts Codex's shared app-server daemon, observer attaches to it,
and a WebSocket client answers the approval the TUI is showing. Allowed → the command runs;
denied → it does not; either way the session goes back to `waiting`.

The first launch copies Codex (~400 MB) into $CODEX_HOME/packages, so the tests of this module
share one lab (one CODEX_HOME). Teardown stops the daemon through Codex's own CLI, then ends
what is left of it, by pid, only processes whose environment names this lab's CODEX_HOME.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import report
from tests.e2e.harness import Lab, open_lab, wait_until
from tests.e2e.terminal import Terminal
from tests.e2e.watch import capabilities
from tests.support.timeline import collapse

pytestmark = pytest.mark.e2e
SOCKET = Path("app-server-control") / "app-server-control.sock"


class Tui(Terminal):
    """`codex` in a pseudo-terminal: keys in, the screen's text (escapes removed) out."""

    def __init__(self, codex: Path, lab: Lab, cwd: Path) -> None:
        env = {**lab.env(), "TERM": "xterm", "COLORTERM": ""}
        env.pop("NO_COLOR", None)
        super().__init__(
            [codex, "--no-alt-screen", "-s", "workspace-write", "-a", "on-request"], env, cwd
        )

    def ready(self) -> None:
        """Past the folder-trust dialog to the composer. The composer's placeholder is drawn
        before the dialog (keys typed then land in the dialog): the footer naming the model
        shows only once the session is up."""
        if self.until(r"Trust this folder\?", 60):
            time.sleep(0.5)
            mark = self.mark()
            self.keys("\r")  # 1. Trust and continue
            up = self.until(r"GPT-5\.5", 60, after=mark)
        else:
            up = self.until(r"GPT-5\.5", 60)
        if not up:
            raise AssertionError(f"the TUI is not ready; its screen:\n{self.text()[-3000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def tui_lab(tmp_path_factory: pytest.TempPathFactory, codex_bin: Path) -> Iterator[Lab]:
    lab = open_lab(tmp_path_factory.mktemp("codex-tui"))
    try:
        lab.install_codex_hooks(codex_bin)  # as a user of observer has them
        yield lab
    finally:
        lab.recorder.stop()
        time.sleep(0.5)  # the recorder's socket closes before the server goes
        stop_daemon(codex_bin, lab)
        lab.close()
    assert not lab.recorder.violations, "\n".join(lab.recorder.violations[:20])


def stop_daemon(codex: Path, lab: Lab) -> None:
    if (lab.codex_home / SOCKET).exists():
        subprocess.run(
            [str(codex), "app-server", "daemon", "stop"],
            env=lab.env(),
            capture_output=True,
            timeout=60,
        )
    home = f"CODEX_HOME={lab.codex_home}".encode()
    for proc in Path("/proc").iterdir():  # what is left of this lab's daemon, by pid
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if home in environ:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)


def session_in(lab: Lab, cwd: Path) -> str:
    """The id of the session observer reports working in `cwd` (waits for it)."""
    found: list[str] = []

    def seen() -> bool:
        with lab.recorder.lock:
            for message in lab.recorder.messages:
                fields = message.get("session") or message.get("changes") or {}
                if fields.get("cwd") == str(cwd):
                    found.append(str(message["session_id"]))
                    return True
        return False

    wait_until(seen, f"a session in {cwd}", timeout=60)
    return found[0]


def approve(lab: Lab, session_id: str, decision: str) -> dict[str, Any]:
    """What a phone does: answer the pending request, again while observer says it has no such
    request yet (the daemon's request reaches observer after the hook's report)."""
    request_id = lab.recorder.last_pending(session_id)["request_id"]
    message = {"type": "approve_tool", "session_id": session_id, "request_id": request_id}
    deadline = time.monotonic() + 30
    with lab.websocket() as ws:
        json.loads(ws.recv(timeout=10))
        for attempt in range(10_000):
            ws.send(json.dumps({**message, "decision": decision, "ref": attempt}))
            reply: dict[str, Any] = json.loads(ws.recv(timeout=30))
            while reply.get("ref") != attempt:
                reply = json.loads(ws.recv(timeout=30))
            if reply.get("code") != "already_resolved" or time.monotonic() > deadline:
                return reply
            time.sleep(0.1)
    return reply


def run_and_answer(codex: Path, lab: Lab, name: str, decision: str) -> tuple[Path, str, Any]:
    cwd = lab.workdir(name)
    tui = Tui(codex, lab, cwd)
    try:
        tui.ready()
        wait_until((lab.codex_home / SOCKET).exists, "the TUI to start the daemon", timeout=120)
        mark = tui.mark()
        tui.type_line("[[scenario:escalate]] Create perm_test.txt")
        session = session_in(lab, cwd)
        wait_until(
            lambda: tui.shows(r"Would you like to run", after=mark),
            "the TUI's approval prompt",
            timeout=60,
        )
        wait_until(lambda: lab.recorder.statuses(session)[-1:] == ["permission"], "permission", 60)
        reply = approve(lab, session, decision)
        assert reply.get("ok") is True, reply
        wait_until(
            lambda: lab.recorder.statuses(session)[-1:] == ["waiting"],
            "the turn to end",
            timeout=60,
        )
        return cwd, session, reply
    finally:
        tui.close()


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_a_client_answers_the_tui(codex_bin: Path, tui_lab: Lab, decision: str) -> None:
    cwd, session, _ = run_and_answer(codex_bin, tui_lab, f"tui-{decision}", decision)
    assert (cwd / "perm_test.txt").exists() is (decision == "allow")
    seen = collapse(tui_lab.recorder.statuses(session))
    expected = ["working", "permission", "working", "waiting"]
    report(f"tui/{decision}", expected, seen)
    assert seen == expected
    audit = json.loads(tui_lab.observer("audit", "--json").stdout)
    mine = [e for e in audit if e.get("session_id") == session and e.get("decision")]
    assert [(e["decision"], e.get("via")) for e in mine] == [(decision, "daemon")]
    assert mine[0]["by"] == "token@ws:127.0.0.1"  # the credential, then where from


def test_a_client_sends_the_tui_a_message_then_stops_its_turn(
    codex_bin: Path, tui_lab: Lab
) -> None:
    """Through Codex's daemon, while observer follows the thread: a message starts a turn the
    TUI shows, and a stop interrupts it (as Esc would)."""
    from tests.e2e.direct import act

    cwd = tui_lab.workdir("tui-reply-stop")
    tui = Tui(codex_bin, tui_lab, cwd)
    try:
        tui.ready()
        tui.type_line("[[scenario:text]] Say hello")
        session = session_in(tui_lab, cwd)
        wait_until(lambda: tui_lab.recorder.statuses(session)[-1:] == ["waiting"], "a turn", 60)
        wait_until(lambda: "send_message" in capabilities(tui_lab, session), "a line to it", 60)
        mark = tui.mark()
        text = "[[scenario:slow]] from the phone, run the long one"
        reply = act(tui_lab, type="send_message", session_id=session, text=text)
        assert reply.get("ok") is True, reply
        wait_until(lambda: tui.shows(r"from the phone", after=mark), "the TUI to show it", 60)
        wait_until(
            lambda: "interrupt_session" in capabilities(tui_lab, session), "a stop offered", 60
        )
        reply = act(tui_lab, type="interrupt_session", session_id=session)
        assert reply.get("ok") is True, reply
        wait_until(
            lambda: tui_lab.recorder.statuses(session)[-1:] == ["waiting"], "the stop", 20
        )  # long before the 30 s command would have ended
    finally:
        tui.close()
    audit = json.loads(tui_lab.observer("audit", "--json").stdout)
    mine = [e for e in audit if e.get("session_id") == session and e.get("via") == "daemon"]
    assert [("replied" in e, e.get("stop")) for e in mine] == [(True, None), (False, "done")]


def test_the_tui_still_asks_when_observer_stops(codex_bin: Path, tui_lab: Lab) -> None:
    """Last in this module: it stops the lab's observer. Attached while the TUI asks, then
    gone: the TUI's own prompt still decides (observer never holds the approval hostage)."""
    cwd = tui_lab.workdir("tui-observer-stops")
    tui = Tui(codex_bin, tui_lab, cwd)
    try:
        tui.ready()
        mark = tui.mark()
        tui.type_line("[[scenario:escalate]] Create perm_test.txt")
        session = session_in(tui_lab, cwd)
        wait_until(lambda: tui.shows(r"Would you like to run", after=mark), "the prompt", 60)
        wait_until(
            lambda: tui_lab.recorder.statuses(session)[-1:] == ["permission"], "permission", 60
        )
        time.sleep(1.0)  # observer's attacher holds the replayed request by now
        tui_lab.recorder.stop()
        time.sleep(0.5)
        observer = tui_lab.processes[-1]
        observer.terminate()
        observer.wait(timeout=30)
        mark = tui.mark()
        tui.keys("y")  # 1. Yes, proceed
        wait_until(lambda: (cwd / "perm_test.txt").exists(), "the command to run", 60)
        assert tui.until(r"Ask Codex to do anything", 60, after=mark)
        report("tui/observer-stopped-mid-prompt", ["run by the TUI"], ["run by the TUI"])
    finally:
        tui.close()
