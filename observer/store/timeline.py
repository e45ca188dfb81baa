"""The timeline's SQL (table `timeline`, m005): an item as a row, a session's items paged
backwards from the newest, search over every session's items (FTS5), and the limits that
prune them.

A row holds the item's `text` and `about` (tool, path, command: what a search should find
besides the text) as columns, indexed by FTS5, and the rest of the item as JSON (`body`), so
each text is stored once. `seq` (the rowid) is the order an item was first stored in and
the `before` cursor of a page; an item stored again under its key keeps its seq.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from observer.core.timeline import MAX_ITEM_TEXT, Item, new_item
from observer.settings import Settings, default_of

log = logging.getLogger(__name__)

PAGE_DEFAULT = 50
PAGE_MAX = 500
SEARCH_DEFAULT = 20
SEARCH_MAX = 100
# Hits looked at, newest first, to find the sessions of one search: a word found in every
# session stops there rather than reading the whole index.
SEARCH_SCAN_MAX = 20_000
SNIPPET_TOKENS = 16
# Around each highlighted word of a snippet (characters in no agent's text, split off here).
_OPEN, _CLOSE = "\ue000", "\ue001"
_ABOUT_KEYS = ("command", "cmd", "file_path", "path", "pattern", "url", "query", "description")
_ABOUT_MAX = 2000
_COMMON = ("session_id", "agent", "item_id", "at", "kind", "text")
PRUNE_CHUNK = 5000  # rows deleted per transaction: commits wait at most one chunk
PRUNE_CHUNKS = 20  # chunks per pruning round; the rest waits for the next round


@dataclass(frozen=True, slots=True)
class TimelineLimits:
    """The timeline's settings, as the store applies them."""

    keep: bool = default_of("timeline_content") != "none"  # "none": nothing is kept
    retention_days: float = default_of("timeline_retention_days")  # 0: kept forever
    max_item_chars: int = default_of("timeline_max_item_chars")
    max_bytes: int = int(default_of("timeline_max_mb") * 1024 * 1024)  # 0: no cap

    @classmethod
    def of(cls, settings: Settings) -> TimelineLimits:
        return cls(
            keep=settings.timeline_content != "none",
            retention_days=settings.timeline_retention_days,
            max_item_chars=settings.timeline_max_item_chars,
            max_bytes=int(settings.timeline_max_mb * 1024 * 1024),
        )


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    agent: str | None = None
    project: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = SEARCH_DEFAULT


# -- writing ---------------------------------------------------------------------------------
UPSERT = (
    "insert into timeline (session_id, item_id, agent, at, kind, text, about, body)"
    " values (?, ?, ?, ?, ?, ?, ?, ?) on conflict(session_id, item_id) do update set"
    " agent=excluded.agent, at=excluded.at, kind=excluded.kind, text=excluded.text,"
    " about=excluded.about, body=excluded.body"
    # Read again unchanged (a truncated file read anew): no write, no work for the index.
    " where timeline.body is not excluded.body or timeline.text is not excluded.text"
    " or timeline.at is not excluded.at"
)


def item_row(item: Item, max_chars: int = MAX_ITEM_TEXT) -> tuple[Any, ...]:
    """The row an item is stored as (UPSERT's parameters), its texts cut to `max_chars`."""
    if max_chars < MAX_ITEM_TEXT:
        item = _recut(item, max_chars)
    body = item.to_json()
    for name in _COMMON:
        body.pop(name, None)
    return (
        item.session_id,
        item.item_id,
        item.agent,
        item.at,
        item.kind.value,
        item.text,
        _about(item),
        json.dumps(body, separators=(",", ":")),
    )


def _recut(item: Item, limit: int) -> Item:
    cut = new_item(
        item.session_id,
        item.agent,
        item.item_id,
        item.at,
        item.kind,
        text=item.text,
        tool=item.tool,
        call_id=item.call_id,
        input=item.input,
        error=item.error,
        path=item.path,
        diff=item.diff,
        detail=item.detail,
        subagent=item.subagent,
        limit=limit,
    )
    sizes = [size for size in (item.full_size, cut.full_size) if size is not None]
    if not sizes:
        return cut
    return replace(cut, full_size=max(sizes))


def _about(item: Item) -> str | None:
    """What names an item besides its text: the tool, the path, the command or the pattern."""
    parts = [part for part in (item.tool, item.path) if part]
    value = item.input
    if isinstance(value, dict):
        for key in _ABOUT_KEYS:
            found = value.get(key)
            if isinstance(found, list):
                found = " ".join(str(part) for part in found)
            if isinstance(found, str) and found:
                parts.append(found[:_ABOUT_MAX])
    elif isinstance(value, str):
        parts.append(value[:_ABOUT_MAX])
    return " ".join(parts) or None


