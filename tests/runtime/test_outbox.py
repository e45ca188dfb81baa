"""A subscriber's outbox: every message while it keeps up, each session's latest state while it
is behind, every delta or what it missed for a recorder, dropped only when it stops reading."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from observer.core.events import Event, Kind
from observer.runtime.hub import Hub
from observer.runtime.outbox import Outbox

Message = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _delta(session: str, revision: int, **changes: Any) -> Message:
    event = {"kind": "message", "wire": "MessageDisplay", "at": float(revision)}
    return {
        "type": "session_delta",
        "session_id": session,
        "revision": revision,
        "status": "working",
        "event": event,
        "changes": changes,
    }


def _apply(states: dict[str, Message], message: Message) -> None:
    """What a client does with a session message: its state, field by field."""
    state = states.setdefault(message["session_id"], {})
    if "changes" in message:
        state.update(message["changes"])
    else:
        state.clear()
        state.update(message["session"])
    state["revision"] = message["revision"]


def _drain(box: Outbox, states: dict[str, Message], got: list[Message]) -> None:
    while not box.empty():
        message = box.get_nowait()
        assert message is not None
        got.append(message)
        if "revision" in message:
            _apply(states, message)


def test_a_client_that_keeps_up_gets_every_message_in_order() -> None:
    box = Outbox(limit=10, behind=4)
    got: list[Message] = []
    sent = [_delta("s", n, last_message=f"m{n}") for n in range(1, 50)]
    for message in sent:
        assert box.offer(message)
        got.append(box.get_nowait())  # type: ignore[arg-type]
    assert got == sent and box.coalesced == 0


@pytest.mark.parametrize("seed", range(5))
def test_a_client_behind_ends_with_every_sessions_latest_state(seed: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    box = Outbox(limit=50, behind=10, stall_seconds=5.0, clock=clock)
    truth: dict[str, Message] = {}
    states: dict[str, Message] = {}
    got: list[Message] = []
    revisions = dict.fromkeys("abcdefgh", 0)
    for _ in range(5000):
        session = rng.choice("abcdefgh")
        revisions[session] += 1
        fields = rng.sample(["last_message", "title", "current_tool", "model"], rng.randint(1, 3))
        message = _delta(session, revisions[session], **{f: rng.random() for f in fields})
        if rng.random() < 0.05:  # now and then a message that is not merged: an ended session
            message = {**message, "type": "session_ended", "session": {"id": session}}
            message.pop("changes")
        _apply(truth, message)
        clock.now += 0.001
        assert box.offer(message), "a client that reads is never dropped"
        if rng.random() < 0.2:  # it reads one message in five: it falls behind and stays so
            if not box.empty():
                taken = box.get_nowait()
                assert taken is not None
                got.append(taken)
                _apply(states, taken)
        assert box.qsize() <= 10 + 8 + 50
    _drain(box, states, got)
    assert states == truth
    assert box.coalesced > 1000  # it was behind: most deltas were merged
    for session in revisions:  # each session's messages in revision order
        seen = [m["revision"] for m in got if m["session_id"] == session]
        assert seen == sorted(seen)
    merged = [m for m in got if m.get("coalesced")]
    assert merged and all(m["coalesced"] >= 2 for m in merged)


def test_a_delta_never_merges_ahead_of_another_message_of_its_session() -> None:
    box = Outbox(limit=100, behind=0)
    box.offer(_delta("s", 1, title="a"))
    box.offer({"type": "timeline_items", "session_id": "s", "items": []})
    box.offer(_delta("s", 2, title="b"))
    box.offer(_delta("s", 3, model="m"))
    got = [box.get_nowait() for _ in range(box.qsize())]
    assert [m["type"] for m in got if m] == ["session_delta", "timeline_items", "session_delta"]
    assert got[2] == {**_delta("s", 3, title="b", model="m"), "coalesced": 2}
    assert got[0] == _delta("s", 1, title="a")  # the published message itself is never changed


def test_only_a_client_that_stops_reading_is_dropped() -> None:
    clock = Clock()
    box = Outbox(limit=100, behind=10, stall_seconds=5.0, clock=clock)
    for n in range(1, 20):
        assert box.offer(_delta("s", n, title=str(n)))
    clock.now += 60  # a minute without reading, but only one session's deltas: merged
    box.get_nowait()  # it reads again: not stopped
    assert box.offer(_delta("s", 20, title="20"))
    clock.now += 5.5  # now it stops
    assert not box.offer(_delta("s", 21, title="21"))
    box.close()
    assert box.qsize() == 1 and box.get_nowait() is None
    assert box.offer(_delta("s", 22))  # closed: whatever comes is ignored
    assert box.qsize() == 0


def test_messages_that_cannot_merge_are_bounded_too() -> None:
    box = Outbox(limit=20, behind=5)
    accepted = [box.offer(_delta(f"s{n}", 1, title="t")) for n in range(25)]
    assert accepted == [True] * 20 + [False] * 5


def _event(n: int) -> Event:
    if n == 0:
        return Event(Kind.PROMPT, "s", "claude", 0.0, "UserPromptSubmit", detail="go")
    return Event(Kind.MESSAGE, "s", "claude", float(n), "MessageDisplay", detail=f"m{n}")


def test_a_recorder_gets_every_delta_or_is_told_what_it_missed_and_replays_it() -> None:
    hub = Hub(ring_size=1000)
    recorder = hub.add_subscriber()
    recorder.queue = Outbox(limit=40, behind=10)
    recorder.queue.every_delta = True
    hub.subscribe_list(recorder)
    for n in range(100):  # 100 messages, revisions 1..100, while it reads none
        _, message = hub.apply(_event(n), float(n))
        assert message is not None
        hub.publish([message])
    assert not recorder.dropped and recorder.queue.coalesced == 0
    got: list[Message] = []
    while not recorder.queue.empty():
        message = recorder.queue.get_nowait()
        assert message is not None
        got.append(message)
    queued = [m["revision"] for m in got if m["type"] != "missed"]
    assert queued == list(range(1, 41))  # in order, none merged
    missed = [m for m in got if m["type"] == "missed"]
    assert missed == [
        {"type": "missed", "session_id": "s", "from_revision": 41, "to_revision": 100}
    ]
    replay = hub.subscribe_session(recorder, "s", missed[0]["from_revision"] - 1)
    assert replay["type"] == "session_events"
    assert [m["revision"] for m in replay["events"]] == list(range(41, 101))


async def test_the_sender_waits_for_a_message() -> None:
    box = Outbox()
    waiting = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    box.offer(_delta("s", 1))
    assert await asyncio.wait_for(waiting, 60) == _delta("s", 1)
