"""The hub: session book + per-session replay rings + subscriber fan-out. Runs on the loop.

Everything here is synchronous and runs on the event loop thread, so "register a subscriber and
take its snapshot" is one step with nothing in between. Each subscriber has one bounded outbox
(runtime/outbox.py): a client that is behind gets each session's latest state rather than every
step, one that stops reading is dropped (its outbox gets a `None`), never allowed to grow memory
or hold up the others.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from observer.core.attention import listed
from observer.core.book import Journal, SessionBook
from observer.core.events import Event, Kind
from observer.core.state import INACTIVE_IN_HISTORY, Effect, SessionState
from observer.core.timeline import Item
from observer.runtime.outbox import LIMIT, Outbox
from observer.store import Write

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = LIMIT
Message = dict[str, Any]
USAGE_WIRE = "usage"  # the `event.wire` of a session_delta that carries only `usage`
# A session created or ended by an event older than this is history being read, not news: the
# log says nothing of it. Up to LOG_BURST "seen"/"ended" lines each per 10 s (the log's rate
# limit), then a count.
LIVE_SECONDS = 600.0
LOG_BURST = 20


@dataclass(eq=False)
class Subscriber:
    queue: Outbox = field(default_factory=Outbox)  # what waits to be sent (runtime/outbox.py)
    all_sessions: bool = False
    sessions: set[str] = field(default_factory=set)
    timelines: set[str] = field(default_factory=set)  # sessions whose live items it wants
    dropped: bool = False

    def wants(self, session_id: str) -> bool:
        return self.all_sessions or session_id in self.sessions


@dataclass(frozen=True)
class Undo:
    """What one staged batch changed in memory, to take back if it does not commit."""

    journal: Journal
    messages: list[Message]


class Hub:
    def __init__(self, states: Iterable[SessionState] = (), ring_size: int = 1000) -> None:
        self.book = SessionBook(states)
        self._rings: dict[str, deque[Message]] = {}
        self._ring_size = ring_size
        self._subscribers: set[Subscriber] = set()
        # Told each published message, in line and in order, before any subscriber: the
        # server's own bookkeeping (metrics), which no queue may drop or hold up.
        self.listeners: list[Callable[[Message], None]] = []

    # -- a batch that may not commit ----------------------------------------------------------
    def begin(self) -> None:
        """Changes from here on can be taken back (`end`, then `undo` if the commit fails)."""
        self.book.begin()

    def end(self, messages: list[Message]) -> Undo:
        return Undo(self.book.end(), messages)

    def undo(self, undo: Undo) -> None:
        """Put the sessions and their replay rings back as they were before the batch; its
        messages were never published (publishing waits for the commit)."""
        self.book.undo(undo.journal)
        for message in reversed(undo.messages):
            ring = self._rings.get(message["session_id"])
            if ring and ring[-1] is message:
                ring.pop()

    # -- applying events --------------------------------------------------------------------
    def apply(self, event: Event, now: float) -> tuple[Write | None, Message | None]:
        before = self.book.get(event.session_id)
        result = self.book.apply(event, now)
        state = result.state
        if state is None or result.effect not in (Effect.CREATED, Effect.UPDATED, Effect.ENDED):
            if result.reason:
                log.debug("event %s for %s: %s", event.wire, event.session_id, result.reason)
            return None, None
        if result.effect is not Effect.UPDATED and now - event.at < LIVE_SECONDS:
            _log_session(result.effect, state, event)
        # A delta needs only its changed fields: the whole public view (every field, the
        # capabilities worked out) was a sixth of applying an event.
        public = state.public() if result.effect is not Effect.UPDATED else None
        changes = _changes(state, result.changed, public)
        if _may_change_capabilities(result.changed) and before is not None:
            # Derived, not a field of the state: a delta carries them when they change (an
            # observed session's request held by observer, or let go).
            offered = public["capabilities"] if public is not None else state.offered()
            if before.offered() != offered:
                changes["capabilities"] = offered
        message = _message(result.effect, state, event, public, changes)
        if result.effect is Effect.ENDED and _ends_history(event):
            # A session read whole from a file quiet for a while (the watchers' start-up read)
            # keeps no ring: thousands of them would hold up to `ring_size` messages each, and
            # a client asking for its old revisions gets a snapshot (its events are in SQLite).
            self._rings.pop(state.session_id, None)
        else:
            ring = self._rings.setdefault(state.session_id, deque(maxlen=self._ring_size))
            ring.append(message)
        return Write(state, event, result.changed, changes), message

    def apply_usage(
        self, session_id: str, usage: dict[str, Any], at: float
    ) -> tuple[Write | None, Message | None]:
        """A session's new usage as a `session_delta` (the caller throttles how often)."""
        state = self.book.set_usage(session_id, usage)
        if state is None:
            return None, None
        event = Event(Kind.METADATA, session_id, state.agent, at, USAGE_WIRE)
        changes = {"usage": state.usage}
        message = _message(Effect.UPDATED, state, event, None, changes)
        ring = self._rings.setdefault(session_id, deque(maxlen=self._ring_size))
        ring.append(message)
        return Write(state, event, ("usage",), changes), message

    def publish(self, messages: Iterable[Message]) -> None:
        for message in messages:
            for listener in self.listeners:
                listener(message)
            session_id = message["session_id"]
            for sub in list(self._subscribers):
                if sub.wants(session_id):
                    self._offer(sub, message)

    def publish_items(self, items: Iterable[Item]) -> None:
        """Committed timeline items, read live, to the subscribers of their session's timeline
        (never to a list subscriber: every session's every item would be a flood): one
        `timeline_items` message per session and batch, in file order."""
        if not items or not any(sub.timelines for sub in self._subscribers):
            return
        by_session: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_session.setdefault(item.session_id, []).append(item.to_json())
        for session_id, found in by_session.items():
            message = {"type": "timeline_items", "session_id": session_id, "items": found}
            for sub in list(self._subscribers):
                if session_id in sub.timelines:
                    self._offer(sub, message)

    def deliver(self, sub: Subscriber, message: Message) -> None:
        """One message for one subscriber, in line with what is published to it."""
        self._offer(sub, message)

    def _offer(self, sub: Subscriber, message: Message) -> None:
        if sub.dropped:
            return
        if not sub.queue.offer(message):
            log.warning(
                "dropping a subscriber that stopped reading (%d messages waiting)",
                sub.queue.qsize(),
            )
            sub.dropped = True
            self._subscribers.discard(sub)
            sub.queue.close()

    # -- subscriptions -----------------------------------------------------------------------
    def add_subscriber(self) -> Subscriber:
        sub = Subscriber()
        self._subscribers.add(sub)
        return sub

    def remove_subscriber(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def follow_all(self) -> AsyncIterator[Message]:
        """Every session message, for the server's own followers (notifications, held
        approvals). One that falls behind is dropped like any client, and follows on from now."""
        sub = self._follower()
        try:
            while True:
                message = await sub.queue.get()
                if message is None:
                    sub = self._follower()
                    continue
                if message["type"] == "missed":  # it fell behind: what it missed is gone
                    log.warning("a follower missed %s's messages", message["session_id"])
                    continue
                yield message
        finally:
            self.remove_subscriber(sub)

    def _follower(self) -> Subscriber:
        """A subscriber of the server's own: every delta, never merged (a status passed through
        must still be seen)."""
        sub = self.add_subscriber()
        sub.all_sessions = True
        sub.queue.every_delta = True
        return sub

    def subscribe_list(self, sub: Subscriber, now: float | None = None) -> Message:
        sub.all_sessions = True
        return {"type": "sessions_list", "sessions": self.sessions_json(now)}

    def subscribe_session(self, sub: Subscriber, session_id: str, since: int | None) -> Message:
        state = self.book.get(session_id)
        if state is None or not state.materialized:
            return error("not_found", f"no session {session_id!r}")
        sub.sessions.add(session_id)
        if since is not None and since >= state.revision:
            return {"type": "session_events", "session_id": session_id, "events": []}
        ring = self._rings.get(session_id, deque())
        if since is not None and ring and ring[0]["revision"] <= since + 1:
            missed = [m for m in ring if m["revision"] > since]
            return {"type": "session_events", "session_id": session_id, "events": missed}
        return {"type": "session_snapshot", "session": state.public()}

    def sessions_json(self, now: float | None = None) -> list[dict[str, Any]]:
        """The list clients get: live sessions and recently ended ones (core/attention.py,
        `listed`), in the attention order. Every message of every session still goes to a
        list subscriber: a session older than the list that comes back is news."""
        when = time.time() if now is None else now
        return [s.public() for s in listed(self.book.visible(), when)]

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def _log_session(effect: Effect, state: SessionState, event: Event) -> None:
    """A session seen or ended, at info: what a person looks for in the log later. Only live
    ones (`LIVE_SECONDS`): the start-up read of old files would be thousands of lines."""
    where = f" on {state.host}" if state.host else ""
    if effect is Effect.CREATED:
        control = ", launched by observer" if state.control == "direct" else ""
        log.info(
            "session %s seen: %s in %s%s%s",
            state.session_id,
            state.agent,
            state.cwd or "?",
            where,
            control,
            extra={"burst": LOG_BURST},
        )
    elif not _ends_history(event):
        log.info(
            "session %s ended: %s%s (%s)",
            state.session_id,
            state.agent,
            where,
            state.ended_reason or event.wire,
            extra={"burst": LOG_BURST},
        )


def _changes(
    state: SessionState, changed: tuple[str, ...], public: dict[str, Any] | None
) -> dict[str, Any]:
    """The changed fields as `public()` shows them, read straight off the state when they are
    plain attributes (most are)."""
    if public is None and _COMPUTED.isdisjoint(changed):
        return {
            key: state.status.value if key == "status" else getattr(state, key) for key in changed
        }
    whole = public if public is not None else state.public()
    return {key: whole[key] for key in changed}


_COMPUTED = frozenset({"id", "pending", "capabilities"})  # not one attribute in `public()`


def _may_change_capabilities(changed: tuple[str, ...]) -> bool:
    return bool(_CAPABILITY_INPUTS.intersection(changed))


# What `SessionState.offered` reads.
_CAPABILITY_INPUTS = frozenset({"pending", "control", "status", "listening", "host"})


def _ends_history(event: Event) -> bool:
    """The watchers' "this session is history" end (`TreeWatcher._history_ends`)."""
    return event.kind is Kind.PROCESS_GONE and event.detail == INACTIVE_IN_HISTORY


def error(code: str, message: str) -> Message:
    return {"type": "error", "code": code, "message": message}


def _message(
    effect: Effect,
    state: SessionState,
    event: Event,
    public: dict[str, Any] | None,  # the state's public view, if the caller has it
    changes: dict[str, Any],
) -> Message:
    cause = {"kind": event.kind.value, "wire": event.wire, "at": event.at}
    if effect is Effect.CREATED:
        kind = "session_created"
    elif effect is Effect.ENDED:
        kind = "session_ended"
    else:
        kind = "session_delta"
    message: Message = {
        "type": kind,
        "session_id": state.session_id,
        "revision": state.revision,
        "status": state.status.value,
        "event": cause,
    }
    if kind == "session_delta":
        message["changes"] = changes
    else:
        message["session"] = public if public is not None else state.public()
    return message
