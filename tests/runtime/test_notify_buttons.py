"""A notification's answer buttons are offered only where a tap can answer: the session offers
the action now. An observed session's request is held a moment after it shows (away mode, or
Codex's daemon): its notification waits for the hold, then carries Approve/Deny; never held,
it goes with Open alone; answered meanwhile (a rule, the keyboard), it is not sent at all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from observer.core.notify import Notification, NotifyPolicy
from observer.runtime.action_links import ActionLinks
from observer.runtime.hub import Hub
from observer.runtime.notify_send import Button, Notifier

WAIT = 0.2  # hold_wait in these tests


class Recorded:
    name = "recorded"

    def __init__(self) -> None:
        self.sent: list[tuple[Notification, list[str]]] = []

    def send(self, note: Notification, buttons: list[Button]) -> None:
        self.sent.append((note, [b.label for b in buttons]))


def notifier(away: bool) -> tuple[Notifier, Recorded]:
    channel = Recorded()
    policy = NotifyPolicy(link_base="http://phone.example:4700")
    made = Notifier(
        Hub(), policy, [channel], links=ActionLinks(), away=lambda: away, hold_wait=WAIT
    )
    return made, channel


def delta(status: str, request: str | None, capabilities: list[str], **more: Any) -> Any:
    pending = {"request_id": request, "summary": "rm -rf build"} if request else None
    changes = {"pending": pending, "capabilities": capabilities, **more}
    event = {"kind": "approval_request", "at": time.time()}
    return {
        "type": "session_delta",
        "session_id": "s1",
        "status": status,
        "changes": changes,
        "event": event,
    }


def created() -> Any:
    session = {"id": "s1", "status": "working", "agent": "claude", "capabilities": []}
    return {
        "type": "session_created",
        "session_id": "s1",
        "status": "working",
        "session": session,
        "event": {"kind": "prompt", "at": time.time()},
    }


async def test_away_the_buttons_wait_for_the_hold() -> None:
    made, channel = notifier(away=True)
    await made.handle(created())
    await made.handle(delta("permission", "r1", []))  # the hook's event: not held yet
    assert channel.sent == []
    assert made.holding == {"s1"}
    await made.handle(delta("permission", "r1", ["approve_tool"]))  # held: now a tap answers
    assert [labels for _note, labels in channel.sent] == [["Approve", "Deny", "Open"]]
    assert made.holding == set()  # its wait is over: nothing more will be sent for it


async def test_away_never_held_it_goes_with_open_alone() -> None:
    made, channel = notifier(away=True)
    await made.handle(created())
    await made.handle(delta("permission", "r1", []))
    async with asyncio.timeout(10):  # the hold_wait's timer sends it
        while not channel.sent:
            await asyncio.sleep(0.01)
    assert [labels for _note, labels in channel.sent] == [["Open"]]


async def test_answered_before_it_was_held_nothing_is_sent() -> None:
    made, channel = notifier(away=True)
    await made.handle(created())
    await made.handle(delta("permission", "r1", []))
    await made.handle(delta("working", None, ["interrupt_session"]))  # a rule allowed it
    assert channel.sent == []
    assert made.holding == set()  # its timer is cancelled: it will never be sent


async def test_not_away_a_terminal_request_goes_at_once_with_open_alone() -> None:
    made, channel = notifier(away=False)
    await made.handle(created())
    await made.handle(delta("permission", "r1", []))
    assert [labels for _note, labels in channel.sent] == [["Open"]]


async def test_codex_through_its_daemon_waits_for_the_hold_without_away_mode() -> None:
    made, channel = notifier(away=False)
    await made.handle(created())
    await made.handle(delta("permission", "r1", [], reachable=True))
    assert channel.sent == []
    await made.handle(delta("permission", "r1", ["approve_tool"], reachable=True))
    assert [labels for _note, labels in channel.sent] == [["Approve", "Deny", "Open"]]


async def test_a_launched_session_offers_its_buttons_at_once() -> None:
    made, channel = notifier(away=False)
    await made.handle(created())
    await made.handle(delta("permission", "r1", ["approve_tool", "interrupt_session"]))
    assert [labels for _note, labels in channel.sent] == [["Approve", "Deny", "Open"]]
