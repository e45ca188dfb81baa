"""Where notifications go: the desktop, a webhook, ntfy; and the task that feeds them.

Each channel sends in a worker thread with a short timeout: a slow webhook must never hold up
the event loop that serves the WebSocket. A failed send is logged and dropped; notifications are
a convenience, the session list stays the truth.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from observer.core.notify import (
    ESCALATED,
    Change,
    Notification,
    NotifyPolicy,
    answered_by,
    is_quiet,
    open_only,
    parse_quiet_hours,
)
from observer.runtime.action_links import ActionLinks
from observer.runtime.budget import BudgetWatch
from observer.runtime.hub import Hub, Message
from observer.runtime.supervisor import tick
from observer.settings import Settings

log = logging.getLogger(__name__)
SEND_TIMEOUT = 10.0
TICK_SECONDS = 10.0  # how often escalations and stalled sessions are looked for
# A terminal session's request shows as pending (its hook's event) a moment before its hook's
# question reaches the desk that holds it: its Approve/Deny wait that long for the hold.
HOLD_WAIT = 3.0
_NTFY_PRIORITY = {ESCALATED: "urgent", "urgent": "high", "low": "low"}
# What a button's request must carry to pass the server's guard (a JSON body), as sent.
ACTION_HEADERS = {"Content-Type": "application/json"}
ACTION_BODY = "{}"


@dataclass(frozen=True)
class Button:
    """A notification's button: POST `url` (a single-use link) to answer, or open the page."""

    label: str
    url: str
    opens: bool = False  # a link to the page, not an answer


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, note: Notification, buttons: list[Button]) -> None: ...


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    name: str = "webhook"

    def send(self, note: Notification, buttons: list[Button]) -> None:
        body = json.dumps(
            {
                "session_id": note.session_id,
                "priority": note.priority,
                "title": note.title,
                "body": note.body,
                "link": note.link,
                "request_id": note.request_id,
                # Each answer: the request to make, once (`open`: a page to show instead).
                "actions": [
                    {"label": b.label, "open": b.url}
                    if b.opens
                    else {
                        "label": b.label,
                        "method": "POST",
                        "url": b.url,
                        "headers": ACTION_HEADERS,
                        "body": ACTION_BODY,
                    }
                    for b in buttons
                ],
            }
        ).encode()
        _post(self.url, body, {"Content-Type": "application/json"})


@dataclass(frozen=True)
class NtfyChannel:
    """ntfy's publish API: the message is the body; title, priority, link and the action
    buttons are headers (https://docs.ntfy.sh/publish/#action-buttons)."""

    url: str
    name: str = "ntfy"

    def send(self, note: Notification, buttons: list[Button]) -> None:
        headers = {
            # HTTP headers are latin-1: ntfy documents RFC 2047 for anything else.
            "Title": _header_safe(note.title),
            "Priority": _NTFY_PRIORITY[note.priority],
            "Click": note.link,
            "Tags": "robot",
        }
        if buttons:
            headers["Actions"] = "; ".join(_ntfy_action(b) for b in buttons)
        _post(self.url, note.body.encode(), headers)


def _ntfy_action(button: Button) -> str:
    # ntfy's short header format: "action, label, url[, key=value...]"; a label with a comma,
    # a semicolon or a quote is quoted.
    label = _header_safe(button.label)
    if any(c in label for c in ",;\"'"):
        label = '"' + label.replace('"', "'") + '"'
    if button.opens:
        return f"view, {label}, {button.url}, clear=true"
    return (
        f"http, {label}, {button.url}, method=POST, "
        f"headers.Content-Type={ACTION_HEADERS['Content-Type']}, body={ACTION_BODY}, clear=true"
    )


