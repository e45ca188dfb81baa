"""Notifications: a recorded sequence of 50 status changes gives exactly the expected
notifications (once per transition, cooldown honoured, nothing old at start), and the webhook and
ntfy channels deliver to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from observer.core.notify import (
    ESCALATED,
    Change,
    NotifyPolicy,
    is_quiet,
    offers_for,
    parse_quiet_hours,
)
from observer.ingest.spool import write_event
from observer.runtime.notify_send import Button, NtfyChannel, WebhookChannel, _attempt
from observer.server.app import create_app
from observer.settings import load_settings
from tests.support.live import stats_when
from tests.support.ntfy import Received, stand_in_ntfy
from tests.support.paths import FIXTURES

OLD = -1000.0  # an event this far in the past is history, replayed at start
OPEN_BUTTON = Button("Open", "http://phone.example:4700/#/session/abc", opens=True)

# (now, session, status, request id, event age, expected priority or "")
SEQUENCE: list[tuple[float, str, str, str, float, str]] = [
    (0, "A", "working", "", 0, ""),
    (1, "A", "permission", "r1", 0, "urgent"),
    (2, "A", "permission", "r1", 0, ""),  # the same request seen again: once per transition
    (5, "A", "working", "", 0, ""),
    (6, "A", "waiting", "", 0, ""),  # a finished turn inside A's cooldown
    (40, "A", "working", "", 0, ""),
    (45, "A", "waiting", "", 0, "low"),  # cooldown over
    (46, "A", "question", "q1", 0, "urgent"),  # more urgent than what was sent: not held back
    (47, "A", "question", "q1", 0, ""),
    (50, "A", "working", "", 0, ""),
    (51, "A", "permission", "r2", 0, ""),  # urgent again, but inside the cooldown
    (52, "A", "working", "", 0, ""),
    (90, "A", "permission", "r3", 0, "urgent"),
    (91, "A", "working", "", 0, ""),
    (10, "B", "waiting", "", 0, ""),  # created idle: no turn finished
    (11, "B", "working", "", 0, ""),
    (12, "B", "waiting", "", 0, "low"),
    (13, "B", "working", "", 0, ""),
    (14, "B", "waiting", "", 0, ""),
    (60, "B", "working", "", 0, ""),
    (61, "B", "waiting", "", 0, "low"),
    (62, "B", "waiting", "", 0, ""),
    (63, "B", "ended", "", 0, ""),
    (100, "C", "permission", "r9", OLD, ""),  # history at start: recorded, never sent
    (100, "C", "permission", "r9", 0, ""),  # and not sent later for the same request
    (101, "C", "working", "", 0, ""),
    (102, "C", "permission", "r10", 0, "urgent"),
    (103, "C", "working", "", 0, ""),
    (104, "C", "waiting", "", 0, ""),
    (140, "C", "question", "q2", 0, "urgent"),
    (141, "C", "working", "", 0, ""),
    (142, "C", "waiting", "", 0, ""),
    (143, "C", "ended", "", 0, ""),
    (100, "D", "working", "", OLD, ""),
    (100, "D", "waiting", "", OLD, ""),
    (100, "D", "question", "q3", OLD, ""),
    (200, "D", "question", "q3", 0, ""),
    (201, "D", "working", "", 0, ""),
    (202, "D", "question", "q4", 0, "urgent"),
    (203, "D", "working", "", 0, ""),
    (204, "D", "waiting", "", 0, ""),
    (240, "D", "working", "", 0, ""),
    (241, "D", "waiting", "", 0, "low"),
    (242, "D", "permission", "r11", 0, "urgent"),
    (243, "D", "permission", "r11", 0, ""),
    (244, "D", "working", "", 0, ""),
    (245, "D", "permission", "r12", 0, ""),
    (246, "D", "working", "", 0, ""),
    (300, "D", "waiting", "", 0, "low"),
    (301, "D", "ended", "", 0, ""),
]


def test_the_recorded_sequence_gives_exactly_the_expected_notifications() -> None:
    assert len(SEQUENCE) == 50
    policy = NotifyPolicy(link_base="http://127.0.0.1:4700/", cooldown=30, max_age=60)
    previous: dict[str, str] = {}
    seen: list[tuple[float, str, str]] = []
    for now, session, status, request, age, _ in SEQUENCE:
        change = Change(
            session_id=session,
            status=status,
            previous=previous.get(session),
            at=now + age,
            project=f"proj-{session}",
            agent="claude",
            request_id=request or None,
            summary=f"Bash: rm -rf build\nsecond line ({request})",
        )
        previous[session] = status
        note = policy.consider(change, now)
        if note is not None:
            seen.append((now, session, note.priority))
            assert note.link == f"http://127.0.0.1:4700/#/session/{session}"
            assert note.title.startswith(f"proj-{session} (claude) ")
            assert note.body == "Bash: rm -rf build"  # the first line only
    expected = [(now, s, p) for now, s, _, _, _, p in SEQUENCE if p]
    assert seen == expected


def test_cooldown_zero_still_sends_each_transition_once() -> None:
    policy = NotifyPolicy(link_base="http://x", cooldown=0)
    sent = [
        policy.consider(Change("s", status, prev, at=t, request_id=req), now=t)
        for t, (status, prev, req) in enumerate(
            [
                ("permission", "working", "r1"),
                ("permission", "permission", "r1"),
                ("working", "permission", None),
                ("permission", "working", "r2"),
            ]
        )
    ]
    assert [n.priority if n else None for n in sent] == ["urgent", None, None, "urgent"]


@pytest.fixture
def http_sink() -> Iterator[tuple[str, Received]]:
    with stand_in_ntfy() as sink:
        yield sink


def note() -> Any:
    policy = NotifyPolicy(link_base="http://phone.example:4700")
    change = Change(
        "abc", "permission", "working", at=1.0, project="shop", agent="codex", request_id="r1"
    )
    return policy.consider(change, now=1.0)


def test_webhook_posts_json(http_sink: tuple[str, Received]) -> None:
    url, received = http_sink
    buttons = [Button("Approve", "http://phone.example:4700/act/t1"), OPEN_BUTTON]
    assert _attempt(WebhookChannel(f"{url}/hook"), note(), buttons) == "ok"
    path, headers, body = received.requests[0]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "session_id": "abc",
        "priority": "urgent",
        "title": "shop (codex) needs your approval",
        "body": "needs your approval",
        "link": "http://phone.example:4700/#/session/abc",
        "request_id": "r1",
        "actions": [
            {
                "label": "Approve",
                "method": "POST",
                "url": "http://phone.example:4700/act/t1",
                "headers": {"Content-Type": "application/json"},
                "body": "{}",
            },
            {"label": "Open", "open": "http://phone.example:4700/#/session/abc"},
        ],
    }


def test_ntfy_uses_its_headers(http_sink: tuple[str, Received]) -> None:
    url, received = http_sink
    buttons = [
        Button("Approve", "http://phone.example:4700/act/t1"),
        Button("Deny", "http://phone.example:4700/act/t2"),
        OPEN_BUTTON,
    ]
    assert _attempt(NtfyChannel(f"{url}/my-topic"), note(), buttons) == "ok"
    path, headers, body = received.requests[0]
    assert path == "/my-topic"
    assert headers["Title"] == "shop (codex) needs your approval"
    assert headers["Priority"] == "high"
    assert headers["Click"] == "http://phone.example:4700/#/session/abc"
    assert headers["Actions"] == (
        "http, Approve, http://phone.example:4700/act/t1, method=POST, "
        "headers.Content-Type=application/json, body={}, clear=true; "
        "http, Deny, http://phone.example:4700/act/t2, method=POST, "
        "headers.Content-Type=application/json, body={}, clear=true; "
        "view, Open, http://phone.example:4700/#/session/abc, clear=true"
    )
    assert body == b"needs your approval"


def test_an_unreachable_channel_is_an_outcome_not_a_crash() -> None:
    outcome = _attempt(WebhookChannel("http://127.0.0.1:9/nothing"), note(), [])
    assert outcome.startswith(("URLError", "ConnectionRefusedError"))


async def test_the_running_server_notifies_a_permission_request(
    tmp_path: Path, http_sink: tuple[str, Received]
) -> None:
    """Hook payload in the spool → state machine → hub → notifier → webhook, in process."""
    url, received = http_sink
    settings = load_settings(
        data_dir=str(tmp_path / "data"), liveness_interval=0, notify_webhook=f"{url}/hook"
    )
    app = create_app(settings)
    fixtures = FIXTURES / "claude" / "c_perm_stdio_allow"
    async with app.test_app() as test_app:
        lines = (fixtures / "hooks.jsonl").read_bytes().splitlines()
        for line in lines:
            name = json.loads(line)["hook_event_name"]
            write_event(settings.spool_dir, "claude", name, os.getpid(), line)
        await stats_when(test_app.test_client(), lambda s: s["spool_ingested"] == len(lines))
        assert await asyncio.to_thread(received.event.wait, 10)
        await asyncio.sleep(0.3)  # a second (wrong) notification would land by now
    # The spool files were written just now, so the request is fresh: one urgent notification;
    # the finished turn right after it falls inside the session's cooldown.
    sent = [json.loads(body) for _, _, body in received.requests]
    assert [(n["priority"], n["title"].split(" (claude) ")[1]) for n in sent] == [
        ("urgent", "needs your approval")
    ]
    assert sent[0]["body"].startswith("touch perm_test.txt")


# -- what a notification offers, and what time calls for ---------------------------------------
def test_a_permission_offers_approve_deny_and_open() -> None:
    change = Change("s", "permission", "working", at=0, request_id="r1")
    assert [(o.label, o.action, o.params) for o in offers_for(change)] == [
        ("Approve", "approve_tool", (("decision", "allow"),)),
        ("Deny", "approve_tool", (("decision", "deny"),)),
        ("Open", None, ()),
    ]


def test_a_question_offers_its_first_three_options() -> None:
    public = {
        "id": "s",
        "status": "question",
        "pending": {
            "request_id": "q1",
            "summary": "Which colour?",
            "questions": [
                {
                    "question": "Which colour?",
                    "options": [
                        {"label": "Red"},
                        "Blue",
                        {"label": " "},
                        {"nope": 1},
                        "Green",
                        "Pink",
                    ],
                    "multiple": False,
                }
            ],
        },
    }
    change = Change.from_session(public, "working", at=0)
    assert change.options == ("Red", "Blue", "Green", "Pink")
    several = dict(public, pending={**public["pending"], "questions": [{"multiple": True}]})
    assert Change.from_session(several, "working", at=0).options == ()
    two = public["pending"]["questions"] * 2
    assert Change.from_session(dict(public, pending={"questions": two}), None, 0).options == ()
    offers = offers_for(change)
    assert [(o.label, o.params) for o in offers] == [
        ("Red", (("answer", "Red"),)),
        ("Blue", (("answer", "Blue"),)),
        ("Green", (("answer", "Green"),)),
    ]
    no_options = Change("s", "question", "working", at=0, request_id="q2")
    assert [o.label for o in offers_for(no_options)] == ["Open"]


def test_an_ask_still_open_is_sent_again_once_at_the_highest_priority() -> None:
    policy = NotifyPolicy(link_base="http://x", escalate_after=300)
    first = policy.consider(Change("s", "permission", "working", at=0, request_id="r1"), now=0)
    assert first is not None and first.priority == "urgent"
    assert policy.due(now=299) == []
    (again,) = policy.due(now=300)
    assert again.priority == ESCALATED and again.title.endswith("still needs your approval")
    assert [o.label for o in again.offers] == ["Approve", "Deny", "Open"]
    assert policy.due(now=900) == []  # once
    # Answered before the time: nothing is sent again.
    policy.consider(Change("t", "permission", "working", at=0, request_id="r2"), now=0)
    policy.consider(Change("t", "working", "permission", at=10), now=10)
    assert policy.due(now=1000) == []


def test_a_working_session_gone_quiet_is_reported_once() -> None:
    policy = NotifyPolicy(link_base="http://x", stalled_after=900)
    policy.consider(Change("s", "working", "waiting", at=0, project="shop"), now=0)
    policy.activity("s", 500)  # a tool ran: still alive
    assert policy.due(now=1300) == []
    (stalled,) = policy.due(now=1400)
    assert stalled.title == "shop may be stalled" and stalled.priority == "low"
    assert "15 minutes" in stalled.body
    assert policy.due(now=5000) == []  # once per working spell
    policy.consider(Change("s", "waiting", "working", at=5001), now=5001)
    assert policy.due(now=9999) == []  # not working: never stalled


def test_escalation_and_stall_reports_are_off_at_zero() -> None:
    policy = NotifyPolicy(link_base="http://x")
    policy.consider(Change("s", "permission", "working", at=0, request_id="r1"), now=0)
    policy.consider(Change("w", "working", "waiting", at=0), now=0)
    assert policy.due(now=1e9) == []


@pytest.mark.parametrize(
    ("text", "channel", "minute", "quiet"),
    [
        ("ntfy=22:00-07:00", "ntfy", 23 * 60, True),
        ("ntfy=22:00-07:00", "ntfy", 6 * 60 + 59, True),
        ("ntfy=22:00-07:00", "ntfy", 7 * 60, False),
        ("ntfy=22:00-07:00", "desktop", 23 * 60, False),
        ("*=12:00-13:00, desktop=09:00-10:00", "webhook", 12 * 60 + 30, True),
        ("*=12:00-13:00, desktop=09:00-10:00", "desktop", 12 * 60 + 30, False),
        ("", "ntfy", 0, False),
    ],
)
def test_quiet_hours(text: str, channel: str, minute: int, quiet: bool) -> None:
    assert is_quiet(parse_quiet_hours(text), channel, minute) is quiet


@pytest.mark.parametrize(
    "text", ["ntfy=25:00-07:00", "ntfy 22:00-07:00", "ntfy=22-07", "=1:00-2:00"]
)
def test_quiet_hours_that_make_no_sense_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        parse_quiet_hours(text)
