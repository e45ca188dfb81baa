"""Which status changes deserve a notification: pure, so a recorded sequence of transitions can
be checked notification by notification (no clock, no IO; the caller passes `now`).

Rules, from what makes people turn notifications off:
- `permission` and `question` are urgent: someone's agent is blocked on them.
- `waiting` after the agent worked is low priority: a turn finished.
- once per transition: the same pending request (or the same waiting spell) never notifies twice,
  however many times the server sees it (restarts, replays, revisions without a status change);
- a cooldown per session: after a notification, a session stays quiet for `cooldown` seconds
  unless something *more* urgent happens (a finished turn never hides a question);
- no burst of old alerts at start: a change whose event is older than `max_age` (history, a
  spool backlog, a session revived from the database) is recorded but never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

URGENT = "urgent"
LOW = "low"
_PRIORITY = {"permission": URGENT, "question": URGENT, "waiting": LOW}
_RANK = {LOW: 0, URGENT: 1}


@dataclass(frozen=True)
class Change:
    """One session status change, as the hub reported it."""

    session_id: str
    status: str
    previous: str | None  # None: the session was just created
    at: float  # when the event that caused it happened
    project: str | None = None
    agent: str = ""
    request_id: str | None = None  # the pending approval or question, if any
    summary: str | None = None  # what is asked, or the last message

    @classmethod
    def from_session(cls, public: dict[str, Any], previous: str | None, at: float) -> Change:
        pending = public.get("pending") or {}
        summary = pending.get("summary") or public.get("last_message")
        return cls(
            session_id=str(public["id"]),
            status=str(public["status"]),
            previous=previous,
            at=at,
            project=public.get("project"),
            agent=str(public.get("agent") or ""),
            request_id=pending.get("request_id"),
            summary=summary if isinstance(summary, str) else None,
        )


@dataclass(frozen=True)
class Notification:
    session_id: str
    priority: str
    title: str
    body: str
    link: str


@dataclass
class NotifyPolicy:
    link_base: str
    cooldown: float = 30.0
    max_age: float = 60.0
    _last_sent: dict[str, tuple[float, str]] = field(default_factory=dict)
    _seen_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def consider(self, change: Change, now: float) -> Notification | None:
        priority = _PRIORITY.get(change.status)
        if priority is None:
            self._seen_keys.pop(change.session_id, None)  # working/ended: the next ask is new
            return None
        if change.status == "waiting" and change.previous != "working":
            return None  # idle after a question was answered elsewhere, or at creation
        key = (change.status, change.request_id or "")
        if self._seen_keys.get(change.session_id) == key:
            return None
        self._seen_keys[change.session_id] = key
        if now - change.at > self.max_age:
            return None
        last = self._last_sent.get(change.session_id)
        if last is not None:
            sent_at, sent_priority = last
            if now - sent_at < self.cooldown and _RANK[priority] <= _RANK[sent_priority]:
                return None
        self._last_sent[change.session_id] = (now, priority)
        return self._render(change, priority)

    def forget(self, session_id: str) -> None:
        self._last_sent.pop(session_id, None)
        self._seen_keys.pop(session_id, None)

    def _render(self, change: Change, priority: str) -> Notification:
        where = change.project or change.session_id[:8]
        agent = f" ({change.agent})" if change.agent else ""
        headline = {
            "permission": "needs your approval",
            "question": "asks you a question",
            "waiting": "finished its turn",
        }[change.status]
        body = (change.summary or "").strip().splitlines()[0:1]
        return Notification(
            session_id=change.session_id,
            priority=priority,
            title=f"{where}{agent} {headline}",
            body=(body[0][:200] if body else headline),
            link=f"{self.link_base.rstrip('/')}/#/session/{change.session_id}",
        )
