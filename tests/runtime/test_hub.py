"""The hub: fan-out with bounded queues, the replay ring."""

from __future__ import annotations

import asyncio
import logging

import pytest

from observer import agents
from observer.core.events import Event, Kind, Origin
from observer.core.state import INACTIVE_IN_HISTORY
from observer.runtime.hub import LIVE_SECONDS, SUBSCRIBER_QUEUE, Hub
from observer.runtime.outbox import BEHIND, STALL_SECONDS, Outbox
from tests.support.paths import FIXTURES


def _prompt(session_id: str, at: float, text: str = "go") -> Event:
    """A visible change each time: the first materialises, later ones change last_message."""
    if at == 0:
        return Event(Kind.PROMPT, session_id, "claude", at, "UserPromptSubmit", detail=text)
    return Event(Kind.MESSAGE, session_id, "claude", at, "MessageDisplay", detail=text)


def _apply(hub: Hub, event: Event) -> dict[str, object]:
    _, message = hub.apply(event, event.at)
    assert message is not None
    hub.publish([message])
    return message


def test_a_subscriber_behind_gets_the_latest_state_one_that_stops_reading_is_dropped() -> None:
    hub = Hub()
    now = [0.0]
    slow = hub.add_subscriber()
    slow.queue = Outbox(clock=lambda: now[0])
    hub.subscribe_list(slow)
    fast = hub.add_subscriber()
    hub.subscribe_list(fast)
    for i in range(SUBSCRIBER_QUEUE + 5):
        _apply(hub, _prompt("s", float(i), f"prompt {i}"))
        while not fast.queue.empty():
            fast.queue.get_nowait()  # the fast client keeps up
    # Behind, not stopped: its last waiting delta holds the session's latest state.
    assert not slow.dropped and slow.queue.qsize() == BEHIND
    waiting = [slow.queue.get_nowait() for _ in range(BEHIND)]
    assert waiting[-1] is not None and waiting[-1]["revision"] == SUBSCRIBER_QUEUE + 5
    assert waiting[-1]["changes"]["last_message"] == f"prompt {SUBSCRIBER_QUEUE + 4}"
    # Then it stops reading: once BEHIND wait and nothing was taken for STALL_SECONDS, dropped.
    for i in range(BEHIND):
        _apply(hub, _prompt("s", 2000.0 + i, f"later {i}"))
    now[0] += STALL_SECONDS + 1
    assert not slow.dropped  # no message came since: nothing tells
    _apply(hub, _prompt("s", 3000.0, "one more"))
    assert slow.dropped
    assert slow.queue.qsize() == 1 and slow.queue.get_nowait() is None  # "close and resubscribe"
    assert not fast.dropped
    assert hub.subscriber_count == 1


def test_session_subscription_replays_from_the_ring_then_falls_back_to_a_snapshot() -> None:
    hub = Hub(ring_size=3)
    for i in range(5):
        _apply(hub, _prompt("s", float(i), f"p{i}"))  # revisions 1..5; the ring keeps 3..5
    sub = hub.add_subscriber()
    replayed = hub.subscribe_session(sub, "s", 2)
    assert replayed["type"] == "session_events"
    assert [m["revision"] for m in replayed["events"]] == [3, 4, 5]  # type: ignore[index]
    assert hub.subscribe_session(sub, "s", 1)["type"] == "session_snapshot"
    assert hub.subscribe_session(sub, "s", 5) == {
        "type": "session_events",
        "session_id": "s",
        "events": [],
    }
    assert hub.subscribe_session(sub, "nope", 0)["code"] == "not_found"


