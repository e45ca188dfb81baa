"""The history of ended sessions (table `sessions`, m006), paged newest first: by the time of
their last activity, an agent's or a project's only if asked. A page's cursor (`before`) names
the last session given, as its time and id, so sessions that end meanwhile (newer) or tie on
the time never shift a page; the reply also says how many match and which agents and projects
the ended sessions have (a client's filter choices).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from observer.store.records import state_from_json

HISTORY_DEFAULT = 20
HISTORY_MAX = 100
_ENDED = "ended"


class BadCursorError(ValueError):
    """A `before` that is no cursor this module gave out."""


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    agent: str | None = None
    project: str | None = None
    before: str | None = None  # the cursor of the page before, as a reply gave it
    limit: int = HISTORY_DEFAULT


def cursor(at: float, session_id: str) -> str:
    """The cursor after a session: its time, exactly (repr round-trips a float), and its id."""
    return f"{at!r} {session_id}"


def parse_cursor(text: str) -> tuple[float, str]:
    at, sep, session_id = text.partition(" ")
    try:
        value = float(at)
    except ValueError:
        raise BadCursorError("before is not a history cursor") from None
    if not sep or not session_id or not math.isfinite(value):
        raise BadCursorError("before is not a history cursor")
    return value, session_id


def page(conn: sqlite3.Connection, query: HistoryQuery) -> dict[str, Any]:
    """`sessions` (public views, newest first), `before` (the next page's cursor, None when
    there is none), `total` (ended sessions matching the filters), `agents` and `projects`."""
    limit = max(1, min(query.limit, HISTORY_MAX))
    where = ["status = ?"]
    args: list[Any] = [_ENDED]
    if query.agent:
        where.append("agent = ?")
        args.append(query.agent)
    if query.project:
        where.append("project = ?")
        args.append(query.project)
    filters = " and ".join(where)
    total = conn.execute(f"select count(*) from sessions where {filters}", args).fetchone()[0]
    if query.before is not None:
        at, session_id = parse_cursor(query.before)
        where.append("(updated_at < ? or (updated_at = ? and id < ?))")
        args += [at, at, session_id]
    rows = conn.execute(
        f"select id, updated_at, state from sessions where {' and '.join(where)}"
        " order by updated_at desc, id desc limit ?",
        [*args, limit + 1],
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "sessions": [state_from_json(json.loads(r[2])).public() for r in rows],
        "before": cursor(rows[-1][1], rows[-1][0]) if more else None,
        "total": total,
        "agents": _distinct(conn, "agent"),
        "projects": _distinct(conn, "project"),
    }


def _distinct(conn: sqlite3.Connection, column: str) -> list[str]:
    rows = conn.execute(
        f"select distinct {column} from sessions where status = ? and {column} is not null"
        f" order by {column}",
        [_ENDED],
    ).fetchall()
    return [str(r[0]) for r in rows]
