"""Claude Code's live session registry `~/.claude/sessions/<pid>.json` -> normalized events.

Pure: a parsed record in, events out, `ParseError` for anything that is not a record we
understand. The registry (`status` idle/busy/waiting + `waitingFor`) is the only place that shows
an interrupt: no hook fires for one.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from connectors.claude import AGENT
from connectors.wire import opt_text, str_field
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin


def parse_registry_record(data: dict[str, Any], origin: Origin) -> list[Event]:
    """A snapshot of `~/.claude/sessions/<pid>.json` -> at most one status report."""
    session_id = str_field(data, "sessionId")
    if not session_id:
        raise ParseError("not a Claude Code session registry record: no sessionId")
    status = opt_text(data, "status")
    at = _registry_time(data.get("statusUpdatedAt") or data.get("updatedAt"), origin.at)
    pid = data.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        pid = origin.pid
    common: dict[str, Any] = {
        "session_id": session_id,
        "agent": AGENT,
        "at": at,
        "pid": pid,
        "cwd": opt_text(data, "cwd"),
    }
    if status == "busy":
        return [Event(kind=Kind.BUSY, wire="registry:busy", **common)]
    if status == "idle":
        return [Event(kind=Kind.IDLE, wire="registry:idle", **common)]
    if status == "waiting":
        waiting_for = opt_text(data, "waitingFor") or "input"
        return [
            Event(kind=Kind.BLOCKED, wire="registry:waiting", waiting_for=waiting_for, **common)
        ]
    # A record without a status: a process has just taken this session (start or resume).
    return [Event(kind=Kind.SESSION_START, wire="registry:new", **common)]


def registry_events(
    data: dict[str, Any], origin: Origin, previous_session_id: str | None
) -> list[Event]:
    """Like `parse_registry_record`, for a pid whose earlier record named `previous_session_id`.

    After `/clear` Claude rewrites the same `<pid>.json` with the new session id but carries the
    old status over (same statusUpdatedAt): that status belongs to the old session, so a record
    that switched sessions only says "this process now runs that session".
    """
    events = parse_registry_record(data, origin)
    if previous_session_id is None or not events:
        return events
    if events[0].session_id == previous_session_id:
        return events
    event = events[0]
    return [replace(event, kind=Kind.SESSION_START, wire="registry:new", waiting_for=None)]


def _registry_time(stamp: object, fallback: float) -> float:
    """Claude's millisecond stamp as epoch seconds; anything unusable means "when we read it"."""
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return fallback
    try:
        seconds = float(stamp) / 1000.0
    except OverflowError:
        return fallback
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 1e11:
        return fallback
    return seconds
