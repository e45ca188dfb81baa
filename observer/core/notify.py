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
  spool backlog, a session revived from the database) is recorded but never sent;
- escalation (`due`): a permission or question still open `escalate_after` seconds after it
  was asked is sent once more, at the highest priority; a session `working` with no event for
  `stalled_after` seconds is reported once as possibly stalled;
- a permission offers Approve, Deny and Open, a question its first options (`offers`): the
  runtime turns each into a single-use link scoped to that one request and answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

URGENT = "urgent"
LOW = "low"
ESCALATED = "escalated"  # an urgent one still open: sent again, at the highest priority
_PRIORITY = {"permission": URGENT, "question": URGENT, "waiting": LOW}
_RANK = {LOW: 0, URGENT: 1, ESCALATED: 2}
MAX_OFFERS = 3  # ntfy shows at most three actions


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
    options: tuple[str, ...] = ()  # a question's choices, when the agent gives them

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
            options=one_tap_options(pending.get("questions")),
        )


def one_tap_options(questions: object) -> tuple[str, ...]:
    """The choices of a request that one tap can answer (`pending.questions`): one question,
    one choice to make. Several questions, or several choices at once: none (open the page)."""
    if not isinstance(questions, list) or len(questions) != 1:
        return ()
    (asked,) = questions
    if not isinstance(asked, dict) or asked.get("multiple") is True:
        return ()
    return option_labels(asked.get("options"))


def option_labels(options: object) -> tuple[str, ...]:
    """Choices as labels (strings, or objects with a `label`), whatever else is ignored."""
    if not isinstance(options, list):
        return ()
    labels = []
    for option in options:
        label = option.get("label") if isinstance(option, dict) else option
        if isinstance(label, str) and label.strip():
            labels.append(label.strip())
    return tuple(labels)


@dataclass(frozen=True)
class Offer:
    """An answer a notification offers: `action` with `params` on the request it is about
    (None: only opens the page)."""

    label: str
    action: str | None
    params: tuple[tuple[str, str], ...] = ()


OPEN = Offer("Open", None)


@dataclass(frozen=True)
class Notification:
    session_id: str
    priority: str
    title: str
    body: str
    link: str
    request_id: str | None = None
    offers: tuple[Offer, ...] = ()


@dataclass
class NotifyPolicy:
    link_base: str
    cooldown: float = 30.0
    max_age: float = 60.0
    escalate_after: float = 0.0  # 0: never sent again
    stalled_after: float = 0.0  # 0: never reported
    _last_sent: dict[str, tuple[float, str]] = field(default_factory=dict)
    _seen_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _open_asks: dict[str, Change] = field(default_factory=dict)  # not escalated yet
    _working: dict[str, tuple[Change, float]] = field(default_factory=dict)  # last activity

    def consider(self, change: Change, now: float) -> Notification | None:
        priority = _PRIORITY.get(change.status)
        self._track(change)
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
        self._open_asks.pop(session_id, None)
        self._working.pop(session_id, None)

    def activity(self, session_id: str, at: float) -> None:
        """Something happened in a session (any event, not only a status change)."""
        working = self._working.get(session_id)
        if working is not None and at > working[1]:
            self._working[session_id] = (working[0], at)

    def due(self, now: float) -> list[Notification]:
        """What the passing of time calls for: asks open too long, sessions gone quiet."""
        notes = []
        if self.escalate_after > 0:
            for session_id, change in list(self._open_asks.items()):
                if now - change.at >= self.escalate_after:
                    del self._open_asks[session_id]  # once
                    self._last_sent[session_id] = (now, ESCALATED)
                    notes.append(self._render(change, ESCALATED))
        if self.stalled_after > 0:
            for session_id, (change, last) in list(self._working.items()):
                if now - last >= self.stalled_after:
                    del self._working[session_id]  # once per working spell
                    notes.append(self._stalled(change, now - last))
        return notes

    def _track(self, change: Change) -> None:
        if change.status in ("permission", "question") and change.request_id is not None:
            known = self._open_asks.get(change.session_id)
            if known is None or known.request_id != change.request_id:
                self._open_asks[change.session_id] = change
        else:
            self._open_asks.pop(change.session_id, None)
        if change.status == "working":
            self._working[change.session_id] = (change, change.at)
        else:
            self._working.pop(change.session_id, None)

    def _stalled(self, change: Change, quiet: float) -> Notification:
        where = change.project or change.session_id[:8]
        agent = f" ({change.agent})" if change.agent else ""
        return Notification(
            session_id=change.session_id,
            priority=LOW,
            title=f"{where}{agent} may be stalled",
            body=f"working, but nothing has happened for {quiet / 60:.0f} minutes",
            link=self.link(change.session_id),
            offers=(OPEN,),
        )

    def link(self, session_id: str) -> str:
        return f"{self.link_base.rstrip('/')}/#/session/{session_id}"

    def _render(self, change: Change, priority: str) -> Notification:
        where = change.project or change.session_id[:8]
        agent = f" ({change.agent})" if change.agent else ""
        headline = {
            "permission": "needs your approval",
            "question": "asks you a question",
            "waiting": "finished its turn",
        }[change.status]
        if priority == ESCALATED:
            headline = f"still {headline}"
        body = (change.summary or "").strip().splitlines()[0:1]
        return Notification(
            session_id=change.session_id,
            priority=priority,
            title=f"{where}{agent} {headline}",
            body=(body[0][:200] if body else headline),
            link=self.link(change.session_id),
            request_id=change.request_id,
            offers=offers_for(change),
        )


