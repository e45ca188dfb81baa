"""Usage queries: point look-ups for the live tracker, sums for `observer usage`.

Sums come per (group, model, cost source, prompt class), in the order
`observer.core.usage.buckets_from_rows` reads them; the prompt class (the highest long-context
threshold of the price table a call's prompt passed, 0 for none) is worked out here, per row,
from the thresholds the caller gives. Times are grouped in the process's local time (SQLite's
`localtime`, which follows `TZ`): `observer usage --tz` sets it before asking.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

# What a report can group by, as SQL over `usage_records`.
GROUPS = {
    "day": "date(at, 'unixepoch', 'localtime')",
    "week": "date(at, 'unixepoch', 'localtime', 'weekday 0', '-6 days')",  # its Monday
    "month": "strftime('%Y-%m', at, 'unixepoch', 'localtime')",
    "session": "session_id",
    # A row that names no project (written before m008 backfilled them, or by a tailer that
    # read it before its session knew its directory) takes its session's.
    "project": "coalesce(project, (select s.project from sessions s where s.id = session_id), '?')",
    "model": "coalesce(model, '?')",
    "agent": "agent",
}
_TOKENS = (
    "sum(input), sum(output), sum(cache_read), sum(cache_write), sum(reasoning), count(*),"
    " sum(coalesce(agent_cost, 0)), sum(cache_write_1h)"
)


def prompt_class_sql(limits: Sequence[int]) -> str:
    """`core.usage.prompt_class` in SQL: the highest of `limits` (highest first) the call's
    prompt is over, else 0."""
    if not limits:
        return "0"
    prompt = "input + cache_read + cache_write"
    cases = " ".join(f"when {prompt} > {int(t)} then {int(t)}" for t in limits)
    return f"(case {cases} else 0 end)"


def sums(limits: Sequence[int]) -> str:
    """The columns of a sum per model, cost source and prompt class."""
    return f"model, agent_cost is not null, {prompt_class_sql(limits)}, {_TOKENS}"


def grouped(limits: Sequence[int]) -> str:
    """GROUP BY model, cost source and prompt class (a bare 0 there would name a column)."""
    klass = f", {prompt_class_sql(limits)}" if limits else ""
    return f"group by model, agent_cost is not null{klass}"


def known(conn: sqlite3.Connection, agent: str, record_id: str) -> bool:
    row = conn.execute(
        "select 1 from usage_records where agent = ? and record_id = ?", [agent, record_id]
    ).fetchone()
    return row is not None


def session_sums(
    conn: sqlite3.Connection, session_id: str, limits: Sequence[int] = ()
) -> tuple[list[tuple[Any, ...]], str | None, list[tuple[Any, ...]]]:
    """A session's sums, its last turn's id, and that turn's sums."""
    rows = conn.execute(
        f"select {sums(limits)} from usage_records where session_id = ? {grouped(limits)}",
        [session_id],
    ).fetchall()
    last = conn.execute(
        "select turn_id from usage_records where session_id = ? and turn_id is not null"
        " order by at desc limit 1",
        [session_id],
    ).fetchone()
    turn_id = last[0] if last else None
    turn = conn.execute(
        f"select {sums(limits)} from usage_records where session_id = ? and turn_id = ?"
        f" {grouped(limits)}",
        [session_id, turn_id],
    ).fetchall()
    return rows, turn_id, turn


def _window(since: float | None, until: float | None) -> tuple[str, list[float]]:
    clauses: list[str] = []
    args: list[float] = []
    if since is not None:
        clauses.append("at >= ?")
        args.append(since)
    if until is not None:
        clauses.append("at < ?")
        args.append(until)
    return ("where " + " and ".join(clauses)) if clauses else "", args


def report_rows(
    conn: sqlite3.Connection,
    by: str,
    since: float | None,
    until: float | None,
    limits: Sequence[int] = (),
) -> list[tuple[Any, ...]]:
    """Rows of (group, model, agent priced, prompt class, sums…) in [since, until)."""
    group = GROUPS[by]
    where, args = _window(since, until)
    sql = (
        f"select {group}, {sums(limits)} from usage_records {where}"
        f" {grouped(limits).replace('group by', f'group by {group},', 1)}"
    )
    return conn.execute(sql, args).fetchall()


