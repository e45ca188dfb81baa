"""`observer usage`'s reads, on plain sqlite3 connections of its own.

The store package's imports (sqlite-utils, the state machine, the agent registry) cost more
than a report may take in all (a fifth of ccusage's time over the same history), so the
report's few queries live here, over the store's schema (m003, m008-m010). A database the store
has not brought up to that schema yet is opened through the store once first (its migrations),
then read here. The one query over every row, the slices, runs as two halves by rowid on two
connections in two threads: SQLite lets go of the GIL while it works.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from observer.core.usage import prompt_class_sql

SLICE_SECONDS = 900  # a quarter of an hour: every time zone's midnight is on one
SCHEMA = "m010_usage_limits"  # the last migration these queries need
PARALLEL_ROWS = 20_000  # fewer rows than this are read in one go
_PROJECT = "coalesce(project, (select s.project from sessions s where s.id = session_id), '?')"
_TOKENS = (
    "sum(input), sum(output), sum(cache_read), sum(cache_write), sum(reasoning), count(*),"
    " sum(coalesce(agent_cost, 0)), sum(cache_write_1h)"
)


def open_reader(db: Path) -> sqlite3.Connection:
    """A read-only connection to a database that has the schema these queries need."""
    if not _current(db):
        from observer.store import Store

        Store(db).close()  # its migrations
    return _connect(db)


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA cache_size = -32768")  # 32 MB: a report's one pass reads no page twice
    return conn


def _current(db: Path) -> bool:
    try:
        conn = _connect(db)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute("select 1 from _sqlite_migrations where name = ?", [SCHEMA]).fetchone()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return row is not None


def _window(since: float | None, until: float | None) -> tuple[list[str], list[float]]:
    clauses: list[str] = []
    args: list[float] = []
    if since is not None:
        clauses.append("at >= ?")
        args.append(since)
    if until is not None:
        clauses.append("at < ?")
        args.append(until)
    return clauses, args


def slices(
    db: Path,
    conn: sqlite3.Connection,
    since: float | None,
    until: float | None,
    limits: Sequence[int] = (),
) -> list[tuple[Any, ...]]:
    """The window's calls summed per (session, quarter of an hour, model, cost source, prompt
    class): (session, agent, project, quarter, model, agent priced, prompt class, input,
    output, cache_read, cache_write, reasoning, records, agent_cost, cache_write_1h, first
    call, last call). Every report groups these (days and months in any zone, blocks: a
    quarter of an hour is never cut by a midnight or a block's end): one pass over the rows,
    and no date arithmetic per row."""
    low, high = conn.execute("select min(rowid), max(rowid) from usage_records").fetchone()
    if low is None:
        return []
    if high - low < PARALLEL_ROWS:
        return _slices(conn, since, until, limits, (low, high))
    middle = (low + high) // 2
    halves: list[list[tuple[Any, ...]]] = [[], []]

    def read(n: int, rows: tuple[int, int]) -> None:
        own = _connect(db)
        try:
            halves[n] = _slices(own, since, until, limits, rows)
        finally:
            own.close()

    other = threading.Thread(target=read, args=(1, (middle + 1, high)))
    other.start()
    read(0, (low, middle))
    other.join()
    return _merged(halves[0], halves[1])


def _slices(
    conn: sqlite3.Connection,
    since: float | None,
    until: float | None,
    limits: Sequence[int],
    rows: tuple[int, int],
) -> list[tuple[Any, ...]]:
    clauses, args = _window(since, until)
    where = " and ".join(["rowid between ? and ?", *clauses])
    klass = prompt_class_sql(limits)
    sql = (  # a session's agent and project are one (max: no column more to sort by)
        f"select session_id, max(agent), max({_PROJECT}), cast(at / {SLICE_SECONDS} as integer),"
        f" model, agent_cost is not null, {klass}, {_TOKENS}, min(at), max(at)"
        f" from usage_records where {where} group by 1, 4, 5, 6{', 7' if limits else ''}"
    )
    return conn.execute(sql, [*rows, *args]).fetchall()


def _merged(first: list[tuple[Any, ...]], second: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The halves' slices, those of the same key summed."""
    found: dict[tuple[Any, ...], list[Any]] = {}
    for row in (*first, *second):
        key = (row[0], row[3], row[4], row[5], row[6])
        seen = found.get(key)
        if seen is None:
            found[key] = list(row)
            continue
        for n in range(7, 15):
            seen[n] += row[n]
        seen[15] = min(seen[15], row[15])
        seen[16] = max(seen[16], row[16])
    return [tuple(row) for row in found.values()]


def reported(
    conn: sqlite3.Connection, since: float | None, until: float | None
) -> list[tuple[str, str, float, float, list[list[Any]], list[list[Any]]]]:
    """What agents said their sessions used (the last word each, said in the window):
    (agent, session, at, cost, models, copied), models as [model, input, output, cache read,
    cache write, cost]."""
    clauses, args = _window(since, until)
    where = f"where {' and '.join(clauses)}" if clauses else ""
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
            counts = (int(r[2]), int(r[3]), int(r[4]), int(r[5]))
            found.setdefault(str(r[0]), {})[str(r[1])] = counts
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