# -- reading ---------------------------------------------------------------------------------
def page(
    conn: sqlite3.Connection, session_id: str, before: int | None, limit: int = PAGE_DEFAULT
) -> tuple[list[dict[str, Any]], int | None]:
    """A session's items before the cursor `before` (a seq; None: from the newest), at most
    `limit`, oldest first; and the cursor of the page before them (None: there is none)."""
    items, older, _newer = window(conn, session_id, before, None, limit)
    return items, older


def window(
    conn: sqlite3.Connection,
    session_id: str,
    before: int | None,
    after: int | None,
    limit: int = PAGE_DEFAULT,
) -> tuple[list[dict[str, Any]], int | None, int | None]:
    """A page of a session's items, oldest first: the newest before `before`, or, given
    `after` (a seq), the oldest after it (a search hit opened where it is, then read on
    forwards). With it the cursors of the pages on either side: the one before (None: these
    start the session) and the one after (None: these reach the newest item)."""
    limit = max(1, min(limit, PAGE_MAX))
    top = 2**63 - 1
    if after is not None:
        rows = conn.execute(
            "select seq, session_id, item_id, agent, at, kind, text, body from timeline"
            " where session_id = ? and seq > ? and seq < ? order by seq limit ?",
            [session_id, after, before if before is not None else top, limit + 1],
        ).fetchall()
        more_after = len(rows) > limit or (
            before is not None and _exists(conn, session_id, ">=", before)
        )
        rows = rows[:limit]
        more_before = bool(rows) and _exists(conn, session_id, "<", rows[0][0])
    else:
        rows = conn.execute(
            "select seq, session_id, item_id, agent, at, kind, text, body from timeline"
            " where session_id = ? and seq < ? order by seq desc limit ?",
            [session_id, before if before is not None else top, limit + 1],
        ).fetchall()
        more_before = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        more_after = (
            before is not None and bool(rows) and _exists(conn, session_id, ">", rows[-1][0])
        )
    items = [_item_json(row) for row in rows]
    older = rows[0][0] if more_before and rows else None
    newer = rows[-1][0] if more_after and rows else None
    return items, older, newer


def _exists(conn: sqlite3.Connection, session_id: str, op: str, seq: int) -> bool:
    row = conn.execute(
        f"select 1 from timeline where session_id = ? and seq {op} ? limit 1", [session_id, seq]
    ).fetchone()
    return row is not None


