"""Usage queries: point look-ups for the live tracker, a session's sums, how far files were
read. (`observer usage` and `observer statusline` read on plain connections of their own:
observer/clients/usage_db.py and statusline.py; this package's imports cost more than their
budgets.)

Sums come per (group, model, cost source, prompt class), in the order
`observer.core.usage.buckets_from_rows` reads them; the prompt class (the highest long-context
threshold of the price table a call's prompt passed, 0 for none) is worked out here, per row,
from the thresholds the caller gives.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from observer.core.usage import prompt_class_sql

_TOKENS = (
    "sum(input), sum(output), sum(cache_read), sum(cache_write), sum(reasoning), count(*),"
    " sum(coalesce(agent_cost, 0)), sum(cache_write_1h)"
)


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


def since_sums(
    conn: sqlite3.Connection, since: float, limits: Sequence[int] = ()
) -> list[tuple[Any, ...]]:
    """The sums of every call made at or after `since` (epoch seconds)."""
    return conn.execute(
        f"select {sums(limits)} from usage_records where at >= ? {grouped(limits)}", [since]
    ).fetchall()


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


def load_offsets(conn: sqlite3.Connection) -> dict[str, tuple[int, int, dict[str, Any]]]:
    """How far each file was read for usage alone: path -> (inode, offset, context)."""
    rows = conn.execute("select path, inode, offset, context from usage_offsets").fetchall()
    return {str(r[0]): (int(r[1]), int(r[2]), json.loads(r[3])) for r in rows}