@dataclass(frozen=True)
class DesktopChannel:
    name: str = "desktop"

    def send(self, note: Notification, buttons: list[Button]) -> None:
        if sys.platform == "darwin":
            script = (
                f"display notification {_applescript(note.body)} "
                f"with title {_applescript(note.title)}"
            )
            command = ["osascript", "-e", script]
        else:
            if shutil.which("notify-send") is None:
                raise OSError("notify-send is not installed (Debian/Ubuntu: libnotify-bin)")
            urgency = "critical" if note.priority == "urgent" else "low"
            command = ["notify-send", "-a", "observer", "-u", urgency, note.title, note.body]
        subprocess.run(command, check=True, timeout=SEND_TIMEOUT, capture_output=True)


def channels_from(settings: Settings) -> list[Channel]:
    channels: list[Channel] = []
    if settings.notify_desktop:
        channels.append(DesktopChannel())
    if settings.notify_webhook:
        channels.append(WebhookChannel(settings.notify_webhook))
    if settings.notify_ntfy:
        channels.append(NtfyChannel(settings.notify_ntfy))
    return channels


def policy_from(settings: Settings) -> NotifyPolicy:
    return NotifyPolicy(
        link_base=settings.public_url or settings.local_url(),
        cooldown=settings.notify_cooldown,
        escalate_after=settings.notify_escalate_after,
        stalled_after=settings.notify_stalled_after,
    )


def _local_minute() -> int:
    now = time.localtime()
    return now.tm_hour * 60 + now.tm_min