def test_a_session_ended_as_history_keeps_no_ring_but_a_live_end_does() -> None:
    hub = Hub(ring_size=100)
    for session_id in ("old", "live"):
        for i in range(5):
            _apply(hub, _prompt(session_id, float(i), f"p{i}"))
    history = Event(Kind.PROCESS_GONE, "old", "claude", 9.0, "history", detail=INACTIVE_IN_HISTORY)
    ended = _apply(hub, history)
    assert ended["type"] == "session_ended"
    gone = Event(Kind.PROCESS_GONE, "live", "claude", 9.0, "liveness")
    assert _apply(hub, gone)["type"] == "session_ended"
    sub = hub.add_subscriber()
    snapshot = hub.subscribe_session(sub, "old", 2)
    assert snapshot["type"] == "session_snapshot"
    assert snapshot["session"]["status"] == "ended"  # type: ignore[index]
    replayed = hub.subscribe_session(sub, "live", 2)
    assert [m["revision"] for m in replayed["events"]] == [3, 4, 5, 6]  # type: ignore[index]
    # Revived later (the file grew): a ring again, from there on.
    _apply(hub, Event(Kind.PROMPT, "old", "claude", 10.0, "UserPromptSubmit", detail="back"))
    again = hub.subscribe_session(sub, "old", 6)
    assert [m["revision"] for m in again["events"]] == [7]  # type: ignore[index]


def test_held_sessions_are_invisible() -> None:
    hub = Hub()
    write, message = hub.apply(Event(Kind.SESSION_START, "s", "claude", 1.0, "SessionStart"), 1.0)
    assert (write, message) == (None, None)
    assert hub.sessions_json() == []
    assert hub.subscribe_session(hub.add_subscriber(), "s", None)["code"] == "not_found"


async def test_a_server_follower_dropped_for_falling_behind_follows_on() -> None:
    hub = Hub()
    follower = hub.follow_all()
    pending = asyncio.ensure_future(follower.__anext__())
    await asyncio.sleep(0)  # subscribed now
    hub.publish([{"type": "x", "session_id": "s", "n": i} for i in range(SUBSCRIBER_QUEUE + 5)])
    assert hub.subscriber_count == 0  # dropped, like a client that fell behind
    for _ in range(3):
        await asyncio.sleep(0)  # it takes the drop and subscribes again
    assert hub.subscriber_count == 1
    hub.publish([{"type": "x", "session_id": "s", "n": "after"}])
    later = await asyncio.wait_for(pending, 1)
    assert later["n"] == "after"  # it follows on from now
    await follower.aclose()
    assert hub.subscriber_count == 0


def test_live_sessions_seen_and_ended_are_logged_history_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A person reading the log later finds each live session's start and end; the start-up
    read of old files (events older than LIVE_SECONDS, history ends) adds nothing."""
    hub = Hub()
    now = 1_700_000_000.0
    caplog.set_level(logging.INFO, logger="observer.runtime.hub")
    hub.apply(Event(Kind.PROMPT, "old", "codex", now - LIVE_SECONDS - 1, "x", cwd="/o"), now)
    history = Event(Kind.PROCESS_GONE, "old", "codex", now, "history", detail=INACTIVE_IN_HISTORY)
    hub.apply(history, now)
    hub.apply(Event(Kind.PROMPT, "new", "claude", now - 1, "UserPromptSubmit", cwd="/w"), now)
    hub.apply(Event(Kind.MESSAGE, "new", "claude", now, "MessageDisplay", detail="hi"), now)
    hub.apply(Event(Kind.PROCESS_GONE, "new", "claude", now, "liveness"), now)
    assert [r.getMessage() for r in caplog.records] == [
        "session new seen: claude in /w",
        "session new ended: claude (process_gone)",
    ]


@pytest.mark.parametrize(
    "scenario", ["b_bash", "c_perm_stdio_allow", "h_multiturn", "j_question", "f_interrupt"]
)
def test_a_deltas_changes_are_what_the_session_shows(scenario: str) -> None:
    """Read straight off the state, a delta's fields equal the same fields of `public()`."""
    parser = agents.hook_parser("claude")
    assert parser is not None
    hub = Hub()
    deltas = 0
    lines = (FIXTURES / "claude" / scenario / "hooks.jsonl").read_text().splitlines()
    for n, line in enumerate(lines):
        origin = Origin("claude", 1000.0 + n, 4242, f"ev.{n}")
        for event in parser(line.encode(), origin):
            _, message = hub.apply(event, event.at)
            if message is None or message["type"] != "session_delta":
                continue
            deltas += 1
            state = hub.book.get(message["session_id"])
            assert state is not None
            public = state.public()
            assert message["changes"] == {k: public[k] for k in message["changes"]}
    assert deltas > 3
