"""observer.clients.feed against a real server that is killed and restarted while events keep
coming: every revision of a followed session arrives once, in order, none missed. And its fold
of the protocol, frame by frame, without a server."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import WebSocketException

from observer.clients.feed import Change, SessionFeed
from observer.ingest.spool import write_event
from observer.settings import load_settings
from tests.approvals.test_decide_hook import Lab
from tests.support.credentials import token_of
from tests.support.server_process import free_port, wait_for

SESSION = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def lab(tmp_path: Path, isolated_home: Path) -> Iterator[Lab]:
    port = free_port()
    env = dict(os.environ, OBSERVER_BIND=f"127.0.0.1:{port}", OBSERVER_LIVENESS_INTERVAL="0")
    opened = Lab(tmp_path / "data", port, env, isolated_home, tmp_path / "server.log")
    opened.start()
    try:
        yield opened
    finally:
        opened.stop(signal.SIGKILL)


def turn(lab: Lab, number: int) -> None:
    """One prompt and its Stop, as Claude's hooks spool them: two revisions."""
    for event, extra in (("UserPromptSubmit", {"prompt": f"turn {number}"}), ("Stop", {})):
        payload = {"session_id": SESSION, "hook_event_name": event, "cwd": "/tmp/p", **extra}
        write_event(
            lab.data_dir / "spool", "claude", event, os.getpid(), json.dumps(payload).encode()
        )


def test_a_restart_loses_and_repeats_nothing(lab: Lab) -> None:
    feed = SessionFeed(
        lab.url, token=token_of(lab.data_dir), sleep=lambda s: threading.Event().wait(min(s, 0.2))
    )
    seen: list[Change] = []
    done = threading.Event()

    def follow() -> None:
        for change in feed.changes(stop=done.is_set):
            if change.session_id == SESSION:
                seen.append(change)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        wait_for(lambda: feed.lists_received >= 1, "the client to subscribe", timeout=20)
        for number in range(5):
            turn(lab, number)
        wait_for(lambda: feed.revisions.get(SESSION, 0) >= 10, "the first turns", timeout=20)
        lab.stop(signal.SIGKILL)
        for number in range(5, 10):  # while the server is down: spooled, not lost
            turn(lab, number)
        lab.start()
        for number in range(10, 15):
            turn(lab, number)
        wait_for(lambda: feed.revisions.get(SESSION, 0) >= 30, "every turn", timeout=30)
    finally:
        done.set()
        thread.join(timeout=5)
    revisions = [c.revision for c in seen]
    assert revisions == list(range(1, 31))  # each once, in order, none missed
    assert [c.status for c in seen[-2:]] == ["working", "waiting"]
    assert seen[-1].session["title"] == "turn 0"
    assert feed.reconnects >= 1


def test_status_watch_redraws_live(lab: Lab) -> None:
    from observer.clients.status_watch import CLEAR, watch_status
    from observer.settings import load_settings

    frames: list[str] = []
    settings = load_settings(data_dir=str(lab.data_dir), bind=f"127.0.0.1:{lab.port}")

    def stop() -> bool:
        return bool(frames) and "waiting" in frames[-1] and "p " in frames[-1]

    watcher = threading.Thread(target=watch_status, args=(settings, frames.append, stop))
    watcher.start()
    wait_for(lambda: len(frames) >= 1, "the first frame")
    turn(lab, 1)
    watcher.join(timeout=30)
    assert not watcher.is_alive()
    assert all(frame.startswith(CLEAR) for frame in frames)
    assert frames[0].startswith(CLEAR + "server: connecting to")  # said, not hidden
    last = frames[-1]
    assert "server: running at" in last and "(live: Ctrl-C to quit)" in last
    assert "waiting     claude  p" in last


# -- the fold, without a server ------------------------------------------------------------------
def _session(sid: str, status: str, revision: int = 1) -> dict[str, Any]:
    return {"id": sid, "agent": "claude", "status": status, "revision": revision, "pending": None}


def _frame(message: dict[str, Any]) -> str:
    return json.dumps(message)


def test_receive_folds_the_protocol() -> None:
    feed = SessionFeed("http://127.0.0.1:9")
    listed = {"type": "sessions_list", "sessions": [_session("a", "working")]}
    assert [c.kind for c in feed.receive(_frame(listed))] == ["snapshot"]
    delta = {
        "type": "session_delta",
        "session_id": "a",
        "revision": 2,
        "status": "permission",
        "changes": {"pending": {"tool": "Bash"}},
    }
    (change,) = feed.receive(_frame(delta))
    assert (change.kind, change.status, change.revision) == ("session_delta", "permission", 2)
    assert feed.sessions["a"]["pending"] == {"tool": "Bash"}
    assert feed.receive(_frame(delta)) == []  # a replay after a reconnect: delivered once
    # A delta of a session whose creation was never seen: the next list brings it whole.
    assert feed.receive(_frame({**delta, "session_id": "unknown", "revision": 5})) == []
    created = {"type": "session_created", "session_id": "b", "revision": 1, "status": "working"}
    assert feed.receive(_frame({**created, "session": _session("b", "working")}))
    assert set(feed.sessions) == {"a", "b"}
    assert feed.receive(_frame({"type": "pong"})) == [] and feed.receive("[]") == []


def test_a_new_list_is_the_whole_set() -> None:
    feed = SessionFeed("http://127.0.0.1:9")
    both = [_session("a", "working"), _session("b", "waiting")]
    feed.receive(_frame({"type": "sessions_list", "sessions": both}))
    again = [_session("a", "working"), _session("c", "question")]
    changes = feed.receive(_frame({"type": "sessions_list", "sessions": again}))
    assert [c.session_id for c in changes] == ["c"]  # a: nothing new
    assert set(feed.sessions) == set(feed.revisions) == {"a", "c"}  # b: gone from the server
    assert feed.lists_received == 2


def test_a_reconnect_asks_for_what_it_missed_then_the_list() -> None:
    feed = SessionFeed("http://127.0.0.1:9")
    assert [json.loads(a) for a in feed.subscriptions()] == [{"type": "subscribe_list"}]
    feed.receive(_frame({"type": "sessions_list", "sessions": [_session("a", "working", 7)]}))
    assert [json.loads(a) for a in feed.subscriptions()] == [
        {"type": "subscribe_session", "session_id": "a", "since_revision": 7},
        {"type": "subscribe_list"},
    ]


def test_the_first_frame_must_be_hello() -> None:
    feed = SessionFeed("http://127.0.0.1:9")
    feed.greet(_frame({"type": "hello", "version": "9.9"}))
    assert feed.server_version == "9.9"
    with pytest.raises(WebSocketException, match="not an observer server"):
        feed.greet(_frame({"type": "sessions_list", "sessions": []}))


def test_it_reaches_the_servers_socket_when_there_is_one(tmp_path: Path) -> None:
    settings = load_settings(data_dir=str(tmp_path / "d"), bind="127.0.0.1:4711", token="t")
    feed = SessionFeed.for_settings(settings)
    assert feed.socket_path == str(settings.socket_path)
    assert (feed.url, feed.token) == ("http://127.0.0.1:4711", "t")
    far = load_settings(data_dir=str(tmp_path / ("d" * 110)), bind="127.0.0.1:4711")
    assert SessionFeed.for_settings(far).socket_path is None  # too long a path: TCP