class Notifier:
    """Follows the hub like a client subscribed to the list, and notifies through channels."""

    def __init__(
        self,
        hub: Hub,
        policy: NotifyPolicy,
        channels: list[Channel],
        clock: Callable[[], float] = time.time,
        links: ActionLinks | None = None,
        quiet_hours: str | None = None,
        local_minute: Callable[[], int] = _local_minute,
        budget: BudgetWatch | None = None,
        away: Callable[[], bool] = lambda: False,
        hold_wait: float = HOLD_WAIT,
    ) -> None:
        self.hub = hub
        self.policy = policy
        self.channels = channels
        self.clock = clock
        self.links = links  # None: notifications carry no answer buttons, only Open
        self.quiet = parse_quiet_hours(quiet_hours)
        self.local_minute = local_minute
        self.budget = budget  # None: no budget set (reload.py may set one)
        self.away = away  # whether observer may yet hold an observed session's request
        self.hold_wait = hold_wait
        # Notes whose buttons wait for observer to hold their request (see _notify).
        self._unheld: dict[str, tuple[Notification, asyncio.TimerHandle]] = {}
        self._late: set[asyncio.Task[dict[str, str]]] = set()
        self.sent = 0
        self.failed = 0
        self.quieted = 0
        # Each session as of the last message seen: the book may already be further on.
        self._sessions: dict[str, dict[str, Any]] = {
            s.session_id: s.public() for s in hub.book.visible()
        }

    async def run(self) -> None:
        ticker = asyncio.create_task(self._tick_loop())
        try:
            async for message in self.hub.follow_all():
                await self.handle(message)
                tick()
        finally:
            ticker.cancel()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self.tick()

    async def tick(self) -> None:
        """Send what time calls for: escalations, sessions possibly stalled."""
        for note in self.policy.due(self.clock()):
            await self.deliver(note)
        if self.budget is not None:
            for told in self.budget.due(self.policy.link_base):
                await self.deliver(told)

    async def handle(self, message: Message) -> None:
        session_id = message.get("session_id")
        if not isinstance(session_id, str) or "status" not in message:
            return
        event_at = message.get("event", {}).get("at")
        if isinstance(event_at, (int, float)):
            self.policy.activity(session_id, float(event_at))
        before = self._sessions.get(session_id)
        previous = before["status"] if before else None
        if "session" in message:
            now_public = dict(message["session"])
        else:
            now_public = {**(before or {"id": session_id}), **message.get("changes", {})}
        now_public["status"] = message["status"]
        self._sessions[session_id] = now_public
        if session_id in self._unheld:
            await self._settle_unheld(session_id, now_public)
        if self.budget is not None and "usage" in message.get("changes", {}):
            link = self.policy.link(session_id)
            for told in self.budget.check(now_public, link):
                await self.deliver(told)
        if now_public["status"] == previous:
            return
        at = float(message.get("event", {}).get("at") or self.clock())
        change = Change.from_session(now_public, previous, at)
        note = self.policy.consider(change, self.clock())
        if note is not None:
            await self._notify(note, now_public)
        if change.status == "ended":
            self._drop_unheld(session_id)
            self.policy.forget(session_id)
            self._sessions.pop(session_id, None)

    async def _notify(self, note: Notification, public: dict[str, Any]) -> None:
        """Answer buttons only where a tap can answer: the session offers the action now
        (`capabilities`). An observed session's request is held a moment after it shows, in
        away mode or through Codex's daemon: its note waits for that, up to `hold_wait`, then
        goes with Open alone; a request answered meanwhile (a rule, the keyboard) is not sent."""
        action = answered_by(note)
        if action is None or action in (public.get("capabilities") or ()):
            await self.deliver(note)
        elif self.away() or public.get("reachable"):
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self.hold_wait, self._hold_waited, note.session_id)
            self._drop_unheld(note.session_id)
            self._unheld[note.session_id] = (note, timer)
        else:
            await self.deliver(open_only(note))

    async def _settle_unheld(self, session_id: str, public: dict[str, Any]) -> None:
        note, _timer = self._unheld[session_id]
        if (public.get("pending") or {}).get("request_id") != note.request_id:
            self._drop_unheld(session_id)  # answered before observer held it: nothing to ask
        elif answered_by(note) in (public.get("capabilities") or ()):
            self._drop_unheld(session_id)
            await self.deliver(note)

    def _hold_waited(self, session_id: str) -> None:
        waited = self._unheld.pop(session_id, None)
        if waited is not None:
            task = asyncio.ensure_future(self.deliver(open_only(waited[0])))
            self._late.add(task)
            task.add_done_callback(self._late.discard)

    @property
    def holding(self) -> frozenset[str]:
        """Sessions whose note waits for observer to hold their request."""
        return frozenset(self._unheld)

    def _drop_unheld(self, session_id: str) -> None:
        waited = self._unheld.pop(session_id, None)
        if waited is not None:
            waited[1].cancel()

    async def deliver(self, note: Notification) -> dict[str, str]:
        """Send through every channel not in its quiet hours, at once; returns each channel's
        outcome ("quiet": not sent)."""
        minute = self.local_minute()
        sending = [c for c in self.channels if not is_quiet(self.quiet, c.name, minute)]
        outcomes = await asyncio.gather(
            *(
                asyncio.to_thread(_attempt, channel, note, self.buttons(note, channel.name))
                for channel in sending
            )
        )
        result = {channel.name: "quiet" for channel in self.channels}
        self.quieted += len(self.channels) - len(sending)
        for channel, outcome in zip(sending, outcomes, strict=True):
            result[channel.name] = outcome
            if outcome == "ok":
                self.sent += 1
            else:
                self.failed += 1
                log.warning("notification via %s failed: %s", channel.name, outcome)
        return result

    def buttons(self, note: Notification, channel: str) -> list[Button]:
        """The note's offers as buttons for one channel: each answer a link of its own, so
        the audit says which channel's button answered."""
        base = self.policy.link_base.rstrip("/")
        buttons = []
        for offer in note.offers:
            if offer.action is None:
                buttons.append(Button(offer.label, note.link, opens=True))
            elif self.links is not None and note.request_id is not None:
                token = self.links.mint(
                    note.session_id, note.request_id, offer.action, offer.params, channel
                )
                buttons.append(Button(offer.label, f"{base}/act/{token}"))
        return buttons


def _attempt(channel: Channel, note: Notification, buttons: list[Button]) -> str:
    try:
        channel.send(note, buttons)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as response:
        response.read()


def _header_safe(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _applescript(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
