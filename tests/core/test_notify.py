"""Notifications: a recorded sequence of 50 status changes gives exactly the expected
notifications (once per transition, cooldown honoured, nothing old at start), and the webhook and
ntfy channels deliver to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from observer.core.notify import Change, NotifyPolicy
from observer.ingest.spool import write_event
from observer.runtime.notify_send import NtfyChannel, WebhookChannel, _attempt
from observer.server.app import create_app
from observer.settings import load_settings
from tests.support.live import stats_when
from tests.support.paths import FIXTURES

OLD = -1000.0  # an event this far in the past is history, replayed at start

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


class Received:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.event = threading.Event()


@pytest.fixture
def http_sink() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.requests.append((self.path, dict(self.headers), body))
            self.send_response(200)
            self.end_headers()
            received.event.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def note() -> Any:
    policy = NotifyPolicy(link_base="http://phone.example:4700")
    change = Change("abc", "permission", "working", at=1.0, project="shop", agent="codex")
    return policy.consider(change, now=1.0)


def test_webhook_posts_json(http_sink: tuple[str, Received]) -> None:
    url, received = http_sink
    assert _attempt(WebhookChannel(f"{url}/hook"), note()) == "ok"
    path, headers, body = received.requests[0]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "session_id": "abc",
        "priority": "urgent",
        "title": "shop (codex) needs your approval",
        "body": "needs your approval",
        "link": "http://phone.example:4700/#/session/abc",
    }


def test_ntfy_uses_its_headers(http_sink: tuple[str, Received]) -> None:
    url, received = http_sink
    assert _attempt(NtfyChannel(f"{url}/my-topic"), note()) == "ok"
    path, headers, body = received.requests[0]
    assert path == "/my-topic"
    assert headers["Title"] == "shop (codex) needs your approval"
    assert headers["Priority"] == "high"
    assert headers["Click"] == "http://phone.example:4700/#/session/abc"
    assert body == b"needs your approval"


def test_an_unreachable_channel_is_an_outcome_not_a_crash() -> None:
    outcome = _attempt(WebhookChannel("http://127.0.0.1:9/nothing"), note())
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
