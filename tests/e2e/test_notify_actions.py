"""Answering from a notification, with the real Claude Code (the pinned version): the ntfy
message (to a stand-in ntfy server) carries Approve, Deny and Open; performing Approve exactly
as the ntfy app does (method, URL, headers, body) lets the command run, performing it again is
refused; Deny on another request blocks its command; a question's option answers it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.claude_cli import finish, session_of, start_claude
from tests.e2e.direct import direct_lab, launch, wait_status
from tests.e2e.harness import Lab, wait_until
from tests.support.ntfy import NtfyAction, Received, ntfy_actions, press, stand_in_ntfy

pytestmark = pytest.mark.e2e


@pytest.fixture
def notified(tmp_path: Path, claude_bin: Path) -> Iterator[tuple[Lab, Received]]:
    with stand_in_ntfy() as (url, received):
        env = {
            "OBSERVER_NOTIFY_NTFY": f"{url}/observer-topic",
            "OBSERVER_NOTIFY_COOLDOWN": "0",
            "OBSERVER_CLAUDE_BIN": str(claude_bin),
        }
        with direct_lab(tmp_path, env) as lab:
            yield lab, received


def buttons_for(received: Received, session_id: str) -> tuple[dict[str, str], list[NtfyAction]]:
    """The headers and buttons of the first notification about `session_id` with buttons."""

    def found() -> tuple[dict[str, str], list[NtfyAction]] | None:
        for _path, headers, _body in list(received.requests):
            if session_id in headers.get("Click", "") and "Actions" in headers:
                return headers, ntfy_actions(headers["Actions"])
        return None

    wait_until(lambda: found() is not None, f"a notification with buttons for {session_id}")
    got = found()
    assert got is not None
    return got


def test_approve_then_deny_from_the_notification(
    claude_bin: Path, notified: tuple[Lab, Received]
) -> None:
    lab, received = notified
    lab.observer("away", "on")
    cwd = lab.workdir("notify-approve")
    claude = start_claude(claude_bin, lab, cwd, "[[scenario:perm]] Create perm_test.txt")
    session = session_of(claude)
    headers, (approve, deny, open_page) = buttons_for(received, session)
    assert headers["Priority"] == "high" and "needs your approval" in headers["Title"]
    assert (approve.label, deny.label, open_page.label) == ("Approve", "Deny", "Open")
    assert approve.method == "POST" and approve.url.startswith(lab.observer_url + "/act/")
    assert (lab.data_dir / "token").read_text().strip() not in headers["Actions"]

    status, answer = press(approve)  # as the ntfy app does, on the lock screen
    assert (status, answer["message"]) == (200, "Approved"), answer
    assert finish(claude) == 0
    assert (cwd / "perm_test.txt").exists()  # the command ran
    status, again = press(approve)
    assert (status, again["code"]) == (410, "link_used")

    other = lab.workdir("notify-deny")
    claude = start_claude(claude_bin, lab, other, "[[scenario:perm]] Create perm_test.txt")
    session = session_of(claude)
    _, (_approve, deny, _open) = buttons_for(received, session)
    status, answer = press(deny)
    assert (status, answer["message"]) == (200, "Denied"), answer
    assert finish(claude) == 0
    assert not (other / "perm_test.txt").exists()  # blocked
    entries = json.loads(lab.observer("audit", "--json").stdout)
    decided = [(e["decision"], e["by"].split("@")[0]) for e in entries if e.get("decision")]
    assert decided == [("allow", "notification:ntfy"), ("deny", "notification:ntfy")]


def test_a_question_answered_by_its_option(notified: tuple[Lab, Received]) -> None:
    lab, received = notified
    session, _cwd = launch(lab, "claude", "notify-question", "[[scenario:question]] Pick one")
    wait_status(lab, session, "question")
    headers, options = buttons_for(received, session)
    assert "asks you a question" in headers["Title"]
    assert [o.label for o in options] == ["Red", "Blue"]
    status, answer = press(options[1])
    assert (status, answer["message"]) == (200, "Answered: Blue"), answer
    wait_status(lab, session, "waiting")
    status, again = press(options[0])  # the other option of the same question: dead too
    assert (status, again["code"]) == (410, "link_used")