def offers_for(change: Change) -> tuple[Offer, ...]:
    """Permission: Approve, Deny, Open. Question: its first choices (the notification itself
    opens the page). Anything else: Open."""
    if change.request_id is None:
        return (OPEN,)
    if change.status == "permission":
        return (
            Offer("Approve", "approve_tool", (("decision", "allow"),)),
            Offer("Deny", "approve_tool", (("decision", "deny"),)),
            OPEN,
        )
    if change.status == "question" and change.options:
        return tuple(
            Offer(label[:40], "answer_question", (("answer", label),))
            for label in change.options[:MAX_OFFERS]
        )
    return (OPEN,)


def answered_by(note: Notification) -> str | None:
    """The action the note's answer buttons take (approve_tool, answer_question), if any."""
    return next((offer.action for offer in note.offers if offer.action is not None), None)


def open_only(note: Notification) -> Notification:
    """The note without answer buttons: nobody could act on them (observer does not hold the
    request), so a tap would only be refused."""
    return replace(note, offers=(OPEN,))


# -- quiet hours ---------------------------------------------------------------------------
_WINDOW = re.compile(r"^\s*([\w*-]+)\s*=\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_quiet_hours(text: str | None) -> dict[str, tuple[int, int]]:
    """`"ntfy=22:00-07:00, desktop=23:30-08:00"` (a channel's name, or * for every channel)
    as minutes of the day, [start, end). ValueError says what is wrong."""
    windows: dict[str, tuple[int, int]] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = _WINDOW.match(part)
        if match is None:
            raise ValueError(f"quiet hours {part.strip()!r}: write channel=HH:MM-HH:MM")
        name, h1, m1, h2, m2 = match.groups()
        start, end = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
        if not (0 <= start < 1440 and 0 <= end <= 1440 and int(m1) < 60 and int(m2) < 60):
            raise ValueError(f"quiet hours {part.strip()!r}: not a time of day")
        windows[name] = (start, end)
    return windows


def is_quiet(windows: dict[str, tuple[int, int]], channel: str, minute_of_day: int) -> bool:
    """Whether `channel` is in its quiet hours (or everyone's, `*`); a window may span
    midnight (22:00-07:00)."""
    window = windows.get(channel) or windows.get("*")
    if window is None:
        return False
    start, end = window
    if start <= end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end