SLICE_SECONDS = 900  # a quarter of an hour: every time zone's midnight is on one


def slices(
    conn: sqlite3.Connection,
    since: float | None,
    until: float | None,
    limits: Sequence[int] = (),
) -> list[tuple[Any, ...]]:
    """The window's calls summed per (session, agent, project, quarter of an hour, model,
    cost source, prompt class): (session, agent, project, slice, model, agent priced, prompt
    class, input, output, cache_read, cache_write, reasoning, records, agent_cost,
    cache_write_1h, first call, last call). Every report groups these (days and months in
    any zone, blocks: a quarter of an hour is never cut by a midnight or a block's end):
    one pass over the rows, and no date arithmetic per row."""
    where, args = _window(since, until)
    klass = prompt_class_sql(limits)
    project = GROUPS["project"]
    sql = (  # a session's agent and project are one (max: no column more to sort by)
        f"select session_id, max(agent), max({project}), cast(at / {SLICE_SECONDS} as integer),"
        f" model, agent_cost is not null, {klass}, {_TOKENS}, min(at), max(at)"
        f" from usage_records {where} group by 1, 4, 5, 6{', 7' if limits else ''}"
    )
    return conn.execute(sql, args).fetchall()


def load_offsets(conn: sqlite3.Connection) -> dict[str, tuple[int, int, dict[str, Any]]]:
    """How far each file was read for usage alone: path -> (inode, offset, context)."""
    rows = conn.execute("select path, inode, offset, context from usage_offsets").fetchall()
    return {str(r[0]): (int(r[1]), int(r[2]), json.loads(r[3])) for r in rows}


def reported(
    conn: sqlite3.Connection, since: float | None, until: float | None
) -> list[tuple[str, str, float, float, list[list[Any]], list[list[Any]]]]:
    """What agents said their sessions used (the last word each, said in the window):
    (agent, session, at, cost, models, copied), models as [model, input, output, cache read,
    cache write, cost]."""
    where, args = _window(since, until)
    rows = conn.execute(
        f"select agent, session_id, at, cost_usd, models, copied from usage_reported {where}",
        args,
    ).fetchall()
    return [
        (str(r[0]), str(r[1]), float(r[2]), float(r[3]), json.loads(r[4]), json.loads(r[5]))
        for r in rows
    ]


def recorded_by_model(
    conn: sqlite3.Connection, sessions: Sequence[str]
) -> dict[str, dict[str, tuple[int, int, int, int]]]:
    """Per session and model, the sums of all its rows (any time): (input, output, cache
    read, cache write)."""
    found: dict[str, dict[str, tuple[int, int, int, int]]] = {}
    for start in range(0, len(sessions), 500):
        chunk = list(sessions[start : start + 500])
        rows = conn.execute(
            "select session_id, coalesce(model, '?'), sum(input), sum(output), sum(cache_read),"
            " sum(cache_write) from usage_records where session_id in"
            f" ({', '.join('?' * len(chunk))}) group by session_id, model",
            chunk,
        ).fetchall()
        for r in rows:
            found.setdefault(str(r[0]), {})[str(r[1])] = (
                int(r[2]),
                int(r[3]),
                int(r[4]),
                int(r[5]),
            )
    return found


def limits(
    conn: sqlite3.Connection,
) -> list[tuple[str, str, float, int | None, float | None, float]]:
    """The plan limits the agents last reported: (agent, name, used %, window minutes, resets
    at, when said), by agent and window."""
    rows = conn.execute(
        "select agent, name, used_percent, window_minutes, resets_at, at from usage_limits"
        " order by agent, window_minutes, name"
    ).fetchall()
    return [(str(r[0]), str(r[1]), float(r[2]), r[3], r[4], float(r[5])) for r in rows]
