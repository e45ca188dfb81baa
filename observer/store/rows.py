"""One commit's rows, table by table, as the writer thread executes them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import astuple
from typing import Any

# Registers every agent's row, and with it what each agent's sessions can do, which `public()`
# reports and a commit records. Every place that makes views (hub, status) imports the store.
import observer.agents  # noqa: F401
from observer.core import jsontext
from observer.core.state import SessionState
from observer.core.timeline import MAX_ITEM_TEXT
from observer.settings import default_of
from observer.store.records import (
    FileOffset,
    LimitRow,
    Record,
    ReportedRow,
    TimelineItem,
    TimelineOffset,
    UsageOffset,
    UsageRow,
    Write,
    state_to_json,
)
from observer.store.timeline import UPSERT, item_row

DEFAULT_MAX_STORED_TEXT: int = default_of("max_stored_text")


def _capped(event: dict[str, Any], max_text: int) -> dict[str, Any]:
    """The event with each text longer than `max_text` cut to its first and last halves and
    its length: a 15 MB prompt is stored as 64 KB that still show how it began and ended."""
    for key, value in event.items():
        if isinstance(value, str) and len(value) > max_text:
            half = max_text // 2
            cut = len(value) - 2 * half
            event[key] = (
                f"{value[:half]}\n… [{cut:,} of {len(value):,} characters cut] …\n{value[-half:]}"
            )
    return event


class Rows:
    """One commit's rows, by table: each table written with one `executemany`, and a session
    that changed several times in the batch upserted once, with its last state (a backlog's
    batch of 500 events over a few sessions wrote the same row hundreds of times)."""

    def __init__(
        self,
        max_text: int = DEFAULT_MAX_STORED_TEXT,
        item_chars: int = MAX_ITEM_TEXT,
        keep_items: bool = True,
    ) -> None:
        self.max_text = max_text
        self.item_chars = item_chars
        self.keep_items = keep_items  # timeline_content: none keeps no item
        self.sessions: dict[str, SessionState] = {}
        self.events: list[tuple[Any, ...]] = []
        self.offsets: dict[str, tuple[Any, ...]] = {}
        self.usage: list[tuple[Any, ...]] = []
        self.usage_offsets: dict[str, tuple[Any, ...]] = {}
        self.reported: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.limits: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.forwarded: list[tuple[Any, ...]] = []
        # An item read twice in one batch (a file read again) is written once, as last read.
        self.items: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.item_offsets: dict[str, tuple[Any, ...]] = {}

    def add(self, write: Record) -> None:
        if isinstance(write, Write):
            state = write.state
            self.sessions[state.session_id] = state  # the last state of the batch wins
            changes = write.changes
            if changes is None:
                public = state.public()
                changes = {k: public[k] for k in write.changed}
            self.events.append(
                (
                    state.session_id,
                    state.revision,
                    write.event.at,
                    write.event.kind.value,
                    write.event.wire,
                    state.status.value,
                    jsontext.dumps(changes),
                    jsontext.dumps(_capped(write.event.to_json(), self.max_text)),
                )
            )
        elif isinstance(write, FileOffset):
            # The last offset of a file wins, as the upserts one by one made it.
            self.offsets[write.path] = (
                write.path,
                write.inode,
                write.offset,
                json.dumps(write.context),
            )
        elif isinstance(write, UsageRow):
            t = write.tokens
            self.usage.append(
                (
                    write.agent,
                    t.record_id,
                    write.session_id,
                    t.turn_id,
                    write.at,
                    t.model,
                    t.input,
                    t.output,
                    t.cache_read,
                    t.cache_write,
                    t.reasoning,
                    t.cost_usd,
                    t.cache_write_1h,
                    write.project,
                )
            )
        elif isinstance(write, ReportedRow):
            r = write.reported
            self.reported[(write.agent, write.session_id)] = (
                write.agent,
                write.session_id,
                write.at,
                r.cost_usd,
                json.dumps([list(astuple(m)) for m in r.models]),
                json.dumps([list(astuple(m)) for m in r.copied]),
            )
        elif isinstance(write, LimitRow):
            lim = write.limit
            kept = self.limits.get((write.agent, lim.name))
            if kept is None or kept[5] <= write.at:  # the newest word of the batch
                self.limits[(write.agent, lim.name)] = (
                    write.agent,
                    lim.name,
                    lim.used_percent,
                    lim.window_minutes,
                    lim.resets_at,
                    write.at,
                    write.session_id,
                )
        elif isinstance(write, UsageOffset):
            self.usage_offsets[write.path] = (
                write.path,
                write.inode,
                write.offset,
                json.dumps(write.context),
            )
        elif isinstance(write, TimelineItem):
            if self.keep_items:
                item = write.item
                self.items[(item.session_id, item.item_id)] = item_row(item, self.item_chars)
        elif isinstance(write, TimelineOffset):
            self.item_offsets[write.path] = (
                write.path,
                write.inode,
                write.offset,
                json.dumps(write.context),
            )
        else:
            self.forwarded.append((write.host, write.name, write.mtime_ns))

    def execute(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "insert into sessions (id, agent, status, revision, updated_at, project, state)"
            " values (?, ?, ?, ?, ?, ?, ?) on conflict(id) do update set"
            " agent=excluded.agent, status=excluded.status, revision=excluded.revision,"
            " updated_at=excluded.updated_at, project=excluded.project, state=excluded.state",
            [
                (
                    state.session_id,
                    state.agent,
                    state.status.value,
                    state.revision,
                    state.last_activity_at,
                    state.project,
                    jsontext.dumps(state_to_json(state)),
                )
                for state in self.sessions.values()
            ],
        )
        conn.executemany(
            "insert into events (session_id, revision, at, kind, wire, status, changes, event)"
            " values (?, ?, ?, ?, ?, ?, ?, ?)",
            self.events,
        )
        conn.executemany(
            "insert into file_offsets (path, inode, offset, context) values (?, ?, ?, ?)"
            " on conflict(path) do update set inode=excluded.inode,"
            " offset=excluded.offset, context=excluded.context",
            list(self.offsets.values()),
        )
        conn.executemany(
            "insert or ignore into usage_records (agent, record_id, session_id, turn_id, at,"
            " model, input, output, cache_read, cache_write, reasoning, agent_cost,"
            " cache_write_1h, project) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.usage,
        )
        if self.reported:  # the agent's last word, whatever order files were read in
            conn.executemany(
                "insert into usage_reported (agent, session_id, at, cost_usd, models, copied)"
                " values (?, ?, ?, ?, ?, ?) on conflict(agent, session_id) do update set"
                " at=excluded.at, cost_usd=excluded.cost_usd, models=excluded.models,"
                " copied=excluded.copied where excluded.at >= usage_reported.at",
                list(self.reported.values()),
            )
        if self.limits:  # the agent's last word on each window, whatever order files were read in
            conn.executemany(
                "insert into usage_limits (agent, name, used_percent, window_minutes, resets_at,"
                " at, session_id) values (?, ?, ?, ?, ?, ?, ?) on conflict(agent, name) do update"
                " set used_percent=excluded.used_percent, window_minutes=excluded.window_minutes,"
                " resets_at=excluded.resets_at, at=excluded.at, session_id=excluded.session_id"
                " where excluded.at >= usage_limits.at",
                list(self.limits.values()),
            )
        if self.usage_offsets:
            conn.executemany(
                "insert into usage_offsets (path, inode, offset, context) values (?, ?, ?, ?)"
                " on conflict(path) do update set inode=excluded.inode,"
                " offset=excluded.offset, context=excluded.context",
                list(self.usage_offsets.values()),
            )
        if self.items:
            conn.executemany(UPSERT, list(self.items.values()))
        if self.item_offsets:
            conn.executemany(
                "insert into timeline_offsets (path, inode, offset, context) values (?, ?, ?, ?)"
                " on conflict(path) do update set inode=excluded.inode,"
                " offset=excluded.offset, context=excluded.context",
                list(self.item_offsets.values()),
            )
        conn.executemany(
            "insert or ignore into forwarded_files (host, name, mtime_ns) values (?, ?, ?)",
            self.forwarded,
        )
