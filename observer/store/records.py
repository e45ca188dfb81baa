"""What a commit writes: one applied event, a tailed file's offset, a model call's tokens, how
far a file was read for usage alone, a forwarded spool file, a timeline item and how far a file
was read for items; and a session's state as the JSON the `sessions` table holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeAlias

from observer.core.events import Event, RateLimit, ReportedUsage, TokenUsage
from observer.core.state import PendingApproval, SessionState
from observer.core.table import Status
from observer.core.timeline import Item


@dataclass(frozen=True, slots=True)
class Write:
    """One applied event: the session's new state and the event that produced it."""

    state: SessionState
    event: Event
    changed: tuple[str, ...]
    # The changed fields as clients see them, when the caller has them already (the hub
    # builds them for its message): computing the state's public view twice cost 5%.
    changes: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FileOffset:
    """A tailed file read up to `offset`: committed with the events those bytes produced, so
    after a crash either both are there or neither (no lost and no duplicated events)."""

    path: str
    inode: int
    offset: int
    context: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One model call's tokens for a session (ignored when its record id is already there)."""

    agent: str
    session_id: str
    at: float
    tokens: TokenUsage
    project: str | None = None  # the call's working directory's last part, when known


@dataclass(frozen=True, slots=True)
class ReportedRow:
    """What an agent says a session used so far (replacing what it said before)."""

    agent: str
    session_id: str
    at: float
    reported: ReportedUsage


@dataclass(frozen=True, slots=True)
class LimitRow:
    """A plan's usage limit as an agent last said it (`usage_limits`: one row per agent and
    window name; an older word never replaces a newer one)."""

    agent: str
    at: float
    limit: RateLimit
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class UsageOffset:
    """A file read for usage alone (observer/ingest/usage_history.py) up to `offset`, the start
    of its first line not yet complete: committed with the rows those bytes produced."""

    path: str
    inode: int
    offset: int
    context: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ForwardedFile:
    """A forwarded spool file whose events commit in the same transaction (see m004)."""

    host: str
    name: str
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One timeline item, replacing any stored under its (session_id, item_id)."""

    item: Item


@dataclass(frozen=True, slots=True)
class TimelineOffset:
    """A tailed file read for timeline items up to `offset` (the start of its first line not
    yet complete): committed with the items those bytes produced, as FileOffset is with events."""

    path: str
    inode: int
    offset: int
    context: dict[str, Any]


Record: TypeAlias = (
    Write
    | FileOffset
    | UsageRow
    | ReportedRow
    | LimitRow
    | UsageOffset
    | ForwardedFile
    | TimelineItem
    | TimelineOffset
)
Writes: TypeAlias = Sequence[Record]


def state_to_json(state: SessionState) -> dict[str, Any]:
    """Field by field, not `asdict` (it deep-copies every tuple and dict: a third of the
    ingest's time when it ran per event). The result shares the state's own values."""
    data = {name: getattr(state, name) for name in _STATE_FIELDS}
    if state.pending is not None:
        data["pending"] = {name: getattr(state.pending, name) for name in _PENDING_FIELDS}
    return data


_STATE_FIELDS = tuple(f.name for f in fields(SessionState))
_PENDING_FIELDS = tuple(f.name for f in fields(PendingApproval))


def state_from_json(data: dict[str, Any]) -> SessionState:
    pending = data.get("pending")
    data = dict(data)
    data["status"] = Status(data["status"])
    if pending:
        # A held request does not outlive the server that held it: the hook that waited on it
        # got no decision when it went (Codex's daemon replays its own when attached again).
        pending = {**pending, "held": False, "questions": tuple(pending.get("questions") or ())}
    data["pending"] = PendingApproval(**pending) if pending else None
    # Nor does a Stop hook it held, nor its line to a Codex thread (its daemon is followed again).
    data["listening"] = data["reachable"] = False
    data["open_tools"] = tuple(
        (str(t[0]), str(t[1]), str(t[2]) if len(t) > 2 else "")  # rows written before names
        for t in data.get("open_tools") or ()
    )
    return SessionState(**data)
