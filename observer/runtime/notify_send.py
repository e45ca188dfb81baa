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

from observer.core.notify import Change, Notification, NotifyPolicy
from observer.runtime.hub import Hub, Message
from observer.runtime.supervisor import tick
from observer.settings import Settings

log = logging.getLogger(__name__)
SEND_TIMEOUT = 10.0
_NTFY_PRIORITY = {"urgent": "high", "low": "low"}


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, note: Notification) -> None: ...


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    name: str = "webhook"

    def send(self, note: Notification) -> None:
        body = json.dumps(
            {
                "session_id": note.session_id,
                "priority": note.priority,
                "title": note.title,
                "body": note.body,
                "link": note.link,
            }
        ).encode()
        _post(self.url, body, {"Content-Type": "application/json"})


@dataclass(frozen=True)
class NtfyChannel:
    """ntfy's publish API: the message is the body; title, priority and link are headers."""

    url: str
    name: str = "ntfy"

    def send(self, note: Notification) -> None:
        headers = {
            # HTTP headers are latin-1: ntfy documents RFC 2047 for anything else.
            "Title": _header_safe(note.title),
            "Priority": _NTFY_PRIORITY[note.priority],
            "Click": note.link,
            "Tags": "robot",
        }
        _post(self.url, note.body.encode(), headers)


@dataclass(frozen=True)
class DesktopChannel:
    name: str = "desktop"

    def send(self, note: Notification) -> None:
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
        link_base=settings.public_url or settings.local_url(), cooldown=settings.notify_cooldown
    )


class Notifier:
    """Follows the hub like a client subscribed to the list, and notifies through channels."""

    def __init__(
        self,
        hub: Hub,
        policy: NotifyPolicy,
        channels: list[Channel],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self.policy = policy
        self.channels = channels
        self.clock = clock
        self.sent = 0
        self.failed = 0
        # Each session as of the last message seen: the book may already be further on.
        self._sessions: dict[str, dict[str, Any]] = {
            s.session_id: s.public() for s in hub.book.visible()
        }

    async def run(self) -> None:
        async for message in self.hub.follow_all():
            await self.handle(message)
            tick()

    async def handle(self, message: Message) -> None:
        session_id = message.get("session_id")
        if not isinstance(session_id, str) or "status" not in message:
            return
        before = self._sessions.get(session_id)
        previous = before["status"] if before else None
        if "session" in message:
            now_public = dict(message["session"])
        else:
            now_public = {**(before or {"id": session_id}), **message.get("changes", {})}
        now_public["status"] = message["status"]
        self._sessions[session_id] = now_public
        if now_public["status"] == previous:
            return
        at = float(message.get("event", {}).get("at") or self.clock())
        change = Change.from_session(now_public, previous, at)
        note = self.policy.consider(change, self.clock())
        if note is not None:
            await self.deliver(note)
        if change.status == "ended":
            self.policy.forget(session_id)
            self._sessions.pop(session_id, None)

    async def deliver(self, note: Notification) -> dict[str, str]:
        """Send through every channel at once; returns each channel's outcome."""
        outcomes = await asyncio.gather(
            *(asyncio.to_thread(_attempt, channel, note) for channel in self.channels)
        )
        for channel, outcome in zip(self.channels, outcomes, strict=True):
            if outcome == "ok":
                self.sent += 1
            else:
                self.failed += 1
                log.warning("notification via %s failed: %s", channel.name, outcome)
        return {
            channel.name: outcome for channel, outcome in zip(self.channels, outcomes, strict=True)
        }


def _attempt(channel: Channel, note: Notification) -> str:
    try:
        channel.send(note)
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