def _item_json(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, session_id, item_id, agent, at, kind, text, body = row
    data: dict[str, Any] = {"seq": seq, "session_id": session_id, "agent": agent}
    data.update(item_id=item_id, at=at, kind=kind)
    if text is not None:
        data["text"] = text
    try:
        rest = json.loads(body) if body else {}
    except ValueError:
        rest = {}
    if isinstance(rest, dict):
        data.update({k: v for k, v in rest.items() if k not in data})
    return data


def has_items(conn: sqlite3.Connection, session_id: str) -> bool:
    row = conn.execute("select 1 from timeline where session_id = ? limit 1", [session_id])
    return row.fetchone() is not None


_WORD = re.compile(r'"([^"]*)"|(\S+)')
_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query: every word must be there; "quoted words" are a
    phrase. Only words (letters, digits) reach FTS5, so no input is a syntax error there."""
    terms: list[str] = []
    for match in _WORD.finditer(text):
        phrase, word = match.groups()
        tokens = _TOKEN.findall(phrase if phrase is not None else word)
        if tokens:
            terms.append('"' + " ".join(tokens) + '"')
    return " ".join(terms) if terms else None


def search(conn: sqlite3.Connection, query: SearchQuery) -> list[dict[str, Any]]:
    """Sessions whose items hold the query's words, the one with the newest hit first, each
    with that hit's snippet (`snippet`, and `highlights`: [start, end) of each found word)."""
    match = fts_query(query.text)
    if match is None:
        return []
    limit = max(1, min(query.limit, SEARCH_MAX))
    where = ["timeline_fts match ?"]
    args: list[Any] = [match]
    if query.agent:
        where.append("t.agent = ?")
        args.append(query.agent)
    if query.project:
        where.append("t.session_id in (select id from sessions where project = ?)")
        args.append(query.project)
    if query.since is not None:
        where.append("t.at >= ?")
        args.append(query.since)
    if query.until is not None:
        where.append("t.at < ?")
        args.append(query.until)
    cursor = conn.execute(
        "select t.seq, t.session_id, t.agent, t.at, t.kind, t.item_id from timeline_fts f"
        f" join timeline t on t.seq = f.rowid where {' and '.join(where)}"
        " order by f.rowid desc",
        args,
    )
    hits: dict[str, tuple[Any, ...]] = {}
    scanned = 0
    while len(hits) < limit and scanned < SEARCH_SCAN_MAX:
        rows = cursor.fetchmany(500)
        if not rows:
            break
        scanned += len(rows)
        for row in rows:
            if row[1] not in hits:
                hits[row[1]] = row
                if len(hits) >= limit:
                    break
    cursor.close()
    sessions = _sessions(conn, list(hits))
    results = []
    for session_id, (seq, _sid, agent, at, kind, item_id) in hits.items():
        snippet, highlights = _snippet(conn, match, seq)
        known = sessions.get(session_id, {})
        results.append(
            {
                "session_id": session_id,
                "agent": known.get("agent") or agent,
                "project": known.get("project"),
                "title": known.get("title"),
                "status": known.get("status"),
                "at": at,
                "seq": seq,
                "item_id": item_id,
                "kind": kind,
                "snippet": snippet,
                "highlights": highlights,
            }
        )
    return results


def _sessions(conn: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(
        "select id, agent, status, json_extract(state, '$.project'), json_extract(state,"
        f" '$.title') from sessions where id in ({', '.join('?' * len(ids))})",
        ids,
    ).fetchall()
    return {r[0]: {"agent": r[1], "status": r[2], "project": r[3], "title": r[4]} for r in rows}


def _snippet(conn: sqlite3.Connection, match: str, seq: int) -> tuple[str, list[list[int]]]:
    row = conn.execute(
        "select snippet(timeline_fts, -1, ?, ?, '…', ?) from timeline_fts"
        " where timeline_fts match ? and rowid = ?",
        [_OPEN, _CLOSE, SNIPPET_TOKENS, match, seq],
    ).fetchone()
    return split_marks(str(row[0]) if row and row[0] is not None else "")


def split_marks(marked: str) -> tuple[str, list[list[int]]]:
    """A snippet with its marks taken out, and where each marked part was."""
    text: list[str] = []
    highlights: list[list[int]] = []
    size = 0
    start: int | None = None
    for part in re.split(f"([{_OPEN}{_CLOSE}])", marked):
        if part == _OPEN:
            start = size
        elif part == _CLOSE:
            if start is not None and size > start:
                highlights.append([start, size])
            start = None
        else:
            text.append(part)
            size += len(part)
    return "".join(text), highlights


# -- pruning (the writer thread) -------------------------------------------------------------
def prune(conn: sqlite3.Connection, limits: TimelineLimits, now: float, db_bytes: int) -> bool:
    """Delete what the limits no longer keep, at most PRUNE_CHUNKS chunks of rows, each in its
    own transaction. True when done; False when more is left for the next round."""
    chunks = 0
    while chunks < PRUNE_CHUNKS:
        if not limits.keep:
            where, args = "1", []
        elif limits.retention_days > 0:
            where, args = "at < ?", [now - limits.retention_days * 24 * 3600]
        else:
            break
        if not _delete_chunk(conn, where, args):
            break
        chunks += 1
    if not limits.keep and chunks < PRUNE_CHUNKS:
        with conn:
            conn.execute("delete from timeline_offsets")
        return True
    # The total cap: only summed when the whole database is past it (a stat, not a scan).
    if limits.keep and limits.max_bytes > 0 and db_bytes > limits.max_bytes:
        size = conn.execute(
            "select coalesce(sum(coalesce(length(text), 0) + coalesce(length(about), 0)"
            " + length(body)), 0) from timeline"
        ).fetchone()[0]
        while size > limits.max_bytes and chunks < PRUNE_CHUNKS:
            with conn:
                conn.execute("begin")
                cursor = conn.execute(
                    "select seq, coalesce(length(text), 0) + coalesce(length(about), 0)"
                    " + length(body) from timeline order by at limit ?",
                    [PRUNE_CHUNK // 5],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                conn.executemany("delete from timeline where seq = ?", [(r[0],) for r in rows])
            size -= sum(int(r[1] or 0) for r in rows)
            chunks += 1
            log.info("timeline over timeline_max_mb: forgot its %d oldest items", len(rows))
    return chunks < PRUNE_CHUNKS


def _delete_chunk(conn: sqlite3.Connection, where: str, args: list[Any]) -> int:
    with conn:
        cursor = conn.execute(
            f"delete from timeline where seq in (select seq from timeline where {where} limit ?)",
            [*args, PRUNE_CHUNK],
        )
    return int(cursor.rowcount)
